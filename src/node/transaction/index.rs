//! An index from transaction keys to transaction ids that costs 16 bytes a slot however large
//! the key is: the table maps a keyed hash of the key to the id, and a hit is confirmed by
//! comparing the key with the one the transaction itself holds. A server key is about 200
//! bytes; held inline in a hash table of 64,000 live transactions (2000 requests/s, each kept
//! 32 s) it made the table's growth a step of 20 MB, where this one grows by 2 MB.
//!
//! Two keys with the same 64-bit hash (SipHash with a random key per process, so nobody can
//! pick them) are kept apart by an overflow map holding the later key whole.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// Keys to ids; see the module documentation.
#[derive(Debug)]
pub(super) struct KeyIndex<K> {
    hasher: RandomState,
    by_hash: HashMap<u64, u64, BuildHasherDefault<Prehashed>>,
    overflow: HashMap<K, u64>,
}

impl<K> Default for KeyIndex<K> {
    fn default() -> Self {
        KeyIndex { hasher: RandomState::new(), by_hash: HashMap::default(), overflow: HashMap::new() }
    }
}

impl<K: Hash + Eq> KeyIndex<K> {
    /// The id indexed under `key`; `key_of` gives the key a live transaction holds.
    pub(super) fn get<'a>(&self, key: &K, key_of: impl Fn(u64) -> Option<&'a K>) -> Option<u64>
    where
        K: 'a,
    {
        let h = self.hasher.hash_one(key);
        if let Some(&id) = self.by_hash.get(&h) {
            if key_of(id) == Some(key) {
                return Some(id);
            }
        }
        self.overflow.get(key).copied()
    }

    /// Index `id` under `key`, replacing what was indexed under the same key.
    pub(super) fn insert<'a>(&mut self, key: K, id: u64, key_of: impl Fn(u64) -> Option<&'a K>)
    where
        K: 'a,
    {
        let h = self.hasher.hash_one(&key);
        match self.by_hash.entry(h) {
            Entry::Vacant(e) => {
                e.insert(id);
            }
            Entry::Occupied(mut e) => match key_of(*e.get()) {
                Some(held) if *held != key => {
                    self.overflow.insert(key, id);
                }
                _ => {
                    e.insert(id);
                }
            },
        }
    }

    /// Remove `key` from the index if it names `id`.
    pub(super) fn remove(&mut self, key: &K, id: u64) {
        let h = self.hasher.hash_one(key);
        if self.by_hash.get(&h) == Some(&id) {
            self.by_hash.remove(&h);
        } else if self.overflow.get(key) == Some(&id) {
            self.overflow.remove(key);
        }
    }

    /// Number of keys indexed.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_hash.len() + self.overflow.len()
    }
}

/// The hasher of the hash table itself: its keys are already hashes.
#[derive(Debug, Default)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The hasher of [`IdMap`]: a transaction id (ours, handed out in sequence, never chosen by a
/// peer) multiplied by an odd constant, so sequential ids fill the table's buckets evenly
/// (the low bits) and spread over its control bytes (the high bits). Only for keys the
/// process chose itself: a peer could pick colliding keys for it.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A hash map keyed by transaction ids (see [`IdHasher`]). (The transaction layer's own
/// tables stay B-trees: as hash maps they were 3% faster in the core bench but grew in steps
/// that cost page faults, with no gain under load.)
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A key whose hash is chosen by the test, so collisions can be made at will.
    #[derive(Debug, PartialEq, Eq)]
    struct Colliding(&'static str);

    impl Hash for Colliding {
        fn hash<H: Hasher>(&self, state: &mut H) {
            0u8.hash(state);
        }
    }

    #[test]
    fn colliding_keys_stay_apart_and_are_removed_by_id() {
        let held: HashMap<u64, Colliding> = [(1, Colliding("a")), (2, Colliding("b")), (3, Colliding("c"))].into();
        let key_of = |id: u64| held.get(&id);
        let mut index = KeyIndex::default();
        index.insert(Colliding("a"), 1, key_of);
        index.insert(Colliding("b"), 2, key_of);
        index.insert(Colliding("c"), 3, key_of);
        assert_eq!(index.len(), 3);
        assert_eq!(index.get(&Colliding("a"), key_of), Some(1));
        assert_eq!(index.get(&Colliding("b"), key_of), Some(2));
        assert_eq!(index.get(&Colliding("c"), key_of), Some(3));
        assert_eq!(index.get(&Colliding("d"), key_of), None);
        // A removal naming another id leaves the entry.
        index.remove(&Colliding("b"), 9);
        assert_eq!(index.get(&Colliding("b"), key_of), Some(2));
        index.remove(&Colliding("a"), 1);
        assert_eq!(index.get(&Colliding("a"), key_of), None);
        assert_eq!(index.get(&Colliding("b"), key_of), Some(2));
        index.remove(&Colliding("b"), 2);
        index.remove(&Colliding("c"), 3);
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_key_indexed_again_names_the_new_id() {
        let held: HashMap<u64, &str> = [(1, "k"), (2, "k")].into();
        let key_of = |id: u64| held.get(&id);
        let mut index = KeyIndex::default();
        index.insert("k", 1, key_of);
        index.insert("k", 2, key_of);
        assert_eq!(index.get(&"k", key_of), Some(2));
        index.remove(&"k", 1);
        assert_eq!(index.get(&"k", key_of), Some(2));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn sequential_ids_fill_the_buckets_and_spread_over_the_control_bytes() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (1000..1000 + 4096u64).map(|id| b.hash_one(super::super::ClientTx(id))).collect();
        // The low 12 bits pick one of 4,096 buckets: each id its own.
        let buckets: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 4095).collect();
        assert_eq!(buckets.len(), 4096);
        // The top 7 bits are the control byte: all 128 values in use, none for most ids.
        let mut control = [0usize; 128];
        for h in &hashes {
            control[(h >> 57) as usize] += 1;
        }
        assert!(control.iter().all(|&n| n > 0 && n < 100), "{control:?}");
    }
}
