//! Identifier generation: lowercase UUIDv4 strings (docs/decisions.md D10) from a seeded splitmix64 stream,
//! so that simulated runs are deterministic and live runs can seed from the clock.

/// Format 128 random bits as a lowercase RFC 9562 version-4 UUID.
pub fn uuid_v4_from(hi: u64, lo: u64) -> String {
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// A seeded generator of ids (splitmix64).
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator with this seed.
    pub fn new(seed: u64) -> IdGen {
        IdGen { state: seed }
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A fresh UUIDv4.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        uuid_v4_from(a, b)
    }
    /// A short lowercase hex token of `n` characters (tags, branch suffixes).
    pub fn token(&mut self, n: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(n.next_multiple_of(16));
        while s.len() < n {
            // Each draw as 16 hex digits, most significant first (as `{:016x}` writes it).
            let v = self.next_u64();
            s.extend((0..16).rev().map(|i| char::from(HEX[((v >> (4 * i)) & 0xf) as usize])));
        }
        s.truncate(n);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_the_draws_in_hex() {
        let (mut a, mut b) = (IdGen::new(3), IdGen::new(3));
        let t = a.token(40);
        let want: String = (0..3).map(|_| format!("{:016x}", b.next_u64())).collect();
        assert_eq!(t, want[..40]);
        assert_eq!(a.token(0), "");
    }

    #[test]
    fn uuids_are_v4_and_deterministic() {
        let mut g = IdGen::new(7);
        let u = g.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(IdGen::new(7).uuid(), u);
        assert_ne!(g.uuid(), u);
    }
}
