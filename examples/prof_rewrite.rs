//! A loop over the rewrite path for profilers: `cargo run --release --example prof_rewrite`.
// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::base::Direction;
use imcpm::interop::classify::classify;
use imcpm::interop::interwork::{Ids, RewriteOptions, plan};
use imcpm::sip::{Message, apply_edits};

fn main() {
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples/1a_pager_cpm_rx.sip")).unwrap();
    let mut n = 0usize;
    for _ in 0..200_000 {
        let m = Message::parse(bytes.clone()).unwrap();
        let svc = classify(&m);
        let p = plan(&m, &RewriteOptions { direction: Direction::CpmToIm, service: svc, ids: Ids::default() }).unwrap();
        n += apply_edits(m.bytes(), &p.edits).unwrap().len();
    }
    println!("{n}");
}
