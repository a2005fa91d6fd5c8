#!/usr/bin/env bash
# Soak test of `imcpm serve` on loopback: a sipp UAC sends CPM pager MESSAGEs at a fixed rate
# for a long time through the server to a sipp UAS behind it (the ISC Route set
# <sip:SERVER;lr>, <sip:UAS;lr>, as in scripts/load.sh), and the UAS checks every MESSAGE
# arrived in the IM form (tests/interop/sipp/pager_uas.xml: a failed check is answered 488 and
# counted). Meanwhile the server's resident memory (VmRSS of /proc/PID/status) is sampled every
# 10 s.
#
# Verdict (a line `soak verdict: PASS ...` or `soak verdict: FAIL (why) ...`; exit status 0 only
# for PASS):
#   - no failure: every MESSAGE transaction completed, none failed at the UAC or at the UAS's
#     checks, no retransmission, no unexpected message (sipp's out-of-call and dead-call
#     messages), no 503 for a full table and no message dropped by the server;
#   - memory: RSS at the end at most 5% above RSS at 1 minute (by then the transaction table is
#     at its steady state: a finished MESSAGE transaction is kept 32 s over UDP, Timer J).
#     A run of 60 s or less has no sample after the first minute: its memory is not judged,
#     and the verdict says so.
#
# Usage: scripts/soak.sh [--rate N] [--duration S] [--udp-rcvbuf BYTES] [--no-build] [--keep]
# Defaults: --rate 2000 (MESSAGE/s) --duration 600 (seconds, at most 3600) --udp-rcvbuf 4194304.
# It builds the release binary first (--no-build: use the one there), runs `imcpm serve` with
# RUST_LOG=warn (no log line per request), changes no sysctl, and kills everything it started by
# PID on exit. Logs go to a temporary directory, removed at the end unless --keep (or a FAIL).
set -euo pipefail

ARGS="$*"
RATE=2000
DURATION=600
RMEM=4194304
BUILD=1
KEEP=0
SAMPLE_EVERY=10
BASELINE_AT=60

die() { echo "soak.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="${2:?}"; shift 2 ;;
    --duration) DURATION="${2:?}"; shift 2 ;;
    --udp-rcvbuf) RMEM="${2:?}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail$/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument \`$1\` (see --help)" ;;
  esac
done
[[ "$RATE" =~ ^[1-9][0-9]*$ ]] && [ "$RATE" -le 50000 ] || die "--rate takes a number of MESSAGE/s, 1 to 50000, not \`$RATE\`"
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] && [ "$DURATION" -le 3600 ] || die "--duration takes seconds, 1 to 3600, not \`$DURATION\`"
[[ "$RMEM" =~ ^[0-9]+$ ]] || die "--udp-rcvbuf takes a number of bytes, not \`$RMEM\`"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIPP_DIR="$ROOT/tests/interop/sipp"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/imcpm"
command -v sipp >/dev/null || die "sipp is missing: apt-get install sip-tester"
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release --quiet --bin imcpm)
fi
[ -x "$BIN" ] || die "$BIN missing (run without --no-build)"

