//! pin-digest's compiled `.wasm`, run through the waPC host.

mod common;

use common::{instance, request};
use e2e::HostCapabilities;
use serde_json::json;
use std::sync::Arc;

const POLICY: &str = "pin-digest";
const DIGEST: &str = "sha256:9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d";

#[test]
fn speaks_protocol_v1() {
    assert_eq!(
        instance(POLICY, HostCapabilities::new())
            .protocol_version()
            .unwrap(),
        "v1"
    );
}

#[test]
fn settings_are_validated_by_the_policy() {
    let policy = instance(POLICY, HostCapabilities::new());
    assert!(policy.validate_settings(&json!({})).unwrap().valid);
    assert!(
        policy
            .validate_settings(
                &json!({"mutate": true, "exemptImages": ["registry.k8s.io/pause:*"]})
            )
            .unwrap()
            .valid
    );
    let cases = [
        (
            json!({"mutate": "yes"}),
            "mutate: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"exemptImages": ["pause"]}),
            "exemptImages[0]: pattern 'pause'",
        ),
        (json!({"pinned": true}), "unknown field `pinned`"),
    ];
    common::assert_settings_rejected(&policy, &cases);
}

#[test]
fn rejects_every_unpinned_image_by_name() {
    let policy = instance(POLICY, HostCapabilities::new());
    let response = policy
        .validate(&request(POLICY, "deployment_mixed.json"), &json!({}))
        .unwrap();
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(message.starts_with("3 problems"), "{message}");
    assert!(message.contains("container 'web' (/spec/template/spec/containers/0) image 'nginx:1.25': not pinned to a digest"), "{message}");
    assert!(message.contains("init container 'migrate'"), "{message}");
}

#[test]
fn accepts_pinned_images_and_ephemeral_exemptions() {
    let policy = instance(POLICY, HostCapabilities::new());
    assert!(
        policy
            .validate(&request(POLICY, "pod_pinned.json"), &json!({}))
            .unwrap()
            .accepted
    );
    let exempt = json!({"exemptImages": ["docker.io/library/busybox"]});
    assert!(
        policy
            .validate(&request(POLICY, "ephemeral_unpinned.json"), &exempt)
            .unwrap()
            .accepted
    );
    let response = policy
        .validate(&request(POLICY, "ephemeral_unpinned.json"), &json!({}))
        .unwrap();
    assert!(response
        .message
        .unwrap()
        .contains("ephemeral container 'debugger-abc12'"));
}

#[test]
fn mutate_resolves_digests_through_the_host() {
    let capabilities = Arc::new(
        HostCapabilities::new()
            .with_digest("docker.io/library/nginx:1.25", DIGEST)
            .with_digest("docker.io/library/redis:latest", DIGEST)
            .with_digest("docker.io/library/busybox:1.36", DIGEST),
    );
    let policy = common::module(POLICY)
        .instantiate(capabilities.clone())
        .unwrap();
    let response = policy
        .validate(
            &request(POLICY, "deployment_mixed.json"),
            &json!({"mutate": true}),
        )
        .unwrap();
    assert!(response.accepted, "{:?}", response.message);
    let object = response.mutated_object.expect("a mutated object");
    let spec = &object["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["image"],
        format!("nginx:1.25@{DIGEST}")
    );
    assert_eq!(
        spec["containers"][1]["image"],
        request(POLICY, "deployment_mixed.json")["object"]["spec"]["template"]["spec"]
            ["containers"][1]["image"]
    );
    assert_eq!(spec["containers"][2]["image"], format!("redis@{DIGEST}"));
    assert_eq!(
        spec["initContainers"][0]["image"],
        format!("busybox:1.36@{DIGEST}")
    );
    let calls = capabilities.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls.contains(&"oci/v1/manifest_digest \"docker.io/library/redis:latest\"".to_string()),
        "{calls:?}"
    );
}

#[test]
fn a_failed_lookup_rejects_naming_the_image_and_the_error() {
    let policy = instance(POLICY, HostCapabilities::new());
    let response = policy
        .validate(
            &request(POLICY, "pod_latest.json"),
            &json!({"mutate": true}),
        )
        .unwrap();
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(
        message.contains("cannot resolve 'docker.io/library/nginx:latest' to a digest: "),
        "{message}"
    );
    assert!(
        message.ends_with("manifest unknown: docker.io/library/nginx:latest"),
        "{message}"
    );
}

