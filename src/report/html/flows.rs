//! The ladders' data in report.html: every flow as compact JSON in one
//! `<script type="application/json">` block, from which the page's script draws a section's
//! ladder and message texts when the section's "message flow" is opened or a link points into
//! it. A run repeats the same headers, and the same parameters in different headers, in
//! thousands of messages, so text is shared: `T` holds each distinct token (a line cut after
//! each `;`) once, `L` each distinct line once as its token ids, and a message names its lines
//! by line id. Ids in `L` and in a message's lines are written in base 64 (`A`-`Z`, `a`-`z`,
//! `0`-`9`, `-`, `_`), `w` characters each, concatenated.
//!
//! The JSON is escaped for its place in the page: no `<` is left in it (`\u003c`), so no message
//! text can close the script element (`</script`) or open a comment in it (`<!--`).

use super::super::model::Flow;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Lines of each message that a listed finding points at: message number -> 0-based lines; a
/// finding without a line marks the whole message (`None` in the set).
pub(super) type Hits = BTreeMap<usize, BTreeSet<Option<usize>>>;

/// Each distinct string once, named by its index.
#[derive(Default)]
struct Strings {
    ids: HashMap<String, usize>,
    list: Vec<String>,
}

impl Strings {
    fn id(&mut self, s: &str) -> usize {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.list.len();
        self.list.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
}

/// The shared text of every flow: tokens, and lines as token ids.
#[derive(Default)]
struct Text {
    tokens: Strings,
    line_ids: HashMap<String, usize>,
    lines: Vec<Vec<usize>>,
}

impl Text {
    /// The id of a line, its tokens (cut after each `;`) stored once.
    fn line(&mut self, line: &str) -> usize {
        if let Some(&i) = self.line_ids.get(line) {
            return i;
        }
        let tokens = line.split_inclusive(';').map(|t| self.tokens.id(t)).collect();
        let i = self.lines.len();
        self.lines.push(tokens);
        self.line_ids.insert(line.to_string(), i);
        i
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base-64 digits enough for every id below `n`.
fn width(n: usize) -> usize {
    let mut w = 1;
    while 64usize.pow(w as u32) < n {
        w += 1;
    }
    w
}

/// `ids` in base 64, `w` digits each, most significant first.
fn b64(ids: &[usize], w: usize) -> String {
    let mut s = String::with_capacity(ids.len() * w);
    for &id in ids {
        for k in (0..w).rev() {
            s.push(B64[(id >> (6 * k)) & 63] as char);
        }
    }
    s
}

/// The start line without the protocol version: `INVITE sip:bob@b`, `200 OK`.
pub(super) fn short_summary(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix("SIP/2.0 ").or_else(|| s.strip_suffix(" SIP/2.0")).unwrap_or(s)
}

/// The nodes of a flow, left to right: its own list, then any other sender or receiver.
fn nodes(flow: &Flow) -> Vec<&str> {
    let mut nodes: Vec<&str> = flow.nodes.iter().map(String::as_str).collect();
    for m in &flow.messages {
        for n in [m.from.as_str(), m.to.as_str()] {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
    }
    nodes
}

/// One flow: `n` its nodes (token ids), `m` its messages, each `[number, time ms, from node,
/// to node, transport, start line, start line without version, lines, changed lines, lines a
/// finding points at, 1 when a finding points at it, number of the message it came from or 0]`
/// (texts as token ids; lines as line ids, encoded by [`data`]; line numbers 0-based).
fn flow_value(flow: &Flow, hit: &Hits, t: &mut Text) -> (Value, Vec<Vec<usize>>) {
    let nodes = nodes(flow);
    let pos = |name: &str| nodes.iter().position(|n| *n == name).unwrap_or(0);
    let mut lines_of = Vec::new();
    let messages: Vec<Value> = flow
        .messages
        .iter()
        .map(|m| {
            // A final line break ends the last line; it does not start another.
            let text = m.text.strip_suffix('\n').unwrap_or(&m.text);
            lines_of.push(text.split('\n').map(|l| t.line(l)).collect());
            let marks = hit.get(&m.number);
            let marked: Vec<usize> = marks.map(|set| set.iter().flatten().copied().collect()).unwrap_or_default();
            json!([
                m.number,
                m.time_ms,
                pos(&m.from),
                pos(&m.to),
                t.tokens.id(&m.transport),
                t.tokens.id(&m.summary),
                t.tokens.id(short_summary(&m.summary)),
                "",
                m.changed_lines,
                marked,
                u8::from(marks.is_some()),
                m.from_ingress.unwrap_or(0),
            ])
        })
        .collect();
    let n: Vec<usize> = nodes.iter().map(|x| t.tokens.id(x)).collect();
    (json!({ "n": n, "m": messages }), lines_of)
}

/// The data block of every section: `F[i]` the flow of section `i` (null when it has none),
/// `T`, `L` and `w` the shared text, escaped for a script element.
pub(super) fn data(sections: &[Option<(&Flow, &Hits)>]) -> String {
    let mut t = Text::default();
    let mut f: Vec<(Value, Vec<Vec<usize>>)> = sections
        .iter()
        .map(|x| x.map_or((Value::Null, Vec::new()), |(flow, hit)| flow_value(flow, hit, &mut t)))
        .collect();
    // The width is known once every id is.
    let w = width(t.tokens.list.len().max(t.lines.len()));
    for (flow, lines) in &mut f {
        if let Some(ms) = flow.get_mut("m").and_then(Value::as_array_mut) {
            for (m, ids) in ms.iter_mut().zip(lines.iter()) {
                m[7] = Value::String(b64(ids, w));
            }
        }
    }
    let lines: Vec<String> = t.lines.iter().map(|ids| b64(ids, w)).collect();
    let f: Vec<Value> = f.into_iter().map(|(v, _)| v).collect();
    let v = json!({ "w": w, "T": t.tokens.list, "L": lines, "F": f });
    script_safe(&v.to_string())
}

/// JSON made safe inside `<script>`: `<` only occurs in JSON strings, where `\u003c` means the
/// same.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_drop_the_version() {
        assert_eq!(short_summary("INVITE sip:b@x SIP/2.0"), "INVITE sip:b@x");
        assert_eq!(short_summary("SIP/2.0 200 OK"), "200 OK");
    }

    #[test]
    fn ids_in_base_64() {
        assert_eq!((width(0), width(64), width(65), width(4096), width(4097)), (1, 1, 2, 2, 3));
        assert_eq!(b64(&[0, 1, 63, 64, 4095], 2), "AAABA_BA__");
    }

    #[test]
    fn text_is_stored_once_and_nothing_closes_the_script() {
        let mut t = Text::default();
        assert_eq!((t.line("Via: a;b"), t.line("To: x;b"), t.line("Via: a;b"), t.line("")), (0, 1, 0, 2));
        assert_eq!(t.tokens.list, ["Via: a;", "b", "To: x;"]);
        assert_eq!(t.lines, [vec![0, 1], vec![2, 1], vec![]]);
        let j = script_safe(&json!(["</script><script>alert(1)</script>", "<!-- x"]).to_string());
        assert!(!j.contains('<'), "{j}");
        let back: Vec<String> = serde_json::from_str(&j).unwrap();
        assert_eq!(back, ["</script><script>alert(1)</script>", "<!-- x"]);
    }
}
