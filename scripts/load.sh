#!/usr/bin/env bash
# Load comparison on loopback: a sipp UAC sends CPM pager MESSAGEs at a
# fixed rate through the server under test to a sipp UAS behind it (the ISC Route set
# <sip:SERVER;lr>, <sip:UAS;lr>), and the UAS checks every MESSAGE arrived in the IM form
# (tests/interop/sipp/pager_uas.xml: a failed check is answered 488 and counted as failed).
#
# Measured the same way, in the same run, for:
#   imcpm     `imcpm serve --level 1` (release build), one process
#   kamailio  Kamailio 5.6, stateful tm, textops rewrite (scripts/kamailio/imcpm-l1.cfg), run
#             with -x tlsf -X tlsf -m 1024 and maxbuffer=4194304 (TOOLS.md)
# Reported: completed MESSAGE transactions per second, failed transactions (UAC failures, UAS
# check failures, retransmissions), and the server's CPU seconds per 1000 transactions from
# /proc/PID/stat utime+stime (all descendants for Kamailio) before and after the run. Then a
# short bounded ramp finds the highest clean rate of each: no failed call, every call completed,
# at least 97% of the offered rate achieved. The sipp UAC and UAS run on the same cores as the
# server (their CPU is reported too), so the ramp measures the machine, not the server alone.
#
# UDP receive buffers: Kamailio sizes its socket buffer itself (maxbuffer=4194304); imcpm serve
# gets the same 4 MB asked with `--udp-rcvbuf` (`SO_RCVBUFFORCE` when root, else capped by
# net.core.rmem_max). The script changes no sysctl; it records the buffer each server's socket
# really has (`ss -m`, `rb`), the datagrams the kernel dropped on each socket, and how busy the
# machine was before each run (others' builds skew figures).
#
# Usage: scripts/load.sh [--rate N] [--duration S] [--ramp "R1 R2 ..."|--no-ramp]
#                        [--ramp-duration S] [--only imcpm|kamailio] [--udp-rcvbuf BYTES] [--udp-hold MS]
#                        [--quiet-wait S] [--ramp-retries N] [--repeat N] [--no-build] [--keep]
# Defaults: --rate 2000 --duration 30 --ramp "4000 8000 10000 12000 14000 16000 18000 20000"
#           --ramp-duration 10 --udp-rcvbuf 4194304 --udp-hold: imcpm serve's own default (1 ms;
#           0 turns its read hold off, for comparisons) --quiet-wait 0 (before each run, wait up
#           to S seconds for the machine to be idle: under 0.3 cores busy) --ramp-retries 1 (a
#           ramp step that is not clean is tried again up to N times before the ramp stops, as
#           other work on a shared machine can spoil one step). Everything it starts is killed by
#           PID on exit. --repeat 1: how many times the fixed-rate run is done, the servers
#           alternating, with the median CPU per transaction of each at the end and, when both
#           servers ran, imcpm's CPU over Kamailio's for each pair of runs and their median.
set -euo pipefail

ARGS="$*"
RATE=2000
DURATION=30
RAMP="4000 8000 10000 12000 14000 16000 18000 20000"
RAMP_DURATION=10
SUTS="imcpm kamailio"
BUILD=1
KEEP=0
RMEM=4194304
HOLD=""
QUIET_WAIT=0
RAMP_RETRIES=1
REPEAT=1

die() { echo "load.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="${2:?}"; shift 2 ;;
    --duration) DURATION="${2:?}"; shift 2 ;;
    --ramp) RAMP="${2:?}"; shift 2 ;;
    --no-ramp) RAMP=""; shift ;;
    --ramp-duration) RAMP_DURATION="${2:?}"; shift 2 ;;
    --only) SUTS="${2:?}"; shift 2 ;;
    --udp-rcvbuf) RMEM="${2:?}"; shift 2 ;;
    --udp-hold) HOLD="${2:?}"; shift 2 ;;
    --quiet-wait) QUIET_WAIT="${2:?}"; shift 2 ;;
    --ramp-retries) RAMP_RETRIES="${2:?}"; shift 2 ;;
    --repeat) REPEAT="${2:?}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail$/{/^set/d;p}' "$0"; exit 0 ;;
    *) die "unknown argument \`$1\` (see --help)" ;;
  esac
