//! The capture reader: SIP messages out of pcap and pcapng files, for judging a capture with the
//! same oracle as a run.
//!
//! [`read_captures`] streams one or more files (never loading one whole) and hands every SIP
//! message to a sink, with where it was seen (file, 1-based frame number as Wireshark numbers
//! it, capture time) and a [`Packet`] (transport, sender, receiver, the message bytes). It
//! returns [`ReadStats`], which count everything that was not judged by reason
//! ([`NotJudged`]), and the first [`CaptureError`], if a file is truncated or corrupt: every
//! message read before the error has been delivered.
//!
//! The path of a frame:
//! 1. **Files** (`source`): pcap or pcapng, frame by frame; each file through a small
//!    reorder buffer (interfaces of one pcapng may interleave slightly out of time order), then
//!    a k-way merge of all files in timestamp order.
//! 2. **Link** (`link`): Ethernet (802.1Q/802.1ad), Linux SLL and SLL2, raw IPv4/IPv6,
//!    NULL and LOOP down to IP (etherparse).
//! 3. **Duplicates**: the same IP payload between the same addresses again within a small
//!    window (two interfaces of one pcapng, or one frame in two merged files) is counted once,
//!    as a duplicate, not as a retransmission.
//! 4. **Fragments** (`defrag`): IPv4 and IPv6 reassembly, bounded in count and age.
//! 5. **Transport**: UDP carries one SIP message per datagram (RFC 3261 §18.1.1,
//!    [`crate::sip::frame_datagram`]); TCP is reassembled per direction and framed by
//!    Content-Length (`tcp`, RFC 3261 §18.3).
//!
//! What is SIP: UDP or TCP to or from one of [`ReadOptions::sip_ports`] (5060 and 5080 by
//! default), or whose payload starts with a SIP start line (`METHOD uri SIP/2.0` or
//! `SIP/2.0 NNN`). TLS (ports in [`ReadOptions::tls_ports`], 5061 by default), SCTP, ESP and
//! everything else are counted, never dropped silently.
//!
//! Order: messages are delivered in capture-time order (`time_us` is that of the frame that
//! completed the message), ties in file and frame order. A message is held back while a TCP
//! stream waits for a hole to fill that could still give an earlier one, so memory grows with
//! the traffic of at most [`ReadOptions::tcp_gap_wait_us`]; within one file, timestamps out of
//! order by more than [`ReadOptions::reorder_frames`] frames are taken in file order.
//!
//! ```no_run
//! use imcpm::base::{Instant, Trace};
//! use imcpm::capture::{ReadOptions, read_captures};
//!
//! let mut trace = Trace::default();
//! let files = ["a.pcapng".into(), "b.pcap".into()];
//! let (stats, err) = read_captures(&files, &ReadOptions::default(), |m| trace.push(Instant(m.time_us), m.packet));
//! if let Some(e) = err {
//!     eprintln!("{e}"); // e.g. "b.pcap: truncated: the file ends inside frame 3"
//! }
//! println!("{} SIP messages; not judged: {:?}", stats.sip, stats.not_judged);
//! ```

use super::pipeline::run;
use crate::base::Packet;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

