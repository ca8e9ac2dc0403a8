//! A policy's case table (`policies/<name>/cases.yml`) run through a compiled `.wasm` in this
//! host: the same cases the policy's native tests run. The host calls the cases make are the
//! policy's capabilities as behaviour shows them; they must be what its `metadata.yml` declares.

use crate::{HostCapabilities, PolicyInstance, PolicyModule};
use sdk_shim::cases::{Answer, Case, CaseTable, LoadedHost};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// What a policy's host calls were: capabilities (`oci/v1/manifest_digest`) and the Kubernetes
/// resources it looked up (`v1/Secret`).
#[derive(Debug, Default, PartialEq)]
pub struct Used {
    pub capabilities: BTreeSet<String>,
    pub resources: BTreeSet<String>,
}

impl Used {
    pub fn record(&mut self, call: &str) {
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
    pub fn declared(dir: &std::path::Path) -> Self {
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

/// Runs cases through one compiled policy: a fresh instance per case, as policy-server makes one
/// per request, and a warm one that must answer alike.
pub struct WasmRunner {
    module: PolicyModule,
    warm: PolicyInstance,
    /// The host calls the cases made.
    pub used: Used,
}

impl WasmRunner {
    pub fn new(wasm: &Path) -> Result<Self, String> {
        let module = PolicyModule::load(wasm).map_err(|e| format!("{e:#}"))?;
        let warm = module
            .instantiate(Arc::new(HostCapabilities::new()))
            .map_err(|e| format!("{e:#}"))?;
        Ok(WasmRunner {
            module,
            warm,
            used: Used::default(),
        })
    }

    /// One case's answer.
    pub fn evaluate(
        &mut self,
        case: &Case,
        request: Option<&Value>,
        host: &LoadedHost,
    ) -> Result<Answer, String> {
        let mut capabilities = HostCapabilities::new();
        for (image, answer) in &host.digests {
            capabilities = match answer {
                Ok(digest) => capabilities.with_digest(image, digest),
                Err(error) => capabilities.with_failing_digest(image, error),
            };
        }
        capabilities.resources = host.resources.clone();
        let capabilities = Arc::new(capabilities);
        let instance = self
            .module
            .instantiate(capabilities.clone())
            .map_err(|e| format!("{e:#}"))?;
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
            let again = self
                .warm
                .validate(request, &case.settings)
                .map_err(|e| format!("{e:#}"))?;
            if &serde_json::to_value(again).map_err(|e| e.to_string())? != fresh {
                return Err("a warm instance answers otherwise than a fresh one".to_string());
            }
        }
        for call in capabilities.calls() {
            self.used.record(&call);
        }
        Ok(Answer {
            settings_valid: settings.valid,
            settings_message: settings.message,
            response,
        })
    }
}

/// Runs every case of the table in `dir` through `wasm`; returns how many ran, or every failure.
pub fn run_table(dir: &Path, wasm: &Path) -> Result<usize, String> {
    let table = CaseTable::load(dir)?;
    let mut runner = WasmRunner::new(wasm)?;
    let ran = table.run(|case, request, host| runner.evaluate(case, request, host));
    let used = runner.used;
    let declared = Used::declared(dir);
    let mut failures: Vec<String> = ran.as_ref().err().cloned().into_iter().collect();
    if used != declared {
        failures.push(format!(
            "{}: metadata.yml declares {declared:?}, but its cases made host calls {used:?} \
             (declare what the policy calls; add a case for what it declares)",
            dir.display()
        ));
    }
    match failures.is_empty() {
        true => ran,
        false => Err(failures.join("\n")),
    }
}
