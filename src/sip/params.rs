//! Header-value tools: comma lists and `;`-parameters with the byte range of every parameter
//! (RFC 3261 §7.3.1 and §25.1, RFC 3840 feature params, RFC 3841 ac-values), plus comparison
//! helpers that percent-decode and case-fold without touching the original bytes.

use crate::sip::span::Span;
use std::borrow::Cow;

/// Split a list header value into its elements at commas outside double quotes and `<>`.
/// Each element is trimmed of surrounding whitespace (including folded line breaks).
pub fn split_list(buf: &[u8], value: Span) -> Vec<Span> {
    let mut out = Vec::new();
    split_list_into(buf, value, &mut out);
    out
}

/// [`split_list`], appending the elements to `out` (no list of its own to allocate).
pub fn split_list_into(buf: &[u8], value: Span, out: &mut Vec<Span>) {
    out.extend(ListItems::new(buf, value));
}

/// The elements of a list header value, as [`split_list`] gives them, one by one (nothing
/// collected: for a caller that only walks them or takes the first).
#[derive(Debug, Clone)]
pub struct ListItems<'a> {
    v: &'a [u8],
    base: usize,
    pos: usize,
    in_q: bool,
    in_a: bool,
    done: bool,
}

impl<'a> ListItems<'a> {
    /// The elements of the value at `value` of `buf`.
    pub fn new(buf: &'a [u8], value: Span) -> ListItems<'a> {
        ListItems { v: value.of(buf), base: value.start, pos: 0, in_q: false, in_a: false, done: false }
    }
}

impl Iterator for ListItems<'_> {
    type Item = Span;
    fn next(&mut self) -> Option<Span> {
        let v = self.v;
        while !self.done {
            let start = self.pos;
            // Fast path: no comma left, the rest is one element.
            let mut end = v.len();
            if memchr::memchr(b',', &v[start..]).is_none() {
                self.done = true;
            } else {
                let mut i = start;
                self.done = true;
                while i < v.len() {
                    match v[i] {
                        b'\\' if self.in_q => i += 1,
                        b'"' => self.in_q = !self.in_q,
                        b'<' if !self.in_q => self.in_a = true,
                        b'>' if !self.in_q => self.in_a = false,
                        b',' if !self.in_q && !self.in_a => {
                            end = i;
                            self.pos = i + 1;
                            self.done = false;
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            if let Some(s) = trimmed(v, self.base, start, end) {
                return Some(s);
            }
        }
        None
    }
}

/// The span of `v[s..e]` (at `base` in the buffer) without surrounding whitespace; None when
/// nothing is left.
fn trimmed(v: &[u8], base: usize, mut s: usize, mut e: usize) -> Option<Span> {
    while s < e && v[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && v[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    (e > s).then(|| Span::new(base + s, base + e))
}

/// One `;`-parameter: `name` or `name=value` (value raw, quotes included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The whole parameter without the leading `;` and surrounding whitespace.
    pub span: Span,
    /// The name as written.
    pub name: Span,
    /// The value as written (quotes included), when there is an `=`.
    pub value: Option<Span>,
}

impl Param {
    /// The name as text.
    pub fn name_text<'a>(&self, buf: &'a [u8]) -> Cow<'a, str> {
        crate::sip::lossy(self.name.of(buf))
    }
    /// True when the name equals `name` ignoring ASCII case.
    pub fn is(&self, buf: &[u8], name: &str) -> bool {
        self.name.of(buf).eq_ignore_ascii_case(name.as_bytes())
    }
    /// The value without surrounding double quotes (empty when there is no value).
    pub fn value_text<'a>(&self, buf: &'a [u8]) -> Cow<'a, str> {
        match self.value {
            Some(v) => crate::sip::lossy(unquote(v.of(buf))),
            None => Cow::Borrowed(""),
        }
    }
    /// True when the value is double-quoted.
    pub fn is_quoted(&self, buf: &[u8]) -> bool {
        self.value.is_some_and(|v| {
            let b = v.of(buf);
            b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"'
        })
    }
    /// The value's elements for a quoted token list (`"a,b"`), each as a span of the original
    /// bytes, trimmed. An unquoted value is one element.
    pub fn value_items(&self, buf: &[u8]) -> Vec<Span> {
        self.value_items_iter(buf).collect()
    }
    /// [`Param::value_items`] one by one, nothing collected.
    pub fn value_items_iter<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = Span> + 'a {
        let inner = match self.value {
            Some(v) if self.is_quoted(buf) => Some(Span::new(v.start + 1, v.end - 1)),
            v => v,
        };
        let b = inner.map_or(&[][..], |i| i.of(buf));
        let base = inner.map_or(0, |i| i.start);
        // Each comma-separated part (the last one runs to the end), trimmed, empty ones left out;
        // no value at all gives nothing.
        let ends = memchr::memchr_iter(b',', b).chain(std::iter::once(b.len()));
        let mut s = 0;
        ends.filter_map(move |e| {
            let part = trimmed(b, base, s, e);
            s = e + 1;
            part
        })
    }
    /// For a boolean feature tag: Some(true) when bare or `"TRUE"`, Some(false) when
    /// `"FALSE"` or `"!TRUE"`, None for any other value.
    pub fn boolean(&self, buf: &[u8]) -> Option<bool> {
        match self.value {
            None => Some(true),
            Some(_) => {
                let v = self.value_text(buf);
                if v.eq_ignore_ascii_case("TRUE") || v.eq_ignore_ascii_case("!FALSE") {
                    Some(true)
                } else if v.eq_ignore_ascii_case("FALSE") || v.eq_ignore_ascii_case("!TRUE") {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }
}

/// A value with `;`-parameters: a head (`*`, a URI, a name-addr, a token) then parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamList {
    /// The whole value.
    pub whole: Span,
    /// The part before the first `;` outside quotes and `<>`, trimmed.
    pub head: Span,
    /// Every parameter in order.
    pub params: Vec<Param>,
}

/// The bytes that can change [`ParamList::parse`]'s state: `;`, `"`, `<`, `>`, `\\`.
const STATE: [bool; 256] = {
    let mut t = [false; 256];
    t[b';' as usize] = true;
    t[b'"' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The parts of one list element between `;`s outside quotes and `<>`, trimmed, walked without
/// collecting anything: the head first (possibly empty), then each non-empty parameter. The
/// one reading [`ParamList::parse`] collects, and what [`ParamList::head_of`] and
/// [`ParamList::find`] stop early in.
struct Parts<'a> {
    v: &'a [u8],
    base: usize,
    /// Where the next part starts; past the end once the last part was given.
    start: usize,
    in_q: bool,
    in_a: bool,
}

impl<'a> Parts<'a> {
    fn new(buf: &'a [u8], value: Span) -> Parts<'a> {
        Parts { v: value.of(buf), base: value.start, start: 0, in_q: false, in_a: false }
    }

    /// The next part as (start, end) within the value, untrimmed; None after the last.
    fn next_raw(&mut self) -> Option<(usize, usize)> {
        let v = self.v;
        let s = self.start;
        if s > v.len() {
            return None;
        }
        let mut i = s;
        // Byte by byte (values are short: a table lookup per byte costs less than setting up
        // a vector search per part).
        while i < v.len() {
            let c = v[i];
            if STATE[usize::from(c)] {
                match c {
                    b'\\' if self.in_q => i += 1,
                    b'"' => self.in_q = !self.in_q,
                    b'<' if !self.in_q => self.in_a = true,
                    b'>' if !self.in_q => self.in_a = false,
                    b';' if !self.in_q && !self.in_a => {
                        self.start = i + 1;
                        return Some((s, i));
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        self.start = v.len() + 1;
        Some((s, v.len().max(s)))
    }

    /// The head: the first part, trimmed.
    fn head(&mut self) -> Span {
        let (s, e) = self.next_raw().unwrap_or((0, 0));
        let (s, e) = trim(self.v, s, e);
        Span::new(self.base + s, self.base + e)
    }

    /// The next non-empty parameter (call after [`Parts::head`]).
    fn param(&mut self) -> Option<Param> {
        loop {
            let (s, e) = self.next_raw()?;
            let (s, e) = trim(self.v, s, e);
            if s == e {
                continue;
            }
            let (base, raw) = (self.base, &self.v[s..e]);
            let (name, value) = match memchr::memchr(b'=', raw) {
                Some(eq) => {
                    let mut ne = eq;
                    while ne > 0 && raw[ne - 1].is_ascii_whitespace() {
                        ne -= 1;
                    }
                    let mut vs = eq + 1;
                    while vs < raw.len() && raw[vs].is_ascii_whitespace() {
                        vs += 1;
                    }
                    (Span::new(base + s, base + s + ne), Some(Span::new(base + s + vs, base + e)))
                }
                None => (Span::new(base + s, base + e), None),
            };
            return Some(Param { span: Span::new(base + s, base + e), name, value });
        }
    }
}

/// `v[s..e]` without surrounding whitespace, as (start, end).
fn trim(v: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && v[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && v[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    (s, e)
}

impl ParamList {
    /// Parse one list element (e.g. one ac-value or one Contact value), in one pass: each part
    /// between `;`s outside quotes and `<>` goes straight into the head or the parameters.
    pub fn parse(buf: &[u8], value: Span) -> ParamList {
        let mut parts = Parts::new(buf, value);
        let head = parts.head();
        // Room made at the first parameter (four, then doubling: one allocation for most
        // values, none for a value without parameters), not counted out beforehand.
        let mut params = Vec::new();
        while let Some(p) = parts.param() {
            params.push(p);
        }
        ParamList { whole: value, head, params }
    }

    /// The head [`ParamList::parse`] gives, without reading the parameters.
    pub fn head_of(buf: &[u8], value: Span) -> Span {
        Parts::new(buf, value).head()
    }

    /// The first parameter with this name (case-insensitive), as [`ParamList::get`] on the
    /// parsed list finds it, without collecting the parameters.
    pub fn find(buf: &[u8], value: Span, name: &str) -> Option<Param> {
        let mut parts = Parts::new(buf, value);
        parts.head();
        std::iter::from_fn(|| parts.param()).find(|p| p.is(buf, name))
    }

    /// The first parameter with this name (case-insensitive).
    pub fn get(&self, buf: &[u8], name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.is(buf, name))
    }
    /// Every parameter with this name (case-insensitive).
    pub fn get_all<'a>(&'a self, buf: &'a [u8], name: &'a str) -> impl Iterator<Item = &'a Param> + 'a {
        self.params.iter().filter(move |p| p.is(buf, name))
    }
    /// True when a parameter with this name exists.
    pub fn has(&self, buf: &[u8], name: &str) -> bool {
        self.get(buf, name).is_some()
    }
}

/// Strip one pair of surrounding double quotes, if present.
pub fn unquote(b: &[u8]) -> &[u8] {
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' { &b[1..b.len() - 1] } else { b }
}

/// Percent-decode and ASCII-lowercase, for comparison only (RFC 3986 §2.1: hex digits are
/// case-insensitive; RFC 3261 §7.3.1: tokens are). Invalid escapes are kept as written.
pub fn norm(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = |c: u8| (c as char).to_digit(16);
            if let (Some(a), Some(c)) = (h(b[i + 1]), h(b[i + 2])) {
                out.push((a * 16 + c) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    crate::sip::lossy(&out).to_ascii_lowercase()
}

/// Percent-decode and ASCII-lowercase into `out` without allocating; None when the result does
/// not fit. For hot comparisons (the same semantics as [`norm`]).
pub fn norm_into<'o>(b: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        let mut c = b[i];
        if c == b'%' && i + 2 < b.len() {
            let h = |c: u8| (c as char).to_digit(16);
            if let (Some(a), Some(d)) = (h(b[i + 1]), h(b[i + 2])) {
                c = (a * 16 + d) as u8;
                i += 2;
            }
        }
        *out.get_mut(n)? = c.to_ascii_lowercase();
        n += 1;
        i += 1;
    }
    Some(&out[..n])
}

/// True when `b`, percent-decoded and case-folded, equals `target` (given lowercase).
pub fn norm_eq(b: &[u8], target: &str) -> bool {
    let mut buf = [0u8; 128];
    norm_into(b, &mut buf).is_some_and(|x| x == target.as_bytes())
}

/// Check a Conversation-ID / Contribution-ID value (docs/decisions.md D10): 1 to 256 RFC 3261 `word`
/// characters.
pub fn is_valid_conv_id(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.iter().all(|&b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~()<>:\\\"/[]?{}".contains(&b))
}

/// Check an RFC 6050 Service-ID: `urn:urn-7:` followed by dot-separated `let-dig` labels.
pub fn is_valid_service_id(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() <= 10 || !b[..10].eq_ignore_ascii_case(b"urn:urn-7:") {
        return false;
    }
    // Labels between dots, none empty: a dot may follow only a label byte.
    let mut after_dot = true;
    for &c in &b[10..] {
        match c {
            b'.' if after_dot => return false,
            b'.' => after_dot = true,
            c if c.is_ascii_alphanumeric() || c == b'-' => after_dot = false,
            _ => return false,
        }
    }
    !after_dot
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [`ParamList::parse`] as first written (one loop calling a part taker), the reference for
    /// the [`Parts`] walk that replaced it.
    fn parse_reference(buf: &[u8], value: Span) -> ParamList {
        fn part(pl: &mut ParamList, v: &[u8], base: usize, mut s: usize, mut e: usize, first: &mut bool) {
            while s < e && v[s].is_ascii_whitespace() {
                s += 1;
            }
            while e > s && v[e - 1].is_ascii_whitespace() {
                e -= 1;
            }
            if std::mem::take(first) {
                pl.head = Span::new(base + s, base + e);
                return;
            }
            if s == e {
                return;
            }
            let raw = &v[s..e];
            let (name, value) = match raw.iter().position(|b| *b == b'=') {
                Some(eq) => {
                    let mut ne = eq;
                    while ne > 0 && raw[ne - 1].is_ascii_whitespace() {
                        ne -= 1;
                    }
                    let mut vs = eq + 1;
                    while vs < raw.len() && raw[vs].is_ascii_whitespace() {
                        vs += 1;
                    }
                    (Span::new(base + s, base + s + ne), Some(Span::new(base + s + vs, base + e)))
                }
                None => (Span::new(base + s, base + e), None),
            };
            pl.params.push(Param { span: Span::new(base + s, base + e), name, value });
        }
        let v = value.of(buf);
        let mut pl = ParamList { whole: value, head: value, params: Vec::new() };
        let (mut first, mut start, mut in_q, mut in_a, mut i) = (true, 0, false, false, 0);
        while i < v.len() {
            match v[i] {
                b'\\' if in_q => i += 1,
                b'"' => in_q = !in_q,
                b'<' if !in_q => in_a = true,
                b'>' if !in_q => in_a = false,
                b';' if !in_q && !in_a => {
                    part(&mut pl, v, value.start, start, i, &mut first);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        part(&mut pl, v, value.start, start, v.len().max(start), &mut first);
        pl
    }

    proptest! {
        /// The walk gives what the first reading gave; `head_of` and `find` what `parse` and
        /// `get` give, for values built from the bytes that steer the reading.
        #[test]
        fn parts_read_as_the_reference(
            bytes in proptest::collection::vec(proptest::sample::select(b"ab= ;\"<>\\,\t".to_vec()), 0..40),
            from in 0usize..4,
        ) {
            let from = from.min(bytes.len());
            let value = Span::new(from, bytes.len());
            let pl = ParamList::parse(&bytes, value);
            prop_assert_eq!(&pl, &parse_reference(&bytes, value));
            prop_assert_eq!(ParamList::head_of(&bytes, value), pl.head);
            for name in ["a", "b", "ab", "A"] {
                prop_assert_eq!(ParamList::find(&bytes, value, name), pl.get(&bytes, name).copied());
            }
        }
    }

    #[test]
    fn split_respects_quotes_and_angles() {
        let b = br#"*;+g.3gpp.icsi-ref="a,b", <sip:x,y@h>;q=1 ,*"#;
        let parts = split_list(b, Span::new(0, b.len()));
        let texts: Vec<_> = parts.iter().map(|s| crate::sip::lossy(s.of(b)).into_owned()).collect();
        assert_eq!(texts, vec![r#"*;+g.3gpp.icsi-ref="a,b""#, "<sip:x,y@h>;q=1", "*"]);
    }

    #[test]
    fn list_items_one_by_one() {
        let cases: [(&[u8], &[&str]); 6] = [
            (
                br#"*;+g.3gpp.icsi-ref="a,b", <sip:x,y@h>;q=1 ,*"#,
                &[r#"*;+g.3gpp.icsi-ref="a,b""#, "<sip:x,y@h>;q=1", "*"],
            ),
            (b" , a,,b , ", &["a", "b"]),
            (b"single", &["single"]),
            (b"", &[]),
            (br#""q\",x" <sip:a@b>, c"#, &[r#""q\",x" <sip:a@b>"#, "c"]),
            (b"<sip:a@b, c", &["<sip:a@b, c"]),
        ];
        for (v, want) in cases {
            let whole = Span::new(0, v.len());
            let texts: Vec<String> =
                ListItems::new(v, whole).map(|s| crate::sip::lossy(s.of(v)).into_owned()).collect();
            assert_eq!(texts, want, "{}", crate::sip::lossy(v));
            assert_eq!(split_list(v, whole), ListItems::new(v, whole).collect::<Vec<_>>());
        }
    }

    #[test]
    fn params_skip_empty_parts_and_keep_quoted_semicolons() {
        let b = br#" <sip:a@h;lr> ;; x ;y="1;2"; ;z= 3 ;"#;
        let pl = ParamList::parse(b, Span::new(0, b.len()));
        assert_eq!(pl.head.of(b), b"<sip:a@h;lr>");
        let names: Vec<_> = pl.params.iter().map(|p| p.name.of(b).to_vec()).collect();
        assert_eq!(names, vec![b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]);
        assert_eq!(pl.params[1].value_text(b), "1;2");
        assert_eq!(pl.params[2].value.map(|v| v.of(b).to_vec()), Some(b"3".to_vec()));
        let bare = ParamList::parse(b"  *  ", Span::new(0, 5));
        assert_eq!((bare.head, bare.params.len()), (Span::new(2, 3), 0));
    }

    #[test]
    fn params_with_spans() {
        let b = br#"<sip:a@h;transport=tcp>;+sip.instance="<urn:x;y>";+g.oma.sip-im ; q = 0.5"#;
        let pl = ParamList::parse(b, Span::new(0, b.len()));
        assert_eq!(pl.head.of(b), b"<sip:a@h;transport=tcp>");
        assert_eq!(pl.params.len(), 3);
        assert_eq!(pl.params[0].value_text(b), "<urn:x;y>");
        assert_eq!(pl.params[1].span.of(b), b"+g.oma.sip-im");
        assert_eq!(pl.params[2].name.of(b), b"q");
        assert_eq!(pl.params[2].value_text(b), "0.5");
    }

    /// [`is_valid_service_id`] as first written, the reference for the byte walk.
    fn is_valid_service_id_reference(v: &str) -> bool {
        let Some(rest) = v.get(..10).filter(|p| p.eq_ignore_ascii_case("urn:urn-7:")).map(|_| &v[10..]) else {
            return false;
        };
        !rest.is_empty()
            && rest.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    }

    proptest! {
        #[test]
        fn service_ids_checked_as_the_reference_checks_them(
            prefix in prop::sample::select(vec!["urn:urn-7:", "URN:urn-7:", "urn:urn-7", "urn:urn-8:", "", "urn:urn-é:"]),
            rest in "[a-zA-Z0-9.\\-_:é ]{0,12}",
        ) {
            let v = format!("{prefix}{rest}");
            prop_assert_eq!(is_valid_service_id(&v), is_valid_service_id_reference(&v), "{:?}", v);
        }
    }

    #[test]
    fn norm_and_ids() {
        assert_eq!(norm(b"urn%3aURN-7%3A3gpp"), "urn:urn-7:3gpp");
        assert_eq!(norm(b"100%"), "100%");
        assert!(is_valid_conv_id(b"0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_valid_conv_id(b"a b"));
        assert!(!is_valid_conv_id(b""));
        assert!(is_valid_service_id("urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg"));
        assert!(!is_valid_service_id("urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg"));
    }

    /// [`Param::value_items`] as first written (a byte loop pushing each trimmed part), the
    /// reference for the iterator.
    fn value_items_reference(p: &Param, buf: &[u8]) -> Vec<Span> {
        let Some(v) = p.value else { return Vec::new() };
        let inner = if p.is_quoted(buf) { Span::new(v.start + 1, v.end - 1) } else { v };
        let b = inner.of(buf);
        let mut out = Vec::new();
        let mut s = 0;
        for (i, &c) in b.iter().enumerate() {
            if c == b',' {
                out.extend(trimmed(b, inner.start, s, i));
                s = i + 1;
            }
        }
        out.extend(trimmed(b, inner.start, s, b.len()));
        out
    }

    proptest::proptest! {
        #[test]
        fn value_items_split_as_the_reference(
            value in proptest::collection::vec(proptest::sample::select(vec!["a", ",", " ", "\"", "urn%3Ax", "\t"]), 0..12),
            eq in proptest::bool::ANY,
        ) {
            let text = format!("*;p{}{}", if eq { "=" } else { "" }, value.concat());
            let b = text.as_bytes();
            let pl = ParamList::parse(b, Span::new(0, b.len()));
            for p in &pl.params {
                proptest::prop_assert_eq!(p.value_items(b), value_items_reference(p, b), "{:?}", text);
            }
        }
    }
}
