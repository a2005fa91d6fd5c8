//! An index from transaction keys to transaction ids that costs 16 bytes a slot however large
//! the key is: the table maps a keyed hash of the key to the id, and a hit is confirmed by
//! comparing the key with the one the transaction itself holds. A server key is about 200
//! bytes; held inline in a hash table of 64,000 live transactions (2000 requests/s, each kept
//! 32 s) it made the table's growth a step of 20 MB, where this one grows by 2 MB.
//!
//! Two keys with the same 64-bit hash (SipHash with a random key per process, so nobody can
//! pick them) are kept apart by an overflow map holding the later key whole.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeMap, HashMap, VecDeque};
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

    /// Index `id` under `key`, replacing what was indexed under the same key. The key is
    /// copied only when another key has the same hash.
    pub(super) fn insert<'a>(&mut self, key: &K, id: u64, key_of: impl Fn(u64) -> Option<&'a K>)
    where
        K: 'a + Clone,
    {
        let h = self.hasher.hash_one(key);
        match self.by_hash.entry(h) {
            Entry::Vacant(e) => {
                e.insert(id);
            }
            Entry::Occupied(mut e) => match key_of(*e.get()) {
                Some(held) if held != key => {
                    self.overflow.insert(key.clone(), id);
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
/// tables are [`IdSlab`]s: as hash maps holding the transactions inline they were 3% faster
/// in the core bench but grew in steps that cost page faults, with no gain under load.)
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Transactions by id, for ids handed out in ascending order (the layer's counter): a window
/// of slots indexed by `id - base`, a lookup one subtraction and one pointer away. The B-tree
/// it replaced took four or five node visits a lookup through 320,000 live transactions (a
/// proxy at 10,000 requests/s keeps each server transaction 32 s), each visit likely a cache
/// miss, and a transaction is looked up several times a message.
///
/// Ids taken by the other kind of transaction (servers and clients share the counter) leave
/// empty slots; removing the oldest entry drops the empty slots in front. An entry that
/// outlives the ones behind it (an INVITE client transaction held by provisional responses,
/// say) would keep every slot after it: once the window has more than [`IdSlab::SPARSE`]
/// slots per entry (plus [`IdSlab::SLACK`]), its oldest entries move to a B-tree beside it,
/// each at most once. An id that far past the window's end (ids the other kind took while the
/// few entries here lived on) moves those entries beside it and starts the window again at
/// that id, and room a burst left is given back when the window shrinks to a quarter of it:
/// memory stays bounded by the entries, not by the ids handed out.
#[derive(Debug)]
pub(super) struct IdSlab<T> {
    /// The id of `window[0]`.
    base: u64,
    window: VecDeque<Option<Box<T>>>,
    /// Entries in `window`.
    in_window: usize,
    /// Entries older than `base`.
    old: BTreeMap<u64, T>,
}

impl<T> Default for IdSlab<T> {
    fn default() -> Self {
        IdSlab { base: 0, window: VecDeque::new(), in_window: 0, old: BTreeMap::new() }
    }
}

impl<T> IdSlab<T> {
    /// Slots the window may hold per entry before its oldest entries move out.
    pub(super) const SPARSE: usize = 4;
    /// Slots the window may hold beyond [`IdSlab::SPARSE`] per entry.
    #[cfg(not(test))]
    pub(super) const SLACK: usize = 4096;
    /// Small in tests, so that short sequences reach the bound.
    #[cfg(test)]
    pub(super) const SLACK: usize = 16;

    /// The entry with this id.
    pub(super) fn get(&self, id: u64) -> Option<&T> {
        match id.checked_sub(self.base) {
            Some(i) => self.window.get(usize::try_from(i).ok()?)?.as_deref(),
            None => self.old.get(&id),
        }
    }

    /// The entry with this id, to change.
    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        match id.checked_sub(self.base) {
            Some(i) => self.window.get_mut(usize::try_from(i).ok()?)?.as_deref_mut(),
            None => self.old.get_mut(&id),
        }
    }

    /// Add `value` under `id`, replacing what was there. Ids are expected in ascending order;
    /// an id below the window goes beside it.
    pub(super) fn insert(&mut self, id: u64, value: T) {
        if self.window.is_empty() {
            if self.old.last_key_value().is_some_and(|(&k, _)| k >= id) {
                self.old.insert(id, value);
                return;
            }
            self.base = id;
        }
        let Some(gap) = id.checked_sub(self.base) else {
            self.old.insert(id, value);
            return;
        };
        let room = Self::SPARSE * (self.in_window + 1) + Self::SLACK;
        let i = match usize::try_from(gap) {
            Ok(i) if i < self.window.len() || i < room => i,
            // Far past the window (ids the other kind of transaction took while the few
            // entries here lived on): those entries go beside it and the window starts again
            // at `id`, rather than a slot for every id between.
            _ => {
                self.retire_window();
                self.base = id;
                0
            }
        };
        if i >= self.window.len() {
            self.window.resize_with(i + 1, || None);
        }
        if self.window[i].replace(Box::new(value)).is_none() {
            self.in_window += 1;
        }
        self.bound();
    }

    /// Remove and return the entry with this id.
    pub(super) fn remove(&mut self, id: u64) -> Option<T> {
        let Some(i) = id.checked_sub(self.base) else { return self.old.remove(&id) };
        let v = self.window.get_mut(usize::try_from(i).ok()?)?.take()?;
        self.in_window -= 1;
        self.trim();
        Some(*v)
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.in_window + self.old.len()
    }

    /// Every entry, in ascending id order.
    pub(super) fn values(&self) -> impl Iterator<Item = &T> {
        self.old.values().chain(self.window.iter().flatten().map(|b| &**b))
    }

    /// Drop the empty slots at both ends, and room a burst left that the window no longer needs.
    fn trim(&mut self) {
        while let Some(None) = self.window.front() {
            self.window.pop_front();
            self.base += 1;
        }
        while let Some(None) = self.window.back() {
            self.window.pop_back();
        }
        if self.window.capacity() > 4 * self.window.len() + 2 * Self::SLACK {
            self.window.shrink_to(2 * self.window.len() + Self::SLACK);
        }
    }

    /// Move the oldest entries out while the window is too sparse.
    fn bound(&mut self) {
        while self.window.len() > Self::SPARSE * self.in_window + Self::SLACK {
            debug_assert!(self.window.front().is_some_and(Option::is_some), "trim leaves an entry in front");
            let Some(Some(front)) = self.window.pop_front() else { break };
            self.old.insert(self.base, *front);
            self.base += 1;
            self.in_window -= 1;
            self.trim();
        }
    }

    /// Move every entry of the window beside it and empty it.
    fn retire_window(&mut self) {
        let base = self.base;
        for (i, slot) in std::mem::take(&mut self.window).into_iter().enumerate() {
            if let Some(v) = slot {
                self.old.insert(base + i as u64, *v);
            }
        }
        self.in_window = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key whose hash is chosen by the test, so collisions can be made at will.
    #[derive(Debug, Clone, PartialEq, Eq)]
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
        index.insert(&Colliding("a"), 1, key_of);
        index.insert(&Colliding("b"), 2, key_of);
        index.insert(&Colliding("c"), 3, key_of);
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
        index.insert(&"k", 1, key_of);
        index.insert(&"k", 2, key_of);
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

    /// A slab used as the layer uses it, against a B-tree: the same entries, the same order.
    /// Ids mostly ascend in small steps (the other kind of transaction taking some), now and
    /// then jump far (while only a long-lived entry is here), and now and then come out of
    /// order (below the window, inside it, or an id already held).
    fn slab_against_btree(ops: &[(u8, u8)]) {
        let mut slab = IdSlab::default();
        let mut model = BTreeMap::new();
        let mut next = 0u64;
        let bound = |s: &IdSlab<u64>| IdSlab::<u64>::SPARSE * s.in_window + IdSlab::<u64>::SLACK;
        for &(op, n) in ops {
            match op % 6 {
                0 | 1 => {
                    next += u64::from(n % 4) + 1;
                    slab.insert(next, next * 10);
                    model.insert(next, next * 10);
                    assert!(slab.window.len() <= bound(&slab));
                }
                2 => {
                    next += 50 + 1000 * u64::from(n);
                    slab.insert(next, next * 10);
                    model.insert(next, next * 10);
                    assert!(slab.window.len() <= bound(&slab));
                }
                3 => {
                    let id = next.saturating_sub(u64::from(n));
                    slab.insert(id, id * 7);
                    model.insert(id, id * 7);
                }
                4 => {
                    // Mostly the oldest (as timers end transactions), sometimes any.
                    let id = if n % 4 == 0 {
                        next.saturating_sub(u64::from(n))
                    } else {
                        model.keys().next().copied().unwrap_or(0)
                    };
                    assert_eq!(slab.remove(id), model.remove(&id));
                }
                _ => {
                    let id = next.saturating_sub(u64::from(n));
                    assert_eq!(slab.get(id), model.get(&id));
                    if let (Some(a), Some(b)) = (slab.get_mut(id), model.get_mut(&id)) {
                        *a += 1;
                        *b += 1;
                    }
                }
            }
            assert_eq!(slab.len(), model.len());
            assert!(slab.old.keys().all(|&k| k < slab.base), "old holds only ids below the window");
        }
        assert!(slab.values().eq(model.values()));
        for (id, v) in &model {
            assert_eq!(slab.get(*id), Some(v));
        }
    }

    proptest::proptest! {
        #[test]
        fn an_id_slab_holds_what_a_btree_holds(ops in proptest::collection::vec((0u8..6, proptest::prelude::any::<u8>()), 0..800)) {
            slab_against_btree(&ops);
        }
    }

    #[test]
    fn ids_taken_elsewhere_while_one_entry_lives_on_cost_no_slots() {
        // One INVITE client transaction ringing for ever while fifty million ids go to server
        // transactions: the next client transaction must not make a slot for each.
        let mut slab = IdSlab::default();
        slab.insert(1, "ringing");
        slab.insert(50_000_001, "next");
        assert!(slab.window.capacity() < 64, "{} slots", slab.window.capacity());
        assert_eq!(slab.get(1), Some(&"ringing"));
        assert_eq!(slab.get(50_000_001), Some(&"next"));
        // A jump no slot-per-id window could take (8 TB of slots): the window starts again.
        slab.insert(1 << 40, "far");
        assert_eq!(slab.get(1 << 40), Some(&"far"));
        assert_eq!(slab.remove(1 << 40), Some("far"));
        // A burst's room is given back once the window no longer needs it.
        for id in 50_000_002..50_100_000 {
            slab.insert(id, "burst");
        }
        for id in 50_000_002..50_100_000 {
            slab.remove(id);
        }
        assert!(slab.window.capacity() < 4 * IdSlab::<&str>::SLACK, "{} slots", slab.window.capacity());
        assert_eq!(slab.len(), 2);
    }

    #[test]
    fn an_entry_outliving_the_rest_does_not_keep_their_slots() {
        let mut slab = IdSlab::default();
        slab.insert(1, "long-lived");
        for id in 2..200_000u64 {
            slab.insert(id, "short");
            if id > 10 {
                assert_eq!(slab.remove(id - 8), Some("short"));
            }
        }
        assert!(slab.window.len() < 20, "{} slots for {} entries", slab.window.len(), slab.len());
        assert_eq!(slab.get(1), Some(&"long-lived"));
        assert_eq!(slab.remove(1), Some("long-lived"));
        assert_eq!(slab.len(), 9);
        // Ids below the window, after it moved on, still land where lookups find them.
        slab.insert(5, "late");
        assert_eq!(slab.get(5), Some(&"late"));
        // In id order: 2 (moved out beside 1, never removed), 5, then the window's eight.
        assert_eq!(slab.values().copied().collect::<Vec<_>>()[..3], ["short", "late", "short"]);
    }
}
