#!/usr/bin/env python3
"""Helper of scripts/make-capture-fixtures.sh (standard library only).

It never writes a capture file format itself except `byteswap`: it sends SIP traffic over
loopback sockets for dumpcap to capture (`traffic`), writes hexdumps for text2pcap (`sip`,
`hex`, `wrap`), and turns a little-endian pcap into the same file in big-endian byte order
(`byteswap`, checked by the shell script against tshark's reading of both).
"""
import socket
import struct
import sys
import time


def sip(kind, n, body=b"hi", via="UDP"):
    """A SIP MESSAGE request (kind 'req') or its 200 OK (kind 'ok'), number n."""
    if kind == "req":
        start = b"MESSAGE sip:bob@example.com SIP/2.0"
        head = b"Content-Type: text/plain\r\n"
    else:
        start = b"SIP/2.0 200 OK"
        head = b""
        body = b""
    return (
        start
        + b"\r\nVia: SIP/2.0/" + via.encode() + b" client.example.com;branch=z9hG4bK-" + str(n).encode()
        + b"\r\nFrom: <sip:alice@example.com>;tag=a" + str(n).encode()
        + b"\r\nTo: <sip:bob@example.com>" + (b";tag=b" if kind == "ok" else b"")
        + b"\r\nCall-ID: " + str(n).encode() + b"@fixture"
        + b"\r\nCSeq: 1 MESSAGE\r\n" + head
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def hexdump(packets):
    """text2pcap input: each packet a time line then offset-prefixed hex lines."""
    out = []
    for when, data in packets:
        if when is not None:
            out.append(when)
        for i in range(0, len(data), 16):
            out.append("%06x %s" % (i, " ".join("%02x" % b for b in data[i:i + 16])))
    return "\n".join(out) + "\n"


def read_pcap(path):
    """(ts_sec, ts_frac, bytes) of each record of a little-endian pcap."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), "little-endian pcap expected"
    pos, out = 24, []
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from("<IIII", data, pos)
        out.append((sec, frac, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return out


def stamp(sec, frac):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec)) + ".%06d" % frac


def wrap(path, mode):
    """Hexdump of a pcap's records with a link header added (the records are IP or Ethernet)."""
    pkts = []
    for sec, frac, data in read_pcap(path):
        v6 = data and data[0] >> 4 == 6
        if mode == "null":  # BSD loopback, little-endian host; AF_INET6 as on FreeBSD (28)
            head = struct.pack("<I", 28 if v6 else 2)
        elif mode == "null-be":  # the same written by a big-endian host (AF_INET6 of NetBSD, 24)
            head = struct.pack(">I", 24 if v6 else 2)
        elif mode == "loop":  # OpenBSD LOOP: network byte order (AF_INET6 of OpenBSD, 24)
            head = struct.pack(">I", 24 if v6 else 2)
        elif mode == "vlan":  # insert an 802.1Q tag (VLAN 100) after the MAC addresses
            head, data = data[:12] + b"\x81\x00\x00\x64", data[12:]
        elif mode == "qinq":  # 802.1ad S-tag 200 then 802.1Q C-tag 100
            head, data = data[:12] + b"\x88\xa8\x00\xc8\x81\x00\x00\x64", data[12:]
        else:
            raise SystemExit("unknown wrap mode " + mode)
        pkts.append((stamp(sec, frac), head + data))
    return hexdump(pkts)


def byteswap(src, dst):
    """The same pcap in big-endian byte order."""
    with open(src, "rb") as f:
        data = f.read()
    magic, vmaj, vmin, zone, sig, snap, link = struct.unpack_from("<IHHiIII", data, 0)
    out = [struct.pack(">IHHiIII", magic, vmaj, vmin, zone, sig, snap, link)]
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, pos)
        out.append(struct.pack(">IIII", sec, frac, incl, orig) + data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    with open(dst, "wb") as f:
        f.write(b"".join(out))


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed early")
        buf += chunk
    return buf


def traffic():
    """SIP over UDP and TCP, IPv4 and IPv6, on loopback (run inside a fresh network namespace
    whose lo has MTU 1280, so that the large datagrams fragment)."""
    socket.setdefaulttimeout(5)
    big = b"x" * 2000
    # UDP, IPv4 and IPv6: a MESSAGE and its 200 OK each; then two that fragment.
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        srv = socket.socket(fam, socket.SOCK_DGRAM)
        srv.bind((host, 5060))
        cli = socket.socket(fam, socket.SOCK_DGRAM)
        cli.bind((host, 0))
        for n, body in ((1 if fam == socket.AF_INET else 2, b"hi"), (3 if fam == socket.AF_INET else 4, big)):
            cli.sendto(sip("req", n, body), (host, 5060))
            _, peer = srv.recvfrom(65535)
            srv.sendto(sip("ok", n), peer)
            cli.recvfrom(65535)
            time.sleep(0.01)
        srv.close()
        cli.close()
    # UDP on a port that is not a SIP port: SIP by its content.
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 15060))
    cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cli.sendto(sip("req", 5), ("127.0.0.1", 15060))
    other.recvfrom(65535)
    time.sleep(0.01)
    # TCP: two requests in one segment, their responses in one segment; a request in three
    # segments; then one more request; then both sides close.
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 5060))
    lst.listen(1)
    cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cli.connect(("127.0.0.1", 5060))
    srv, _ = lst.accept()
    srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    two = sip("req", 6, via="TCP") + sip("req", 7, via="TCP")
    cli.sendall(two)
    recv_exactly(srv, len(two))
    oks = sip("ok", 6, via="TCP") + sip("ok", 7, via="TCP")
    srv.sendall(oks)
    recv_exactly(cli, len(oks))
    time.sleep(0.02)
    three = sip("req", 8, body=b"y" * 1500, via="TCP")
    cut = [0, 500, 1100, len(three)]
    for i in range(3):
        cli.sendall(three[cut[i]:cut[i + 1]])
        time.sleep(0.02)
    recv_exactly(srv, len(three))
    srv.sendall(sip("ok", 8, via="TCP"))
    recv_exactly(cli, len(sip("ok", 8, via="TCP")))
    time.sleep(0.02)
    last = sip("req", 9, via="TCP")
    cli.sendall(last)
    recv_exactly(srv, len(last))
    srv.sendall(sip("ok", 9, via="TCP"))
    recv_exactly(cli, len(sip("ok", 9, via="TCP")))
    time.sleep(0.02)
    cli.close()
    srv.close()
    lst.close()
    time.sleep(0.2)


def main(argv):
    cmd = argv[1]
    if cmd == "traffic":
        traffic()
    elif cmd == "sip":
        # sip KIND N [BODYLEN]: the raw message on stdout as a one-packet hexdump (no time).
        body = b"z" * int(argv[4]) if len(argv) > 4 else b"hi"
        sys.stdout.write(hexdump([(None, sip(argv[2], int(argv[3]), body))]))
    elif cmd == "hex":
        # hex WHEN HEXBYTES: one packet with a time line.
        sys.stdout.write(hexdump([(argv[2], bytes.fromhex(argv[3]))]))
    elif cmd == "text":
        # text WHEN STRING: one packet of these bytes (\r\n escapes understood).
        sys.stdout.write(hexdump([(argv[2], argv[3].encode().decode("unicode_escape").encode("latin-1"))]))
    elif cmd == "timed-sip":
        # timed-sip WHEN KIND N: one SIP message with a time line.
        sys.stdout.write(hexdump([(argv[2], sip(argv[3], int(argv[4])))]))
    elif cmd == "wrap":
        sys.stdout.write(wrap(argv[2], argv[3]))
    elif cmd == "byteswap":
        byteswap(argv[2], argv[3])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
