//! allowed-registries: images come only from registries the platform team trusts.
//!
//! 1. `mirrors`: an image under `from` is rewritten to `to` + the rest of its path, keeping tag and
//!    digest (`nginx:1.25` with `{from: docker.io, to: harbor.internal.example.com/dockerhub-cache}`
//!    becomes `harbor.internal.example.com/dockerhub-cache/library/nginx:1.25`), and the container
//!    is patched. The first matching mirror wins.
//! 2. `deny` then `allow` judge the (rewritten) image: a deny match rejects; a non-empty `allow`
//!    must match. Patterns match the normalised reference on label and segment boundaries, so
//!    `docker.io.evil.com`, `ghcr.io/acme-evil` (against `ghcr.io/acme`), upper-case hosts,
//!    `index.docker.io`, `nginx` and `library/nginx` are all judged as what they are.

mod settings;

use sdk_shim::entry::Policy;
use sdk_shim::extract::ImageExtractor;
use sdk_shim::host::Host;
use sdk_shim::pattern::any_matches;
use sdk_shim::reference::ImageRef;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::Workload;
use serde_json::Value;
pub use settings::{Mirror, Settings};

pub struct AllowedRegistries;

impl Policy for AllowedRegistries {
    type Settings = Settings;

    fn extractors(settings: &Settings) -> &[ImageExtractor] {
        &settings.custom_resources
    }

    fn evaluate(
        settings: &Settings,
        _request: &AdmissionRequest,
        workload: &Workload,
        _host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::new();
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            let (judged, mirrored) = match mirror(&settings.mirrors, &image) {
                None => (image, false),
                Some(Ok(rewritten)) => {
                    verdict.patch(
                        container.image_pointer(),
                        Value::String(rewritten.to_image_string()),
                    );
                    (rewritten, true)
                }
                Some(Err(why)) => {
                    verdict.reject(container, why);
                    continue;
                }
            };
            if let Some(why) = refusal(settings, &judged) {
                let name = judged.name();
                match mirrored {
                    true => verdict.reject(
                        container,
                        format_args!("{name} (mirrored to '{}') {why}", judged.to_image_string()),
                    ),
                    false => verdict.reject(container, format_args!("{name} {why}")),
                }
            }
        }
        verdict
    }
}

/// The image moved to its mirror, if one applies.
fn mirror(mirrors: &[Mirror], image: &ImageRef) -> Option<Result<ImageRef, String>> {
    let mirror = mirrors.iter().find(|m| m.from.matches(image))?;
    let rest: Vec<&str> = image
        .repository()
        .split('/')
        .skip(mirror.from.segment_count())
        .collect();
    let prefix = mirror.to.repository_prefix();
    let repository = match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.join("/"),
        (false, true) => prefix,
        (false, false) => format!("{prefix}/{}", rest.join("/")),
    };
    let moved = image.with_name(&mirror.to.registry(), &repository);
    // Re-parse: the new name must itself be a valid reference (e.g. within 255 characters).
    Some(ImageRef::parse(&moved.to_image_string()).map_err(|e| {
        format!(
            "mirror '{}' -> '{}' gives an invalid reference: {e}",
            mirror.from, mirror.to
        )
    }))
}

/// Why the image may not be used, if it may not.
fn refusal(settings: &Settings, image: &ImageRef) -> Option<String> {
    if let Some(denied) = any_matches(&settings.deny, image) {
        return Some(format!("is denied by deny pattern '{denied}'"));
    }
    if !settings.allow.is_empty() && any_matches(&settings.allow, image).is_none() {
        let allowed: Vec<&str> = settings.allow.iter().map(|p| p.as_str()).collect();
        return Some(format!(
            "is not from an allowed registry (allow: {})",
            allowed.join(", ")
        ));
    }
    None
}

sdk_shim::register_policy!(AllowedRegistries);

