//! A pcapng writer for traces, so that a run opens in Wireshark or sngrep (`imcpm run --pcap`).
//!
//! One section per trace ([`PcapngWriter`] writes several, e.g. one per run), one interface per
//! section of link type RAW (101: each packet starts with its IPv4 or IPv6 header, so both
//! families share the interface), microsecond timestamps. Each observation is
//! one packet between its own `from` and `to` addresses (every simulated node has its own):
//! UDP as one datagram; TCP as PSH/ACK segments of a SYN-less stream per direction whose
//! sequence numbers advance by the payload length and whose ACKs follow the other direction,
//! so Wireshark's reassembly and SIP-over-TCP framing work. Checksums are computed
//! (etherparse). Each packet carries the comment `message #N`, N being the message's number
//! (from 1) that the findings' `location.message` and the report's ladders name.

use crate::base::Transport;
use crate::base::{Trace, Traced};
use etherparse::{PacketBuilder, TcpHeader};
use pcap_parser::pcapng::{EnhancedPacketBlock, InterfaceDescriptionBlock, SectionHeaderBlock};
use pcap_parser::{Linktype, OptionCode, PcapNGOption, ToVec};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Largest TCP payload put in one segment (fits an IPv4 packet's 16-bit total length).
pub const MAX_SEGMENT: usize = 65_000;
/// Largest UDP payload an IPv4 datagram can carry (65535 - 20 - 8).
pub const MAX_UDP_V4: usize = 65_507;
/// Largest UDP payload an IPv6 datagram without jumbo option can carry (65535 - 8).
pub const MAX_UDP_V6: usize = 65_527;
/// TCP window advertised in every segment.
const WINDOW: u16 = 65_535;
/// Initial sequence number of every direction (Wireshark shows relative numbers anyway).
const ISN: u32 = 1;

/// Options of [`write_pcapng_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcapngOptions {
    /// Added to every `Traced::time` (microseconds): the wall-clock start of the run in
    /// microseconds since the Unix epoch, so that Wireshark shows real dates. 0 keeps the
    /// trace's own clock (a simulated run then starts at 1970-01-01).
    pub time_base_us: u64,
    /// A comment for the section header (e.g. the scenario or the command line).
    pub comment: Option<String>,
}

/// Write `trace` as pcapng to `w`, timestamps as in the trace.
pub fn write_pcapng(trace: &Trace, w: &mut impl Write) -> io::Result<()> {
    write_pcapng_with(trace, &PcapngOptions::default(), w)
}

fn gen_err(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("pcapng serialisation: {e:?}"))
}

fn option<'a>(code: OptionCode, value: &'a [u8]) -> PcapNGOption<'a> {
    // Option values are at most a comment or a name; the u16 length cannot overflow in practice,
    // and a longer value is cut rather than written with a wrong length.
    let value = &value[..value.len().min(usize::from(u16::MAX))];
    PcapNGOption { code, len: value.len() as u16, value: Cow::Borrowed(value) }
}

/// Write `trace` as pcapng to `w`, with `opts`: one section.
pub fn write_pcapng_with(trace: &Trace, opts: &PcapngOptions, w: &mut impl Write) -> io::Result<()> {
    let mut out = PcapngWriter::new(w, opts.time_base_us);
    out.section(opts.comment.as_deref(), trace, 0)?;
    out.finish()?;
    Ok(())
}

/// A pcapng file written section by section (draft-ietf-opsawg-pcapng §4.1: each Section Header
/// Block starts a section with its own interfaces), e.g. one section per run of a suite.
///
/// Every section has its own header (`shb_userappl` `imcpm VERSION`, the section's comment as
/// `opt_comment`) and its own interface 0 (RAW, microseconds). The TCP sequence numbers go on
/// from one section to the next: tools that read a multi-section file as one capture
/// (Wireshark, the reader of this crate) follow a stream across sections, and a stream that
/// started again at 1 would look like a retransmission there.
pub struct PcapngWriter<W: Write> {
    w: W,
    time_base_us: u64,
    tcp: TcpState,
}

impl<W: Write> PcapngWriter<W> {
    /// A writer to `w`; every timestamp is `time_base_us` plus the section's offset plus the
    /// trace's time (see [`PcapngOptions::time_base_us`]).
    pub fn new(w: W, time_base_us: u64) -> PcapngWriter<W> {
        PcapngWriter { w, time_base_us, tcp: TcpState::default() }
    }

