//! Judging captures: the SIP messages of one or more pcap/pcapng files (the capture reader,
//! [`crate::capture::read_captures`]) become a [`Trace`], which the same oracle as every other
//! command judges ([`check_trace`]) as an incomplete trace: what the capture does not show is
//! INCONCLUSIVE, never a PASS or a FAIL. The IM server is told by its addresses (`--sut`);
//! packets to it are ingress, packets from it egress.
//!
//! Results are keyed by capture file and dialog (Call-ID) in place of a scenario, and findings
//! point at the capture's own frame numbers (1-based, as Wireshark numbers them).

use crate::base::{ClientKind, Instant, Level, Role, Trace};
use crate::capture::{CaptureError, ReadOptions, ReadStats, read_captures};
use crate::interop::finding::Finding;
use crate::interop::rules::ReqId;
use crate::interop::verify::{TraceContext, check_trace};
use crate::report::{self, ResultItem};
use crate::sip::Message;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Which address of a capture is the IM server: a host (any port) or a host and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SutAddr {
    /// Every port of this host.
    Host(IpAddr),
    /// This address only.
    Addr(SocketAddr),
}

impl std::str::FromStr for SutAddr {
    type Err = String;
    /// `HOST` or `HOST:PORT`; an IPv6 host in brackets (`[2001:db8::1]:5060`) or bare.
    fn from_str(s: &str) -> Result<SutAddr, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(SutAddr::Addr(a));
        }
        let host = s.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(s);
        host.parse::<IpAddr>().map(SutAddr::Host).map_err(|_| {
            format!("{s:?} is not an IP address with an optional port (192.0.2.1, 192.0.2.1:5060, [2001:db8::1]:5060)")
        })
    }
}

/// What to judge and how.
#[derive(Debug, Clone)]
pub struct CaptureJob {
    /// The capture files, merged in time order.
    pub files: Vec<PathBuf>,
    /// The IM server's addresses.
    pub sut: Vec<SutAddr>,
    /// Its interop level (a capture cannot tell: docs/decisions.md D14).
    pub level: Level,
    /// Domains it serves (terminating when the Request-URI is in one; D13's last resort).
    pub domains: Vec<String>,
    /// Client kinds of local users, from a users file (third-party REGISTERs add to them).
    pub users: BTreeMap<String, ClientKind>,
    /// Reader options (extra SIP ports, bounds).
    pub read: ReadOptions,
}

/// Where a trace message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Index into [`CaptureJob::files`].
    pub file: usize,
    /// 1-based frame number in that file.
    pub frame: u64,
}

/// The verdicts of a capture.
#[derive(Debug)]
pub struct CaptureVerdicts {
    /// Results, keyed by file and Call-ID (in `scenario`), in stable order.
    pub results: Vec<ResultItem>,
    /// What the reader counted, including what it could not judge.
    pub stats: ReadStats,
    /// The first truncated or corrupt file, if any: everything before it was judged.
    pub error: Option<CaptureError>,
    /// The SIP messages judged, in time order.
    pub trace: Trace,
    /// Where each trace message was seen.
    pub seen: Vec<Seen>,
    /// Requests entering the server that were paired and judged.
    pub pairs: usize,
}

impl CaptureVerdicts {
    /// Catalogue IDs the capture exercised (some finding names them) and those it never did.
    pub fn coverage(&self) -> (Vec<ReqId>, Vec<ReqId>) {
        let used: Vec<ReqId> =
            ReqId::ALL.iter().copied().filter(|id| self.results.iter().any(|r| r.requirement == *id)).collect();
        let not = ReqId::ALL.iter().copied().filter(|id| !used.contains(id)).collect();
        (used, not)
    }
}

