use super::*;
use sdk_shim::kubewarden::response::ValidationResponse;
use sdk_shim::testing::{cluster_from_file, run_policy};
use serde_json::json;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name)
}

fn settings(extra: Value) -> Value {
    let mut settings = json!({
        "registries": ["ghcr.io/acme", "*.dkr.ecr.*.amazonaws.com", "us-docker.pkg.dev", "harbor.internal.example.com", "docker.io/acme"]
    });
    for (key, value) in extra.as_object().unwrap() {
        settings[key] = value.clone();
    }
    settings
}

fn run(file: &str, extra: Value) -> ValidationResponse {
    let host = cluster_from_file(&fixture("cluster.json"));
    run_policy::<RequirePullSecret>(&fixture(file), settings(extra), &host)
}

#[test]
fn plain_mode_needs_a_listed_secret() {
    // (fixture, accepted, fragment)
    let cases = [
        ("pod_ghcr_no_secrets.json", false, "container 'app' (/spec/containers/0) image 'ghcr.io/acme/app:1': needs pull credentials for registry 'ghcr.io' (matches registries 'ghcr.io/acme'); the pod spec lists no imagePullSecrets"),
        ("pod_ghcr_no_secrets.json", false, "or enable verifySecrets if the pod's ServiceAccount provides it"),
        ("pod_ghcr_with_regcred.json", true, ""),
        // Plain mode does not look inside secrets.
        ("pod_ghcr_wrong_secrets.json", true, ""),
        // Plain mode does not look up the ServiceAccount.
        ("pod_ecr_builder_sa.json", false, "needs pull credentials for registry '123456789.dkr.ecr.us-east-1.amazonaws.com'"),
        ("cronjob_gcr.json", true, ""),
        ("deployment_harbor.json", false, "3 problems"),
        ("pod_dockerhub_private.json", true, ""),
    ];
    for (file, accepted, fragment) in cases {
        let response = run(file, json!({}));
        assert_eq!(
            response.accepted, accepted,
            "{file}: {:?}",
            response.message
        );
        assert!(
            response.message.unwrap_or_default().contains(fragment),
            "{file}"
        );
    }
}

#[test]
fn public_images_need_nothing() {
    let response = run("pod_ghcr_no_secrets.json", json!({}));
    assert!(!response.message.unwrap().contains("'proxy'"));
}

#[test]
fn verify_mode_checks_each_secret_and_the_service_account() {
    let verify = json!({"verifySecrets": true});
    let cases = [
        ("pod_ghcr_with_regcred.json", true, ""),
        ("pod_ecr_builder_sa.json", true, ""),
        ("cronjob_gcr.json", true, ""),
        ("pod_dockerhub_private.json", true, ""),
        ("pod_ghcr_wrong_secrets.json", false, "secret 'opaque' (pod): type 'Opaque' is not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg"),
        ("pod_ghcr_wrong_secrets.json", false, "secret 'ecr-cred' (pod): no entry for registry 'ghcr.io' (it has: 123456789.dkr.ecr.us-east-1.amazonaws.com)"),
        ("pod_ghcr_wrong_secrets.json", false, "secret 'missing' (pod): missing or unreadable in namespace 'default'"),
        ("pod_ghcr_wrong_secrets.json", false, "ServiceAccount 'default' lists no imagePullSecrets"),
        ("pod_ecr_broken_sa.json", false, "secret 'missing-secret' (ServiceAccount 'broken-sa'): missing or unreadable"),
        ("pod_ghcr_no_secrets.json", false, "the pod spec lists no imagePullSecrets; ServiceAccount 'default' lists no imagePullSecrets"),
        // Secrets must live in the pod's own namespace.
        ("pod_other_namespace.json", false, "secret 'regcred' (pod): no entry for registry 'ghcr.io' (it has: quay.io)"),
        ("deployment_harbor.json", false, "init container 'init'"),
    ];
    for (file, accepted, fragment) in cases {
        let response = run(file, verify.clone());
        assert_eq!(
            response.accepted, accepted,
            "{file}: {:?}",
            response.message
        );
        let message = response.message.unwrap_or_default();
        assert!(message.contains(fragment), "{file}: {message}");
    }
}

#[test]
fn ephemeral_containers_use_the_pods_secrets() {
    assert!(run("ephemeral_ghcr.json", json!({"verifySecrets": true})).accepted);
    let response = run(
        "ephemeral_ghcr.json",
        json!({"registries": ["ghcr.io"], "verifySecrets": true}),
    );
    assert!(response.accepted, "{:?}", response.message);
}

#[test]
fn mutation_adds_the_secret_once_per_pod_spec() {
    let response = run(
        "deployment_harbor.json",
        json!({"secretName": "harbor-cred"}),
    );
    assert!(response.accepted, "{:?}", response.message);
    let object = response.mutated_object.unwrap();
    assert_eq!(
        object["spec"]["template"]["spec"]["imagePullSecrets"],
        json!([{"name": "harbor-cred"}])
    );

    let response = run("pod_ecr_builder_sa.json", json!({"secretName": "ecr-cred"}));
    assert_eq!(
        response.mutated_object.unwrap()["spec"]["imagePullSecrets"],
        json!([{"name": "ecr-cred"}])
    );
}

#[test]
fn verified_mutation_requires_a_serving_secret() {
    // harbor-cred serves the harbor containers, but not the ghcr.io init container.
    let response = run(
        "deployment_harbor.json",
        json!({"secretName": "harbor-cred", "verifySecrets": true}),
    );
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(message.contains("init container 'init'"), "{message}");
    assert!(
        message.contains("secretName 'harbor-cred' does not serve it either"),
        "{message}"
    );
    assert!(!message.contains("container 'web'"), "{message}");

    let response = run(
        "pod_ghcr_no_secrets.json",
        json!({"secretName": "regcred", "verifySecrets": true}),
    );
    assert!(response.accepted, "{:?}", response.message);
    assert_eq!(
        response.mutated_object.unwrap()["spec"]["imagePullSecrets"],
        json!([{"name": "regcred"}])
    );

    let response = run(
        "pod_ghcr_no_secrets.json",
        json!({"secretName": "ecr-cred", "verifySecrets": true}),
    );
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap()
        .contains("secretName 'ecr-cred' cannot be added: no entry for registry 'ghcr.io'"));

    // Already listed and still not serving: nothing to add.
    let response = run(
        "pod_ghcr_wrong_secrets.json",
        json!({"secretName": "opaque", "verifySecrets": true}),
    );
    assert!(!response.accepted);
}

#[test]
fn secret_contents_never_appear_in_any_response() {
    let secrets = std::fs::read_to_string(fixture("secret_password.txt")).unwrap();
    let files = [
        "pod_ghcr_no_secrets.json",
        "pod_ghcr_with_regcred.json",
        "pod_ghcr_wrong_secrets.json",
        "pod_ecr_builder_sa.json",
        "pod_ecr_broken_sa.json",
        "pod_other_namespace.json",
        "deployment_harbor.json",
        "cronjob_gcr.json",
    ];
    let mut checked = 0;
    for file in files {
        for extra in [
            json!({}),
            json!({"verifySecrets": true}),
            json!({"verifySecrets": true, "secretName": "opaque"}),
        ] {
            let response = serde_json::to_string(&run(file, extra)).unwrap();
            for secret in secrets.lines() {
                assert!(!response.contains(secret), "{file}: {response}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}
