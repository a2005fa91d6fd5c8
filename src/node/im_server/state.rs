//! What the IM server remembers: who is an IM or a CPM client and whether they are registered
//! (third-party REGISTER, docs/decisions.md D8, or a static users file), and conversation identity per D10
//! (bounded LRU maps).

use crate::base::ClientKind;
use crate::base::Instant;
use crate::base::Level;
use crate::interop::registration::third_party_register;
use crate::sip::Message;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// One local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// IM or CPM (None when a registration showed neither).
    pub kind: Option<ClientKind>,
    /// Registered until this time (None: static entry, always online).
    pub until: Option<Instant>,
    /// The UE's contact URI, from the embedded REGISTER.
    pub contact: Option<String>,
}

/// Local users by AoR: the static ones (from the users file, unbounded: they are the user's
/// own data) and those learned from third-party REGISTERs (at most `cap`).
#[derive(Debug, Clone)]
pub struct Registry {
    users: HashMap<String, User>,
    statics: HashMap<String, ClientKind>,
    cap: usize,
    /// When full: no lapsed registration before this time (skips scans that would find none).
    no_lapse_before: Instant,
}

/// The registrations table is full and none has lapsed: a REGISTER for a new user is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryFull(pub usize);

/// What a third-party REGISTER taught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    /// The served user.
    pub user: String,
    /// Registered (expires > 0) or not.
    pub registered: bool,
    /// The expiry granted.
    pub expires: u64,
}

impl Registry {
    /// A registry with static users (always online).
    pub fn with_static(users: impl IntoIterator<Item = (String, ClientKind)>) -> Registry {
        Registry {
            users: HashMap::new(),
            statics: users.into_iter().map(|(a, k)| (a.to_ascii_lowercase(), k)).collect(),
            cap: usize::MAX,
            no_lapse_before: Instant::ZERO,
        }
    }

    /// Hold at most `cap` learned registrations (at least 1).
    pub fn with_capacity(mut self, cap: usize) -> Registry {
        self.cap = cap.max(1);
        self
    }

    /// Number of learned registrations (lapsed ones included until room is needed).
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when none was learned.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Learn from a third-party REGISTER (D8; see [`third_party_register`]); `Ok(None)` when it
    /// is not one. A lapsed registration is kept (its user stays known, and offline) until room
    /// is needed for a new user; then every lapsed one is forgotten, and with none lapsed the
    /// new user is refused.
    pub fn learn(&mut self, msg: &Message, now: Instant, level: Level) -> Result<Option<Learned>, RegistryFull> {
        let Some(r) = third_party_register(msg, level) else { return Ok(None) };
        if !self.users.contains_key(&r.user) && self.users.len() >= self.cap {
            self.forget_lapsed(now);
            if self.users.len() >= self.cap {
                return Err(RegistryFull(self.cap));
            }
        }
        let expires = r.expires.unwrap_or(3600);
        let e = self.users.entry(r.user.clone()).or_insert(User { kind: None, until: None, contact: None });
        if r.kind.is_some() {
            e.kind = r.kind;
        }
        if r.contact.is_some() {
            e.contact = r.contact;
        }
        e.until = Some(now + Duration::from_secs(expires));
        Ok(Some(Learned { user: r.user, registered: expires > 0, expires }))
    }

    /// Forget every registration that has lapsed by `now` (at most one scan per earliest
    /// expiry: until then, none can have lapsed but one renewed shorter meanwhile).
    fn forget_lapsed(&mut self, now: Instant) {
        if now < self.no_lapse_before {
            return;
        }
        self.users.retain(|_, u| u.until.is_some_and(|t| t > now));
        self.no_lapse_before = self.users.values().filter_map(|u| u.until).min().unwrap_or(Instant::ZERO);
    }

    /// The kind of a local user, if known.
    pub fn kind(&self, aor: &str) -> Option<ClientKind> {
        self.users.get(aor).and_then(|u| u.kind).or_else(|| self.statics.get(aor).copied())
    }
    /// True when the user has a live registration (or is a static user).
    pub fn online(&self, aor: &str, now: Instant) -> bool {
        if self.statics.contains_key(aor) && !self.users.contains_key(aor) {
            return true;
        }
        self.users.get(aor).is_some_and(|u| u.until.is_some_and(|t| t > now))
    }
    /// True when the user is known here (registered once, or static).
    pub fn is_local(&self, aor: &str) -> bool {
        self.users.contains_key(aor) || self.statics.contains_key(aor)
    }
    /// The UE's contact URI from its registration.
    pub fn contact(&self, aor: &str) -> Option<&str> {
        self.users.get(aor).and_then(|u| u.contact.as_deref())
    }
}

/// A bounded map that forgets the least recently used entry first (D10: conversations in use
/// keep their Conversation-ID). Each use appends a stamp; stale stamps are skipped on eviction.
#[derive(Debug, Clone)]
pub struct Lru<V> {
    cap: usize,
    map: HashMap<String, (V, u64)>,
    order: VecDeque<(String, u64)>,
    clock: u64,
}

