//! pin-digest: every image must name an immutable digest (`image@sha256:…`), so that every
//! container runs exactly the bits that were reviewed. With `mutate`, an unpinned image is
//! resolved through the host's OCI capability and patched to `<image as written>@<digest>`.
//! Container images and OCI image volumes (`volumes[].image.reference`) alike; on UPDATE, an
//! image the update does not change is left alone (with a warning when it is not pinned).

mod settings;

use sdk_shim::entry::Policy;
use sdk_shim::host::Host;
use sdk_shim::reference::ImageRef;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::Workload;
use serde_json::Value;
pub use settings::Settings;

pub struct PinDigest;

impl Policy for PinDigest {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::for_request(request);
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            if image.digest().is_some() || settings.exempt_images.iter().any(|p| p.matches(&image))
            {
                continue;
            }
            let written = container.image.unwrap_or_default();
            if !settings.mutate || container.unchanged {
                verdict.reject(
                    container,
                    format_args!(
                        "not pinned to a digest; use '{written}@sha256:<digest>' or enable mutate"
                    ),
                );
                continue;
            }
            match resolve_digest(&image, host) {
                Ok(digest) => verdict.fix(
                    container,
                    container.image_pointer(),
                    Value::String(format!("{written}@{digest}")),
                    "not pinned to a digest",
                ),
                Err(why) => verdict.reject(
                    container,
                    format_args!(
                        "cannot resolve '{}' to a digest: {why}",
                        image.fully_qualified()
                    ),
                ),
            }
        }
        verdict
    }
}

/// Asks the host for the digest and checks that what came back is a digest.
fn resolve_digest(image: &ImageRef, host: &dyn Host) -> Result<String, String> {
    let digest = host.manifest_digest(&image.fully_qualified())?;
    ImageRef::parse(&format!("{}@{digest}", image.name()))
        .map_err(|e| format!("the registry answered with an unusable digest: {e}"))?;
    Ok(digest)
}

sdk_shim::register_policy!(PinDigest);

