//! The renderers of the run report on a small hand-built report: two scenarios at two levels,
//! with a FAIL, a NON-STRICT, an INCONCLUSIVE, an XFAIL and a four-message flow.

use imcpm::base::Level;
use imcpm::interop::finding::{Finding, Location, Verdict};
use imcpm::interop::rules::ReqId;
use imcpm::report::html::to_html;
use imcpm::report::json::{compare, load_baseline, to_json};
use imcpm::report::junit::to_junit;
use imcpm::report::markdown::to_markdown;
use imcpm::report::model::{ChangeKind, Flow, FlowMessage, RunInfo, RunReport, ScenarioFile, file_hash};
use imcpm::report::{ResultItem, SCHEMA_VERSION, group, summary};

fn at(message: usize, side: &str, line: usize, header: &str) -> Location {
    Location {
        message: Some(message),
        side: Some(side.into()),
        line: Some(line),
        header: Some(header.into()),
        time: None,
    }
}

fn results() -> Vec<ResultItem> {
    let pass = |id: ReqId| Finding::new(id, Verdict::Pass, "ok", "ok");
    let mut r = Vec::new();
    // t1/pager at level 1: a FAIL (with a passing finding of the same ID) and a PASS.
    r.extend(group(
        "t1/pager",
        Level::One,
        &[
            pass(ReqId::T1_TERM_PAGER),
            Finding::new(
                ReqId::T1_TERM_PAGER,
                Verdict::Fail,
                "Accept-Contact: *;+g.oma.sip-im",
                "Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"",
            )
            .at(at(2, "egress", 6, "Accept-Contact")),
            pass(ReqId::SIP_PROXY),
        ],
    ));
    // t1/pager at level 2: NON-STRICT and PASS.
    r.extend(group(
        "t1/pager",
        Level::Two,
        &[
            pass(ReqId::T1_TERM_PAGER),
            Finding::new(
                ReqId::X_PAS_REMOVED,
                Verdict::NonStrict,
                "no CPM P-Asserted-Service toward the IM client",
                "P-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg | kept",
            )
            .at(at(2, "egress", 9, "P-Asserted-Service")),
        ],
    ));
    // t2/offline at level 2: INCONCLUSIVE and XFAIL; at level 1: NOT-APPLICABLE.
    r.extend(group(
        "t2/offline",
        Level::Two,
        &[
            Finding::new(
                ReqId::T2_ONLINE_ONLY,
                Verdict::Inconclusive,
                "a final response to the MESSAGE",
                "no response observed <before the end of the trace>",
            ),
            Finding::new(
                ReqId::T2_CONVID_STABLE,
                Verdict::Xfail,
                "the same Conversation-ID for the pair",
                "a fresh Conversation-ID (known deviation: `server keeps no state`)",
            ),
        ],
    ));
    r.extend(group(
        "t2/offline",
        Level::One,
        &[Finding::new(ReqId::T2_ONLINE_ONLY, Verdict::NotApplicable, "level 2 only", "level 1 run")],
    ));
    r
}

fn msg(number: usize, from: &str, to: &str, summary: &str, text: &str) -> FlowMessage {
    FlowMessage {
        number,
        time_ms: (number as u64 - 1) * 5,
        from: from.into(),
        to: to.into(),
        transport: "UDP".into(),
        summary: summary.into(),
        text: text.into(),
        from_ingress: None,
        changed_lines: vec![],
    }
}

