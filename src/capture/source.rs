//! One capture file read as a stream of frames: pcap (both byte orders, microsecond and
//! nanosecond timestamps) and pcapng (several sections, each with its comment and first frame,
//! several interfaces each with its own link type, timestamp resolution `if_tsresol` and offset
//! `if_tsoffset`, packet comments), through `pcap-parser`'s streaming readers. The file is never
//! loaded whole: the reader keeps one circular buffer, grown (within a bound) only when a
//! single block does not fit.
//!
//! Formats: the libpcap file format and pcapng (IETF draft-ietf-opsawg-pcap and
//! draft-ietf-opsawg-pcapng). Frames are numbered from 1 over the packet records (pcap records,
//! pcapng Enhanced, Simple and obsolete Packet Blocks), as Wireshark numbers them.

use super::read::{CaptureError, Section};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, OptionCode, PcapBlockOwned, PcapError, PcapNGOption};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Initial capacity of a file's read buffer.
const INITIAL_BUFFER: usize = 64 * 1024;

/// pcapng Obsolete Packet Block type (still counted as a frame, as Wireshark does).
const OPB_TYPE: u32 = 2;

/// What a frame holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameData {
    /// A packet of the given link type (pcap `LINKTYPE_*` number).
    Packet {
        /// The link type of the frame's interface.
        linktype: i32,
        /// The captured bytes.
        bytes: Vec<u8>,
        /// Fewer bytes were captured than were on the wire (snap length).
        cut: bool,
    },
    /// A packet record that cannot be decoded: its reason.
    Unreadable(&'static str),
}

/// One frame of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawFrame {
    /// Index of the file in the list given.
    pub(crate) file: usize,
    /// 1-based frame number in that file.
    pub(crate) frame: u64,
    /// Nanoseconds since the Unix epoch.
    pub(crate) time_ns: u64,
    /// pcapng interface ID (0 for pcap).
    pub(crate) interface: u32,
    /// The packet.
    pub(crate) data: FrameData,
    /// The frame's comments (pcapng `opt_comment`).
    pub(crate) comments: Vec<String>,
    /// 0-based number of its pcapng section in the file (0 for pcap), and that section's
    /// comment (empty when none).
    pub(crate) section: (u32, Arc<str>),
}

/// One pcapng interface (or the pcap file's single link).
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: i32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp.
    offset_s: i64,
}

/// The reader's knowledge besides the buffer.
#[derive(Debug, Default)]
struct State {
    /// Interfaces of the current pcapng section, or the pcap file's link as interface 0.
    interfaces: Vec<Interface>,
    /// Packet records read so far.
    frames: u64,
    /// Time of the last timestamped frame (for Simple Packet Blocks, which have none).
    last_ns: u64,
    /// File-level comments (section headers), to be collected with frame 0.
    file_comments: Vec<String>,
    /// Sections begun so far: first frame and comment (pcapng only).
    sections: Vec<(u64, String)>,
    /// The current section: its 0-based number and comment.
    section: (u32, Arc<str>),
    /// pcapng: the current section's byte order (true: big-endian), once its header is read.
    ng_big_endian: Option<bool>,
}

/// A capture file read frame by frame.
pub(crate) struct FileSource {
    file: usize,
    path: PathBuf,
    reader: Box<dyn PcapReaderIterator + Send>,
    capacity: usize,
    max_block: usize,
    state: State,
    done: bool,
}

/// `PcapError` as text, for the error message.
fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("unparseable block ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("unparseable block ({kind:?})"),
        other => format!("{other}"),
    }
}

