#!/usr/bin/env bash
# Real-traffic sample captures of a level-1 tag-rewriting IM server: Kamailio 5.6 running the
# imcpm-l1 config family (scripts/kamailio/), once correct and once with two deliberate faults.
#
# For each variant, on 127.0.0.1 only:
#   Kamailio   udp:127.0.0.1:5070 (the server under test), runtime dir in a temp dir;
#   sipp UAS   127.0.0.1:5090, the next hop behind the server (tests/interop/sipp/im_uas_accept.xml:
#              200 to MESSAGE and INVITE, takes ACK and BYE, checks nothing);
#   dumpcap    on lo, UDP/TCP ports 5070 and 5090 only;
#   sipp UACs  from 127.0.0.1:5080, one after the other: N pager MESSAGEs
#              (cpm_pager_isc_uac.xml), then N large-message INVITE+ACK+BYE
#              (cpm_lmm_isc_uac.xml), in CPM form with the ISC Route set
#              `<sip:127.0.0.1:5070;lr>, <sip:127.0.0.1:5090;lr>` and
#              `P-Served-User: <sip:bob@im.example.net>;sescase=term;regstate=reg`.
# Then everything is stopped by PID and written to captures/:
#   kamailio-l1-correct.pcapng   scripts/kamailio/imcpm-l1.cfg
#   kamailio-l1-faulty.pcapng    scripts/kamailio/imcpm-l1-faulty.cfg
# each with a one-line-per-message .txt made by tshark (the columns of captures/README.md plus
# the UDP source and destination ports, since every address is 127.0.0.1).
#
# Usage: scripts/make-kamailio-captures.sh [--pager N] [--lmm N] [--keep]
#   --pager N  pager MESSAGEs per capture (1-5, default 3)
#   --lmm N    large-message INVITE dialogs per capture (1-5, default 2)
#   --keep     keep the temp dir with the logs of Kamailio, sipp and dumpcap
# Needs the Debian packages sip-tester, kamailio, tshark (dumpcap comes with wireshark-common);
# capturing on lo needs root or a dumpcap with the capture capabilities. Ports 5070, 5080 and
# 5090 must be free on 127.0.0.1. Every run is bounded (sipp -timeout, `timeout`), and
# everything started is stopped by PID on exit.
set -euo pipefail

