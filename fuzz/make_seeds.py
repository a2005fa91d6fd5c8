#!/usr/bin/env python3
"""Write the committed seed corpora fuzz/seeds/<target>/ from the project's fixtures.

Run from anywhere: `python3 fuzz/make_seeds.py`. Deterministic; it empties each seed folder
first. The input layouts are documented in fuzz/src/lib.rs (each target's function); this
script follows them:
- sip_parse, rewrite: example and variant fixtures, plus a few oracle messages, as they are;
- oracle_check: a configuration byte (level, case, client, offline) from cases.toml, the
  ingress, SPLIT, the egress;
- capture_read: the capture fixtures as they are, plus two files joined by SPLIT;
- tcp_reassembly: example messages cut into TCP segments (in order, reordered, overlapping,
  with a hole, over a wrap of the sequence space, on a port that is SIP by content only);
- server: third-party REGISTERs and example requests, answered and timed out.
"""

import pathlib
import shutil
import struct
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "fuzz" / "seeds"
SPLIT = b"\0--8<--\0"
MAX_PER_TARGET = 40


def reset(target):
    d = OUT / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def write(d, name, data):
    (d / name).write_bytes(data)


def examples():
    return sorted((FIX / "examples").glob("*.sip"))


def variants():
    return sorted((FIX / "variants").glob("*.sip"))


def oracle_cases():
    return tomllib.loads((FIX / "oracle" / "cases.toml").read_text())["case"]


def spread(items, n):
    """n items spread evenly over the list (all of it when short)."""
    if len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def sip_seeds(target):
    d = reset(target)
    files = examples() + variants()
    extra = spread([c["name"] for c in oracle_cases()], MAX_PER_TARGET - len(files))
    for f in files:
        write(d, f.name, f.read_bytes())
    for name in extra:
        write(d, name + ".in.sip", (FIX / "oracle" / f"{name}.in.sip").read_bytes())


def oracle_byte(c):
    b = 0
    b |= 1 if c["level"] == 2 else 0
    b |= 2 if c["case"] == "term" else 0
    b |= {"im": 1, "cpm": 2}[c["client"]] << 2
    b |= 0x40 if c.get("offline") else 0
    return b


def oracle_seeds():
    d = reset("oracle_check")
    for c in spread(oracle_cases(), MAX_PER_TARGET):
        i = (FIX / "oracle" / f"{c['name']}.in.sip").read_bytes()
        o = (FIX / "oracle" / f"{c['name']}.out.sip").read_bytes()
        write(d, c["name"], bytes([oracle_byte(c)]) + i + SPLIT + o)


def capture_seeds():
    d = reset("capture_read")
    files = sorted(p for p in (FIX / "captures").iterdir() if p.suffix in (".pcap", ".pcapng"))
    files += sorted((ROOT / "captures").glob("*.pcapng"))
    for f in files:
        write(d, f.name, f.read_bytes())
    a = (FIX / "captures" / "merge-a.pcapng").read_bytes()
    b = (FIX / "captures" / "merge-b.pcap").read_bytes()
    write(d, "merge-a+merge-b", a + SPLIT + b)


# tcp_reassembly: records of (flags, i16 offset, u8 ms, u16 length, payload).
TO_CLIENT, SYN, FIN, RST, JUMP, V6 = 0x01, 0x02, 0x04, 0x08, 0x40, 0x80


MAX_SEGMENT = 1460


def rec(flags, off, payload=b"", ms=1, conn=0):
    assert len(payload) <= MAX_SEGMENT, len(payload)
    return struct.pack("<BhBH", flags | (conn << 4), off, ms, len(payload)) + payload


def recs(flags, off, payload, conn=0, size=1000):
    """A payload longer than one segment: the first piece at `off`, the rest following on."""
    parts = segments(payload, size)
    return b"".join(rec(flags, off if i == 0 else 0, p, conn=conn) for i, p in enumerate(parts))


def segments(data, size):
    return [data[i : i + size] for i in range(0, len(data), size)]


