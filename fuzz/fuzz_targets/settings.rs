//! The same bytes through every policy's strict settings decoding.
#![no_main]

#[path = "../checks/policy.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::settings::<allowed_registries::AllowedRegistries>(data);
    checks::settings::<pin_digest::PinDigest>(data);
    checks::settings::<pull_policy_for_tag::PullPolicyForTag>(data);
    checks::settings::<require_pull_secret::RequirePullSecret>(data);
});