/// Judge the capture files of `job`. A file of several pcapng sections (such as `imcpm run
/// --pcap` writes, one per scenario and level) is judged section by section, each on its own:
/// a section whose comment names a level (`imcpm run: t1/pager L2`) is judged at that level.
pub fn judge_captures(job: &CaptureJob) -> CaptureVerdicts {
    let mut trace = Trace::default();
    let mut seen = Vec::new();
    let (stats, error) = read_captures(&job.files, &job.read, |m| {
        seen.push(Seen { file: m.file, frame: m.frame });
        trace.push(Instant(m.time_us), m.packet);
    });
    let name = |i: usize| {
        job.files
            .get(i)
            .and_then(|p| p.file_name())
            .map_or_else(|| format!("file {i}"), |n| n.to_string_lossy().into_owned())
    };
    // The parts judged on their own: each section when there are several, else everything.
    let mut parts: Vec<(String, Level, Vec<usize>)> = Vec::new();
    if stats.sections.len() > 1 {
        for (n, sec) in stats.sections.iter().enumerate() {
            let idx: Vec<usize> = (0..seen.len())
                .filter(|&i| sec.file == seen[i].file && sec.holds(seen[i].file, seen[i].frame))
                .collect();
            let label =
                if sec.comment.is_empty() { format!("section {}", n + 1) } else { sec.comment.replace('\n', " ") };
            parts.push((
                format!("{} [{label}]", name(sec.file)),
                section_level(&sec.comment).unwrap_or(job.level),
                idx,
            ));
        }
    } else {
        let files: Vec<String> = (0..job.files.len()).map(name).collect();
        parts.push((files.join(" + "), job.level, (0..seen.len()).collect()));
    }
    let mut results = Vec::new();
    let mut pairs = 0;
    for (label, level, idx) in parts {
        let mut sub = Trace::default();
        for &i in &idx {
            sub.push(trace.events[i].time, trace.events[i].packet.clone());
        }
        let ctx = TraceContext {
            level,
            sut: job.sut.iter().filter_map(|s| if let SutAddr::Addr(a) = s { Some(*a) } else { None }).collect(),
            sut_hosts: job.sut.iter().filter_map(|s| if let SutAddr::Host(h) = s { Some(*h) } else { None }).collect(),
            role: Role::Proxy,
            domains: job.domains.clone(),
            users: job.users.clone(),
            complete: false,
        };
        let report = check_trace(&ctx, &sub);
        pairs += report.pairs.len();
        // Findings by key (part, file and Call-ID of the message they point at), at frames.
        let mut by_key: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        for mut f in report.findings {
            let key = match f.location.message.and_then(|k| idx.get(k).copied()) {
                Some(i) => {
                    f.location.message = usize::try_from(seen[i].frame).ok();
                    let call = Message::parse(trace.events[i].packet.bytes.clone())
                        .ok()
                        .and_then(|m| m.call_id().map(|c| c.into_owned()))
                        .unwrap_or_else(|| "(no Call-ID)".into());
                    let file = name(seen[i].file);
                    if label.starts_with(&file) { format!("{label} {call}") } else { format!("{file} {call}") }
                }
                None => label.clone(),
            };
            by_key.entry(key).or_default().push(f);
        }
        results.extend(by_key.iter().flat_map(|(k, fs)| report::group(k, level, fs)));
    }
    CaptureVerdicts { results, stats, error, trace, seen, pairs }
}

/// The level a section's comment names, as `imcpm run --pcap` writes it (`... L1` / `... L2`).
fn section_level(comment: &str) -> Option<Level> {
    let rest = comment.strip_prefix(crate::capture::RUN_COMMENT_PREFIX)?;
    match rest.rsplit(' ').next()? {
        "L1" => Some(Level::One),
        "L2" => Some(Level::Two),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sut_addresses_parse() {
        assert_eq!("192.0.2.1".parse(), Ok(SutAddr::Host("192.0.2.1".parse().unwrap())));
        assert_eq!("192.0.2.1:5070".parse(), Ok(SutAddr::Addr("192.0.2.1:5070".parse().unwrap())));
        assert_eq!("[2001:db8::1]:5060".parse(), Ok(SutAddr::Addr("[2001:db8::1]:5060".parse().unwrap())));
        assert_eq!("2001:db8::1".parse(), Ok(SutAddr::Host("2001:db8::1".parse().unwrap())));
        assert!("imserver.example.net".parse::<SutAddr>().is_err());
    }
}
