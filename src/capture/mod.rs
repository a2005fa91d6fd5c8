//! Captures: pcapng out (this module's [`pcapng`] writer; for `imcpm run --pcap`, one section
//! per run: [`write_runs_pcapng`]), and pcap and pcapng in ([`read`]: decode, IP
//! defragmentation, TCP reassembly) for judging captures. A capture is one more way to hold a
//! [`crate::base::Trace`]; the oracle judges it the same as a run.
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

pub use pcapng::{PcapngOptions, PcapngWriter, write_pcapng, write_pcapng_with};
pub use read::{CaptureError, NotJudged, ReadOptions, ReadStats, Section, SipMessage, read_captures, read_streams};

use crate::base::{Instant, Trace};
use std::io::{self, Write};
use std::path::Path;

/// Gap between one trace's last packet and the next trace's first in [`concat`] and
/// [`write_runs_pcapng`] (µs).
const GAP_US: u64 = 1_000_000;

/// Where each trace starts when `traces` are laid out one after the other in time: the first at
/// 0, each next one a second after the previous one's last packet. Adding its offset to a
/// trace's times keeps the times of all of them increasing.
pub fn time_offsets<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> Vec<u64> {
    let mut offsets = Vec::new();
    let mut offset = 0u64;
    for trace in traces {
        offsets.push(offset);
        let end = trace.events.iter().map(|o| offset.saturating_add(o.time.0)).fold(offset, u64::max);
        offset = end.saturating_add(GAP_US);
    }
    offsets
}

/// Several traces (the runs of a suite) as one trace of the whole run, laid out as
/// [`time_offsets`] says.
pub fn concat<'a>(traces: impl IntoIterator<Item = &'a Trace> + Clone) -> Trace {
    let mut all = Trace::default();
    for (trace, offset) in traces.clone().into_iter().zip(time_offsets(traces)) {
        for o in &trace.events {
            all.push(Instant(o.time.0.saturating_add(offset)), o.packet.clone());
        }
    }
    all
}

/// Several runs, each a name and its trace, as one pcapng file with one section per run
/// ([`PcapngWriter`]): the section header's comment is `imcpm run: NAME`, and the runs are
/// laid out in time as [`time_offsets`] says (timestamps from 1970-01-01, as the simulated
/// clock starts at 0), so that the file's timestamps keep increasing across sections.
pub fn write_runs_pcapng<W: Write>(runs: &[(String, &Trace)], w: W) -> io::Result<W> {
    let offsets = time_offsets(runs.iter().map(|(_, t)| *t));
    let mut out = PcapngWriter::new(w, 0);
    for ((name, trace), offset) in runs.iter().zip(offsets) {
        out.section(Some(&format!("{RUN_COMMENT_PREFIX}{name}")), trace, offset)?;
    }
    out.finish()
}

/// What the section comment of each run starts with in [`write_runs_pcapng`].
pub const RUN_COMMENT_PREFIX: &str = "imcpm run: ";

/// [`write_runs_pcapng`] to a file at `path` (created or truncated).
pub fn write_runs_pcapng_file(path: &Path, runs: &[(String, &Trace)]) -> io::Result<()> {
    let f = io::BufWriter::new(std::fs::File::create(path)?);
    write_runs_pcapng(runs, f)?;
    Ok(())
}

/// Write `trace` as a pcapng file at `path` (created or truncated): one section.
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
        assert_eq!(time_offsets([&a, &Trace::default(), &b]), [0, 7 + GAP_US, 7 + 2 * GAP_US]);
    }
}
