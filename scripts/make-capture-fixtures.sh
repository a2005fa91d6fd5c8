#!/usr/bin/env bash
# Remake tests/fixtures/captures/: small pcap and pcapng files written by third-party tools
# (Wireshark's text2pcap, editcap, mergecap and dumpcap), for the capture reader's tests.
# tests/fixtures/captures/README.md lists each file, the tool that made it and what it holds.
#
# Needs: tshark (Debian: apt-get install tshark, which brings the other tools), python3,
# unshare and ip (util-linux, iproute2), and root for the network namespace in which dumpcap
# captures the loopback traffic (nothing leaves the namespace). Usage: scripts/make-capture-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=tests/fixtures/captures
HELP="python3 $PWD/scripts/capture-fixtures.py"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC
TF="%Y-%m-%d %H:%M:%S.%f"
DAY="2024-05-01 12:00:00"

for tool in text2pcap editcap mergecap dumpcap tshark python3 unshare ip; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
mkdir -p "$OUT"
quiet() { "$@" 2> >(grep -vE '^(Running as user.*|-*|)$' >&2) >/dev/null; }

# t2p OUT FORMAT LINKTYPE "IP OPTION" "TRANSPORT OPTION" INPUT: text2pcap with timestamps.
t2p() {
  # shellcheck disable=SC2086
  quiet text2pcap -q -F "$2" -l "$3" $4 $5 -t "$TF" "$6" "$1"
}
A4="-4 192.0.2.10,192.0.2.20"
B4="-4 192.0.2.20,192.0.2.10"
A6="-6 2001:db8::10,2001:db8::20"
U="-u 5060,5060"

# --- UDP over Ethernet: pcap little-endian µs, nanosecond, big-endian ---------------------
$HELP timed-sip "$DAY.100000" req 11 >"$TMP/req11.txt"
$HELP timed-sip "$DAY.150000" ok 11 >"$TMP/ok11.txt"
t2p "$TMP/req11.pcap" pcap 1 "$A4" "$U" "$TMP/req11.txt"
t2p "$TMP/ok11.pcap" pcap 1 "$B4" "$U" "$TMP/ok11.txt"
quiet mergecap -F pcap -w "$OUT/udp-usec.pcap" "$TMP/req11.pcap" "$TMP/ok11.pcap"
quiet editcap -F nsecpcap "$OUT/udp-usec.pcap" "$OUT/udp-nsec.pcap"
$HELP byteswap "$OUT/udp-usec.pcap" "$OUT/udp-be.pcap"
fields="-T fields -e frame.time_epoch -e frame.len -e ip.src -e sip.Call-ID"
if ! diff <(tshark -r "$OUT/udp-usec.pcap" $fields 2>/dev/null) <(tshark -r "$OUT/udp-be.pcap" $fields 2>/dev/null); then
  echo "tshark reads the byte-swapped pcap differently" >&2
  exit 1
fi

# --- Raw IP link types: IPV4 (228), IPV6 (229), RAW (101) ----------------------------------
$HELP timed-sip "$DAY.100000" req 12 >"$TMP/req12.txt"
t2p "$OUT/raw-ipv4.pcap" pcap 228 "$A4" "$U" "$TMP/req12.txt"
$HELP timed-sip "$DAY.100000" req 13 >"$TMP/req13.txt"
t2p "$OUT/raw-ipv6.pcap" pcap 229 "$A6" "$U" "$TMP/req13.txt"
$HELP timed-sip "$DAY.100000" req 14 >"$TMP/req14.txt"
$HELP timed-sip "$DAY.200000" req 15 >"$TMP/req15.txt"
t2p "$TMP/raw14.pcap" pcap 101 "$A4" "$U" "$TMP/req14.txt"
t2p "$TMP/raw15.pcap" pcap 101 "$A6" "$U" "$TMP/req15.txt"
quiet mergecap -F pcap -w "$OUT/raw.pcap" "$TMP/raw14.pcap" "$TMP/raw15.pcap"

# --- BSD loopback NULL (0) in both host byte orders, and LOOP (108): raw.pcap's packets
# behind a 4-byte address family -------------------------------------------------------------
$HELP wrap "$OUT/raw.pcap" null >"$TMP/null.txt"
t2p "$OUT/null.pcap" pcap 0 "" "" "$TMP/null.txt"
$HELP wrap "$OUT/raw.pcap" null-be >"$TMP/null-be.txt"
t2p "$OUT/null-be.pcap" pcap 0 "" "" "$TMP/null-be.txt"
$HELP wrap "$OUT/raw.pcap" loop >"$TMP/loop.txt"
t2p "$OUT/loop.pcap" pcap 108 "" "" "$TMP/loop.txt"

