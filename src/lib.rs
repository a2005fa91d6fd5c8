//! # imcpm: a conformance harness for OMA SIMPLE IM Appendix T
//!
//! Appendix T ("Interoperability with OMA CPM Clients") lets an IM Server serve OMA CPM clients:
//! at level 1 (T.1) CPM requests delivered to its IM clients get the CPM feature tag replaced by
//! `+g.oma.sip-im`; at level 2 (T.2) it also serves its own CPM clients in both directions, adding
//! the CPM ICSIs, `P-Asserted-Service` and a `Conversation-ID` toward them.
//!
//! Layers, from the bottom (docs/architecture.md has the import rules and the path of one
//! message from bytes to verdict):
//! - [`base`]: the ground floor every layer shares (time, packets and traces, the Appendix T
//!   vocabulary, seeded identifiers); it imports nothing else of this crate;
//! - [`sip`]: a byte-faithful SIP message (original bytes plus spans, edits that copy every
//!   untouched byte), knowing nothing of Appendix T;
//! - [`interop`]: Appendix T as data (Table 1, the requirement catalogue with typed IDs), the
//!   service classifier, the reference rewrite (`interwork`) and the oracle (`verify`, a leaf);
//! - [`node`]: sans-IO protocol parts (transactions, the reference IM server, simulated nodes);
//! - [`sim`]: the deterministic world that runs them in virtual time and records a trace;
//! - [`scenario`]: scenario files, the runner and the suite; [`report`]: results and renderers;
//!   [`capture`]: pcapng; [`net`]: the socket driver; [`cli`]: the commands.
//!
//! Entry points: [`harness::Case`] for your own `cargo test` suites, and the re-exports below for
//! judging a pair or a trace directly.

pub mod base;
pub mod capture;
pub mod check;
pub mod cli;
pub mod harness;
pub mod interop;
pub mod live;
pub mod load;
pub mod net;
pub mod node;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sip;

pub use harness::{Case, Outcome};
pub use interop::rules::ReqId;
pub use interop::verify::{Egress, PairContext, TraceContext, check_pair, check_trace};
pub use interop::{Finding, Verdict};
