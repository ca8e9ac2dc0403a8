//! The same bytes through every policy's strict settings decoding.
#![no_main]

#[path = "../checks/policy.rs"]
mod checks;

include!("policies.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    macro_rules! check {
        ($policy:ty) => {
            checks::settings::<$policy>(data);
        };
    }
    for_each_policy!(check);
});
