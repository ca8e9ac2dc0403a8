//! `ImageRef::parse` on arbitrary UTF-8; what parses must print and parse back unchanged.
#![no_main]

#[path = "../checks/shim.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::reference(data));
