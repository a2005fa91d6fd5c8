//! The pcapng writer, read back with pcap-parser's own reader: one packet per observation (TCP
//! split only past 65000 bytes), each node at its own address, payload bytes exact, checksums
//! right, TCP sequence numbers running per direction, timestamps in microseconds.

use etherparse::{NetHeaders, NetSlice, PacketHeaders, SlicedPacket, TransportHeader, TransportSlice};
use imcpm::base::{Instant, Packet as WirePacket, Trace, Transport};
use imcpm::capture::{PcapngOptions, write_pcapng, write_pcapng_with};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError, PcapNGReader};
use std::net::{IpAddr, SocketAddr};

/// One packet as read back.
#[derive(Debug)]
struct Packet {
    ts_us: u64,
    from: SocketAddr,
    to: SocketAddr,
    tcp: Option<(u32, u32)>,
    payload: Vec<u8>,
    comment: String,
}

fn sip(method: &str, n: usize) -> Vec<u8> {
    format!("{method} sip:bob@im.example SIP/2.0\r\nCall-ID: c{n}\r\nCSeq: {n} {method}\r\nContent-Length: 0\r\n\r\n")
        .into_bytes()
}

fn trace() -> Trace {
    let alice: SocketAddr = "10.0.0.1:5060".parse().unwrap();
    let core: SocketAddr = "10.0.0.2:5060".parse().unwrap();
    let ims: SocketAddr = "10.0.0.3:5070".parse().unwrap();
    let core6: SocketAddr = "[2001:db8::2]:5060".parse().unwrap();
    let bob6: SocketAddr = "[2001:db8::4]:5062".parse().unwrap();
    let mut t = Trace::default();
    push(&mut t, Instant(1_000), alice, core, Transport::Udp, sip("MESSAGE", 1));
    push(&mut t, Instant(2_500), core, ims, Transport::Tcp, sip("MESSAGE", 2));
    push(&mut t, Instant(3_000), ims, core, Transport::Tcp, sip("MESSAGE", 3));
    push(&mut t, Instant(4_000), core, ims, Transport::Tcp, b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec());
    push(&mut t, Instant(5_000_000_123), core6, bob6, Transport::Udp, sip("MESSAGE", 5));
    t
}

fn checksums_ok(data: &[u8], payload: &[u8]) -> bool {
    let h = PacketHeaders::from_ip_slice(data).unwrap();
    match (h.net.unwrap(), h.transport.unwrap()) {
        (NetHeaders::Ipv4(ip, _), TransportHeader::Udp(u)) => {
            ip.header_checksum == ip.calc_header_checksum() && u.checksum == u.calc_checksum_ipv4(&ip, payload).unwrap()
        }
        (NetHeaders::Ipv4(ip, _), TransportHeader::Tcp(t)) => {
            ip.header_checksum == ip.calc_header_checksum() && t.checksum == t.calc_checksum_ipv4(&ip, payload).unwrap()
        }
        (NetHeaders::Ipv6(ip, _), TransportHeader::Udp(u)) => u.checksum == u.calc_checksum_ipv6(&ip, payload).unwrap(),
        (NetHeaders::Ipv6(ip, _), TransportHeader::Tcp(t)) => t.checksum == t.calc_checksum_ipv6(&ip, payload).unwrap(),
        other => panic!("unexpected headers {other:?}"),
    }
}

