//! require-pull-secret: catch `ImagePullBackOff` with 401 Unauthorized before the pod exists.
//!
//! Every image (container or image volume) under one of `registries` needs pull credentials, from
//! the secrets the kubelet will actually use for the pod:
//! - the pod spec's own `imagePullSecrets`; only when it lists none, its ServiceAccount's
//!   (`spec.serviceAccountName`, else `default`), because the ServiceAccount admission plugin adds
//!   them only to a pod that lists none;
//! - plain mode: at least one such secret is named (empty names do not count);
//! - `verifySecrets` mode: one of them exists in the request's namespace and, read as the kubelet's
//!   credential keyring reads it ([`dockerconfig`]), serves the image. A secret the kubelet cannot
//!   parse at all makes every pull of the pod fail, so the pod is rejected, naming it.
//!
//! With `secretName`, a pod spec that lacks credentials gets that secret instead of a rejection (in
//! `verifySecrets` mode only when the secret itself serves the image). A template that listed none
//! also keeps its ServiceAccount's secrets, which would no longer be injected. Where the API server
//! would drop or refuse the change (the `pods/ephemeralcontainers` subresource, a Pod UPDATE), the
//! pod is rejected with the reason instead. Messages name secrets and why each did not count;
//! never what is inside them.

mod dockerconfig;
mod settings;

use dockerconfig::{read_secret, Keyring, SecretRead};
use sdk_shim::entry::Policy;
use sdk_shim::extract::ImageExtractor;
use sdk_shim::host::Host;
use sdk_shim::pattern::any_matches;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::{ContainerRef, PodSpecRef, Workload};
use serde_json::{json, Value};
pub use settings::Settings;
use std::collections::{HashMap, HashSet};

/// At most this many secrets are described in one message; the rest are counted.
const REASONS_SHOWN: usize = 5;

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
        let mut verdict = Verdict::for_request(request);
        let mut cluster = Cluster::new(host, request.namespace());
        let is_pod = request.kind.group.is_empty() && request.kind.kind == "Pod";
        let mut judged_specs: HashSet<usize> = HashSet::new();
        let mut patched_specs: HashSet<usize> = HashSet::new();
        let mut coverage: HashMap<(usize, String), Option<String>> = HashMap::new();
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            let Some(pattern) = any_matches(&settings.registries, &image) else {
                continue;
            };
            let Some(spec) = workload.pod_spec_of(container) else {
                verdict.reject(
                    container,
                    "needs pull credentials, but the request holds no pod spec around it, so its imagePullSecrets cannot be checked",
                );
                continue;
            };
            let index = container.pod_spec.unwrap_or_default();
            let container = &judged_on_secrets_too(container, spec);
            let pod = PodSecrets::of(spec.spec);
            if settings.verify_secrets && judged_specs.insert(index) {
                for why in cluster.broken_secrets(&pod) {
                    verdict.reject(container, why);
                }
            }
            let name = image.name();
            let missing = if settings.verify_secrets {
                let key = (index, name.clone());
                let found = match coverage.get(&key) {
                    Some(found) => found.clone(),
                    None => {
                        let found = cluster.uncovered(&pod, &name);
                        coverage.insert(key, found.clone());
                        found
                    }
                };
                match found {
                    None => continue,
                    Some(reasons) => reasons,
                }
            } else if !pod.names.is_empty() {
                continue;
            } else {
                pod.plain_mode_problem()
            };
            let needs =
                format!("needs pull credentials for '{name}' (matches registries '{pattern}')");
            let Some(secret) = &settings.secret_name else {
                verdict.reject(container, format_args!("{needs}; {missing}"));
                continue;
            };
            if settings.verify_secrets {
                if let Some(why) = cluster.secret_problem(secret, &name) {
                    verdict.reject(
                        container,
                        format_args!(
                            "{needs}; {missing}; secretName '{secret}' cannot be added: {why}"
                        ),
                    );
                    continue;
                }
            } else if pod.names.contains(&secret.as_str()) {
                verdict.reject(container, format_args!("{needs}; {missing}"));
                continue;
            }
            if patched_specs.contains(&index) {
                continue; // added for another image of this pod spec, and it serves this one
            }
            let kept = if pod.lists_any || is_pod {
                // A Pod's ServiceAccount secrets were added before validation, if it had any.
                Ok(Vec::new())
            } else {
                cluster.service_account_secrets(pod.account)
            };
            match kept {
                Ok(kept) => {
                    verdict.fix(
                        container,
                        format!("{}/imagePullSecrets", spec.pointer),
                        with_secrets(spec, &kept, secret),
                        format_args!("{needs}; {missing}"),
                    );
                    patched_specs.insert(index);
                }
                Err(e) => verdict.reject(
                    container,
                    format_args!(
                        "{needs}; {missing}; secretName '{secret}' is not added because ServiceAccount '{}' could not be read \
                         ({e}) and adding a secret would stop Kubernetes from injecting its imagePullSecrets",
                        pod.account
                    ),
                ),
            }
        }
        verdict
    }
}