/// What the reader looks for, and its bounds. `ReadOptions::default()` suits most captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// UDP and TCP ports whose traffic is SIP whatever its content (either end). Traffic on
    /// other ports is SIP when its payload starts with a SIP start line. Default: 5060, 5080.
    pub sip_ports: Vec<u16>,
    /// Ports whose traffic is TLS (or DTLS): counted as [`NotJudged::Tls`]. Default: 5061.
    pub tls_ports: Vec<u16>,
    /// The same IP payload between the same addresses seen again within this many µs is a
    /// duplicate (0: no duplicate detection). Default: 2000.
    pub duplicate_window_us: u64,
    /// Frames held per file to put slightly out-of-order timestamps back in order (at least 1).
    /// Default: 64.
    pub reorder_frames: usize,
    /// Largest block of a file (pcap record, pcapng block), in bytes: a larger one is an error
    /// ([`CaptureError::BlockTooLarge`]). Default: 16 MiB.
    pub max_block_bytes: usize,
    /// Fragmented datagrams pending reassembly at once; the one idle longest is dropped
    /// beyond. Default: 1024.
    pub max_pending_datagrams: usize,
    /// A fragmented datagram is dropped this long (capture time, µs) after its last fragment.
    /// Default: 30 s.
    pub fragment_timeout_us: u64,
    /// A hole in a TCP stream is skipped this long (capture time, µs) after the first bytes
    /// past it arrived (sooner at FIN, RST, the per-direction bound or the end). Default: 3 s.
    pub tcp_gap_wait_us: u64,
    /// Bytes one TCP direction may hold waiting for a hole to fill. Default: 4 MiB.
    pub max_direction_bytes: usize,
    /// Bytes all TCP directions may hold together; the least recently active are evicted
    /// beyond. Default: 32 MiB.
    pub max_total_bytes: usize,
    /// TCP directions tracked at once. Default: 65536.
    pub max_directions: usize,
    /// Largest SIP message over TCP; a longer one is unframable. Default: 1 MiB.
    pub max_message_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            sip_ports: vec![5060, 5080],
            tls_ports: vec![5061],
            duplicate_window_us: 2_000,
            reorder_frames: 64,
            max_block_bytes: 16 << 20,
            max_pending_datagrams: 1024,
            fragment_timeout_us: 30_000_000,
            tcp_gap_wait_us: 3_000_000,
            max_direction_bytes: 4 << 20,
            max_total_bytes: 32 << 20,
            max_directions: 65_536,
            max_message_bytes: 1 << 20,
        }
    }
}

/// Frame comments kept in [`ReadStats::comments`].
pub const MAX_COMMENTS: usize = 10_000;

/// One SIP message found in the captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// Index of its file in the list given to [`read_captures`].
    pub file: usize,
    /// 1-based number of the frame that completed it, as Wireshark numbers frames (for a
    /// message over several TCP segments or IP fragments, the last one to arrive).
    pub frame: u64,
    /// Capture time of that frame, µs since the Unix epoch.
    pub time_us: u64,
    /// 0-based number of that frame's pcapng section in its file (0 for pcap).
    pub section: u32,
    /// That section's comment (empty when it has none, and for pcap).
    pub section_comment: std::sync::Arc<str>,
    /// Transport, sender, receiver and the bytes of exactly one message.
    pub packet: Packet,
}

/// Why something in a capture was not judged. Each is counted in [`ReadStats::not_judged`];
/// the unit is a frame unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum NotJudged {
    /// A link type the reader does not decode (its LINKTYPE_ number).
    #[error("link type {0} not supported")]
    UnknownLinkType(i32),
    /// A frame that carries no IP (ARP, LLC, ...).
    #[error("not IP")]
    NotIp,
    /// Headers that do not decode.
    #[error("undecodable headers")]
    Undecodable,
    /// Headers that do not decode because the frame was cut by the snap length.
    #[error("cut by the snap length")]
    CutBySnaplen,
    /// A packet record the reader cannot attribute (undeclared interface, obsolete block).
    #[error("unreadable packet record")]
    UnreadableRecord,
    /// TLS or DTLS (on one of [`ReadOptions::tls_ports`]).
    #[error("TLS")]
    Tls,
    /// SCTP.
    #[error("SCTP")]
    Sctp,
    /// IPsec ESP.
    #[error("ESP")]
    Esp,
    /// Another IP protocol (its number).
    #[error("IP protocol {0}")]
    IpProtocol(u8),
    /// UDP that is not SIP.
    #[error("UDP, not SIP")]
    NotSipUdp,
    /// TCP that is not SIP; on a SIP connection, a stretch of bytes dropped while looking for
    /// a SIP start line (unit: stretch).
    #[error("TCP, not SIP")]
    NotSipTcp,
    /// A TCP segment of a SIP connection without payload (handshake, ACK, FIN).
    #[error("TCP without payload")]
    TcpNoPayload,
    /// A UDP datagram of CR/LF only (RFC 5626 keep-alive).
    #[error("keep-alive")]
    KeepAlive,
    /// SIP that cannot be framed: a datagram whose Content-Length exceeds its body, a stream
    /// message without or with a bad Content-Length (unit: datagram or message).
    #[error("unframable SIP")]
    UnframableSip,
    /// A fragment inconsistent with the fragments before it.
    #[error("fragment rejected")]
    FragmentRejected,
    /// A fragmented datagram given up: incomplete at its timeout, evicted by the bound on
    /// pending datagrams, or at the end (unit: datagram).
    #[error("fragmented datagram incomplete")]
    FragmentDropped,
    /// A hole in a TCP stream that never filled (unit: hole); equal to [`ReadStats::gaps`].
    #[error("TCP gap")]
    TcpGap,
    /// A TCP direction evicted with bytes pending, to bound memory (unit: direction).
    #[error("TCP direction evicted")]
    TcpEvicted,
    /// A TCP direction that ended inside a message (unit: direction).
    #[error("TCP stream ends inside a message")]
    TcpIncomplete,
}

