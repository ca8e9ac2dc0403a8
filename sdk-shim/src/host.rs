//! What a policy may ask of its host: an image's manifest digest and a Kubernetes resource.

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

pub trait Host {
    /// The digest (`sha256:…`) of the manifest `image` (a fully-qualified reference) points at.
    fn manifest_digest(&self, image: &str) -> Result<String, String>;

    /// A namespaced Kubernetes resource (context-aware policies), as JSON.
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String>;
}

/// The `get_resource` request, in the shape Kubewarden's hosts read.
#[derive(Debug, Serialize)]
pub struct GetResourceRequest<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub disable_cache: bool,
}

/// The real host: waPC calls to Kubewarden's `oci` and `kubernetes` capabilities.
pub struct WapcHost;

impl Host for WapcHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        let payload = serde_json::to_vec(image).map_err(|e| e.to_string())?;
        let raw = host_call("oci", "v1/manifest_digest", &payload)?;
        #[derive(serde::Deserialize)]
        struct Response {
            digest: String,
        }
        serde_json::from_slice::<Response>(&raw)
            .map(|r| r.digest)
            .map_err(|e| format!("unreadable answer from the host: {e}"))
    }

    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        let request = GetResourceRequest {
            api_version,
            kind,
            name,
            namespace: Some(namespace),
            disable_cache: false,
        };
        let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        let raw = host_call("kubernetes", "get_resource", &payload)?;
        crate::tree::from_slice(&raw).map_err(|e| format!("unreadable answer from the host: {e}"))
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
fn host_call(namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    crate::wapc::host_call("kubewarden", namespace, operation, payload)
}

#[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
fn host_call(namespace: &str, operation: &str, _payload: &[u8]) -> Result<Vec<u8>, String> {
    Err(format!(
        "{namespace}/{operation} is only available inside a waPC host"
    ))
}

/// A host that answers from fixtures, for unit tests and native benchmarks.
#[derive(Debug, Default, Clone)]
pub struct FixtureHost {
    /// Fully-qualified image -> digest, or the error the lookup gives.
    pub digests: HashMap<String, Result<String, String>>,
    /// Kubernetes objects; looked up by apiVersion, kind, metadata.namespace and metadata.name.
    pub resources: Vec<Value>,
}

impl FixtureHost {
    pub fn with_digest(mut self, image: &str, digest: &str) -> Self {
        self.digests
            .insert(image.to_string(), Ok(digest.to_string()));
        self
    }

    pub fn with_failing_digest(mut self, image: &str, error: &str) -> Self {
        self.digests
            .insert(image.to_string(), Err(error.to_string()));
        self
    }

    pub fn with_resource(mut self, resource: Value) -> Self {
        self.resources.push(resource);
        self
    }
}

impl Host for FixtureHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.digests
            .get(image)
            .cloned()
            .unwrap_or_else(|| Err(format!("manifest unknown: {image}")))
    }

    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        find_resource(&self.resources, api_version, kind, namespace, name)
            .cloned()
            .ok_or_else(|| format!("{kind} '{name}' not found in namespace '{namespace}'"))
    }
}

/// Finds an object by apiVersion, kind, namespace and name in a list.
pub fn find_resource<'a>(
    resources: &'a [Value],
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<&'a Value> {
    let field = |r: &'a Value, pointer: &str| r.pointer(pointer).and_then(Value::as_str);
    resources.iter().find(|r| {
        field(r, "/apiVersion") == Some(api_version)
            && field(r, "/kind") == Some(kind)
            && field(r, "/metadata/namespace") == Some(namespace)
            && field(r, "/metadata/name") == Some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(api_version: &str, kind: &str, namespace: &str, name: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"namespace": namespace, "name": name},
        })
    }

    #[test]
    fn fixture_digests_answer_by_image() {
        let host = FixtureHost::default()
            .with_digest("docker.io/library/nginx:1.25", "sha256:aaaa")
            .with_failing_digest("ghcr.io/acme/web:main", "unauthorized");
        // (image, answer)
        let cases: [(&str, Result<&str, &str>); 3] = [
            ("docker.io/library/nginx:1.25", Ok("sha256:aaaa")),
            ("ghcr.io/acme/web:main", Err("unauthorized")),
            (
                "docker.io/library/redis:7",
                Err("manifest unknown: docker.io/library/redis:7"),
            ),
        ];
        for (image, answer) in cases {
            assert_eq!(
                host.manifest_digest(image),
                answer.map(str::to_string).map_err(str::to_string),
                "{image}"
            );
        }
    }

    /// Each field of the key must match: objects differing in one field only are not found.
    #[test]
    fn fixture_resources_answer_by_api_version_kind_namespace_and_name() {
        let wanted = object("v1", "Secret", "default", "pull");
        let host = FixtureHost::default()
            .with_resource(object("apps/v1", "Secret", "default", "pull"))
            .with_resource(object("v1", "ConfigMap", "default", "pull"))
            .with_resource(object("v1", "Secret", "other", "pull"))
            .with_resource(object("v1", "Secret", "default", "push"))
            .with_resource(wanted.clone());
        // (apiVersion, kind, namespace, name, index in resources)
        let cases = [
            ("v1", "Secret", "default", "pull", Some(4)),
            ("apps/v1", "Secret", "default", "pull", Some(0)),
            ("v1", "ConfigMap", "default", "pull", Some(1)),
            ("v1", "Secret", "other", "pull", Some(2)),
            ("v1", "Secret", "default", "push", Some(3)),
            ("v2", "Secret", "default", "pull", None),
            ("v1", "Pod", "default", "pull", None),
            ("v1", "Secret", "kube-system", "pull", None),
            ("v1", "Secret", "default", "other", None),
            ("apps/v1", "ConfigMap", "other", "push", None),
        ];
        for (api_version, kind, namespace, name, index) in cases {
            let found = find_resource(&host.resources, api_version, kind, namespace, name);
            assert_eq!(
                found,
                index.map(|i| &host.resources[i]),
                "{api_version} {kind} {namespace}/{name}"
            );
        }
        assert_eq!(
            host.get_resource("v1", "Secret", "default", "pull"),
            Ok(wanted)
        );
        assert_eq!(
            host.get_resource("v1", "Secret", "default", "missing"),
            Err("Secret 'missing' not found in namespace 'default'".to_string())
        );
    }
}