/// On UPDATE, a container counts as unchanged only when its pod's secrets and ServiceAccount are
/// unchanged too.
fn judged_on_secrets_too<'a>(container: &ContainerRef<'a>, spec: &PodSpecRef) -> ContainerRef<'a> {
    let mut container = container.clone();
    let same = |field: &str| spec.old.map(|old| old.get(field)) == Some(spec.spec.get(field));
    container.unchanged = container.unchanged
        && same("imagePullSecrets")
        && same("serviceAccountName")
        && same("serviceAccount");
    container
}

/// The secrets a pod spec names, and where the rest would come from.
struct PodSecrets<'a> {
    /// Whether `imagePullSecrets` has any entry (even one without a name): then the ServiceAccount
    /// plugin adds nothing.
    lists_any: bool,
    /// The non-empty names it lists.
    names: Vec<&'a str>,
    /// `serviceAccountName`, else the deprecated `serviceAccount`, else `default`.
    account: &'a str,
}

impl<'a> PodSecrets<'a> {
    fn of(spec: &'a Value) -> Self {
        let listed = spec
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        PodSecrets {
            lists_any: !listed.is_empty(),
            names: secret_names(listed),
            account: ["serviceAccountName", "serviceAccount"]
                .iter()
                .find_map(|field| {
                    spec.get(*field)
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                })
                .unwrap_or("default"),
        }
    }

    fn plain_mode_problem(&self) -> String {
        let listed = if self.lists_any {
            "the pod spec's imagePullSecrets name no secret (empty names do not count)"
        } else {
            "the pod spec lists no imagePullSecrets"
        };
        format!(
            "{listed}; add a kubernetes.io/dockerconfigjson Secret of the pod's namespace, or enable verifySecrets \
             if the pod's ServiceAccount provides it (Kubernetes adds a ServiceAccount's imagePullSecrets only to \
             Pods that list none, and not to Deployment or other templates)"
        )
    }
}

/// The non-empty `name`s of an `imagePullSecrets` list.
fn secret_names(list: &[Value]) -> Vec<&str> {
    list.iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .collect()
}

/// The pod spec's `imagePullSecrets`, then `kept` (a template's ServiceAccount secrets), then `name`.
fn with_secrets(spec: &PodSpecRef, kept: &[String], name: &str) -> Value {
    let mut list = spec
        .spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for secret in kept.iter().map(String::as_str).chain([name]) {
        if !secret_names(&list).contains(&secret) {
            list.push(json!({ "name": secret }));
        }
    }
    Value::Array(list)
}

/// Secrets and ServiceAccounts of the request's namespace, each looked up and read once per request.
struct Cluster<'a> {
    host: &'a dyn Host,
    namespace: Option<&'a str>,
    secrets: HashMap<String, Result<SecretRead, String>>,
    accounts: HashMap<String, Result<Vec<String>, String>>,
    /// The merged keyring of a list of secrets (names joined by `/`, which no name holds).
    keyrings: HashMap<String, Keyring>,
}

impl<'a> Cluster<'a> {
    fn new(host: &'a dyn Host, namespace: Option<&'a str>) -> Self {
        Cluster {
            host,
            namespace,
            secrets: HashMap::new(),
            accounts: HashMap::new(),
            keyrings: HashMap::new(),
        }
    }

    fn get(&self, api_version: &str, kind: &str, name: &str) -> Result<Value, String> {
        let namespace = self.namespace.ok_or("the request names no namespace")?;
        self.host.get_resource(api_version, kind, namespace, name)
    }

    /// The secret as the kubelet reads it, or why it could not be looked up.
    fn secret(&mut self, name: &str) -> &Result<SecretRead, String> {
        if !self.secrets.contains_key(name) {
            let read = self
                .get("v1", "Secret", name)
                .map(|secret| read_secret(&secret));
            self.secrets.insert(name.to_string(), read);
        }
        &self.secrets[name]
    }

    /// The secret names a ServiceAccount lists.
    fn service_account_secrets(&mut self, name: &str) -> Result<Vec<String>, String> {
        if !self.accounts.contains_key(name) {
            let names = self.get("v1", "ServiceAccount", name).map(|account| {
                let list = account
                    .get("imagePullSecrets")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                secret_names(list).into_iter().map(str::to_string).collect()
            });
            self.accounts.insert(name.to_string(), names);
        }
        self.accounts[name].clone()
    }

