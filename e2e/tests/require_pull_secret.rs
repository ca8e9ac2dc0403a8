//! require-pull-secret's compiled `.wasm`, run through the waPC host with a fixture cluster state.

mod common;

use common::{instance, request};
use e2e::{workspace_root, HostCapabilities};
use serde_json::{json, Value};
use std::path::PathBuf;

const POLICY: &str = "require-pull-secret";

fn test_data(name: &str) -> PathBuf {
    workspace_root()
        .join("policies")
        .join(POLICY)
        .join("test_data")
        .join(name)
}

fn cluster() -> HostCapabilities {
    let mut capabilities = HostCapabilities::new();
    capabilities
        .load_resources(&test_data("cluster.json"))
        .unwrap();
    capabilities
}

fn settings(extra: Value) -> Value {
    let mut settings = json!({"registries": ["ghcr.io/acme", "*.dkr.ecr.*.amazonaws.com", "us-docker.pkg.dev", "harbor.internal.example.com"]});
    for (key, value) in extra.as_object().unwrap() {
        settings[key] = value.clone();
    }
    settings
}

#[test]
fn settings_are_validated_by_the_policy() {
    let policy = instance(POLICY, HostCapabilities::new());
    assert!(
        policy
            .validate_settings(&settings(
                json!({"verifySecrets": true, "secretName": "regcred"})
            ))
            .unwrap()
            .valid
    );
    let cases = [
        (json!({}), "registries: required"),
        (
            json!({"registries": ["ghcr.io"], "secretName": "Not_Valid"}),
            "secretName: 'Not_Valid' is not a valid Secret name",
        ),
        (
            json!({"registries": ["ghcr"]}),
            "registries[0]: pattern 'ghcr'",
        ),
    ];
    common::assert_settings_rejected(&policy, &cases);
}

#[test]
fn plain_mode_rejects_by_message() {
    let policy = instance(POLICY, cluster());
    let response = policy
        .validate(
            &request(POLICY, "pod_ghcr_no_secrets.json"),
            &settings(json!({})),
        )
        .unwrap();
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(
        message
            .contains("image 'ghcr.io/acme/app:1': needs pull credentials for 'ghcr.io/acme/app'"),
        "{message}"
    );
    assert!(
        message.contains("the Pod lists no imagePullSecrets"),
        "{message}"
    );
    // A template may still get its ServiceAccount's secrets: the hint says so.
    let response = policy
        .validate(
            &request(POLICY, "deployment_harbor.json"),
            &settings(json!({})),
        )
        .unwrap();
    assert!(response.message.unwrap().contains("enable verifySecrets"));
}

#[test]
fn verify_mode_reads_the_cluster_state_through_the_host() {
    let policy = instance(POLICY, cluster());
    let verify = settings(json!({"verifySecrets": true}));
    assert!(
        policy
            .validate(&request(POLICY, "deployment_ecr_builder_sa.json"), &verify)
            .unwrap()
            .accepted
    );
    assert!(
        policy
            .validate(&request(POLICY, "cronjob_gcr.json"), &verify)
            .unwrap()
            .accepted
    );
    let response = policy
        .validate(&request(POLICY, "pod_ghcr_wrong_secrets.json"), &verify)
        .unwrap();
    let message = response.message.unwrap();
    assert!(
        message.contains("secret 'opaque' (pod): the kubelet does not read it: type 'Opaque'"),
        "{message}"
    );
    assert!(
        message.contains("secret 'ecr-cred' (pod): no usable entry for 'ghcr.io/acme/app'"),
        "{message}"
    );
    assert!(
        message.contains("secret 'missing' (pod): missing or unreadable in namespace 'default'"),
        "{message}"
    );
    let response = policy
        .validate(&request(POLICY, "pod_other_namespace.json"), &verify)
        .unwrap();
    assert!(response.message.unwrap().contains("(it has: quay.io)"));
}

#[test]
fn mutation_adds_the_secret() {
    let policy = instance(POLICY, cluster());
    let response = policy
        .validate(
            &request(POLICY, "deployment_harbor.json"),
            &settings(json!({"secretName": "harbor-cred"})),
        )
        .unwrap();
    assert!(response.accepted, "{:?}", response.message);
    assert_eq!(
        response.mutated_object.unwrap()["spec"]["template"]["spec"]["imagePullSecrets"],
        json!([{"name": "harbor-cred"}])
    );
}

#[test]
fn secret_data_never_leaves_the_policy() {
    let secrets = std::fs::read_to_string(test_data("secret_password.txt")).unwrap();
    let capabilities = std::sync::Arc::new(cluster());
    let policy = common::module(POLICY)
        .instantiate(capabilities.clone())
        .unwrap();
    for file in [
        "pod_ghcr_wrong_secrets.json",
        "pod_ghcr_with_regcred.json",
        "pod_ecr_broken_sa.json",
        "deployment_ecr_broken_sa.json",
        "pod_broken_secret.json",
        "pod_userinfo_key.json",
        "pod_other_namespace.json",
    ] {
        for extra in [
            json!({"verifySecrets": true}),
            json!({"verifySecrets": true, "secretName": "opaque"}),
        ] {
            let response = serde_json::to_string(
                &policy
                    .validate(&request(POLICY, file), &settings(extra))
                    .unwrap(),
            )
            .unwrap();
            for secret in secrets.lines() {
                assert!(!response.contains(secret), "{file}: {response}");
            }
        }
    }
    // The policy did read the secrets (the check above is not vacuous).
    assert!(capabilities
        .calls()
        .iter()
        .any(|c| c.starts_with("kubernetes/get_resource") && c.contains("\"Secret\"")));
}

#[test]
fn the_module_follows_the_service_account_plugin_and_the_keyring() {
    let policy = instance(POLICY, cluster());
    let verify = settings(json!({"verifySecrets": true}));
    // A template listing its own secret gets none of its ServiceAccount's.
    let response = policy
        .validate(
            &request(POLICY, "deployment_ecr_own_secret_and_sa.json"),
            &verify,
        )
        .unwrap();
    assert!(!response.accepted);
    // A secret the kubelet cannot parse breaks every pull of the pod.
    let response = policy
        .validate(&request(POLICY, "pod_broken_secret.json"), &verify)
        .unwrap();
    assert!(response
        .message
        .unwrap()
        .contains("secret 'broken-json' (pod) cannot be parsed by the kubelet"));
    // secretName keeps the ServiceAccount's secrets a template relied on.
    let response = policy
        .validate(
            &request(POLICY, "deployment_sa_ecr_and_ghcr.json"),
            &settings(json!({"secretName": "regcred"})),
        )
        .unwrap();
    assert_eq!(
        response.mutated_object.expect("mutated")["spec"]["template"]["spec"]["imagePullSecrets"],
        json!([{"name": "ecr-cred"}, {"name": "regcred"}])
    );
    // kubectl debug: no patch the API server would drop.
    let response = policy
        .validate(
            &request(POLICY, "ephemeral_ghcr_no_secrets.json"),
            &settings(json!({"secretName": "regcred"})),
        )
        .unwrap();
    assert!(!response.accepted);
    // Null settings are validated like any other: registries is required.
    let answer = policy.validate_settings(&Value::Null).unwrap();
    assert!(!answer.valid);
    assert!(answer.message.unwrap().contains("registries: required"));
}