#[cfg(test)]
mod tests {
    use super::*;
    use sdk_shim::host::FixtureHost;
    use sdk_shim::kubewarden::response::ValidationResponse;
    use sdk_shim::testing::{read_request_value, run_policy, run_policy_on};
    use serde_json::json;
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_data")
            .join(name)
    }

    /// Runs the policy on `pod_one_image.json` with its one container's image set to `image`.
    fn run_on_image(image: &str, settings: serde_json::Value) -> ValidationResponse {
        let mut request = read_request_value(&fixture("pod_one_image.json"));
        request["object"]["spec"]["containers"][0]["image"] = json!(image);
        run_policy_on::<AllowedRegistries>(request, settings, &FixtureHost::default())
    }

    fn judge(image: &str, settings: serde_json::Value) -> (bool, String) {
        let response = run_on_image(image, settings);
        (response.accepted, response.message.unwrap_or_default())
    }

    #[test]
    fn known_bypasses_do_not_pass() {
        let settings = json!({"allow": ["docker.io", "ghcr.io/acme"]});
        // (image, accepted)
        let cases = [
            ("nginx", true),
            ("library/nginx", true),
            ("docker.io/library/nginx:1.25", true),
            ("index.docker.io/library/nginx", true),
            ("INDEX.DOCKER.IO/library/nginx", true),
            ("DOCKER.IO/library/nginx", true),
            ("ghcr.io/acme/app:1", true),
            ("GHCR.IO/acme/app:1", true),
            ("docker.io.evil.com/library/nginx", false),
            ("evil.com/docker.io/nginx", false),
            ("ghcr.io/acme-evil/app", false),
            ("ghcr.io/acmex/app", false),
            ("ghcr.io.evil.com/acme/app", false),
            ("ghcr.io/other/app", false),
            ("localhost:5000/acme/app", false),
        ];
        for (image, accepted) in cases {
            let (got, message) = judge(image, settings.clone());
            assert_eq!(got, accepted, "{image}: {message}");
        }
    }

    #[test]
    fn deny_wins_over_allow() {
        let settings = json!({"allow": ["docker.io"], "deny": ["docker.io/bitnami"]});
        assert!(judge("nginx", settings.clone()).0);
        let (accepted, message) = judge("bitnami/redis:7", settings);
        assert!(!accepted);
        assert!(message.ends_with("image 'bitnami/redis:7': docker.io/bitnami/redis is denied by deny pattern 'docker.io/bitnami'"), "{message}");
        // Empty allow: anything not denied.
        assert!(judge("quay.io/x/y", json!({"deny": ["docker.io"]})).0);
        assert!(!judge("nginx", json!({"deny": ["docker.io"]})).0);
    }

    #[test]
    fn mirrors_rewrite_and_the_rewrite_is_judged() {
        let cases = [
            ("nginx:1.25", "harbor.internal.example.com/dockerhub-cache", "harbor.internal.example.com/dockerhub-cache/library/nginx:1.25"),
            ("nginx:1.25", "123456789.dkr.ecr.us-east-1.amazonaws.com/dockerhub", "123456789.dkr.ecr.us-east-1.amazonaws.com/dockerhub/library/nginx:1.25"),
            ("bitnami/redis", "harbor.internal.example.com/dockerhub-cache", "harbor.internal.example.com/dockerhub-cache/bitnami/redis"),
            (
                "index.docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "mirror.example.com",
                "mirror.example.com/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
        ];
        for (image, to, expected) in cases {
            let settings =
                json!({"allow": [to, "ghcr.io"], "mirrors": [{"from": "docker.io", "to": to}]});
            let response = run_on_image(image, settings);
            assert!(response.accepted, "{image}: {:?}", response.message);
            assert_eq!(
                response.mutated_object.unwrap()["spec"]["containers"][0]["image"],
                expected,
                "{image}"
            );
        }
        // A mirror under a more specific path keeps the rest of the path.
        let settings = json!({"mirrors": [{"from": "docker.io/library", "to": "harbor.example.com/official"}]});
        let response = run_policy::<AllowedRegistries>(
            &fixture("deployment_mixed.json"),
            settings,
            &FixtureHost::default(),
        );
        let object = response.mutated_object.expect("mutated");
        let spec = &object["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["image"],
            "harbor.example.com/official/nginx:1.25"
        );
        assert_eq!(spec["containers"][1]["image"], "ghcr.io/acme/api:2.0");
        assert_eq!(
            spec["initContainers"][0]["image"],
            "harbor.example.com/official/busybox:1.36"
        );
    }

    #[test]
    fn every_offender_is_listed() {
        let settings = json!({"allow": ["ghcr.io/acme"]});
        let response = run_policy::<AllowedRegistries>(
            &fixture("deployment_mixed.json"),
            settings,
            &FixtureHost::default(),
        );
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(message.starts_with("3 problems"), "{message}");
        assert!(message.contains("container 'web' (/spec/template/spec/containers/0) image 'nginx:1.25': docker.io/library/nginx is not from an allowed registry (allow: ghcr.io/acme)"), "{message}");
        assert!(
            message.contains("image 'quay.io/prometheus/node-exporter:v1.8.0'"),
            "{message}"
        );
        assert!(message.contains("init container 'migrate'"), "{message}");
    }

    #[test]
    fn workload_kinds_and_invalid_images() {
        let settings = json!({"allow": ["ghcr.io"]});
        let cases = [
            (
                "cronjob_dockerhub.json",
                false,
                "/spec/jobTemplate/spec/template/spec/containers/0",
            ),
            (
                "ephemeral_dockerhub.json",
                false,
                "ephemeral container 'debugger-abc12'",
            ),
            (
                "pod_invalid_image.json",
                false,
                "invalid image reference: repository name must be lowercase",
            ),
        ];
        for (file, accepted, fragment) in cases {
            let response = run_policy::<AllowedRegistries>(
                &fixture(file),
                settings.clone(),
                &FixtureHost::default(),
            );
            assert_eq!(response.accepted, accepted, "{file}");
            assert!(
                response.message.unwrap_or_default().contains(fragment),
                "{file}"
            );
        }
    }
}