fn comments(options: &[PcapNGOption<'_>]) -> Vec<String> {
    options
        .iter()
        .filter(|o| o.code == OptionCode::Comment)
        .map(|o| String::from_utf8_lossy(o.value()).trim_end_matches('\0').to_string())
        .collect()
}

/// Nanoseconds for `ts` units at `units` per second plus `offset_s` seconds; saturating, and
/// 0 for times before the epoch.
fn to_ns(ts: u64, units: u64, offset_s: i64) -> u64 {
    let units = u128::from(units.max(1));
    let ns = u128::from(ts) / units * 1_000_000_000 + u128::from(ts) % units * 1_000_000_000 / units;
    let ns = ns as i128 + i128::from(offset_s) * 1_000_000_000;
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

impl FileSource {
    /// Open `input` (named `path` in errors) as file number `file`.
    pub(crate) fn new(
        file: usize,
        path: &Path,
        input: Box<dyn Read + Send>,
        max_block: usize,
    ) -> Result<FileSource, CaptureError> {
        let path = path.to_path_buf();
        // `create_reader` looks at what one `read` returns: hand it a whole first buffer even
        // from a reader that returns a few bytes at a time (a pipe).
        let mut input = input;
        let mut head = Vec::with_capacity(INITIAL_BUFFER);
        if (&mut input).take(INITIAL_BUFFER as u64).read_to_end(&mut head).is_err() {
            return Err(CaptureError::Read { file, path, frame: 0 });
        }
        let input = std::io::Cursor::new(head).chain(input);
        let reader = pcap_parser::create_reader(INITIAL_BUFFER, input).map_err(|e| match e {
            PcapError::Eof => CaptureError::NotACapture { file, path: path.clone(), detail: "empty file".into() },
            PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                CaptureError::Truncated { file, path: path.clone(), frame: 0 }
            }
            PcapError::ReadError => CaptureError::Read { file, path: path.clone(), frame: 0 },
            e => CaptureError::NotACapture { file, path: path.clone(), detail: describe(&e) },
        })?;
        Ok(FileSource {
            file,
            path,
            reader,
            capacity: INITIAL_BUFFER,
            max_block: max_block.max(INITIAL_BUFFER),
            state: State::default(),
            done: false,
        })
    }

    /// Packet records read so far.
    pub(crate) fn frames(&self) -> u64 {
        self.state.frames
    }

    /// Comments of the file itself (pcapng section headers) read so far, handed out once.
    pub(crate) fn take_file_comments(&mut self) -> Vec<String> {
        std::mem::take(&mut self.state.file_comments)
    }

    /// The file's sections read so far (pcapng; none for pcap), each with its frame count up
    /// to the frames read so far, handed out once.
    pub(crate) fn take_sections(&mut self) -> Vec<Section> {
        let sections = std::mem::take(&mut self.state.sections);
        let ends: Vec<u64> = sections.iter().skip(1).map(|(first, _)| *first).chain([self.state.frames + 1]).collect();
        sections
            .into_iter()
            .zip(ends)
            .map(|((first_frame, comment), end)| Section {
                file: self.file,
                first_frame,
                frames: end.saturating_sub(first_frame),
                comment,
            })
            .collect()
    }

    fn error(&self, make: impl FnOnce(usize, PathBuf, u64) -> CaptureError) -> CaptureError {
        make(self.file, self.path.clone(), self.state.frames + 1)
    }

    /// The next frame, `None` at the end of the file. After an error, always `None`.
    pub(crate) fn next_frame(&mut self) -> Result<Option<RawFrame>, CaptureError> {
        while !self.done {
            if let Some(detail) = short_block(&self.state, self.reader.data()) {
                return Err(self.fail(Failure::Corrupt(detail)));
            }
            let step = match self.reader.next() {
                Ok((offset, block)) => {
                    let out = handle_block(&mut self.state, self.file, block);
                    Step::Consume(offset, out)
                }
                Err(PcapError::Eof) => Step::End,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Fail(Failure::Truncated),
                Err(PcapError::ReadError) => Step::Fail(Failure::Read),
                Err(e) => Step::Fail(Failure::Corrupt(describe(&e))),
            };
            match step {
                Step::Consume(offset, out) => {
                    self.reader.consume(offset);
                    match out {
                        Ok(Some(frame)) => return Ok(Some(frame)),
                        Ok(None) => {}
                        Err(detail) => return Err(self.fail(Failure::Corrupt(detail))),
                    }
                }
                Step::End => self.done = true,
                Step::Refill => self.refill()?,
                Step::Grow => self.grow()?,
                Step::Fail(f) => return Err(self.fail(f)),
            }
        }
        Ok(None)
    }

    fn fail(&mut self, f: Failure) -> CaptureError {
        self.done = true;
        match f {
            Failure::Truncated => self.error(|file, path, frame| CaptureError::Truncated { file, path, frame }),
            Failure::Read => self.error(|file, path, frame| CaptureError::Read { file, path, frame }),
            Failure::Corrupt(detail) => {
                self.error(|file, path, frame| CaptureError::Corrupt { file, path, frame, detail })
            }
            Failure::TooLarge => {
                let limit = self.max_block;
                self.error(|file, path, frame| CaptureError::BlockTooLarge { file, path, frame, limit })
            }
        }
    }

    /// Refill the buffer; a refill that adds nothing while the reader is not exhausted (the
    /// buffer is full of one incomplete block) grows the buffer instead, so that `Incomplete`
    /// can never repeat forever.
    fn refill(&mut self) -> Result<(), CaptureError> {
        let before = self.reader.data().len();
        if let Err(e) = self.reader.refill() {
            let f = match e {
                PcapError::ReadError => Failure::Read,
                e => Failure::Corrupt(describe(&e)),
            };
            return Err(self.fail(f));
        }
        if self.reader.data().len() <= before && !self.reader.reader_exhausted() {
            return self.grow();
        }
        Ok(())
    }

    /// Double the buffer, up to the bound on one block.
    fn grow(&mut self) -> Result<(), CaptureError> {
        if self.capacity >= self.max_block {
            return Err(self.fail(Failure::TooLarge));
        }
        let new = (self.capacity * 2).min(self.max_block);
        if !self.reader.grow(new) {
            return Err(self.fail(Failure::TooLarge));
        }
        self.capacity = new;
        // Fill the new space now: the next `next()` then sees more bytes or the end.
        let before = self.reader.data().len();
        if let Err(e) = self.reader.refill() {
            let f = match e {
                PcapError::ReadError => Failure::Read,
                e => Failure::Corrupt(describe(&e)),
            };
            return Err(self.fail(f));
        }
        if self.reader.data().len() <= before && !self.reader.reader_exhausted() {
            return Err(self.fail(Failure::TooLarge));
        }
        Ok(())
    }
}

/// A pcapng block (other than a section header) whose total length is below the 12 bytes
/// every block has (type, length, trailing length). pcap-parser 0.17 subtracts 12 from some
/// such lengths unchecked (a Process Information Block of length 8 overflows: a panic where
/// overflow is checked, a huge length where not), so the reader rejects them first.
fn short_block(st: &State, data: &[u8]) -> Option<String> {
    let be = st.ng_big_endian?;
    let word = |b: &[u8]| {
        let w: [u8; 4] = b.try_into().ok()?;
        Some(if be { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) })
    };
    let kind = word(data.get(0..4)?)?;
    let len = word(data.get(4..8)?)?;
    (kind != 0x0A0D_0D0A && len < 12)
        .then(|| format!("pcapng block of type 0x{kind:08x} with a total length of {len} (at least 12)"))
}