# --- Ethernet with an 802.1Q tag, and with 802.1ad + 802.1Q (QinQ) ----------------------------
$HELP timed-sip "$DAY.100000" req 16 >"$TMP/req16.txt"
$HELP timed-sip "$DAY.200000" req 17 >"$TMP/req17.txt"
t2p "$TMP/eth16.pcap" pcap 1 "$A4" "$U" "$TMP/req16.txt"
t2p "$TMP/eth17.pcap" pcap 1 "$A4" "$U" "$TMP/req17.txt"
$HELP wrap "$TMP/eth16.pcap" vlan >"$TMP/v16.txt"
$HELP wrap "$TMP/eth17.pcap" qinq >"$TMP/v17.txt"
t2p "$TMP/v16.pcap" pcap 1 "" "" "$TMP/v16.txt"
t2p "$TMP/v17.pcap" pcap 1 "" "" "$TMP/v17.txt"
quiet mergecap -F pcap -w "$OUT/vlan.pcap" "$TMP/v16.pcap" "$TMP/v17.pcap"

# --- A pcapng with two interfaces (Ethernet µs, raw IPv4 ns), the same datagram on both within
# half a millisecond, and packet comments ------------------------------------------------------
$HELP timed-sip "$DAY.100000" req 18 >"$TMP/e18.txt"
$HELP timed-sip "$DAY.300000" req 19 >"$TMP/e19.txt"
cat "$TMP/e18.txt" "$TMP/e19.txt" >"$TMP/eth-if.txt"
t2p "$TMP/eth-if.pcap" pcap 1 "$A4" "$U" "$TMP/eth-if.txt"
$HELP timed-sip "$DAY.100500" req 18 >"$TMP/r18.txt"
$HELP timed-sip "$DAY.200000" ok 18 >"$TMP/r20.txt"
t2p "$TMP/raw18.pcap" pcap 228 "$A4" "$U" "$TMP/r18.txt"
t2p "$TMP/raw20.pcap" pcap 228 "$B4" "$U" "$TMP/r20.txt"
quiet mergecap -F pcap -w "$TMP/raw-if-us.pcap" "$TMP/raw18.pcap" "$TMP/raw20.pcap"
quiet editcap -F nsecpcap "$TMP/raw-if-us.pcap" "$TMP/raw-if.pcap"
quiet mergecap -I none -F pcapng -w "$TMP/two-if.pcapng" "$TMP/eth-if.pcap" "$TMP/raw-if.pcap"
quiet editcap -a "1:first copy, on the Ethernet interface" -a "3:the answer, on the raw interface" \
  "$TMP/two-if.pcapng" "$OUT/two-interfaces.pcapng"

# --- Two files to merge: a pcapng (Ethernet) and a pcap (raw IPv4), interleaved, sharing one
# datagram 0.8 ms apart ---------------------------------------------------------------------------
for n in 21 23; do $HELP timed-sip "$DAY.$((n - 20))00000" req $n; done >"$TMP/a.txt"
$HELP timed-sip "$DAY.500000" req 25 >>"$TMP/a.txt"
t2p "$OUT/merge-a.pcapng" pcapng 1 "$A4" "$U" "$TMP/a.txt"
for n in 22 24; do $HELP timed-sip "$DAY.$((n - 20))00000" req $n; done >"$TMP/b.txt"
$HELP timed-sip "$DAY.500800" req 25 >>"$TMP/b.txt"
t2p "$OUT/merge-b.pcap" pcap 228 "$A4" "$U" "$TMP/b.txt"

# --- Truncated files: a pcap cut inside frame 3, a pcapng cut inside its last block (frame 5) ---
for n in 30 31 32 33 34; do $HELP timed-sip "$DAY.$((n - 29))00000" req $n; done >"$TMP/five.txt"
t2p "$TMP/five.pcap" pcap 1 "$A4" "$U" "$TMP/five.txt"
mapfile -t lens < <(tshark -r "$TMP/five.pcap" -T fields -e frame.cap_len 2>/dev/null)
head -c $((24 + 16 + lens[0] + 16 + lens[1] + 16 + lens[2] / 2)) "$TMP/five.pcap" >"$OUT/truncated.pcap"
quiet editcap -F pcapng "$TMP/five.pcap" "$TMP/five.pcapng"
size=$(stat -c %s "$TMP/five.pcapng")
head -c $((size - 40)) "$TMP/five.pcapng" >"$OUT/truncated.pcapng"

