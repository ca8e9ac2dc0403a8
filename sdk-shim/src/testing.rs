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

/// A request fixture of this crate's `test_data/`.
#[cfg(test)]
pub(crate) fn fixture_request(name: &str) -> AdmissionRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name);
    serde_json::from_value(read_request_value(&path)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
