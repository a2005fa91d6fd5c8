//! `--redact`: user parts of SIP and tel URIs, and phone numbers, replaced by stable pseudonyms
//! in everything a report shows, for captures from live networks. The same identity always
//! gets the same pseudonym (an FNV-1a hash of it), so flows stay readable.

use crate::report::ResultItem;

/// A stable pseudonym for `who`.
fn pseudonym(who: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in who.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("user-{:06x}", h & 0xff_ffff)
}

fn is_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/%".contains(c)
}

/// `text` with every SIP/tel user part and every `+` phone number pseudonymised.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let next = ["sip:", "sips:", "tel:"].iter().filter_map(|p| lower.find(p).map(|i| (i, p.len()))).min();
        let plus = rest
            .char_indices()
            .find(|(i, c)| *c == '+' && rest[i + 1..].chars().take_while(char::is_ascii_digit).count() >= 6);
        match (next, plus) {
            (Some((i, n)), p) if p.is_none_or(|(j, _)| i < j) => {
                out.push_str(&rest[..i + n]);
                let after = &rest[i + n..];
                let tel = lower[i..].starts_with("tel:");
                let user_len = if tel {
                    after.find(|c: char| !(c.is_ascii_alphanumeric() || "+-.()".contains(c))).unwrap_or(after.len())
                } else {
                    match after.find('@') {
                        Some(at) if after[..at].chars().all(is_user_char) => at,
                        _ => 0,
                    }
                };
                if user_len > 0 {
                    out.push_str(&pseudonym(&after[..user_len]));
                }
                rest = &after[user_len..];
            }
            (_, Some((j, _))) => {
                out.push_str(&rest[..j]);
                let digits = rest[j + 1..].chars().take_while(char::is_ascii_digit).count();
                out.push_str(&pseudonym(&rest[j..j + 1 + digits]));
                rest = &rest[j + 1 + digits..];
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// Redact every result: its key and each finding's expected and observed text.
pub fn redact(results: &mut [ResultItem]) {
    for r in results {
        r.scenario = redact_text(&r.scenario);
        for f in &mut r.findings {
            f.expected = redact_text(&f.expected);
            f.observed = redact_text(&f.observed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_numbers_become_stable_pseudonyms() {
        let a = redact_text("From: <sip:alice@im.example.net>;tag=1 to tel:+15551230001 and +4915112345678");
        assert!(!a.contains("alice") && !a.contains("15551230001") && !a.contains("4915112345678"), "{a}");
        assert!(a.contains("sip:user-") && a.contains("@im.example.net") && a.contains("tel:user-"), "{a}");
        assert_eq!(a, redact_text("From: <sip:alice@im.example.net>;tag=1 to tel:+15551230001 and +4915112345678"));
        assert_ne!(redact_text("sip:bob@x"), redact_text("sip:carol@x"));
        // Hosts, ICSIs and short numbers stay.
        assert_eq!(redact_text("sip:scscf.im.example.net;lr"), "sip:scscf.im.example.net;lr");
        assert_eq!(redact_text("CSeq: 1 MESSAGE, Max-Forwards: 70"), "CSeq: 1 MESSAGE, Max-Forwards: 70");
    }
}
