//! What every image policy shares: image references, patterns, the workload walker, verdicts,
//! host access, strict settings and the waPC entry point. A policy crate implements
//! [`entry::Policy`] and calls [`register_policy!`].

#[cfg(not(target_arch = "wasm32"))]
pub mod cases;
pub mod changes;
pub mod entry;
pub mod extract;
pub mod host;
pub mod json;
pub mod message;
pub mod patch;
pub mod pattern;
pub mod reference;
pub mod registry_host;
pub mod request;
pub mod review;
pub mod settings;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod tree;
pub mod verdict;
pub mod view;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
pub mod wapc;
pub mod workload;
