//! Link layers down to IP: from a frame of a given pcap link type to etherparse's
//! [`SlicedPacket`] (IP header, extension headers, transport).
//!
//! Link types (the tcpdump.org LINKTYPE_ registry): Ethernet (1, with IEEE 802.1Q and 802.1ad
//! VLAN tags, handled by etherparse), Linux cooked capture SLL (113: 16-byte header, protocol at
//! offset 14) and SLL2 (276: 20-byte header, protocol at offset 0, then reserved u16, interface
//! index u32, ARPHRD type u16, packet type u8, address length u8, 8 address bytes), raw IP (101,
//! 228 IPv4, 229 IPv6), BSD loopback NULL (0: a 4-byte address family in the capturing host's
//! byte order) and OpenBSD LOOP (108: the same in network byte order).

use super::read::NotJudged;
use etherparse::{EtherType, SlicedPacket};

/// `LINKTYPE_NULL`.
pub(crate) const NULL: i32 = 0;
/// `LINKTYPE_ETHERNET`.
pub(crate) const ETHERNET: i32 = 1;
/// `LINKTYPE_RAW`.
pub(crate) const RAW: i32 = 101;
/// `LINKTYPE_LOOP`.
pub(crate) const LOOP: i32 = 108;
/// `LINKTYPE_LINUX_SLL`.
pub(crate) const LINUX_SLL: i32 = 113;
/// `LINKTYPE_IPV4`.
pub(crate) const IPV4: i32 = 228;
/// `LINKTYPE_IPV6`.
pub(crate) const IPV6: i32 = 229;
/// `LINKTYPE_LINUX_SLL2`.
pub(crate) const LINUX_SLL2: i32 = 276;

const SLL_LEN: usize = 16;
const SLL2_LEN: usize = 20;

/// BSD `AF_INET`, and the values `AF_INET6` has on the BSDs, macOS, Linux and Windows.
const AF_INET: u32 = 2;
const AF_INET6: [u32; 5] = [10, 23, 24, 28, 30];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The network layer of a loopback frame from its 4-byte address family.
fn family(family: u32) -> Option<EtherType> {
    if family == AF_INET {
        Some(EtherType::IPV4)
    } else if AF_INET6.contains(&family) {
        Some(EtherType::IPV6)
    } else {
        None
    }
}

/// The IP version nibble of `data`, as an ether type.
fn by_version(data: &[u8]) -> Option<EtherType> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Some(EtherType::IPV4),
        Some(6) => Some(EtherType::IPV6),
        _ => None,
    }
}

/// The ether type and payload of a link header etherparse does not slice itself.
fn unwrap_link(linktype: i32, data: &[u8]) -> Result<(EtherType, &[u8]), NotJudged> {
    let short = NotJudged::Undecodable;
    match linktype {
        ETHERNET => {
            let t = be16(data, 12).ok_or(short)?;
            Ok((EtherType(t), data.get(14..).ok_or(short)?))
        }
        LINUX_SLL => {
            let t = be16(data, 14).ok_or(short)?;
            Ok((EtherType(t), data.get(SLL_LEN..).ok_or(short)?))
        }
        LINUX_SLL2 => {
            let t = be16(data, 0).ok_or(short)?;
            Ok((EtherType(t), data.get(SLL2_LEN..).ok_or(short)?))
        }
        NULL | LOOP => {
            let raw: [u8; 4] = data.get(..4).and_then(|b| b.try_into().ok()).ok_or(short)?;
            let rest = &data[4..];
            let fam = if linktype == LOOP {
                u32::from_be_bytes(raw)
            } else if raw[0] == 0 && raw[1] == 0 {
                // Written by a big-endian host (the family is small either way).
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw)
            };
            let t = family(fam).or_else(|| by_version(rest)).ok_or(NotJudged::NotIp)?;
            Ok((t, rest))
        }
        RAW | IPV4 | IPV6 => Ok((by_version(data).ok_or(NotJudged::Undecodable)?, data)),
        other => Err(NotJudged::UnknownLinkType(other)),
    }
}

/// Slice a frame of `linktype` down to its IP packet (VLAN tags included). Frames that carry no
/// IP packet, or whose headers do not decode, say why.
pub(crate) fn slice(linktype: i32, data: &[u8]) -> Result<SlicedPacket<'_>, NotJudged> {
    let (ether_type, payload) = unwrap_link(linktype, data)?;
    let ip_like = matches!(
        ether_type,
        EtherType::IPV4
            | EtherType::IPV6
            | EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME
    );
    if !ip_like {
        return Err(NotJudged::NotIp);
    }
    let sliced = SlicedPacket::from_ether_type(ether_type, payload).map_err(|_| NotJudged::Undecodable)?;
    if sliced.net.as_ref().is_none_or(|n| !n.is_ip()) {
        return Err(NotJudged::NotIp);
    }
    Ok(sliced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn ipv4_udp() -> Vec<u8> {
        let b = PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64).udp(5060, 5060);
        let mut v = Vec::new();
        b.write(&mut v, b"x").unwrap();
        v
    }

    #[test]
    fn every_link_header_reaches_ip() {
        let ip = ipv4_udp();
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]);
        eth.extend_from_slice(&ip);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        let mut null_le = vec![2, 0, 0, 0];
        null_le.extend_from_slice(&ip);
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(&ip);
        for (lt, frame) in [
            (ETHERNET, &eth),
            (LINUX_SLL, &sll),
            (LINUX_SLL2, &sll2),
            (NULL, &null_le),
            (NULL, &null_be),
            (LOOP, &null_be),
            (RAW, &ip),
            (IPV4, &ip),
        ] {
            let s = slice(lt, frame).unwrap_or_else(|e| panic!("link type {lt}: {e:?}"));
            assert!(s.net.is_some(), "link type {lt}");
        }
        assert_eq!(slice(147, &ip).unwrap_err(), NotJudged::UnknownLinkType(147));
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        assert_eq!(slice(ETHERNET, &arp).unwrap_err(), NotJudged::NotIp);
        assert_eq!(slice(LINUX_SLL2, &[0x08]).unwrap_err(), NotJudged::Undecodable);
        assert_eq!(slice(NULL, &[]).unwrap_err(), NotJudged::Undecodable);
    }
}
