//! IPv4 and IPv6 fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5) over etherparse's
//! [`IpDefragPool`], bounded: the pool itself does not defend against memory exhaustion, so this
//! wrapper keeps at most a given number of datagrams pending, drops those whose last fragment
//! is older than a given age (capture time, never the clock), and counts every datagram dropped.

use etherparse::defrag::IpDefragPool;
use etherparse::{Ipv6ExtensionSlice, NetSlice, SlicedPacket};
use std::collections::HashMap;
use std::net::IpAddr;

/// What identifies the datagram a fragment belongs to (the pool's own key, mirrored).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    vlans: Vec<u16>,
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

/// A fragment's place in its datagram.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FragInfo {
    /// Its datagram.
    pub(crate) key: FragKey,
    /// Offset in 8-byte units.
    pub(crate) offset: u16,
    /// More fragments follow.
    pub(crate) more: bool,
}

/// The fragment information of `s`, `None` unless its IP payload is a fragment.
pub(crate) fn frag_info(s: &SlicedPacket<'_>) -> Option<FragInfo> {
    if !s.is_ip_payload_fragmented() {
        return None;
    }
    let vlans = s.vlan_ids().iter().map(|v| v.value()).collect();
    match s.net.as_ref()? {
        NetSlice::Ipv4(v4) => {
            let h = v4.header();
            Some(FragInfo {
                key: FragKey {
                    vlans,
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    id: u32::from(h.identification()),
                    proto: v4.payload().ip_number.0,
                },
                offset: h.fragments_offset().value(),
                more: h.more_fragments(),
            })
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header();
            let frag = v6.extensions().clone().into_iter().find_map(|e| match e {
                Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            })?;
            Some(FragInfo {
                key: FragKey {
                    vlans,
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    id: frag.identification(),
                    proto: v6.payload().ip_number.0,
                },
                offset: frag.fragment_offset().value(),
                more: frag.more_fragments(),
            })
        }
        NetSlice::Arp(_) => None,
    }
}

/// When a pending datagram last grew, and an arrival number that orders ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp {
    time_ns: u64,
    seq: u64,
}

/// What became of a fragment.
#[derive(Debug)]
pub(crate) enum Defragged {
    /// Kept; its datagram is not complete yet.
    Pending,
    /// It completed its datagram: the whole IP payload (transport header and data).
    Complete(Vec<u8>),
    /// It could not be added (inconsistent with the fragments before it).
    Rejected,
}

/// The bounded reassembly pool.
pub(crate) struct Defrag {
    pool: IpDefragPool<Stamp, ()>,
    pending: HashMap<FragKey, Stamp>,
    max_pending: usize,
    max_age_ns: u64,
    seq: u64,
    /// Datagrams given up (too old, evicted, or left at the end).
    pub(crate) dropped: u64,
}

impl Defrag {
    /// A pool keeping at most `max_pending` datagrams, each for at most `max_age_ns` after its
    /// last fragment.
    pub(crate) fn new(max_pending: usize, max_age_ns: u64) -> Defrag {
        Defrag {
            pool: IpDefragPool::new(),
            pending: HashMap::new(),
            max_pending: max_pending.max(1),
            max_age_ns,
            seq: 0,
            dropped: 0,
        }
    }

    /// Drop the datagrams whose last fragment came more than the age bound before `now_ns`.
    pub(crate) fn expire(&mut self, now_ns: u64) {
        let limit = now_ns.saturating_sub(self.max_age_ns);
        if self.pending.values().any(|s| s.time_ns < limit) {
            let before = self.pending.len();
            self.pending.retain(|_, s| s.time_ns >= limit);
            self.dropped += (before - self.pending.len()) as u64;
            self.pool.retain(|s| s.time_ns >= limit);
        }
    }

    /// Drop everything pending (end of input).
    pub(crate) fn finish(&mut self) {
        self.dropped += self.pending.len() as u64;
        self.pending.clear();
        self.pool.retain(|_| false);
    }

    /// Add the fragment `s` (with `info = frag_info(s)`) seen at `time_ns`.
    pub(crate) fn add(&mut self, s: &SlicedPacket<'_>, info: &FragInfo, time_ns: u64) -> Defragged {
        self.expire(time_ns);
        if !self.pending.contains_key(&info.key) && self.pending.len() >= self.max_pending {
            // Evict the datagram that has waited longest since its last fragment.
            if let Some((k, oldest)) = self.pending.iter().min_by_key(|(_, s)| **s).map(|(k, s)| (k.clone(), *s)) {
                self.pending.remove(&k);
                self.pool.retain(|s| *s != oldest);
                self.dropped += 1;
            }
        }
        self.seq += 1;
        let stamp = Stamp { time_ns, seq: self.seq };
        match self.pool.process_sliced_packet(s, stamp, ()) {
            Ok(Some(done)) => {
                self.pending.remove(&info.key);
                let payload = done.payload.clone();
                self.pool.return_buf(done);
                Defragged::Complete(payload)
            }
            Ok(None) => {
                self.pending.insert(info.key.clone(), stamp);
                Defragged::Pending
            }
            // The pool keeps an existing datagram untouched on error and adds none: so does
            // the mirror.
            Err(_) => Defragged::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpFragOffset, IpNumber, Ipv4Header};

    /// An IPv4 fragment of datagram `id` at byte `offset` (a multiple of 8).
    fn fragment(id: u16, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let mut h = Ipv4Header::new(data.len() as u16, 64, IpNumber::UDP, [192, 0, 2, 1], [192, 0, 2, 2]).unwrap();
        h.identification = id;
        h.more_fragments = more;
        h.fragment_offset = IpFragOffset::try_new(offset / 8).unwrap();
        let mut v = Vec::new();
        h.write(&mut v).unwrap();
        v.extend_from_slice(data);
        v
    }

    fn add(d: &mut Defrag, bytes: &[u8], t: u64) -> Defragged {
        let s = SlicedPacket::from_ip(bytes).unwrap();
        let info = frag_info(&s).expect("a fragment");
        d.add(&s, &info, t)
    }

    #[test]
    fn reassembles_within_bounds_of_count_and_age() {
        let whole: Vec<u8> = (0..24u8).collect();
        let mut d = Defrag::new(1, 1_000);
        assert!(matches!(add(&mut d, &fragment(1, 8, true, &whole[8..16]), 0), Defragged::Pending));
        assert!(matches!(add(&mut d, &fragment(1, 16, false, &whole[16..]), 10), Defragged::Pending));
        match add(&mut d, &fragment(1, 0, true, &whole[..8]), 20) {
            Defragged::Complete(p) => assert_eq!(p, whole),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.dropped, 0);
        // A second datagram evicts the first pending one (bound 1).
        assert!(matches!(add(&mut d, &fragment(2, 0, true, &whole[..8]), 30), Defragged::Pending));
        assert!(matches!(add(&mut d, &fragment(3, 0, true, &whole[..8]), 40), Defragged::Pending));
        assert_eq!(d.dropped, 1);
        // Its rest, after the age bound, starts a new datagram; the old one is dropped.
        assert!(matches!(add(&mut d, &fragment(3, 8, false, &whole[8..]), 2_000), Defragged::Pending));
        assert_eq!(d.dropped, 2);
        d.finish();
        assert_eq!(d.dropped, 3);
        assert!(d.pending.is_empty());
    }
}
