//! Every policy's case table, run through its shipped `.wasm` (`e2e::cases`), and what every
//! policy must do whatever its rules: speak protocol v1, refuse malformed input without trapping.

use e2e::cases::{run_table, Used};
use e2e::{built_policy, workspace_root, HostCapabilities, PolicyModule};
use sdk_shim::cases::CASES_FILE;
use std::path::PathBuf;
use std::sync::Arc;

/// Every policy folder, by name.
fn policies() -> Vec<(String, PathBuf)> {
    let policies = e2e::policy_dirs(&workspace_root()).expect("policies/");
    assert!(!policies.is_empty(), "no policy folders found");
    policies
}

#[test]
fn every_case_of_every_policy_through_its_wasm() {
    let mut failures = Vec::new();
    for (name, dir) in policies() {
        if !dir.join(CASES_FILE).exists() {
            failures.push(format!("{name}: no {CASES_FILE}"));
            continue;
        }
        match run_table(&dir, &built_policy(&name).unwrap()) {
            Ok(count) => eprintln!("{name}: {count} cases passed through dist/{name}.wasm"),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_policy_speaks_protocol_v1() {
    for (name, _) in policies() {
        let module = PolicyModule::load(&built_policy(&name).unwrap()).unwrap();
        let instance = module
            .instantiate(Arc::new(HostCapabilities::new()))
            .unwrap();
        assert_eq!(instance.protocol_version().unwrap(), "v1", "{name}");
    }
}

#[test]
fn host_calls_are_read_as_capabilities_and_resources() {
    let mut used = Used::default();
    used.record(r#"oci/v1/manifest_digest "docker.io/library/nginx:1""#);
    used.record(r#"kubernetes/get_resource {"api_version":"v1","kind":"Secret","name":"s","namespace":"d"}"#);
    assert_eq!(
        used,
        Used {
            capabilities: ["kubernetes/get_resource", "oci/v1/manifest_digest"]
                .map(String::from)
                .into(),
            resources: ["v1/Secret".to_string()].into(),
        }
    );
}

#[test]
fn malformed_payloads_are_rejected_not_trapped() {
    let payloads: [(&[u8], &str); 5] = [
        (b"not json", "cannot read the admission request"),
        (br#"{"request": {"kind": 5}}"#, "cannot read the admission request"),
        (
            br#"{"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": 1}}}, "settings": {"customResources": []}}"#,
            "",
        ),
        (
            br#"{"request": {"kind": {"kind": "Pod"}, "object": {}}, "settings": {"noSuchSetting": 1}}"#,
            "invalid settings: noSuchSetting: unknown field",
        ),
        (b"", "cannot read the admission request"),
    ];
    for (name, _) in policies() {
        let module = PolicyModule::load(&built_policy(&name).unwrap()).unwrap();
        let instance = module
            .instantiate(Arc::new(HostCapabilities::new()))
            .unwrap();
        for (payload, expected) in payloads {
            let response = instance.validate_raw(payload).unwrap();
            assert!(!response.accepted, "{name}: {response:?}");
            assert_eq!(response.code, Some(400), "{name}: {response:?}");
            assert!(
                response.message.as_deref().unwrap_or("").contains(expected),
                "{name}: {response:?}"
            );
        }
        // The instance still answers after bad input.
        let settings = instance
            .validate_settings(&serde_json::json!({"x": 1}))
            .unwrap();
        assert!(!settings.valid, "{name}");
    }
}
