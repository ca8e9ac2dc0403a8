//! A waPC host for the compiled policies, on wasmtime with WASI preview1 — the same guest
//! protocol (`wapc_init`, `__guest_call`, `__host_call`) that Kubewarden's policy-server and
//! `kwctl run` speak. It serves the host capabilities the policies use: manifest digests
//! (`kubewarden`/`oci`/`v1/manifest_digest`) and Kubernetes resources
//! (`kubewarden`/`kubernetes`/`get_resource`) from fixtures.

pub mod bench;
mod capabilities;
pub mod cases;
pub mod fuel;
pub mod registry;

pub use capabilities::HostCapabilities;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wapc::WapcHost;
use wasmtime_provider::{WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre};

/// A compiled policy module, ready to be instantiated many times (as policy-server does).
pub struct PolicyModule {
    pre: WasmtimeEngineProviderPre,
}

/// One live instance of a policy.
pub struct PolicyInstance {
    host: WapcHost,
}

/// The policy's answer to `validate` (Kubewarden's `ValidationResponse`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct ValidationResponse {
    pub accepted: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub mutated_object: Option<Value>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    #[serde(default)]
    pub audit_annotations: Option<Value>,
}

/// The policy's answer to `validate_settings`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(default)]
    pub message: Option<String>,
}

impl PolicyModule {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read policy {}", path.display()))?;
        Self::from_bytes(&bytes).with_context(|| format!("cannot load policy {}", path.display()))
    }

    /// Compiles the module (the expensive step, done once).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::build(bytes, None)
    }

    /// Compiles the module with its linear memory capped at `max_memory` bytes (for measuring
    /// how much memory an evaluation needs).
    pub fn with_memory_limit(bytes: &[u8], max_memory: usize) -> Result<Self> {
        let limits = wasmtime_provider::ResourceLimits {
            max_memory_size: Some(max_memory),
            max_table_elements: None,
        };
        Self::build(bytes, Some(limits))
    }

    fn build(bytes: &[u8], limits: Option<wasmtime_provider::ResourceLimits>) -> Result<Self> {
        let mut builder = WasmtimeEngineProviderBuilder::new()
            .module_bytes(bytes)
            .wasi_params(wapc::WasiParams::default());
        if let Some(limits) = limits {
            builder = builder.enable_resource_limits(limits);
        }
        let pre = builder.build_pre().map_err(|e| anyhow!("{e}"))?;
        Ok(PolicyModule { pre })
    }

    /// A fresh instance whose host calls are answered by `capabilities`.
    pub fn instantiate(&self, capabilities: Arc<HostCapabilities>) -> Result<PolicyInstance> {
        let engine = self.pre.rehydrate(None).map_err(|e| anyhow!("{e}"))?;
        let callback =
            move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
                capabilities
                    .handle(binding, namespace, operation, payload)
                    .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
            };
        let host = WapcHost::new(Box::new(engine), Some(Box::new(callback)))
            .map_err(|e| anyhow!("{e}"))?;
        Ok(PolicyInstance { host })
    }
}

impl PolicyInstance {
    fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.host
            .call(operation, payload)
            .map_err(|e| anyhow!("the policy failed in '{operation}': {e}"))
    }

    pub fn protocol_version(&self) -> Result<String> {
        let raw = self.call("protocol_version", b"")?;
        Ok(serde_json::from_slice::<String>(&raw)?)
    }

    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        let raw = self.call("validate_settings", settings.to_string().as_bytes())?;
        serde_json::from_slice(&raw).context("unreadable validate_settings answer")
    }

    /// Evaluates an admission request (the `request` of an `AdmissionReview`) with settings.
    pub fn validate(&self, request: &Value, settings: &Value) -> Result<ValidationResponse> {
        let payload = json!({ "request": request, "settings": settings });
        self.validate_raw(payload.to_string().as_bytes())
    }

    /// Evaluates a ready-made `validate` payload.
    pub fn validate_raw(&self, payload: &[u8]) -> Result<ValidationResponse> {
        let raw = self.validate_bytes(payload)?;
        serde_json::from_slice(&raw).context("unreadable validate answer")
    }

    /// Evaluates a ready-made `validate` payload and returns the answer's bytes as the policy wrote them.
    pub fn validate_bytes(&self, payload: &[u8]) -> Result<Vec<u8>> {
        self.call("validate", payload)
    }
}

/// A request file may hold a whole `AdmissionReview` or just its `request`.
pub fn read_request(path: &Path) -> Result<Value> {
    let value = read_json_or_yaml(path)?;
    Ok(match value.get("request") {
        Some(request) if value.get("kind").and_then(Value::as_str) == Some("AdmissionReview") => {
            request.clone()
        }
        _ => value,
    })
}

/// Reads one JSON or YAML document.
pub fn read_json_or_yaml(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    yaml_serde::from_str(&text)
        .with_context(|| format!("{} is neither JSON nor YAML", path.display()))
}

/// Where the workspace keeps what `cargo run -p xtask -- build` produced.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e sits in the workspace")
        .to_path_buf()
}

/// Every policy folder under `root/policies/` (a folder with a `Cargo.toml`), with its name,
/// sorted: the policy set is the folders.
pub fn policy_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let policies = root.join("policies");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&policies)
        .with_context(|| format!("cannot read {}", policies.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    dirs.sort();
    Ok(dirs
        .into_iter()
        .filter_map(|dir| Some((dir.file_name()?.to_str()?.to_string(), dir)))
        .collect())
}

/// The annotated `.wasm` of a policy, built by the main job into `dist/`.
pub fn built_policy(name: &str) -> Result<PathBuf> {
    let path = workspace_root().join("dist").join(format!("{name}.wasm"));
    if !path.exists() {
        bail!(
            "{} is missing: run `cargo run -p xtask -- build` first",
            path.display()
        );
    }
    Ok(path)
}