done
for n in "$RATE" "$DURATION" "$RAMP_DURATION" $RAMP; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: \`$n\`"
done
[[ "$RMEM" =~ ^[0-9]+$ ]] || die "--udp-rcvbuf takes a number of bytes, not \`$RMEM\`"
[ -z "$HOLD" ] || { [[ "$HOLD" =~ ^[0-9]+$ ]] && [ "$HOLD" -le 50 ]; } || die "--udp-hold takes milliseconds, 0 to 50 (as imcpm serve), not \`$HOLD\`"
[[ "$QUIET_WAIT" =~ ^[0-9]+$ ]] && [ "$QUIET_WAIT" -le 1800 ] || die "--quiet-wait takes seconds (<= 1800)"
[[ "$RAMP_RETRIES" =~ ^[0-3]$ ]] || die "--ramp-retries takes 0 to 3"
[[ "$REPEAT" =~ ^[1-9]$ ]] || die "--repeat takes 1 to 9"
[ "$DURATION" -le 600 ] && [ "$RAMP_DURATION" -le 120 ] || die "bounded runs only: --duration <= 600, --ramp-duration <= 120"
for s in $SUTS; do [[ "$s" == imcpm || "$s" == kamailio ]] || die "--only takes imcpm or kamailio, not \`$s\`"; done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIPP_DIR="$ROOT/tests/interop/sipp"
KAM_CFG="$ROOT/scripts/kamailio/imcpm-l1.cfg"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/imcpm"
command -v sipp >/dev/null || die "sipp is missing: apt-get install sip-tester"
KAMAILIO="$(command -v kamailio || echo /usr/sbin/kamailio)"
if [[ " $SUTS " == *" kamailio "* ]]; then
  [ -x "$KAMAILIO" ] || die "kamailio is missing: apt-get install kamailio"
fi
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release --quiet --bin imcpm)
fi
[ -x "$BIN" ] || die "$BIN missing (run without --no-build)"

WORK="$(mktemp -d /tmp/imcpm-load.XXXXXX)"
PIDS=()
SUBS=() # subshells waiting for a PIDS entry: they end, and reap it, once it is killed
cleanup() {
  local pid
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  sleep 0.3
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -KILL "${PIDS[i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}" "${SUBS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stop tracking a process that has been reaped (its PID may be reused by others).
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  keep=()
  for p in "${SUBS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  SUBS=("${keep[@]}")
}

# Ports: a block of 200 per invocation, one fresh port per use.
PORT_BASE=$(( 20000 + ($$ % 200) * 200 ))
PORT_NEXT=0
alloc_port() { PORT_NEXT=$((PORT_NEXT + 1)); PORT=$((PORT_BASE + PORT_NEXT)); }

# utime+stime (clock ticks) of PIDs and all their descendants.
cpu_ticks() {
  local -A parent=() ticks=()
  local f line rest pid total=0
  for f in /proc/[0-9]*/stat; do
    { read -r line < "$f"; } 2>/dev/null || continue # the process may have gone meanwhile
    pid="${line%% *}"
    rest="${line##*) }"
    read -r -a a <<< "$rest"
    parent[$pid]="${a[1]}"
    ticks[$pid]=$(( a[11] + a[12] ))
  done
  local -a queue=("$@")
  local -A seen=()
  while [ ${#queue[@]} -gt 0 ]; do
    pid="${queue[0]}"; queue=("${queue[@]:1}")
    [ -n "${seen[$pid]:-}" ] && continue
    seen[$pid]=1
    total=$(( total + ${ticks[$pid]:-0} ))
    for f in "${!parent[@]}"; do
      [ "${parent[$f]}" = "$pid" ] && queue+=("$f")
    done
  done
  echo "$total"
}

TCK=$(getconf CLK_TCK)

# Datagrams the kernel dropped on the loopback UDP sockets bound to PORT (receive buffer full):
# the `drops` column of /proc/net/udp.
udp_drops() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" '$2 ~ p"$" { d += $NF } END { print d + 0 }' /proc/net/udp
}

# A column of the last line of a sipp -trace_stat CSV.
csv_col() {
  awk -F';' -v col="$2" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
                         NF > 1 { v = $c } END { print (v == "" ? 0 : v) + 0 }' "$1"
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

start_sut() { # SUT DIR -> SUT_PID SUT_PORT
  local sut=$1 dir=$2 i
  if [ "$sut" = imcpm ]; then
    # RUST_LOG=warn: no info line per forwarded request, as Kamailio (debug=1) logs none.
    RUST_LOG=warn "$BIN" serve --listen udp:127.0.0.1:0 --level 1 --udp-rcvbuf "$RMEM" ${HOLD:+--udp-hold "$HOLD"} >"$dir/serve.out" 2>"$dir/serve.log" &
    SUT_PID=$!; PIDS+=("$SUT_PID")
    for i in $(seq 100); do grep -q 'listening on udp:' "$dir/serve.out" 2>/dev/null && break; sleep 0.05; done
    SUT_PORT=$(sed -n 's/^imcpm serve: listening on udp:127\.0\.0\.1:\([0-9]*\)$/\1/p' "$dir/serve.out")
    [ -n "$SUT_PORT" ] || { cat "$dir/serve.log" >&2; die "imcpm serve did not start"; }
  else
    alloc_port; SUT_PORT=$PORT
    mkdir -p "$dir/run"
    "$KAMAILIO" -f "$KAM_CFG" -DD -E -Y "$dir/run" -l "udp:127.0.0.1:$SUT_PORT" -m 1024 -M 8 -x tlsf -X tlsf \
      >"$dir/kamailio.log" 2>&1 &
    SUT_PID=$!; PIDS+=("$SUT_PID")
    for i in $(seq 100); do grep -q 'Listening on' "$dir/kamailio.log" 2>/dev/null && break; sleep 0.05; done
    sleep 1 # children forked and bound
    kill -0 "$SUT_PID" 2>/dev/null || { cat "$dir/kamailio.log" >&2; die "kamailio did not start"; }
  fi
  # The receive buffer the server's socket really has (bytes, as the kernel reports it).
  local rb
  rb=$(ss -ulmnH "sport = :$SUT_PORT" 2>/dev/null | grep -o 'rb[0-9]*' | head -1 | tr -d rb)
  RCVBUF_SEEN="$RCVBUF_SEEN $sut=${rb:-?}"
}

# One measured run: SUT RATE DURATION LABEL; sets R_* results and prints one line.
run_once() {
  local sut=$1 rate=$2 dur=$3 label=$4
  local dir="$WORK/$label-$sut-$rate"
  mkdir -p "$dir"
  R_IDLE_BUSY=$(busy_cores)
  local waited=1
  while [ "$waited" -lt "$QUIET_WAIT" ] && awk -v b="$R_IDLE_BUSY" 'BEGIN { exit !(b >= 0.3) }'; do
    sleep 4; waited=$((waited + 5)); R_IDLE_BUSY=$(busy_cores)
  done
  start_sut "$sut" "$dir"
  alloc_port; local uas_port=$PORT
  sipp -sf "$SIPP_DIR/pager_uas.xml" -t u1 -i 127.0.0.1 -p "$uas_port" -nostdin -buff_size 4194304 \
    -trace_stat -stf "$dir/uas.csv" -fd 1 -trace_err -error_file "$dir/uas_errors.log" \
    >"$dir/uas.screen" 2>&1 &
  local uas_pid=$!; PIDS+=("$uas_pid")
  sleep 0.5
  alloc_port; local uac_port=$PORT
  local calls=$((rate * dur))
  local cpu0 sipp0 t0 t1 cpu1 sipp1
  cpu0=$(cpu_ticks "$SUT_PID"); sipp0=$(cpu_ticks "$uas_pid")
  t0=$(date +%s.%N)
  # The UAC runs in a subshell that reports its CPU time (`times`) once it is done.
  (
    sipp "127.0.0.1:$SUT_PORT" -sf "$SIPP_DIR/pager_uac.xml" -t u1 -i 127.0.0.1 -p "$uac_port" \
      -r "$rate" -m "$calls" -l "$rate" -key uas "127.0.0.1:$uas_port" -default_behaviors all,-bye \
      -nostdin -buff_size 4194304 -timeout "$((dur + 30))s" \
      -trace_stat -stf "$dir/uac.csv" -fd 1 -trace_err -error_file "$dir/uac_errors.log" \
      >"$dir/uac.screen" 2>&1 &
    echo $! >"$dir/uac.pid"
    wait $! || true
    times >"$dir/uac.times"
  ) &
  local sub=$!; SUBS+=("$sub")
  local i
  for i in $(seq 100); do [ -s "$dir/uac.pid" ] && break; sleep 0.02; done
  local uac_pid
  uac_pid=$(cat "$dir/uac.pid")
  PIDS+=("$uac_pid")
  wait "$sub" 2>/dev/null || true
  forget "$sub"; forget "$uac_pid" # reaped by the subshell
  t1=$(date +%s.%N)
  cpu1=$(cpu_ticks "$SUT_PID"); sipp1=$(cpu_ticks "$uas_pid")
  R_DROPS=$(udp_drops "$SUT_PORT"); R_SIPP_DROPS=$(udp_drops "$uas_port")
  sleep 1.2 # the UAS's last periodic stats dump
  stop_pid "$uas_pid" USR1
  stop_pid "$SUT_PID" TERM

  R_OK=$(csv_col "$dir/uac.csv" 'SuccessfulCall(C)')
  R_FAIL=$(csv_col "$dir/uac.csv" 'FailedCall(C)')
  R_RETRANS=$(csv_col "$dir/uac.csv" 'Retransmissions(C)')
  R_UAS_FAIL=$(csv_col "$dir/uas.csv" 'FailedCall(C)')
  R_CALLS=$calls
  R_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  R_RATE=$(awk -v n="$R_OK" -v w="$R_WALL" 'BEGIN { printf "%.0f", (w > 0 ? n / w : 0) }')
  R_CPU=$(awk -v t=$((cpu1 - cpu0)) -v k="$TCK" 'BEGIN { printf "%.2f", t / k }')
  R_CPU_K=$(awk -v t=$((cpu1 - cpu0)) -v k="$TCK" -v n="$R_OK" 'BEGIN { printf "%.3f", (n > 0 ? t / k * 1000 / n : 0) }')
  R_US=$(awk -v t=$((cpu1 - cpu0)) -v k="$TCK" -v n="$R_OK" 'BEGIN { printf "%.0f", (n > 0 ? t / k * 1e6 / n : 0) }')
  # `times`, second line: user and system time of the subshell's children (the UAC).
  local uac_cpu
  uac_cpu=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] } print s }' "$dir/uac.times")
  R_SIPP_CPU=$(awk -v t=$((sipp1 - sipp0)) -v k="$TCK" -v u="${uac_cpu:-0}" 'BEGIN { printf "%.2f", t / k + u }')
  # Clean: every call completed and none failed, and the offered rate was (nearly) kept.
  R_CLEAN=no
  if [ "$R_FAIL" = 0 ] && [ "$R_UAS_FAIL" = 0 ] && [ "$R_OK" = "$calls" ] &&
     awk -v r="$R_RATE" -v o="$rate" 'BEGIN { exit !(r >= 0.97 * o) }'; then
    R_CLEAN=yes
  fi
  printf '%-8s offered %5d/s x %3ds: ok %6d/%-6d failed %d (UAS checks failed %d), retrans %d, %6s msg/s; server CPU %6ss = %6s s/1000 tx (%s us/tx); sipp CPU %ss; UDP drops server %d, UAS %d; busy before %s cores; clean %s\n' \
    "$sut" "$rate" "$dur" "$R_OK" "$calls" "$R_FAIL" "$R_UAS_FAIL" "$R_RETRANS" "$R_RATE" "$R_CPU" "$R_CPU_K" "$R_US" \
    "$R_SIPP_CPU" "$R_DROPS" "$R_SIPP_DROPS" "$R_IDLE_BUSY" "$R_CLEAN"
}

RCVBUF_SEEN=""

# Cores busy (all processes) over one second, from /proc/stat.
busy_cores() {
  local a b
  read -r -a a < /proc/stat; sleep 1; read -r -a b < /proc/stat
  awk -v u0="${a[1]}" -v n0="${a[2]}" -v s0="${a[3]}" -v i0="${a[4]}" -v w0="${a[5]}" -v q0="${a[6]}" -v sq0="${a[7]}" \
      -v u1="${b[1]}" -v n1="${b[2]}" -v s1="${b[3]}" -v i1="${b[4]}" -v w1="${b[5]}" -v q1="${b[6]}" -v sq1="${b[7]}" \
      -v k="$TCK" 'BEGIN { printf "%.2f", ((u1-u0)+(n1-n0)+(s1-s0)+(q1-q0)+(sq1-sq0)) / k }'
}

echo "== imcpm load comparison: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "   machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $(uname -sr)"
echo "   sipp $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1); $("$KAMAILIO" -v 2>/dev/null | head -1 || true); imcpm $("$BIN" --version | cut -d' ' -f2)"
echo "   command: scripts/load.sh $ARGS"
echo "   settings: --rate $RATE --duration $DURATION --repeat $REPEAT --ramp \"$RAMP\" --ramp-duration $RAMP_DURATION --ramp-retries $RAMP_RETRIES --only \"$SUTS\" --udp-rcvbuf $RMEM --udp-hold ${HOLD:-default} --quiet-wait $QUIET_WAIT"
echo "   note: the sipp UAC and UAS share the $(nproc) cores with the server under test"
echo "   UDP receive buffers asked: imcpm serve --udp-rcvbuf $RMEM; Kamailio maxbuffer=4194304 (what each got: at the end)"
echo
echo "== fixed rate: $RATE MESSAGE/s for $DURATION s ($REPEAT time(s) each)"
declare -A US=() FAILED=()
for rep in $(seq "$REPEAT"); do
  for sut in $SUTS; do
    run_once "$sut" "$RATE" "$DURATION" "fixed$rep"
    US[$sut]="${US[$sut]:-} $R_US"
    FAILED[$sut]=$(( ${FAILED[$sut]:-0} + R_FAIL + R_UAS_FAIL ))
  done
done
for sut in $SUTS; do
  median=$(tr ' ' '\n' <<< "${US[$sut]}" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
  echo "$sut: median server CPU ${median} us per transaction over $REPEAT run(s) (${US[$sut]# }), failed transactions ${FAILED[$sut]}"
done
# With both servers: imcpm's CPU over Kamailio's for each pair of runs (run n of each, made one
# after the other), as the speed of a shared machine moves both between pairs.
if [ -n "${US[imcpm]:-}" ] && [ -n "${US[kamailio]:-}" ]; then
  read -ra mine <<< "${US[imcpm]}"
  read -ra theirs <<< "${US[kamailio]}"
  ratios=""
  for i in "${!mine[@]}"; do
    ratios+="$(awk -v x="${mine[$i]}" -v y="${theirs[$i]:-0}" 'BEGIN { if (y > 0) printf "%.2f", x / y; else printf "-" }') "
  done
  pair_median=$(tr ' ' '\n' <<< "$ratios" | { grep -v '^-*$' || true; } | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }')
  over=$(tr ' ' '\n' <<< "$ratios" | { grep -v '^-*$' || true; } | awk '$1 > 0.5 { n++ } END { print n + 0 }')
  echo "imcpm/kamailio CPU per transaction, each pair: ${ratios% }; median ${pair_median}; pairs above 0.50: ${over} of ${#mine[@]}"
fi

if [ -n "$RAMP" ]; then
  echo
  echo "== ramp: $RAMP_DURATION s per step, stops at the first step that is not clean (after $RAMP_RETRIES more tries)"
  for sut in $SUTS; do
    best=0
    for rate in $RAMP; do
      for try in $(seq 0 "$RAMP_RETRIES"); do
        run_once "$sut" "$rate" "$RAMP_DURATION" "ramp$try"
        [ "$R_CLEAN" = yes ] && break
      done
      if [ "$R_CLEAN" = yes ]; then best=$rate; else break; fi
    done
    echo "$sut: highest clean rate ${best}/s (of the steps tried: $RAMP)"
  done
fi
echo
echo "   UDP receive buffers the servers' sockets had (ss -m rb, bytes, per run):$RCVBUF_SEEN"
