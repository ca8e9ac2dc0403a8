//! Evaluating objects as the API server would: every policy whose rules and selectors match,
//! mutating policies first (in name order, each seeing the previous one's mutation), then the
//! validating ones and the groups on the final object.
//!
//! Followed from kubernetes/kubernetes and Kubewarden:
//! - mutating webhooks run before validating ones, and configurations in name order
//!   (apiserver `admission/plugin/webhook/generic`); Kubewarden names a policy's webhook
//!   configuration `clusterwide-<name>` or `namespaced-<namespace>-<name>`;
//! - a webhook's `objectSelector` is matched against the object as the earlier mutating
//!   webhooks left it;
//! - a policy in `mode: monitor` never rejects or mutates (its verdict is only reported);
//! - a policy registered without `mutating: true` that answers with a mutation is rejected by
//!   policy-server, which does not apply it;
//! - `namespaceSelector` reads the namespace's labels, which always include
//!   `kubernetes.io/metadata.name` (the NamespaceDefaultLabelName feature, GA in 1.22); for a
//!   `Namespace` object it reads the object's own labels.

use crate::manifests::Manifests;
use crate::policies::{Body, Member, Policy};
use e2e::{HostCapabilities, ValidationResponse};
use sdk_shim::review::{create_request, group_version, is_namespaced, resource_of};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One policy's verdict on one object.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub policy: String,
    pub monitor: bool,
    pub allowed: bool,
    pub message: Option<String>,
    pub warnings: Vec<String>,
    /// The policy changed the object (and the change was applied).
    pub mutated: bool,
    /// For a group: each member's name, verdict and message.
    pub members: Vec<(String, bool, Option<String>)>,
}

impl Evaluation {
    /// Whether this verdict rejects the object in the cluster.
    pub fn rejects(&self) -> bool {
        !self.allowed && !self.monitor
    }
}

/// Everything decided about one object.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Index into `Manifests::objects`.
    pub object: usize,
    pub namespace: Option<String>,
    pub evaluations: Vec<Evaluation>,
    /// The object after every applied mutation, when there was one.
    pub mutated: Option<Value>,
    /// The object as the API server sent it (with its namespace filled in).
    pub sent: Value,
}

impl Checked {
    pub fn rejected(&self) -> bool {
        self.evaluations.iter().any(Evaluation::rejects)
    }
}

/// Labels of the namespaces the manifests and the cluster state describe.
pub fn namespace_labels(objects: &[Value]) -> BTreeMap<String, Map<String, Value>> {
    objects
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"))
        .filter_map(|o| {
            let name = o.pointer("/metadata/name")?.as_str()?.to_string();
            let labels = o
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            Some((name, labels))
        })
        .collect()
}

pub struct Checker<'a> {
    pub policies: &'a [Policy],
    pub capabilities: Arc<HostCapabilities>,
    pub namespaces: BTreeMap<String, Map<String, Value>>,
    /// The namespace of objects that name none (`--namespace`).
    pub default_namespace: String,
}

