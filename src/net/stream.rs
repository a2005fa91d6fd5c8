//! One TCP connection (RFC 3261 §18.3): a task that cuts the byte stream into messages with
//! [`check_stream`], answers RFC 5626 keep-alive pings, writes what the run loop queues, and
//! closes on a framing error, an oversized message, idleness, a write that makes no progress
//! or shutdown. An unfinished message holds at most `max_message + 1` bytes of buffer: reads
//! are sized so that the buffer never grows past that.

use super::tasks::{ConnId, Event, Stop};
use crate::sip::framing::{FramingError, StreamFrame, check_stream};
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// How much to read at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// No bytes either way for `tcp_idle`.
    Idle,
    /// A write made no progress for `tcp_idle` (the peer reads nothing).
    WriteStalled,
    /// The driver is shutting down.
    Shutdown,
    /// A message (or an unfinished one) exceeded `max_message`.
    TooLarge(usize),
    /// The stream could not be framed (e.g. no Content-Length, RFC 3261 §18.3).
    Framing(FramingError),
    /// A socket error.
    Io(std::io::Error),
    /// The run loop is gone.
    Detached,
}

impl CloseReason {
    /// True when the close points at a misbehaving peer (logged as a warning).
    pub(crate) fn is_error(&self) -> bool {
        matches!(
            self,
            CloseReason::TooLarge(_) | CloseReason::Framing(_) | CloseReason::Io(_) | CloseReason::WriteStalled
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("closed by peer"),
            CloseReason::Idle => f.write_str("idle"),
            CloseReason::WriteStalled => f.write_str("write stalled: the peer reads nothing"),
            CloseReason::Shutdown => f.write_str("shutdown"),
            CloseReason::TooLarge(max) => write!(f, "message larger than {max} bytes"),
            CloseReason::Framing(e) => write!(f, "framing error: {e}"),
            CloseReason::Io(e) => write!(f, "i/o error: {e}"),
            CloseReason::Detached => f.write_str("driver gone"),
        }
    }
}

/// Spots RFC 5626 pings (CRLF CRLF) in the CR/LF runs between messages, even when a ping is
/// split across reads.
#[derive(Debug, Default, Clone, Copy)]
struct PingDetector(usize);

impl PingDetector {
    const PING: &'static [u8; 4] = b"\r\n\r\n";

    /// Feed one keep-alive byte; true when it completes a ping.
    fn feed(&mut self, b: u8) -> bool {
        if b == Self::PING[self.0] {
            self.0 += 1;
            if self.0 == Self::PING.len() {
                self.0 = 0;
                return true;
            }
        } else {
            self.0 = usize::from(b == b'\r');
        }
        false
    }
}

/// What the front of the read buffer yielded.
#[derive(Debug, PartialEq, Eq)]
enum Cut {
    /// One whole message.
    Message(Vec<u8>),
    /// A ping was seen: answer with a single CRLF.
    Pong,
}

/// Cut every complete item off the front of `buf`. The items before a fatal error are still
/// returned; the error ends the connection.
fn cut(buf: &mut Vec<u8>, ping: &mut PingDetector, max: usize) -> (Vec<Cut>, Option<CloseReason>) {
    let mut out = Vec::new();
    let mut pos = 0;
    let fatal = loop {
        let rest = &buf[pos..];
        match check_stream(rest) {
            Ok(StreamFrame::KeepAlive(n)) => {
                out.extend(rest[..n].iter().filter(|&&b| ping.feed(b)).map(|_| Cut::Pong));
                pos += n;
            }
            Ok(StreamFrame::Message { start, end }) => {
                if end - start > max {
                    break Some(CloseReason::TooLarge(max));
                }
                *ping = PingDetector::default();
                out.push(Cut::Message(rest[start..end].to_vec()));
                pos += end;
            }
            Err(FramingError::Incomplete) if rest.len() > max => break Some(CloseReason::TooLarge(max)),
            Err(FramingError::Incomplete) => break None,
            Err(e) => break Some(CloseReason::Framing(e)),
        }
    };
    buf.drain(..pos);
    (out, fatal)
}

