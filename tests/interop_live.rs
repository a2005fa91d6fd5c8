//! Live runs against servers over real sockets, in real time: the fault ratchet over sockets
//! (each deliberate fault of the reference server, behind real UDP sockets, fails every ID it
//! targets; about 45 s, most of it the impaired network's retransmission timers), Kamailio as
//! the server under test, and a capture of a live run judged by `imcpm check-pcap`.
//!
//! Run with `cargo test --features interop --test interop_live -- --test-threads=1`.
#![cfg(feature = "interop")]
// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::base::Transport;
use imcpm::interop::finding::Verdict;
use imcpm::live::{LiveOptions, Target, run_jobs};
use imcpm::scenario::{Scenario, SuiteOptions, load_dir, plan, report_of};
use std::path::PathBuf;

fn scenarios() -> Vec<Scenario> {
    load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap()
}

/// The ratchet over sockets: with each deliberate fault, the scenarios naming the IDs it targets,
/// run live against the embedded server over UDP, give each targeted ID its grade's verdict. The
/// impaired network (which waits out retransmission timers in real time) runs only for an ID
/// no other scenario caught.
#[test]
fn every_fault_fails_each_id_it_targets_over_real_sockets() {
    use imcpm::interop::rules::{Grade, ReqId};
    use imcpm::node::im_server::faults::{Fault, FaultSet};
    let all = scenarios();
    fn want(id: &ReqId) -> Verdict {
        match id.grade() {
            Grade::NonStrict => Verdict::NonStrict,
            Grade::Fail => Verdict::Fail,
        }
    }
    // The IDs of `f` that runs of `scenarios` leave without their grade's verdict.
    fn uncaught(f: Fault, scenarios: Vec<Scenario>, ids: Vec<ReqId>) -> Vec<ReqId> {
        let names: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let jobs = plan(&scenarios, None, &names);
        let mut opts = LiveOptions::new(Target::Embedded(Transport::Udp));
        opts.run.faults = FaultSet::one(f);
        opts.parallel = 4;
        let runs = run_jobs(&scenarios, &jobs, &opts, &mut |_| {}).unwrap();
        let report = report_of(&scenarios, &runs, &SuiteOptions::default(), "test");
        ids.into_iter()
            .filter(|id| {
                report.results.iter().filter(|r| r.requirement == *id).map(|r| r.verdict).max() != Some(want(id))
            })
            .collect()
    }
    let handles: Vec<_> = Fault::ALL
        .iter()
        .map(|f| {
            let (all, f) = (all.clone(), *f);
            std::thread::spawn(move || {
                let (clean, impaired): (Vec<Scenario>, Vec<Scenario>) =
                    all.into_iter().partition(|s| s.network.is_none());
                let left = uncaught(f, clean, f.targets().to_vec());
                let left = if left.is_empty() { left } else { uncaught(f, impaired, left) };
                left.into_iter().map(|id| format!("fault {f}: {id} not {}", want(&id))).collect::<Vec<_>>()
            })
        })
        .collect();
    let missing: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(missing.is_empty(), "checks that did not fail under their fault over sockets:\n{}", missing.join("\n"));
}
