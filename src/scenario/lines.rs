//! The text of what a scenario writes on the wire itself: a header line of `headers` or
//! `accept_contact`, and a request template (its request line, header lines and placeholders).
//! Each check says what is wrong in words a scenario author reads; `scenario/validate.rs` puts
//! them at their line and column.

use crate::base::Service;
use crate::node::ue::TEMPLATE_PLACEHOLDERS;
use std::ops::Range;

/// Why `line` is not one SIP header line (`Name: value`), if it is not.
pub(super) fn header_line_problem(line: &str) -> Option<String> {
    if line.contains(['\r', '\n']) {
        return Some(format!(
            "\"{line_q}\" holds a line break: give one header line per entry",
            line_q = crate::base::escape::escape(line)
        ));
    }
    let Some((name, _)) = line.split_once(':') else {
        return Some(format!(
            "\"{line_q}\" has no colon: a header line is `Name: value`",
            line_q = crate::base::escape::escape(line)
        ));
    };
    let name = name.trim_end_matches([' ', '\t']);
    if name.is_empty() {
        return Some(format!(
            "\"{line_q}\" has no header name before the colon",
            line_q = crate::base::escape::escape(line)
        ));
    }
    if !name.bytes().all(is_token_char) {
        return Some(format!(
            "\"{line_q}\": the header name \"{name_q}\" holds a character a SIP token may not (RFC 3261 §25.1)",
            line_q = crate::base::escape::escape(line),
            name_q = crate::base::escape::escape(name)
        ));
    }
    None
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// What is wrong in a template for a request of service `svc`, each at its byte range.
pub(super) fn template_problems(text: &str, svc: Service) -> Vec<(Range<usize>, String)> {
    let mut v = Vec::new();
    let mut at = 0;
    let mut head = true;
    for (k, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\r', '\n']);
        let span = at..at + line.len();
        at += raw.len();
        if line.is_empty() {
            head = false;
        }
        if head && k == 0 {
            v.extend(request_line_problem(line, svc).map(|why| (span.clone(), why)));
        } else if head && !line.starts_with([' ', '\t']) {
            v.extend(header_line_problem(line).map(|why| (span.clone(), why)));
        }
        v.extend(placeholder_problems(line, span.start));
    }
    v
}

/// Why the first line of a template is not a request line of the step's method.
fn request_line_problem(line: &str, svc: Service) -> Option<String> {
    let parts: Vec<&str> = line.split(' ').collect();
    let want = if matches!(svc, Service::Pager | Service::Imdn) { "MESSAGE" } else { "INVITE" };
    if parts.len() != 3 || parts[2] != "SIP/2.0" || parts.iter().any(|p| p.is_empty()) {
        return Some(format!(
            "\"{line_q}\" is not a request line (`{want} {{to}} SIP/2.0`)",
            line_q = crate::base::escape::escape(line)
        ));
    }
    (parts[0] != want).then(|| {
        let a = crate::base::a_or_an(want);
        format!("the step sends {} ({a} {want}) but the template's request is {}", svc.name(), parts[0])
    })
}

/// The `{word}` placeholders of a line (starting at byte `base` of the file) the client does
/// not fill in.
fn placeholder_problems(line: &str, base: usize) -> Vec<(Range<usize>, String)> {
    let mut v = Vec::new();
    let mut from = 0;
    while let Some(open) = line[from..].find('{').map(|x| from + x) {
        let Some(close) = line[open..].find('}').map(|x| open + x) else { break };
        let word = &line[open + 1..close];
        from = open + 1;
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
            continue;
        }
        if !TEMPLATE_PLACEHOLDERS.contains(&word) {
            let known: Vec<String> = TEMPLATE_PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
            let hint = TEMPLATE_PLACEHOLDERS
                .iter()
                .map(|p| (edit_distance(p, word), *p))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map_or(String::new(), |(_, p)| format!("did you mean {{{p}}}? "));
            v.push((
                base + open..base + close + 1,
                format!("unknown placeholder {{{word}}}: {hint}the client fills in {}", known.join(" ")),
            ));
        }
        from = close + 1;
    }
    v
}

/// Edit distance with adjacent transpositions (optimal string alignment), for "did you mean":
/// `{vai}` is one step from `{via}`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        assert_eq!(header_line_problem("Date: today"), None);
        assert_eq!(header_line_problem("X-Empty:"), None);
        assert_eq!(header_line_problem("Subject :x"), None);
        assert!(header_line_problem("X-Foo bar").unwrap().contains("no colon"));
        assert!(header_line_problem(": x").unwrap().contains("no header name"));
        assert!(header_line_problem("X Foo: x").unwrap().contains("SIP token"));
        assert!(header_line_problem("A: b\r\nC: d").unwrap().contains("line break"));
    }

    #[test]
    fn placeholders_are_the_clients() {
        assert!(placeholder_problems("Call-ID: {call_id}", 0).is_empty());
        assert!(placeholder_problems("{ not a placeholder }", 0).is_empty());
        let p = placeholder_problems("Call-ID: {cal_id}", 100);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 109..117);
        assert!(p[0].1.contains("did you mean {call_id}?"), "{}", p[0].1);
    }

    #[test]
    fn a_template_is_a_request_of_the_steps_method() {
        let ok = "MESSAGE {to} SIP/2.0\nVia: {via}\n\nbody: with a colon\n";
        assert!(template_problems(ok, Service::Pager).is_empty());
        let p = template_problems(ok, Service::Session);
        assert_eq!(p.len(), 1);
        assert!(p[0].1.contains("the template's request is MESSAGE"), "{}", p[0].1);
        let p = template_problems("MESSAGE {to} SIP/2.0\nVia {via}\n\n", Service::Pager);
        assert_eq!(p[0].0, 21..30);
        assert_eq!(edit_distance("call_id", "cal_id"), 1);
    }

    #[test]
    fn the_closest_placeholder_is_suggested() {
        let p = template_problems("MESSAGE {to} SIP/2.0\nVia: {vai}\n\n", Service::Pager);
        assert!(p[0].1.contains("did you mean {via}?"), "{}", p[0].1);
    }
}