fn flow() -> Flow {
    let req = "MESSAGE sip:bob@im.example SIP/2.0\nVia: SIP/2.0/UDP core.example;branch=z9hG4bK1\nFrom: <sip:alice@cpm.example>;tag=1\nTo: <sip:bob@im.example>\nCall-ID: c1\nAccept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\nContent-Length: 0\n\n";
    let fwd = "MESSAGE sip:bob@im.example SIP/2.0\nVia: SIP/2.0/UDP im.example;branch=z9hG4bK2\nVia: SIP/2.0/UDP core.example;branch=z9hG4bK1\nFrom: <sip:alice@cpm.example>;tag=1\nTo: <sip:bob@im.example>\nAccept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\nCall-ID: c1\nContent-Length: 0\n\n";
    let mut m2 = msg(3, "im-server", "core", "MESSAGE sip:bob@im.example SIP/2.0", fwd);
    m2.from_ingress = Some(2);
    m2.changed_lines = vec![1];
    Flow {
        scenario: "t1/pager".into(),
        level: Level::One,
        nodes: vec!["alice (CPM, remote)".into(), "core".into(), "im-server".into(), "bob (IM)".into()],
        messages: vec![
            msg(1, "alice (CPM, remote)", "core", "MESSAGE sip:bob@im.example SIP/2.0", req),
            msg(2, "core", "im-server", "MESSAGE sip:bob@im.example SIP/2.0", req),
            m2,
            msg(4, "core", "alice (CPM, remote)", "SIP/2.0 200 OK", "SIP/2.0 200 OK\nCall-ID: c1\n\n"),
        ],
    }
}

fn report() -> RunReport {
    let results = results();
    RunReport {
        schema_version: SCHEMA_VERSION,
        run: RunInfo {
            tool: "imcpm".into(),
            version: "0.1.0".into(),
            sut: "embedded reference server".into(),
            fault: Some("keep-cpm-tag".into()),
            levels: vec![Level::One, Level::Two],
            transport: "sim".into(),
            started: "1970-01-01T00:00:00Z".into(),
            duration_ms: 0,
            scenarios: vec![
                ScenarioFile { name: "t1/pager".into(), hash: file_hash(b"pager") },
                ScenarioFile { name: "t2/offline".into(), hash: file_hash(b"offline") },
            ],
            strict: false,
        },
        summary: summary(&results),
        results,
        changes: vec![],
        flows: vec![flow()],
        aggregate: None,
        capture: None,
        coverage: None,
        replay: None,
        load: None,
    }
}

/// Byte offsets of `keys` (as `"key":`) in `s`, from `from` on; panics when one is missing.
fn offsets(s: &str, from: usize, keys: &[&str]) -> Vec<usize> {
    keys.iter()
        .map(|k| from + s[from..].find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("key {k} missing")))
        .collect()
}

fn increasing(v: &[usize]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn json_has_schema_keys_in_order() {
    let r = report();
    let j = to_json(&r);
    assert!(increasing(&offsets(&j, 0, &["schema_version", "run", "summary", "results"])));
    let first = j.find("\"results\":").unwrap();
    let item = offsets(&j, first, &["scenario", "level", "requirement", "clause", "verdict", "findings"]);
    assert!(increasing(&item), "result keys out of order");
    let finding = offsets(&j, item[5], &["requirement", "verdict", "expected", "observed", "location"]);
    assert!(increasing(&finding), "finding keys out of order");
    assert!(!j.contains("\"changes\""), "no changes key without a baseline");
    assert!(!j.contains("\"flows\""), "flows are not part of report.json");

    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["schema_version"], SCHEMA_VERSION);
    assert_eq!(v["summary"]["FAIL"], 1);
    assert_eq!(v["summary"].as_object().unwrap().len(), 8, "every verdict counted, zero included");
    assert_eq!(v["results"].as_array().unwrap().len(), r.results.len());
    assert_eq!(v["results"][0]["findings"][1]["location"]["line"], 6);
    assert_eq!(v["run"]["scenarios"][0]["hash"], file_hash(b"pager"));
}

