//! The integration tests, as one test binary (one link): each module is one former test file.
//! The interop tests (real sipp, Kamailio, tshark, Chromium) are separate binaries behind the
//! `interop` feature.

// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod capture_read;
mod check_pcap;
mod cli;
mod cli_scenarios;
mod cli_terminal;
mod common;
mod doc_examples;
mod first_hour;
mod fixture_rewrites;
mod fuzz_regressions;
mod harness_api;
mod im_server;
mod live;
mod load;
mod net_driver;
mod numbering;
mod oracle_corpus;
mod oracle_faults;
mod oracle_props;
mod ratchet;
mod report_pcapng;
mod report_reference_run;
mod report_render;
mod rsip_differential;
mod scenarios;
mod serve_limits;
mod serve_sockets;
mod server_bounds;
mod sip_roundtrip;
mod torture;
mod vectors;
