//! Replays the files of `fuzz/regressions/<target>/` natively: shared, through `#[path]`, by
//! `sdk-shim/tests/fuzz_regressions.rs` and each policy crate's `fuzz_regressions` unit test.
#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// `fuzz/regressions/<target>` of this repository, from a crate's manifest directory.
pub fn regressions_dir(manifest_dir: &str, target: &str) -> PathBuf {
    let mut dir = Path::new(manifest_dir);
    while !dir.join("fuzz").join("regressions").is_dir() {
        dir = dir
            .parent()
            .unwrap_or_else(|| panic!("no fuzz/regressions above {manifest_dir}"));
    }
    dir.join("fuzz").join("regressions").join(target)
}

/// Runs `check` on every file of `dir` (dotfiles such as `.gitkeep` aside) and fails naming each
/// input that panics. Returns how many inputs ran.
pub fn replay(dir: &Path, check: impl Fn(&[u8])) -> usize {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for file in &files {
        let data =
            std::fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{}: {message}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fuzz regressions in {} panic:\n{}",
        failures.len(),
        files.len(),
        dir.display(),
        failures.join("\n")
    );
    files.len()
}