#[test]
fn json_is_stable_whatever_the_input_order() {
    let r = report();
    let mut shuffled = r.clone();
    shuffled.results.reverse();
    assert_eq!(to_json(&r), to_json(&r));
    assert_eq!(to_json(&r), to_json(&shuffled));
    let v: serde_json::Value = serde_json::from_str(&to_json(&shuffled)).unwrap();
    let keys: Vec<(String, u64, String)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["scenario"].as_str().unwrap().into(),
                x["level"].as_u64().unwrap(),
                x["requirement"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String)> = [
        ("t1/pager", 1, "T1.TERM.PAGER"),
        ("t1/pager", 1, "SIP.PROXY"),
        ("t1/pager", 2, "T1.TERM.PAGER"),
        ("t1/pager", 2, "X.PAS-REMOVED"),
        ("t2/offline", 1, "T2.ONLINE-ONLY"),
        ("t2/offline", 2, "T2.CONVID.STABLE"),
        ("t2/offline", 2, "T2.ONLINE-ONLY"),
    ]
    .iter()
    .map(|(s, l, id)| (s.to_string(), *l, id.to_string()))
    .collect();
    assert_eq!(keys, want, "scenario, level, then catalogue order");
}

#[test]
fn json_snapshot() {
    insta::with_settings!({snapshot_path => "../../snapshots/reports", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("hand_built_report_json", to_json(&report()));
    });
}

#[test]
fn baseline_round_trip_and_regression() {
    let r = report();
    let base = load_baseline(&to_json(&r)).unwrap();
    assert_eq!(base.len(), r.results.len());
    assert!(compare(&r.results, &base).iter().all(|c| c.change == ChangeKind::Unchanged));

    let mut now = r.results.clone();
    let pass = now.iter_mut().find(|x| x.requirement == "SIP.PROXY").unwrap();
    pass.verdict = Verdict::Fail;
    let fixed = now.iter_mut().find(|x| x.verdict == Verdict::Fail && x.requirement == "T1.TERM.PAGER").unwrap();
    fixed.verdict = Verdict::Pass;
    now.retain(|x| x.verdict != Verdict::NotApplicable);
    let mut changes = compare(&now, &base);
    let kind = |cs: &[imcpm::report::model::Change], id: &str, level: Level| {
        cs.iter().find(|c| c.requirement == id && c.level == level).map(|c| c.change)
    };
    assert_eq!(kind(&changes, "SIP.PROXY", Level::One), Some(ChangeKind::NewFail));
    assert_eq!(kind(&changes, "T1.TERM.PAGER", Level::One), Some(ChangeKind::NewPass));
    assert_eq!(kind(&changes, "T2.ONLINE-ONLY", Level::One), Some(ChangeKind::Removed));

    // The changes appear in report.json, the Markdown and the HTML.
    let mut with = r.clone();
    with.changes = std::mem::take(&mut changes);
    let j = to_json(&with);
    assert!(j.contains("\"change\": \"new-fail\""));
    assert!(to_markdown(&with).contains("## Changes since the baseline"));
    assert!(to_html(&with).contains("id=\"changes\""));
}

