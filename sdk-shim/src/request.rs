//! The part of a Kubernetes `AdmissionRequest` the policies read, decoded and nothing more.

use crate::view::{Object, Trees};
use serde::Deserialize;
use serde_json::value::RawValue;

/// What a waPC `validate` call carries: the admission request and the policy's settings.
#[derive(Debug, Deserialize)]
pub struct ValidationPayload<'a, S> {
    #[serde(borrow)]
    pub request: AdmissionRequest<'a>,
    #[serde(default = "Option::default")]
    pub settings: Option<S>,
}

/// The request's objects stay JSON text borrowed from the payload: rules read them through
/// [`crate::view`], and only what needs a tree parses one ([`AdmissionRequest::object`]).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest<'a> {
    #[serde(default)]
    pub uid: String,
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// `None` when missing or `null`.
    #[serde(default, borrow)]
    pub object: Option<&'a RawValue>,
    /// The object before an UPDATE (`None` otherwise).
    #[serde(default, borrow)]
    pub old_object: Option<&'a RawValue>,
    /// The object's `metadata.namespace`, read by [`Self::read_object_namespace`].
    #[serde(skip)]
    object_namespace: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
}

impl GroupVersionKind {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl<'a> AdmissionRequest<'a> {
    /// Why the API server would drop or refuse a change at `pointer` of this request's object,
    /// if it would (see [`Mutable`]).
    pub fn immutable_reason(&self, pointer: &str) -> Option<&'static str> {
        self.mutable().refuses(pointer)
    }

    /// What the API server lets a mutation of this request's object change.
    pub fn mutable(&self) -> Mutable {
        if (self.kind.group.as_str(), self.kind.kind.as_str()) != ("", "Pod") {
            return Mutable::Anything;
        }
        match (
            self.sub_resource.as_deref().unwrap_or(""),
            self.operation.as_str(),
        ) {
            ("ephemeralcontainers", _) => Mutable::EphemeralContainers,
            ("", "UPDATE") => Mutable::PodContainerImages,
            _ => Mutable::Anything,
        }
    }

    /// The namespace the object lives in: the request's, else the object's own metadata (once
    /// [`Self::read_object_namespace`] has read it).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .or(self.object_namespace.as_deref())
    }

    /// Reads the object's `metadata.namespace`, for [`Self::namespace`] (only needed when the
    /// request names none, as in a request written by hand).
    pub fn read_object_namespace(&mut self, trees: &Trees) {
        if self.namespace().is_none() {
            self.object_namespace = self.object(trees).namespace();
        }
    }

    /// The request's object, read from its text or from its tree in `trees`.
    pub fn object<'t>(&self, trees: &'t Trees) -> Object<'t>
    where
        'a: 't,
    {
        Object::new(self.object, &trees.object)
    }

    /// The object before an UPDATE.
    pub fn old_object<'t>(&self, trees: &'t Trees) -> Object<'t>
    where
        'a: 't,
    {
        Object::new(self.old_object, &trees.old_object)
    }
}

/// What a mutation may change, following the API server: on the `pods/ephemeralcontainers`
/// subresource only `spec.ephemeralContainers` is kept (the pod strategy copies everything else
/// from the old pod), and a Pod UPDATE may change only container images among the fields the
/// policies set (`ValidatePodUpdate`), so `imagePullPolicy`, `imagePullSecrets` and volumes are
/// immutable there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mutable {
    #[default]
    Anything,
    EphemeralContainers,
    PodContainerImages,
}

impl Mutable {
    /// Why a change at `pointer` would be dropped or refused, if it would.
    pub fn refuses(self, pointer: &str) -> Option<&'static str> {
        match self {
            Mutable::EphemeralContainers if !pointer.starts_with("/spec/ephemeralContainers/") => Some(
                "on the pods/ephemeralcontainers subresource the API server keeps only changes to spec.ephemeralContainers",
            ),
            Mutable::PodContainerImages if !is_pod_container_image(pointer) => Some(
                "a Pod's spec is immutable once created except for container images; change the Pod's template or recreate it",
            ),
            _ => None,
        }
    }
}