fn read_back(bytes: &[u8]) -> Vec<Packet> {
    let mut reader = PcapNGReader::new(65536, bytes).unwrap();
    let mut out = Vec::new();
    let mut resol = None;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        assert_eq!(idb.linktype, Linktype::RAW);
                        resol = idb.ts_resolution();
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        assert_eq!(resol, Some(1_000_000), "microsecond timestamps");
                        let data = &epb.data[..epb.caplen as usize];
                        assert_eq!(epb.caplen, epb.origlen);
                        let s = SlicedPacket::from_ip(data).unwrap();
                        let (src, dst): (IpAddr, IpAddr) = match s.net.unwrap() {
                            NetSlice::Ipv4(v) => {
                                (v.header().source_addr().into(), v.header().destination_addr().into())
                            }
                            NetSlice::Ipv6(v) => {
                                (v.header().source_addr().into(), v.header().destination_addr().into())
                            }
                            NetSlice::Arp(_) => panic!("arp"),
                        };
                        let (sp, dp, tcp, payload) = match s.transport.unwrap() {
                            TransportSlice::Udp(u) => (u.source_port(), u.destination_port(), None, u.payload()),
                            TransportSlice::Tcp(t) => {
                                assert!(t.psh() && t.ack() && !t.syn());
                                (
                                    t.source_port(),
                                    t.destination_port(),
                                    Some((t.sequence_number(), t.acknowledgment_number())),
                                    t.payload(),
                                )
                            }
                            other => panic!("unexpected transport {other:?}"),
                        };
                        assert!(checksums_ok(data, payload), "checksums of packet {}", out.len());
                        let comment = epb
                            .options
                            .iter()
                            .find(|o| o.code == pcap_parser::OptionCode::Comment)
                            .map(|o| String::from_utf8_lossy(&o.value[..o.len as usize]).into_owned())
                            .unwrap_or_default();
                        out.push(Packet {
                            ts_us: (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low),
                            from: SocketAddr::new(src, sp),
                            to: SocketAddr::new(dst, dp),
                            tcp,
                            payload: payload.to_vec(),
                            comment,
                        });
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("read error {e:?}"),
        }
    }
    out
}

#[test]
fn pcapng_round_trip() {
    let t = trace();
    let mut file = Vec::new();
    write_pcapng(&t, &mut file).unwrap();
    let packets = read_back(&file);
    assert_eq!(packets.len(), t.events.len());
    for (i, (p, o)) in packets.iter().zip(&t.events).enumerate() {
        assert_eq!(p.from, o.packet.from, "packet {i} source");
        assert_eq!(p.to, o.packet.to, "packet {i} destination");
        assert_eq!(p.payload, o.packet.bytes, "packet {i} payload");
        assert_eq!(p.ts_us, o.time.0, "packet {i} time");
        assert_eq!(p.tcp.is_some(), o.packet.transport == Transport::Tcp);
        assert_eq!(p.comment, format!("message #{}", i + 1));
    }
    // core -> ims: seq 1, then 1 + len; ims -> core acknowledges what core sent.
    let len1 = t.events[1].packet.bytes.len() as u32;
    let len2 = t.events[2].packet.bytes.len() as u32;
    assert_eq!(packets[1].tcp, Some((1, 1)));
    assert_eq!(packets[2].tcp, Some((1, 1 + len1)));
    assert_eq!(packets[3].tcp, Some((1 + len1, 1 + len2)));
}

