//! allowed-registries: images come only from registries the platform team trusts.
//!
//! 1. `deny` judges the image as written: a denied image is rejected, whatever mirror applies.
//! 2. `mirrors`: an image under `from` is rewritten to `to` + the rest of its path, keeping tag and
//!    digest (`nginx:1.25` with `{from: docker.io, to: harbor.internal.example.com/dockerhub-cache}`
//!    becomes `harbor.internal.example.com/dockerhub-cache/library/nginx:1.25`), and the image is
//!    patched. The first matching mirror wins; a `from` without a port covers only its host's
//!    default ports (443, 80), since another port is another registry.
//! 3. `deny` then `allow` judge the image the cluster will pull (the rewritten one when mirrored):
//!    a deny match rejects; a non-empty `allow` must match. So a mirror never launders a denied
//!    image, and its target must itself be allowed.
//!
//! Patterns match every spelling of a registry ([`sdk_shim::pattern`]): `docker.io.evil.com`,
//! `ghcr.io/acme-evil` (against `ghcr.io/acme`), upper-case hosts, `index.docker.io`,
//! `registry-1.docker.io`, other ports, IP spellings and the loopback's many names are all judged
//! as what they are. Container images and OCI image volumes alike.

mod settings;

use sdk_shim::entry::Policy;
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

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        _host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::for_request(request);
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            if let Some(denied) = any_matches(&settings.deny, &image) {
                let name = image.name();
                verdict.reject(
                    container,
                    format_args!("{name} is denied by deny pattern '{denied}'"),
                );
                continue;
            }
            let rewritten = match mirror(&settings.mirrors, &image) {
                None => None,
                Some(Ok(rewritten)) => Some(rewritten),
                Some(Err(why)) => {
                    verdict.reject(container, why);
                    continue;
                }
            };
            let pulled = rewritten.as_ref().unwrap_or(&image);
            if let Some(why) = refusal(settings, pulled) {
                let name = pulled.name();
                match &rewritten {
                    Some(_) => verdict.reject(
                        container,
                        format_args!("{name} (mirrored to '{}') {why}", pulled.to_image_string()),
                    ),
                    None => verdict.reject(container, format_args!("{name} {why}")),
                }
                continue;
            }
            if let Some(rewritten) = rewritten {
                let target = rewritten.to_image_string();
                verdict.fix(
                    container,
                    container.image_pointer(),
                    Value::String(target.clone()),
                    format_args!("is pulled through mirror '{target}'"),
                );
            }
        }
        verdict
    }
}

