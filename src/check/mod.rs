//! Judging what other drivers produced: captures ([`capture`]) and the pseudonyms reports of
//! live-network captures need ([`redact`]). Same oracle, same report model as a run.

pub mod capture;
pub mod redact;
pub mod replay;

pub use capture::{CaptureJob, CaptureVerdicts, SutAddr, judge_captures};
