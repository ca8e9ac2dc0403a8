//! The part of a Kubernetes `AdmissionRequest` the policies read, decoded and nothing more.

use crate::view::{KeyAt, Object, ObjectSource, SourceSeed, Trees};
use crate::workload::pod_spec_at;
use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// What a waPC `validate` call carries: the admission request and the policy's settings.
#[derive(Debug, Deserialize)]
pub struct ValidationPayload<'a, S> {
    #[serde(borrow, deserialize_with = "AdmissionRequest::with_views")]
    pub request: AdmissionRequest<'a>,
    #[serde(default = "Option::default")]
    pub settings: Option<S>,
}

/// The same with the request's objects kept as text (see [`ValidationPayload::decode`]).
#[derive(Deserialize)]
struct TextPayload<'a, S> {
    #[serde(borrow)]
    request: AdmissionRequest<'a>,
    #[serde(default = "Option::default")]
    settings: Option<S>,
}

impl<'a, S: Deserialize<'a>> ValidationPayload<'a, S> {
    /// Decodes a `validate` payload, reading the objects' views in the same pass
    /// ([`crate::json`]). What that reader leaves to serde_json (a string a view reads written
    /// with escapes, a kind without a pod spec, any error) is decoded again by serde_json with
    /// the objects kept as text: they are then read from their trees, and serde_json words any
    /// error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        // The fast reader gives what serde_json gives, or leaves the payload to it.
        let fast = crate::json::from_slice_seed(bytes, std::marker::PhantomData::<Self>);
        if let Ok((mut payload, readable)) = fast {
            payload.request.text_readable = readable.0;
            return Ok(payload);
        }
        serde_json::from_slice::<TextPayload<S>>(bytes).map(|p| ValidationPayload {
            request: p.request,
            settings: p.settings,
        })
    }
}

/// The request's objects are not decoded into trees: rules read them through borrowed views
/// ([`crate::view`]), and only what needs a tree parses one ([`Object::tree`]).
#[derive(Debug, Default, Clone)]
pub struct AdmissionRequest<'a> {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub sub_resource: Option<String>,
    pub operation: String,
    pub namespace: Option<String>,
    pub object: ObjectSource<'a>,
    /// The object before an UPDATE (`Missing` otherwise).
    pub old_object: ObjectSource<'a>,
    /// The object's `metadata.namespace`, read by [`Self::read_object_namespace`].
    object_namespace: Option<String>,
    /// serde_json reads all of the payload's text as a `Value` ([`crate::json::Readable`]), so
    /// a mutated object made from it needs no check.
    pub(crate) text_readable: bool,
}

/// The fields decoded, as the API server writes them (camelCase); the rest is skipped.
const REQUEST_FIELDS: [&str; 7] = [
    "uid",
    "kind",
    "subResource",
    "operation",
    "namespace",
    "object",
    "oldObject",
];

/// Decodes the objects as JSON text.
impl<'de: 'a, 'a> Deserialize<'de> for AdmissionRequest<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor::<false>)
    }
}

impl<'a> AdmissionRequest<'a> {
    /// Decodes a request, reading each object's view in the same pass when `kind` comes before
    /// it (as the API server writes an `AdmissionRequest`) and is a built-in kind: the object's
    /// text is then scanned once.
    pub fn with_views<'de: 'a, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor::<true>)
    }
}

/// With `VIEWS`, reads the objects' views; without, keeps them as text (a constant, so that
/// serde_json's pass, which never reads views, does not carry their code).
struct RequestVisitor<const VIEWS: bool>;

