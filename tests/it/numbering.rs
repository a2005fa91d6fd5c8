//! One message numbering everywhere: a finding's `message #n` (terminal, report.json,
//! report.md, the HTML link and the arrow it jumps to, the pcapng comment) names the same
//! message, counted from 1 as Wireshark numbers frames.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("numbering").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `forget-lmm-tag` on `t1/lmm` at level 1: the flow's 13th message is the server's INVITE
/// toward bob, the one the finding is about; every output names it #13.
#[test]
fn a_finding_names_the_same_message_in_every_output() {
    let dir = tmp("lmm");
    let reports = dir.join("r");
    let pcap = dir.join("run.pcapng");
    let out = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--fault", "forget-lmm-tag", "--filter", "t1/lmm", "--level", "1", "--report-dir"])
        .arg(&reports)
        .arg("--pcap")
        .arg(&pcap)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "FAIL T1.TERM.LMM in t1/lmm [L1] (T.1, T.3 row 2)\n  at message #13, egress, line 14, Accept-Contact"
        ),
        "{text}"
    );

    let json: Value = serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 4);
    let lmm = json["results"].as_array().unwrap().iter().find(|r| r["requirement"] == "T1.TERM.LMM").unwrap();
    let fail = lmm["findings"].as_array().unwrap().iter().find(|f| f["verdict"] == "FAIL").unwrap();
    assert_eq!(fail["location"]["message"], 13);

    let md = std::fs::read_to_string(reports.join("report.md")).unwrap();
    assert!(md.contains("**FAIL** at message #13, egress, line 14, Accept-Contact"), "{md}");

    // The HTML link says #13 and jumps to the arrow numbered #13: the server's INVITE.
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("<a href=\"#m0-13\">message #13, egress, line 14, Accept-Contact</a>"));
    // The page's script draws the arrow and the message #m0-13 from the flow data: message
    // number 13 of section 0.
    let open = "<script type=\"application/json\" id=\"flow-data\">";
    let start = html.find(open).unwrap() + open.len();
    let data: Value = serde_json::from_str(&html[start..start + html[start..].find("</script>").unwrap()]).unwrap();
    let text = |v: &Value| data["T"][v.as_u64().unwrap() as usize].as_str().unwrap().to_string();
    let flow = &data["F"][0];
    let m = flow["m"].as_array().unwrap().iter().find(|m| m[0] == 13).expect("message #13 exists");
    let node = |i: &Value| text(&flow["n"][i.as_u64().unwrap() as usize]);
    assert_eq!((node(&m[2]), node(&m[3])), ("im-server".to_string(), "core".to_string()));
    assert!(text(&m[5]).starts_with("INVITE sip:bob@im.example.net"), "{}", text(&m[5]));

    // The pcapng comment of the 13th packet of the section.
    let bytes = std::fs::read(&pcap).unwrap();
    let needle = b"message #13";
    assert!(bytes.windows(needle.len()).any(|w| w == needle), "pcapng comment message #13");
    assert!(!bytes.windows(7).any(|w| w == b"trace #"), "no 0-based trace comments left");
}
