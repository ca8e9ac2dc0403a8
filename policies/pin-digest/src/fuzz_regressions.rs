//! Replays `fuzz/regressions/settings/` and `fuzz/regressions/request/` through this policy,
//! with the checks of the `settings` and `request` fuzz targets (`fuzz/checks/policy.rs`).
//! A crash that `scripts/fuzz.sh` finds is copied there and fails this test until it is fixed.

#[path = "../../../fuzz/checks/policy.rs"]
mod checks;
#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

use crate::PinDigest;
use replay::{regressions_dir, replay};

#[test]
fn settings_regressions() {
    let dir = regressions_dir(env!("CARGO_MANIFEST_DIR"), "settings");
    replay(&dir, checks::settings::<PinDigest>);
}

#[test]
fn request_regressions() {
    let dir = regressions_dir(env!("CARGO_MANIFEST_DIR"), "request");
    let host = checks::fixture_host();
    replay(&dir, |data| checks::request::<PinDigest>(data, &host));
}
