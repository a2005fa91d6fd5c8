//! Choosing scenarios: the runs a command asks for, by level and by `--filter` globs over
//! scenario names and the requirement IDs they name.

use super::Scenario;
use crate::base::Level;

/// Match a simple glob (`*` any run, `?` one character), case-sensitive.
pub fn glob(pat: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), s.as_bytes())
}

/// True when a scenario is chosen by the filters: no filter, or one that matches its name or
/// one of the requirement IDs it names.
pub fn selected(s: &Scenario, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| glob(f, &s.name) || s.requirements.iter().any(|id| glob(f, id.as_str())))
}

/// The runs a command asks for: (scenario index, level).
pub fn plan(all: &[Scenario], level: Option<Level>, filters: &[String]) -> Vec<(usize, Level)> {
    let mut v = Vec::new();
    for (i, s) in all.iter().enumerate().filter(|(_, s)| selected(s, filters)) {
        for &l in &s.levels {
            if level.is_none_or(|x| x == l) {
                v.push((i, l));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("t1/*", "t1/pager"));
        assert!(glob("T1.TERM.*", "T1.TERM.LMM"));
        assert!(!glob("t1/*", "t2/orig/pager"));
        assert!(glob("t?/orig/*", "t2/orig/ft"));
    }
}