/// The image moved to its mirror, if one applies.
fn mirror(mirrors: &[Mirror], image: &ImageRef) -> Option<Result<ImageRef, String>> {
    // A `from` without a port rewrites only its host's default ports: `localhost:5000/app` and
    // `localhost:6000/app` are two registries and must not become one mirrored image.
    let mirror = mirrors
        .iter()
        .find(|m| m.from.matches_registry_on_its_port(image))?;
    // The path as the registry serves it (`library/nginx` however Docker Hub is spelt), so every
    // spelling of one image lands on one mirrored image.
    let repository = image.canonical_repository();
    let rest: Vec<&str> = repository
        .split('/')
        .skip(mirror.from.segment_count())
        .collect();
    let prefix = mirror.to.repository_prefix();
    let repository = match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.join("/"),
        (false, true) => prefix,
        (false, false) => format!("{prefix}/{}", rest.join("/")),
    };
    let moved = image.with_name(mirror.to.registry(), &repository);
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

    #[test]
    fn a_mirror_never_launders_a_denied_image() {
        // Before: the mirrored form was judged alone, so docker.io/bitnami slipped through.
        let settings = json!({
            "allow": ["harbor.example.com/cache"],
            "deny": ["docker.io/bitnami"],
            "mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]
        });
        let (accepted, message) = judge("bitnami/redis:7", settings.clone());
        assert!(!accepted);
        assert!(
            message
                .ends_with("docker.io/bitnami/redis is denied by deny pattern 'docker.io/bitnami'"),
            "{message}"
        );
        let response = run_on_image("nginx:1.25", settings);
        assert!(response.accepted, "{:?}", response.message);
        // And the target is judged too: a deny on part of the cache holds.
        let settings = json!({
            "deny": ["harbor.example.com/cache/library/busybox"],
            "mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]
        });
        let (accepted, message) = judge("busybox", settings);
        assert!(!accepted);
        assert!(
            message.contains("(mirrored to 'harbor.example.com/cache/library/busybox') is denied"),
            "{message}"
        );
    }

    #[test]
    fn every_spelling_of_a_denied_registry_is_denied() {
        // (deny, image)
        let cases = [
            ("evil.com", "evil.com:5000/x"),
            ("evil.com", "evil.com:443/x"),
            ("EVIL.com", "evil.COM/x"),
            ("localhost", "127.0.0.1:5000/x"),
            ("localhost", "[::1]:5000/x"),
            ("localhost", "0.0.0.0/x"),
            ("127.0.0.1", "localhost:5000/x"),
            ("10.0.0.1", "[::ffff:a00:1]/x"),
            ("[2001:db8::1]", "[2001:0db8:0:0:0:0:0:0001]/x"),
            ("docker.io", "registry-1.docker.io/library/nginx"),
            ("docker.io/library/nginx", "Docker.IO/nginx"),
            ("docker.io/library/nginx", "registry-1.docker.io/nginx:1"),
            ("docker.io/library/nginx", "index.docker.io/library/nginx"),
        ];
        for (deny, image) in cases {
            let (accepted, message) = judge(image, json!({ "deny": [deny] }));
            assert!(!accepted, "deny {deny} must hold for {image}");
            assert!(
                message.contains(&format!("is denied by deny pattern '{deny}'")),
                "{message}"
            );
        }
        // A port in the pattern holds only that port (an image without one is pulled from 443).
        assert!(judge("evil.com:5000/x", json!({"deny": ["evil.com:443"]})).0);
        assert!(!judge("evil.com/x", json!({"deny": ["evil.com:443"]})).0);
    }

    #[test]
    fn one_image_every_spelling_one_mirror_and_rewriting_twice_changes_nothing() {
        let settings =
            json!({"mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]});
        for image in [
            "nginx:1.25",
            "Docker.IO/nginx:1.25",
            "registry-1.docker.io/nginx:1.25",
            "docker.io:443/library/nginx:1.25",
        ] {
            let response = run_on_image(image, settings.clone());
            let object = response
                .mutated_object
                .unwrap_or_else(|| panic!("{image}: {:?}", response.message));
            let rewritten = object["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(
                rewritten, "harbor.example.com/cache/library/nginx:1.25",
                "{image}"
            );
            let again = run_on_image(&rewritten, settings.clone());
            assert!(
                again.accepted && again.mutated_object.is_none(),
                "{image}: rewritten twice"
            );
        }
    }

    #[test]
    fn two_registries_never_become_one_mirrored_image() {
        let settings =
            json!({"mirrors": [{"from": "localhost", "to": "harbor.example.com/local"}]});
        let response = run_on_image("127.0.0.1/app:1", settings.clone());
        assert_eq!(
            response.mutated_object.unwrap()["spec"]["containers"][0]["image"],
            "harbor.example.com/local/app:1"
        );
        // Another port is another registry: not rewritten.
        let response = run_on_image("localhost:5000/app:1", settings);
        assert!(response.accepted && response.mutated_object.is_none());
    }

    #[test]
    fn image_volumes_are_judged_and_mirrored() {
        let settings = json!({"allow": ["harbor.example.com"], "mirrors": [{"from": "ghcr.io", "to": "harbor.example.com/ghcr"}]});
        let response = run_policy::<AllowedRegistries>(
            &fixture("pod_image_volumes.json"),
            settings,
            &FixtureHost::default(),
        );
        assert!(response.accepted, "{:?}", response.message);
        let volumes = &response.mutated_object.unwrap()["spec"]["volumes"];
        assert_eq!(
            volumes[2]["image"]["reference"],
            "harbor.example.com/ghcr/acme/payload:1"
        );
        assert_eq!(
            volumes[3]["image"]["reference"],
            "harbor.example.com/ghcr/acme/models:latest"
        );

        let response = run_policy::<AllowedRegistries>(
            &fixture("pod_image_volumes.json"),
            json!({"allow": ["harbor.example.com"]}),
            &FixtureHost::default(),
        );
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(message.contains("image volume 'payload' (/spec/volumes/2/image) image 'ghcr.io/acme/payload:1': ghcr.io/acme/payload is not from an allowed registry"), "{message}");
    }

    #[test]
    fn a_label_update_does_not_re_mirror() {
        let settings = json!({"allow": ["harbor.example.com/cache"], "mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]});
        let response = run_policy::<AllowedRegistries>(
            &fixture("deployment_update_labels_only.json"),
            settings.clone(),
            &FixtureHost::default(),
        );
        assert!(response.accepted, "{:?}", response.message);
        assert!(
            response.mutated_object.is_none(),
            "a label change must not restart containers"
        );
        let warnings = response.warnings.unwrap();
        assert!(warnings[0].contains("is pulled through mirror 'harbor.example.com/cache/library/nginx:1.25' (left as is"), "{warnings:?}");
        // A new image in the same update is mirrored.
        let response = run_policy::<AllowedRegistries>(
            &fixture("deployment_update_new_image.json"),
            settings,
            &FixtureHost::default(),
        );
        assert_eq!(
            response.mutated_object.unwrap()["spec"]["template"]["spec"]["containers"][0]["image"],
            "harbor.example.com/cache/library/nginx:1.27"
        );
    }

    #[test]
    fn custom_resources_are_judged_through_the_settings_extractors() {
        let run = |settings| {
            run_policy::<AllowedRegistries>(
                &fixture("rollout.json"),
                settings,
                &FixtureHost::default(),
            )
        };
        assert!(
            run(json!({"allow": ["ghcr.io/acme"]})).accepted,
            "an unknown kind has no images"
        );
        let response = run(
            json!({"allow": ["ghcr.io/acme"], "customResources": json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "paths": ["$.spec.template.spec.containers[*]", "$.spec.template.spec.initContainers[*]"]}])}),
        );
        assert!(!response.accepted);
        assert!(response.message.unwrap().contains(
            "init container 'init' (/spec/template/spec/initContainers/0) image 'busybox'"
        ));
    }
}

#[cfg(test)]
mod fuzz_regressions;
