//! Rebuild the tests when scenario files are added or removed: tests/scenarios.rs discovers them
//! at compile time (rstest `#[files]`), one case per file.

fn main() {
    println!("cargo:rerun-if-changed=scenarios");
}
