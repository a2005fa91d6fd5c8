//! The two-sided ratchet : the reference server passes every scenario (tests/scenarios.rs),
//! every deliberate fault makes at least one scenario fail with each ID it targets, every FAIL-grade
//! requirement has such a fault, and every catalogue ID is exercised by a scenario file.

use imcpm::interop::finding::Verdict;
use imcpm::interop::rules::{Grade, ReqId, catalogue};
use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::scenario::{RunOptions, Scenario, load_dir, run_scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn scenarios() -> Vec<Scenario> {
    load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")).expect("scenario files load")
}

/// Worst verdict per requirement over every scenario and level, under `faults`.
fn verdicts(all: &[Scenario], faults: &FaultSet) -> BTreeMap<ReqId, (Verdict, String)> {
    let mut m: BTreeMap<ReqId, (Verdict, String)> = BTreeMap::new();
    for s in all {
        for &level in &s.levels {
            let run = run_scenario(s, level, &RunOptions { faults: faults.clone() });
            for r in run.results {
                let e = m.entry(r.requirement).or_insert((Verdict::NotApplicable, String::new()));
                if r.verdict > e.0 {
                    *e = (r.verdict, format!("{} L{level}", s.name));
                }
            }
        }
    }
    m
}

#[test]
fn every_fault_fails_each_id_it_targets() {
    let all = scenarios();
    let mut missing = Vec::new();
    let mut caught: BTreeSet<ReqId> = BTreeSet::new();
    for f in Fault::ALL {
        let v = verdicts(&all, &FaultSet::one(*f));
        for id in f.targets() {
            let want = match id.grade() {
                Grade::NonStrict => Verdict::NonStrict,
                Grade::Fail => Verdict::Fail,
            };
            match v.get(id) {
                Some((got, _)) if *got == want => {
                    caught.insert(*id);
                }
                other => missing.push(format!("fault {f}: {id} not {want} (worst: {other:?})")),
            }
        }
    }
    assert!(missing.is_empty(), "checks that did not fail under their fault:\n{}", missing.join("\n"));
    for r in catalogue().iter().filter(|r| r.grade == Grade::Fail) {
        assert!(caught.contains(&r.id), "no fault makes {} fail", r.id);
    }
}

#[test]
fn every_catalogue_id_is_exercised_and_passes_on_the_reference_server() {
    let all = scenarios();
    let declared: BTreeSet<ReqId> = all.iter().flat_map(|s| s.requirements.iter().copied()).collect();
    let v = verdicts(&all, &FaultSet::none());
    for r in catalogue() {
        assert!(declared.contains(&r.id), "no scenario file names {}", r.id);
        assert!(
            matches!(v.get(&r.id), Some((Verdict::Pass, _))),
            "{} is not judged PASS on the reference server: {:?}",
            r.id,
            v.get(&r.id)
        );
    }
}