# --- What cannot be judged, one frame each, in one pcapng of several link types -----------------
t=1
nj() { # nj NAME LINKTYPE "IP OPTION" "TRANSPORT OPTION" HEXBYTES
  $HELP hex "$DAY.${t}00000" "$5" >"$TMP/nj-$1.txt"
  t2p "$TMP/nj-$1.pcap" pcap "$2" "$3" "$4" "$TMP/nj-$1.txt"
  t=$((t + 1))
}
nj tls 1 "$A4" "-T 40000,5061" 160301000501000001000000
nj sctp 1 "$A4" "-s 5060,5060,7" 0003000c00000001000000006869
nj esp 1 "$A4" "-i 50" 0000100000000001deadbeefdeadbeef
nj dns 1 "$A4" "-u 40000,53" 12340100000100000000000003777777076578616d706c6503636f6d0000010001
nj arp 1 "" "-e 0x806" 0001080006040001020000000001c000020a000000000000c0000214
nj user0 147 "" "" 0102030405060708
nj keepalive 1 "$A4" "-u 40000,5060" 0d0a0d0a
nj unframable 1 "$A4" "$U" "$(printf 'MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: 50\r\n\r\nshort' | od -An -tx1 | tr -d ' \n')"
$HELP timed-sip "$DAY.900000" req 40 >"$TMP/nj-cut.txt"
t2p "$TMP/nj-cut-whole.pcap" pcap 1 "$A4" "$U" "$TMP/nj-cut.txt"
quiet editcap -s 80 "$TMP/nj-cut-whole.pcap" "$TMP/nj-cut.pcap"
quiet mergecap -I none -F pcapng -w "$OUT/not-judged.pcapng" \
  "$TMP"/nj-{tls,sctp,esp,dns,arp,user0,keepalive,unframable,cut}.pcap

# --- Real traffic captured by dumpcap on lo (Ethernet) and on "any" (SLL2, and SLL as pcap), in
# a network namespace whose lo has MTU 1280 so that large datagrams fragment ----------------------
cat >"$TMP/ns.sh" <<EOF
set -euo pipefail
ip link set lo up
ip link set lo mtu 1280
dumpcap -q -i lo -w "$TMP/lo.pcapng" 2>"$TMP/d1.log" & p1=\$!
dumpcap -q -i any -y LINUX_SLL2 -w "$TMP/sll2.pcapng" 2>"$TMP/d2.log" & p2=\$!
dumpcap -q -i any -y LINUX_SLL -P -w "$TMP/sll.pcap" 2>"$TMP/d3.log" & p3=\$!
for _ in \$(seq 50); do
  [ "\$(grep -l '^File:' "$TMP"/d?.log 2>/dev/null | wc -l)" -eq 3 ] && break
  sleep 0.1
done
sleep 0.5
$HELP traffic
sleep 0.5
kill -INT \$p1 \$p2 \$p3
wait \$p1 \$p2 \$p3 || true
EOF
timeout 60 unshare -n bash "$TMP/ns.sh"
cp "$TMP/lo.pcapng" "$OUT/lo.pcapng"
cp "$TMP/sll2.pcapng" "$OUT/any-sll2.pcapng"
cp "$TMP/sll.pcap" "$OUT/any-sll.pcap"

# --- TCP out of order and retransmitted, and with a gap: the lo capture edited. The request in
# three segments (c1 c2 c3, first transmissions): c3 moved before c1 and c2 sent again 200 ms
# later; or c2 removed with every retransmission of it (the kernel may have retransmitted) --------
mapfile -t segs < <(tshark -r "$OUT/lo.pcapng" -Y 'tcp.dstport == 5060 && tcp.len > 0 && !tcp.analysis.retransmission' \
  -T fields -e frame.number -e frame.time_epoch -e tcp.seq 2>/dev/null)
read -r n1 t1 _ <<<"${segs[1]}"
read -r n2 _ s2 <<<"${segs[2]}"
read -r n3 t3 _ <<<"${segs[3]}"
quiet editcap -r "$OUT/lo.pcapng" "$TMP/c3.pcapng" "$n3"
quiet editcap -t "$(python3 -c "print('%.6f' % ($t1 - $t3 - 0.0001))")" "$TMP/c3.pcapng" "$TMP/c3-early.pcapng"
quiet editcap -r "$OUT/lo.pcapng" "$TMP/c2.pcapng" "$n2"
quiet editcap -t 0.2 "$TMP/c2.pcapng" "$TMP/c2-again.pcapng"
quiet editcap "$OUT/lo.pcapng" "$TMP/without-c3.pcapng" "$n3"
quiet mergecap -w "$OUT/tcp-reordered.pcapng" "$TMP/without-c3.pcapng" "$TMP/c3-early.pcapng" "$TMP/c2-again.pcapng"
mapfile -t c2all < <(tshark -r "$OUT/lo.pcapng" -Y "tcp.dstport == 5060 && tcp.len > 0 && tcp.seq == $s2" \
  -T fields -e frame.number 2>/dev/null)
quiet editcap "$OUT/lo.pcapng" "$OUT/tcp-gap.pcapng" "${c2all[@]}"
echo "lo.pcapng: the three segments are frames $n1 $n2 $n3; c2 also in ${c2all[*]}"

ls -l "$OUT"
