//! The ground floor: the few types every layer shares, importing nothing else of this crate.
//!
//! - [`time`]: [`Instant`], time as an input (only the drivers read a clock);
//! - [`wire`]: [`Transport`], [`Packet`] (one SIP message on the wire) and [`Trace`] (timestamped
//!   packets, what every driver produces and the oracle judges);
//! - [`domain`]: the Appendix T vocabulary: [`Level`], [`ClientKind`], [`SessionCase`],
//!   [`Role`], [`Service`], [`Direction`];
//! - [`ids`]: [`IdGen`], seeded identifiers (the server, the focus and the world all draw from it);
//! - [`escape`]: text from input made safe to show on a terminal.
//!
//! Each concept is declared once, here, and derives what the edges need (serde for files and
//! reports, `clap::ValueEnum` for the command line).

pub mod alloc;
pub mod domain;
pub mod escape;
pub mod ids;
pub mod time;
pub mod wire;

pub use domain::{ClientKind, Direction, Level, Role, Service, SessionCase};
pub use ids::IdGen;
pub use time::Instant;
pub use wire::{Packet, Trace, Traced, Transport};

/// `v` in decimal, zero-padded to at least `width` digits (as `{v:0width$}`), without the
/// formatting machinery (for hot paths: a timestamp, a Max-Forwards, a port).
pub(crate) fn push_digits(out: &mut String, mut v: u64, width: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in buf.len() - i..width {
        out.push('0');
    }
    out.extend(buf[i..].iter().map(|&b| char::from(b)));
}

/// The 1-based line and column of byte `offset` in `text` (clamped to its end), for errors that
/// point into an input file.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.len() - before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// The indefinite article of `word` as it is read out in a message: `an` before a vowel (`an
/// INVITE`, `an OPTIONS request`), `a` otherwise (`a MESSAGE`, `a REGISTER`).
pub fn a_or_an(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod article_tests {
    #[test]
    fn an_before_a_vowel() {
        let with = |m: &str| format!("{} {m}", super::a_or_an(m));
        assert_eq!(with("OPTIONS"), "an OPTIONS");
        assert_eq!(with("INVITE"), "an INVITE");
        assert_eq!(with("UPDATE"), "an UPDATE");
        assert_eq!(with("MESSAGE"), "a MESSAGE");
        assert_eq!(with("SUBSCRIBE"), "a SUBSCRIBE");
    }
}

#[cfg(test)]
mod line_column_tests {
    use super::line_column;

    #[test]
    fn lines_and_columns_from_one() {
        let t = "ab\ncdé\nx";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 3), (2, 1));
        assert_eq!(line_column(t, 5), (2, 3));
        // Inside a multi-byte character, and past the end: no panic.
        assert_eq!(line_column(t, 6), (2, 4));
        assert_eq!(line_column(t, 99), (3, 2));
    }
}
