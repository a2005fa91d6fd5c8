//! Writing a run's reports: the report directory (an earlier run there moved aside first), the
//! four report files, and the run's times (its start in RFC 3339, its duration, CPU seconds).

use super::model::RunReport;
use crate::base::push_digits;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A report directory or file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {err}")]
pub struct WriteError {
    /// What was being written (a path, or the move of the previous run).
    pub what: String,
    /// Why it failed.
    pub err: io::Error,
}

/// The files of a run's reports, the only files the report directory's rotation moves.
pub const REPORT_FILES: [&str; 4] = ["report.json", "junit.xml", "report.md", "report.html"];

/// Write the reports of `r` into `dir`: report.json, junit.xml, report.md and report.html. The
/// report files of an earlier run there (a `report.json`) are moved first to `previous` beside a
/// directory named `latest`, to `<dir>.previous` otherwise, replacing the report files of an
/// earlier run there but never writing into a directory without a `report.json`. Other files,
/// in either directory, are never moved or removed.
pub fn write_reports(dir: &Path, r: &RunReport) -> Result<(), WriteError> {
    move_previous(dir)
        .map_err(|err| WriteError { what: format!("moving the previous run out of {}", dir.display()), err })?;
    std::fs::create_dir_all(dir).map_err(|err| WriteError { what: dir.display().to_string(), err })?;
    for (name, body) in [
        ("report.json", super::json::to_json(r)),
        ("junit.xml", super::junit::to_junit(r)),
        ("report.md", super::markdown::to_markdown(r)),
        ("report.html", super::html::to_html(r)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|err| WriteError { what: p.display().to_string(), err })?;
    }
    Ok(())
}

/// Where an earlier run in `dir` is moved: `previous` beside a directory named `latest`,
/// `<dir>.previous` otherwise.
pub fn previous_dir(dir: &Path) -> PathBuf {
    // `.`, `..` or a path ending in them name a directory by its real name.
    let named = match dir.file_name() {
        Some(_) => dir.to_path_buf(),
        None => dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()),
    };
    match named.file_name().and_then(|n| n.to_str()) {
        Some("latest") => named.with_file_name("previous"),
        _ => PathBuf::from(format!("{}.previous", named.display())),
    }
}

/// Check, before anything runs, that [`write_reports`] will be able to write into `dir`, so
/// that a long run does not end in an error: `dir` is a directory or can be created, files can
/// be created in it, and an earlier run in it can be moved aside (to [`previous_dir`], which is
/// free or holds an earlier run). Nothing is left behind. The error says what is wrong.
pub fn check_report_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{shown} exists and is not a directory"));
    }
    // The directory files will be created in: `dir`, or the nearest ancestor that exists.
    let mut base = dir.to_path_buf();
    while !base.exists() {
        match base.parent() {
            Some(p) if !p.as_os_str().is_empty() => base = p.to_path_buf(),
            _ => {
                base = PathBuf::from(".");
                break;
            }
        }
    }
    if !base.is_dir() {
        return Err(format!("{shown} cannot be created: {} is not a directory", base.display()));
    }
    writable(&base).map_err(|e| format!("{shown}: cannot write in {}: {e}", base.display()))?;
    if dir.join("report.json").exists() {
        let prev = previous_dir(dir);
        if prev.exists() && !prev.join("report.json").exists() {
            return Err(format!(
                "{shown} holds an earlier run, to be moved to {}, which exists and holds no report.json; move it away",
                prev.display()
            ));
        }
        let parent = prev.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        writable(parent)
            .map_err(|e| format!("{shown}: the earlier run in it cannot be moved to {}: {e}", prev.display()))?;
    }
    Ok(())
}

/// Create and remove a file in `dir`.
fn writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!(".imcpm-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

fn move_previous(dir: &Path) -> io::Result<()> {
    if !dir.join("report.json").exists() {
        return Ok(());
    }
    let prev = previous_dir(dir);
    if prev.exists() && !prev.join("report.json").exists() {
        // Only ever write into an earlier run's directory of ours, never someone's.
        return Err(io::Error::other(format!("{} exists and holds no report.json; move it away", prev.display())));
    }
    std::fs::create_dir_all(&prev)?;
    for name in REPORT_FILES {
        let (from, to) = (dir.join(name), prev.join(name));
        if to.exists() {
            std::fs::remove_file(&to)?;
        }
        if from.exists() {
            std::fs::rename(&from, &to)?;
        }
    }
    Ok(())
}

/// Set the run's start time and duration: when it `started` and how long it took, or with
/// `deterministic` the epoch and 0 (for diffs and snapshots).
pub fn stamp(r: &mut RunReport, started: SystemTime, elapsed: Duration, deterministic: bool) {
    if deterministic {
        r.run.started = rfc3339(0);
        r.run.duration_ms = 0;
    } else {
        let secs = started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        r.run.started = rfc3339(secs);
        r.run.duration_ms = elapsed.as_millis() as u64;
    }
}

/// CPU seconds used by this process so far (Linux /proc; 0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// RFC 3339 UTC time of a Unix timestamp.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // As `format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", ...)` writes it, without the
    // formatting machinery (a capture's report writes one per message a finding points at).
    let mut out = String::with_capacity(20);
    for (sep, v, width) in [
        ("", y as u64, 4),
        ("-", m as u64, 2),
        ("-", d as u64, 2),
        ("T", rem / 3600, 2),
        (":", rem % 3600 / 60, 2),
        (":", rem % 60, 2),
    ] {
        out.push_str(sep);
        push_digits(&mut out, v, width);
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(59), "1970-01-01T00:00:59Z");
        assert_eq!(rfc3339(3_599), "1970-01-01T00:59:59Z");
        assert_eq!(rfc3339(86_399), "1970-01-01T23:59:59Z");
        assert_eq!(rfc3339(1_714_558_500), "2024-05-01T10:15:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        // A fifth digit of year is written, not cut.
        assert_eq!(rfc3339(253_402_300_800), "10000-01-01T00:00:00Z");
        let mut s = String::new();
        for (v, w) in [(0, 6), (7, 6), (123_456, 6), (1_234_567, 6), (5, 0), (u64::MAX, 2)] {
            s.clear();
            push_digits(&mut s, v, w);
            assert_eq!(s, format!("{v:0w$}"));
        }
    }
}
