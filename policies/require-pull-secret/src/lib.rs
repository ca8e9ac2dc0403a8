//! require-pull-secret: catch `ImagePullBackOff` with 401 Unauthorized before the pod exists.
//!
//! Every image (container or image volume) under one of `registries` needs pull credentials, from
//! the secrets the kubelet will actually use for the pod:
//! - the pod spec's own `imagePullSecrets`; only when a template lists none, its ServiceAccount's
//!   (`spec.serviceAccountName`, else `default`), because the ServiceAccount admission plugin adds
//!   them only to a pod that lists none, and only when the pod is created: a Pod object under
//!   review already has them (the plugin runs before webhooks) or never will (UPDATE);
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
use sdk_shim::host::Host;
use sdk_shim::pattern::any_matches;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::{ContainerRef, PodSpecRef, Workload};
use serde_json::{json, Map, Value};
pub use settings::Settings;
use std::collections::{HashMap, HashSet};

/// At most this many secrets are described in one message; the rest are counted.
const REASONS_SHOWN: usize = 5;

pub struct RequirePullSecret;

impl Policy for RequirePullSecret {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::for_request(request);
        let mut cluster = Cluster::new(host, request.namespace());
        let is_pod = request.kind.group.is_empty() && request.kind.kind == "Pod";
        // Per pod spec, worked out once: its secrets, and (verifySecrets) what they serve.
        let mut pods: HashMap<usize, (PodSecrets, Option<Credentials>)> = HashMap::new();
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
            let (pod, credentials) = &*pods.entry(index).or_insert_with(|| {
                let pod = PodSecrets::of(&spec.fields, is_pod);
                let credentials = settings.verify_secrets.then(|| cluster.credentials(&pod));
                for why in credentials.iter().flat_map(|c| &c.broken) {
                    verdict.reject(container, why);
                }
                (pod, credentials)
            });
            let name = image.name();
            let missing = if let Some(credentials) = credentials {
                let key = (index, name.clone());
                let found = match coverage.get(&key) {
                    Some(found) => found.clone(),
                    None => {
                        let found = cluster.uncovered(credentials, &name);
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
            let kept = match pod.from_account {
                true => cluster.service_account_secrets(pod.account),
                false => Ok(Vec::new()),
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
    let same =
        |field: &str| spec.old.as_ref().map(|old| old.get(field)) == Some(spec.fields.get(field));
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
    /// Whether the ServiceAccount's secrets will be added: only to a pod created from a template
    /// that lists none. A Pod object already got them (the plugin runs at CREATE, before this
    /// policy) or never will (on UPDATE and on subresources it adds nothing).
    from_account: bool,
}

impl<'a> PodSecrets<'a> {
    fn of(spec: &'a Map<String, Value>, is_pod: bool) -> Self {
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
            from_account: listed.is_empty() && !is_pod,
        }
    }

    /// Why the pod spec's own list gives no secret.
    fn listed_problem(&self) -> &'static str {
        match (self.lists_any, self.from_account) {
            (true, _) => {
                "the pod spec's imagePullSecrets name no secret (empty names do not count), and a ServiceAccount's \
                 are not added to a pod that lists any"
            }
            (false, false) => {
                "the Pod lists no imagePullSecrets (a ServiceAccount's are copied into a Pod only when it is created, \
                 before this check, so it has none)"
            }
            (false, true) => "the pod spec lists no imagePullSecrets",
        }
    }

    fn plain_mode_problem(&self) -> String {
        let hint = match self.from_account {
            true => {
                "; add a kubernetes.io/dockerconfigjson Secret of the pod's namespace, or enable verifySecrets if the \
                 ServiceAccount provides it (Kubernetes adds a ServiceAccount's imagePullSecrets only to Pods \
                 created from a template that lists none)"
            }
            false => "; add a kubernetes.io/dockerconfigjson Secret of the pod's namespace",
        };
        format!("{}{hint}", self.listed_problem())
    }
}

/// What the kubelet will have for a pod spec: its secrets (each with where it comes from), their
/// merged keyring, and what breaks or is missing regardless of the image.
struct Credentials {
    secrets: Vec<(String, String)>,
    keyring: Keyring,
    /// One message per secret the kubelet cannot parse (every pull then fails).
    broken: Vec<String>,
    /// Why the list is empty or short, when it is.
    notes: Vec<String>,
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
        .fields
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
}

impl<'a> Cluster<'a> {
    fn new(host: &'a dyn Host, namespace: Option<&'a str>) -> Self {
        Cluster {
            host,
            namespace,
            secrets: HashMap::new(),
            accounts: HashMap::new(),
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

    /// What the kubelet will have for this pod spec. The kubelet puts all of a pod's secrets in
    /// one keyring: one secret's entry for a host can hide another's Docker Hub fallback, so the
    /// pod is judged on the merged keyring.
    fn credentials(&mut self, pod: &PodSecrets) -> Credentials {
        let mut notes = Vec::new();
        let secrets: Vec<(String, String)> = if pod.from_account {
            notes.push(pod.listed_problem().to_string());
            let source = format!("ServiceAccount '{}'", pod.account);
            match self.service_account_secrets(pod.account) {
                Err(e) => {
                    notes.push(format!("{source} could not be read: {e}"));
                    Vec::new()
                }
                Ok(names) if names.is_empty() => {
                    notes.push(format!("{source} lists no imagePullSecrets"));
                    Vec::new()
                }
                Ok(names) => names.into_iter().map(|n| (n, source.clone())).collect(),
            }
        } else {
            if pod.names.is_empty() {
                notes.push(pod.listed_problem().to_string());
            }
            let source = "pod".to_string();
            pod.names
                .iter()
                .map(|n| (n.to_string(), source.clone()))
                .collect()
        };
        let mut keyring = Keyring::default();
        let mut broken = Vec::new();
        for (name, source) in &secrets {
            match self.secret(name) {
                Ok(SecretRead::Keyring(one)) => keyring.merge(one),
                Ok(SecretRead::Broken(why)) => broken.push(format!(
                    "secret '{name}' ({source}) cannot be parsed by the kubelet, so every image pull of this pod fails: {why}"
                )),
                _ => {}
            }
        }
        Credentials {
            secrets,
            keyring,
            broken,
            notes,
        }
    }

    /// `None` when the pod's keyring serves `image_name`; otherwise why not: the notes, then the
    /// first few secrets and why each did not count.
    fn uncovered(&mut self, credentials: &Credentials, image_name: &str) -> Option<String> {
        if credentials.keyring.serves(image_name) {
            return None;
        }
        let mut reasons = credentials.notes.clone();
        for (name, source) in credentials.secrets.iter().take(REASONS_SHOWN) {
            let why = self.secret_problem(name, image_name).unwrap_or_else(|| {
                "its entry is hidden by another secret's entry for the same registry".to_string()
            });
            reasons.push(format!("secret '{name}' ({source}): {why}"));
        }
        let total = credentials.secrets.len();
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
