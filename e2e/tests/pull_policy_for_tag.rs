//! pull-policy-for-tag's compiled `.wasm`, run through the waPC host.

mod common;

use common::{instance, request};
use e2e::HostCapabilities;
use serde_json::json;

const POLICY: &str = "pull-policy-for-tag";

#[test]
fn settings_are_validated_by_the_policy() {
    let policy = instance(POLICY, HostCapabilities::new());
    assert!(policy.validate_settings(&json!({})).unwrap().valid);
    assert!(policy.validate_settings(&json!({"mutableTags": ["latest", "main"], "allowNeverFor": ["registry.k8s.io/pause"], "allowAlwaysForImmutable": false, "mutate": true})).unwrap().valid);
    let cases = [
        (
            json!({"mutableTags": ["lat est"]}),
            "mutableTags[0]: 'lat est' is not a tag glob",
        ),
        (
            json!({"allowNeverFor": ["pause"]}),
            "allowNeverFor[0]: pattern 'pause'",
        ),
        (
            json!({"allowAlwaysForImmutable": 1}),
            "allowAlwaysForImmutable: invalid type",
        ),
        (json!({"mutableTag": []}), "unknown field `mutableTag`"),
    ];
    common::assert_settings_rejected(&policy, &cases);
}

#[test]
fn a_mutable_tag_with_the_default_policy_is_rejected_with_the_reason() {
    let policy = instance(POLICY, HostCapabilities::new());
    let response = policy
        .validate(
            &request(POLICY, "deployment_main_unset.json"),
            &json!({"mutableTags": ["latest", "main"]}),
        )
        .unwrap();
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(
        message.contains("container 'api' (/spec/template/spec/containers/0)"),
        "{message}"
    );
    assert!(
        message.contains(
            "(the Kubernetes default, as imagePullPolicy is not set), but tag 'main' is mutable"
        ),
        "{message}"
    );
    assert!(message.contains("so use Always"), "{message}");
    // With the default mutableTags, `main` is a versioned tag and IfNotPresent is right.
    assert!(
        policy
            .validate(&request(POLICY, "deployment_main_unset.json"), &json!({}))
            .unwrap()
            .accepted
    );
}

#[test]
fn cronjob_and_ephemeral_containers_are_judged() {
    let policy = instance(POLICY, HostCapabilities::new());
    let cronjob = policy
        .validate(
            &request(POLICY, "cronjob_latest_ifnotpresent.json"),
            &json!({}),
        )
        .unwrap();
    assert!(cronjob
        .message
        .unwrap()
        .contains("/spec/jobTemplate/spec/template/spec/containers/0"));
    let ephemeral = policy
        .validate(&request(POLICY, "ephemeral_never.json"), &json!({}))
        .unwrap();
    let message = ephemeral.message.unwrap();
    assert!(
        message.contains("ephemeral container 'debugger-abc12'"),
        "{message}"
    );
    assert!(
        !message.contains("container 'web'"),
        "only the ephemeral containers change on that subresource: {message}"
    );
}

#[test]
fn mutate_patches_the_pull_policy() {
    let policy = instance(POLICY, HostCapabilities::new());
    let response = policy
        .validate(
            &request(POLICY, "deployment_main_unset.json"),
            &json!({"mutableTags": ["main"], "mutate": true}),
        )
        .unwrap();
    assert!(response.accepted, "{:?}", response.message);
    let object = response.mutated_object.unwrap();
    assert_eq!(
        object["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    assert!(object["spec"]["template"]["spec"]["initContainers"][0]
        .get("imagePullPolicy")
        .is_none());
}

#[test]
fn image_volume_pull_policies_in_the_module() {
    let policy = instance(POLICY, HostCapabilities::new());
    let response = policy
        .validate(
            &request(POLICY, "pod_image_volumes.json"),
            &json!({"mutate": true, "allowNeverFor": ["ghcr.io/acme/preloaded"]}),
        )
        .unwrap();
    assert!(response.accepted, "{:?}", response.message);
    let volumes = &response.mutated_object.expect("mutated")["spec"]["volumes"];
    assert_eq!(volumes[1]["image"]["pullPolicy"], "Always");
    let response = policy
        .validate(
            &request(POLICY, "pod_update_to_latest.json"),
            &json!({"mutate": true}),
        )
        .unwrap();
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap()
        .contains("the policy cannot fix it here"));
}
