//! require-pull-secret: catch `ImagePullBackOff` with 401 Unauthorized before the pod exists.
//!
//! Every container whose image is under one of `registries` needs a pull secret:
//! - plain mode: its pod spec lists at least one `imagePullSecrets` entry;
//! - `verifySecrets` mode: some secret named by the pod spec, or by its ServiceAccount
//!   (`spec.serviceAccountName`, else `default`, whose `imagePullSecrets` Kubernetes injects into
//!   its pods), exists in the request's namespace, is of type `kubernetes.io/dockerconfigjson`
//!   (or `kubernetes.io/dockercfg`) and has an entry for the image's registry.
//!
//! With `secretName`, a pod spec that lacks credentials gets that secret added instead of a
//! rejection (in `verifySecrets` mode only when that secret itself serves the registry).
//! Messages name secrets and why each did not count; never what is inside them.

mod dockerconfig;
mod settings;

use dockerconfig::{key_serves, secret_registries};
use sdk_shim::entry::Policy;
use sdk_shim::extract::ImageExtractor;
use sdk_shim::host::Host;
use sdk_shim::pattern::any_matches;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::{PodSpecRef, Workload};
use serde_json::{json, Value};
pub use settings::Settings;

pub struct RequirePullSecret;

impl Policy for RequirePullSecret {
    type Settings = Settings;

    fn extractors(settings: &Settings) -> &[ImageExtractor] {
        &settings.custom_resources
    }

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::new();
        let mut cluster = Cluster::new(host, request.namespace());
        let mut patched: Vec<String> = Vec::new();
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            let Some(pattern) = any_matches(&settings.registries, &image) else {
                continue;
            };
            let registry = image.registry();
            let Some(spec) = workload.pod_spec_of(container) else {
                verdict.reject(
                    container,
                    format_args!("needs pull credentials for '{registry}', but no pod spec holds it, so its imagePullSecrets cannot be checked"),
                );
                continue;
            };
            let listed = pull_secret_names(spec.spec);
            let needs = format!(
                "needs pull credentials for registry '{registry}' (matches registries '{pattern}')"
            );
            let missing = if settings.verify_secrets {
                match cluster.uncovered(spec.spec, &listed, registry) {
                    None => continue,
                    Some(reasons) => reasons,
                }
            } else if listed.is_empty() {
                "the pod spec lists no imagePullSecrets; add a kubernetes.io/dockerconfigjson Secret of the pod's namespace, \
                 or enable verifySecrets if the pod's ServiceAccount provides it (Kubernetes adds a ServiceAccount's \
                 imagePullSecrets to Pods before validation, not to Deployment or other templates)"
                    .to_string()
            } else {
                continue;
            };
            match &settings.secret_name {
                Some(name) if patched.contains(&spec.pointer) => {
                    // Already added for another container of this pod spec; it must serve this one too.
                    if settings.verify_secrets && !cluster.serves(name, registry) {
                        verdict.reject(
                            container,
                            format_args!(
                                "{needs}; {missing}; secretName '{name}' does not serve it either"
                            ),
                        );
                    }
                }
                Some(name) if !listed.contains(&name.as_str()) => {
                    if settings.verify_secrets && !cluster.serves(name, registry) {
                        let why = cluster.secret_problem(name, registry).unwrap_or_default();
                        verdict.reject(
                            container,
                            format_args!(
                                "{needs}; {missing}; secretName '{name}' cannot be added: {why}"
                            ),
                        );
                        continue;
                    }
                    verdict.patch(
                        format!("{}/imagePullSecrets", spec.pointer),
                        with_secret(spec, name),
                    );
                    patched.push(spec.pointer.clone());
                }
                _ => verdict.reject(container, format_args!("{needs}; {missing}")),
            }
        }
        verdict
    }
}

