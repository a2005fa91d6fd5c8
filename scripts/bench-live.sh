#!/usr/bin/env bash
# Live-run benchmark (docs/PERFORMANCE.md, "Live runs"): how long the whole level-1 and level-2
# matrix takes over real sockets on loopback, and how much CPU the harness uses, against the
# embedded reference server (`imcpm run --transport udp|tcp`, a server per scenario in the same
# process) and against `imcpm serve` started as a separate process (`imcpm run --sut`, the
# server's own CPU not counted).
#
# Rows, each best of --runs (wall; CPU is user+sys of that run, from /usr/bin/time):
#   sim              imcpm run (the simulated world, for reference)
#   udp, tcp         imcpm run --transport udp|tcp, every scenario
#   udp, no timers   the same without the two scenarios that wait on SIP timers by design:
#                    online/offline (a 5 s `wait` step) and network/impaired (UDP losses
#                    recovered by retransmission, T1 = 500 ms)
#   --sut udp L2     imcpm run --sut udp:127.0.0.1:PORT --level 2 --users POOL against
#                    `imcpm serve --level 2 --users POOL` (a 16-user pool)
# Every run must exit 0 (every verdict as in the simulation).
#
# Usage: scripts/bench-live.sh [--runs N] [--no-build]
# Builds the release binary (cargo's target directory, CARGO_TARGET_DIR honoured); writes only
# to a temporary directory, removed at the end; the server started is stopped by PID.
set -euo pipefail

RUNS=3
BUILD=1
die() { echo "bench-live.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="${2:-}"; shift 2 || die "--runs takes a number" ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail$/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument \`$1\` (see --help)" ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || die "--runs takes 1 to 99, not \`$RUNS\`"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ "$BUILD" = 1 ]; then
  cargo build --release --quiet
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/imcpm"
[ -x "$BIN" ] || die "no release binary at $BIN (drop --no-build)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"

TMP="$(mktemp -d)"
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

NO_TIMERS=()
for f in 'convid/*' 'encoding/*' 'level1/*' 'proxy/*' 'robust/*' 't1/*' 't2/*' 'online/never-registered'; do
  NO_TIMERS+=(--filter "$f")
done

# measure NAME ARGS...: best wall of $RUNS runs and that run's CPU.
measure() {
  local name=$1; shift
  local best="" cpu="" runs=""
  for _ in $(seq 1 "$RUNS"); do
    local start end wall
    start=$(date +%s%N)
    if ! /usr/bin/time -f "%U %S" -o "$TMP/time" "$BIN" run "$@" --report-dir "$TMP/reports" >"$TMP/out" 2>"$TMP/err"; then
      cat "$TMP/out" "$TMP/err" >&2
      die "$name: imcpm run failed"
    fi
    end=$(date +%s%N)
    wall=$(( (end - start) / 1000000 ))
    runs=$(grep -oE '^[0-9]+ scenario runs' "$TMP/out" | grep -oE '^[0-9]+')
    if [ -z "$best" ] || [ "$wall" -lt "$best" ]; then
      best=$wall
      cpu=$(awk '{printf "%.2f", $1 + $2}' "$TMP/time")
    fi
  done
  printf "| %s | %s | %d ms | %s s |\n" "$name" "$runs" "$best" "$cpu"
}

echo "| run | scenario runs | wall (best of $RUNS) | harness CPU |"
echo "| --- | --- | --- | --- |"
measure "sim" 
measure "--transport udp" --transport udp
measure "--transport tcp" --transport tcp
measure "--transport udp, no timers" --transport udp "${NO_TIMERS[@]}"
measure "--transport tcp, no timers" --transport tcp "${NO_TIMERS[@]}"

{
  echo "[users]"
  for k in im cpm; do for i in 1 2 3 4 5 6 7 8; do echo "\"sip:$k$i@im.example.net\" = \"$k\""; done; done
} > "$TMP/pool.toml"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --level 2 --users "$TMP/pool.toml" --listen "udp:127.0.0.1:$PORT" --listen "tcp:127.0.0.1:$PORT" \
  >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVE_PID=$!
for _ in $(seq 1 50); do grep -q "listening on tcp" "$TMP/serve.out" && break; sleep 0.1; done
grep -q "listening on tcp" "$TMP/serve.out" || die "imcpm serve did not start: $(cat "$TMP/serve.err")"
measure "--sut udp L2 (imcpm serve)" --sut "udp:127.0.0.1:$PORT" --level 2 --users "$TMP/pool.toml"