/// What reading the captures found besides the messages.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Frames read, all files together (duplicates included).
    pub frames: u64,
    /// Frames read per file, in the order given.
    pub frames_per_file: Vec<u64>,
    /// SIP messages delivered.
    pub sip: u64,
    /// What was not judged, by reason (see each [`NotJudged`] for its unit).
    pub not_judged: BTreeMap<NotJudged, u64>,
    /// Frames that repeated a packet already seen (the same IP payload between the same
    /// addresses within [`ReadOptions::duplicate_window_us`]): the same packet on another
    /// interface or in another file. A TCP retransmission that quick counts here too.
    pub duplicates: u64,
    /// TCP segments all of whose bytes had been seen before.
    pub retransmissions: u64,
    /// Holes in TCP streams that were skipped.
    pub gaps: u64,
    /// Comments in the files: (file index, frame number, text); frame 0 for a comment on the
    /// file itself (pcapng section header: [`ReadStats::sections`] tells which frames that
    /// section holds). Sorted by file and frame.
    pub comments: Vec<(usize, u64, String)>,
    /// Frame comments beyond the first [`MAX_COMMENTS`], counted and not kept.
    pub comments_not_kept: u64,
    /// The pcapng sections of every file, in file order then file order of their headers:
    /// where each starts, how many frames it holds, its comment. A file of `imcpm run --pcap`
    /// has one section per run, commented `imcpm run: SCENARIO LLEVEL`
    /// ([`crate::capture::write_runs_pcapng`]). A pcap file has none. See
    /// [`ReadStats::section_of`].
    pub sections: Vec<Section>,
    /// Errors in files after the first (which [`read_captures`] returns): each stops its own
    /// file only.
    pub later_errors: Vec<CaptureError>,
}

/// One section of a pcapng file (draft-ietf-opsawg-pcapng §4.1: a Section Header Block and
/// the blocks after it up to the next one), as [`ReadStats::sections`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Index of its file in the list given.
    pub file: usize,
    /// Number of its first frame, counted over the whole file as [`SipMessage::frame`] is (and
    /// as Wireshark numbers frames across sections); for a section without packet records, the
    /// number the next frame of the file has.
    pub first_frame: u64,
    /// Packet records read in it (those before an error, when the file fails inside it).
    pub frames: u64,
    /// Its header's comments (`opt_comment`), joined by a line feed; empty when it has none.
    pub comment: String,
}

impl Section {
    /// Whether frame `frame` of file `file` is in this section.
    pub fn holds(&self, file: usize, frame: u64) -> bool {
        file == self.file && frame >= self.first_frame && frame - self.first_frame < self.frames
    }
}

impl ReadStats {
    /// The section that holds frame `frame` of file `file` (e.g. a [`SipMessage`]'s), if that
    /// file is a pcapng file.
    pub fn section_of(&self, file: usize, frame: u64) -> Option<&Section> {
        self.sections.iter().find(|s| s.holds(file, frame))
    }

    pub(super) fn count(&mut self, why: NotJudged, n: u64) {
        if n > 0 {
            *self.not_judged.entry(why).or_default() += n;
        }
    }
}

