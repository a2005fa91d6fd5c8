//! Byte faithfulness of the SIP layer (a message is never re-serialised).
//!
//! (a) Every fixture under `tests/fixtures/` parses, round-trips through an empty edit list byte
//!     for byte, is cut exactly by both framers, and declares its exact Content-Length.
//! (b) Generated messages with odd casing, compact forms, HCOLON whitespace, tabs, folding,
//!     several values per field, any header order and binary bodies read back exactly as the
//!     generator wrote them: names, value spans, list elements and typed values.
//! (c) No input panics the parser, the framers, the value readers or the typed accessors, and
//!     every error points at a line and offset inside its input.

use imcpm::sip::{
    FramingError, HeaderName, Message, NameAddr, ParamList, ParseError, SipUri, Span, StreamFrame, apply_edits,
    check_stream, frame_datagram, split_list, uri::Via,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Every `*.sip` file under `tests/fixtures/<dir>/`, sorted by path, discovered at run time.
fn fixtures() -> &'static [(String, Vec<u8>)] {
    static ALL: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        for dir in ["examples", "variants"] {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
                .unwrap_or_else(|e| panic!("read tests/fixtures/{dir}: {e}"))
                .map(|e| e.expect("directory entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "sip"))
                .collect();
            paths.sort();
            for p in paths {
                let name = format!("{dir}/{}", p.file_name().unwrap().to_string_lossy());
                out.push((name, std::fs::read(&p).expect("read fixture")));
            }
        }
        out
    })
}

/// Leading CR/LF bytes (skipped by both framers and the parser).
fn lead(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| c == b'\r' || c == b'\n').count()
}

/// The 1-based line number of byte `offset` (as `ParseError` counts it).
fn line_of(b: &[u8], offset: usize) -> usize {
    1 + b[..offset.min(b.len())].iter().filter(|&&c| c == b'\n').count()
}