impl<V: Clone> Lru<V> {
    /// A map holding at most `cap` entries.
    pub fn new(cap: usize) -> Lru<V> {
        Lru { cap: cap.max(1), map: HashMap::new(), order: VecDeque::new(), clock: 0 }
    }
    fn touch(&mut self, k: &str) {
        self.clock += 1;
        if let Some(e) = self.map.get_mut(k) {
            e.1 = self.clock;
            self.order.push_back((k.to_string(), self.clock));
        }
        // Keep the stamp queue bounded too: drop stale stamps from the front.
        while self.order.len() > 4 * self.cap {
            if let Some((k, t)) = self.order.pop_front() {
                if self.map.get(&k).is_some_and(|e| e.1 == t) {
                    self.order.push_back((k, t));
                }
            }
        }
    }
    /// The value for `k` (and mark it used).
    pub fn get(&mut self, k: &str) -> Option<V> {
        let v = self.map.get(k).map(|e| e.0.clone());
        if v.is_some() {
            self.touch(k);
        }
        v
    }
    /// Insert or replace (and mark it used).
    pub fn put(&mut self, k: String, v: V) {
        self.map.insert(k.clone(), (v, 0));
        self.touch(&k);
        while self.map.len() > self.cap {
            let Some((old, t)) = self.order.pop_front() else { break };
            if self.map.get(&old).is_some_and(|e| e.1 == t) {
                self.map.remove(&old);
            }
        }
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// The values, in no particular order (not marked used).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values().map(|e| &e.0)
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Conversation identity (docs/decisions.md D10): Conversation-ID per pair or group focus, and the IDs of
/// delivered messages by CPIM `imdn.Message-ID` for their disposition notifications.
#[derive(Debug, Clone)]
pub struct Conversations {
    /// Key -> Conversation-ID.
    pub by_key: Lru<String>,
    /// imdn.Message-ID -> (Conversation-ID, Contribution-ID).
    pub by_message: Lru<(String, String)>,
}

impl Conversations {
    /// Maps of `cap` entries each.
    pub fn new(cap: usize) -> Conversations {
        Conversations { by_key: Lru::new(cap), by_message: Lru::new(cap) }
    }
}

/// The conversation key of a 1-1 pair (unordered) or of a group focus.
pub fn conversation_key(a: &str, b: &str, group_focus: Option<&str>) -> String {
    match group_focus {
        Some(f) => format!("group {f}"),
        None if a <= b => format!("{a} {b}"),
        None => format!("{b} {a}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_is_bounded() {
        let mut l = Lru::new(2);
        l.put("a".into(), 1);
        l.put("b".into(), 2);
        l.put("c".into(), 3);
        assert_eq!(l.len(), 2);
        assert!(l.get("a").is_none());
        assert_eq!(l.get("c"), Some(3));
        // Used entries survive: b is used, then d evicts c (least recently used).
        assert_eq!(l.get("b"), Some(2));
        l.put("d".into(), 4);
        assert_eq!(l.get("c"), None);
        assert_eq!(l.get("b"), Some(2));
        assert_eq!(conversation_key("b", "a", None), conversation_key("a", "b", None));
    }

    fn register(user: &str, expires: u32) -> Message {
        let r = format!(
            "REGISTER sip:imserver.im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKr\r\n\
             From: <sip:scscf.im.example.net>;tag=t\r\nTo: <{user}>\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n\
             Expires: {expires}\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(r.into_bytes()).unwrap()
    }

    #[test]
    fn registrations_are_bounded_and_lapsed_ones_make_room() {
        let t = |s: u64| Instant(s * 1_000_000);
        let mut r = Registry::with_static([]).with_capacity(2);
        assert!(r.learn(&register("sip:a@im.example.net", 10), t(0), Level::Two).unwrap().is_some());
        assert!(r.learn(&register("sip:b@im.example.net", 100), t(0), Level::Two).unwrap().is_some());
        // Full, none lapsed: a new user is refused; a known one renews.
        assert_eq!(r.learn(&register("sip:c@im.example.net", 100), t(5), Level::Two), Err(RegistryFull(2)));
        assert!(r.learn(&register("sip:a@im.example.net", 10), t(5), Level::Two).is_ok());
        assert_eq!(r.len(), 2);
        // a lapses at 15 s: kept (known, offline) until room is needed, then forgotten.
        assert!(r.is_local("sip:a@im.example.net") && !r.online("sip:a@im.example.net", t(16)));
        assert!(r.learn(&register("sip:c@im.example.net", 100), t(16), Level::Two).unwrap().is_some());
        assert_eq!(r.len(), 2);
        assert!(!r.is_local("sip:a@im.example.net") && r.online("sip:c@im.example.net", t(16)));
    }
}
