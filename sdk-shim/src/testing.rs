//! Helpers for policy unit tests: fixtures are files, loaded by name.

use crate::entry::{evaluate_payload, Policy};
use crate::host::{FixtureHost, Host};
#[cfg(test)]
use crate::request::AdmissionRequest;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};
use std::path::Path;

/// Reads a JSON file holding an `AdmissionReview` or just its `request`.
pub fn read_request_value(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    match value.get("request") {
        Some(request) => request.clone(),
        None => value,
    }
}

/// Runs a policy natively on a request given as JSON.
pub fn run_policy_on<P: Policy>(
    request: Value,
    settings: Value,
    host: &dyn Host,
) -> ValidationResponse {
    let payload = json!({ "request": request, "settings": settings });
    evaluate_payload::<P>(payload.to_string().as_bytes(), host)
}

/// A fixture host whose cluster state is the objects of a file (a `List`, one object, or YAML
/// documents).
pub fn cluster_from_file(path: &Path) -> FixtureHost {
    crate::cases::read_objects(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .fold(FixtureHost::default(), FixtureHost::with_resource)
}

/// A request fixture of this crate's `test_data/` (its text lives as long as the test).
#[cfg(test)]
pub(crate) fn fixture_request(name: &str) -> AdmissionRequest<'static> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name);
    let text: &'static str = Box::leak(read_request_value(&path).to_string().into_boxed_str());
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `value` as the JSON text of a request's object (it lives as long as the test).
#[cfg(test)]
pub(crate) fn raw(value: Value) -> &'static serde_json::value::RawValue {
    Box::leak(serde_json::value::to_raw_value(&value).expect("JSON"))
}

/// `text` as the JSON text of a request's object, as written (escapes and repeated keys kept).
#[cfg(test)]
pub(crate) fn raw_text(text: &str) -> &'static serde_json::value::RawValue {
    Box::leak(serde_json::value::RawValue::from_string(text.to_string()).expect("JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::AdmissionRequest;
    use crate::verdict::Verdict;
    use crate::workload::Workload;

    /// Rejects every image the host has no digest for, and an object whose `ConfigMap` named
    /// `gate` in its namespace is missing.
    struct Gate;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct GateSettings {}

    impl crate::settings::PolicySettings for GateSettings {}

    impl Policy for Gate {
        type Settings = GateSettings;

        fn evaluate(
            _settings: &GateSettings,
            request: &AdmissionRequest,
            workload: &Workload,
            host: &dyn Host,
        ) -> Verdict {
            let mut verdict = Verdict::for_request(request);
            let namespace = request.namespace().unwrap_or_default();
            if let Err(why) = host.get_resource("v1", "ConfigMap", namespace, "gate") {
                verdict.reject_request(why);
            }
            for container in &workload.containers {
                let image = container.image.unwrap_or_default();
                if let Err(why) = host.manifest_digest(image) {
                    verdict.reject(container, why);
                }
            }
            verdict
        }
    }

    fn pod(namespace: &str, image: &str) -> Value {
        json!({
            "uid": "1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "namespace": namespace,
            "object": {"kind": "Pod", "spec": {"containers": [{"name": "web", "image": image}]}},
        })
    }

    /// `cluster_from_file` loads every object of the file; `run_policy_on` gives the verdict.
    #[test]
    fn a_policy_runs_on_a_request_against_a_cluster_file() {
        let path = std::env::temp_dir().join(format!(
            "sdk-shim-testing-{}-cluster.yaml",
            std::process::id()
        ));
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: default, name: gate}\n",
        )
        .unwrap();
        let host = cluster_from_file(&path).with_digest("nginx:1.25", "sha256:aaaa");
        let _ = std::fs::remove_file(&path);
        assert_eq!(host.resources.len(), 1);
        // (namespace, image, accepted, message)
        let cases = [
            ("default", "nginx:1.25", true, None),
            (
                "default",
                "redis:7",
                false,
                Some("container 'web' (/spec/containers/0) image 'redis:7': manifest unknown: redis:7"),
            ),
            (
                "other",
                "nginx:1.25",
                false,
                Some("ConfigMap 'gate' not found in namespace 'other'"),
            ),
        ];
        for (namespace, image, accepted, message) in cases {
            let response = run_policy_on::<Gate>(pod(namespace, image), Value::Null, &host);
            assert_eq!(response.accepted, accepted, "{namespace} {image}");
            assert_eq!(response.message.as_deref(), message, "{namespace} {image}");
        }
    }
}
