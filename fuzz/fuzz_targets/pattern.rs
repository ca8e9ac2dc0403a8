//! Registry and image patterns (`pattern \n image [\n pattern]`): parsing and matching never panic.
#![no_main]

#[path = "../checks/shim.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::pattern(data));
