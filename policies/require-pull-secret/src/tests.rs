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
        ("pod_ghcr_no_secrets.json", false, "container 'app' (/spec/containers/0) image 'ghcr.io/acme/app:1': needs pull credentials for 'ghcr.io/acme/app' (matches registries 'ghcr.io/acme'); the Pod lists no imagePullSecrets"),
        ("deployment_harbor.json", false, "the pod spec lists no imagePullSecrets; add a kubernetes.io/dockerconfigjson Secret of the pod's namespace, or enable verifySecrets if the ServiceAccount provides it"),
        ("pod_ghcr_with_regcred.json", true, ""),
        // Plain mode does not look inside secrets.
        ("pod_ghcr_wrong_secrets.json", true, ""),
        // Plain mode does not look up the ServiceAccount.
        ("pod_ecr_builder_sa.json", false, "needs pull credentials for '123456789.dkr.ecr.us-east-1.amazonaws.com/team/builder'"),
        // Empty names do not count.
        ("pod_empty_secret_name.json", false, "the pod spec's imagePullSecrets name no secret (empty names do not count)"),
        // Image volumes need credentials like containers.
        ("pod_image_volume_ghcr.json", false, "image volume 'payload' (/spec/volumes/0/image) image 'ghcr.io/acme/payload:1': needs pull credentials"),
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
        ("deployment_ecr_builder_sa.json", true, ""),
        // A Pod object has its ServiceAccount's secrets already, or never gets them.
        ("pod_ecr_builder_sa.json", false, "the Pod lists no imagePullSecrets (a ServiceAccount's are copied into a Pod only when it is created"),
        ("pod_update_sa_only.json", false, "the Pod lists no imagePullSecrets"),
        ("cronjob_gcr.json", true, ""),
        ("pod_dockerhub_private.json", true, ""),
        ("pod_ghcr_wrong_secrets.json", false, "secret 'opaque' (pod): the kubelet does not read it"),
        ("pod_ghcr_wrong_secrets.json", false, "secret 'ecr-cred' (pod): no usable entry for 'ghcr.io/acme/app' (it has: 123456789.dkr.ecr.us-east-1.amazonaws.com)"),
        ("pod_ghcr_wrong_secrets.json", false, "secret 'missing' (pod): missing or unreadable in namespace 'default'"),
        ("deployment_ecr_broken_sa.json", false, "secret 'missing-secret' (ServiceAccount 'broken-sa'): missing or unreadable"),
        ("deployment_harbor.json", false, "the pod spec lists no imagePullSecrets; ServiceAccount 'default' lists no imagePullSecrets"),
        // Secrets must live in the pod's own namespace.
        ("pod_other_namespace.json", false, "secret 'regcred' (pod): no usable entry for 'ghcr.io/acme/app' (it has: quay.io)"),
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
        message.contains(
            "secretName 'harbor-cred' cannot be added: no usable entry for 'ghcr.io/acme/init'"
        ),
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
        .contains("secretName 'ecr-cred' cannot be added: no usable entry for 'ghcr.io/acme/app'"));

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
    let cluster = std::fs::read_to_string(fixture("cluster.json")).unwrap();
    // The fixtures really hold these strings (decoded, inside the secrets' data).
    let decoded: String = serde_json::from_str::<Value>(&cluster).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item.get("data").and_then(Value::as_object))
        .flat_map(|data| data.values())
        .filter_map(|v| v.as_str())
        .map(|v| {
            use base64::Engine;
            String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(v).unwrap())
                .into_owned()
        })
        .collect();
    for secret in secrets.lines() {
        assert!(decoded.contains(secret), "the fixtures hold '{secret}'");
    }
    let files = [
        "pod_ghcr_no_secrets.json",
        "pod_ghcr_with_regcred.json",
        "pod_ghcr_wrong_secrets.json",
        "pod_ecr_builder_sa.json",
        "pod_ecr_broken_sa.json",
        "deployment_ecr_broken_sa.json",
        "pod_other_namespace.json",
        "deployment_harbor.json",
        "cronjob_gcr.json",
        "pod_broken_secret.json",
        "pod_bad_auth_secret.json",
        "pod_no_creds_secret.json",
        "pod_userinfo_key.json",
        "pod_other_org_key.json",
    ];
    for file in files {
        for extra in [
            json!({}),
            json!({"verifySecrets": true}),
            json!({"verifySecrets": true, "secretName": "opaque"}),
            json!({"verifySecrets": true, "secretName": "userinfo-key", "registries": ["ghcr.io/nobody"]}),
        ] {
            let response = serde_json::to_string(&run(file, extra.clone())).unwrap();
            for secret in secrets.lines() {
                assert!(!response.contains(secret), "{file} {extra}: {response}");
            }
        }
    }
}

#[test]
fn a_pod_listing_secrets_gets_none_from_its_service_account() {
    // Before: the ServiceAccount's ecr-cred counted although the template lists regcred, which
    // the ServiceAccount plugin honours by adding nothing: ImagePullBackOff (401).
    let response = run(
        "deployment_ecr_own_secret_and_sa.json",
        json!({"verifySecrets": true}),
    );
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(message.contains("secret 'regcred' (pod): no usable entry for '123456789.dkr.ecr.us-east-1.amazonaws.com/team/builder'"), "{message}");
    assert!(!message.contains("ServiceAccount"), "{message}");
    // Without secrets of its own, the template gets the ServiceAccount's.
    let response = run(
        "deployment_ecr_builder_sa.json",
        json!({"verifySecrets": true}),
    );
    assert!(response.accepted, "{:?}", response.message);
}

