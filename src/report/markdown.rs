//! report.md, most urgent first: run info, verdict counts, the baseline changes (when compared),
//! the failures with expected / observed / where, the requirement x scenario matrix, then the
//! other notable findings (NON-STRICT, INCONCLUSIVE, XFAIL).
//!
//! The matrix has one row per scenario-level and one column per requirement (see
//! [`super::matrix`]). A 32-column Markdown table is unreadable, so the columns are cut into
//! tables by requirement family (`T1.TERM.*`, `T2.ORIG.*`, `T2.TERM.*`, ...), small families
//! merged up to [`MAX_COLUMNS`]; each table lists only the scenario-levels with a result in it.

use super::json::change_counts;
use super::matrix::{Matrix, row_label, sorted};
use super::model::{ChangeKind, RunReport};
use crate::base::Level;
use crate::interop::finding::{Location, Verdict};
use crate::interop::rules::ReqId;
use std::fmt::Write;

/// At most this many requirement columns per matrix table (a family larger than this keeps
/// its own table).
pub const MAX_COLUMNS: usize = 9;

/// A matrix cell: failing verdicts in bold so that they stand out in a column of passes.
fn cell(v: Option<Verdict>) -> &'static str {
    match v {
        None => "",
        Some(Verdict::Pass) => "pass",
        Some(Verdict::NonStrict) => "NS",
        Some(Verdict::Fail) => "**FAIL**",
        Some(Verdict::Inconclusive) => "inc",
        Some(Verdict::NotApplicable) => "n/a",
        Some(Verdict::Error) => "**ERROR**",
        Some(Verdict::Xfail) => "xfail",
        Some(Verdict::Xpass) => "**XPASS**",
    }
}

