//! The project's build and release tasks, as a library (tested) behind the `xtask` command.

pub mod annotate;
pub mod artifacthub;
pub mod cosign;
pub mod derived;
pub mod fuzz_seeds;
pub mod kwctl_checks;
pub mod oci;
pub mod pipeline;
pub mod playground;
pub mod policy;
pub mod registry;
pub mod scaffold;