    /// Why the secret `name` does not serve `image_name`, or `None` when it does.
    fn secret_problem(&mut self, name: &str, image_name: &str) -> Option<String> {
        let namespace = self.namespace.unwrap_or_default().to_string();
        match self.secret(name) {
            Err(e) => Some(format!(
                "missing or unreadable in namespace '{namespace}': {e}"
            )),
            Ok(SecretRead::Skipped(why)) => Some(format!("the kubelet does not read it: {why}")),
            Ok(SecretRead::Broken(why)) => Some(format!("the kubelet cannot parse it: {why}")),
            Ok(SecretRead::Keyring(keyring)) if keyring.serves(image_name) => None,
            Ok(SecretRead::Keyring(keyring)) => {
                let has = keyring.describe();
                let unusable = keyring.describe_unusable();
                Some(if has.is_empty() {
                    "it has no registry entries".to_string()
                } else if has == unusable {
                    format!(
                        "it holds no usable credentials (an entry needs a user name and a password, or an auth \
                         that decodes to them; the kubelet ignores identity tokens): {}",
                        has.join(", ")
                    )
                } else {
                    format!(
                        "no usable entry for '{image_name}' (it has: {})",
                        has.join(", ")
                    )
                })
            }
        }
    }

    /// The secrets the kubelet will use for this pod spec, each with where it comes from.
    fn pod_secrets(&mut self, pod: &PodSecrets) -> Vec<(String, String)> {
        if pod.lists_any {
            return pod
                .names
                .iter()
                .map(|n| (n.to_string(), "pod".to_string()))
                .collect();
        }
        match self.service_account_secrets(pod.account) {
            Ok(names) => names
                .into_iter()
                .map(|n| (n, format!("ServiceAccount '{}'", pod.account)))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// One message per secret of the pod that the kubelet cannot parse (every pull then fails).
    fn broken_secrets(&mut self, pod: &PodSecrets) -> Vec<String> {
        let mut broken = Vec::new();
        for (name, source) in self.pod_secrets(pod) {
            if let Ok(SecretRead::Broken(why)) = self.secret(&name) {
                broken.push(format!(
                    "secret '{name}' ({source}) cannot be parsed by the kubelet, so every image pull of this pod fails: {why}"
                ));
            }
        }
        broken
    }

    /// `None` when a secret the kubelet will use for this pod spec serves `image_name`; otherwise
    /// the secrets considered and why each did not count.
    fn uncovered(&mut self, pod: &PodSecrets, image_name: &str) -> Option<String> {
        let mut reasons = Vec::new();
        if !pod.lists_any {
            reasons.push("the pod spec lists no imagePullSecrets".to_string());
            match self.service_account_secrets(pod.account) {
                Err(e) => reasons.push(format!(
                    "ServiceAccount '{}' could not be read: {e}",
                    pod.account
                )),
                Ok(names) if names.is_empty() => reasons.push(format!(
                    "ServiceAccount '{}' lists no imagePullSecrets",
                    pod.account
                )),
                Ok(_) => {}
            }
        } else if pod.names.is_empty() {
            reasons.push(
                "the pod spec's imagePullSecrets name no secret (empty names do not count), and the \
                 ServiceAccount's are not added to a pod that lists any"
                    .to_string(),
            );
        }
        let secrets = self.pod_secrets(pod);
        // The kubelet puts all of a pod's secrets in one keyring: one secret's entry for a host
        // can hide another's Docker Hub fallback, so the pod is judged on the merged keyring.
        let names: Vec<&str> = secrets.iter().map(|(name, _)| name.as_str()).collect();
        let cache_key = names.join("/");
        if !self.keyrings.contains_key(&cache_key) {
            let mut keyring = Keyring::default();
            for name in &names {
                if let Ok(SecretRead::Keyring(one)) = self.secret(name) {
                    keyring.merge(one);
                }
            }
            self.keyrings.insert(cache_key.clone(), keyring);
        }
        if self.keyrings[&cache_key].serves(image_name) {
            return None;
        }
        let total = secrets.len();
        for (name, source) in secrets.iter().take(REASONS_SHOWN) {
            let why = self.secret_problem(name, image_name).unwrap_or_else(|| {
                "its entry is hidden by another secret's entry for the same registry".to_string()
            });
            reasons.push(format!("secret '{name}' ({source}): {why}"));
        }
        if total > REASONS_SHOWN {
            reasons.push(format!(
                "{} more secrets serve it no better",
                total - REASONS_SHOWN
            ));
        }
        Some(format!("no secret serves it: {}", reasons.join("; ")))
    }
}

sdk_shim::register_policy!(RequirePullSecret);

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz_regressions;