PAGER=3
LMM=2
KEEP=0
die() { echo "make-kamailio-captures.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pager) PAGER="${2:-}"; shift 2 || die "--pager takes a number" ;;
    --lmm) LMM="${2:-}"; shift 2 || die "--lmm takes a number" ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail$/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument \`$1\` (see --help)" ;;
  esac
done
[[ "$PAGER" =~ ^[1-5]$ ]] || die "--pager takes 1 to 5, not \`$PAGER\`"
[[ "$LMM" =~ ^[1-5]$ ]] || die "--lmm takes 1 to 5, not \`$LMM\`"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIPP_DIR="$ROOT/tests/interop/sipp"
KAM_DIR="$ROOT/scripts/kamailio"
OUT_DIR="$ROOT/captures"
IP=127.0.0.1
KAM_PORT=5070
UAC_PORT=5080
UAS_PORT=5090

# Tools: fail naming the missing one and its Debian package.
need() { # need TOOL PACKAGE -> sets TOOL_PATH
  TOOL_PATH="$(PATH="$PATH:/usr/sbin:/sbin" command -v "$1" || true)"
  [ -n "$TOOL_PATH" ] || die "\`$1\` is missing: apt-get install $2"
}
need sipp sip-tester; SIPP="$TOOL_PATH"
need kamailio kamailio; KAMAILIO="$TOOL_PATH"
need dumpcap wireshark-common; DUMPCAP="$TOOL_PATH"
need tshark tshark; TSHARK="$TOOL_PATH"
need timeout coreutils; TIMEOUT="$TOOL_PATH"
for f in "$SIPP_DIR/cpm_pager_isc_uac.xml" "$SIPP_DIR/cpm_lmm_isc_uac.xml" "$SIPP_DIR/im_uas_accept.xml" \
         "$KAM_DIR/imcpm-l1.cfg" "$KAM_DIR/imcpm-l1-faulty.cfg"; do
  [ -f "$f" ] || die "$f is missing"
done

# A port is taken if 127.0.0.1:PORT or *:PORT is bound for UDP or TCP (from /proc, no ss needed).
port_bound() {
  local hex
  hex="$(printf '%04X' "$1")"
  cat /proc/net/udp /proc/net/tcp /proc/net/udp6 /proc/net/tcp6 2>/dev/null |
    awk -v h="$hex" 'NR > 1 && toupper($2) ~ (":" h "$") { found = 1 } END { exit !found }'
}
for p in "$KAM_PORT" "$UAC_PORT" "$UAS_PORT"; do
  ! port_bound "$p" || die "port $p is in use on this machine; the captures need 5070, 5080 and 5090"
done

WORK="$(mktemp -d /tmp/imcpm-kamcap.XXXXXX)"
PIDS=() # started in the background, in order; stopped in reverse order
cleanup() {
  local rc=$? i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  if [ ${#PIDS[@]} -gt 0 ]; then
    sleep 0.5
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -KILL "${PIDS[i]}" 2>/dev/null || true; done
    for i in "${PIDS[@]}"; do wait "$i" 2>/dev/null || true; done
  fi
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() { # forget PID: it has been reaped
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# stop PID SIGNAL SECONDS: signal it, wait up to SECONDS, then SIGKILL; reaps it.
stop() {
  local pid="$1" sig="$2" secs="$3" n=0
  kill "-$sig" "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$n" -lt $((secs * 10)) ]; do sleep 0.1; n=$((n + 1)); done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  forget "$pid"
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.1 s.
wait_for() {
  local secs="$1" what="$2" n=0
  shift 2
  until "$@"; do
    n=$((n + 1))
    [ "$n" -lt $((secs * 10)) ] || return 1
    sleep 0.1
  done
}

capturing() { grep -q "Capturing on" "$1" 2>/dev/null; } # dumpcap has started

show_logs() { # show_logs DIR: the tail of every log, for a failure
  local f
  for f in "$1"/*.log "$1"/*_errors.log; do
    [ -s "$f" ] || continue
    echo "--- $f" >&2
    tail -n 30 "$f" >&2
  done
}

# One capture: capture NAME CONFIG
capture() {
  local name="$1" cfg="$2" dir="$WORK/$1"
  local total=$((PAGER + LMM)) kam uas cap
  mkdir -p "$dir/run"
  echo "== $name: $cfg" >&2
  "$KAMAILIO" -c -f "$cfg" >"$dir/kamailio-check.log" 2>&1 || { show_logs "$dir"; die "$cfg: syntax check failed"; }

  "$DUMPCAP" -i lo -f "udp port $KAM_PORT or tcp port $KAM_PORT or udp port $UAS_PORT or tcp port $UAS_PORT" \
    -w "$dir/$name.pcapng" >"$dir/dumpcap.log" 2>&1 &
  cap=$!; PIDS+=("$cap")
  wait_for 10 dumpcap capturing "$dir/dumpcap.log" || { show_logs "$dir"; die "dumpcap did not start capturing on lo (root or the capture capabilities are needed)"; }
  sleep 1 # TOOLS.md: give it a second before traffic

  "$KAMAILIO" -f "$cfg" -DD -E -Y "$dir/run" -l "udp:$IP:$KAM_PORT" -m 64 -M 8 >"$dir/kamailio.log" 2>&1 &
  kam=$!; PIDS+=("$kam")
  wait_for 10 kamailio port_bound "$KAM_PORT" || { show_logs "$dir"; die "kamailio did not bind $IP:$KAM_PORT"; }

  (cd "$dir" && exec "$SIPP" -sf "$SIPP_DIR/im_uas_accept.xml" -i "$IP" -p "$UAS_PORT" -t u1 -nostdin \
    -m "$total" -timeout 60 -timeout_error -trace_err -error_file "$dir/uas_errors.log" >"$dir/uas.log" 2>&1) &
  uas=$!; PIDS+=("$uas")
  wait_for 10 sipp-uas port_bound "$UAS_PORT" || { show_logs "$dir"; die "the sipp UAS did not bind $IP:$UAS_PORT"; }
  sleep 0.3

  local uac
  for uac in "cpm_pager_isc_uac.xml:$PAGER" "cpm_lmm_isc_uac.xml:$LMM"; do
    (cd "$dir" && "$TIMEOUT" 40 "$SIPP" "$IP:$KAM_PORT" -sf "$SIPP_DIR/${uac%%:*}" -key uas "$IP:$UAS_PORT" \
      -i "$IP" -p "$UAC_PORT" -t u1 -m "${uac##*:}" -l 1 -r 5 -default_behaviors all,-bye -nostdin \
      -timeout 30 -timeout_error -trace_err -error_file "$dir/${uac%%.xml*}_errors.log" \
      >"$dir/${uac%%.xml*}.log" 2>&1) || { show_logs "$dir"; die "$name: sipp ${uac%%:*} failed"; }
    sleep 0.3
  done

  # The UAS ends by itself after its last call; then let the last packets reach dumpcap.
  wait_for 10 sipp-uas-exit eval "! kill -0 $uas 2>/dev/null" || { show_logs "$dir"; die "$name: the sipp UAS did not end"; }
  local uas_rc=0
  wait "$uas" || uas_rc=$?
  forget "$uas"
  [ "$uas_rc" = 0 ] || { show_logs "$dir"; die "$name: the sipp UAS failed (exit $uas_rc)"; }
  sleep 0.5
  stop "$kam" TERM 5
  stop "$cap" INT 5

  install -m 0644 "$dir/$name.pcapng" "$OUT_DIR/$name.pcapng"
  "$TSHARK" -r "$OUT_DIR/$name.pcapng" -d "udp.port==$KAM_PORT,sip" -d "udp.port==$UAS_PORT,sip" \
    -T fields -E separator=/t -e frame.number -e frame.time_relative -e ip.src -e ip.dst \
    -e _ws.col.Protocol -e _ws.col.Info -e udp.srcport -e udp.dstport >"$OUT_DIR/$name.txt" 2>"$dir/tshark.log" \
    || { show_logs "$dir"; die "tshark could not read $OUT_DIR/$name.pcapng"; }
  local n
  n="$(wc -l <"$OUT_DIR/$name.txt")"
  echo "   $OUT_DIR/$name.pcapng: $n packets" >&2
}

mkdir -p "$OUT_DIR"
capture kamailio-l1-correct "$KAM_DIR/imcpm-l1.cfg"
capture kamailio-l1-faulty "$KAM_DIR/imcpm-l1-faulty.cfg"