enum Failure {
    Truncated,
    Read,
    Corrupt(String),
    TooLarge,
}

enum Step {
    Consume(usize, Result<Option<RawFrame>, String>),
    End,
    Refill,
    Grow,
    Fail(Failure),
}

/// Take what matters from one block: interfaces, comments, frames.
fn handle_block(st: &mut State, file: usize, block: PcapBlockOwned<'_>) -> Result<Option<RawFrame>, String> {
    match block {
        PcapBlockOwned::LegacyHeader(h) => {
            let units = if h.is_nanosecond_precision() { 1_000_000_000 } else { 1_000_000 };
            st.interfaces = vec![Interface { linktype: h.network.0, units, offset_s: 0 }];
            Ok(None)
        }
        PcapBlockOwned::Legacy(b) => {
            st.frames += 1;
            let iface = st.interfaces.first().copied();
            let Some(iface) = iface else { return Err("pcap record before the file header".into()) };
            let sub = if iface.units == 1_000_000_000 { u64::from(b.ts_usec) } else { u64::from(b.ts_usec) * 1000 };
            let time_ns = to_ns(u64::from(b.ts_sec), 1, 0).saturating_add(sub);
            st.last_ns = time_ns;
            Ok(Some(RawFrame {
                file,
                frame: st.frames,
                time_ns,
                interface: 0,
                data: FrameData::Packet { linktype: iface.linktype, bytes: b.data.to_vec(), cut: b.caplen < b.origlen },
                comments: Vec::new(),
                section: st.section.clone(),
            }))
        }
        PcapBlockOwned::NG(block) => handle_ng(st, file, block),
    }
}