#[test]
fn secret_name_never_takes_credentials_away() {
    // The template relies on its ServiceAccount for ECR; adding regcred for ghcr.io would stop
    // the plugin from injecting ecr-cred, so ecr-cred is listed too.
    for mode in [
        json!({"secretName": "regcred"}),
        json!({"secretName": "regcred", "verifySecrets": true}),
    ] {
        let response = run("deployment_sa_ecr_and_ghcr.json", mode.clone());
        assert!(response.accepted, "{mode}: {:?}", response.message);
        assert_eq!(
            response.mutated_object.unwrap()["spec"]["template"]["spec"]["imagePullSecrets"],
            json!([{"name": "ecr-cred"}, {"name": "regcred"}]),
            "{mode}"
        );
    }
}

#[test]
fn where_the_api_server_would_drop_the_patch_the_pod_is_rejected() {
    // kubectl debug: the subresource keeps only spec.ephemeralContainers.
    let response = run(
        "ephemeral_ghcr_no_secrets.json",
        json!({"secretName": "regcred"}),
    );
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(
        message.contains("ephemeral container 'debugger'"),
        "{message}"
    );
    assert!(message.contains("the policy cannot fix it here: on the pods/ephemeralcontainers subresource the API server keeps only changes to spec.ephemeralContainers"), "{message}");
    // A Pod UPDATE cannot change imagePullSecrets.
    let response = run(
        "pod_update_to_private_image.json",
        json!({"secretName": "regcred"}),
    );
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap()
        .contains("a Pod's spec is immutable once created"));
    // A label change on an old pod without credentials is not blocked.
    let response = run(
        "pod_update_labels_only.json",
        json!({"verifySecrets": true}),
    );
    assert!(response.accepted, "{:?}", response.message);
    assert_eq!(response.warnings.map(|w| w.len()), Some(1));
}

#[test]
fn secrets_count_as_the_kubelet_keyring_reads_them() {
    let verify = json!({"verifySecrets": true});
    // (fixture, accepted, fragment)
    let cases = [
        // A secret the kubelet cannot parse fails every pull, even next to one that serves.
        ("pod_broken_secret.json", false, "secret 'broken-json' (pod) cannot be parsed by the kubelet, so every image pull of this pod fails"),
        ("pod_bad_auth_secret.json", false, "secret 'bad-auth' (pod) cannot be parsed by the kubelet"),
        ("pod_no_creds_secret.json", false, "secret 'no-creds' (pod): it holds no usable credentials"),
        // Keys may carry a path: a repository prefix.
        ("pod_acme_only_key.json", true, ""),
        ("pod_other_org_key.json", false, "secret 'other-org' (pod): no usable entry for 'ghcr.io/acme/app' (it has: ghcr.io/other)"),
        // User info in a key is dropped (the kubelet keys on host and path), and never printed.
        ("pod_userinfo_key.json", true, ""),
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
fn settings_null_or_empty_are_invalid() {
    use sdk_shim::settings::decode_settings;
    for payload in ["", "null", "{}"] {
        let err = decode_settings::<Settings>(payload.as_bytes()).unwrap_err();
        assert!(
            err.starts_with("registries: required"),
            "{payload:?}: {err}"
        );
    }
}

#[test]
fn many_containers_and_many_secrets_cost_each_once() {
    // 2,000 containers on ghcr.io and 4,000 listed secrets, none of them existing: every secret
    // is looked up once per request, and each message lists at most a few of them.
    let containers: Vec<Value> = (0..2000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("ghcr.io/acme/app-{i}:1")}))
        .collect();
    let secrets: Vec<Value> = (0..4000)
        .map(|i| json!({"name": format!("s{i}")}))
        .collect();
    let request = json!({
        "uid": "x", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
        "namespace": "default",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big", "namespace": "default"},
                   "spec": {"containers": containers, "imagePullSecrets": secrets}}
    });
    let host = cluster_from_file(&fixture("cluster.json"));
    let response = sdk_shim::testing::run_policy_on::<RequirePullSecret>(
        request,
        settings(json!({"verifySecrets": true})),
        &host,
    );
    let message = response.message.unwrap();
    assert!(message.starts_with("2000 problems"), "{}", &message[..200]);
    assert!(message.contains("3995 more secrets serve it no better"));
    assert!(message.len() < 2000 * 1200, "{} bytes", message.len());
}

#[test]
fn custom_resources_are_judged_through_the_settings_extractors() {
    let rollout = json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "paths": ["$.spec.template.spec.containers[*]"]}]);
    assert!(
        run("rollout.json", json!({})).accepted,
        "an unknown kind has no images"
    );
    let response = run("rollout.json", json!({ "customResources": rollout }));
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap()
        .contains("container 'web' (/spec/template/spec/containers/0) image 'ghcr.io/acme/web:main': needs pull credentials"));
}

#[test]
fn core_group_templates_get_their_service_accounts_secrets() {
    // A ReplicationController is a template of the core group, not a Pod.
    let response = run(
        "replicationcontroller_ecr_builder_sa.json",
        json!({"verifySecrets": true}),
    );
    assert!(response.accepted, "{:?}", response.message);
}

#[test]
fn at_most_five_secrets_are_described() {
    let response = run(
        "pod_five_wrong_secrets.json",
        json!({"verifySecrets": true}),
    );
    let message = response.message.unwrap();
    assert!(message.contains("secret 'harbor-cred' (pod)"), "{message}");
    assert!(!message.contains("more secrets"), "{message}");
}
