#!/usr/bin/env bash
# Capture benchmark (docs/PERFORMANCE.md, "Captures (check-pcap)"): how long `imcpm check-pcap`
# takes, and how much memory, on a large capture of a level-1 IM server's pager traffic
# (scripts/gen-capture.py: 4 packets per MESSAGE transaction, ~700 bytes a packet, every
# transaction a PASS), against tshark decoding the same SIP.
#
# Measured in one run, each best of --runs (wall), on the capture of --packets packets and on
# one --big times larger (the memory check; --big 0 skips it):
#   tshark      tshark -r FILE -Y sip -T fields -e sip.Method -e sip.Accept-Contact > /dev/null
#   check-pcap  imcpm check-pcap FILE --sut 192.0.2.1:5060 --level 1 --report-dir DIR > /dev/null
#               (text summary on stdout, reports written: report.json/.md/.html, junit.xml)
#   check-pcap --no-reports
#               the same judging, the text summary on stdout, no report files written
#   check-pcap --jobs 0 (reports)
#               as the first, every dialog judged on the thread that files the messages
#               instead of on one judging thread per CPU (check-pcap's default)
#   read only   examples/read_capture.rs (imcpm::capture::read_captures, each message counted
#               and dropped): reading and framing only, the floor under check-pcap
# On the --big capture check-pcap runs once (--runs does not apply), stopped after
# --big-timeout seconds (a row stopped there shows "> LIMIT" and a peak RSS that is a lower
# bound). The --no-reports and --jobs 0 variants are not run on it (their judging is the same).
# Wall time is measured around the command (date +%s%N), best of the runs; peak RSS is
# /usr/bin/time -v's "Maximum resident set size", the highest of the runs; CPU is user+sys of
# the best run. "vs tshark" is tshark's wall time divided by the row's, on the same file.
# Before the runs a 1000-packet capture is checked: tshark decodes every packet as SIP, and
# check-pcap judges all of it PASS (exit 0); each timed check-pcap must exit 0 too.
#
# Nothing is written outside a temporary directory (removed at the end, --keep keeps it)
# except the build (cargo's target directory, CARGO_TARGET_DIR honoured); progress goes to
# stderr, the table to stdout.
#
# Usage: scripts/bench-capture.sh [--packets N] [--big FACTOR] [--runs N] [--seed S]
#                                 [--big-timeout S] [--quiet-wait S] [--no-build] [--keep]
# Defaults: --packets 100000 --big 10 --runs 3 --seed 1 --big-timeout 300 --quiet-wait 0 (before each timed
#           command, wait up to S seconds for the machine to be idle: under 0.3 cores busy)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKETS=100000
BIG=10
RUNS=3
SEED=1
BIG_TIMEOUT=300
QUIET_WAIT=0
BUILD=1
KEEP=0
ARGS="$*"
die() { echo "bench-capture: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --packets) PACKETS="${2:?}"; shift 2 ;;
    --big) BIG="${2:?}"; shift 2 ;;
    --runs) RUNS="${2:?}"; shift 2 ;;
    --seed) SEED="${2:?}"; shift 2 ;;
    --big-timeout) BIG_TIMEOUT="${2:?}"; shift 2 ;;
    --quiet-wait) QUIET_WAIT="${2:?}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for v in PACKETS BIG RUNS SEED BIG_TIMEOUT QUIET_WAIT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--$(echo "$v" | tr 'A-Z_' 'a-z-') takes a whole number"
done
[ "$PACKETS" -ge 4 ] && [ "$RUNS" -ge 1 ] || die "--packets >= 4 and --runs >= 1"
command -v tshark > /dev/null || die "tshark not found"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/imcpm"
FLOOR="$TARGET/release/examples/read_capture"
if [ "$BUILD" = 1 ]; then
  echo "== cargo build --release (bin and examples/read_capture)" >&2
  (cd "$ROOT" && cargo build --release --quiet --bin imcpm --example read_capture) >&2
