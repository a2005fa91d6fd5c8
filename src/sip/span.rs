//! Byte ranges into a message buffer.

use serde::Serialize;

/// A half-open byte range `start..end` into a message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// An empty span at `at` (an insertion point).
    pub const fn at(at: usize) -> Self {
        Span { start: at, end: at }
    }
    /// Number of bytes covered.
    pub const fn len(&self) -> usize {
        self.end - self.start
    }
    /// True when the span covers no byte.
    pub const fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// The bytes this span covers in `buf`. Out-of-range spans yield an empty slice.
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }
    /// The span shifted right by `by` bytes.
    pub const fn offset(&self, by: usize) -> Span {
        Span { start: self.start + by, end: self.end + by }
    }
    /// A sub-span given relative to this one.
    pub const fn sub(&self, rel_start: usize, rel_end: usize) -> Span {
        Span { start: self.start + rel_start, end: self.start + rel_end }
    }
    /// True when `other` lies inside this span.
    pub const fn contains(&self, other: Span) -> bool {
        other.start >= self.start && other.end <= self.end
    }
}

impl From<std::ops::Range<usize>> for Span {
    fn from(r: std::ops::Range<usize>) -> Self {
        Span { start: r.start, end: r.end }
    }
}

/// Bytes as text, invalid UTF-8 replaced: what `String::from_utf8_lossy` gives, with its
/// validation's fast path for text that is valid (nearly all of a SIP message's).
pub fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}