WORK="$(mktemp -d /tmp/imcpm-soak.XXXXXX)"
PIDS=()
VERDICT=FAIL
cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  sleep 0.3
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -KILL "${PIDS[i]}" 2>/dev/null || true; done
  for i in "${PIDS[@]}"; do wait "$i" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ] || [ "$VERDICT" != PASS ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() { # stop tracking a reaped PID (it may be reused)
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# True while PID runs (a zombie, exited but not yet reaped, does not count).
running() {
  local line
  { read -r line < "/proc/$1/stat"; } 2>/dev/null || return 1
  line="${line##*) }"
  [ "${line%% *}" != Z ]
}

stop_pid() { # PID [SIGNAL]: signal, wait up to 5 s, then SIGKILL; reap it
  local pid=$1 sig=${2:-TERM} i
  kill -"$sig" "$pid" 2>/dev/null || true
  for i in $(seq 50); do running "$pid" || break; sleep 0.1; done
  running "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  forget "$pid"
}

# Ports for sipp: a block of 200 per invocation (by PID), one fresh port per use.
PORT_BASE=$(( 20000 + ($$ % 200) * 200 ))
PORT_NEXT=0
alloc_port() { PORT_NEXT=$((PORT_NEXT + 1)); PORT=$((PORT_BASE + PORT_NEXT)); }

# A column of the last line of a sipp -trace_stat CSV (0 when absent).
csv_col() {
  [ -f "$1" ] || { echo 0; return; }
  awk -F';' -v col="$2" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
                         NF > 1 && c { v = $c } END { print (v == "" ? 0 : v) + 0 }' "$1"
}

# Datagrams the kernel dropped on the loopback UDP sockets bound to PORT (receive buffer full).
udp_drops() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" '$2 ~ p"$" { d += $NF } END { print d + 0 }' /proc/net/udp
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# A number of the server's summary line: `summary_count "503 when full"`.
summary_count() {
  sed -n "s/.*[:,;] $1 \([0-9]*\).*/\1/p" "$WORK/serve.out" | head -1
}

echo "== imcpm soak: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "   machine: $(nproc) cores, $(uname -sr); sipp $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1); imcpm $("$BIN" --version | cut -d' ' -f2)"
echo "   command: scripts/soak.sh $ARGS"
echo "   $RATE MESSAGE/s for $DURATION s ($((RATE * DURATION)) transactions); RSS sampled every $SAMPLE_EVERY s"

RUST_LOG=warn "$BIN" serve --listen udp:127.0.0.1:0 --level 1 --udp-rcvbuf "$RMEM" >"$WORK/serve.out" 2>"$WORK/serve.log" &
SUT_PID=$!; PIDS+=("$SUT_PID")
for _ in $(seq 100); do grep -q 'listening on udp:' "$WORK/serve.out" 2>/dev/null && break; sleep 0.05; done
SUT_PORT=$(sed -n 's/^imcpm serve: listening on udp:127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/serve.out")
[ -n "$SUT_PORT" ] || { cat "$WORK/serve.log" >&2; die "imcpm serve did not start"; }
grep '^imcpm serve: limits' "$WORK/serve.out" | sed 's/^/   /'

alloc_port; UAS_PORT=$PORT
sipp -sf "$SIPP_DIR/pager_uas.xml" -t u1 -i 127.0.0.1 -p "$UAS_PORT" -nostdin -buff_size 4194304 \
  -trace_stat -stf "$WORK/uas.csv" -fd 1 -trace_err -error_file "$WORK/uas_errors.log" \
  >"$WORK/uas.screen" 2>&1 &
UAS_PID=$!; PIDS+=("$UAS_PID")
sleep 0.5
running "$UAS_PID" || { cat "$WORK/uas.screen" >&2; die "the sipp UAS did not start"; }

alloc_port; UAC_PORT=$PORT
CALLS=$((RATE * DURATION))
T0=$(date +%s.%N)
sipp "127.0.0.1:$SUT_PORT" -sf "$SIPP_DIR/pager_uac.xml" -t u1 -i 127.0.0.1 -p "$UAC_PORT" \
  -r "$RATE" -m "$CALLS" -l "$RATE" -key uas "127.0.0.1:$UAS_PORT" -default_behaviors all,-bye \
  -nostdin -buff_size 4194304 -timeout "$((DURATION + 30))s" \
  -trace_stat -stf "$WORK/uac.csv" -fd 1 -trace_err -error_file "$WORK/uac_errors.log" \
  >"$WORK/uac.screen" 2>&1 &
UAC_PID=$!; PIDS+=("$UAC_PID")

# RSS every SAMPLE_EVERY s while the UAC runs, then once at the end.
declare -A RSS=()
RSS[0]=$(rss_kb "$SUT_PID")
next=$SAMPLE_EVERY
while running "$UAC_PID"; do
  sleep 0.2
  elapsed=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", b - a }')
  if [ "$elapsed" -ge "$next" ]; then
    RSS[$next]=$(rss_kb "$SUT_PID")
    echo "   t=${next}s RSS ${RSS[$next]} kB, completed $(csv_col "$WORK/uac.csv" 'SuccessfulCall(C)'), failed $(csv_col "$WORK/uac.csv" 'FailedCall(C)')"
    next=$((next + SAMPLE_EVERY))
  fi
done
wait "$UAC_PID" 2>/dev/null || true
forget "$UAC_PID"
T1=$(date +%s.%N)
RSS_END=$(rss_kb "$SUT_PID")
echo "   end (t=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", b - a }')s) RSS $RSS_END kB"
DROPS=$(udp_drops "$SUT_PORT")
sleep 1.2 # the UAS's last periodic stats dump
stop_pid "$UAS_PID" USR1
stop_pid "$SUT_PID" TERM

OK=$(csv_col "$WORK/uac.csv" 'SuccessfulCall(C)')
FAIL=$(csv_col "$WORK/uac.csv" 'FailedCall(C)')
RETRANS=$(csv_col "$WORK/uac.csv" 'Retransmissions(C)')
UNEXPECTED=$(( $(csv_col "$WORK/uac.csv" 'FailedUnexpectedMessage(C)') + $(csv_col "$WORK/uac.csv" 'OutOfCallMsgs(C)') \
  + $(csv_col "$WORK/uac.csv" 'DeadCallMsgs(C)') + $(csv_col "$WORK/uas.csv" 'OutOfCallMsgs(C)') + $(csv_col "$WORK/uas.csv" 'DeadCallMsgs(C)') ))
UAS_FAIL=$(csv_col "$WORK/uas.csv" 'FailedCall(C)')
FULL=$(summary_count "503 when full"); FULL=${FULL:-?}
DROPPED=$(summary_count "dropped"); DROPPED=${DROPPED:-?}
WALL=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }')
ACHIEVED=$(awk -v n="$OK" -v w="$WALL" 'BEGIN { printf "%.0f", (w > 0 ? n / w : 0) }')
echo "   server: $(grep 'stopped after' "$WORK/serve.out" | sed 's/^imcpm serve: //')"
echo "   UDP datagrams the kernel dropped at the server's socket: $DROPS"
SAMPLES=""
for t in $(printf '%s\n' "${!RSS[@]}" | sort -n); do SAMPLES="$SAMPLES ${t}s=${RSS[$t]}"; done
echo "   RSS samples (kB):$SAMPLES end=$RSS_END"

