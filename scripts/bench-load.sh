#!/usr/bin/env bash
# What judging every message at rate costs (docs/PERFORMANCE.md, "Conformance under load"):
# the CPU of `imcpm load` (the harness and its judge) per judged request, beside the CPU sipp
# spends per call (UAC and UAS together) driving the same server, `imcpm serve --level 1`, with
# the same CPM pager MESSAGEs at the same rate, in the same run. sipp judges next to nothing (a
# regex per MESSAGE at its UAS, tests/interop/sipp/pager_uas.xml); `imcpm load` judges every
# message of every transaction with the oracle.
#
#   sipp        scripts/load.sh --only imcpm --no-ramp --rate R --duration D --no-build
#               (a fresh `imcpm serve`; sipp's CPU is the UAC's `times` plus the UAS's
#               /proc/PID/stat; the server's from /proc/PID/stat)
#   imcpm load  a fresh `imcpm serve` (RUST_LOG=warn), then
#               imcpm load --sut udp:127.0.0.1:PORT --level 1 --mix pager=1 --rate R --duration D
#               (its CPU from /usr/bin/time: user + system, the judge's thread included; its
#               peak RSS; the server's CPU from /proc/PID/stat)
#
# Then, unless --no-mix: the default mix (pager, IMDN, chat, file transfer, large message) at
# --mix-rate for --duration; and unless --no-ramp: `imcpm load --ramp` to the highest clean
# rate (p99 within 200 ms, nothing failing, nothing unanswered).
#
# Usage: scripts/bench-load.sh [--rate N] [--duration S] [--mix-rate N] [--ramp FROM:TO:STEP]
#                              [--ramp-duration S] [--no-mix] [--no-ramp] [--no-build] [--keep]
# Defaults: --rate 2000 --duration 30 --mix-rate 1000 --ramp 2000:14000:2000 --ramp-duration 10
# Everything it starts is stopped by PID on exit; files go to a temporary directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RATE=2000
DURATION=30
MIX_RATE=1000
RAMP=2000:14000:2000
RAMP_DURATION=10
DO_MIX=1
DO_RAMP=1
BUILD=1
KEEP=0
die() { echo "bench-load: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="${2:?}"; shift 2 ;;
    --duration) DURATION="${2:?}"; shift 2 ;;
    --mix-rate) MIX_RATE="${2:?}"; shift 2 ;;
    --ramp) RAMP="${2:?}"; shift 2 ;;
    --ramp-duration) RAMP_DURATION="${2:?}"; shift 2 ;;
    --no-mix) DO_MIX=0; shift ;;
    --no-ramp) DO_RAMP=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail$/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument \`$1\` (see --help)" ;;
  esac
done
for n in "$RATE" "$DURATION" "$MIX_RATE" "$RAMP_DURATION"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: \`$n\`"
done
[ "$DURATION" -le 600 ] && [ "$RAMP_DURATION" -le 120 ] || die "bounded runs only: --duration <= 600, --ramp-duration <= 120"
[[ "$RAMP" =~ ^[0-9]+:[0-9]+:[0-9]+$ ]] || die "--ramp takes FROM:TO:STEP"
command -v sipp >/dev/null || die "sipp is missing: apt-get install sip-tester"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/imcpm"
if [ "$BUILD" = 1 ]; then (cd "$ROOT" && cargo build --release --quiet --bin imcpm); fi
[ -x "$BIN" ] || die "$BIN missing (run without --no-build)"
TCK=$(getconf CLK_TCK)

WORK="$(mktemp -d /tmp/imcpm-bench-load.XXXXXX)"
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ]; then echo "files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ticks() { local l; read -r l < "/proc/$1/stat"; l="${l##*) }"; read -r -a a <<< "$l"; echo $(( a[11] + a[12] )); }

start_serve() { # -> SERVE_PID SERVE_PORT
  RUST_LOG=warn "$BIN" serve --listen udp:127.0.0.1:0 --level 1 >"$WORK/serve.out" 2>"$WORK/serve.log" &
  SERVE_PID=$!
  local i
  for i in $(seq 100); do grep -q 'listening on udp:' "$WORK/serve.out" 2>/dev/null && break; sleep 0.05; done
  SERVE_PORT=$(sed -n 's/^imcpm serve: listening on udp:127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/serve.out")
  [ -n "$SERVE_PORT" ] || die "imcpm serve did not start: $(cat "$WORK/serve.log")"
}
stop_serve() { kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=""; }

# One `imcpm load` run against a fresh server: LABEL then load's arguments. Prints a line.
load_run() {
  local label=$1; shift
  start_serve
  local s0 s1 out="$WORK/${label//[^a-zA-Z0-9]/-}"
  s0=$(ticks "$SERVE_PID")
  /usr/bin/time -f "%U %S %M" -o "$out.time" "$BIN" load --sut "udp:127.0.0.1:$SERVE_PORT" --level 1 \
    --report-dir "$out.reports" --format json "$@" >"$out.json" 2>"$out.err" || true
  s1=$(ticks "$SERVE_PID")
  stop_serve
  python3 - "$label" "$out.json" "$out.time" "$s0" "$s1" "$TCK" <<'EOF'
import json, sys
label, jpath, tpath, s0, s1, tck = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
r = json.load(open(jpath))
# The last line: /usr/bin/time writes "Command exited with non-zero status N" first when it did.
u, s, rss = open(tpath).read().strip().splitlines()[-1].split()[:3]
cpu = float(u) + float(s)
l = r["load"]; t = l["totals"]
judged = sum(x["counts"].get("PASS", 0) + x["counts"].get("FAIL", 0) + x["counts"].get("NON-STRICT", 0) + x["counts"].get("INCONCLUSIVE", 0)
             for x in r["aggregate"]["requirements"])
not_pass = {k: v for k, v in r["summary"].items() if k != "PASS" and v}
server = (s1 - s0) / tck
n = max(t["answered"], 1)
steps = " ".join(f'{x["rate"]}/s:{"clean" if x["clean"] else "NOT clean"}(p99 {x["latency"]["p99_us"]/1000:.1f} ms)' for x in l["steps"])
lat = "; ".join(f'{svc} p50 {p["p50_us"]/1000:.1f} p99 {p["p99_us"]/1000:.1f} ms' for svc, p in l["latency"])
print(f'{label}: offered {t["offered"]}, answered {t["answered"]}, unanswered {t["unanswered"]}, '
      f'{l["messages"]} messages judged, results {judged} ({"no other than PASS" if not not_pass else not_pass}); '
      f'harness CPU {cpu:.2f} s = {cpu*1e6/n:.0f} us per request, peak RSS {int(rss)/1024:.1f} MB; '
      f'server CPU {server:.2f} s = {server*1e6/n:.0f} us per request; drops {l["drops"]}; {lat}; steps {steps}; '
      f'last clean rate {l["last_clean_rate"]}')
EOF
}

echo "== imcpm load vs sipp: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores"
echo "-- sipp (UAC + UAS) driving imcpm serve, pager, ${RATE}/s for ${DURATION} s"
bash "$ROOT/scripts/load.sh" --only imcpm --no-ramp --rate "$RATE" --duration "$DURATION" --no-build 2>&1 \
  | grep -E '^imcpm +offered' | tee "$WORK/sipp.line"
python3 - "$WORK/sipp.line" <<'EOF'
import re, sys
line = open(sys.argv[1]).read()
ok = int(re.search(r"ok +(\d+)/", line).group(1))
sipp = float(re.search(r"sipp CPU ([0-9.]+)s", line).group(1))
server = float(re.search(r"server CPU +([0-9.]+)s", line).group(1))
print(f"sipp: {ok} calls, sipp CPU {sipp:.2f} s = {sipp*1e6/max(ok,1):.0f} us per call (UAC + UAS); server CPU {server:.2f} s = {server*1e6/max(ok,1):.0f} us per call")
EOF
echo "-- imcpm load driving imcpm serve, pager, ${RATE}/s for ${DURATION} s"
load_run "load pager ${RATE}/s" --mix pager=1 --rate "$RATE" --duration "${DURATION}s"
if [ "$DO_MIX" = 1 ]; then
  echo "-- imcpm load, the default mix, ${MIX_RATE}/s for ${DURATION} s"
  load_run "load mix ${MIX_RATE}/s" --rate "$MIX_RATE" --duration "${DURATION}s"
fi
if [ "$DO_RAMP" = 1 ]; then
  echo "-- imcpm load --ramp $RAMP (${RAMP_DURATION} s a step), pager: the highest clean rate"
  load_run "load ramp" --mix pager=1 --ramp "$RAMP" --duration "${RAMP_DURATION}s"
fi
