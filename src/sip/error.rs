//! Parse errors of the message layer. Each says what is wrong and where (line and byte offset),
//! and maps to the SIP status a server answers with in exactly one place.

use std::fmt;

/// What went wrong while parsing a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The input holds no bytes besides leading CR/LF.
    #[error("empty message")]
    Empty,
    /// The header section is not terminated by an empty line.
    #[error("header section not terminated by an empty line")]
    Unterminated,
    /// The start line is neither a request line nor a status line.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// The SIP version is not SIP/2.0 (RFC 3261 §8.2.3 answers 505).
    #[error("unsupported SIP version")]
    Version,
    /// A header line has no colon or an invalid name.
    #[error("malformed header line: {0}")]
    HeaderLine(&'static str),
    /// A continuation line appears before any header.
    #[error("continuation line before the first header")]
    LeadingContinuation,
    /// A header the caller needs is absent.
    #[error("missing required header {0}")]
    Missing(&'static str),
    /// A header value is malformed.
    #[error("malformed {name} header: {why}")]
    BadValue {
        /// Canonical header name.
        name: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A header that must appear once appears several times (RFC 4475 `mcl01`, `multi01`).
    #[error("{0} appears more than once")]
    Duplicate(&'static str),
}

/// A parse error with its position in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// 1-based line number in the message.
    pub line: usize,
    /// Byte offset of the offending place.
    pub offset: usize,
}

impl ParseError {
    /// A new error at `offset` of `buf` (the line number is computed from the offset).
    pub fn at(kind: ParseErrorKind, buf: &[u8], offset: usize) -> Self {
        let upto = buf.get(..offset.min(buf.len())).unwrap_or(&[]);
        let line = 1 + upto.iter().filter(|&&b| b == b'\n').count();
        ParseError { kind, line, offset }
    }

    /// The SIP status code a server answers this error with (the one place that decides it).
    pub fn status(&self) -> crate::sip::StatusCode {
        match self.kind {
            ParseErrorKind::Version => crate::sip::StatusCode::VERSION_NOT_SUPPORTED,
            _ => crate::sip::StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} (byte {}): {}", self.line, self.offset, self.kind)
    }
}

impl std::error::Error for ParseError {}