/// An inline code span holding `s` verbatim: a backtick fence longer than any run inside, line
/// breaks shown as `⏎`, other control characters escaped (`\x1b`: report.md is read on
/// terminals too, [`crate::base::escape`]).
fn code(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\n', " ⏎ ");
    let s = crate::base::escape::escape(&s).into_owned();
    if s.is_empty() {
        return "(empty)".to_string();
    }
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// [`code`] for a table cell: `|` escaped (GFM needs it even inside a code span).
fn cell_code(s: &str) -> String {
    code(s).replace('|', "\\|")
}

/// The family of an ID: everything before its last `.` (`T1.TERM` for `T1.TERM.PAGER`).
fn family(id: &str) -> &str {
    id.rsplit_once('.').map_or(id, |(f, _)| f)
}

/// Cut the columns into tables: one per family, consecutive small families (at most half of
/// [`MAX_COLUMNS`] IDs each) merged while they fit.
fn column_groups(columns: &[ReqId]) -> Vec<Vec<usize>> {
    let mut families: Vec<Vec<usize>> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        match families.last_mut() {
            Some(f) if family(columns[f[0]].as_str()) == family(c.as_str()) => f.push(i),
            _ => families.push(vec![i]),
        }
    }
    let small = |n: usize| n <= MAX_COLUMNS / 2;
    let mut groups: Vec<(bool, Vec<usize>)> = Vec::new();
    for f in families {
        match groups.last_mut() {
            Some((true, g)) if small(f.len()) && g.len() + f.len() <= MAX_COLUMNS => g.extend(f),
            _ => groups.push((small(f.len()), f)),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// `T1.TERM.*` for a family of several IDs, the ID itself for a family of one.
fn group_title(g: &[usize], columns: &[ReqId]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < g.len() {
        let fam = family(columns[g[i]].as_str());
        let n = g[i..].iter().take_while(|&&k| family(columns[k].as_str()) == fam).count();
        parts.push(if n > 1 { format!("`{fam}.*`") } else { format!("`{}`", columns[g[i]]) });
        i += n;
    }
    parts.join(", ")
}

fn header(out: &mut String, r: &RunReport) {
    let run = &r.run;
    let status = r.exit_status();
    let count = |v: Verdict| r.summary.get(v.as_str()).copied().unwrap_or(0);
    let total = r.aggregate.as_ref().map_or(r.results.len(), |a| a.results);
    let _ = writeln!(out, "# imcpm report\n");
    let strict = if r.run.strict {
        format!(", {} INCONCLUSIVE with --strict", count(Verdict::Inconclusive))
    } else {
        String::new()
    };
    let unread = if status == 2 { "; a capture could not be read to its end" } else { "" };
    let _ = writeln!(
        out,
        "**{}**: exit status {status} ({} FAIL, {} ERROR, {} XPASS{strict} in {} results{unread})\n",
        if status == 0 { "PASSED" } else { "FAILED" },
        count(Verdict::Fail),
        count(Verdict::Error),
        count(Verdict::Xpass),
        total
    );
    let levels: Vec<String> = run.levels.iter().map(Level::to_string).collect();
    let _ = writeln!(out, "| run | |\n| --- | --- |");
    let _ = writeln!(out, "| tool | {} |", cell_code(&format!("{} {}", run.tool, run.version)));
    let _ = writeln!(out, "| server under test | {} |", cell_code(&run.sut));
    if let Some(f) = &run.fault {
        let _ = writeln!(out, "| deliberate fault | {} |", cell_code(f));
    }
    let _ = writeln!(out, "| levels | {} |", levels.join(", "));
    let _ = writeln!(out, "| transport | {} |", cell_code(&run.transport));
    let _ = writeln!(out, "| started | {} |", cell_code(&run.started));
    let _ = writeln!(out, "| duration | {} ms |", run.duration_ms);
    let _ = writeln!(out, "| scenario files | {} |", run.scenarios.len());
    let _ = writeln!(out, "| schema version | {} |\n", r.schema_version);
}

fn summary(out: &mut String, r: &RunReport) {
    let _ = writeln!(out, "## Summary\n\n| verdict | results |\n| --- | ---: |");
    for v in Verdict::ALL {
        let _ = writeln!(out, "| {} | {} |", v, r.summary.get(v.as_str()).copied().unwrap_or(0));
    }
    out.push('\n');
    if let Some(c) = &r.capture {
        let _ = writeln!(out, "## Capture\n");
        for n in c.notes() {
            let _ = writeln!(out, "- {n}");
        }
        out.push('\n');
    }
    if let Some(l) = &r.load {
        load(out, l);
    }
    if let Some(a) = &r.aggregate {
        let _ = writeln!(out, "## Counts per requirement\n");
        if a.left_out > 0 {
            let _ = writeln!(
                out,
                "{} results counted; the first {} of each requirement and verdict are listed below, {} more counted only.\n",
                a.results, a.kept_per_kind, a.left_out
            );
        }
        let _ = writeln!(out, "| requirement | verdict | results |\n| --- | --- | --- |");
        for c in &a.requirements {
            let counts: Vec<String> = c.counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
            let _ = writeln!(out, "| {} | {} | {} |", c.requirement, c.verdict, counts.join(", "));
        }
        out.push('\n');
        if !a.coverage.not_exercised.is_empty() {
            let ids: Vec<&str> = a.coverage.not_exercised.iter().map(|i| i.as_str()).collect();
            let _ = writeln!(out, "Not exercised: {}.\n", ids.join(", "));
        }
    }
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// A load run: totals, each step, the latency per service, and the run second by second.
fn load(out: &mut String, l: &crate::report::load::LoadStats) {
    let _ = writeln!(out, "## Load\n\n{}\n", l.summary());
    let _ = writeln!(
        out,
        "| step | rate /s | seconds | achieved /s | answered | unanswered | failing results | p50 ms | p99 ms | max ms | clean |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for (i, s) in l.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            s.rate,
            s.duration_s,
            s.achieved,
            s.counts.answered,
            s.counts.unanswered,
            s.failing,
            ms(s.latency.p50_us),
            ms(s.latency.p99_us),
            ms(s.latency.max_us),
            if s.clean { "yes" } else { "**no**" }
        );
    }
    if let Some(r) = l.last_clean_rate {
        let _ = writeln!(out, "\nHighest clean rate: {r}/s (p99 within {} ms).", l.max_p99_ms);
    }
    let _ = writeln!(
        out,
        "\nLatency (ms): from the scheduled send to the final response, and from the harness's send to the server's egress.\n\n| service | measured | samples | p50 | p90 | p99 | p99.9 | max |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (what, list) in [("scheduled send to final response", &l.latency), ("send to egress", &l.egress_latency)] {
        for (svc, p) in list {
            let _ = writeln!(
                out,
                "| {svc} | {what} | {} | {} | {} | {} | {} | {} |",
                p.count,
                ms(p.p50_us),
                ms(p.p90_us),
                ms(p.p99_us),
                ms(p.p999_us),
                ms(p.max_us)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nSecond by second (by scheduled send time):\n\n| s | offered | answered | unanswered | p50 ms | p99 ms |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for s in &l.seconds {
        let c = &s.counts;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.at_s,
            c.offered,
            c.answered,
            c.unanswered,
            ms(s.latency.p50_us),
            ms(s.latency.p99_us)
        );
    }
    out.push('\n');
}

/// A replay's captured and live egress, side by side.
fn replay(out: &mut String, r: &RunReport) {
    let Some(x) = &r.replay else { return };
    let _ = writeln!(out, "## Captured vs live egress\n");
    let _ = writeln!(out, "{} requests sent; {} not sent.\n", x.sent, x.skipped.len());
    for (frame, why) in &x.skipped {
        let _ = writeln!(out, "- frame {frame} not sent: {why}");
    }
    if !x.skipped.is_empty() {
        out.push('\n');
    }
    let block = |m: &Option<String>| -> String {
        m.as_ref().map_or_else(
            || "(nothing sent on)".to_string(),
            |t| t.split("\r\n\r\n").next().unwrap_or("").replace('`', "'"),
        )
    };
    for p in &x.pairs {
        let _ = writeln!(out, "### frame {}: {} (Call-ID {})\n", p.frame, p.cseq, p.call_id);
        let at = p.captured_frame.map_or_else(String::new, |f| format!(", frame {f}"));
        let _ = writeln!(out, "Captured{at}:\n\n```\n{}\n```\n", block(&p.captured));
        let _ = writeln!(out, "Live:\n\n```\n{}\n```\n", block(&p.live));
    }
    if x.pairs_left_out > 0 {
        let _ = writeln!(out, "{} more pairs not listed.\n", x.pairs_left_out);
    }
}

/// Which catalogue IDs a suite run left unexercised.
fn coverage(out: &mut String, r: &RunReport) {
    if let Some(c) = r.coverage.as_ref().filter(|c| !c.not_exercised.is_empty()) {
        let ids: Vec<&str> = c.not_exercised.iter().map(|i| i.as_str()).collect();
        let _ = writeln!(out, "Not exercised by this run: {}.\n", ids.join(", "));
    }
}

fn matrix(out: &mut String, r: &RunReport) {
    let m = Matrix::of(&r.results);
    let _ = writeln!(out, "## Requirement x scenario matrix\n");
    if m.rows.is_empty() {
        let _ = writeln!(out, "No results.\n");
        return;
    }
    let _ = writeln!(
        out,
        "One row per scenario and level, one column per requirement judged. Cells: pass = PASS, \
         NS = NON-STRICT, **FAIL**, inc = INCONCLUSIVE, n/a = NOT-APPLICABLE, **ERROR**, \
         xfail = XFAIL, **XPASS**; blank = not judged there.\n"
    );
    for g in column_groups(&m.columns) {
        let _ = writeln!(out, "### {}\n", group_title(&g, &m.columns));
        let _ = write!(out, "| scenario |");
        for &i in &g {
            let _ = write!(out, " {} |", m.columns[i]);
        }
        let _ = write!(out, "\n| --- |");
        for _ in &g {
            out.push_str(" :---: |");
        }
        out.push('\n');
        for row in m.rows.iter().filter(|row| g.iter().any(|&i| row.cells[i].is_some())) {
            let _ = write!(out, "| {} |", cell_code(&row_label(&row.scenario, row.level)));
            for &i in &g {
                let _ = write!(out, " {} |", cell(row.cells[i]));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    let missing = m.not_exercised();
    if !missing.is_empty() {
        let ids: Vec<String> = missing.iter().map(|id| format!("`{id}`")).collect();
        let _ = writeln!(out, "Not judged in this run: {}.\n", ids.join(", "));
    }
}

/// Each non-PASS finding of the results whose verdict `pick` selects.
fn findings(out: &mut String, r: &RunReport, title: &str, pick: fn(Verdict) -> bool) {
    let items: Vec<_> = sorted(&r.results).into_iter().filter(|x| pick(x.verdict)).collect();
    let _ = writeln!(out, "## {title}\n");
    if items.is_empty() {
        let _ = writeln!(out, "None.\n");
        return;
    }
    for x in items {
        let _ = writeln!(
            out,
            "### {} `{}` in {}\n\nclause: {}\n",
            x.verdict,
            x.requirement,
            code(&row_label(&x.scenario, x.level)),
            if x.clause.is_empty() { "-".to_string() } else { x.clause.clone() }
        );
        for f in x.findings.iter().filter(|f| f.verdict != Verdict::Pass) {
            let loc = if f.location == Location::default() {
                "(the whole trace)".to_string()
            } else {
                format!("at {}", f.location)
            };
            let _ = writeln!(
                out,
                "- **{}** {loc}\n  - expected: {}\n  - observed: {}",
                f.verdict,
                code(&f.expected),
                code(&f.observed)
            );
        }
        out.push('\n');
    }
}

fn changes(out: &mut String, r: &RunReport) {
    if r.changes.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Changes since the baseline\n\n| change | results |\n| --- | ---: |");
    for (k, n) in change_counts(&r.changes) {
        let _ = writeln!(out, "| {} | {n} |", k.as_str());
    }
    out.push('\n');
    let moved: Vec<_> = r.changes.iter().filter(|c| c.change != ChangeKind::Unchanged).collect();
    if moved.is_empty() {
        let _ = writeln!(out, "Every result has the verdict it had in the baseline.\n");
        return;
    }
    let _ = writeln!(out, "| change | scenario | requirement | before | after |\n| --- | --- | --- | --- | --- |");
    for c in moved {
        let strong = matches!(c.change, ChangeKind::NewFail);
        let kind = if strong { format!("**{}**", c.change.as_str()) } else { c.change.as_str().to_string() };
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} |",
            cell_code(&row_label(&c.scenario, c.level)),
            cell_code(&c.requirement),
            c.before.as_deref().map_or("-".to_string(), cell_code),
            if c.after.is_empty() { "-".to_string() } else { cell_code(&c.after) }
        );
    }
    out.push('\n');
}

/// report.md.
pub fn to_markdown(r: &RunReport) -> String {
    let mut out = String::new();
    header(&mut out, r);
    summary(&mut out, r);
    changes(&mut out, r);
    findings(&mut out, r, "Failures", Verdict::is_failing);
    coverage(&mut out, r);
    replay(&mut out, r);
    matrix(&mut out, r);
    findings(&mut out, r, "Other findings (NON-STRICT, INCONCLUSIVE, XFAIL)", |v| {
        matches!(v, Verdict::NonStrict | Verdict::Inconclusive | Verdict::Xfail)
    });
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_hold_backticks_and_pipes() {
        assert_eq!(cell_code("a|b"), "`a\\|b`");
        assert_eq!(code("a|b"), "`a|b`");
        assert_eq!(code("x `y` z"), "``x `y` z``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a\nb"), "`a ⏎ b`");
        assert_eq!(code("a\x1b[31mb\tc"), "`a\\x1b[31mb\\tc`");
    }

    #[test]
    fn groups_follow_families() {
        let ids: Vec<ReqId> = ReqId::ALL.to_vec();
        let g = column_groups(&ids);
        let sizes: Vec<usize> = g.iter().map(Vec::len).collect();
        assert_eq!(sizes, [6, 6, 6, 9, 5]);
    }
}