/// A file that cannot be read to its end. Each names the file (its index in the list given
/// and its path) and where it failed: `frame` is the 1-based number of the frame being read
/// (the frames before it were delivered), 0 for the file header.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file cannot be opened.
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        /// File index.
        file: usize,
        /// File path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty or neither pcap nor pcapng.
    #[error("{}: not a pcap or pcapng file ({detail})", path.display())]
    NotACapture {
        /// File index.
        file: usize,
        /// File path.
        path: PathBuf,
        /// What the reader found.
        detail: String,
    },
    /// The file ends inside a block.
    #[error("{}: truncated: the file ends inside frame {frame}", path.display())]
    Truncated {
        /// File index.
        file: usize,
        /// File path.
        path: PathBuf,
        /// The frame being read.
        frame: u64,
    },
    /// A block does not parse.
    #[error("{}: corrupt at frame {frame}: {detail}", path.display())]
    Corrupt {
        /// File index.
        file: usize,
        /// File path.
        path: PathBuf,
        /// The frame being read.
        frame: u64,
        /// What is wrong.
        detail: String,
    },
    /// A block is larger than [`ReadOptions::max_block_bytes`] (usually a corrupt length).
    #[error("{}: block at frame {frame} larger than {limit} bytes", path.display())]
    BlockTooLarge {
        /// File index.
        file: usize,
        /// File path.
        path: PathBuf,
        /// The frame being read.
        frame: u64,
        /// The bound.
        limit: usize,
    },
    /// Reading the file failed.
    #[error("{}: read error at frame {frame}", path.display())]
    Read {
        /// File index.
        file: usize,
        /// File path.
        path: PathBuf,
        /// The frame being read.
        frame: u64,
    },
}

impl CaptureError {
    /// Index of the file in the list given.
    pub fn file(&self) -> usize {
        match self {
            CaptureError::Open { file, .. }
            | CaptureError::NotACapture { file, .. }
            | CaptureError::Truncated { file, .. }
            | CaptureError::Corrupt { file, .. }
            | CaptureError::BlockTooLarge { file, .. }
            | CaptureError::Read { file, .. } => *file,
        }
    }
    /// Path of the file.
    pub fn path(&self) -> &std::path::Path {
        match self {
            CaptureError::Open { path, .. }
            | CaptureError::NotACapture { path, .. }
            | CaptureError::Truncated { path, .. }
            | CaptureError::Corrupt { path, .. }
            | CaptureError::BlockTooLarge { path, .. }
            | CaptureError::Read { path, .. } => path,
        }
    }
    /// The frame being read when it failed (0: the file header, or the file did not open).
    pub fn frame(&self) -> u64 {
        match self {
            CaptureError::Open { .. } | CaptureError::NotACapture { .. } => 0,
            CaptureError::Truncated { frame, .. }
            | CaptureError::Corrupt { frame, .. }
            | CaptureError::BlockTooLarge { frame, .. }
            | CaptureError::Read { frame, .. } => *frame,
        }
    }
}

/// Read the capture files `paths` (pcap or pcapng, any mix), merged in timestamp order, and
/// hand every SIP message to `sink`. Returns the statistics and the first error; a file that
/// fails stops there (what it held before is delivered) while the others are read to the end.
pub fn read_captures(
    paths: &[PathBuf],
    opts: &ReadOptions,
    sink: impl FnMut(SipMessage),
) -> (ReadStats, Option<CaptureError>) {
    let mut inputs: Vec<(PathBuf, Option<Box<dyn Read + Send>>)> = Vec::new();
    let mut errors = Vec::new();
    for (file, path) in paths.iter().enumerate() {
        match std::fs::File::open(path) {
            Ok(f) => inputs.push((path.clone(), Some(Box::new(f)))),
            Err(source) => {
                errors.push(CaptureError::Open { file, path: path.clone(), source });
                inputs.push((path.clone(), None));
            }
        }
    }
    run(inputs, errors, opts, sink)
}

/// [`read_captures`] over readers instead of files (standard input, memory); `PathBuf` is the
/// name used in errors. File indices are positions in `inputs`.
pub fn read_streams(
    inputs: Vec<(PathBuf, Box<dyn Read + Send>)>,
    opts: &ReadOptions,
    sink: impl FnMut(SipMessage),
) -> (ReadStats, Option<CaptureError>) {
    run(inputs.into_iter().map(|(p, r)| (p, Some(r))).collect(), Vec::new(), opts, sink)
}
