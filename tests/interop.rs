//! Interop with a real SIP tool: sipp sends CPM requests through `imcpm serve`
//! at level 1, with the ISC Route set `<sip:SERVER;lr>, <sip:SIPP_UAS;lr>` (IP literals), and a
//! sipp UAS checks with `<ereg check_it>` that the IM form arrived (answering 488 when it did
//! not). The negative tests run the same against `--fault keep-cpm-icsi` and expect the UAS's
//! checks to fail, so the checks are shown to be able to fail.
//!
//! Needs `sipp` (Debian `sip-tester`); when it is missing these tests fail and say so. Run with
//! `cargo test --features interop --test interop -- --test-threads=1`.
#![cfg(feature = "interop")]
// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "interop/support.rs"]
mod support;

use std::process::Command;
use std::time::Duration;
use support::*;

const CALLS: u32 = 5;

/// Run `scenario` through a fresh server (`extra` args) and hand back what everyone saw.
fn through_server(
    name: &str,
    scenario: &str,
    extra: &[&str],
    uac_transport: &str,
    uas_transport: &str,
) -> (SippOutcome, SippOutcome, Server, String, std::path::PathBuf) {
    require_tool("sipp", "sip-tester");
    let dir = work_dir(name);
    let mut server = Server::start(&dir, extra);
    let to = if uac_transport == "t1" { server.tcp } else { server.udp };
    let run = SippRun { dir: &dir, scenario, server: to, uac_transport, uas_transport, calls: CALLS };
    let (uac, uas) = run_sipp_pair(&run);
    let (status, summary) = server.stop();
    assert!(status.is_some_and(|s| s.success()), "imcpm serve did not stop cleanly on SIGTERM: {status:?}");
    (uac, uas, server, summary, dir)
}

fn report(uac: &SippOutcome, uas: &SippOutcome, server: &Server, dir: &std::path::Path) -> String {
    let log = server.stderr();
    let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
    format!(
        "{}\n\n{}\n\n-- imcpm serve stdout --\n{}\n-- imcpm serve log (tail) --\n{}\n-- logs kept in {}",
        uac.describe(),
        uas.describe(),
        server.stdout.join("\n"),
        tail.join("\n"),
        dir.display()
    )
}