/// The text of 1-based line `n` of `b` (without its line end).
fn nth_line(b: &[u8], n: usize) -> &[u8] {
    let line = b.split(|&c| c == b'\n').nth(n - 1).unwrap_or(&[]);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A parse error must point inside its input, with the line matching the offset.
fn check_err_position(e: &ParseError, input: &[u8]) {
    assert!(e.offset <= input.len(), "offset {} past the input ({} bytes): {e}", e.offset, input.len());
    assert!(e.line >= 1);
    assert_eq!(e.line, line_of(input, e.offset), "line does not match offset: {e}");
    assert!(e.to_string().contains(&format!("line {}", e.line)));
}

/// A framing error's line must name a real line of the input, and for Content-Length errors a
/// Content-Length field line.
fn check_framing_err(e: &FramingError, input: &[u8]) {
    let lines = 1 + input.iter().filter(|&&c| c == b'\n').count();
    match e {
        FramingError::BadContentLength { line } => {
            assert!((1..=lines).contains(line), "{e:?} outside {lines} lines");
            let text = nth_line(input, *line);
            let name = text.split(|&c| c == b':').next().unwrap_or(&[]).trim_ascii_end();
            assert!(
                name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l"),
                "{e:?} names line {line} = {:?}, not a Content-Length field",
                String::from_utf8_lossy(text)
            );
        }
        FramingError::MissingContentLength { line } => {
            assert!((1..=lines).contains(line), "{e:?} outside {lines} lines")
        }
        FramingError::BodyTooShort { declared, available } => assert!(available < declared),
        FramingError::Incomplete | FramingError::TooLarge(_) => {}
    }
}

/// Structural invariants of a parsed message: spans tile the header section in order and lie
/// inside the buffer; an empty edit list reproduces the bytes.
fn check_message_structure(m: &Message, input: &[u8]) {
    assert_eq!(m.bytes(), input);
    assert_eq!(apply_edits(input, &[]).unwrap(), input);
    let sl = m.start_line_span();
    assert_eq!(sl.start, lead(input));
    let mut pos = sl.end;
    // Skip the start line's own line end.
    pos += if input.get(pos) == Some(&b'\r') { 2 } else { 1 };
    for h in m.headers() {
        assert_eq!(h.line.start, pos, "header lines must tile the header section");
        assert!(h.line.contains(h.name_span) && h.line.contains(h.value), "{h:?}");
        assert!(h.name_span.end <= h.value.start);
        assert_eq!(h.line_no, line_of(input, h.line.start));
        assert_eq!(h.name, HeaderName::parse(&String::from_utf8_lossy(m.slice(h.name_span))));
        let v = m.slice(h.value);
        let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
        assert!(v.first().is_none_or(|c| !ws(c)) && v.last().is_none_or(|c| !ws(c)), "{h:?}");
        pos = h.line.end;
    }
    assert_eq!(m.headers_end().start, pos);
    assert_eq!(m.body_span(), Span::new(m.headers_end().end, input.len()));
}

/// Call every typed accessor; errors must point inside the input.
fn exercise_accessors(m: &Message, input: &[u8]) {
    let _ = (m.method(), m.status(), m.request_uri(), m.call_id(), m.eol(), m.top_via());
    for r in
        [m.cseq().map(|_| ()), m.max_forwards().map(|_| ()), m.content_length().map(|_| ()), m.validate_for_proxy()]
    {
        if let Err(e) = r {
            check_err_position(&e, input);
        }
    }
    for r in [m.from_addr(), m.to_addr()] {
        match r {
            Ok(na) => {
                assert!(na.uri.end <= input.len());
                let _ = SipUri::parse(&na.uri_text(input));
            }
            Err(e) => check_err_position(&e, input),
        }
    }
    let _ = (m.from_tag(), m.to_tag(), m.top_via_branch());
    for h in m.headers() {
        for el in split_list(input, h.value) {
            assert!(h.value.contains(el) && !el.is_empty(), "{el:?} outside {:?}", h.value);
            let pl = ParamList::parse(input, el);
            assert!(pl.params.iter().all(|p| el.contains(p.span) && p.span.contains(p.name)));
            let _ = NameAddr::parse(input, el);
            let _ = Via::parse(input, el);
        }
    }
    if let Some(u) = m.request_uri() {
        let _ = SipUri::parse(&u);
    }
}

/// Both framers on `input`, plus agreement with the parser's own Content-Length reading.
fn exercise_framing(input: &[u8]) {
    match frame_datagram(input) {
        Ok(frame) => {
            let l = lead(input);
            assert!(frame.len() <= input.len() - l);
            assert_eq!(frame, &input[l..l + frame.len()], "a datagram frame is a slice of the input");
        }
        Err(e) => check_framing_err(&e, input),
    }
    match check_stream(input) {
        Ok(StreamFrame::KeepAlive(n)) => assert!(n >= 1 && n <= input.len() && n == lead(input)),
        Ok(StreamFrame::Message { start, end }) => assert!(start <= end && end <= input.len()),
        Err(e) => check_framing_err(&e, input),
    }
    // Where the parser reads a valid Content-Length, the datagram framer must agree with it.
    if let Ok(m) = Message::parse(input) {
        if let Ok(Some(n)) = m.content_length() {
            let body_start = m.body_span().start;
            let expect = if m.body().len() >= n {
                Ok(&input[lead(input)..body_start + n])
            } else {
                Err(FramingError::BodyTooShort { declared: n, available: m.body().len() })
            };
            assert_eq!(frame_datagram(input), expect, "framer and parser disagree on Content-Length");
        }
    }
}

/// Run everything on arbitrary input: nothing may panic and errors must be positioned.
fn exercise_all(input: &[u8]) {
    exercise_framing(input);
    let whole = Span::new(0, input.len());
    for el in split_list(input, whole) {
        assert!(el.end <= input.len() && el.start < el.end);
    }
    let _ = ParamList::parse(input, whole);
    let _ = NameAddr::parse(input, whole);
    let _ = Via::parse(input, whole);
    let _ = SipUri::parse(&String::from_utf8_lossy(input));
    match Message::parse(input) {
        Ok(m) => {
            check_message_structure(&m, input);
            exercise_accessors(&m, input);
        }
        Err(e) => check_err_position(&e, input),
    }
}

// ---------------------------------------------------------------------------------------------
// (a) fixtures

#[test]
fn fixtures_are_discovered() {
    let all = fixtures();
    let examples = all.iter().filter(|(n, _)| n.starts_with("examples/")).count();
    let variants = all.iter().filter(|(n, _)| n.starts_with("variants/")).count();
    assert_eq!(examples, 14, "the 14 the protocol notes examples");
    assert!(variants >= 15, "at least 15 variants, found {variants}");
}

#[test]
fn fixtures_round_trip_byte_for_byte() {
    for (name, bytes) in fixtures() {
        let m = Message::parse(bytes.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(apply_edits(bytes, &[]).unwrap(), *bytes, "{name}: empty edit list must copy every byte");
        assert_eq!(m.into_bytes(), *bytes, "{name}");
    }
}

#[test]
fn fixtures_parse_structure_and_proxy_view() {
    for (name, bytes) in fixtures() {
        let m = Message::parse(bytes.as_slice()).unwrap();
        check_message_structure(&m, bytes);
        assert_eq!(m.eol(), b"\r\n", "{name}: fixtures use CRLF");
        assert!(m.is_request(), "{name}");
        m.validate_for_proxy().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(m.top_via_branch().is_some_and(|b| b.starts_with("z9hG4bK")), "{name}");
        assert!(m.from_tag().is_some(), "{name}");
        for h in m.headers() {
            // Every header line ends with CRLF (folded continuation lines included).
            let line = m.slice(h.line);
            assert!(line.ends_with(b"\r\n"), "{name}: {:?}", String::from_utf8_lossy(line));
            assert!(!line[..line.len() - 2].windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "{name}: bare LF");
        }
    }
}

#[test]
fn fixtures_declare_their_exact_content_length() {
    for (name, bytes) in fixtures() {
        let m = Message::parse(bytes.as_slice()).unwrap();
        assert_eq!(m.content_length().unwrap(), Some(m.body().len()), "{name}");
    }
}

#[test]
fn fixtures_are_cut_exactly_by_both_framers() {
    for (name, bytes) in fixtures() {
        assert_eq!(frame_datagram(bytes).unwrap(), bytes.as_slice(), "{name}: datagram");
        assert_eq!(check_stream(bytes), Ok(StreamFrame::Message { start: 0, end: bytes.len() }), "{name}: stream");

        // dblreq: bytes past Content-Length in a datagram are dropped; clerr: a short body fails.
        let mut padded = b"\r\n".to_vec();
        padded.extend_from_slice(bytes);
        padded.extend_from_slice(b"trailing junk\r\n");
        assert_eq!(frame_datagram(&padded).unwrap(), bytes.as_slice(), "{name}: dblreq");
        assert!(matches!(frame_datagram(&bytes[..bytes.len() - 1]), Err(FramingError::BodyTooShort { .. })), "{name}");

        // A stream with a keep-alive ping and two pipelined copies.
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(bytes);
        stream.extend_from_slice(bytes);
        assert_eq!(check_stream(&stream), Ok(StreamFrame::KeepAlive(4)));
        let rest = &stream[4..];
        assert_eq!(check_stream(rest), Ok(StreamFrame::Message { start: 0, end: bytes.len() }));
        assert_eq!(check_stream(&rest[bytes.len()..]), Ok(StreamFrame::Message { start: 0, end: bytes.len() }));

        // Every proper prefix is incomplete on a stream.
        for cut in 1..bytes.len() {
            assert_eq!(check_stream(&bytes[..cut]), Err(FramingError::Incomplete), "{name}: prefix {cut}");
        }
    }
}

/// RFC 3261 §7.3.1 allows LWS, folds included, after HCOLON: `Content-Length:\r\n\t282` is
/// one field, and the framers must read it as the parser does.
#[test]
fn folded_content_length_is_framed_like_the_parser_reads_it() {
    for (name, bytes) in fixtures() {
        let m = Message::parse(bytes.as_slice()).unwrap();
        let cl = m.first(&HeaderName::ContentLength).unwrap();
        let mut folded = bytes[..cl.name_span.end].to_vec();
        folded.extend_from_slice(b" :\r\n\t ");
        folded.extend_from_slice(&bytes[cl.value.start..]);
        let fm = Message::parse(folded.as_slice()).unwrap();
        assert_eq!(fm.content_length().unwrap(), Some(fm.body().len()), "{name}");
        assert_eq!(frame_datagram(&folded).unwrap(), folded.as_slice(), "{name}");
        assert_eq!(check_stream(&folded), Ok(StreamFrame::Message { start: 0, end: folded.len() }), "{name}");
    }
}

#[test]
fn framing_errors_name_the_content_length_line() {
    for (name, bytes) in fixtures() {
        let m = Message::parse(bytes.as_slice()).unwrap();
        let cl = m.first(&HeaderName::ContentLength).unwrap();
        let mut bad = bytes[..cl.value.start].to_vec();
        bad.extend_from_slice(b"-1");
        bad.extend_from_slice(&bytes[cl.value.end..]);
        assert_eq!(check_stream(&bad), Err(FramingError::BadContentLength { line: cl.line_no }), "{name}");
        for pad in ["", "\r\n", "\r\n\r\n", "\n"] {
            let mut d = pad.as_bytes().to_vec();
            d.extend_from_slice(&bad);
            let line = cl.line_no + pad.matches('\n').count();
            assert_eq!(frame_datagram(&d), Err(FramingError::BadContentLength { line }), "{name} after {pad:?}");
            let e = Message::parse(d.as_slice()).unwrap().content_length().unwrap_err();
            assert_eq!(e.line, line, "{name}: parser and framer count lines alike");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (b) generated messages read back exactly

/// The generator really produces every odd spelling it claims (guards against a strategy that
/// silently degenerates to plain messages).
#[test]
fn generator_covers_every_spelling() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = crate::common::sipgen::arb_message();
    let (mut compact, mut folded, mut hcolon, mut tab, mut tel, mut binary, mut response, mut odd_case) =
        (0, 0, 0, 0, 0, 0, 0, 0);
    for _ in 0..300 {
        let g = strategy.new_tree(&mut runner).unwrap().current();
        let b = g.bytes();
        let head = &b[..b.windows(4).position(|w| w == b"\r\n\r\n").unwrap()];
        compact += g.headers.iter().any(|h| h.name.len() == 1) as u32;
        folded += head.windows(3).any(|w| w[0] == b'\r' && w[1] == b'\n' && (w[2] == b' ' || w[2] == b'\t')) as u32;
        hcolon += g.headers.iter().any(|h| !h.before_colon.is_empty()) as u32;
        tab += head.contains(&b'\t') as u32;
        tel += head.windows(4).any(|w| w == b"tel:") as u32;
        binary += std::str::from_utf8(&g.body).is_err() as u32;
        response += matches!(g.start, crate::common::sipgen::GenStart::Response { .. }) as u32;
        odd_case +=
            g.headers.iter().any(|h| h.name.len() > 1 && h.name != h.expect.canonical() && !h.name.starts_with("X-"))
                as u32;
    }
    for (what, n) in [
        ("compact", compact),
        ("folded", folded),
        ("hcolon", hcolon),
        ("tab", tab),
        ("tel", tel),
        ("binary", binary),
        ("response", response),
        ("odd case", odd_case),
    ] {
        assert!(n >= 20, "only {n}/300 generated messages use {what}");
    }
}

fn check_generated(g: &crate::common::sipgen::GenMsg) -> Result<(), TestCaseError> {
    let bytes = g.bytes();
    let shown = || String::from_utf8_lossy(&bytes).into_owned();
    let m = Message::parse(bytes.as_slice()).map_err(|e| TestCaseError::fail(format!("{e}\n{}", shown())))?;
    prop_assert_eq!(apply_edits(&bytes, &[]).unwrap(), bytes.clone());
    check_message_structure(&m, &bytes);

    prop_assert_eq!(m.headers().len(), g.headers.len(), "{}", shown());
    for (h, gh) in m.headers().iter().zip(&g.headers) {
        prop_assert_eq!(m.slice(h.name_span), gh.name.as_bytes());
        prop_assert_eq!(&h.name, &HeaderName::parse(&gh.name));
        prop_assert_eq!(&h.name, &gh.expect);
        prop_assert_eq!(m.slice(h.value), gh.value.as_slice(), "value of {} in\n{}", gh.name, shown());
        if let Some(els) = &gh.elements {
            prop_assert!(h.name.is_list());
            let got: Vec<&[u8]> = split_list(&bytes, h.value).iter().map(|s| s.of(&bytes)).collect();
            let want: Vec<&[u8]> = els.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(got, want, "elements of {}", gh.name);
        }
    }

    match &g.start {
        crate::common::sipgen::GenStart::Request { method, uri } => {
            prop_assert_eq!(m.method().map(|x| x.as_str()), Some(*method));
            prop_assert_eq!(m.request_uri().map(|u| u.into_owned()), Some(uri.clone()));
        }
        crate::common::sipgen::GenStart::Response { code, reason } => {
            prop_assert_eq!(m.status().map(imcpm::sip::StatusCode::as_u16), Some(*code));
            let imcpm::sip::StartLine::Response { reason: r, .. } = m.start() else {
                return Err(TestCaseError::fail("not a response"));
            };
            prop_assert_eq!(m.slice(*r), reason.as_bytes());
        }
    }
    prop_assert_eq!(m.call_id().map(|c| c.into_owned()), Some(g.call_id.clone()));
    let (n, meth) = m.cseq().map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!((n, meth.as_str()), (g.cseq.0, g.cseq.1));
    prop_assert_eq!(m.max_forwards().map_err(|e| TestCaseError::fail(e.to_string()))?, g.max_forwards);
    prop_assert_eq!(m.content_length().map_err(|e| TestCaseError::fail(e.to_string()))?, Some(g.body.len()));
    prop_assert_eq!(m.body(), g.body.as_slice());
    prop_assert_eq!(m.from_tag(), Some(g.from_tag.clone()));
    prop_assert_eq!(m.to_tag(), g.to_tag.clone());
    prop_assert_eq!(m.top_via_branch(), Some(g.top_branch.clone()));
    m.validate_for_proxy().map_err(|e| TestCaseError::fail(format!("{e}\n{}", shown())))?;

    // Framing cuts the generated message exactly, also behind keep-alives and before junk.
    prop_assert_eq!(check_stream(&bytes), Ok(StreamFrame::Message { start: 0, end: bytes.len() }), "{}", shown());
    let mut dgram = b"\r\n".to_vec();
    dgram.extend_from_slice(&bytes);
    dgram.extend_from_slice(b"\x00junk");
    prop_assert_eq!(frame_datagram(&dgram), Ok(bytes.as_slice()));
    Ok(())
}

/// A comma list whose elements hold quoted commas, escaped quotes and `<>` with commas.
fn arb_quoted_list() -> impl Strategy<Value = (Vec<String>, Vec<&'static str>)> {
    let element = prop_oneof![
        "[A-Za-z0-9*.+-]{1,8}",
        "[a-z]{1,5}".prop_map(|s| format!("*;+g.3gpp.icsi-ref=\"{s},{s}.x\";require")),
        "[a-z]{1,5}".prop_map(|s| format!("\"{s}, \\\"{s}\\\",\" <sip:{s}@h>;p=1")),
        "[a-z]{1,5}".prop_map(|s| format!("<sip:{s},x@h;a=\"1,2\">;q=0.5")),
        "[a-z]{1,5}".prop_map(|s| format!("{s};v=\"a\\\\,{s}\"")),
        Just("\"\"".to_string()),
    ];
    let sep = proptest::sample::select(vec![",", ", ", " ,\t", ",\r\n ", " , \r\n\t"]);
    (prop::collection::vec(element, 1..6), prop::collection::vec(sep, 6))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))), ..ProptestConfig::default() })]

    #[test]
    fn generated_messages_read_back_exactly(g in crate::common::sipgen::arb_message()) {
        check_generated(&g)?;
    }

    #[test]
    fn split_list_returns_the_generated_elements((els, seps) in arb_quoted_list(), pad in "[ \t]{0,2}") {
        let mut v = pad.clone().into_bytes();
        for (i, e) in els.iter().enumerate() {
            if i > 0 {
                v.extend_from_slice(seps[i - 1].as_bytes());
            }
            v.extend_from_slice(e.as_bytes());
        }
        v.extend_from_slice(pad.as_bytes());
        let got: Vec<String> = split_list(&v, Span::new(0, v.len()))
            .iter()
            .map(|s| String::from_utf8_lossy(s.of(&v)).into_owned())
            .collect();
        prop_assert_eq!(got, els);
    }
}

