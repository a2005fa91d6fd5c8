//! Captures: pcapng out (this module's [`pcapng`] writer, for `imcpm run --pcap`), and later pcap
//! and pcapng in (decode, IP defragmentation, TCP reassembly) for `check-pcap`. A capture is
//! one more way to hold a [`crate::base::Trace`]; the oracle judges it the
//! same as a run.

pub mod pcapng;

pub use pcapng::{PcapngOptions, write_pcapng, write_pcapng_with};
