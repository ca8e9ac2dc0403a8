use super::*;
use sdk_shim::testing::cluster_from_file;
use serde_json::json;
use std::path::Path;

/// The case table (`cases.yml`), natively; `e2e` runs it through the `.wasm`.
#[test]
fn cases() {
    sdk_shim::cases::run_native::<RequirePullSecret>(env!("CARGO_MANIFEST_DIR"));
}

/// An empty settings payload (which no case can express: a case's settings are a JSON value) is
/// refused as `{}` and `null` are.
#[test]
fn empty_settings_payload_is_invalid() {
    use sdk_shim::settings::decode_settings;
    let err = decode_settings::<Settings>(b"").unwrap_err();
    assert!(err.starts_with("registries: required"), "{err}");
}

/// 2,000 containers on ghcr.io and 4,000 listed secrets, none of them existing: the message
/// stays bounded (at most a few secrets described per image). A generated request whose
/// message length is asserted, which a case cannot express.
#[test]
fn many_containers_and_many_secrets_cost_each_once() {
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
    let host =
        cluster_from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/cluster.json"));
    let response = sdk_shim::testing::run_policy_on::<RequirePullSecret>(
        request,
        json!({"registries": ["ghcr.io/acme"], "verifySecrets": true}),
        &host,
    );
    let message = response.message.unwrap();
    assert!(message.starts_with("2000 problems"), "{}", &message[..200]);
    assert!(message.contains("3995 more secrets serve it no better"));
    assert!(message.len() < 2000 * 1200, "{} bytes", message.len());
}
