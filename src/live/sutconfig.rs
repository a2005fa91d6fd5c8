//! The SUT config (`imcpm run --sut-config FILE`): what the harness must know about an external
//! server under test, in TOML, validated like a scenario file (unknown keys, wrong types,
//! duplicate users, bad values: an error naming the file, line and column).
//!
//! ```toml
//! sut = "udp:192.0.2.10:5060"     # the server (TRANSPORT:IP:PORT, IPv6 in brackets)
//! listen = "udp:192.0.2.1:5070"   # optional: where the harness's core listens
//! level = 1                       # 1 or 2
//! domain = "im.example.net"       # optional: the server's domain (default im.example.net)
//! role = "proxy"                  # optional; only proxy is judged
//! routing = "route-set"           # optional; or "next-hop": no Route set, the server's next
//!                                 # hop fixed to `listen` (then required)
//! provisioning = "register"       # "register" (third-party REGISTER) or "users-file"
//!
//! [timeouts]                      # optional
//! quiet_ms = 30                   # a step ends once the world was idle this long
//!
//! [[users]]                       # local users the server knows (the pool)
//! aor = "sip:u1@im.example.net"
//! kind = "cpm"                    # "im" or "cpm"
//!
//! [[deviations]]                  # known failures: FAIL becomes XFAIL, a PASS is XPASS
//! requirement = "T1.TERM.LMM"
//! scenario = "t1/lmm"             # a scenario name or glob
//! reason = "textops cannot add the second feature tag"
//! observed = "large-message"      # optional: only findings whose observed text has this
//! ```

use super::PoolUser;
use crate::base::{ClientKind, Level};
use crate::interop::finding::{Finding, Verdict};
use crate::interop::rules::ReqId;
use crate::net::Listen;
use crate::report::ResultItem;
use miette::{Diagnostic, NamedSource, SourceSpan};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// A known deviation of the server under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deviation {
    /// The requirement it fails.
    pub requirement: ReqId,
    /// The scenario name or glob it fails in.
    pub scenario: String,
    /// Why (shown with the XFAIL).
    pub reason: String,
    /// Only findings whose observed text contains this (e.g. `over UDP`): other failures of
    /// the same requirement stay FAIL. None: every failure of the requirement in the scenario.
    pub observed: Option<String>,
}

/// How the server learns its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    /// Third-party REGISTERs from the core (D8); a pool is optional.
    Register,
    /// A users file the server was started with: the pool must be given.
    UsersFile,
}

/// A validated SUT config.
#[derive(Debug, Clone, PartialEq)]
pub struct SutConfig {
    /// The server.
    pub sut: Listen,
    /// Where the harness's core listens.
    pub listen: Option<Listen>,
    /// Interop level.
    pub level: Level,
    /// How the server learns its users.
    pub provisioning: Provisioning,
    /// The core reaches the server with the ISC Route set (true) or with none, the server's
    /// next hop being fixed to `listen` (`routing = "next-hop"`).
    pub route_set: bool,
    /// The server's domain (its local users', and the core's).
    pub domain: String,
    /// Quiet time that ends a step.
    pub quiet: Option<Duration>,
    /// The user pool.
    pub users: Vec<PoolUser>,
    /// Known deviations.
    pub deviations: Vec<Deviation>,
}

/// A SUT config that cannot be used, pointing at the offending place.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{path}:{line}:{column}: {message}")]
#[diagnostic(help("see docs/live-testing.md for the keys of a SUT config"))]
pub struct SutConfigError {
    /// The file.
    pub path: String,
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    at: SourceSpan,
}

