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
            let Some(pointer) = container.pull_policy_pointer() else {
                continue;
            };
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            if let Some(problem) = judge(settings, container, &image) {
                match (settings.mutate, problem.fix) {
                    (true, Some(fix)) => verdict.fix(
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
    let (policy, how) = match container.pull_policy {
        Some(policy) if !policy.is_empty() => (policy, String::new()),
        _ => (
            kubernetes_default(image),
            format!(" (the Kubernetes default, as {field} is not set)"),
        ),
    };
    let mutable_tag = match (image.digest(), image.effective_tag()) {
        (None, Some(tag)) => settings
            .mutable_tags
            .iter()
            .find(|glob| glob_match(glob, tag))
            .map(|glob| (tag, glob)),
        _ => None,
    };
    let (needed, reason) = match mutable_tag {
        Some((tag, glob)) => (
            ALWAYS,
            format!("tag '{tag}' is mutable (matches mutableTags '{glob}')"),
        ),
        None if image.digest().is_some() => (
            IF_NOT_PRESENT,
            "the image is pinned to a digest".to_string(),
        ),
        None => (
            IF_NOT_PRESENT,
            format!(
                "tag '{}' is not in mutableTags",
                image.effective_tag().unwrap_or_default()
            ),
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
            "{field} Never{how} is only allowed for images in allowNeverFor; {reason}, so use {needed}"
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
            problem(format!("{field} is {policy}{how}, but {reason}, so use {needed}: otherwise {consequence}"))
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
    use super::*;
    use sdk_shim::host::FixtureHost;
    use sdk_shim::testing::run_policy;
    use serde_json::json;
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_data")
            .join(name)
    }

    /// pod_policies.json holds one container per case, in this order.
    const CONTAINERS: [&str; 12] = [
        "latest-unset",        // nginx, no policy          -> Always by default: ok
        "main-unset",          // ghcr.io/acme/api:main     -> IfNotPresent by default
        "main-always",         // :main Always              -> ok when main is mutable
        "versioned-unset",     // nginx:1.25                -> IfNotPresent: ok
        "versioned-always",    // nginx:1.25 Always         -> ok only while tolerated
        "digest-unset",        // nginx@sha256              -> IfNotPresent: ok
        "latest-digest-unset", // nginx:latest@sha256     -> Always by default; immutable
        "latest-ifnp",         // nginx:latest IfNotPresent -> wrong
        "never",               // busybox:1.36 Never        -> only with allowNeverFor
        "bogus",               // nginx:1.25 always         -> not a policy
        "latest-never",        // registry.k8s.io/pause Never
        "digest-always",       // ghcr.io/acme/api@sha256 Always
    ];

    fn rejected_containers(settings: serde_json::Value) -> Vec<String> {
        let response = run_policy::<PullPolicyForTag>(
            &fixture("pod_policies.json"),
            settings,
            &FixtureHost::default(),
        );
        let message = response.message.unwrap_or_default();
        CONTAINERS
            .iter()
            .filter(|name| message.contains(&format!("container '{name}' ")))
            .map(|name| name.to_string())
            .collect()
    }

    #[test]
    fn default_settings() {
        assert_eq!(
            rejected_containers(json!({})),
            vec!["latest-ifnp", "never", "bogus", "latest-never"]
        );
    }

    #[test]
    fn main_is_mutable_when_listed() {
        assert_eq!(
            rejected_containers(json!({"mutableTags": ["latest", "main"]})),
            vec![
                "main-unset",
                "latest-ifnp",
                "never",
                "bogus",
                "latest-never"
            ]
        );
        assert_eq!(
            rejected_containers(json!({"mutableTags": ["ma*", "latest"]})),
            vec![
                "main-unset",
                "latest-ifnp",
                "never",
                "bogus",
                "latest-never"
            ]
        );
    }

    #[test]
    fn always_on_immutable_when_not_tolerated() {
        assert_eq!(
            rejected_containers(json!({"allowAlwaysForImmutable": false})),
            vec![
                "main-always",
                "versioned-always",
                "latest-digest-unset",
                "latest-ifnp",
                "never",
                "bogus",
                "latest-never",
                "digest-always"
            ]
        );
    }

    #[test]
    fn never_where_allowed() {
        assert_eq!(
            rejected_containers(
                json!({"allowNeverFor": ["docker.io/library/busybox:1.*", "registry.k8s.io/pause"]})
            ),
            vec!["latest-ifnp", "bogus"]
        );
    }

    #[test]
    fn messages_say_what_is_expected_and_why() {
        let response = run_policy::<PullPolicyForTag>(
            &fixture("pod_policies.json"),
            json!({"mutableTags": ["latest", "main"]}),
            &FixtureHost::default(),
        );
        let message = response.message.unwrap();
        assert!(message.contains(
            "container 'main-unset' (/spec/containers/1) image 'ghcr.io/acme/api:main': imagePullPolicy is IfNotPresent \
             (the Kubernetes default, as imagePullPolicy is not set), but tag 'main' is mutable (matches mutableTags 'main'), so use Always"
        ), "{message}");
        assert!(message.contains("imagePullPolicy Never is only allowed for images in allowNeverFor; tag '1.36' is not in mutableTags, so use IfNotPresent"), "{message}");
        assert!(
            message.contains("imagePullPolicy 'always' is not one of Always, IfNotPresent, Never"),
            "{message}"
        );
    }

    #[test]
    fn mutate_sets_the_fitting_policy() {
        let response = run_policy::<PullPolicyForTag>(
            &fixture("pod_policies.json"),
            json!({"mutate": true, "mutableTags": ["latest", "main"], "allowAlwaysForImmutable": false}),
            &FixtureHost::default(),
        );
        assert!(response.accepted, "{:?}", response.message);
        let object = response.mutated_object.unwrap();
        let policies: Vec<&str> = object["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["imagePullPolicy"].as_str().unwrap_or("<unset>"))
            .collect();
        assert_eq!(
            policies,
            vec![
                "<unset>",
                "Always",
                "Always",
                "<unset>",
                "IfNotPresent",
                "<unset>",
                "IfNotPresent",
                "Always",
                "IfNotPresent",
                "IfNotPresent",
                "Always",
                "IfNotPresent"
            ]
        );
    }

    #[test]
    fn workload_kinds() {
        // (fixture, accepted)
        let cases = [
            (
                "deployment_main_unset.json",
                json!({"mutableTags": ["main"]}),
                false,
            ),
            ("deployment_main_unset.json", json!({}), true),
            ("cronjob_latest_ifnotpresent.json", json!({}), false),
            ("ephemeral_never.json", json!({}), false),
            (
                "ephemeral_never.json",
                json!({"allowNeverFor": ["docker.io/library/busybox"]}),
                true,
            ),
        ];
        for (file, settings, accepted) in cases {
            let response = run_policy::<PullPolicyForTag>(
                &fixture(file),
                settings.clone(),
                &FixtureHost::default(),
            );
            assert_eq!(
                response.accepted, accepted,
                "{file} {settings}: {:?}",
                response.message
            );
        }
    }

    #[test]
    fn image_volumes_are_judged_on_their_pull_policy() {
        let response = run_policy::<PullPolicyForTag>(
            &fixture("pod_image_volumes.json"),
            json!({}),
            &FixtureHost::default(),
        );
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(message.starts_with("2 problems"), "{message}");
        assert!(message.contains(
            "image volume 'models' (/spec/volumes/1/image) image 'ghcr.io/acme/models:latest': pullPolicy is IfNotPresent, \
             but tag 'latest' is mutable (matches mutableTags 'latest'), so use Always"
        ), "{message}");
        assert!(message.contains("image volume 'never' (/spec/volumes/3/image) image 'ghcr.io/acme/preloaded:1': pullPolicy Never is only allowed"), "{message}");
        // An unset pullPolicy is defaulted like a container's: ghcr.io/acme/data is :latest, so Always.
        assert!(!message.contains("'defaulted'"), "{message}");

        let response = run_policy::<PullPolicyForTag>(
            &fixture("pod_image_volumes.json"),
            json!({"mutate": true, "allowNeverFor": ["ghcr.io/acme/preloaded"]}),
            &FixtureHost::default(),
        );
        assert!(response.accepted, "{:?}", response.message);
        let volumes = &response.mutated_object.unwrap()["spec"]["volumes"];
        assert_eq!(volumes[1]["image"]["pullPolicy"], "Always");
        assert_eq!(volumes[0]["image"]["pullPolicy"], "IfNotPresent");
        assert!(volumes[2]["image"].get("pullPolicy").is_none());
    }

    #[test]
    fn a_running_pods_pull_policy_cannot_be_mutated() {
        // The image changes to :latest on a Pod UPDATE; imagePullPolicy is immutable there.
        let response = run_policy::<PullPolicyForTag>(
            &fixture("pod_update_to_latest.json"),
            json!({"mutate": true}),
            &FixtureHost::default(),
        );
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(
            message.contains("imagePullPolicy is IfNotPresent, but tag 'latest' is mutable"),
            "{message}"
        );
        assert!(message.contains("the policy cannot fix it here: a Pod's spec is immutable once created except for container images"), "{message}");
    }

    #[test]
    fn custom_resources_are_judged_through_the_settings_extractors() {
        let run = |settings| {
            run_policy::<PullPolicyForTag>(
                &fixture("rollout.json"),
                settings,
                &FixtureHost::default(),
            )
        };
        assert!(
            run(json!({"mutableTags": ["main"]})).accepted,
            "an unknown kind has no images"
        );
        let response = run(
            json!({"mutableTags": ["main"], "customResources": json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "paths": ["$.spec.template.spec.containers[*]", "$.spec.template.spec.initContainers[*]"]}])}),
        );
        assert!(!response.accepted);
        assert!(response.message.unwrap().contains("container 'web' (/spec/template/spec/containers/0) image 'ghcr.io/acme/web:main': imagePullPolicy is IfNotPresent"));
    }

    #[test]
    fn messages_for_empty_policies_digests_and_tags() {
        let mut request = sdk_shim::testing::read_request_value(&fixture("pod_policies.json"));
        let containers = json!([
            {"name": "empty", "image": "ghcr.io/acme/api:main", "imagePullPolicy": ""},
            {"name": "digest", "image": "ghcr.io/acme/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "imagePullPolicy": "Always"}
        ]);
        request["object"]["spec"]["containers"] = containers;
        let response = sdk_shim::testing::run_policy_on::<PullPolicyForTag>(
            request,
            json!({"mutableTags": ["main"], "allowAlwaysForImmutable": false}),
            &FixtureHost::default(),
        );
        let message = response.message.unwrap();
        // An empty imagePullPolicy is defaulted by Kubernetes, like a missing one.
        assert!(message.contains("container 'empty' (/spec/containers/0) image 'ghcr.io/acme/api:main': imagePullPolicy is IfNotPresent (the Kubernetes default, as imagePullPolicy is not set), but tag 'main' is mutable (matches mutableTags 'main'), so use Always: otherwise nodes keep running whatever image they pulled first"), "{message}");
        assert!(message.contains("container 'digest' (/spec/containers/1) image 'ghcr.io/acme/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef': imagePullPolicy is Always, but the image is pinned to a digest, so use IfNotPresent: otherwise every start checks the registry for nothing"), "{message}");
    }
}

#[cfg(test)]
mod fuzz_regressions;
