#!/usr/bin/env python3
"""Generate a large pcap of level-1 IM server traffic, for the check-pcap benchmark.

Standard library only. The capture is taken at the IM server under test (the SUT,
192.0.2.1:5060). Its core (S-CSCF, 192.0.2.2:5060) sends it CPM pager MESSAGEs on the ISC
(terminating case) and a UAS (192.0.2.3:5060, behind the core, so never on this link) answers
them. Each transaction is 4 packets, 1 ms apart:

  1. core -> SUT  MESSAGE in the CPM form: Route <sip:192.0.2.1;lr>, <sip:192.0.2.2;lr;odi=X>,
                  P-Served-User ...;sescase=term;regstate=reg, the CPM ICSI in Accept-Contact,
                  P-Asserted-Service, a CPIM body (fixture 1a_pager_cpm_rx.sip)
  2. SUT -> core  the same MESSAGE as a correct level-1 IM server forwards it (fixture
                  1b_pager_im_tx.sip): its own Via on top, its Route entry popped,
                  Max-Forwards - 1, Accept-Contact: *;+g.oma.sip-im, P-Asserted-Service removed
  3. core -> SUT  the UAS's 200 OK (both Vias)
  4. SUT -> core  the 200 OK relayed (the SUT's Via removed)

Call-IDs, tags and branches are unique; the same --seed gives the same file. Ethernet/IPv4/UDP,
little-endian pcap (LINKTYPE_ETHERNET, µs timestamps), IP header checksums computed, UDP
checksums 0 (none, allowed over IPv4). Half the packets are requests, half responses, about
700 bytes a packet on average (a request ~1 KB, a response ~0.4 KB).

Usage: scripts/gen-capture.py [--packets N] [--out FILE] [--seed S]
       (N is rounded down to whole transactions of 4 packets; default 100000 -> capture.pcap)
"""
import argparse
import random
import struct
import sys

SUT = ("192.0.2.1", 5060, b"\x02\x00\x00\x00\x00\x01")
CORE = ("192.0.2.2", 5060, b"\x02\x00\x00\x00\x00\x02")
START_US = 1714558500 * 1_000_000  # 2024-05-01T10:15:00Z
STEP_US = 1000

CPM_ICSI_AC = b'*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg"'
CPM_PAS = b"urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg"

WORDS = (
    "hello bob are we still on for lunch tomorrow at the usual place near the station "
    "I can bring the documents we talked about and the slides for the review on Friday"
).split()


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def checksum(header):
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


class Writer:
    """A little-endian pcap of Ethernet/IPv4/UDP frames."""

    def __init__(self, f):
        self.f = f
        self.ip_id = 0
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def udp(self, time_us, src, dst, payload):
        udp_len = 8 + len(payload)
        ip_len = 20 + udp_len
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, self.ip_id, 0, 64, 17, 0, ip4(src[0]), ip4(dst[0])))
        struct.pack_into("!H", ip, 10, checksum(bytes(ip)))
        frame = b"".join(
            (
                dst[2] + src[2] + b"\x08\x00",
                bytes(ip),
                struct.pack("!HHHH", src[1], dst[1], udp_len, 0),
                payload,
            )
        )
        self.f.write(struct.pack("<IIII", time_us // 1_000_000, time_us % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)


def crlf(lines, body=b""):
    """A SIP message from its start line and headers (Content-Length appended) and body."""
    return b"\r\n".join(lines + [b"Content-Length: %d" % len(body), b"", b""]) + body


def transaction(n, rnd):
    """The 4 SIP messages of transaction n: (sender, receiver, bytes)."""
    h = lambda k: "%0*x" % (k, rnd.getrandbits(4 * k))  # noqa: E731
    uuid = lambda: "%s-%s-4%s-%s-%s" % (h(8), h(4), h(3), "89ab"[rnd.randrange(4)] + h(3), h(12))  # noqa: E731
    bob = b"sip:bob%d@im.example.net" % n
    alice = b"sip:+1555%07d@cpm.example.com" % rnd.randrange(10_000_000)
    call_id = b"%d-%s@cpm.example.com" % (n, h(12).encode())
    from_tag = h(8).encode()
    to_tag = h(8).encode()
    odi = h(6).encode()
    core_via = b"Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK" + h(10).encode() + b".term"
    sut_via = b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK" + h(10).encode() + b".as"
    text = " ".join(rnd.choice(WORDS) for _ in range(2 + rnd.randrange(4))).encode()
    cpim = b"\r\n".join(
        [
            b"From: <" + alice + b">",
            b"To: <" + bob + b">",
            b"DateTime: 2024-05-01T10:%02d:%02d.%03dZ" % (15 + n // 60000 % 45, n // 1000 % 60, n % 1000),
            b"NS: imdn <urn:ietf:params:imdn>",
            b"imdn.Message-ID: " + h(12).encode(),
            b"imdn.Disposition-Notification: positive-delivery, display",
            b"",
            b"Content-Type: text/plain;charset=UTF-8",
            b"",
            text,
        ]
    ) + b"\r\n"
    from_h = b"From: <" + alice + b">;tag=" + from_tag
    common_tail = [
        b"P-Asserted-Identity: <" + alice + b">",
        b"P-Served-User: <" + bob + b">;sescase=term;regstate=reg",
    ]
    conv = [b"Conversation-ID: " + uuid().encode(), b"Contribution-ID: " + uuid().encode()]
    rx = crlf(
        [b"MESSAGE " + bob + b" SIP/2.0", core_via,
         b"Route: <sip:192.0.2.1;lr>, <sip:192.0.2.2;lr;odi=" + odi + b">",
         b"Max-Forwards: 67", from_h, b"To: <" + bob + b">", b"Call-ID: " + call_id, b"CSeq: 1 MESSAGE"]
        + common_tail
        + [b"P-Asserted-Service: " + CPM_PAS, b"Accept-Contact: " + CPM_ICSI_AC]
        + conv
        + [b"Content-Type: message/cpim"],
        cpim,
    )
    tx = crlf(
        [b"MESSAGE " + bob + b" SIP/2.0", sut_via, core_via,
         b"Route: <sip:192.0.2.2;lr;odi=" + odi + b">",
         b"Max-Forwards: 66", from_h, b"To: <" + bob + b">", b"Call-ID: " + call_id, b"CSeq: 1 MESSAGE"]
        + common_tail
        + [b"Accept-Contact: *;+g.oma.sip-im"]
        + conv
        + [b"Content-Type: message/cpim"],
        cpim,
    )
    ok_tail = [from_h, b"To: <" + bob + b">;tag=" + to_tag, b"Call-ID: " + call_id, b"CSeq: 1 MESSAGE"]
    ok_in = crlf([b"SIP/2.0 200 OK", sut_via, core_via] + ok_tail)
    ok_out = crlf([b"SIP/2.0 200 OK", core_via] + ok_tail)
    return [(CORE, SUT, rx), (SUT, CORE, tx), (CORE, SUT, ok_in), (SUT, CORE, ok_out)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=100_000, help="packets (rounded down to a multiple of 4)")
    ap.add_argument("--out", default="capture.pcap", help="output pcap file")
    ap.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    a = ap.parse_args()
    if a.packets < 4:
        sys.exit("--packets must be at least 4")
    rnd = random.Random(a.seed)
    t = START_US
    with open(a.out, "wb", buffering=1 << 20) as f:
        w = Writer(f)
        for n in range(a.packets // 4):
            for src, dst, msg in transaction(n, rnd):
                w.udp(t, src, dst, msg)
                t += STEP_US


if __name__ == "__main__":
    main()
