//! Captures: pcapng out (this module's [`pcapng`] writer, for `imcpm run --pcap`), and pcap and
//! pcapng in ([`read`]: decode, IP defragmentation, TCP reassembly) for judging captures. A
//! capture is one more way to hold a [`crate::base::Trace`]; the oracle judges it the same as a
//! run.
//!
//! The reading half, bottom up: `source` (one file as a stream of frames), `link` (link
//! layers down to IP), `defrag` (bounded IP reassembly), `tcp` (bounded stream reassembly
//! and SIP framing), `detect` (SIP by its start line), `pipeline` (the merge of files,
//! duplicates, UDP, delivery in time order) and [`read`], the public API: [`read_captures`].

mod defrag;
mod detect;
mod link;
pub mod pcapng;
mod pipeline;
pub mod read;
mod source;
mod tcp;

pub use pcapng::{PcapngOptions, write_pcapng, write_pcapng_with};
pub use read::{CaptureError, NotJudged, ReadOptions, ReadStats, SipMessage, read_captures, read_streams};

use crate::base::{Instant, Trace};
use std::io::{self, Write};
use std::path::Path;

/// Gap between one trace's last packet and the next trace's first in [`concat`] (µs).
const GAP_US: u64 = 1_000_000;

/// Several traces (the runs of a suite) as one capture of the whole run: each trace after the
/// previous one in time, a second after its last packet.
pub fn concat<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> Trace {
    let mut all = Trace::default();
    let mut offset = 0u64;
    for trace in traces {
        let mut end = offset;
        for o in &trace.events {
            let t = Instant(o.time.0 + offset);
            end = end.max(t.0);
            all.push(t, o.packet.clone());
        }
        offset = end + GAP_US;
    }
    all
}

/// Write `trace` as a pcapng file at `path` (created or truncated).
pub fn write_pcapng_file(path: &Path, trace: &Trace) -> io::Result<()> {
    let mut f = io::BufWriter::new(std::fs::File::create(path)?);
    write_pcapng(trace, &mut f)?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{Packet, Transport};

    #[test]
    fn concat_puts_each_trace_a_second_after_the_previous() {
        let p = |n: u8| {
            let a = "192.0.2.1:5060".parse().unwrap();
            Packet::new(Transport::Udp, a, a, vec![n])
        };
        let mut a = Trace::default();
        a.push(Instant(5), p(1));
        a.push(Instant(7), p(2));
        let mut b = Trace::default();
        b.push(Instant(3), p(3));
        let all = concat([&a, &b]);
        let times: Vec<u64> = all.events.iter().map(|o| o.time.0).collect();
        assert_eq!(times, [5, 7, 7 + GAP_US + 3]);
    }
}
