//! Criterion bench: parse + classify + interwork + serialize of each example message, and the
//! pair oracle on one pair. Target (issue): under 2 µs per typical 1 KB message.

// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imcpm::base::Direction;
use imcpm::base::{ClientKind, SessionCase};
use imcpm::interop::classify::{Form, classify, form_of};
use imcpm::interop::interwork::{Ids, RewriteOptions, plan};
use imcpm::interop::verify::{Egress, PairContext, check_pair};
use imcpm::sip::{Message, apply_edits};
use std::hint::black_box;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples").join(name)).unwrap()
}

fn rewrite_once(bytes: &[u8]) -> Vec<u8> {
    let m = Message::parse(bytes.to_vec()).unwrap();
    let svc = classify(&m);
    let dir = if form_of(&m) == Form::Cpm { Direction::CpmToIm } else { Direction::ImToCpm };
    let ids = Ids {
        conversation_id: Some("3b241101-e2bb-4255-8caf-4136c566a962".into()),
        contribution_id: Some("9c858901-8a57-4791-81fe-4c455b099bc9".into()),
    };
    let p = plan(&m, &RewriteOptions { direction: dir, service: svc, ids }).unwrap();
    apply_edits(m.bytes(), &p.edits).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("rewrite");
    for name in [
        "1a_pager_cpm_rx.sip",
        "2a_lmm_cpm_rx.sip",
        "3a_imdn_cpm_rx.sip",
        "4a_ft_im_rx.sip",
        "5a_session_cpm_rx.sip",
        "6b_group_cpm_ue.sip",
    ] {
        let bytes = fixture(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name.trim_end_matches(".sip"), |b| b.iter(|| rewrite_once(black_box(&bytes))));
    }
    g.finish();
    let ing = Message::parse(fixture("1a_pager_cpm_rx.sip")).unwrap();
    let eg = Message::parse(fixture("1b_pager_im_tx.sip")).unwrap();
    let ctx = PairContext::new(imcpm::base::Level::One, SessionCase::Term, Some(ClientKind::Im));
    c.bench_function("verify/pager_pair", |b| {
        b.iter(|| check_pair(black_box(&ctx), black_box(&ing), Egress::Forwarded(black_box(&eg))))
    });
    let ing = Message::parse(fixture("4a_ft_im_rx.sip")).unwrap();
    let eg = Message::parse(fixture("4b_ft_cpm_tx.sip")).unwrap();
    let ctx = PairContext::new(imcpm::base::Level::Two, SessionCase::Term, Some(ClientKind::Cpm));
    c.bench_function("verify/ft_pair_l2", |b| {
        b.iter(|| check_pair(black_box(&ctx), black_box(&ing), Egress::Forwarded(black_box(&eg))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
