//! allowed-registries' compiled `.wasm`, run through the waPC host.

mod common;

use common::{instance, request};
use e2e::HostCapabilities;
use serde_json::json;

const POLICY: &str = "allowed-registries";

#[test]
fn settings_are_validated_by_the_policy() {
    let policy = instance(POLICY, HostCapabilities::new());
    let good = json!({
        "allow": ["harbor.internal.example.com/dockerhub-cache", "ghcr.io/acme"],
        "mirrors": [{"from": "docker.io", "to": "harbor.internal.example.com/dockerhub-cache"}]
    });
    assert!(policy.validate_settings(&good).unwrap().valid);
    let cases = [
        (json!({"allow": ["nginx"]}), "allow[0]: pattern 'nginx'"),
        (
            json!({"deny": ["harbor.example.com"], "mirrors": [{"from": "quay.io", "to": "harbor.example.com/cache"}]}),
            "mirrors[0].to: 'harbor.example.com/cache' is denied",
        ),
        (
            json!({"allow": ["ghcr.io"], "mirrors": [{"from": "docker.io", "to": "harbor.example.com"}]}),
            "mirrors[0].to: 'harbor.example.com' is not covered by any allow pattern",
        ),
        (
            json!({"mirrors": [{"to": "harbor.example.com"}]}),
            "mirrors[0]: missing field `from`",
        ),
    ];
    common::assert_settings_rejected(&policy, &cases);
}

#[test]
fn rejects_every_image_outside_the_allow_list() {
    let policy = instance(POLICY, HostCapabilities::new());
    let response = policy
        .validate(
            &request(POLICY, "deployment_mixed.json"),
            &json!({"allow": ["ghcr.io/acme"]}),
        )
        .unwrap();
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(message.starts_with("3 problems"), "{message}");
    assert!(
        message.contains(
            "docker.io/library/nginx is not from an allowed registry (allow: ghcr.io/acme)"
        ),
        "{message}"
    );
    assert!(!message.contains("'api'"), "{message}");
}

#[test]
fn mirrors_patch_the_object() {
    let policy = instance(POLICY, HostCapabilities::new());
    let settings = json!({
        "allow": ["harbor.internal.example.com/dockerhub-cache", "ghcr.io/acme", "quay.io"],
        "mirrors": [{"from": "docker.io", "to": "harbor.internal.example.com/dockerhub-cache"}]
    });
    let response = policy
        .validate(&request(POLICY, "deployment_mixed.json"), &settings)
        .unwrap();
    assert!(response.accepted, "{:?}", response.message);
    let object = response.mutated_object.unwrap();
    let spec = &object["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["image"],
        "harbor.internal.example.com/dockerhub-cache/library/nginx:1.25"
    );
    assert_eq!(spec["containers"][1]["image"], "ghcr.io/acme/api:2.0");
    assert_eq!(
        spec["containers"][2]["image"],
        "quay.io/prometheus/node-exporter:v1.8.0"
    );
    assert_eq!(
        spec["initContainers"][0]["image"],
        "harbor.internal.example.com/dockerhub-cache/library/busybox:1.36"
    );
}

#[test]
fn bypasses_are_refused_in_the_compiled_policy() {
    let policy = instance(POLICY, HostCapabilities::new());
    let settings = json!({"allow": ["docker.io", "ghcr.io/acme"]});
    for (image, accepted) in [
        ("docker.io.evil.com/library/nginx", false),
        ("ghcr.io/acme-evil/x", false),
        ("INDEX.DOCKER.IO/library/nginx", true),
        ("library/nginx", true),
        ("nginx", true),
    ] {
        let mut req = request(POLICY, "pod_one_image.json");
        req["object"]["spec"]["containers"][0]["image"] = json!(image);
        assert_eq!(
            policy.validate(&req, &settings).unwrap().accepted,
            accepted,
            "{image}"
        );
    }
}

#[test]
fn every_spelling_of_a_denied_registry_is_denied_by_the_module() {
    let policy = instance(POLICY, HostCapabilities::new());
    for (deny, image) in [
        ("evil.com", "evil.com:5000/x"),
        ("localhost", "127.0.0.1:5000/x"),
        ("localhost", "[::1]:5000/x"),
        ("10.0.0.1", "[::ffff:a00:1]/x"),
        ("docker.io/library/nginx", "registry-1.docker.io/nginx"),
        ("docker.io/library/nginx", "Docker.IO/nginx"),
    ] {
        let mut req = request(POLICY, "pod_one_image.json");
        req["object"]["spec"]["containers"][0]["image"] = json!(image);
        let response = policy.validate(&req, &json!({ "deny": [deny] })).unwrap();
        assert!(!response.accepted, "deny {deny} must hold for {image}");
    }
}

#[test]
fn mirrors_never_launder_and_image_volumes_are_rewritten() {
    let policy = instance(POLICY, HostCapabilities::new());
    let settings = json!({
        "deny": ["docker.io/bitnami"],
        "mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]
    });
    let mut req = request(POLICY, "pod_one_image.json");
    req["object"]["spec"]["containers"][0]["image"] = json!("bitnami/redis:7");
    let response = policy.validate(&req, &settings).unwrap();
    assert!(
        !response.accepted,
        "a mirror must not launder a denied image"
    );

    let settings = json!({"mirrors": [{"from": "ghcr.io", "to": "harbor.example.com/ghcr"}]});
    let response = policy
        .validate(&request(POLICY, "pod_image_volumes.json"), &settings)
        .unwrap();
    let volumes = &response.mutated_object.expect("mutated")["spec"]["volumes"];
    assert_eq!(
        volumes[2]["image"]["reference"],
        "harbor.example.com/ghcr/acme/payload:1"
    );
    let cases = [(
        json!({"mirrors": [{"from": "*.gcr.io", "to": "harbor.example.com/gcr"}]}),
        "mirrors[0].from: '*.gcr.io' has a '*'",
    )];
    common::assert_settings_rejected(&policy, &cases);
}

#[test]
fn a_label_update_does_not_restart_containers() {
    let policy = instance(POLICY, HostCapabilities::new());
    let settings = json!({"mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]});
    let response = policy
        .validate(
            &request(POLICY, "deployment_update_labels_only.json"),
            &settings,
        )
        .unwrap();
    assert!(response.accepted);
    assert!(response.mutated_object.is_none());
    assert_eq!(response.warnings.map(|w| w.len()), Some(1));
}