fn handle_ng(st: &mut State, file: usize, block: Block<'_>) -> Result<Option<RawFrame>, String> {
    match block {
        Block::SectionHeader(shb) => {
            st.interfaces.clear();
            st.ng_big_endian = Some(shb.big_endian());
            let texts = comments(&shb.options);
            st.section = (u32::try_from(st.sections.len()).unwrap_or(u32::MAX), Arc::from(texts.join("\n")));
            st.sections.push((st.frames + 1, texts.join("\n")));
            st.file_comments.extend(texts);
            Ok(None)
        }
        Block::InterfaceDescription(idb) => {
            let Some(units) = idb.ts_resolution() else {
                return Err(format!("interface {} has an invalid if_tsresol {}", st.interfaces.len(), idb.if_tsresol));
            };
            st.interfaces.push(Interface { linktype: idb.linktype.0, units, offset_s: idb.if_tsoffset });
            Ok(None)
        }
        Block::EnhancedPacket(epb) => {
            st.frames += 1;
            let Some(iface) = st.interfaces.get(epb.if_id as usize).copied() else {
                return Ok(Some(unreadable(st, file, epb.if_id, "packet on an undeclared interface")));
            };
            let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            let time_ns = to_ns(ts, iface.units, iface.offset_s);
            st.last_ns = time_ns;
            let caplen = (epb.caplen as usize).min(epb.data.len());
            Ok(Some(RawFrame {
                file,
                frame: st.frames,
                time_ns,
                interface: epb.if_id,
                data: FrameData::Packet {
                    linktype: iface.linktype,
                    bytes: epb.data[..caplen].to_vec(),
                    cut: epb.caplen < epb.origlen,
                },
                comments: comments(&epb.options),
                section: st.section.clone(),
            }))
        }
        Block::SimplePacket(spb) => {
            st.frames += 1;
            let Some(iface) = st.interfaces.first().copied() else {
                return Ok(Some(unreadable(st, file, 0, "packet on an undeclared interface")));
            };
            // No timestamp: the time of the frame before it.
            let len = (spb.origlen as usize).min(spb.data.len());
            Ok(Some(RawFrame {
                file,
                frame: st.frames,
                time_ns: st.last_ns,
                interface: 0,
                data: FrameData::Packet {
                    linktype: iface.linktype,
                    bytes: spb.data[..len].to_vec(),
                    cut: (spb.origlen as usize) > spb.data.len(),
                },
                comments: Vec::new(),
                section: st.section.clone(),
            }))
        }
        Block::Unknown(u) if u.block_type == OPB_TYPE => {
            st.frames += 1;
            Ok(Some(unreadable(st, file, 0, "obsolete pcapng Packet Block")))
        }
        _ => Ok(None),
    }
}