/// A minimal well-formedness check: tags balance, attributes are quoted, no raw `<` or `&`
/// outside markup and entities.
fn well_formed(xml: &str) -> Result<(), String> {
    let body = xml.strip_prefix("<?xml").and_then(|s| s.split_once("?>")).map_or(xml, |(_, b)| b);
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(['<', '&']) {
        rest = &rest[i..];
        if rest.starts_with('&') {
            let end = rest.find(';').ok_or("unterminated entity")?;
            let ent = &rest[1..end];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos") || ent.starts_with('#');
            if !ok {
                return Err(format!("unknown entity &{ent};"));
            }
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("stray </{name}>"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
        } else if !tag.starts_with('!') && !tag.starts_with('?') {
            let self_closing = tag.ends_with('/');
            let name = tag.trim_end_matches('/').split_whitespace().next().ok_or("empty tag")?.to_string();
            if tag.matches('"').count() % 2 != 0 {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            if !self_closing {
                stack.push(name);
            }
        }
    }
    if stack.is_empty() { Ok(()) } else { Err(format!("unclosed {stack:?}")) }
}

#[test]
fn junit_is_well_formed_and_counts_match_the_summary() {
    let r = report();
    let xml = to_junit(&r);
    well_formed(&xml).unwrap();
    let s = &r.summary;
    let n = |v: &str| s[v];
    assert_eq!(xml.matches("<testcase ").count(), r.results.len());
    assert_eq!(xml.matches("<testsuite ").count(), 2, "one suite per scenario folder");

    let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(parsed.tests, r.results.len());
    assert_eq!(parsed.failures, n("FAIL") + n("XPASS"));
    assert_eq!(parsed.errors, n("ERROR"));
    assert_eq!(parsed.skipped, n("INCONCLUSIVE") + n("NOT-APPLICABLE") + n("XFAIL"));
    let names: Vec<&str> = parsed.test_suites.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["t1", "t2"]);
    let cases: Vec<&str> = parsed.test_suites[0].test_cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cases[0], "t1/pager [L1] T1.TERM.PAGER");

    // NON-STRICT passes with its message in system-out; XFAIL is skipped with the reason.
    let ns = parsed.test_suites[0].test_cases.iter().find(|c| c.name.as_str().ends_with("X.PAS-REMOVED")).unwrap();
    assert!(matches!(ns.status, quick_junit::TestCaseStatus::Success { .. }));
    assert!(ns.system_out.as_ref().unwrap().as_str().contains("NON-STRICT"));
    let xf = parsed.test_suites[1].test_cases.iter().find(|c| c.name.as_str().ends_with("T2.CONVID.STABLE")).unwrap();
    match &xf.status {
        quick_junit::TestCaseStatus::Skipped { message, .. } => {
            assert!(message.as_ref().unwrap().as_str().contains("server keeps no state"))
        }
        other => panic!("XFAIL must be skipped, got {other:?}"),
    }
    let fail = &parsed.test_suites[0].test_cases[0];
    match &fail.status {
        quick_junit::TestCaseStatus::NonSuccess { kind, description, .. } => {
            assert_eq!(*kind, quick_junit::NonSuccessKind::Failure);
            let d = description.as_ref().unwrap().as_str();
            assert!(d.contains("expected: Accept-Contact: *;+g.oma.sip-im"), "{d}");
            assert!(d.contains("message #2, egress, line 6, Accept-Contact"), "{d}");
        }
        other => panic!("FAIL must be a failure, got {other:?}"),
    }
}

#[test]
fn junit_maps_error_and_xpass() {
    let mut r = report();
    r.results.extend(group(
        "solo",
        Level::One,
        &[Finding::new(ReqId::SIP_FRAMING, Verdict::Error, "a run", "socket closed")],
    ));
    r.results.extend(group(
        "solo",
        Level::Two,
        &[Finding::new(ReqId::T3_MAP, Verdict::Xpass, "known deviation", "now passes")],
    ));
    r.summary = summary(&r.results);
    let parsed = quick_junit::Report::deserialize_from_str(&to_junit(&r)).unwrap();
    assert_eq!(parsed.errors, 1);
    assert_eq!(parsed.failures, 2);
    assert!(parsed.test_suites.iter().any(|t| t.name.as_str() == "scenarios"), "top-level scenarios suite");
}

fn external_refs(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut bad = Vec::new();
    for attr in ["src=", "href=", "xlink:href=", "url(", "@import", "action="] {
        for (i, _) in lower.match_indices(attr) {
            let v = lower[i + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            if v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//") || v.starts_with("data:") {
                bad.push(html[i..(i + 60).min(html.len())].to_string());
            }
        }
    }
    bad
}

/// The flows' data block of a report.html, parsed.
fn flow_data(html: &str) -> serde_json::Value {
    let open = "<script type=\"application/json\" id=\"flow-data\">";
    let start = html.find(open).expect("a flow data block") + open.len();
    let end = start + html[start..].find("</script>").expect("the block ends");
    serde_json::from_str(&html[start..end]).expect("the block is JSON")
}

/// A message of a flow as the data block holds it.
struct DataMessage {
    number: u64,
    lines: Vec<String>,
    changed: Vec<u64>,
    marked: Vec<u64>,
    flagged: u64,
}