/// Read once into `buf`'s spare capacity (cancel-safe: bytes are only appended by a read that
/// completes, so a `select!` may drop it). `buf` holds at most `max` unframed bytes between
/// reads ([`cut`] fails past that); its capacity grows by doubling, from [`READ_CHUNK`], but
/// never past `max + 1`, one byte past the limit being enough to see it crossed. So an
/// unfinished message, however slowly it arrives, never holds more than `max + 1` bytes.
async fn read_some<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<usize> {
    let (len, cap) = (buf.len(), buf.capacity());
    if cap == len {
        let target = cap.saturating_mul(2).max(READ_CHUNK).min(max.saturating_add(1)).max(len + 1);
        buf.reserve_exact(target - len);
    }
    r.read_buf(buf).await
}

/// Limits a connection works under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// Largest message.
    pub max_message: usize,
    /// Close after this long without traffic, or when a write makes no progress this long.
    pub idle: Duration,
}

/// Everything a connection task owns.
pub(crate) struct ConnTask {
    pub id: ConnId,
    pub stream: TcpStream,
    pub out: mpsc::UnboundedReceiver<Vec<u8>>,
    pub events: mpsc::Sender<Event>,
    pub stop: Stop,
    pub limits: StreamLimits,
    /// Held for the connection's lifetime: counts against `max_connections`.
    pub permit: OwnedSemaphorePermit,
}

impl ConnTask {
    /// Serve the connection until it ends, then tell the run loop why.
    /// Packets the run loop queued but this task never wrote go back in the `Closed` event.
    pub(crate) async fn run(mut self) {
        let reason = self.serve().await;
        if matches!(reason, CloseReason::Shutdown) {
            self.flush().await;
        }
        let _ = self.stream.shutdown().await;
        drop(self.stream);
        drop(self.permit);
        self.out.close();
        let mut unsent = Vec::new();
        while let Ok(bytes) = self.out.try_recv() {
            unsent.push(bytes);
        }
        let _ = self.events.send(Event::Closed { id: self.id, reason, unsent }).await;
    }

    async fn serve(&mut self) -> CloseReason {
        let max = self.limits.max_message;
        let mut buf = Vec::with_capacity(READ_CHUNK.min(max.saturating_add(1)));
        let mut ping = PingDetector::default();
        let mut idle_at = tokio::time::Instant::now() + self.limits.idle;
        loop {
            tokio::select! {
                biased;
                _ = self.stop.stopped() => return CloseReason::Shutdown,
                msg = self.out.recv() => {
                    let Some(bytes) = msg else { return CloseReason::Detached };
                    if let Some(reason) = self.write(&bytes).await {
                        return reason;
                    }
                }
                read = read_some(&mut self.stream, &mut buf, max) => {
                    match read {
                        Ok(0) => return CloseReason::PeerClosed,
                        Ok(_) => {}
                        Err(e) => return CloseReason::Io(e),
                    }
                    let (items, fatal) = cut(&mut buf, &mut ping, max);
                    for item in items {
                        if let Some(reason) = self.deliver(item).await {
                            return reason;
                        }
                    }
                    if let Some(reason) = fatal {
                        return reason;
                    }
                }
                _ = tokio::time::sleep_until(idle_at) => return CloseReason::Idle,
            }
            idle_at = tokio::time::Instant::now() + self.limits.idle;
        }
    }

    async fn deliver(&mut self, item: Cut) -> Option<CloseReason> {
        match item {
            Cut::Message(bytes) => {
                let event = Event::Message { id: self.id, bytes };
                self.events.send(event).await.err().map(|_| CloseReason::Detached)
            }
            Cut::Pong => {
                tracing::trace!(conn = self.id, "keep-alive ping, sending pong");
                self.write(b"\r\n").await
            }
        }
    }

    /// Write all of `bytes`; a write that has not finished after `idle` ends the connection
    /// (a peer that reads nothing must not hold it, and what is queued for it, for ever).
    async fn write(&mut self, bytes: &[u8]) -> Option<CloseReason> {
        match tokio::time::timeout(self.limits.idle, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(CloseReason::Io(e)),
            Err(_) => Some(CloseReason::WriteStalled),
        }
    }