/// `/spec/containers/N/image` or `/spec/initContainers/N/image`.
fn is_pod_container_image(pointer: &str) -> bool {
    let Some(rest) = pointer
        .strip_prefix("/spec/containers/")
        .or_else(|| pointer.strip_prefix("/spec/initContainers/"))
    else {
        return false;
    };
    rest.strip_suffix("/image")
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{raw, raw_text};

    fn request(kind: &str, sub_resource: Option<&str>, operation: &str) -> AdmissionRequest<'static> {
        AdmissionRequest {
            kind: GroupVersionKind {
                group: String::new(),
                version: "v1".into(),
                kind: kind.into(),
            },
            sub_resource: sub_resource.map(str::to_string),
            operation: operation.into(),
            ..Default::default()
        }
    }

    #[test]
    fn what_the_api_server_lets_a_mutation_change() {
        // (kind, subresource, operation, pointer, mutable)
        let cases = [
            ("Pod", None, "CREATE", "/spec/imagePullSecrets", true),
            (
                "Pod",
                None,
                "CREATE",
                "/spec/containers/0/imagePullPolicy",
                true,
            ),
            ("Pod", None, "UPDATE", "/spec/containers/0/image", true),
            ("Pod", None, "UPDATE", "/spec/initContainers/12/image", true),
            (
                "Pod",
                None,
                "UPDATE",
                "/spec/containers/0/imagePullPolicy",
                false,
            ),
            ("Pod", None, "UPDATE", "/spec/imagePullSecrets", false),
            (
                "Pod",
                None,
                "UPDATE",
                "/spec/ephemeralContainers/0/image",
                false,
            ),
            (
                "Pod",
                None,
                "UPDATE",
                "/spec/volumes/0/image/reference",
                false,
            ),
            ("Pod", None, "UPDATE", "/spec/containers/x/image", false),
            (
                "Pod",
                Some("ephemeralcontainers"),
                "UPDATE",
                "/spec/ephemeralContainers/1/image",
                true,
            ),
            (
                "Pod",
                Some("ephemeralcontainers"),
                "UPDATE",
                "/spec/imagePullSecrets",
                false,
            ),
            (
                "Pod",
                Some("ephemeralcontainers"),
                "UPDATE",
                "/spec/containers/0/image",
                false,
            ),
            (
                "Deployment",
                None,
                "UPDATE",
                "/spec/template/spec/imagePullSecrets",
                true,
            ),
        ];
        for (kind, sub, operation, pointer, mutable) in cases {
            let reason = request(kind, sub, operation).immutable_reason(pointer);
            assert_eq!(
                reason.is_none(),
                mutable,
                "{kind} {sub:?} {operation} {pointer}"
            );
        }
    }

    #[test]
    fn the_namespace_is_the_requests_else_the_objects() {
        // (request's namespace, object's metadata.namespace, expected)
        let cases = [
            (Some("team"), Some("other"), Some("team")),
            (Some("team"), None, Some("team")),
            (Some(""), Some("other"), Some("other")),
            (None, Some("other"), Some("other")),
            (Some(""), None, None),
            (None, None, None),
        ];
        for (namespace, object_namespace, expected) in cases {
            let mut request = AdmissionRequest {
                namespace: namespace.map(str::to_string),
                object: Some(raw(match object_namespace {
                    Some(ns) => serde_json::json!({"metadata": {"namespace": ns}}),
                    None => serde_json::json!({"metadata": {}}),
                })),
                ..request("Pod", None, "CREATE")
            };
            request.read_object_namespace(&Trees::default());
            assert_eq!(
                request.namespace(),
                expected,
                "{namespace:?} {object_namespace:?}"
            );
        }
        // Read as a `Value` would: escapes, the last of repeated keys, only a string counts.
        let cases = [
            (r#"{"metadata": {"namespace": "te\u0061m"}}"#, Some("team")),
            (
                r#"{"metadata": {"namespace": "a"}, "metadata": {"name": "x"}}"#,
                None,
            ),
            (r#"{"metadata": {"namespace": 1, "namespace": "b"}}"#, Some("b")),
            (r#"{"metadata": {"namespace": ["a"]}}"#, None),
            (r#"{"metadata": "team"}"#, None),
            (r#"["team"]"#, None),
        ];
        for (object, expected) in cases {
            let mut request = AdmissionRequest {
                object: Some(raw_text(object)),
                ..request("Pod", None, "CREATE")
            };
            request.read_object_namespace(&Trees::default());
            assert_eq!(request.namespace(), expected, "{object}");
        }
    }
}
