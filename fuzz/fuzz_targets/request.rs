//! Whole `validate` payloads (`{"request": …, "settings": …}`) through every policy, natively,
//! against a fixture cluster. Seeds: `scripts/fuzz.sh` writes `fuzz/corpus/request/`.
#![no_main]

use sdk_shim::host::FixtureHost;
use std::sync::OnceLock;

#[path = "../checks/policy.rs"]
mod checks;

include!("policies.rs");

static HOST: OnceLock<FixtureHost> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let host = HOST.get_or_init(checks::fixture_host);
    checks::fast_reader_agrees(data);
    macro_rules! check {
        ($policy:ty) => {
            checks::request::<$policy>(data, host);
        };
    }
    for_each_policy!(check);
});
