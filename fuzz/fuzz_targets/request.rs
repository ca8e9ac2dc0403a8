//! Whole `validate` payloads (`{"request": …, "settings": …}`) through every policy, natively,
//! against a fixture cluster. Seeds: `scripts/fuzz.sh` writes `fuzz/corpus/request/`.
#![no_main]

use sdk_shim::host::FixtureHost;
use std::sync::OnceLock;

#[path = "../checks/policy.rs"]
mod checks;

static HOST: OnceLock<FixtureHost> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let host = HOST.get_or_init(checks::fixture_host);
    checks::request::<allowed_registries::AllowedRegistries>(data, host);
    checks::request::<pin_digest::PinDigest>(data, host);
    checks::request::<pull_policy_for_tag::PullPolicyForTag>(data, host);
    checks::request::<require_pull_secret::RequirePullSecret>(data, host);
});
