//! The host side of the policies' capabilities, answered from fixtures.

use crate::registry::{explain, RegistryClient, RegistryOptions};
use anyhow::{bail, Context, Result};
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;
use sdk_shim::host::find_resource;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the host knows: image digests and a small "cluster state".
#[derive(Debug, Default)]
pub struct HostCapabilities {
    /// Fully-qualified image reference -> manifest digest.
    pub digests: BTreeMap<String, String>,
    /// Fully-qualified image reference -> the error its lookup gives.
    pub digest_errors: BTreeMap<String, String>,
    /// Kubernetes objects (Secrets, ServiceAccounts, …).
    pub resources: Vec<Value>,
    /// Every host call made, as `namespace/operation payload`, for tests to inspect.
    calls: Mutex<Vec<String>>,
    /// Resolve digests not in `digests` from the real registry the image names.
    registry: Option<RegistryLookup>,
}

/// Digest lookups against real registries, reached as `crate::registry` describes (Docker config
/// credentials, `--ca-cert`, plain HTTP only where asked or for a loopback registry without TLS).
struct RegistryLookup {
    options: RegistryOptions,
    clients: Mutex<BTreeMap<String, Arc<RegistryClient>>>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for RegistryLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryLookup")
    }
}

impl RegistryLookup {
    fn new(options: RegistryOptions) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(RegistryLookup {
            options,
            clients: Mutex::default(),
            runtime,
        })
    }

    fn digest(&self, image: &str) -> Result<String, String> {
        let reference: oci_client::Reference =
            image.parse().map_err(|e| format!("{image}: {e}"))?;
        let host = reference.resolve_registry().to_string();
        self.runtime
            .block_on(async {
                let cached = self.clients.lock().ok().and_then(|c| c.get(&host).cloned());
                let client = match cached {
                    Some(client) => client,
                    None => {
                        let client = Arc::new(RegistryClient::connect(&host, &self.options).await?);
                        if let Ok(mut clients) = self.clients.lock() {
                            clients.insert(host.clone(), client.clone());
                        }
                        client
                    }
                };
                client
                    .authenticate(&reference, RegistryOperation::Pull)
                    .await?;
                client
                    .client
                    .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
                    .await
                    .map_err(|e| {
                        explain(&e, &host, reference.repository(), RegistryOperation::Pull)
                    })
            })
            .map_err(|e| format!("{image}: {e:#}"))
    }
}

#[derive(Deserialize)]
struct GetResource {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

impl HostCapabilities {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_digest(mut self, image: &str, digest: &str) -> Self {
        self.digests.insert(image.to_string(), digest.to_string());
        self
    }

    pub fn with_failing_digest(mut self, image: &str, error: &str) -> Self {
        self.digest_errors
            .insert(image.to_string(), error.to_string());
        self
    }

    /// Answers digest lookups missing from the fixtures from the real registries; the hosts listed
    /// (loopback test registries) are spoken to over plain HTTP.
    pub fn with_registry_lookups(mut self, options: RegistryOptions) -> Result<Self> {
        self.registry = Some(RegistryLookup::new(options)?);
        Ok(self)
    }

    pub fn with_resource(mut self, resource: Value) -> Self {
        self.resources.push(resource);
        self
    }

    /// Reads a digests file: a JSON/YAML map of fully-qualified image -> digest.
    pub fn load_digests(&mut self, path: &Path) -> Result<()> {
        let map: BTreeMap<String, String> = serde_json::from_value(crate::read_json_or_yaml(path)?)
            .with_context(|| format!("{}: expected a map of image -> digest", path.display()))?;
        self.digests.extend(map);
        Ok(())
    }

    /// Reads cluster-state objects from a YAML/JSON file: one object, a `List`, or several
    /// YAML documents.
    pub fn load_resources(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for document in yaml_serde::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .with_context(|| format!("{} is not YAML/JSON", path.display()))?;
            match value.get("items").and_then(Value::as_array) {
                Some(items) => self.resources.extend(items.iter().cloned()),
                None if value.is_object() => self.resources.push(value),
                None if value.is_null() => {}
                None => bail!("{}: expected Kubernetes objects", path.display()),
            }
        }
        Ok(())
    }

    /// The host calls made so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Answers one waPC host call.
    pub fn handle(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(format!(
                "{namespace}/{operation} {}",
                String::from_utf8_lossy(payload)
            ));
        }
        match (binding, namespace, operation) {
            ("kubewarden", "oci", "v1/manifest_digest") => {
                let image: String = serde_json::from_slice(payload)
                    .map_err(|e| format!("bad manifest_digest request: {e}"))?;
                if let Some(error) = self.digest_errors.get(&image) {
                    return Err(error.clone());
                }
                let digest = match (self.digests.get(&image), &self.registry) {
                    (Some(digest), _) => digest.clone(),
                    (None, Some(registry)) => registry.digest(&image)?,
                    (None, None) => return Err(format!("manifest unknown: {image}")),
                };
                Ok(json!({ "digest": digest }).to_string().into_bytes())
            }
            ("kubewarden", "kubernetes", "get_resource") => {
                let req: GetResource = serde_json::from_slice(payload)
                    .map_err(|e| format!("bad get_resource request: {e}"))?;
                let namespace = req.namespace.unwrap_or_default();
                find_resource(
                    &self.resources,
                    &req.api_version,
                    &req.kind,
                    &namespace,
                    &req.name,
                )
                .map(|r| r.to_string().into_bytes())
                .ok_or_else(|| {
                    format!(
                        "{} '{}' not found in namespace '{namespace}'",
                        req.kind, req.name
                    )
                })
            }
            _ => Err(format!(
                "host capability {binding}/{namespace}/{operation} is not provided"
            )),
        }
    }
}
