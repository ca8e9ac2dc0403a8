//! pull-policy-for-tag: `imagePullPolicy` must fit the image reference.
//!
//! - a mutable tag (one of `mutableTags`, `latest` by default; no tag counts as `latest`) without a
//!   digest needs `Always`, so every start checks the registry for the tag's current image;
//! - a digest (with or without a tag) or any other tag is immutable and needs `IfNotPresent`
//!   (`Always` is tolerated while `allowAlwaysForImmutable` is true);
//! - `Never` needs a pre-loaded image and is allowed only for `allowNeverFor` images.
//!
//! OCI image volumes (`volumes[].image`) are judged the same way on their `pullPolicy`, which
//! Kubernetes defaults exactly like a container's (`SetDefaults_ImageVolumeSource`).
//!
//! A container without `imagePullPolicy` is judged by the value Kubernetes gives it: `Always` for
//! `:latest` or no tag (and no digest), otherwise `IfNotPresent`. That is how a mutable tag such as
//! `main` silently ends up with `IfNotPresent` and stale nodes.

mod settings;

use sdk_shim::entry::Policy;
use sdk_shim::host::Host;
use sdk_shim::pattern::glob_match;
use sdk_shim::reference::ImageRef;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::{ContainerRef, Workload};
use serde_json::Value;
pub use settings::Settings;

const ALWAYS: &str = "Always";
const IF_NOT_PRESENT: &str = "IfNotPresent";
const NEVER: &str = "Never";

pub struct PullPolicyForTag;

impl Policy for PullPolicyForTag {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        _host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::for_request(request);
        for container in &workload.containers {
            // An image string found in a custom resource has no pull policy to judge.
            if !container.has_pull_policy() {
                continue;
            }
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            if let Some(problem) = judge(settings, container, &image) {
                match (
                    settings.mutate,
                    problem.fix,
                    container.pull_policy_pointer(),
                ) {
                    (true, Some(fix), Some(pointer)) => verdict.fix(
                        container,
                        pointer,
                        Value::String(fix.to_string()),
                        problem.why,
                    ),
                    _ => verdict.reject(container, problem.why),
                }
            }
        }
        verdict
    }
}

struct Problem {
    why: String,
    /// The policy to set when mutating.
    fix: Option<&'static str>,
}

/// What Kubernetes sets when `imagePullPolicy` is empty.
fn kubernetes_default(image: &ImageRef) -> &'static str {
    if image.effective_tag() == Some("latest") {
        ALWAYS
    } else {
        IF_NOT_PRESENT
    }
}

fn judge(settings: &Settings, container: &ContainerRef, image: &ImageRef) -> Option<Problem> {
    let field = container.pull_policy_field();
    let (policy, defaulted) = match container.pull_policy {
        Some(policy) if !policy.is_empty() => (policy, false),
        _ => (kubernetes_default(image), true),
    };
    let mutable_tag = match (image.digest(), image.effective_tag()) {
        (None, Some(tag)) => settings
            .mutable_tags
            .iter()
            .find(|glob| glob_match(glob, tag))
            .map(|glob| (tag, glob)),
        _ => None,
    };
    let needed = match mutable_tag {
        Some(_) => ALWAYS,
        None => IF_NOT_PRESENT,
    };
    // The words are written only for a container that has a problem.
    let how = || match defaulted {
        true => format!(" (the Kubernetes default, as {field} is not set)"),
        false => String::new(),
    };
    let reason = || match mutable_tag {
        Some((tag, glob)) => format!("tag '{tag}' is mutable (matches mutableTags '{glob}')"),
        None if image.digest().is_some() => "the image is pinned to a digest".to_string(),
        None => format!(
            "tag '{}' is not in mutableTags",
            image.effective_tag().unwrap_or_default()
        ),
    };
    let problem = |why: String| {
        Some(Problem {
            why,
            fix: Some(needed),
        })
    };
    match policy {
        NEVER if settings.allow_never_for.iter().any(|p| p.matches(image)) => None,
        NEVER => problem(format!(
            "{field} Never{} is only allowed for images in allowNeverFor; {}, so use {needed}",
            how(),
            reason()
        )),
        ALWAYS if needed == ALWAYS => None,
        ALWAYS if settings.allow_always_for_immutable => None,
        IF_NOT_PRESENT if needed == IF_NOT_PRESENT => None,
        ALWAYS | IF_NOT_PRESENT => {
            let consequence = if needed == ALWAYS {
                "nodes keep running whatever image they pulled first"
            } else {
                "every start checks the registry for nothing (allowAlwaysForImmutable is false)"
            };
            problem(format!(
                "{field} is {policy}{}, but {}, so use {needed}: otherwise {consequence}",
                how(),
                reason()
            ))
        }
        other => Some(Problem {
            why: format!("{field} '{other}' is not one of Always, IfNotPresent, Never"),
            fix: settings.mutate.then_some(needed),
        }),
    }
}

sdk_shim::register_policy!(PullPolicyForTag);

#[cfg(test)]
mod tests {
    /// The case table (`cases.yml`), natively; `e2e` runs it through the `.wasm`.
    #[test]
    fn cases() {
        sdk_shim::cases::run_native::<super::PullPolicyForTag>(env!("CARGO_MANIFEST_DIR"));
    }
}

#[cfg(test)]
mod fuzz_regressions;
