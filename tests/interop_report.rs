//! The HTML report in a real browser: headless Chromium (Debian `chromium`) loads the report of
//! a run with a fault, and the test checks the page after its script ran (the grid, the findings,
//! the ladders the script draws: those open from the start, the one a finding's link points
//! into, whether the link is in the address when the page loads or followed afterwards, and one
//! opened by hand), that the script logged no error, and takes a screenshot, kept under
//! target/report-screenshot/ for review. Needs the cargo feature `interop`; fails, naming the
//! package, when Chromium is missing.
#![cfg(feature = "interop")]
// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::scenario::{SuiteOptions, execute, load_dir, plan};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser"] {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return c;
        }
    }
    panic!("Chromium is missing: install it (Debian: apt-get install chromium) to run the interop tests");
}

fn run_browser(args: &[&str], out_file: Option<&std::path::Path>) -> std::process::Output {
    let profile = tempdir();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // The page's console (a script error among it) on stderr.
        "--enable-logging=stderr",
        "--v=0",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(args);
    let child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("chromium starts");
    let out = wait_bounded(child, Duration::from_secs(60));
    if let Some(f) = out_file {
        assert!(f.exists(), "chromium wrote no {}", f.display());
    }
    out
}

fn wait_bounded(child: std::process::Child, limit: Duration) -> std::process::Output {
    // Read the pipes while waiting (a large DOM would fill the pipe and block chromium), and
    // kill it from a watchdog thread if it overruns.
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        true
    });
    let out = child.wait_with_output().expect("chromium output");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(!watchdog.join().unwrap_or(false), "chromium did not finish within {limit:?}");
    out
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("imcpm-chromium-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// The page's console messages in Chromium's log (a script error shows as `Uncaught ...`).
fn console(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("CONSOLE")).map(str::to_string).collect()
}

/// The DOM of `url` after the page's script ran, failing on any console message.
fn dom_of(url: &str) -> String {
    let out = run_browser(&["--virtual-time-budget=3000", "--dump-dom", url], None);
    let console = console(&out);
    assert!(console.is_empty(), "the page logged {console:#?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text as the DOM serialises it, unescaped.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&")
}

/// The opening tag of the element with `id` in `dom`.
fn tag_of<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let at = dom.find(&format!(" id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    Some(&dom[start..at + dom[at..].find('>')?])
}

/// The message flow of section `s` in `dom`: from its `<details class="flow">` to the end of
/// the section.
fn flow_of(dom: &str, s: usize) -> &str {
    let at = dom.find(&format!("data-s=\"{s}\"")).unwrap_or_else(|| panic!("no flow of section {s}"));
    &dom[at..at + dom[at..].find("</section>").unwrap()]
}

/// The sections whose message flow is closed when the page loads.
fn closed_flows(page: &str) -> Vec<usize> {
    page.split("<details class=\"flow\" data-s=\"")
        .skip(1)
        .filter(|t| !t.split('>').next().unwrap().ends_with(" open"))
        .map(|t| t[..t.find('"').unwrap()].parse().unwrap())
        .collect()
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let all = load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap();
    let jobs = plan(&all, None, &["t1/*".into(), "t2/term/*".into()]);
    let opts = SuiteOptions {
        transport: None,
        faults: FaultSet::one(Fault::ForgetLmmTag),
        fault_names: vec!["forget-lmm-tag".into()],
    };
    let (r, _) = execute(&all, &jobs, &opts, &mut |_| {});
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    let page = imcpm::report::html::to_html(&r);
    let html = dir.join("report.html");
    std::fs::write(&html, &page).unwrap();
    let url = format!("file://{}", html.display());

    // The DOM after the script ran: the grid, the findings, a ladder for each flow open from
    // the start (those a listed finding points into), the others left to be drawn when opened.
    let dom = dom_of(&url);
    assert!(dom.contains("T1.TERM.LMM"), "the grid names the requirement");
    assert!(dom.contains("id=\"findings-list\"") && dom.contains(">FAIL</span>"), "the failure is listed");
    let flows = page.matches("<details class=\"flow\" data-s=").count();
    let open_at_start = flows - closed_flows(&page).len();
    assert!(open_at_start > 0 && open_at_start < flows, "{open_at_start} of {flows} flows open");
    assert_eq!(dom.matches("<svg width=").count(), open_at_start, "one ladder per open flow");
    assert_eq!(dom.matches(" data-drawn=\"\"").count(), open_at_start);

    // Loaded with a finding's link in the address: its flow is drawn, its message open and
    // marked.
    let link = page.split("id=\"findings-list\"").nth(1).unwrap().split("<a href=\"#m").nth(1).unwrap();
    let target = format!("m{}", &link[..link.find('"').unwrap()]);
    let section: usize = target[1..target.find('-').unwrap()].parse().unwrap();
    let dom = dom_of(&format!("{url}#{target}"));
    let tag = tag_of(&dom, &target).unwrap_or_else(|| panic!("no element {target}"));
    assert!(tag.starts_with("<details class=\"msg") && tag.contains("focus") && tag.contains("open"), "{tag}");
    assert!(flow_of(&dom, section).contains("<svg width="), "the ladder of section {section} is drawn");
    // The text the script put there is the message's, line for line.
    let number: usize = target[target.find('-').unwrap() + 1..].parse().unwrap();
    let label = unescape(
        dom.split(&format!("id=\"s{section}\""))
            .nth(1)
            .unwrap()
            .split("<h3>")
            .nth(1)
            .unwrap()
            .split("</h3>")
            .next()
            .unwrap(),
    );
    let flow = r.flows.iter().find(|f| format!("{} [L{}]", f.scenario, f.level) == label).unwrap();
    let want = &flow.messages.iter().find(|m| m.number == number).unwrap().text;
    let pre = dom[dom.find(&format!("id=\"{target}\"")).unwrap()..]
        .split("<pre>")
        .nth(1)
        .unwrap()
        .split("</pre>")
        .next()
        .unwrap();
    let shown: Vec<String> =
        pre.split("</span>").filter(|l| !l.is_empty()).map(|l| unescape(&l[l.find('>').unwrap() + 1..])).collect();
    assert_eq!(shown, want.strip_suffix('\n').unwrap_or(want).split('\n').collect::<Vec<_>>());

    // Followed after the page loaded (a hash change), into a flow not drawn yet; and a flow
    // opened by hand is drawn too.
    let closed = closed_flows(&page);
    let (later, by_hand) = (closed[0], closed[1]);
    let script = format!(
        "<script>setTimeout(function () {{ location.hash = '#m{later}-2'; document.querySelector('details.flow[data-s=\"{by_hand}\"]').open = true; }}, 10);</script></body>"
    );
    let later_page = dir.join("report-later.html");
    std::fs::write(&later_page, page.replace("</body>", &script)).unwrap();
    let dom = dom_of(&format!("file://{}", later_page.display()));
    let tag = tag_of(&dom, &format!("m{later}-2")).unwrap_or_else(|| panic!("message #2 of section {later} not drawn"));
    assert!(tag.contains("focus") && tag.contains("open"), "{tag}");
    assert!(flow_of(&dom, later).contains("<svg width="));
    assert!(flow_of(&dom, by_hand).contains("<svg width="), "the flow opened by hand is drawn");
    assert_eq!(dom.matches("<svg width=").count(), open_at_start + 2);

    let png = dir.join("report.png");
    let _ = std::fs::remove_file(&png);
    run_browser(&[&format!("--screenshot={}", png.display()), "--window-size=1400,1000", &url], Some(&png));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "a real screenshot ({} bytes)", bytes.len());
}