impl<'de, const VIEWS: bool> Visitor<'de> for RequestVisitor<VIEWS> {
    type Value = AdmissionRequest<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AdmissionRequest object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut request = AdmissionRequest::default();
        let mut seen = [false; REQUEST_FIELDS.len()];
        // A viewed object's text lies between its key and the next one (see `value_between`).
        let mut viewed_after: Option<usize> = None;
        while let Some((key, at)) = map.next_key_seed(KeyAt(&REQUEST_FIELDS))? {
            if let Some(field) = viewed_after.take() {
                let source = match field {
                    5 => &mut request.object,
                    _ => &mut request.old_object,
                };
                if let (ObjectSource::Viewed { next_key, .. }, Some((at, _))) = (source, at) {
                    *next_key = Some(at);
                }
            }
            let Some(field) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[field], true) {
                return Err(A::Error::duplicate_field(REQUEST_FIELDS[field]));
            }
            match field {
                0 => request.uid = map.next_value()?,
                1 => request.kind = map.next_value()?,
                2 => request.sub_resource = map.next_value()?,
                3 => request.operation = map.next_value()?,
                4 => request.namespace = map.next_value()?,
                _ => {
                    let kind = &request.kind;
                    let path = match VIEWS && seen[1] {
                        true => pod_spec_at(&kind.group, &kind.kind).map(|(_, path)| path),
                        false => None,
                    };
                    let mut source = map.next_value_seed(SourceSeed(path))?;
                    if let (ObjectSource::Viewed { key_end, .. }, Some((key_at, key_len))) =
                        (&mut source, at)
                    {
                        *key_end = Some(key_at + key_len);
                        viewed_after = Some(field);
                    }
                    match field {
                        5 => request.object = source,
                        _ => request.old_object = source,
                    }
                }
            }
        }
        if !seen[1] {
            return Err(A::Error::missing_field("kind"));
        }
        Ok(request)
    }
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

    /// The request's object, with its tree in `trees`.
    pub fn object<'t>(&'t self, trees: &'t Trees<'t>) -> Object<'t> {
        Object::new(&self.object, trees, false)
    }

    /// The object before an UPDATE.
    pub fn old_object<'t>(&'t self, trees: &'t Trees<'t>) -> Object<'t> {
        Object::new(&self.old_object, trees, true)
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

    /// Every request fixture of the project, as a payload (compact and pretty): the fast reader
    /// decodes it, and to what serde_json decodes it.
    #[test]
    fn the_fast_reader_decodes_the_fixtures_as_serde_json_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut dirs = vec![root.join("sdk-shim/test_data"), root.join("e2e/test_data")];
        for policy in std::fs::read_dir(root.join("policies")).unwrap() {
            dirs.push(policy.unwrap().path().join("test_data"));
        }
        let mut decoded = 0;
        for dir in dirs {
            for file in std::fs::read_dir(&dir).unwrap() {
                let path = file.unwrap().path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let request = crate::testing::read_request_value(&path);
                let payload = serde_json::json!({"request": request, "settings": {"a": [1, -2.5, "b", null]}});
                for text in [
                    payload.to_string(),
                    serde_json::to_string_pretty(&payload).unwrap(),
                ] {
                    let slow = serde_json::from_slice::<ValidationPayload<serde_json::Value>>(
                        text.as_bytes(),
                    );
                    match crate::json::from_slice::<ValidationPayload<serde_json::Value>>(
                        text.as_bytes(),
                    ) {
                        Ok(fast) => {
                            decoded += 1;
                            assert_eq!(
                                format!("{fast:?}"),
                                format!("{:?}", slow.unwrap()),
                                "{}",
                                path.display()
                            );
                        }
                        // Left to serde_json where it fails too (not a request, or a view
                        // reads a string with escapes), or where an object is kept as raw text
                        // (a kind without a pod spec).
                        Err(_) => {
                            let raw = |p: ValidationPayload<serde_json::Value>| {
                                [p.request.object, p.request.old_object]
                                    .iter()
                                    .any(|o| matches!(o, ObjectSource::Text(_)))
                            };
                            assert!(slow.map_or(true, raw), "{}", path.display())
                        }
                    }
                }
            }
        }
        assert!(
            decoded > 100,
            "only {decoded} payloads decoded by the fast reader"
        );
    }

    fn request(
        kind: &str,
        sub_resource: Option<&str>,
        operation: &str,
    ) -> AdmissionRequest<'static> {
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
                object: ObjectSource::Text(raw(match object_namespace {
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
            (
                r#"{"metadata": {"namespace": 1, "namespace": "b"}}"#,
                Some("b"),
            ),
            (r#"{"metadata": {"namespace": ["a"]}}"#, None),
            (r#"{"metadata": "team"}"#, None),
            (r#"["team"]"#, None),
        ];
        for (object, expected) in cases {
            let mut request = AdmissionRequest {
                object: ObjectSource::Text(raw_text(object)),
                ..request("Pod", None, "CREATE")
            };
            request.read_object_namespace(&Trees::default());
            assert_eq!(request.namespace(), expected, "{object}");
        }
    }
}
