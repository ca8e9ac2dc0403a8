//! Requests near the API server's size limit, through every compiled policy: each is judged
//! completely (counts checked), and the time is printed for the benchmark figures (not asserted:
//! speed goals live in the benchmarks, not in timed tests).

mod common;

use common::{instance, request};
use e2e::{workspace_root, HostCapabilities, PolicyInstance};
use serde_json::{json, Value};
use std::time::Instant;

const CONTAINERS: usize = 1000;

/// A Deployment of about 1.5 MB: 1,000 containers with env, probes and resources, every tenth of
/// them from quay.io and unpinned, the rest from ghcr.io/acme and pinned.
fn huge_deployment() -> Value {
    let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let containers: Vec<Value> = (0..CONTAINERS)
        .map(|i| {
            let image = if i % 10 == 0 {
                format!("quay.io/acme/tool:1.{i}")
            } else {
                format!("ghcr.io/acme/app-{i}:1.0@{digest}")
            };
            let env: Vec<Value> = (0..16)
                .map(|e| json!({"name": format!("SETTING_{e}"), "value": format!("value-{i}-{e}-padding-padding-padding")}))
                .collect();
            json!({
                "name": format!("c{i}"),
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "env": env,
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "16Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
            })
        })
        .collect();
    let mut review = request("pin-digest", "deployment_mixed.json");
    review["object"]["spec"]["template"]["spec"] = json!({
        "containers": containers,
        "imagePullSecrets": [{"name": "regcred"}],
        "volumes": [{"name": "data", "emptyDir": {}}]
    });
    review
}

/// Runs `f` on a fresh instance of the policy (compiled beforehand) and prints how long it took.
fn timed<T>(
    policy: &str,
    capabilities: HostCapabilities,
    f: impl FnOnce(&PolicyInstance) -> T,
) -> T {
    let instance = instance(policy, capabilities);
    let start = Instant::now();
    let result = f(&instance);
    eprintln!("{policy}: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0);
    result
}

#[test]
fn a_deployment_of_1000_containers_is_judged_whole_by_every_policy() {
    let review = huge_deployment();
    let size = review.to_string().len();
    assert!(size > 1_400_000, "{size} bytes");
    eprintln!("request: {size} bytes, {CONTAINERS} containers");
    let rejected = CONTAINERS / 10;

    let response = timed("pin-digest", HostCapabilities::new(), |policy| {
        policy.validate(&review, &json!({})).unwrap()
    });
    assert!(response
        .message
        .unwrap()
        .starts_with(&format!("{rejected} problems")));

    let response = timed("allowed-registries", HostCapabilities::new(), |policy| {
        policy
            .validate(
                &review,
                &json!({"allow": ["ghcr.io/acme"], "deny": ["docker.io/bitnami"]}),
            )
            .unwrap()
    });
    assert!(response
        .message
        .unwrap()
        .starts_with(&format!("{rejected} problems")));

    let response = timed("pull-policy-for-tag", HostCapabilities::new(), |policy| {
        policy
            .validate(&review, &json!({"mutableTags": ["1.*"], "mutate": true}))
            .unwrap()
    });
    let object = response.mutated_object.expect("mutated");
    let always = object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["imagePullPolicy"] == "Always")
        .count();
    assert_eq!(always, rejected);

    let mut cluster = HostCapabilities::new();
    cluster
        .load_resources(
            &workspace_root().join("policies/require-pull-secret/test_data/cluster.json"),
        )
        .unwrap();
    let response = timed("require-pull-secret", cluster, |policy| {
        policy
            .validate(
                &review,
                &json!({"registries": ["ghcr.io/acme", "quay.io"], "verifySecrets": true}),
            )
            .unwrap()
    });
    // regcred serves ghcr.io but not quay.io: every tenth container lacks credentials.
    assert!(response
        .message
        .unwrap()
        .starts_with(&format!("{rejected} problems")));
}

#[test]
fn a_custom_resource_with_100000_images_is_judged_whole() {
    let images: Vec<Value> = (0..100_000)
        .map(|i| match i % 1000 {
            0 => json!(format!("docker.io/library/app-{i}:1")),
            _ => json!(format!("ghcr.io/acme/app-{i}:1")),
        })
        .collect();
    let mut review = request("pin-digest", "deployment_mixed.json");
    review["kind"] = json!({"group": "example.com", "version": "v1", "kind": "ImageSet"});
    review["object"] =
        json!({"apiVersion": "example.com/v1", "kind": "ImageSet", "spec": {"images": images}});
    eprintln!("custom resource: {} bytes", review.to_string().len());
    let settings = json!({
        "allow": ["ghcr.io/acme"],
        "customResources": [{"apiVersion": "example.com/v1", "kind": "ImageSet", "paths": ["$.spec.images[*]", "$..images[*]"]}]
    });
    let response = timed("allowed-registries", HostCapabilities::new(), |policy| {
        policy.validate(&review, &settings).unwrap()
    });
    assert!(response.message.unwrap().starts_with("100 problems"));
}
