//! The adversarial corpus of tests/fixtures/oracle/: ingress/egress pairs whose verdicts were
//! written from Appendix T, the decisions and the RFCs before the oracle was run on them. Each
//! case must get exactly its expected worst verdict, and exactly the listed IDs may be non-PASS.
//! A disagreement is fixed in the oracle, or in the expectation with the clause that decides it.

use imcpm::base::{ClientKind, Level, SessionCase, Transport};
use imcpm::interop::finding::Verdict;
use imcpm::interop::verify::{Egress, PairContext, check_pair};
use imcpm::sip::Message;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    level: Level,
    case: SessionCase,
    client: ClientKind,
    #[serde(default)]
    offline: bool,
    #[serde(default)]
    egress_transport: Option<Transport>,
    expected: String,
    failing: Vec<String>,
    clause: String,
    #[allow(dead_code)]
    why: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oracle")
}

/// The verdicts of one case: (worst verdict, non-PASS IDs with their verdicts).
fn judge(c: &Case) -> (Verdict, Vec<(String, Verdict)>) {
    let read = |suffix: &str| {
        let p = dir().join(format!("{}.{suffix}.sip", c.name));
        Message::parse(std::fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let (i, e) = (read("in"), read("out"));
    let mut ctx = PairContext::new(c.level, c.case, Some(c.client));
    ctx.online = c.offline.then_some(false);
    ctx.egress_transport = c.egress_transport;
    let eg = if e.is_request() { Egress::Forwarded(&e) } else { Egress::Responded(&e) };
    let f = check_pair(&ctx, &i, eg);
    let worst = f.iter().map(|x| x.verdict).max().unwrap_or(Verdict::Pass);
    let mut bad: Vec<(String, Verdict)> =
        f.iter().filter(|x| x.verdict != Verdict::Pass).map(|x| (x.requirement.to_string(), x.verdict)).collect();
    bad.sort();
    bad.dedup();
    (worst, bad)
}

#[test]
fn every_corpus_case_gets_its_expected_verdict() {
    let text = std::fs::read_to_string(dir().join("cases.toml")).unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    assert!(corpus.case.len() >= 120, "the corpus has {} cases", corpus.case.len());
    let mut wrong = Vec::new();
    for c in &corpus.case {
        let (worst, bad) = judge(c);
        let got: BTreeSet<&str> = bad.iter().map(|(id, _)| id.as_str()).collect();
        let want: BTreeSet<&str> = c.failing.iter().map(String::as_str).collect();
        if worst.as_str() != c.expected || got != want {
            wrong.push(format!(
                "{} (L{} {} {}): expected {} {:?}, got {} {:?}  [{}]",
                c.name, c.level, c.case, c.client, c.expected, want, worst, bad, c.clause
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} corpus cases disagree:\n{}", wrong.len(), corpus.case.len(), wrong.join("\n"));
}
