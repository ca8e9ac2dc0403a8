//! The library under `image-policies`. Without the `host` feature it is only what the browser
//! playground shares with the CLI: reading manifests with the place of every node
//! ([`manifests`]), writing mutations back into their text ([`fix`]), and policy-group
//! expressions ([`expression`]). With it (the default), the waPC host parts the CLI runs.

pub mod expression;
pub mod fix;
pub mod manifests;

#[cfg(feature = "host")]
pub mod check;
#[cfg(feature = "host")]
pub mod policies;
#[cfg(feature = "host")]
pub mod report;
#[cfg(feature = "host")]
pub mod serve;
#[cfg(feature = "host")]
pub mod suite;