def ok_for(req):
    """A 200 OK echoing the request's Via, From, To, Call-ID and CSeq lines."""
    keep = [l for l in req.split(b"\r\n") if l.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID", b"CSeq")]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"


def tcp_seeds():
    d = reset("tcp_reassembly")
    ex = {f.name: f.read_bytes() for f in examples()}
    m1, m2, m3 = ex["1a_pager_cpm_rx.sip"], ex["3b_imdn_im_tx.sip"], ex["5a_session_cpm_rx.sip"]

    def stream(conn, data, size, opts=0, syn=True, fin=True, flags=0):
        out = bytes([opts])
        if syn:
            out += rec(SYN | flags, -1, conn=conn)
        for s in segments(data, size):
            out += rec(flags, 0, s, conn=conn)
        if fin:
            out += rec(FIN | flags, 0, conn=conn)
        return out

    write(d, "in-order", stream(1, m1 + m2, 400))
    write(d, "one-segment", stream(2, m1, 1460, syn=False, fin=False))
    write(d, "wrap", stream(0, m1 + m2 + m3, 300))
    write(d, "by-content-port", stream(3, m3, 500))
    write(d, "ipv6", stream(1, m2 + m1, 700, flags=V6))
    # Second segment first, then the first: a hole that fills.
    s = segments(m1, 300)
    x = bytes([0]) + rec(SYN, -1, conn=1)
    x += rec(0, 300, s[1], conn=1) + rec(0, -600, s[0], conn=1)
    for p in s[2:]:
        x += rec(0, 0, p, conn=1)
    write(d, "reordered", x)
    # Overlap and retransmission.
    s = segments(m2, 200)
    x = bytes([0]) + rec(SYN, -1, conn=2)
    for p in s:
        x += rec(0, 0, p, conn=2) + rec(0, -len(p) - 50, (b"x" * 50) + p, conn=2)
    write(d, "overlap-retransmit", x)
    # A hole that never fills, then the next message: resynchronisation.
    s = segments(m1, 250)
    x = bytes([0]) + rec(SYN, -1, conn=1) + rec(0, 0, s[0], conn=1)
    x += recs(0, len(s[1]), b"".join(s[2:]) + m2, conn=1) + rec(FIN, 0, conn=1)
    write(d, "gap", x)
    # The same, but the hole is skipped on time (4 s later, or 20 ms with the short wait).
    x = bytes([0]) + rec(0, 0, s[0], conn=1) + recs(0, len(s[1]), b"".join(s[2:]) + m2, conn=1)
    x += rec(JUMP, 0, m3[:200], conn=2) + rec(0, 0, m3[200:], conn=2)
    write(d, "gap-timeout", x)
    write(d, "gap-short-wait", bytes([0x10]) + x[1:])
    # Both directions: request and its 200 OK.
    ok = ok_for(m1)
    x = bytes([0]) + rec(SYN, -1, conn=1) + rec(SYN | TO_CLIENT, -1, conn=1)
    x += rec(0, 0, m1[:500], conn=1) + recs(0, 0, m1[500:], conn=1) + rec(TO_CLIENT, 0, ok, conn=1)
    x += rec(FIN, 0, conn=1) + rec(FIN | TO_CLIENT, 0, conn=1)
    write(d, "both-directions", x)
    # Two connections interleaved, one reset in the middle of a message.
    a, b = segments(m1, 350), segments(m3, 350)
    x = bytes([0])
    for i in range(max(len(a), len(b))):
        if i < len(a):
            x += rec(0, 0, a[i], conn=1)
        if i < len(b):
            x += rec(0, 0, b[i], conn=2)
    x += rec(0, 0, m2[:100], conn=2) + rec(RST, 0, conn=2)
    write(d, "interleaved-rst", x)
    # A new connection (SYN) on the same address pair inside a message.
    x = bytes([0]) + rec(SYN, -1, conn=1) + rec(0, 0, m1[:300], conn=1) + rec(SYN, 5000, conn=1)
    x += recs(0, 0, m2, conn=1)
    write(d, "syn-reuse", x)
    # Keep-alives and junk before a message; a header without Content-Length.
    junk = b"\r\n\r\n" + b"hello there\r\n" + m2
    write(d, "keepalive-junk", stream(1, junk, 300))
    no_cl = m2.replace(b"Content-Length:", b"X-Length:")
    write(d, "no-content-length", stream(1, no_cl + m1, 300))
    # Small bounds: per direction, total, directions, message size.
    for opts in (0x01, 0x02, 0x04, 0x08, 0x3F):
        x = bytes([opts])
        for conn in range(4):
            ss = segments(m1 + m3, 600)
            x += rec(0, 600, ss[1], conn=conn) + rec(0, -1200, ss[0], conn=conn)
        write(d, f"bounds-{opts:02x}", x)


# server: a configuration byte, then ops.
def op_recv(data, tcp=True, peer=0):
    return bytes([0 | (4 if tcp else 0) | (peer << 3)]) + struct.pack("<H", len(data)) + data


def op_tick(n, long=False):
    return bytes([1 | (4 if long else 0), n])


def op_deadline():
    return bytes([2])


def op_reply(code_index):
    return bytes([3, code_index])


def third_party_register(user, contact_params, n):
    inner = (
        f"REGISTER sip:im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKue{n}\r\n"
        f"Max-Forwards: 70\r\nFrom: <{user}>;tag=r{n}\r\nTo: <{user}>\r\nCall-ID: reg-{n}@ue\r\n"
        f"CSeq: {n} REGISTER\r\nContact: <sip:ue@192.0.2.10:5060;transport=tcp>{contact_params}\r\n"
        f"Expires: 600\r\nContent-Length: 0\r\n\r\n"
    )
    return (
        f"REGISTER sip:imserver.im.example.net SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bKtp{n}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:scscf.im.example.net>;tag=tp{n}\r\nTo: <{user}>\r\nCall-ID: tpreg-{n}@scscf\r\n"
        f"CSeq: {n} REGISTER\r\nContact: <sip:scscf.im.example.net>\r\nExpires: 600\r\n"
        f"Content-Type: message/sip\r\nContent-Length: {len(inner)}\r\n\r\n{inner}"
    ).encode()


CPM_TAGS = (
    ';+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg,'
    "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg,"
    "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer,"
    'urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session"'
)
IM_TAGS = ";+g.oma.sip-im;+g.oma.sip-im.large-message"


def reframe(msg):
    head, body = msg.split(b"\r\n\r\n", 1)
    lines = [
        b"Content-Length: %d" % len(body) if l.startswith(b"Content-Length:") else l for l in head.split(b"\r\n")
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def server_seeds():
    d = reset("server")
    reg_bob_im = third_party_register("sip:bob@im.example.net", IM_TAGS, 1)
    reg_bob_cpm = third_party_register("sip:bob@im.example.net", CPM_TAGS, 2)
    for f in examples():
        m = f.read_bytes()
        level = 1 if "cpm" in f.name else 0
        # Level 2, bob registered with the tags of the client kind the name suggests, the
        # request answered with 200, then every timer runs out.
        reg = reg_bob_cpm if "cpm_tx" in f.name or "_cpm_ue" in f.name else reg_bob_im
        x = bytes([level | 2]) + op_recv(reg) + op_recv(m, tcp=True) + op_reply(3)
        x += op_deadline() + op_tick(40, long=True) + op_deadline()
        write(d, f.stem, x)
    m = (FIX / "examples" / "1a_pager_cpm_rx.sip").read_bytes()
    carol = reframe(m.replace(b"sip:bob@im.example.net", b"sip:carol@im.example.net"))
    dave = reframe(m.replace(b"sip:bob@im.example.net", b"sip:dave@im.example.net"))
    write(d, "static-carol-udp", bytes([3]) + op_recv(carol, tcp=False) + op_tick(100) + op_reply(0) + op_reply(8))
    write(d, "static-dave", bytes([3]) + op_recv(dave) + op_reply(1) + op_reply(3) + op_deadline())
    write(d, "unknown-user", bytes([1]) + op_recv(m) + op_deadline() + op_deadline())
    write(d, "udp-retransmit", bytes([3]) + op_recv(carol, tcp=False) + op_recv(carol, tcp=False) + op_deadline() * 4)
    write(d, "from-unknown-peer", bytes([3]) + op_recv(carol, peer=2) + op_reply(5))
    inv = (FIX / "examples" / "5a_session_cpm_rx.sip").read_bytes()
    inv = reframe(inv.replace(b"sip:bob@im.example.net", b"sip:carol@im.example.net"))
    write(d, "invite-timeout", bytes([3]) + op_recv(inv) + op_reply(1) + op_tick(200, long=True) + op_deadline() * 3)
    write(d, "invite-reject", bytes([3]) + op_recv(inv, tcp=False) + op_reply(9) + op_deadline() * 2)
    write(d, "register-only", bytes([0]) + op_recv(reg_bob_im) + op_recv(reg_bob_cpm) + op_tick(255, long=True))


def main():
    sip_seeds("sip_parse")
    sip_seeds("rewrite")
    oracle_seeds()
    capture_seeds()
    tcp_seeds()
    server_seeds()
    for d in sorted(OUT.iterdir()):
        n = len(list(d.iterdir()))
        assert n <= MAX_PER_TARGET + 1, (d, n)
        print(f"{d.name}: {n} seeds")


if __name__ == "__main__":
    main()