#[test]
fn malformed_input_is_rejected_not_trapped() {
    let policy = instance(POLICY, HostCapabilities::new());
    let cases: [(&[u8], &str); 4] = [
        (b"not json", "cannot read the admission request"),
        (br#"{"request": {"kind": 5}}"#, "cannot read the admission request"),
        (br#"{"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": 1}}}, "settings": {}}"#, "malformed Pod: /spec/containers must be a list"),
        (br#"{"request": {"kind": {"kind": "Pod"}, "object": {}}, "settings": {"mutate": 1}}"#, "invalid settings: mutate"),
    ];
    for (payload, expected) in cases {
        let response = policy.validate_raw(payload).unwrap();
        assert!(!response.accepted);
        assert!(
            response.message.as_deref().unwrap_or("").contains(expected),
            "{response:?}"
        );
    }
    // The instance still works after bad input.
    assert!(
        policy
            .validate(&request(POLICY, "pod_pinned.json"), &json!({}))
            .unwrap()
            .accepted
    );
}

#[test]
fn fresh_and_warm_instances_agree() {
    let warm = instance(POLICY, HostCapabilities::new());
    let req = request(POLICY, "deployment_mixed.json");
    let first = warm.validate(&req, &json!({})).unwrap();
    for _ in 0..3 {
        assert_eq!(warm.validate(&req, &json!({})).unwrap(), first);
        assert_eq!(
            instance(POLICY, HostCapabilities::new())
                .validate(&req, &json!({}))
                .unwrap(),
            first
        );
    }
}

#[test]
fn image_volumes_and_updates_in_the_module() {
    let policy = instance(POLICY, HostCapabilities::new());
    let response = policy
        .validate(&request(POLICY, "pod_image_volumes.json"), &json!({}))
        .unwrap();
    assert!(!response.accepted);
    assert!(response.message.unwrap().contains(
        "image volume 'payload' (/spec/volumes/2/image) image 'ghcr.io/acme/payload:1': not pinned"
    ));
    // A finalizer removed from an old, unpinned pod: accepted, with a warning per image.
    let response = policy
        .validate(
            &request(POLICY, "pod_update_finalizer_only.json"),
            &json!({}),
        )
        .unwrap();
    assert!(response.accepted, "{:?}", response.message);
    assert_eq!(response.warnings.map(|w| w.len()), Some(4));
}

#[test]
fn the_grammar_and_the_legacy_ephemeral_kind_in_the_module() {
    let policy = instance(POLICY, HostCapabilities::new());
    // Kubernetes up to 1.22 sent kubectl debug's containers as kind EphemeralContainers; it used
    // to pass as an unknown kind.
    let response = policy
        .validate(&request(POLICY, "ephemeral_legacy_kind.json"), &json!({}))
        .unwrap();
    assert!(!response.accepted);
    assert!(response.message.unwrap().contains(
        "ephemeral container 'debugger' (/ephemeralContainers/0) image 'busybox:1.36': not pinned"
    ));
    // (image, accepted, message fragment) per distribution/reference v0.6.0.
    let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let long_domain = format!("{}.example.com", "r".repeat(60));
    let cases = [
        // A 64-hex name is refused only when it is the whole reference.
        (format!("{hex}:1@sha256:{hex}"), true, String::new()),
        (
            hex.to_string(),
            false,
            "a reference cannot be only a 64-character hex string".to_string(),
        ),
        // The 255-character limit is on the path, not the domain.
        (
            format!("{long_domain}/{}@sha256:{hex}", "a".repeat(200)),
            true,
            String::new(),
        ),
        (
            "[::1]".to_string(),
            false,
            "'[::1]' is a registry host without a repository path".to_string(),
        ),
        (
            format!("@sha256:{hex}"),
            false,
            "the image name before the ':' or '@' is empty".to_string(),
        ),
    ];
    for (image, accepted, fragment) in cases {
        let mut req = request(POLICY, "pod_latest.json");
        req["object"]["spec"]["containers"][0]["image"] = json!(image);
        let response = policy.validate(&req, &json!({})).unwrap();
        assert_eq!(
            response.accepted, accepted,
            "{image}: {:?}",
            response.message
        );
        assert!(
            response.message.unwrap_or_default().contains(&fragment),
            "{image}"
        );
    }
}
