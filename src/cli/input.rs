//! Reading SIP input files for the CLI, with errors that point at the offending line.

use crate::sip::{Message, ParseError};
use miette::{Diagnostic, NamedSource, SourceSpan};
use std::io::Read;
use std::path::Path;

/// A SIP file that does not parse, shown with the offending line.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{path}: {error}")]
#[diagnostic(code(imcpm::input::sip))]
pub struct SipInputError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub error: ParseError,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    at: SourceSpan,
}

/// Read a file (or stdin for `-`) completely.
pub fn read_bytes(path: &Path) -> miette::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| miette::miette!("reading standard input: {e}"))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| miette::miette!("{}: {e}", path.display()))
}

/// Parse bytes as one SIP message, or explain where it fails.
pub fn parse(path: &Path, bytes: Vec<u8>) -> miette::Result<Message> {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Message::parse(bytes).map_err(|error| {
        let at = error.offset.min(text.len());
        let line_end = text[at..].find('\n').map_or(text.len(), |e| at + e);
        SipInputError {
            path: path.display().to_string(),
            src: NamedSource::new(path.display().to_string(), text),
            at: (at, line_end.saturating_sub(at).max(1)).into(),
            error,
        }
        .into()
    })
}

/// Read and parse one SIP file. Blank lines after the body that Content-Length describes (an
/// editor's final newline) are dropped with a warning; any other extra bytes stay, so that the
/// oracle can judge a wrong Content-Length.
pub fn read_message(path: &Path) -> miette::Result<Message> {
    let bytes = read_bytes(path)?;
    let m = parse(path, bytes)?;
    if let Ok(Some(n)) = m.content_length() {
        let extra = &m.body()[n.min(m.body().len())..];
        if !extra.is_empty() && extra.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            eprintln!("warning: {}: {} blank byte(s) after the {n}-byte body ignored", path.display(), extra.len());
            let keep = m.body_span().start + n;
            return parse(path, m.bytes()[..keep].to_vec());
        }
    }
    Ok(m)
}