impl SutConfigError {
    fn new(path: &Path, text: &str, span: Range<usize>, message: String) -> Box<SutConfigError> {
        let start = span.start.min(text.len());
        let (line, column) = crate::base::line_column(text, start);
        Box::new(SutConfigError {
            path: path.display().to_string(),
            line,
            column,
            message,
            src: NamedSource::new(path.display().to_string(), text.to_string()),
            at: (start, span.end.saturating_sub(start).max(1)).into(),
        })
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    sut: Spanned<String>,
    listen: Option<Spanned<String>>,
    level: Spanned<i64>,
    domain: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    routing: Option<Spanned<String>>,
    provisioning: Option<Spanned<String>>,
    timeouts: Option<RawTimeouts>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    deviations: Vec<RawDeviation>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    quiet_ms: Option<Spanned<i64>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    aor: Spanned<String>,
    kind: Spanned<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeviation {
    requirement: Spanned<String>,
    scenario: Spanned<String>,
    reason: Spanned<String>,
    observed: Option<Spanned<String>>,
}

/// Parse and validate a SUT config's text.
pub fn parse(path: &Path, text: &str) -> Result<SutConfig, Box<SutConfigError>> {
    let err = |span: Range<usize>, msg: String| SutConfigError::new(path, text, span, msg);
    let raw: Raw = toml::from_str(text).map_err(|e| err(e.span().unwrap_or(0..0), e.message().trim().to_string()))?;
    let listen_of = |s: &Spanned<String>| -> Result<Listen, Box<SutConfigError>> {
        s.get_ref().parse::<Listen>().map_err(|e| err(s.span(), e.to_string()))
    };
    let sut = listen_of(&raw.sut)?;
    let listen = raw.listen.as_ref().map(listen_of).transpose()?;
    if let Some(l) = &listen {
        if l.transport != sut.transport {
            let s = raw.listen.as_ref().map_or(0..0, Spanned::span);
            return Err(err(
                s,
                format!("listen is over {} but the server is reached over {}", l.transport, sut.transport),
            ));
        }
    }
    let level = match *raw.level.get_ref() {
        1 => Level::One,
        2 => Level::Two,
        n => return Err(err(raw.level.span(), format!("level must be 1 or 2, got {n}"))),
    };
    if let Some(r) = &raw.role {
        if r.get_ref() != "proxy" {
            let msg =
                format!("role `{}`: only `proxy` is judged (a B2BUA is not yet: docs/decisions.md#d6)", r.get_ref());
            return Err(err(r.span(), msg));
        }
    }
    let route_set = match raw.routing.as_ref().map(|r| (r.get_ref().as_str(), r.span())) {
        None | Some(("route-set", _)) => true,
        Some(("next-hop", span)) => {
            if listen.is_none() {
                let msg = "routing `next-hop` needs `listen`: the fixed address the server sends everything to".into();
                return Err(err(span, msg));
            }
            false
        }
        Some((other, span)) => {
            let msg = format!(
                "routing `{other}`: expected `route-set` (the ISC Route set through the harness's core) or `next-hop` (no Route set; the server's next hop is fixed to `listen`)"
            );
            return Err(err(span, msg));
        }
    };
    let provisioning = match raw.provisioning.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("register", _)) => Provisioning::Register,
        Some(("users-file", _)) => Provisioning::UsersFile,
        Some((other, span)) => {
            return Err(err(span, format!("provisioning `{other}`: expected `register` or `users-file`")));
        }
    };
    let quiet = match raw.timeouts.and_then(|t| t.quiet_ms) {
        Some(q) if (1..=10_000).contains(q.get_ref()) => Some(Duration::from_millis(*q.get_ref() as u64)),
        Some(q) => return Err(err(q.span(), format!("quiet_ms must be 1 to 10000, got {}", q.get_ref()))),
        None => None,
    };
    let domain = match &raw.domain {
        None => crate::scenario::run::DOMAIN.to_string(),
        Some(d) => {
            let v = d.get_ref().trim().to_ascii_lowercase();
            let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !ok || v == crate::scenario::run::REMOTE_DOMAIN {
                let msg = format!(
                    "domain `{}`: a host name (letters, digits, dots, dashes), not the remote network's {}",
                    d.get_ref(),
                    crate::scenario::run::REMOTE_DOMAIN
                );
                return Err(err(d.span(), msg));
            }
            v
        }
    };
    let mut users: Vec<PoolUser> = Vec::new();
    for u in &raw.users {
        let Some(aor) = crate::interop::registration::aor(u.aor.get_ref()).filter(|_| u.aor.get_ref().contains(':'))
        else {
            return Err(err(u.aor.span(), format!("`{}` is not a SIP or tel URI", u.aor.get_ref())));
        };
        if !aor.ends_with(&format!("@{domain}")) {
            let msg = format!("`{aor}`: the harness's core serves {domain}; a pool user must be in that domain");
            return Err(err(u.aor.span(), msg));
        }
        if users.iter().any(|x| x.aor == aor) {
            return Err(err(u.aor.span(), format!("duplicate user `{aor}`")));
        }
        let kind = match u.kind.get_ref().to_ascii_lowercase().as_str() {
            "im" => ClientKind::Im,
            "cpm" => ClientKind::Cpm,
            other => {
                return Err(err(u.kind.span(), format!("unknown client kind `{other}` (expected \"im\" or \"cpm\")")));
            }
        };
        users.push(PoolUser { aor, kind });
    }
    if provisioning == Provisioning::UsersFile && users.is_empty() {
        let span = raw.provisioning.as_ref().map_or(0..0, Spanned::span);
        return Err(err(span, "provisioning `users-file` needs the users the server was given ([[users]])".into()));
    }
    let mut deviations = Vec::new();
    for d in &raw.deviations {
        let Some(id) = ReqId::parse(d.requirement.get_ref()) else {
            return Err(err(
                d.requirement.span(),
                format!("unknown requirement `{}` (see imcpm rules)", d.requirement.get_ref()),
            ));
        };
        if d.scenario.get_ref().trim().is_empty() {
            return Err(err(d.scenario.span(), "scenario must name a scenario (or a glob)".into()));
        }
        if d.reason.get_ref().trim().is_empty() {
            return Err(err(d.reason.span(), "reason must say why the server deviates".into()));
        }
        if d.observed.as_ref().is_some_and(|o| o.get_ref().trim().is_empty()) {
            let span = d.observed.as_ref().map_or(0..0, Spanned::span);
            return Err(err(span, "observed must be some text of the finding (or be left out)".into()));
        }
        deviations.push(Deviation {
            requirement: id,
            scenario: d.scenario.get_ref().clone(),
            reason: d.reason.get_ref().trim().to_string(),
            observed: d.observed.as_ref().map(|o| o.get_ref().clone()),
        });
    }
    Ok(SutConfig { sut, listen, level, provisioning, route_set, domain, quiet, users, deviations })
}