#[cfg(test)]
mod tests {
    use super::*;
    use sdk_shim::host::FixtureHost;
    use sdk_shim::testing::run_policy;
    use serde_json::json;
    use std::path::{Path, PathBuf};

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_data")
            .join(name)
    }

    #[test]
    fn every_unpinned_image_is_listed() {
        let response = run_policy::<PinDigest>(
            &fixture("deployment_mixed.json"),
            json!({}),
            &FixtureHost::default(),
        );
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(message.starts_with("3 problems: "), "{message}");
        assert!(
            message.contains(
                "container 'web' (/spec/template/spec/containers/0) image 'nginx:1.25': not pinned"
            ),
            "{message}"
        );
        assert!(
            message.contains(
                "container 'cache' (/spec/template/spec/containers/2) image 'redis': not pinned"
            ),
            "{message}"
        );
        assert!(message.contains("init container 'migrate' (/spec/template/spec/initContainers/0) image 'busybox:1.36'"), "{message}");
        assert!(
            !message.contains("'api'"),
            "the pinned container is fine: {message}"
        );
    }

    #[test]
    fn rules_per_case() {
        // (fixture, settings, accepted, message fragment)
        let cases = [
            ("pod_pinned.json", json!({}), true, ""),
            (
                "pod_latest.json",
                json!({}),
                false,
                "image 'nginx': not pinned to a digest",
            ),
            (
                "pod_latest.json",
                json!({"exemptImages": ["docker.io/library/nginx:*"]}),
                true,
                "",
            ),
            (
                "pod_latest.json",
                json!({"exemptImages": ["docker.io/library/nginx:1.*"]}),
                false,
                "not pinned",
            ),
            (
                "pod_bad_digest.json",
                json!({}),
                false,
                "invalid image reference: digest 'sha256:1234' is invalid",
            ),
            (
                "pod_md5_digest.json",
                json!({}),
                false,
                "digest algorithm 'md5' is not supported",
            ),
            (
                "pod_no_image.json",
                json!({}),
                false,
                "container 'web' (/spec/containers/0) has no image",
            ),
            (
                "cronjob_unpinned.json",
                json!({}),
                false,
                "/spec/jobTemplate/spec/template/spec/containers/0",
            ),
            (
                "ephemeral_unpinned.json",
                json!({}),
                false,
                "ephemeral container 'debugger",
            ),
            (
                "ephemeral_unpinned.json",
                json!({"exemptImages": ["docker.io/library/busybox"]}),
                true,
                "",
            ),
        ];
        for (file, settings, accepted, fragment) in cases {
            let response =
                run_policy::<PinDigest>(&fixture(file), settings.clone(), &FixtureHost::default());
            assert_eq!(
                response.accepted, accepted,
                "{file} {settings}: {:?}",
                response.message
            );
            assert!(
                response.message.unwrap_or_default().contains(fragment),
                "{file} {settings}"
            );
        }
    }

    #[test]
    fn mutate_pins_the_image_as_written() {
        let host = FixtureHost::default().with_digest("docker.io/library/nginx:latest", DIGEST);
        let response =
            run_policy::<PinDigest>(&fixture("pod_latest.json"), json!({"mutate": true}), &host);
        assert!(response.accepted, "{:?}", response.message);
        let object = response.mutated_object.unwrap();
        assert_eq!(
            object["spec"]["containers"][0]["image"],
            format!("nginx@{DIGEST}")
        );
    }

    #[test]
    fn mutate_keeps_the_tag() {
        let host = FixtureHost::default()
            .with_digest("docker.io/library/nginx:1.25", DIGEST)
            .with_digest("docker.io/library/redis:latest", DIGEST)
            .with_digest("docker.io/library/busybox:1.36", DIGEST);
        let response = run_policy::<PinDigest>(
            &fixture("deployment_mixed.json"),
            json!({"mutate": true}),
            &host,
        );
        let object = response.mutated_object.expect("mutated");
        let spec = &object["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["image"],
            format!("nginx:1.25@{DIGEST}")
        );
        assert_eq!(spec["containers"][2]["image"], format!("redis@{DIGEST}"));
        assert_eq!(
            spec["initContainers"][0]["image"],
            format!("busybox:1.36@{DIGEST}")
        );
    }

    #[test]
    fn a_failed_lookup_rejects_with_the_hosts_error() {
        let host = FixtureHost::default()
            .with_failing_digest("docker.io/library/nginx:latest", "401 Unauthorized");
        let response =
            run_policy::<PinDigest>(&fixture("pod_latest.json"), json!({"mutate": true}), &host);
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(
            message.contains(
                "cannot resolve 'docker.io/library/nginx:latest' to a digest: 401 Unauthorized"
            ),
            "{message}"
        );
    }

    #[test]
    fn an_unusable_digest_from_the_host_rejects() {
        let host =
            FixtureHost::default().with_digest("docker.io/library/nginx:latest", "sha256:short");
        let response =
            run_policy::<PinDigest>(&fixture("pod_latest.json"), json!({"mutate": true}), &host);
        assert!(!response.accepted);
        assert!(response.message.unwrap().contains("unusable digest"));
    }

    #[test]
    fn image_volumes_are_judged_and_pinned() {
        let response = run_policy::<PinDigest>(
            &fixture("pod_image_volumes.json"),
            json!({}),
            &FixtureHost::default(),
        );
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(message.starts_with("2 problems"), "{message}");
        assert!(message.contains("image volume 'payload' (/spec/volumes/2/image) image 'ghcr.io/acme/payload:1': not pinned"), "{message}");
        assert!(
            message.contains("image volume 'models' (/spec/volumes/3/image)"),
            "{message}"
        );

        let host = FixtureHost::default()
            .with_digest("ghcr.io/acme/payload:1", DIGEST)
            .with_digest("ghcr.io/acme/models:latest", DIGEST);
        let response = run_policy::<PinDigest>(
            &fixture("pod_image_volumes.json"),
            json!({"mutate": true}),
            &host,
        );
        assert!(response.accepted, "{:?}", response.message);
        let volumes = &response.mutated_object.unwrap()["spec"]["volumes"];
        assert_eq!(
            volumes[2]["image"]["reference"],
            format!("ghcr.io/acme/payload:1@{DIGEST}")
        );
        assert_eq!(
            volumes[3]["image"]["reference"],
            format!("ghcr.io/acme/models:latest@{DIGEST}")
        );
        assert_eq!(volumes[2]["image"]["pullPolicy"], "IfNotPresent");
    }

    #[test]
    fn an_update_is_judged_on_what_it_changes() {
        // Removing a finalizer from a pod created before the policy: accepted, with warnings.
        for settings in [json!({}), json!({"mutate": true})] {
            let response = run_policy::<PinDigest>(
                &fixture("pod_update_finalizer_only.json"),
                settings.clone(),
                &FixtureHost::default(),
            );
            assert!(response.accepted, "{settings}: {:?}", response.message);
            assert!(
                response.mutated_object.is_none(),
                "{settings}: nothing is re-pinned"
            );
            let warnings = response.warnings.unwrap_or_default();
            assert_eq!(warnings.len(), 4, "{warnings:?}");
            assert!(warnings
                .iter()
                .all(|w| w.ends_with("(left as is: this UPDATE does not change it)")));
        }
        // A changed image is judged in full; the unchanged ones still only warn.
        let response = run_policy::<PinDigest>(
            &fixture("pod_update_sidecar_image.json"),
            json!({}),
            &FixtureHost::default(),
        );
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert_eq!(message, "container 'sidecar' (/spec/containers/1) image 'ghcr.io/acme/sidecar:2': not pinned to a digest; use 'ghcr.io/acme/sidecar:2@sha256:<digest>' or enable mutate");
        // Container images may change on a Pod UPDATE, so the new image is pinned.
        let host = FixtureHost::default().with_digest("ghcr.io/acme/sidecar:2", DIGEST);
        let response = run_policy::<PinDigest>(
            &fixture("pod_update_sidecar_image.json"),
            json!({"mutate": true}),
            &host,
        );
        assert!(response.accepted, "{:?}", response.message);
        let object = response.mutated_object.unwrap();
        assert_eq!(
            object["spec"]["containers"][1]["image"],
            format!("ghcr.io/acme/sidecar:2@{DIGEST}")
        );
        assert_eq!(object["spec"]["containers"][0]["image"], "nginx:1.25");
    }

    #[test]
    fn custom_resources_are_judged_through_the_settings_extractors() {
        let run = |settings| {
            run_policy::<PinDigest>(&fixture("rollout.json"), settings, &FixtureHost::default())
        };
        assert!(run(json!({})).accepted, "an unknown kind has no images");
        let response = run(
            json!({"customResources": json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "paths": ["$.spec.template.spec.containers[*]", "$.spec.template.spec.initContainers[*]"]}])}),
        );
        assert!(!response.accepted);
        assert!(response.message.unwrap().contains("container 'web' (/spec/template/spec/containers/0) image 'ghcr.io/acme/web:main': not pinned"));
    }
}

#[cfg(test)]
mod fuzz_regressions;
