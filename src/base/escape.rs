//! Text from an input file or from the wire, made safe to show on a terminal: control
//! characters and other characters that act on a terminal or hide text are escaped, so that an
//! ESC in a header value shows as `\x1b` and never changes colours or moves the cursor.
//!
//! One form everywhere (README, "Terminal output and input files"): `\t`, `\r` and `\n` for those three, `\xNN`
//! for the other C0 control bytes, DEL and bytes that are not UTF-8, and `\u{NNNN}` for the C1
//! control characters and the Unicode format characters that reorder or hide text (bidi
//! controls, zero-width characters, line and paragraph separators, the byte order mark). A
//! backslash is shown as it is.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` is shown escaped.
fn escaped(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f' | '\x7f' | '\u{80}'..='\u{9f}'
        | '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

fn push(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        // Writing to a String cannot fail.
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` with every control or hiding character escaped, line breaks included: for one-line
/// fields (a header value, an observed text, a file name).
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_keeping(s, false)
}

/// `s` with every control or hiding character escaped but `\n`, which still breaks the line:
/// for messages of several lines (an error message).
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_keeping(s, true)
}

fn escape_keeping(s: &str, keep_lf: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| escaped(c) && !(keep_lf && c == '\n')) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escaped(c) && !(keep_lf && c == '\n') {
            push(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes shown as [`escape`] shows text, bytes that are not UTF-8 as `\xNN` (nothing is lost).
pub fn escape_bytes(b: &[u8]) -> String {
    let (s, _) = escape_source_inner(b, false);
    s
}

/// A whole file shown as listing lines: line ends (`\n`, `\r\n`) kept, everything else as
/// [`escape_bytes`]. Also returns, for every byte offset of `b` (and its end), the offset of the
/// same place in the escaped text, so that a span into `b` can point into the listing.
pub fn escape_source(b: &[u8]) -> (String, Vec<usize>) {
    escape_source_inner(b, true)
}

fn escape_source_inner(b: &[u8], keep_line_ends: bool) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(b.len() + 8);
    let mut map = Vec::with_capacity(if keep_line_ends { b.len() + 1 } else { 0 });
    let at = |out: &String, n: usize, map: &mut Vec<usize>| {
        if keep_line_ends {
            map.extend(std::iter::repeat_n(out.len(), n));
        }
    };
    for chunk in b.utf8_chunks() {
        let valid = chunk.valid();
        let mut chars = valid.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            at(&out, c.len_utf8(), &mut map);
            let line_end =
                keep_line_ends && (c == '\n' || (c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n')));
            if escaped(c) && !line_end {
                push(&mut out, c);
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            at(&out, 1, &mut map);
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    at(&out, 1, &mut map);
    (out, map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_hiding_characters_are_escaped() {
        assert_eq!(escape("plain: text"), "plain: text");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[31mred\x1b[0m"), "a\\x1b[31mred\\x1b[0m");
        assert_eq!(escape("a\tb\r\nc\x7f\u{9b}\u{202e}é"), "a\\tb\\r\\nc\\x7f\\u{9b}\\u{202e}é");
        assert_eq!(escape_lines("one\ntwo\r\x07"), "one\ntwo\\r\\x07");
        assert_eq!(escape_bytes(b"ok \xff\x1b\xc3\xa9"), "ok \\xff\\x1bé");
    }

    #[test]
    fn a_listing_keeps_line_ends_and_maps_offsets() {
        let b = b"A: \x1b[1m\r\nB: \xff\nC\rD";
        let (s, map) = escape_source(b);
        assert_eq!(s, "A: \\x1b[1m\r\nB: \\xff\nC\\rD");
        assert_eq!(map.len(), b.len() + 1);
        // The second line starts at byte 9 of the input.
        assert_eq!(&s[map[9]..map[9] + 3], "B: ");
        assert_eq!(&s[map[12]..map[13]], "\\xff");
        assert_eq!(map[b.len()], s.len());
    }
}
