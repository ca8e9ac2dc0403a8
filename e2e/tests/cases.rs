//! Every policy's case table (`policies/<name>/cases.yml`), run through its shipped `.wasm` in the
//! waPC host: the same cases the policy's native tests run. The host calls the cases make are the
//! policy's capabilities as behaviour shows them; they must be what its `metadata.yml` declares.

use e2e::{built_policy, workspace_root, HostCapabilities, PolicyModule};
use sdk_shim::cases::{Answer, CaseTable, CASES_FILE};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Every policy folder, by name.
fn policies() -> Vec<(String, PathBuf)> {
    let policies = e2e::policy_dirs(&workspace_root()).expect("policies/");
    assert!(!policies.is_empty(), "no policy folders found");
    policies
}

/// What a policy's host calls were: capabilities (`oci/v1/manifest_digest`) and the Kubernetes
/// resources it looked up (`v1/Secret`).
#[derive(Debug, Default, PartialEq)]
struct Used {
    capabilities: BTreeSet<String>,
    resources: BTreeSet<String>,
}

impl Used {
    fn record(&mut self, call: &str) {
        let (operation, payload) = call.split_once(' ').unwrap_or((call, ""));
        self.capabilities.insert(operation.to_string());
        if operation == "kubernetes/get_resource" {
            let request: Value = serde_json::from_str(payload).expect("a get_resource payload");
            self.resources.insert(format!(
                "{}/{}",
                request["api_version"].as_str().unwrap_or(""),
                request["kind"].as_str().unwrap_or("")
            ));
        }
    }

    /// What `metadata.yml` declares.
    fn declared(dir: &std::path::Path) -> Self {
        let text = std::fs::read_to_string(dir.join("metadata.yml")).expect("metadata.yml");
        let metadata: Value = yaml_serde::from_str(&text).expect("metadata.yml is YAML");
        let strings =
            |value: &Value| -> Vec<Value> { value.as_array().cloned().unwrap_or_default() };
        Used {
            capabilities: strings(&metadata["hostCapabilities"])
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
            resources: strings(&metadata["contextAwareResources"])
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}",
                        r["apiVersion"].as_str().unwrap_or(""),
                        r["kind"].as_str().unwrap_or("")
                    )
                })
                .collect(),
        }
    }
}

#[test]
fn every_case_of_every_policy_through_its_wasm() {
    let mut failures = Vec::new();
    for (name, dir) in policies() {
        if !dir.join(CASES_FILE).exists() {
            failures.push(format!("{name}: no {CASES_FILE}"));
            continue;
        }
        let table = CaseTable::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let module = PolicyModule::load(&built_policy(&name).unwrap()).unwrap();
        let mut used = Used::default();
        // One instance kept warm across the cases must answer as the fresh ones do.
        let warm = module
            .instantiate(Arc::new(HostCapabilities::new()))
            .unwrap();
        let ran = table.run(|case, request, host| {
            let mut capabilities = HostCapabilities::new();
            for (image, answer) in &host.digests {
                capabilities = match answer {
                    Ok(digest) => capabilities.with_digest(image, digest),
                    Err(error) => capabilities.with_failing_digest(image, error),
                };
            }
            capabilities.resources = host.resources.clone();
            let capabilities = Arc::new(capabilities);
            // A fresh instance per case, as policy-server makes one per request.
            let instance = module
                .instantiate(capabilities.clone())
                .map_err(|e| e.to_string())?;
            let settings = instance
                .validate_settings(&case.settings)
                .map_err(|e| format!("{e:#}"))?;
            let response = match request {
                Some(request) => Some(
                    serde_json::to_value(
                        instance
                            .validate(request, &case.settings)
                            .map_err(|e| format!("{e:#}"))?,
                    )
                    .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            if let (Some(request), Some(fresh), true) = (
                request,
                &response,
                host.digests.is_empty() && host.resources.is_empty(),
            ) {
                let again = warm
                    .validate(request, &case.settings)
                    .map_err(|e| format!("{e:#}"))?;
                if &serde_json::to_value(again).unwrap() != fresh {
                    return Err("a warm instance answers otherwise than a fresh one".to_string());
                }
            }
            for call in capabilities.calls() {
                used.record(&call);
            }
            Ok(Answer {
                settings_valid: settings.valid,
                settings_message: settings.message,
                response,
            })
        });
        match ran {
            Ok(count) => eprintln!("{name}: {count} cases passed through dist/{name}.wasm"),
            Err(e) => failures.push(e),
        }
        let declared = Used::declared(&dir);
        if used != declared {
            failures.push(format!(
                "{name}: metadata.yml declares {declared:?}, but its cases made host calls {used:?} \
                 (declare what the policy calls; add a case for what it declares)"
            ));
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
