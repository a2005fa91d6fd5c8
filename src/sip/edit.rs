//! Span edits: replace, insert or remove byte ranges, applied in one pass that copies every
//! untouched byte verbatim. Content-Length is never fixed implicitly: callers add an explicit
//! edit ([`Edit::content_length`]).

use crate::sip::header::HeaderName;
use crate::sip::message::Message;
use crate::sip::span::Span;

/// One edit: the bytes of `span` are replaced by `with` (an empty span inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// What to replace (empty: an insertion point).
    pub span: Span,
    /// The replacement bytes.
    pub with: Vec<u8>,
}

/// Edits overlap or point outside the buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// Two edits touch the same bytes.
    #[error("edits overlap at bytes {0:?} and {1:?}")]
    Overlap(Span, Span),
    /// An edit points past the end of the buffer.
    #[error("edit {0:?} is outside the message ({1} bytes)")]
    OutOfRange(Span, usize),
}

impl Edit {
    /// Replace `span` by `with`.
    pub fn replace(span: Span, with: impl Into<Vec<u8>>) -> Edit {
        Edit { span, with: with.into() }
    }
    /// Insert `with` at `at`.
    pub fn insert(at: usize, with: impl Into<Vec<u8>>) -> Edit {
        Edit { span: Span::at(at), with: with.into() }
    }
    /// Remove `span`.
    pub fn remove(span: Span) -> Edit {
        Edit { span, with: Vec::new() }
    }
    /// A new header field inserted before the empty line that ends the header section.
    pub fn append_header(msg: &Message, name: &str, value: &str) -> Edit {
        let mut line = Vec::with_capacity(name.len() + value.len() + 4);
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(value.as_bytes());
        line.extend_from_slice(msg.eol());
        Edit::insert(msg.headers_end().start, line)
    }
    /// A new header field inserted right before the field that starts at `before`.
    pub fn header_before(msg: &Message, before: usize, name: &str, value: &str) -> Edit {
        let mut e = Edit::append_header(msg, name, value);
        e.span = Span::at(before);
        e
    }
    /// Set Content-Length to `len`: replaces the value of the (first) Content-Length field, or
    /// appends one when absent.
    pub fn content_length(msg: &Message, len: usize) -> Edit {
        match msg.first(&HeaderName::ContentLength) {
            Some(h) => Edit::replace(h.value, len.to_string()),
            None => Edit::append_header(msg, "Content-Length", &len.to_string()),
        }
    }
}

/// Apply `edits` to `buf` in one pass. Edits may come in any order; insertions at the same
/// point keep their given order. Overlapping edits are an error, never silently merged.
pub fn apply_edits(buf: &[u8], edits: &[Edit]) -> Result<Vec<u8>, EditError> {
    // The order of the edits: on the stack for the usual handful (a forward has three to six),
    // a vector past that. The index in the key makes every key distinct, so the unstable sort
    // (which never allocates) keeps insertions at one point in their given order.
    let mut small = [0usize; 16];
    let mut large = Vec::new();
    let order: &mut [usize] = if edits.len() <= small.len() {
        &mut small[..edits.len()]
    } else {
        large.resize(edits.len(), 0);
        &mut large
    };
    for (k, o) in order.iter_mut().enumerate() {
        *o = k;
    }
    order.sort_unstable_by_key(|&i| (edits[i].span.start, edits[i].span.end, i));
    let grow: usize = edits.iter().map(|e| e.with.len()).sum();
    let mut out = Vec::with_capacity(buf.len() + grow);
    let mut pos = 0;
    let mut prev: Option<Span> = None;
    for &i in order.iter() {
        let e = &edits[i];
        if e.span.end > buf.len() || e.span.start > e.span.end {
            return Err(EditError::OutOfRange(e.span, buf.len()));
        }
        if e.span.start < pos {
            return Err(EditError::Overlap(prev.unwrap_or(e.span), e.span));
        }
        out.extend_from_slice(&buf[pos..e.span.start]);
        out.extend_from_slice(&e.with);
        pos = e.span.end;
        prev = Some(e.span);
    }
    out.extend_from_slice(&buf[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_copy() {
        let b = b"0123456789";
        let out =
            apply_edits(b, &[Edit::replace(Span::new(7, 9), "x"), Edit::insert(0, "<"), Edit::remove(Span::new(2, 4))])
                .unwrap();
        assert_eq!(out, b"<01456x9");
        assert_eq!(apply_edits(b, &[]).unwrap(), b);
        assert!(apply_edits(b, &[Edit::remove(Span::new(2, 5)), Edit::remove(Span::new(4, 6))]).is_err());
        assert!(apply_edits(b, &[Edit::remove(Span::new(2, 50))]).is_err());
    }

    /// [`apply_edits`] as first written (indices collected and stably sorted), the reference.
    fn apply_reference(buf: &[u8], edits: &[Edit]) -> Result<Vec<u8>, EditError> {
        let mut order: Vec<usize> = (0..edits.len()).collect();
        order.sort_by_key(|&i| (edits[i].span.start, edits[i].span.end, i));
        let mut out = Vec::new();
        let mut pos = 0;
        let mut prev: Option<Span> = None;
        for i in order {
            let e = &edits[i];
            if e.span.end > buf.len() || e.span.start > e.span.end {
                return Err(EditError::OutOfRange(e.span, buf.len()));
            }
            if e.span.start < pos {
                return Err(EditError::Overlap(prev.unwrap_or(e.span), e.span));
            }
            out.extend_from_slice(&buf[pos..e.span.start]);
            out.extend_from_slice(&e.with);
            pos = e.span.end;
            prev = Some(e.span);
        }
        out.extend_from_slice(&buf[pos..]);
        Ok(out)
    }

    proptest::proptest! {
        /// The same bytes, or the same error, as the reference, for up to 40 edits (past the 16
        /// sorted on the stack), many of them insertions at one point.
        #[test]
        fn edits_apply_as_the_reference_applies_them(
            edits in proptest::collection::vec((0usize..24, 0usize..4, 0usize..8), 0..40),
        ) {
            let buf = b"0123456789abcdefghij";
            let edits: Vec<Edit> = edits
                .iter()
                .enumerate()
                .map(|(k, &(start, len, kind))| match kind {
                    // Mostly insertions at a few points (ties that must keep their order), so
                    // that most edit sets apply rather than overlap.
                    0..=5 => Edit::insert(start / 8 * 8, format!("<{k}>")),
                    6 => Edit::remove(Span::new(start, start + len)),
                    _ => Edit::replace(Span::new(start, start + len), format!("[{k}]")),
                })
                .collect();
            proptest::prop_assert_eq!(apply_edits(buf, &edits), apply_reference(buf, &edits));
        }
    }
}