fi
[ -x "$BIN" ] && [ -x "$FLOOR" ] || die "no $BIN or $FLOOR (build, or drop --no-build)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-capture.XXXXXX")"
cleanup() { if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
TCK=$(getconf CLK_TCK)

# Cores busy (all processes) over one second, from /proc/stat.
busy_cores() {
  local a b
  read -r -a a < /proc/stat; sleep 1; read -r -a b < /proc/stat
  awk -v u0="${a[1]}" -v n0="${a[2]}" -v s0="${a[3]}" -v q0="${a[6]}" -v sq0="${a[7]}" \
      -v u1="${b[1]}" -v n1="${b[2]}" -v s1="${b[3]}" -v q1="${b[6]}" -v sq1="${b[7]}" \
      -v k="$TCK" 'BEGIN { printf "%.2f", ((u1-u0)+(n1-n0)+(s1-s0)+(q1-q0)+(sq1-sq0)) / k }'
}
wait_quiet() {
  local busy waited=1
  busy=$(busy_cores)
  while [ "$waited" -lt "$QUIET_WAIT" ] && awk -v b="$busy" 'BEGIN { exit !(b >= 0.3) }'; do
    sleep 4; waited=$((waited + 5)); busy=$(busy_cores)
  done
  BUSY_MAX=$(awk -v a="$BUSY_MAX" -v b="$busy" 'BEGIN { print (b > a ? b : a) }')
}

gen() { # PACKETS FILE
  python3 "$ROOT/scripts/gen-capture.py" --packets "$1" --out "$2" --seed "$SEED"
}

# Sanity check on a small capture: tshark sees every packet as SIP, check-pcap judges all PASS.
echo "== sanity check on 1000 packets" >&2
gen 1000 "$WORK/small.pcap"
lines=$(tshark -r "$WORK/small.pcap" -Y sip -T fields -e sip.Method -e sip.Accept-Contact 2> /dev/null | wc -l)
[ "$lines" = 1000 ] || die "tshark decoded $lines of 1000 packets as SIP"
"$BIN" check-pcap "$WORK/small.pcap" --sut 192.0.2.1:5060 --level 1 --report-dir "$WORK/rep-small" \
  --format json > "$WORK/small.json" || die "check-pcap on the small capture exited $? (expected 0: all PASS)"
python3 - "$WORK/small.json" << 'EOF' || die "check-pcap on the small capture: not all PASS"
import json, sys
r = json.load(open(sys.argv[1]))
verdicts = {x["verdict"] for x in r["results"]}
sys.exit(0 if verdicts == {"PASS"} and len(r["results"]) > 0 else 1)
EOF

# measure LABEL FILE RUNS TIMEOUT CMD... : appends "label|file|wall ms|rss KB|cpu s|stopped" to
# $WORK/rows. TIMEOUT 0: none; else the command is stopped after TIMEOUT s (timeout(1)) and the
# row marked stopped. Every run must exit 0 otherwise.
measure() {
  local label=$1 file=$2 runs=$3 limit=$4; shift 4
  local best="" rss=0 cpu="" stopped=0 i t0 t1 rc wall r u s
  local pre=()
  [ "$limit" -gt 0 ] && pre=(timeout "$limit")
  for ((i = 1; i <= runs; i++)); do
    rm -rf "$WORK/rep"
    wait_quiet
    t0=$(date +%s%N)
    set +e
    /usr/bin/time -v -o "$WORK/time.txt" "${pre[@]}" "$@" > "$WORK/out.txt" 2> "$WORK/err.txt"
    rc=$?
    set -e
    t1=$(date +%s%N)
    if [ "$limit" -gt 0 ] && [ "$rc" = 124 ]; then
      stopped=1
    elif [ "$rc" != 0 ]; then
      cat "$WORK/err.txt" >&2; die "$label on $(basename "$file") exited $rc (expected 0)"
    fi
    wall=$(( (t1 - t0) / 1000000 ))
    r=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$WORK/time.txt")
    u=$(awk -F: '/User time \(seconds\)/ { gsub(/ /, "", $2); print $2 }' "$WORK/time.txt")
    s=$(awk -F: '/System time \(seconds\)/ { gsub(/ /, "", $2); print $2 }' "$WORK/time.txt")
    [ "$r" -gt "$rss" ] && rss=$r
    if [ -z "$best" ] || [ "$wall" -lt "$best" ]; then
      best=$wall; cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    fi
    echo "   $label $(basename "$file") run $i: $(awk -v w="$wall" 'BEGIN { printf "%.2f", w / 1000 }') s, CPU $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') s, $((r / 1024)) MB$([ "$stopped" = 1 ] && echo ", stopped at the limit")" >&2
  done
  echo "$label|$file|$best|$rss|$cpu|$stopped" >> "$WORK/rows"
}

# The read-only floor must see every packet as one SIP message.
check_floor() { # FILE PACKETS
  grep -q "sip messages $2," "$WORK/out.txt" || die "read_capture on $(basename "$1"): $(head -1 "$WORK/out.txt") (expected $2 messages)"
}

BUSY_MAX=0
files=()
sizes=("$PACKETS")
[ "$BIG" -gt 1 ] && sizes+=("$((PACKETS * BIG))")
for n in "${sizes[@]}"; do
  f="$WORK/sip-$n.pcap"
  echo "== generating $n packets" >&2
  gen "$n" "$f"
  expect=$((n / 4 * 4))
  if [ "$n" = "$PACKETS" ]; then big=0; runs=$RUNS; limit=0; else big=1; runs=1; limit=$BIG_TIMEOUT; fi
  measure "tshark" "$f" "$RUNS" 0 \
    sh -c 'exec tshark -r "$1" -Y sip -T fields -e sip.Method -e sip.Accept-Contact > /dev/null' sh "$f"
  measure "check-pcap (reports)" "$f" "$runs" "$limit" \
    "$BIN" check-pcap "$f" --sut 192.0.2.1:5060 --level 1 --report-dir "$WORK/rep"
  if [ "$big" = 0 ]; then
    measure "check-pcap --no-reports" "$f" "$runs" 0 \
      "$BIN" check-pcap "$f" --sut 192.0.2.1:5060 --level 1 --no-reports
    measure "check-pcap --jobs 0 (reports)" "$f" "$runs" 0 \
      "$BIN" check-pcap "$f" --sut 192.0.2.1:5060 --level 1 --jobs 0 --report-dir "$WORK/rep"
  fi
  measure "read only (read_capture)" "$f" "$RUNS" 0 "$FLOOR" "$f"
  check_floor "$f" "$expect"
  rm -f "$f"
done

# The table.
echo "Capture benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $(uname -sr)"
echo "imcpm $("$BIN" --version | cut -d' ' -f2) ($(cd "$ROOT" && git rev-parse --short HEAD 2> /dev/null || echo '?')), $(tshark --version 2> /dev/null | head -1)"
echo "command: scripts/bench-capture.sh $ARGS; best of $RUNS (wall), peak RSS the highest of the runs; most cores busy before a run: $BUSY_MAX"
echo
printf '| %-30s | %10s | %8s | %10s | %12s | %12s |\n' "tool" "packets" "wall s" "CPU s" "peak RSS MB" "vs tshark"
printf '| %-30s | %10s | %8s | %10s | %12s | %12s |\n' "---" "---:" "---:" "---:" "---:" "---:"
tshark_wall=0
while IFS='|' read -r label file wall rss cpu stopped; do
  n=${file##*/sip-}; n=${n%.pcap}
  [ "$label" = tshark ] && tshark_wall=$wall
  printf '| %-30s | %10s | %8s | %10s | %12s | %12s |\n' "$label" "$n" \
    "$(awk -v w="$wall" -v x="$stopped" 'BEGIN { printf (x ? "> %.0f" : "%.2f"), w / 1000 }')" \
    "$(awk -v c="$cpu" -v x="$stopped" 'BEGIN { printf (x ? ">= %.2f" : "%.2f"), c }')" \
    "$(awk -v r="$rss" -v x="$stopped" 'BEGIN { printf (x ? ">= %.1f" : "%.1f"), r / 1024 }')" \
    "$(awk -v t="$tshark_wall" -v w="$wall" -v x="$stopped" 'BEGIN { printf (x ? "< %.2fx" : "%.2fx"), t / w }')"
done < "$WORK/rows"
if [ "${#sizes[@]}" -gt 1 ]; then
  echo
  awk -F'|' -v small="$WORK/sip-${sizes[0]}.pcap" -v big="$WORK/sip-${sizes[1]}.pcap" -v f="$BIG" '
    { rss[$1 "|" $2] = $4; stop[$1 "|" $2] = $6 }
    END {
      split("check-pcap (reports)|read only (read_capture)|tshark", L, "|")
      for (i = 1; i <= 3; i++) {
        a = rss[L[i] "|" small]; b = rss[L[i] "|" big]
        if (a > 0 && b > 0)
          printf "peak RSS at %dx the packets, %s: %.1f MB -> %s%.1f MB (%s%+.0f%%)%s\n", f, L[i], a / 1024,
            stop[L[i] "|" big] ? ">= " : "", b / 1024, stop[L[i] "|" big] ? ">= " : "", (b - a) * 100 / a,
            stop[L[i] "|" big] ? ", stopped at the time limit: a lower bound" : ""
      }
    }' "$WORK/rows"
fi
