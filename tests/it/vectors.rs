//! The 14 test vectors of the rewrite vectors (vector 8 per D16), compared semantically: the rewritten
//! value must hold the same feature-parameter set as the expected one (RFC 3840: order carries
//! no meaning). Also checked byte for byte against the reference output shape.

use imcpm::base::Direction;
use imcpm::base::Service;
use imcpm::interop::interwork::value_edits;
use imcpm::sip::params::{ParamList, norm, split_list};
use imcpm::sip::{Span, apply_edits};
use rstest::rstest;

const MSG: &str = "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg";

/// A value as a set: head plus sorted (lowercased name, normalised value items).
fn semantic(v: &str) -> (String, Vec<(String, Vec<String>)>) {
    let b = v.as_bytes();
    let pl = ParamList::parse(b, Span::new(0, b.len()));
    let mut params: Vec<(String, Vec<String>)> = pl
        .params
        .iter()
        .map(|p| {
            let mut items: Vec<String> = p.value_items(b).iter().map(|i| norm(i.of(b))).collect();
            items.sort();
            (p.name_text(b).to_ascii_lowercase(), items)
        })
        .collect();
    params.sort();
    (String::from_utf8_lossy(pl.head.of(b)).into_owned(), params)
}

fn rewrite_header_value(dir: Direction, svc: Service, value: &str) -> String {
    let b = value.as_bytes();
    let mut edits = Vec::new();
    for el in split_list(b, Span::new(0, b.len())) {
        edits.extend(value_edits(b, el, dir, svc));
    }
    String::from_utf8(apply_edits(b, &edits).unwrap()).unwrap()
}

#[rstest]
#[case::v01_pager(
    1,
    Direction::CpmToIm,
    Service::Pager,
    r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#,
    "*;+g.oma.sip-im"
)]
#[case::v02_lmm(
    2,
    Direction::CpmToIm,
    Service::Lmm,
    r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg";require;explicit"#,
    "*;+g.oma.sip-im;+g.oma.sip-im.large-message;require;explicit"
)]
#[case::v03_session_chatbot(3, Direction::CpmToIm, Service::Session, r##"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session";+g.3gpp.iari-ref="urn%3Aurn-7%3A3gpp-application.ims.iari.rcs.chatbot";+g.gsma.rcs.botversion="#=1,#=2";require;explicit"##, r##"*;+g.oma.sip-im;+g.3gpp.iari-ref="urn%3Aurn-7%3A3gpp-application.ims.iari.rcs.chatbot";+g.gsma.rcs.botversion="#=1,#=2";require;explicit"##)]
#[case::v04_upper_case(
    4,
    Direction::CpmToIm,
    Service::Pager,
    r#"*;+G.3GPP.ICSI-REF="urn%3aurn-7%3a3gpp-service.ims.icsi.oma.cpm.msg""#,
    "*;+g.oma.sip-im"
)]
#[case::v05_ft_keeps_mmtel(5, Direction::CpmToIm, Service::Ft, r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer,urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel""#, r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel";+g.oma.sip-im"#)]
#[case::v06_no_duplicate(
    6,
    Direction::CpmToIm,
    Service::Pager,
    r#"*;+g.oma.sip-im;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#,
    "*;+g.oma.sip-im"
)]
#[case::v07_contact(7, Direction::CpmToIm, Service::Session, r#"<sip:a@192.0.2.10;transport=tcp>;+sip.instance="<urn:uuid:6f474eac-f1a1-4085-b654-c9ed5c9cf1c3>";+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session";isfocus"#, r#"<sip:a@192.0.2.10;transport=tcp>;+sip.instance="<urn:uuid:6f474eac-f1a1-4085-b654-c9ed5c9cf1c3>";+g.oma.sip-im;isfocus"#)]
#[case::v08_two_values_d16(8, Direction::CpmToIm, Service::Session, r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session", *;+g.3gpp.iari-ref="urn%3Aurn-7%3A3gpp-application.ims.iari.rcs.fthttp";require;explicit"#, r#"*;+g.oma.sip-im, *;+g.3gpp.iari-ref="urn%3Aurn-7%3A3gpp-application.ims.iari.rcs.fthttp";require;explicit"#)]
#[case::v09_im_pager(
    9,
    Direction::ImToCpm,
    Service::Pager,
    "*;+g.oma.sip-im",
    r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#
)]
#[case::v10_im_lmm(
    10,
    Direction::ImToCpm,
    Service::Lmm,
    "*;+g.oma.sip-im;+g.oma.sip-im.large-message",
    r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg""#
)]
#[case::v11_im_session_require(
    11,
    Direction::ImToCpm,
    Service::Session,
    "*;+g.oma.sip-im;require;explicit",
    r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session";require;explicit"#
)]
#[case::v12_im_ft_contact(12, Direction::ImToCpm, Service::Ft, "<sip:bob@192.0.2.10:5060;transport=tcp>;+g.oma.sip-im", r#"<sip:bob@192.0.2.10:5060;transport=tcp>;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer""#)]
#[case::v13_negated(13, Direction::ImToCpm, Service::Pager, r#"*;+g.oma.sip-im="FALSE""#, r#"*;+g.oma.sip-im="FALSE""#)]
#[case::v14_raw_colon(
    14,
    Direction::CpmToIm,
    Service::Pager,
    r#"*;+g.3gpp.icsi-ref="urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg""#,
    "*;+g.oma.sip-im"
)]
fn vector(#[case] n: u32, #[case] dir: Direction, #[case] svc: Service, #[case] input: &str, #[case] expected: &str) {
    let got = rewrite_header_value(dir, svc, input);
    let (gb, eb) = (got.as_bytes(), expected.as_bytes());
    let g: Vec<_> =
        split_list(gb, Span::new(0, gb.len())).iter().map(|s| semantic(&String::from_utf8_lossy(s.of(gb)))).collect();
    let e: Vec<_> =
        split_list(eb, Span::new(0, eb.len())).iter().map(|s| semantic(&String::from_utf8_lossy(s.of(eb)))).collect();
    assert_eq!(g, e, "vector {n}: got {got}");
    // The reference rewrite also produces exactly the expected text (it keeps order and spelling).
    assert_eq!(got, expected, "vector {n}");
}

#[test]
fn semantic_comparison_ignores_order_and_escape_case() {
    assert_eq!(
        semantic(&format!("*;require;+g.3gpp.icsi-ref=\"{MSG}\"")),
        semantic(&format!("*;+G.3GPP.ICSI-REF=\"{}\";require", MSG.to_lowercase()))
    );
    assert_ne!(semantic("*;+g.oma.sip-im"), semantic("*;+g.oma.sip-im;+g.oma.sip-im.large-message"));
}
