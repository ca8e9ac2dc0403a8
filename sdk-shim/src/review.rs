//! A manifest wrapped into the admission request the API server sends for it: what
//! `image-policies check` and a case's `manifest:` evaluate.
//!
//! Followed from kubernetes/kubernetes:
//! - the resource is the kind's lowercase plural, as `meta.UnsafeGuessKindToResource`
//!   (apimachinery `pkg/api/meta/restmapper.go`) guesses it: `-s` takes `-es`, `-y` takes `-ies`;
//! - a namespaced object created without `metadata.namespace` gets the request's namespace before
//!   admission (`EnsureObjectNamespaceMatchesRequestNamespace`, apiserver `endpoints/handlers`);
//! - `options` is the operation's `CreateOptions`.

use serde_json::{json, Value};

/// Kinds the API server keeps outside namespaces (the common ones); any other kind is namespaced.
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "ClusterAdmissionPolicy",
    "ClusterAdmissionPolicyGroup",
    "ClusterRole",
    "ClusterRoleBinding",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// The resource the API server serves a kind as (`Deployment` -> `deployments`).
pub fn resource_of(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
pub fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

pub fn is_namespaced(kind: &str) -> bool {
    !CLUSTER_SCOPED.contains(&kind)
}

/// The `request` of the `AdmissionReview` for creating `object` (which has `apiVersion` and
/// `kind`) in `namespace` when it names none.
pub fn create_request(object: &Value, namespace: &str, uid: &str) -> Value {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let kind = text("/kind");
    let (group, version) = group_version(text("/apiVersion"));
    let mut object = object.clone();
    let namespace = match (is_namespaced(kind), text("/metadata/namespace")) {
        (false, _) => None,
        (true, "") => {
            if let Some(metadata) = object.as_object_mut().map(|o| {
                o.entry("metadata")
                    .or_insert_with(|| Value::Object(Default::default()))
            }) {
                if let Some(metadata) = metadata.as_object_mut() {
                    metadata.insert("namespace".to_string(), json!(namespace));
                }
            }
            Some(namespace.to_string())
        }
        (true, own) => Some(own.to_string()),
    };
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind_ref = json!({"group": group, "version": version, "kind": kind});
    let resource = json!({"group": group, "version": version, "resource": resource_of(kind)});
    let mut request = json!({
        "uid": uid,
        "kind": kind_ref,
        "resource": resource,
        "requestKind": kind_ref,
        "requestResource": resource,
        "name": name,
        "operation": "CREATE",
        "userInfo": {"username": "image-policies", "groups": ["system:authenticated"]},
        "object": object,
        "oldObject": null,
        "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    });
    if let Some(namespace) = namespace {
        request["namespace"] = json!(namespace);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_guessed_as_the_rest_mapper_does() {
        for (kind, resource) in [
            ("Deployment", "deployments"),
            ("DaemonSet", "daemonsets"),
            ("CronJob", "cronjobs"),
            ("Pod", "pods"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("ReplicationController", "replicationcontrollers"),
        ] {
            assert_eq!(resource_of(kind), resource, "{kind}");
        }
    }

    #[test]
    fn a_namespaced_object_gets_the_request_namespace_unless_it_names_one() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        let request = create_request(&pod, "team-a", "u1");
        assert_eq!(request["namespace"], "team-a");
        assert_eq!(request["object"]["metadata"]["namespace"], "team-a");
        assert_eq!(
            request["kind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(request["resource"]["resource"], "pods");
        assert_eq!(request["operation"], "CREATE");
        assert_eq!(request["name"], "p");
        assert_eq!(request["uid"], "u1");

        let own = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "d", "namespace": "prod"}});
        let request = create_request(&own, "team-a", "u2");
        assert_eq!(request["namespace"], "prod");
        assert_eq!(
            request["resource"],
            json!({"group": "apps", "version": "v1", "resource": "deployments"})
        );

        let bare = json!({"apiVersion": "v1", "kind": "Pod"});
        assert_eq!(
            create_request(&bare, "x", "u")["object"]["metadata"]["namespace"],
            "x"
        );
    }

    #[test]
    fn a_cluster_scoped_object_has_no_namespace() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
        let request = create_request(&ns, "team-a", "u");
        assert!(request.get("namespace").is_none());
        assert!(request["object"]["metadata"].get("namespace").is_none());
    }
}
