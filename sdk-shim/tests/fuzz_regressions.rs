//! Replays `fuzz/regressions/reference/` and `fuzz/regressions/pattern/` natively, with the same
//! checks as the `reference` and `pattern` fuzz targets (`fuzz/checks/shim.rs`). A crash that
//! `scripts/fuzz.sh` finds is copied there and fails this test until it is fixed.

#[path = "../../fuzz/checks/replay.rs"]
mod replay;
#[path = "../../fuzz/checks/shim.rs"]
mod shim;

use replay::{regressions_dir, replay};

#[test]
fn reference_regressions() {
    let dir = regressions_dir(env!("CARGO_MANIFEST_DIR"), "reference");
    replay(&dir, shim::reference);
}

#[test]
fn pattern_regressions() {
    let dir = regressions_dir(env!("CARGO_MANIFEST_DIR"), "pattern");
    replay(&dir, shim::pattern);
}

#[test]
fn the_replay_fails_on_a_panicking_input() {
    let dir = std::env::temp_dir().join(format!("fuzz-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("boom"), b"boom").unwrap();
    std::fs::write(dir.join(".gitkeep"), b"").unwrap();
    let result = std::panic::catch_unwind(|| {
        replay(&dir, |data| {
            assert_ne!(data, b"boom", "the input went boom")
        })
    });
    std::fs::remove_dir_all(&dir).unwrap();
    let panic = result.expect_err("a panicking input fails the replay");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("boom: assertion") && message.contains("1 of 1"),
        "{message}"
    );
}
