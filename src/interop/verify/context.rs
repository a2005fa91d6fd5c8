//! What the oracle needs to know about a pair beyond its bytes (docs/decisions.md D13, D14).

use crate::base::Level;
use crate::base::Transport;
use crate::base::{ClientKind, Role, SessionCase};
use crate::sip::Message;

/// The context of one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairContext {
    /// Interop level, 1 or 2.
    pub level: Level,
    /// The session case.
    pub case: SessionCase,
    /// The recipient's kind (terminating) or the sender's (originating); `None` when unknown.
    pub client: Option<ClientKind>,
    /// The declared role.
    pub role: Role,
    /// Whether the terminating local user has a registered contact (`None`: unknown, assumed
    /// online).
    pub online: Option<bool>,
    /// Transport the egress request went out on, when known.
    pub egress_transport: Option<Transport>,
    /// True when the trace is complete (simulation, live run): a request that produced nothing
    /// is a failure. False for captures (it may simply be missing): INCONCLUSIVE.
    pub complete: bool,
    /// True when the observer is known to have lost messages (a load run's or a live run's
    /// own socket dropped datagrams; that observer plays the downstream side too): the server's
    /// timeout answer (408, 504) where a forward was expected may follow a forward that was
    /// lost, so it proves nothing (INCONCLUSIVE, never FAIL). Implies `complete` false.
    pub lossy: bool,
    /// Trace index of the ingress message.
    pub ingress_index: Option<usize>,
    /// Trace index of the egress message.
    pub egress_index: Option<usize>,
}

impl PairContext {
    /// A context with the given level, case and client kind; online, proxy role, complete.
    pub fn new(level: Level, case: SessionCase, client: Option<ClientKind>) -> PairContext {
        PairContext {
            level,
            case,
            client,
            role: Role::Proxy,
            online: None,
            egress_transport: None,
            complete: true,
            lossy: false,
            ingress_index: None,
            egress_index: None,
        }
    }
}

/// What the server did with an ingress request.
#[derive(Debug, Clone, Copy)]
pub enum Egress<'a> {
    /// It forwarded this request.
    Forwarded(&'a Message),
    /// It answered with this final response (and forwarded nothing).
    Responded(&'a Message),
    /// Nothing observed.
    Nothing,
}