fn assert_clean(name: &str, scenario: &str, uac_transport: &str, uas_transport: &str, forwarded_per_call: u64) {
    let (uac, uas, server, summary, dir) = through_server(name, scenario, &[], uac_transport, uas_transport);
    let why = report(&uac, &uas, &server, &dir);
    assert_eq!(uac.exit, Some(0), "sipp UAC exit status\n{why}");
    assert_eq!(uas.exit, Some(0), "sipp UAS exit status\n{why}");
    assert_eq!((uac.successful, uac.failed), (u64::from(CALLS), 0), "UAC calls\n{why}");
    assert_eq!((uas.successful, uas.failed), (u64::from(CALLS), 0), "UAS calls\n{why}");
    assert_eq!(summary_count(&summary, "forwarded"), Some(forwarded_per_call * u64::from(CALLS)), "{summary}\n{why}");
    assert_eq!(summary_count(&summary, "malformed"), Some(0), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn assert_checks_fail(name: &str, scenario: &str) {
    let (uac, uas, server, _, dir) = through_server(name, scenario, &["--fault", "keep-cpm-icsi"], "u1", "u1");
    let why = report(&uac, &uas, &server, &dir);
    assert_eq!(uas.exit, Some(1), "the UAS must report failed calls\n{why}");
    assert_eq!((uas.successful, uas.failed), (0, u64::from(CALLS)), "every UAS check run must fail\n{why}");
    assert!(uas.errors.contains("Regexp matched but should not"), "{why}");
    assert!(uas.errors.contains("icsi-ref"), "the failing check is the CPM ICSI one\n{why}");
    assert_eq!(uac.exit, Some(1), "the UAC sees the 488s\n{why}");
    assert_eq!((uac.successful, uac.failed), (0, u64::from(CALLS)), "{why}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sipp_cpm_pager_message_arrives_in_im_form() {
    assert_clean("pager-udp", "pager", "u1", "u1", 1);
}

#[test]
fn sipp_cpm_lmm_invite_ack_bye_arrive_in_im_form() {
    // INVITE and BYE are forwarded statefully; the ACK for the 2xx statelessly.
    assert_clean("lmm-udp", "lmm", "u1", "u1", 2);
}

#[test]
fn sipp_cpm_lmm_over_tcp_both_legs() {
    // The UAC connects over TCP; the UAS's Route entry says transport=tcp, so the server opens a
    // connection to it and reuses it for ACK and BYE.
    assert_clean("lmm-tcp", "lmm", "t1", "t1", 2);
}

#[test]
fn sipp_cpm_pager_udp_in_tcp_out() {
    assert_clean("pager-udp-tcp", "pager", "u1", "t1", 1);
}

#[test]
fn sipp_cpm_pager_tcp_in_udp_out() {
    // The UAC connects over TCP; the UAS listens on UDP only and its Route entry names no
    // transport: RFC 3263 §4.1 says UDP, whatever the request came in on.
    assert_clean("pager-tcp-udp", "pager", "t1", "u1", 1);
}

#[test]
fn sipp_checks_fail_when_the_server_keeps_the_cpm_icsi_pager() {
    assert_checks_fail("pager-keep-icsi", "pager");
}

#[test]
fn sipp_checks_fail_when_the_server_keeps_the_cpm_icsi_lmm() {
    assert_checks_fail("lmm-keep-icsi", "lmm");
}

#[test]
fn serve_rejects_bad_arguments_with_exit_2_naming_the_bad_part() {
    let imcpm = env!("CARGO_BIN_EXE_imcpm");
    let run = |args: &[&str]| {
        let o = Command::new(imcpm).args(args).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&["serve", "--listen", "sctp:127.0.0.1:5070", "--level", "1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`sctp`"), "{err}");
    let (code, err) = run(&["serve", "--listen", "udp:127.0.0.1:99999", "--level", "1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`99999`"), "{err}");
    let (code, err) = run(&["serve", "--listen", "udp:127.0.0.1:0", "--level", "3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--level"), "{err}");
    let (code, err) = run(&["serve", "--listen", "udp:127.0.0.1:0", "--level", "1", "--fault", "nope"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("nope") && err.contains("imcpm faults"), "{err}");
    let (code, err) = run(&["serve", "--listen", "udp:127.0.0.1:0", "--level", "1", "--host-map", "x=nohost:1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`nohost:1`"), "{err}");
    let dir = work_dir("users");
    let users = dir.join("users.toml");
    std::fs::write(&users, "[users]\n\"sip:bob@im.example.net\" = \"im\"\n\"sip:carol@im.example.net\" = \"rcs\"\n")
        .unwrap();
    let (code, err) =
        run(&["serve", "--listen", "udp:127.0.0.1:0", "--level", "1", "--users", users.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("users.toml:3:"), "the file and line are named: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_with_a_users_file_starts_and_stops_on_sigterm() {
    let dir = work_dir("users-ok");
    let users = dir.join("users.toml");
    std::fs::write(&users, "[users]\n\"sip:bob@im.example.net\" = \"im\"\n").unwrap();
    let mut server = Server::start(&dir, &["--users", users.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(100));
    let (status, summary) = server.stop();
    assert!(server.stdout.iter().any(|l| l.contains("static users 1,")), "{:?}", server.stdout);
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(summary_count(&summary, "requests"), Some(0), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn faults_lists_every_fault_with_its_ids() {
    let o = Command::new(env!("CARGO_BIN_EXE_imcpm")).args(["faults", "--format", "json"]).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = v.as_array().unwrap().iter().find(|f| f["name"] == "keep-cpm-icsi").expect("keep-cpm-icsi listed");
    let ids = f["targets"].to_string();
    assert!(ids.contains("T1.TERM.PAGER") && ids.contains("T1.TERM.LMM"), "{ids}");
}