    /// On shutdown, write what the node had already queued.
    async fn flush(&mut self) {
        while let Ok(bytes) = self.out.try_recv() {
            if self.stream.write_all(&bytes).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhi";

    #[test]
    fn pipelined_pings_and_partial() {
        let mut buf = b"\r\n\r\n".to_vec();
        buf.extend_from_slice(A);
        buf.extend_from_slice(A);
        buf.extend_from_slice(&A[..5]);
        let mut ping = PingDetector::default();
        let (items, fatal) = cut(&mut buf, &mut ping, 1000);
        assert!(fatal.is_none());
        assert_eq!(items, vec![Cut::Pong, Cut::Message(A.to_vec()), Cut::Message(A.to_vec())]);
        assert_eq!(buf, &A[..5]);
    }

    #[test]
    fn ping_split_across_reads_and_double_ping() {
        let mut ping = PingDetector::default();
        let mut buf = b"\r\n".to_vec();
        assert_eq!(cut(&mut buf, &mut ping, 1000).0, vec![]);
        buf.extend_from_slice(b"\r\n\r\n\r\n\r\n");
        // The first two bytes finish the split ping; the next four are a second ping.
        assert_eq!(cut(&mut buf, &mut ping, 1000).0, vec![Cut::Pong, Cut::Pong]);
        // A lone CRLF (a pong from the peer) is consumed silently.
        let mut ping = PingDetector::default();
        let mut buf = b"\r\n".to_vec();
        buf.extend_from_slice(A);
        assert_eq!(cut(&mut buf, &mut ping, 1000).0, vec![Cut::Message(A.to_vec())]);
    }

    /// A peer sending an unfinished message slowly (here one byte ahead of the reads, from a
    /// stream ten times the limit): the buffer never holds or reserves more than `max + 1`
    /// bytes, and the connection fails once more than `max` are buffered.
    #[test]
    fn an_unfinished_message_holds_at_most_max_plus_one_bytes() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for max in [100, 20_000, 65_535] {
            let mut stream = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n".to_vec();
            stream.resize(max * 10, b'x');
            let mut reader: &[u8] = &stream;
            let mut buf = Vec::with_capacity(READ_CHUNK.min(max + 1));
            let mut ping = PingDetector::default();
            let fatal = rt.block_on(async {
                loop {
                    let n = read_some(&mut reader, &mut buf, max).await.unwrap();
                    assert!(n > 0, "the limit is seen before the stream ends");
                    assert!(buf.capacity() <= (max + 1).max(READ_CHUNK.min(max + 1)), "{} > {max} + 1", buf.capacity());
                    if let (_, Some(reason)) = cut(&mut buf, &mut ping, max) {
                        return reason;
                    }
                }
            });
            assert!(matches!(fatal, CloseReason::TooLarge(m) if m == max), "{fatal}");
            assert_eq!(stream.len() - reader.len(), max + 1, "read exactly one byte past the limit");
        }
    }

    /// The run loop's `select!` drops a pending read whenever there is something to write: the
    /// buffer must be as it was (no bytes, no zeros appended).
    #[test]
    fn a_dropped_read_leaves_the_buffer_as_it_was() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (mut quiet, _peer) = tokio::io::duplex(64);
            let mut buf = b"MESSAGE sip:a@b SIP/2.0\r\n".to_vec();
            tokio::select! {
                biased;
                _ = read_some(&mut quiet, &mut buf, 1000) => panic!("nothing to read"),
                () = std::future::ready(()) => {}
            }
            assert_eq!(buf, b"MESSAGE sip:a@b SIP/2.0\r\n");
        });
    }

    #[test]
    fn oversize_and_framing_errors_are_fatal() {
        let mut ping = PingDetector::default();
        let mut buf = A.to_vec();
        assert!(matches!(cut(&mut buf, &mut ping, 10).1, Some(CloseReason::TooLarge(10))));
        // An unfinished message is cut off once more than `max` bytes are buffered.
        let mut buf = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 99999\r\n\r\nxx".to_vec();
        assert!(cut(&mut buf, &mut ping, 100).1.is_none());
        assert!(matches!(cut(&mut buf, &mut ping, 40).1, Some(CloseReason::TooLarge(40))));
        let mut buf = A.to_vec();
        buf.extend_from_slice(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        let (items, fatal) = cut(&mut buf, &mut ping, 1000);
        assert_eq!(items, vec![Cut::Message(A.to_vec())]);
        assert!(matches!(fatal, Some(CloseReason::Framing(FramingError::MissingContentLength { .. }))));
    }
}