/// Ids written in base 64, `w` digits each, as the data block writes them.
fn ids(s: &str, w: usize) -> Vec<usize> {
    const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digits: Vec<usize> = s.chars().map(|c| B64.find(c).unwrap()).collect();
    digits.chunks(w).map(|d| d.iter().fold(0, |v, x| v * 64 + x)).collect()
}

/// Section `section`'s flow from the data block: its node names and its messages.
fn flow_of(data: &serde_json::Value, section: usize) -> (Vec<String>, Vec<DataMessage>) {
    let w = data["w"].as_u64().unwrap() as usize;
    let token = |i: usize| data["T"][i].as_str().unwrap().to_string();
    let text = |v: &serde_json::Value| token(v.as_u64().unwrap() as usize);
    let line = |i: usize| ids(data["L"][i].as_str().unwrap(), w).into_iter().map(token).collect::<String>();
    let nums = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect::<Vec<_>>();
    let f = &data["F"][section];
    let nodes = f["n"].as_array().unwrap().iter().map(text).collect();
    let messages = f["m"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| DataMessage {
            number: m[0].as_u64().unwrap(),
            lines: ids(m[7].as_str().unwrap(), w).into_iter().map(line).collect(),
            changed: nums(&m[8]),
            marked: nums(&m[9]),
            flagged: m[10].as_u64().unwrap(),
        })
        .collect();
    (nodes, messages)
}

/// The rows of the "Findings other than PASS" table: verdict and requirement of each.
fn listed_rows(html: &str) -> Vec<(String, String)> {
    let Some(start) = html.find("<table class=\"list\" id=\"findings-list\">") else { return Vec::new() };
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    table
        .split("<tr")
        .skip(2)
        .map(|row| {
            let pill = row.split("<span class=\"pill ").nth(1).unwrap();
            let v = pill.split("\">").nth(1).unwrap().split('<').next().unwrap().to_string();
            let req = row.split("<code>").nth(1).unwrap().split('<').next().unwrap().to_string();
            (v, req)
        })
        .collect()
}

#[test]
fn html_has_grid_flows_and_no_fetches() {
    let r = report();
    let html = to_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<table class=\"grid\""));
    // One grid row per scenario-level: 4.
    assert_eq!(html.matches("<th class=\"rowh\">").count(), 4);
    // One "message flow" per flow, drawn by the script from the data block.
    assert_eq!(html.matches("<details class=\"flow\"").count(), r.flows.len());
    assert!(html.contains("message flow: 4 messages"));
    let data = flow_data(&html);
    let (nodes, messages) = flow_of(&data, 0);
    assert_eq!(nodes, ["alice (CPM, remote)", "core", "im-server", "bob (IM)"]);
    assert_eq!(messages.iter().map(|m| m.number).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(
        messages[0].lines.len(),
        8,
        "seven header lines and the empty line; the final line break starts no line"
    );
    assert_eq!(messages[1].lines[5], r.flows[0].messages[1].text.lines().nth(5).unwrap(), "texts as they were");
    assert_eq!(messages[2].changed, [1], "the rewritten line is marked");
    assert_eq!(
        (messages[1].marked.clone(), messages[1].flagged),
        (vec![5], 1),
        "the line the FAIL points at is marked"
    );
    assert_eq!(messages[0].flagged, 0);
    assert!(data["F"][1].is_null() && data["F"][2].is_null(), "sections without a flow have none");
    assert!(
        html.contains("<a href=\"#m0-2\">message #2, egress, line 6, Accept-Contact</a>"),
        "finding links its message"
    );
    // The flow a listed finding points into is open from the start; the script draws it.
    assert!(html.contains("<details class=\"flow\" data-s=\"0\" open>"));
    assert!(html.contains("<noscript>"), "the page says what needs its script");
    assert!(external_refs(&html).is_empty(), "{:?}", external_refs(&html));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<link") && !html.contains("<img"));
    for v in ["v-pass", "v-fail", "v-non-strict", "v-inconclusive", "v-xfail", "v-not-applicable"] {
        assert!(html.contains(&format!("class=\"{v}\"")), "grid cell {v}");
    }
}

