//! # imcpm: a conformance harness for OMA SIMPLE IM Appendix T
//!
//! Appendix T ("Interoperability with OMA CPM Clients") lets an IM Server serve OMA CPM clients:
//! at level 1 (T.1) CPM requests delivered to its IM clients get the CPM feature tag replaced by
//! `+g.oma.sip-im`; at level 2 (T.2) it also serves its own CPM clients in both directions, adding
//! the CPM ICSIs, `P-Asserted-Service` and a `Conversation-ID` toward them.
//!
//! Layers, from the bottom:
//! - [`sip`]: a byte-faithful SIP message (original bytes plus spans, edits that copy every
//!   untouched byte);
//! - [`interop`]: Appendix T as data (Table 1, the requirement catalogue), the service
//!   classifier, the reference rewrite (`interwork`) and the oracle (`verify`).

pub mod base;
pub mod capture;
pub mod cli;
pub mod harness;
pub mod interop;
pub mod net;
pub mod node;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sip;
