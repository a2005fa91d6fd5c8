//! The oracle (docs/decisions.md D14), in two layers. [`pair`] judges one request entering the IM server
//! against what left it (the forwarded request, or the response it gave). [`trace`] judges what
//! needs more than one pair (Conversation-ID stable / distinct / kept / reused, IMDN reuse,
//! offline handling, retransmissions forwarded once) over a [`crate::base::Trace`], whoever produced
//! it: the simulated world, a live run, or a capture. Verdicts are a pure function of the input.

pub mod context;
pub mod convid;
pub mod judge;
pub mod meaning;
pub mod pair;
pub mod trace;
pub mod values;

pub use context::{Egress, PairContext};
pub use pair::check_pair;
pub use trace::{TraceContext, check_trace};