#[test]
fn html_escapes_everything() {
    let mut r = report();
    r.run.sut = "<script>alert(1)</script>".into();
    r.results[0].findings[1].observed = "\"><img src=x onerror=alert(1)>".into();
    r.flows[0].nodes[0] = "<b>alice</b>".into();
    r.flows[0].messages[0].from = "<b>alice</b>".into();
    let evil = "X: </script><script>alert(1);x()</script>;<!-- <script> --> </SCRIPT >";
    r.flows[0].messages[0].text = format!("MESSAGE sip:a SIP/2.0\n{evil}\n");
    let html = to_html(&r);
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("<b>alice"));
    assert!(!html.contains("</script><script>alert"));
    assert!(!html.contains("<script>alert(1);"));
    assert!(!html.to_ascii_lowercase().contains("</script >"));
    assert!(!html.contains("<!-- <script>"));
    assert_eq!(html.matches("<script>").count(), 1, "only our own script");
    // The text comes back whole from the data block, which the first `</script>` ends.
    let (nodes, messages) = flow_of(&flow_data(&html), 0);
    assert_eq!(messages[0].lines, ["MESSAGE sip:a SIP/2.0", evil]);
    assert_eq!(nodes[0], "<b>alice</b>");
}

#[test]
fn html_lists_the_findings_the_terminal_lists() {
    let r = report();
    let html = to_html(&r);
    let rows = listed_rows(&html);
    let want: Vec<(String, String)> = [
        ("FAIL", "T1.TERM.PAGER"),
        ("NON-STRICT", "X.PAS-REMOVED"),
        ("XFAIL", "T2.CONVID.STABLE"),
        ("INCONCLUSIVE", "T2.ONLINE-ONLY"),
    ]
    .iter()
    .map(|(v, id)| (v.to_string(), id.to_string()))
    .collect();
    assert_eq!(rows, want);
    // The same findings, in the same order, as the terminal's "Findings other than PASS".
    let terminal: Vec<(String, String)> = imcpm::report::text::failures(&r.results)
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            let mut w = l.split(' ');
            (w.next().unwrap().to_string(), w.next().unwrap().to_string())
        })
        .collect();
    assert_eq!(rows, terminal);
    assert!(html.contains("4 findings in 4 results: every finding whose verdict is not PASS or NOT-APPLICABLE"));
    assert!(html.contains("no response observed &lt;before the end of the trace&gt;"), "the INCONCLUSIVE's text");
    assert!(html.contains("<a href=\"#findings\">Findings other than PASS (4)</a>"));
    // A result's PASS findings are counted, and named as findings.
    assert!(html.contains("and 1 PASS finding"));
    assert!(html.contains("1 finding, PASS"));
}

#[test]
fn html_without_its_script_has_the_essentials() {
    let html = to_html(&report());
    // The page with every script element taken out.
    let mut bare = String::new();
    let mut rest = html.as_str();
    while let Some(i) = rest.find("<script") {
        bare.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find("</script>").unwrap() + "</script>".len()..];
    }
    bare.push_str(rest);
    assert!(!bare.contains("<script"));
    for part in [
        "<span class=\"outcome bad\">FAILED</span>",
        "FAIL <span class=\"n\">1</span>",
        "id=\"counts-line\">7 results",
        "<table class=\"grid\" id=\"grid-table\">",
        "<table class=\"list\" id=\"findings-list\">",
        "no response observed &lt;before the end of the trace&gt;",
        "<noscript><p class=\"small noscript\">This page's script is off",
    ] {
        assert!(bare.contains(part), "{part}");
    }
}

#[test]
fn html_counts_are_the_summary_results() {
    let r = report();
    let html = to_html(&r);
    assert!(html.contains("<p class=\"sum\" id=\"counts-line\">7 results from 1 run of 2 scenarios: "));
    for (v, n) in &r.summary {
        assert!(html.contains(&format!("{v} <span class=\"n\">{n}</span>")), "badge {v} {n}");
    }
}