FAILURES=$((FAIL + UAS_FAIL + RETRANS + UNEXPECTED + CALLS - OK))
WHY=""
[ "$FAILURES" = 0 ] || WHY="$WHY; not clean"
[ "$FULL" = 0 ] && [ "$DROPPED" = 0 ] || WHY="$WHY; the server refused or dropped messages"
if [ "$DURATION" -gt "$BASELINE_AT" ] && [ -n "${RSS[$BASELINE_AT]:-}" ]; then
  GROWTH=$(awk -v a="${RSS[$BASELINE_AT]}" -v b="$RSS_END" 'BEGIN { printf "%+.1f", (a > 0 ? (b - a) * 100 / a : 999) }')
  MEMORY="RSS ${RSS[$BASELINE_AT]} kB at ${BASELINE_AT} s, $RSS_END kB at the end (${GROWTH}%, at most +5%)"
  awk -v g="$GROWTH" 'BEGIN { exit !(g <= 5) }' || WHY="$WHY; RSS grew more than 5% after the first minute"
else
  MEMORY="RSS $RSS_END kB at the end; growth not judged (no sample after the first minute in a ${DURATION} s run)"
fi
[ -z "$WHY" ] && VERDICT=PASS
echo "soak verdict: $VERDICT${WHY:+ (${WHY#; })}: $OK of $CALLS MESSAGE transactions completed in $WALL s ($ACHIEVED/s offered $RATE/s); failures $FAILURES (UAC failed $FAIL, UAS checks failed $UAS_FAIL, retransmissions $RETRANS, unexpected messages $UNEXPECTED, not completed $((CALLS - OK))); server 503 when full $FULL, dropped $DROPPED; $MEMORY"
[ "$VERDICT" = PASS ]