    /// Write one section: its header with `comment`, its interface and `trace`, each packet at
    /// `time_base_us + offset_us + time`. Packet comments `message #N` count from 1 in every
    /// section.
    pub fn section(&mut self, comment: Option<&str>, trace: &Trace, offset_us: u64) -> io::Result<()> {
        let appl = format!("imcpm {}", env!("CARGO_PKG_VERSION"));
        let mut shb_opts = vec![option(OptionCode::ShbUserAppl, appl.as_bytes())];
        if let Some(c) = comment {
            shb_opts.push(option(OptionCode::Comment, c.as_bytes()));
        }
        let mut shb = SectionHeaderBlock {
            block_type: 0,
            block_len1: 0,
            bom: 0,
            major_version: 1,
            minor_version: 0,
            section_len: -1,
            options: shb_opts,
            block_len2: 0,
        };
        self.w.write_all(&shb.to_vec().map_err(gen_err)?)?;
        let mut idb = InterfaceDescriptionBlock {
            block_type: 0,
            block_len1: 0,
            linktype: Linktype::RAW,
            reserved: 0,
            snaplen: 0,
            options: vec![option(OptionCode::IfName, b"imcpm")],
            block_len2: 0,
            if_tsresol: 6,
            if_tsoffset: 0,
        };
        self.w.write_all(&idb.to_vec().map_err(gen_err)?)?;

        let base = self.time_base_us.saturating_add(offset_us);
        for (i, obs) in trace.events.iter().enumerate() {
            let ts = base.saturating_add(obs.time.0);
            let comment = format!("message #{}", i + 1);
            for packet in packets(obs, &mut self.tcp)? {
                let mut epb = EnhancedPacketBlock {
                    block_type: 0,
                    block_len1: 0,
                    if_id: 0,
                    ts_high: (ts >> 32) as u32,
                    ts_low: ts as u32,
                    caplen: packet.len() as u32,
                    origlen: packet.len() as u32,
                    data: &packet,
                    options: vec![option(OptionCode::Comment, comment.as_bytes())],
                    block_len2: 0,
                };
                self.w.write_all(&epb.to_vec().map_err(gen_err)?)?;
            }
        }
        Ok(())
    }

    /// Flush and hand back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Next sequence number of each TCP direction (from, to).
#[derive(Debug, Default)]
struct TcpState {
    next: HashMap<(SocketAddr, SocketAddr), u32>,
}

impl TcpState {
    /// Sequence number for `len` bytes from `from` to `to`, and the ACK (the other direction's
    /// next sequence number).
    fn segment(&mut self, from: SocketAddr, to: SocketAddr, len: usize) -> (u32, u32) {
        let ack = *self.next.get(&(to, from)).unwrap_or(&ISN);
        let seq = self.next.entry((from, to)).or_insert(ISN);
        let this = *seq;
        *seq = seq.wrapping_add(len as u32);
        (this, ack)
    }
}

/// Source and destination of one packet, both of one family.
enum Ips {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// The pair's addresses; a mixed pair is written as IPv6 with the IPv4 side mapped.
fn ips(from: IpAddr, to: IpAddr) -> Ips {
    let as_v4 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    match (from, to, as_v4(from), as_v4(to)) {
        (IpAddr::V4(_), _, Some(a), Some(b)) | (_, IpAddr::V4(_), Some(a), Some(b)) => Ips::V4(a.octets(), b.octets()),
        _ => Ips::V6(v6(from).octets(), v6(to).octets()),
    }
}

fn builder(from: SocketAddr, to: SocketAddr) -> (etherparse::PacketBuilderStep<etherparse::IpHeaders>, bool) {
    match ips(from.ip(), to.ip()) {
        Ips::V4(a, b) => (PacketBuilder::ipv4(a, b, 64), true),
        Ips::V6(a, b) => (PacketBuilder::ipv6(a, b, 64), false),
    }
}

fn build_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("building a packet: {e}"))
}

/// The raw IP packets of one observation.
fn packets(obs: &Traced, tcp: &mut TcpState) -> io::Result<Vec<Vec<u8>>> {
    let (from, to) = (obs.packet.from, obs.packet.to);
    match obs.packet.transport {
        Transport::Udp => {
            let (b, is_v4) = builder(from, to);
            let max = if is_v4 { MAX_UDP_V4 } else { MAX_UDP_V6 };
            if obs.packet.bytes.len() > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a {}-byte UDP message does not fit one datagram", obs.packet.bytes.len()),
                ));
            }
            let b = b.udp(from.port(), to.port());
            let mut out = Vec::with_capacity(b.size(obs.packet.bytes.len()));
            b.write(&mut out, &obs.packet.bytes).map_err(build_err)?;
            Ok(vec![out])
        }
        Transport::Tcp => {
            // An empty message still gets one (empty) segment so that the trace index keeps
            // its packet.
            let chunks: Vec<&[u8]> = if obs.packet.bytes.is_empty() {
                vec![&[][..]]
            } else {
                obs.packet.bytes.chunks(MAX_SEGMENT).collect()
            };
            chunks
                .into_iter()
                .map(|chunk| {
                    let (seq, ack) = tcp.segment(from, to, chunk.len());
                    let mut h = TcpHeader::new(from.port(), to.port(), seq, WINDOW);
                    h.psh = true;
                    h.ack = true;
                    h.acknowledgment_number = ack;
                    let b = builder(from, to).0.tcp_header(h);
                    let mut out = Vec::with_capacity(b.size(chunk.len()));
                    b.write(&mut out, chunk).map_err(build_err)?;
                    Ok(out)
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV6};

    #[test]
    fn tcp_sequence_numbers_advance_per_direction() {
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:5060".parse().unwrap();
        let mut t = TcpState::default();
        assert_eq!(t.segment(a, b, 100), (ISN, ISN));
        assert_eq!(t.segment(a, b, 50), (ISN + 100, ISN));
        assert_eq!(t.segment(b, a, 10), (ISN, ISN + 150));
        assert_eq!(t.segment(a, b, 1), (ISN + 150, ISN + 10));
    }

    #[test]
    fn mixed_families_become_ipv6_unless_mapped() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 2).to_ipv6_mapped());
        assert!(matches!(ips(v4, mapped), Ips::V4(_, [192, 0, 2, 2])));
        let six: SocketAddrV6 = "[2001:db8::1]:5060".parse().unwrap();
        assert!(matches!(ips(v4, IpAddr::V6(*six.ip())), Ips::V6(_, _)));
    }
}
