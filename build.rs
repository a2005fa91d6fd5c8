//! The built-in scenario suite: every file under `scenarios/` (scenario files and the templates
//! they use; dot files aside) is embedded in the binary through a generated list of
//! `include_bytes!`, so that `imcpm run` works from any directory and after `cargo install`
//! (src/scenario/load.rs reads the list). Cargo re-runs this script when anything under
//! `scenarios/` changes, which also rebuilds the tests that discover the files at compile time
//! (tests/it/scenarios.rs, rstest `#[files]`).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=scenarios");
    let root =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// Every file under `scenarios/`: (path below it with `/` separators, bytes), sorted by path.\n\
         pub(super) static FILES: &[(&str, &[u8])] = &[\n",
    );
    for rel in &files {
        let abs = root.join(rel);
        out.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", abs.display().to_string()));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin_scenarios.rs");
    std::fs::write(&dest, out).expect("OUT_DIR is writable");
}

/// The files below `dir`, as paths relative to `root` with `/` separators; dot files and dot
/// folders are left out.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in entries {
        let p = e.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        let name = p.file_name().and_then(|n| n.to_str());
        let name = name.unwrap_or_else(|| panic!("{}: a file name under scenarios/ must be UTF-8", p.display()));
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).expect("below the root");
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push(parts.join("/"));
        }
    }
}