impl Checker<'_> {
    pub fn check(&self, manifests: &Manifests, index: usize) -> Checked {
        let object = &manifests.objects[index];
        let uid = format!("image-policies-{index}");
        let original = create_request(&object.value, &self.default_namespace, &uid);
        let namespace = original
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let sent = original["object"].clone();
        let (mut mutating, validating): (Vec<&Policy>, Vec<&Policy>) =
            self.policies.iter().partition(|p| p.mutating && !p.monitor);
        mutating.sort_by(|a, b| a.webhook.cmp(&b.webhook));

        let mut request = original;
        let mut evaluations = Vec::new();
        let mut mutated = false;
        for policy in mutating.into_iter().chain(validating) {
            if !self.applies(
                policy,
                object.kind(),
                &request["object"],
                namespace.as_deref(),
            ) {
                continue;
            }
            let evaluation = self.evaluate(policy, &mut request);
            mutated |= evaluation.mutated;
            evaluations.push(evaluation);
        }
        Checked {
            object: index,
            namespace,
            evaluations,
            mutated: mutated.then(|| request["object"].clone()),
            sent,
        }
    }

    /// Whether `policy` sees `object` (of `kind`, as it is now) in `namespace`.
    fn applies(
        &self,
        policy: &Policy,
        kind: &str,
        object: &Value,
        namespace: Option<&str>,
    ) -> bool {
        let (group, version) = group_version(
            object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        let resource = resource_of(kind);
        let namespaced = is_namespaced(kind);
        if !policy
            .rules
            .iter()
            .any(|r| r.matches(group, version, &resource, "CREATE", namespaced))
        {
            return false;
        }
        if let Some(own) = &policy.namespace {
            if namespace != Some(own.as_str()) {
                return false;
            }
        }
        let labels = |value: &Value| {
            value
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        if let Some(selector) = &policy.object_selector {
            if !selector.matches(&labels(object)) {
                return false;
            }
        }
        if let Some(selector) = &policy.namespace_selector {
            let labels = match (kind, namespace) {
                ("Namespace", _) => labels(object),
                (kind, Some(namespace)) if is_namespaced(kind) => {
                    let mut labels = self.namespaces.get(namespace).cloned().unwrap_or_default();
                    labels.insert(
                        "kubernetes.io/metadata.name".to_string(),
                        Value::String(namespace.to_string()),
                    );
                    labels
                }
                // Other cluster-scoped objects are never skipped by a namespaceSelector.
                _ => return true,
            };
            if !selector.matches(&labels) {
                return false;
            }
        }
        true
    }

    /// Runs one policy on `request`, applying its mutation to it when the cluster would.
    fn evaluate(&self, policy: &Policy, request: &mut Value) -> Evaluation {
        let mut evaluation = Evaluation {
            policy: policy.name.clone(),
            monitor: policy.monitor,
            allowed: true,
            message: None,
            warnings: Vec::new(),
            mutated: false,
            members: Vec::new(),
        };
        match &policy.body {
            Body::Single(member) => match self.run(member, request) {
                Err(failure) => {
                    evaluation.allowed = false;
                    evaluation.message = Some(failure);
                }
                Ok(response) => {
                    evaluation.allowed = response.accepted;
                    evaluation.message = response.message;
                    evaluation.warnings = response.warnings.unwrap_or_default();
                    if let (true, Some(object)) = (response.accepted, response.mutated_object) {
                        if !policy.mutating {
                            evaluation.allowed = false;
                            evaluation.message = Some(
                                "the policy answered with a mutation, but it is not registered \
                                 as mutating (set spec.mutating: true): policy-server rejects \
                                 the request"
                                    .to_string(),
                            );
                        } else if !policy.monitor && object != request["object"] {
                            request["object"] = object;
                            evaluation.mutated = true;
                        }
                    }
                }
            },
            Body::Group {
                members,
                expression,
                message,
            } => {
                let mut verdicts = Vec::new();
                for member in members {
                    let (allowed, why) = match self.run(member, request) {
                        Ok(response) => {
                            evaluation
                                .warnings
                                .extend(response.warnings.unwrap_or_default());
                            (response.accepted, response.message)
                        }
                        Err(failure) => (false, Some(failure)),
                    };
                    verdicts.push(allowed);
                    evaluation.members.push((member.name.clone(), allowed, why));
                }
                evaluation.allowed = expression.evaluate(&verdicts);
                if !evaluation.allowed {
                    evaluation.message = Some(message.clone());
                }
            }
        }
        evaluation
    }

    /// One fresh instance of a member's module (policy-server makes one per request).
    fn run(&self, member: &Member, request: &Value) -> Result<ValidationResponse, String> {
        let instance = member
            .module
            .instantiate(self.capabilities.clone())
            .map_err(|e| format!("the policy could not start: {e:#}"))?;
        instance
            .validate(request, &member.settings)
            .map_err(|e| format!("the policy failed, so the API server rejects the request: {e:#}"))
    }
}