#[test]
fn markdown_snapshot() {
    let md = to_markdown(&report());
    insta::with_settings!({snapshot_path => "../../snapshots/reports", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("hand_built_report_md", md);
    });
}

#[test]
fn renderers_handle_an_empty_run() {
    let mut r = report();
    r.results.clear();
    r.flows.clear();
    r.summary = summary(&r.results);
    assert!(to_markdown(&r).contains("No results."));
    assert!(to_html(&r).contains("No results."));
    let parsed = quick_junit::Report::deserialize_from_str(&to_junit(&r)).unwrap();
    assert_eq!(parsed.tests, 0);
    assert_eq!(load_baseline(&to_json(&r)).unwrap().len(), 0);
}

/// A report the size of the full suite: 40 scenarios x 2 levels, every catalogue ID somewhere,
/// one flow of 10 messages per scenario-level.
fn big_report() -> RunReport {
    let ids: Vec<ReqId> = ReqId::ALL.to_vec();
    let mut results = Vec::new();
    let mut flows = Vec::new();
    for s in 0..40 {
        let name = format!("{}/case_{s:02}", ["t1", "t2", "negative", "robust"][s % 4]);
        for level in Level::ALL {
            let mut fs = Vec::new();
            for k in 0..4 {
                let id = ids[(s * 3 + k * 7 + level.number() as usize) % ids.len()];
                let v = match (s + k + level.number() as usize) % 17 {
                    0 => Verdict::Fail,
                    1 => Verdict::NonStrict,
                    2 => Verdict::Inconclusive,
                    3 => Verdict::NotApplicable,
                    4 if s == 5 => Verdict::Error,
                    5 if s == 9 => Verdict::Xfail,
                    6 if s == 13 => Verdict::Xpass,
                    _ => Verdict::Pass,
                };
                fs.push(Finding::new(id, v, "expected form", "observed form").at(at(5, "egress", 3, "Accept-Contact")));
            }
            results.extend(group(&name, level, &fs));
            let nodes = ["alice (CPM, remote)", "core", "im-server", "bob (IM)"];
            let hop = [(0, 1), (1, 2), (2, 1), (1, 3), (3, 1), (1, 2), (2, 1), (1, 0), (0, 0), (2, 2)];
            let messages = hop
                .iter()
                .enumerate()
                .map(|(i, (a, b))| {
                    let summary = if i % 2 == 0 { "MESSAGE sip:bob@im.example SIP/2.0" } else { "SIP/2.0 200 OK" };
                    let mut m = msg(i + 1, nodes[*a], nodes[*b], summary, &flow().messages[2].text);
                    if i == 2 {
                        m.from_ingress = Some(2);
                        m.changed_lines = vec![1, 5];
                    }
                    m
                })
                .collect();
            flows.push(Flow {
                scenario: name.clone(),
                level,
                nodes: nodes.iter().map(|n| n.to_string()).collect(),
                messages,
            });
        }
    }
    let mut r = report();
    r.summary = summary(&results);
    r.results = results;
    r.flows = flows;
    r
}

#[test]
fn html_of_a_full_suite_is_fast_and_complete() {
    let r = big_report();
    let t = std::time::Instant::now();
    let html = to_html(&r);
    let took = t.elapsed();
    assert_eq!(html.matches("<details class=\"flow\"").count(), 80);
    assert_eq!(flow_data(&html)["F"].as_array().unwrap().len(), 80);
    assert_eq!(html.matches("<th class=\"rowh\">").count(), 80);
    assert!(took.as_secs_f64() < 2.0, "rendering took {took:?}");
    eprintln!("full-suite HTML: {} bytes in {took:?}", html.len());
    // For a person to look at: target/tmp/report-samples/.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-samples");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("full.html"), &html).unwrap();
    std::fs::write(dir.join("full.md"), to_markdown(&r)).unwrap();
    std::fs::write(dir.join("full.xml"), to_junit(&r)).unwrap();
    std::fs::write(dir.join("small.html"), to_html(&report())).unwrap();
}