/// `spec.imagePullSecrets[*].name`.
fn pull_secret_names(spec: &Value) -> Vec<&str> {
    spec.get("imagePullSecrets")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The pod spec's `imagePullSecrets` with `name` added.
fn with_secret(spec: &PodSpecRef, name: &str) -> Value {
    let mut list = spec
        .spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.push(json!({ "name": name }));
    Value::Array(list)
}

/// Secrets and ServiceAccounts of the request's namespace, each looked up once per request.
/// (A request names a handful of them, so a list is the right map.)
struct Cluster<'a> {
    host: &'a dyn Host,
    namespace: Option<&'a str>,
    cache: Vec<Lookup>,
}

/// `(kind, name)` and what the host answered.
type Lookup = ((&'static str, String), Result<Value, String>);

impl<'a> Cluster<'a> {
    fn new(host: &'a dyn Host, namespace: Option<&'a str>) -> Self {
        Cluster {
            host,
            namespace,
            cache: Vec::new(),
        }
    }

    fn secret(&mut self, name: &str) -> Result<Value, String> {
        self.lookup("Secret", name)
    }

    fn service_account(&mut self, name: &str) -> Result<Value, String> {
        self.lookup("ServiceAccount", name)
    }

    fn lookup(&mut self, kind: &'static str, name: &str) -> Result<Value, String> {
        let Some(namespace) = self.namespace else {
            return Err("the request names no namespace".to_string());
        };
        if let Some((_, found)) = self
            .cache
            .iter()
            .find(|((k, n), _)| *k == kind && n == name)
        {
            return found.clone();
        }
        let found = match kind {
            "Secret" => self.host.get_resource("v1", "Secret", namespace, name),
            _ => self
                .host
                .get_resource("v1", "ServiceAccount", namespace, name),
        };
        self.cache.push(((kind, name.to_string()), found.clone()));
        found
    }

    /// Why the secret `name` does not serve `registry`, or `None` when it does.
    fn secret_problem(&mut self, name: &str, registry: &str) -> Option<String> {
        let secret = match self.secret(name) {
            Ok(secret) => secret,
            Err(e) => {
                return Some(format!(
                    "missing or unreadable in namespace '{}': {e}",
                    self.namespace.unwrap_or("")
                ))
            }
        };
        match secret_registries(&secret) {
            Err(why) => Some(why),
            Ok(keys) if keys.iter().any(|k| key_serves(k, registry)) => None,
            Ok(keys) => Some(format!(
                "no entry for registry '{registry}' (it has: {})",
                keys.join(", ")
            )),
        }
    }

    fn serves(&mut self, name: &str, registry: &str) -> bool {
        self.secret_problem(name, registry).is_none()
    }

    /// `None` when a secret of the pod spec or of its ServiceAccount serves `registry`; otherwise
    /// every secret considered and why it did not count.
    fn uncovered(&mut self, spec: &Value, listed: &[&str], registry: &str) -> Option<String> {
        let mut reasons = Vec::new();
        for name in listed {
            match self.secret_problem(name, registry) {
                None => return None,
                Some(why) => reasons.push(format!("secret '{name}' (pod): {why}")),
            }
        }
        let account = spec
            .get("serviceAccountName")
            .or_else(|| spec.get("serviceAccount"))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .unwrap_or("default");
        match self.service_account(account) {
            Err(e) => reasons.push(format!("ServiceAccount '{account}' could not be read: {e}")),
            Ok(sa) => {
                let names: Vec<String> = pull_secret_names(&sa)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                if names.is_empty() {
                    reasons.push(format!(
                        "ServiceAccount '{account}' lists no imagePullSecrets"
                    ));
                }
                for name in names {
                    match self.secret_problem(&name, registry) {
                        None => return None,
                        Some(why) => reasons.push(format!(
                            "secret '{name}' (ServiceAccount '{account}'): {why}"
                        )),
                    }
                }
            }
        }
        if listed.is_empty() {
            reasons.insert(0, "the pod spec lists no imagePullSecrets".to_string());
        }
        Some(format!("no secret serves it: {}", reasons.join("; ")))
    }
}

sdk_shim::register_policy!(RequirePullSecret);

#[cfg(test)]
mod tests;