fn unreadable(st: &State, file: usize, interface: u32, why: &'static str) -> RawFrame {
    RawFrame {
        file,
        frame: st.frames,
        time_ns: st.last_ns,
        interface,
        data: FrameData::Unreadable(why),
        comments: Vec::new(),
        section: st.section.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{Instant, Packet, Trace, Transport};
    use std::io::Cursor;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A pcapng of `n` UDP SIP datagrams of `body` bytes each, written by our writer.
    fn capture(n: usize, body: usize) -> Vec<u8> {
        let mut t = Trace::default();
        for i in 0..n {
            let mut m = format!("MESSAGE sip:b@x SIP/2.0\r\nContent-Length: {body}\r\n\r\n").into_bytes();
            m.resize(m.len() + body, b'z');
            let (a, b) = ("[2001:db8::1]:5060".parse().unwrap(), "[2001:db8::2]:5060".parse().unwrap());
            t.push(Instant(i as u64), Packet::new(Transport::Udp, a, b, m));
        }
        let mut v = Vec::new();
        crate::capture::write_pcapng(&t, &mut v).unwrap();
        v
    }

    /// A reader handing out at most `step` bytes per call.
    struct Trickle(Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    /// Read every frame of `bytes` in another thread; fails the test if it does not end.
    fn read_all(bytes: Vec<u8>, step: usize, max_block: usize) -> (u64, Option<CaptureError>) {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let input = Box::new(Trickle(Cursor::new(bytes), step));
            let result = match FileSource::new(0, Path::new("mem.pcapng"), input, max_block) {
                Err(e) => (0, Some(e)),
                Ok(mut src) => loop {
                    match src.next_frame() {
                        Ok(Some(_)) => {}
                        Ok(None) => break (src.frames(), None),
                        Err(e) => break (src.frames(), Some(e)),
                    }
                },
            };
            let _ = tx.send(result);
        });
        rx.recv_timeout(Duration::from_secs(20)).expect("the reader loops forever")
    }

    #[test]
    fn a_last_block_cut_anywhere_ends_in_an_error_not_a_loop() {
        let whole = capture(3, 40);
        let (frames, err) = read_all(whole.clone(), usize::MAX, 1 << 20);
        assert_eq!((frames, err.is_none()), (3, true));
        // The same header blocks and two packet blocks of the same size: the third one starts
        // where a capture of two ends.
        let last_start = capture(2, 40).len();
        for cut in last_start + 1..whole.len() {
            for step in [usize::MAX, 7] {
                let (frames, err) = read_all(whole[..cut].to_vec(), step, 1 << 20);
                assert_eq!(frames, 2, "cut at {cut} step {step}: {err:?}");
                assert!(matches!(err, Some(CaptureError::Truncated { frame: 3, .. })), "cut at {cut}: {err:?}");
            }
        }
    }

    #[test]
    fn every_cut_of_a_file_terminates() {
        let whole = capture(2, 10);
        let mut boundaries = vec![];
        let mut at = 0;
        while at < whole.len() {
            at += u32::from_le_bytes(whole[at + 4..at + 8].try_into().unwrap()) as usize;
            boundaries.push(at);
        }
        for cut in 0..whole.len() {
            let (_, err) = read_all(whole[..cut].to_vec(), 5, 1 << 20);
            assert_eq!(err.is_none(), boundaries.contains(&cut), "cut at {cut}: {err:?}");
        }
    }

    #[test]
    fn a_block_larger_than_the_buffer_grows_it_within_the_bound() {
        // One IPv6 datagram of 65 527 bytes: its block exceeds the initial 64 KiB buffer.
        let big = capture(1, 65_450);
        assert!(big.len() > INITIAL_BUFFER);
        for step in [usize::MAX, 1000] {
            let (frames, err) = read_all(big.clone(), step, 1 << 20);
            assert_eq!((frames, err.is_none()), (1, true), "{err:?}");
        }
        let (frames, err) = read_all(big, usize::MAX, INITIAL_BUFFER);
        assert_eq!(frames, 0);
        assert!(matches!(err, Some(CaptureError::BlockTooLarge { frame: 1, .. })), "{err:?}");
    }

    #[test]
    fn a_corrupt_block_length_is_an_error() {
        let mut v = capture(2, 10);
        // The first packet block follows the section header and interface description blocks.
        let shb_len = u32::from_le_bytes(v[4..8].try_into().unwrap()) as usize;
        let idb_len = u32::from_le_bytes(v[shb_len + 4..shb_len + 8].try_into().unwrap()) as usize;
        let epb = shb_len + idb_len;
        v[epb + 4..epb + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        let (frames, err) = read_all(v.clone(), usize::MAX, 1 << 20);
        assert_eq!(frames, 0);
        assert!(err.is_some_and(|e| e.frame() == 1));
        v[epb + 4..epb + 8].copy_from_slice(&3u32.to_le_bytes());
        let (_, err) = read_all(v, usize::MAX, 1 << 20);
        assert!(matches!(err, Some(CaptureError::Corrupt { frame: 1, .. })), "{err:?}");
        let (_, err) = read_all(b"not a capture at all, just text".to_vec(), usize::MAX, 1 << 20);
        assert!(matches!(err, Some(CaptureError::NotACapture { .. })), "{err:?}");
        let (_, err) = read_all(Vec::new(), usize::MAX, 1 << 20);
        assert!(matches!(err, Some(CaptureError::NotACapture { .. })), "{err:?}");
    }

    #[test]
    fn sections_count_their_frames_up_to_an_error() {
        let one = |n: u64| {
            let mut t = Trace::default();
            for i in 0..n {
                let (a, b) = ("192.0.2.1:5060".parse().unwrap(), "192.0.2.2:5060".parse().unwrap());
                t.push(Instant(i), Packet::new(Transport::Udp, a, b, b"OPTIONS sip:b@x SIP/2.0\r\n\r\n".to_vec()));
            }
            t
        };
        let mut w = crate::capture::PcapngWriter::new(Vec::new(), 0);
        w.section(Some("first"), &one(2), 0).unwrap();
        w.section(None, &one(0), 10).unwrap();
        w.section(Some("third"), &one(3), 20).unwrap();
        let mut bytes = w.finish().unwrap();
        bytes.truncate(bytes.len() - 1);
        let mut src = FileSource::new(4, Path::new("mem.pcapng"), Box::new(Cursor::new(bytes)), 1 << 20).unwrap();
        while let Ok(Some(_)) = src.next_frame() {}
        let got: Vec<(usize, u64, u64, String)> =
            src.take_sections().into_iter().map(|s| (s.file, s.first_frame, s.frames, s.comment)).collect();
        let want = [(4, 1, 2, "first"), (4, 3, 0, ""), (4, 3, 2, "third")].map(|(f, a, b, c)| (f, a, b, c.to_string()));
        assert_eq!(got, want);
        assert!(src.take_sections().is_empty(), "handed out once");
    }

    #[test]
    fn timestamps_in_any_resolution() {
        assert_eq!(to_ns(1_500_000, 1_000_000, 0), 1_500_000_000);
        assert_eq!(to_ns(1_500_000_001, 1_000_000_000, 0), 1_500_000_001);
        assert_eq!(to_ns(3, 1 << 1, 10), 11_500_000_000);
        assert_eq!(to_ns(1, 1, -5), 0);
        assert_eq!(to_ns(u64::MAX, 1, i64::MAX), u64::MAX);
    }
}
