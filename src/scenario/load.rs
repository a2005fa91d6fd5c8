//! Reading scenarios: a folder of `*.toml` files ([`load_dir`]), one file or a folder
//! ([`load_path`]), or the suite built into the binary ([`builtin`]: every file under
//! `scenarios/` of the source tree, embedded by build.rs). A scenario's templates are read
//! with it, relative to its file, so that a run never touches the disk; everything is checked
//! when it is loaded (`scenario/validate.rs`), and a load reports every problem it finds.

use super::model::{Origin, Scenario};
use super::problem::{Problem, ScenarioError};
use std::io;
use std::path::{Component, Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));
}

/// The folder the built-in scenarios' paths start with (their folder in the source tree).
pub const BUILTIN_ROOT: &str = "scenarios";

/// Where a load reads the templates of its scenarios from.
pub(super) trait Files {
    /// The text of the file at `path` (a template path resolved against its scenario's path).
    fn read(&self, path: &Path) -> io::Result<String>;
}

/// Files on disk.
struct Disk;

impl Files for Disk {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// The files embedded in the binary, by their path below [`BUILTIN_ROOT`].
struct Embedded;

impl Files for Embedded {
    fn read(&self, path: &Path) -> io::Result<String> {
        let rel = path.strip_prefix(BUILTIN_ROOT).ok().and_then(normalize);
        let bytes = rel.and_then(|r| builtin_file(&r)).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// A relative path without `.` and `..` as `/`-separated text, or `None` when it leaves its
/// folder or is absolute.
fn normalize(p: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => parts.push(x.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Every file of the built-in suite: (path below [`BUILTIN_ROOT`] with `/` separators,
/// bytes), sorted by path. The scenarios' bytes are those of the files in the source tree, so
/// their hashes in a report are the files' hashes.
pub fn builtin_files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

fn builtin_file(rel: &str) -> Option<&'static [u8]> {
    embedded::FILES.iter().find(|(p, _)| *p == rel).map(|(_, b)| *b)
}

/// The built-in suite: every scenario file embedded in the binary, sorted by name.
pub fn builtin() -> Result<Vec<Scenario>, ScenarioError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (rel, bytes) in embedded::FILES.iter().filter(|(p, _)| p.ends_with(".toml")) {
        let path = Path::new(BUILTIN_ROOT).join(rel);
        let name = rel.trim_end_matches(".toml");
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::file(&path.display().to_string(), format!("not UTF-8 text: {e}")));
                continue;
            }
        };
        match parse_in(name, &path, text, Origin::BuiltIn, &Embedded) {
            Ok(s) => out.push(s),
            Err(p) => problems.extend(p),
        }
    }
    ScenarioError::of(problems).map_or(Ok(out), Err)
}

/// The files a built-in scenario needs, as paths below [`BUILTIN_ROOT`]: its own and the
/// templates its steps use.
pub fn builtin_files_of(s: &Scenario) -> Vec<String> {
    let mut v = vec![format!("{}.toml", s.name)];
    let dir = Path::new(&s.name).parent().unwrap_or(Path::new(""));
    for t in s.steps.iter().filter_map(|st| st.template.as_deref()) {
        if let Some(rel) = normalize(&dir.join(t)) {
            if !v.contains(&rel) {
                v.push(rel);
            }
        }
    }
    v
}

/// Parse the scenario file at `path` (see [`Scenario::parse`]).
pub(super) fn parse_file(name: &str, path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    parse_in(name, path, text, Origin::File(path.to_path_buf()), &Disk).map_err(|problems| ScenarioError { problems })
}

/// Parse and check one scenario; its templates are read through `files`.
fn parse_in(name: &str, path: &Path, text: &str, origin: Origin, files: &dyn Files) -> Result<Scenario, Vec<Problem>> {
    let shown = path.display().to_string();
    let mut s: Scenario = toml::from_str(text)
        .map_err(|e| vec![Problem::at(&shown, text, e.span().unwrap_or(0..0), e.message().trim())])?;
    s.name = name.to_string();
    s.path = path.to_path_buf();
    s.origin = origin;
    s.source = text.as_bytes().to_vec();
    let problems = super::validate::validate(&mut s, text, files);
    if problems.is_empty() { Ok(s) } else { Err(problems) }
}

/// Load every `*.toml` below `dir`, sorted by name (the path below `dir`, without `.toml`),
/// with the templates they use. Every problem of every file is reported.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let mut files = Vec::new();
    collect(dir, &mut files)
        .map_err(|e| ScenarioError::one(Problem::file(&dir.display().to_string(), e.to_string())))?;
    files.sort();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for f in files {
        let name = f.strip_prefix(dir).unwrap_or(&f).with_extension("").to_string_lossy().replace('\\', "/");
        match read_one(&name, &f) {
            Ok(s) => out.push(s),
            Err(p) => problems.extend(p),
        }
    }
    ScenarioError::of(problems).map_or(Ok(out), Err)
}

/// Load the scenarios at `path`: every `*.toml` below it when it is a folder ([`load_dir`]),
/// else the one scenario file it names (its name is the file name without `.toml`).
pub fn load_path(path: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    if path.is_dir() {
        return load_dir(path);
    }
    let name = path.file_stem().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    read_one(&name, path).map(|s| vec![s]).map_err(|problems| ScenarioError { problems })
}

fn read_one(name: &str, path: &Path) -> Result<Scenario, Vec<Problem>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![Problem::file(&path.display().to_string(), e.to_string())])?;
    parse_in(name, path, &text, Origin::File(path.to_path_buf()), &Disk)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_inside_their_folder_only() {
        assert_eq!(normalize(Path::new("proxy/./x.sip")).as_deref(), Some("proxy/x.sip"));
        assert_eq!(normalize(Path::new("t1/../proxy/x.sip")).as_deref(), Some("proxy/x.sip"));
        assert_eq!(normalize(Path::new("../x.sip")), None);
        assert_eq!(normalize(Path::new("/etc/passwd")), None);
    }

    #[test]
    fn a_built_in_template_is_read_from_the_binary() {
        let t = Embedded.read(Path::new("scenarios/proxy/../proxy/max-forwards.sip")).unwrap();
        assert!(t.starts_with("MESSAGE {to} SIP/2.0"), "{t}");
        assert_eq!(Embedded.read(Path::new("scenarios/no-such.sip")).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