#[test]
fn pcapng_time_base_and_large_tcp_messages() {
    let mut t = trace();
    let a: SocketAddr = "10.0.0.9:5060".parse().unwrap();
    let b: SocketAddr = "10.0.0.3:5070".parse().unwrap();
    let big: Vec<u8> = (0..150_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    push(&mut t, Instant(6_000_000_000), a, b, Transport::Tcp, big.clone());
    let opts = PcapngOptions { time_base_us: 1_700_000_000_000_000, comment: Some("t1/pager [L1]".into()) };
    let mut file = Vec::new();
    write_pcapng_with(&t, &opts, &mut file).unwrap();
    let packets = read_back(&file);
    assert_eq!(packets.len(), t.events.len() + 2, "150000 bytes in three segments");
    assert_eq!(packets[0].ts_us, 1_700_000_000_000_000 + 1_000);
    let tail = &packets[t.events.len() - 1..];
    let joined: Vec<u8> = tail.iter().flat_map(|p| p.payload.clone()).collect();
    assert_eq!(joined, big);
    assert_eq!(tail[1].tcp.unwrap().0, 1 + tail[0].payload.len() as u32);
    assert!(tail.iter().all(|p| p.comment == format!("message #{}", t.events.len())));
}

#[test]
fn oversized_udp_is_an_error_not_a_bad_file() {
    let mut t = Trace::default();
    let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
    push(&mut t, Instant(0), a, a, Transport::Udp, vec![b'x'; 70_000]);
    let e = write_pcapng(&t, &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn mixed_families_are_written_as_ipv6_with_the_ipv4_side_mapped() {
    let mut t = Trace::default();
    let v4: SocketAddr = "10.0.0.2:5060".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::4]:5062".parse().unwrap();
    push(&mut t, Instant(0), v4, v6, Transport::Tcp, sip("MESSAGE", 1));
    let mut file = Vec::new();
    write_pcapng(&t, &mut file).unwrap();
    let p = read_back(&file);
    assert_eq!(p[0].from, "[::ffff:10.0.0.2]:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(p[0].to, v6);
}

fn push(t: &mut Trace, time: Instant, from: SocketAddr, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
    t.push(time, WirePacket::new(transport, from, to, bytes));
}

/// Two runs written as two sections (`imcpm run --pcap`), and an empty run between them: three
/// section headers with their comments, read back by our reader with each section's first frame,
/// frame count and comment; the runs laid out one after the other in time; the TCP stream of
/// the first run going on in the third.
#[test]
fn runs_are_written_as_sections_and_read_back_one_by_one() {
    use imcpm::capture::{ReadOptions, Section, read_streams, write_runs_pcapng};
    let first = trace();
    let empty = Trace::default();
    let mut second = Trace::default();
    let core: SocketAddr = "10.0.0.2:5060".parse().unwrap();
    let ims: SocketAddr = "10.0.0.3:5070".parse().unwrap();
    push(&mut second, Instant(0), core, ims, Transport::Tcp, sip("MESSAGE", 7));
    push(&mut second, Instant(10), ims, core, Transport::Udp, sip("MESSAGE", 8));
    let runs = [("t1/pager L1".to_string(), &first), ("t1/none L1".into(), &empty), ("t1/pager L2".into(), &second)];
    let file = write_runs_pcapng(&runs, Vec::new()).unwrap();

    // The blocks as written: a section header with its comment and an interface per run.
    let mut reader = PcapNGReader::new(65536, &file[..]).unwrap();
    let mut blocks = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        let c = shb.options.iter().find(|o| o.code == pcap_parser::OptionCode::Comment).unwrap();
                        blocks.push(format!("SHB {}", String::from_utf8_lossy(&c.value[..c.len as usize])));
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(_)) => blocks.push("IDB".into()),
                    PcapBlockOwned::NG(Block::EnhancedPacket(_)) => blocks.push("EPB".into()),
                    _ => panic!("unexpected block"),
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("read error {e:?}"),
        }
    }
    let mut want = vec!["SHB imcpm run: t1/pager L1".to_string(), "IDB".into()];
    want.extend(std::iter::repeat_n("EPB".to_string(), 5));
    want.extend(["SHB imcpm run: t1/none L1".into(), "IDB".into(), "SHB imcpm run: t1/pager L2".into(), "IDB".into()]);
    want.extend(["EPB".into(), "EPB".into()]);
    assert_eq!(blocks, want);

    // Our reader: every message, and where each section starts.
    let mut got = Vec::new();
    let input: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(file.clone()));
    let (stats, err) = read_streams(vec![("runs.pcapng".into(), input)], &ReadOptions::default(), |m| got.push(m));
    assert!(err.is_none(), "{err:?}");
    let section =
        |first_frame, frames, comment: &str| Section { file: 0, first_frame, frames, comment: comment.into() };
    assert_eq!(
        stats.sections,
        [
            section(1, 5, "imcpm run: t1/pager L1"),
            section(6, 0, "imcpm run: t1/none L1"),
            section(6, 2, "imcpm run: t1/pager L2")
        ]
    );
    assert_eq!(stats.frames_per_file, [7]);
    assert_eq!(got.len(), 7, "every message of both runs");
    let comment_of = |m: &imcpm::capture::SipMessage| stats.section_of(m.file, m.frame).map(|s| s.comment.as_str());
    let per_run: Vec<Option<&str>> = got.iter().map(comment_of).collect();
    assert_eq!(per_run[..5], [Some("imcpm run: t1/pager L1"); 5]);
    assert_eq!(per_run[5..], [Some("imcpm run: t1/pager L2"); 2]);
    assert_eq!(got[5].packet.bytes, second.events[0].packet.bytes);
    assert_eq!(stats.section_of(0, 8), None);

    // The second run starts a second after the first one's last packet; times keep increasing.
    let packets = read_back(&file);
    let last_first = first.events.last().unwrap().time.0;
    assert_eq!(packets[5].ts_us, last_first + 1_000_000 + 1_000_000);
    assert!(packets.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
    // Each section's packet comments count from 1; core -> ims over TCP goes on where the first
    // run left it.
    assert_eq!(packets[5].comment, "message #1");
    let sent: u32 = first.events[1..4]
        .iter()
        .filter(|o| o.packet.from == core && o.packet.transport == Transport::Tcp)
        .map(|o| o.packet.bytes.len() as u32)
        .sum();
    assert_eq!(packets[5].tcp.map(|t| t.0), Some(1 + sent));
}