// ---------------------------------------------------------------------------------------------
// (c) no panics, positioned errors

/// One mutation of a fixture.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let special =
        proptest::sample::select(vec![b'\r', b'\n', b'"', b'<', b'>', b',', b';', b':', b' ', b'\t', b'\\', 0, 0xff]);
    prop_oneof![
        1 => any::<usize>().prop_map(Mutation::Truncate),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        4 => (any::<usize>(), special).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Delete),
    ]
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let n = b.len().max(1);
        match *m {
            Mutation::Truncate(i) => b.truncate(i % n),
            Mutation::Flip(i, x) if !b.is_empty() => b[i % n] ^= x,
            Mutation::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Mutation::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            _ => {}
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise_all(&input);
    }

    #[test]
    fn sip_shaped_noise_never_panics(
        parts in prop::collection::vec(
            proptest::sample::select(vec![
                "INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "\r\n", "\n", " ", "\t", ":", ";", ",", "\"", "<", ">",
                "Via", "v", "l", "Content-Length", "CSeq", "1 INVITE", "From", "To", "tag=", "branch=z9hG4bK",
                "Max-Forwards", "999", "0068", "-1", "Call-ID", "sip:", "tel:+1", "[::1]:5060", "SIP/2.0/UDP h", "@",
            ]),
            0..40,
        )
    ) {
        exercise_all(parts.concat().as_bytes());
    }

    #[test]
    fn mutated_fixtures_never_panic(
        idx in any::<prop::sample::Index>(),
        ms in prop::collection::vec(arb_mutation(), 1..6),
    ) {
        let (_, bytes) = idx.get(fixtures());
        exercise_all(&mutate(bytes.clone(), &ms));
    }

    #[test]
    fn arbitrary_spans_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..128),
        a in 0usize..140,
        b in 0usize..140,
        s in ".{0,60}",
    ) {
        let span = Span::new(a, b);
        for el in split_list(&input, span) {
            prop_assert!(el.end <= input.len());
        }
        let _ = ParamList::parse(&input, span);
        let _ = NameAddr::parse(&input, span);
        let _ = Via::parse(&input, span);
        let _ = SipUri::parse(&s);
    }
}