/// Read and parse a SUT config.
pub fn load(path: &Path) -> Result<SutConfig, miette::Report> {
    let text = std::fs::read_to_string(path).map_err(|e| miette::miette!("--sut-config {}: {e}", path.display()))?;
    parse(path, &text).map_err(|e| miette::Report::new(*e))
}

/// Apply the known deviations to the results. A FAIL result becomes XFAIL when the deviations
/// that name its requirement and scenario together cover every FAIL finding of it: each covers
/// all of them, or with `observed` those whose observed text contains it (so a deviation for one
/// defect does not hide another). The findings say the reasons. A deviation that covers no
/// failing finding any more, while some of its results pass, is stale: when the run held every
/// scenario of `suite` (the names of the whole suite) the deviation names, those PASS become
/// XPASS, which fails the run until it is removed; otherwise it is only returned with the
/// unused ones. (A glob deviation may match
/// results that pass beside ones that fail, e.g. a size rule only some messages cross: those
/// stay PASS.) Returns the deviations that matched no result, or are stale in a partial run.
pub fn apply(deviations: &[Deviation], results: &mut [ResultItem], suite: &[String]) -> Vec<Deviation> {
    let matches = |d: &Deviation, r: &ResultItem| {
        d.requirement == r.requirement && crate::scenario::glob(&d.scenario, &r.scenario)
    };
    let covers = |d: &Deviation, f: &Finding| d.observed.as_ref().is_none_or(|o| f.observed.contains(o.as_str()));
    // Which deviations still see a failure they cover (before any conversion).
    let live: Vec<bool> = deviations
        .iter()
        .map(|d| {
            results
                .iter()
                .any(|r| matches(d, r) && r.findings.iter().any(|f| f.verdict == Verdict::Fail && covers(d, f)))
        })
        .collect();
    // Whether the run held every scenario of the suite the deviation names.
    let complete: Vec<bool> = deviations
        .iter()
        .map(|d| {
            suite
                .iter()
                .filter(|n| crate::scenario::glob(&d.scenario, n))
                .all(|n| results.iter().any(|r| &r.scenario == n))
        })
        .collect();
    let mut unused = Vec::new();
    for (i, d) in deviations.iter().enumerate() {
        if !results.iter().any(|r| matches(d, r)) || (!live[i] && !complete[i]) {
            unused.push(d.clone());
        }
    }
    for r in results.iter_mut() {
        let ds: Vec<&Deviation> = deviations.iter().filter(|d| matches(d, r)).collect();
        if ds.is_empty() {
            continue;
        }
        match r.verdict {
            Verdict::Fail => {
                let fails: Vec<&Finding> = r.findings.iter().filter(|f| f.verdict == Verdict::Fail).collect();
                if !fails.iter().all(|f| ds.iter().any(|d| covers(d, f))) {
                    continue;
                }
                r.verdict = Verdict::Xfail;
                for f in r.findings.iter_mut().filter(|f| f.verdict == Verdict::Fail) {
                    let reasons: Vec<&str> = ds.iter().filter(|d| covers(d, f)).map(|d| d.reason.as_str()).collect();
                    f.verdict = Verdict::Xfail;
                    f.observed = format!("{} (known deviation: {})", f.observed, reasons.join("; "));
                }
            }
            Verdict::Pass => {
                let stale: Vec<&&Deviation> = ds
                    .iter()
                    .filter(|d| deviations.iter().position(|x| x == **d).is_some_and(|i| !live[i] && complete[i]))
                    .collect();
                if let Some(d) = stale.first() {
                    r.verdict = Verdict::Xpass;
                    r.findings.push(Finding::new(
                        d.requirement,
                        Verdict::Xpass,
                        format!("a FAIL (known deviation listed in the SUT config: {})", d.reason),
                        "PASS: remove the deviation from the SUT config",
                    ));
                }
            }
            _ => {}
        }
    }
    unused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<SutConfig, Box<SutConfigError>> {
        parse(Path::new("sut.toml"), text)
    }

    #[test]
    fn a_full_config_parses() {
        let c = p(r#"
sut = "udp:127.0.0.1:5070"
listen = "udp:127.0.0.2:5080"
level = 2
role = "proxy"
routing = "route-set"
provisioning = "users-file"
[timeouts]
quiet_ms = 50
[[users]]
aor = "sip:u1@im.example.net"
kind = "cpm"
[[deviations]]
requirement = "T1.TERM.LMM"
scenario = "t1/*"
reason = "one substitution per header"
"#)
        .unwrap();
        assert_eq!(c.level, Level::Two);
        assert_eq!(c.quiet, Some(Duration::from_millis(50)));
        assert_eq!(c.users, vec![PoolUser { aor: "sip:u1@im.example.net".into(), kind: ClientKind::Cpm }]);
        assert_eq!(c.deviations[0].requirement, ReqId::T1_TERM_LMM);
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 1\ncolour = 3\n", 3, "unknown field `colour`"),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = \"one\"\n", 2, "invalid type"),
            ("sut = \"udp:127.0.0.1\"\nlevel = 1\n", 1, "missing port"),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 3\n", 2, "level must be 1 or 2"),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 1\nrole = \"b2bua\"\n", 3, "only `proxy`"),
            (
                "sut = \"udp:127.0.0.1:5070\"\nlevel = 1\n[[users]]\naor = \"sip:a@im.example.net\"\nkind = \"im\"\n[[users]]\naor = \"sip:a@im.example.net\"\nkind = \"cpm\"\n",
                7,
                "duplicate user",
            ),
            (
                "sut = \"udp:127.0.0.1:5070\"\nlevel = 1\n[[users]]\naor = \"sip:a@elsewhere.org\"\nkind = \"im\"\n",
                4,
                "must be in that domain",
            ),
            (
                "sut = \"udp:127.0.0.1:5070\"\nlevel = 1\n[[deviations]]\nrequirement = \"T9.NOPE\"\nscenario = \"x\"\nreason = \"y\"\n",
                4,
                "unknown requirement",
            ),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 1\nprovisioning = \"users-file\"\n", 3, "needs the users"),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 1\nrouting = \"next-hop\"\n", 3, "needs `listen`"),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 1\nrouting = \"dns\"\n", 3, "expected `route-set`"),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 1\ndomain = \"a b\"\n", 3, "a host name"),
            (
                "sut = \"udp:127.0.0.1:5070\"\nlevel = 1\ndomain = \"ims.example.org\"\n[[users]]\naor = \"sip:a@im.example.net\"\nkind = \"im\"\n",
                5,
                "serves ims.example.org",
            ),
            ("sut = \"udp:127.0.0.1:5070\"\nlevel = 1\n[timeouts]\nquiet_ms = 0\n", 4, "quiet_ms"),
        ];
        for (text, line, msg) in cases {
            let e = p(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(msg), "{text}: {e}");
            assert!(e.to_string().starts_with(&format!("sut.toml:{line}:")), "{e}");
        }
    }

    #[test]
    fn deviations_turn_fail_into_xfail_and_pass_into_xpass() {
        let fail = Finding::new(ReqId::T1_TERM_LMM, Verdict::Fail, "x", "y");
        let pass = Finding::new(ReqId::T1_TERM_PAGER, Verdict::Pass, "x", "x");
        let mut results = crate::report::group("t1/lmm", Level::One, &[fail]);
        results.extend(crate::report::group("t1/pager", Level::One, &[pass]));
        let d =
            |id, s: &str| Deviation { requirement: id, scenario: s.into(), reason: "because".into(), observed: None };
        let unused = apply(
            &[d(ReqId::T1_TERM_LMM, "t1/*"), d(ReqId::T1_TERM_PAGER, "t1/pager"), d(ReqId::T2_ONLINE_ONLY, "x")],
            &mut results,
            &[],
        );
        assert_eq!(results[0].verdict, Verdict::Xfail);
        assert!(results[0].findings[0].observed.contains("known deviation: because"));
        assert_eq!(results[1].verdict, Verdict::Xpass);
        assert!(crate::report::failing(&results));
        assert_eq!(unused.len(), 1);
        // A glob matching a FAIL and a PASS: the FAIL is XFAIL, the PASS stays.
        let fail = Finding::new(ReqId::SIP_FRAMING, Verdict::Fail, "x", "y");
        let pass = Finding::new(ReqId::SIP_FRAMING, Verdict::Pass, "x", "x");
        let mut results = crate::report::group("t1/lmm", Level::One, &[fail]);
        results.extend(crate::report::group("t1/pager", Level::One, &[pass]));
        apply(&[d(ReqId::SIP_FRAMING, "*")], &mut results, &[]);
        assert_eq!((results[0].verdict, results[1].verdict), (Verdict::Xfail, Verdict::Pass));
        assert!(!crate::report::failing(&results));
        // With `observed`, another failure of the same requirement stays FAIL.
        let size = Finding::new(ReqId::SIP_FRAMING, Verdict::Fail, "TCP", "1357 bytes over UDP");
        let length = Finding::new(ReqId::SIP_FRAMING, Verdict::Fail, "Content-Length 12", "Content-Length 13");
        let mut results = crate::report::group("t1/lmm", Level::One, &[size]);
        results.extend(crate::report::group("t1/ft", Level::One, &[length]));
        let narrow = Deviation { observed: Some("over UDP".into()), ..d(ReqId::SIP_FRAMING, "*") };
        let mut one = results.clone();
        apply(std::slice::from_ref(&narrow), &mut one, &[]);
        assert_eq!((one[0].verdict, one[1].verdict), (Verdict::Xfail, Verdict::Fail));
        // Two defects of one requirement in one result, each with its own deviation: together
        // they cover it.
        let size = Finding::new(ReqId::SIP_FRAMING, Verdict::Fail, "TCP", "1357 bytes over UDP");
        let length = Finding::new(ReqId::SIP_FRAMING, Verdict::Fail, "Content-Length 12", "Content-Length 13");
        let mut both = crate::report::group("t1/lmm", Level::One, &[size, length]);
        let cl = Deviation { observed: Some("Content-Length".into()), ..d(ReqId::SIP_FRAMING, "t1/lmm") };
        let mut alone = both.clone();
        apply(std::slice::from_ref(&narrow), &mut alone, &[]);
        assert_eq!(alone[0].verdict, Verdict::Fail, "one deviation does not cover the other defect");
        apply(&[narrow.clone(), cl], &mut both, &[]);
        assert_eq!(both[0].verdict, Verdict::Xfail);
        // A stale deviation in a run of part of the suite: no XPASS, returned instead.
        let pass = Finding::new(ReqId::T1_TERM_PAGER, Verdict::Pass, "x", "x");
        let mut part = crate::report::group("t1/pager", Level::One, &[pass]);
        let suite = vec!["t1/pager".to_string(), "t1/lmm".to_string()];
        let unused = apply(&[d(ReqId::T1_TERM_PAGER, "*")], &mut part, &suite);
        assert_eq!((part[0].verdict, unused.len()), (Verdict::Pass, 1));
    }
}
