//! JSONPath image extractors for custom resources (the shared `customResources` setting).
//!
//! ```yaml
//! customResources:
//!   - apiVersion: argoproj.io/v1alpha1
//!     kind: Rollout
//!     paths: ["$.spec.template.spec.containers[*]", "$.spec.template.spec.initContainers[*]"]
//!   - apiVersion: example.com/v1
//!     kind: Scanner
//!     paths: ["$.spec.scannerImage"]
//! ```
//!
//! A path may select container objects (then `image`, `name` and `imagePullPolicy` are read from
//! them, and a container that sits in a `containers`/`initContainers`/`ephemeralContainers` list
//! belongs to the pod spec holding that list) or image strings. Every match carries its JSON
//! pointer, so rejections name it and mutations patch it.

use crate::workload::{type_name, ContainerKind, Workload};
use jsonpath_rust::parser::model::{Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawExtractor")]
pub struct ImageExtractor {
    pub api_version: String,
    pub kind: String,
    pub paths: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawExtractor {
    api_version: String,
    kind: String,
    paths: Vec<String>,
}

impl TryFrom<RawExtractor> for ImageExtractor {
    type Error = String;

    fn try_from(raw: RawExtractor) -> Result<Self, String> {
        if raw.api_version.is_empty() || raw.kind.is_empty() {
            return Err("apiVersion and kind must not be empty".to_string());
        }
        if raw.paths.is_empty() {
            return Err(format!("paths for {}/{} must list at least one JSONPath", raw.api_version, raw.kind));
        }
        for path in &raw.paths {
            if !path.starts_with('$') {
                return Err(format!("path '{path}' must start with '$'"));
            }
            parse_json_path(path).map_err(|e| format!("path '{path}' is not valid JSONPath: {e}"))?;
        }
        Ok(ImageExtractor {
            api_version: raw.api_version,
            kind: raw.kind,
            paths: raw.paths,
        })
    }
}

impl ImageExtractor {
    pub fn applies_to(&self, api_version: &str, kind: &str) -> bool {
        self.api_version == api_version && self.kind == kind
    }

    /// Adds every container or image the paths select in `object` to `workload`.
    pub(crate) fn extract<'a>(&self, object: &'a Value, workload: &mut Workload<'a>) -> Result<(), String> {
        for path in &self.paths {
            let found = js_path(path, object).map_err(|e| format!("JSONPath '{path}' failed: {e}"))?;
            for hit in found {
                let pointer = to_json_pointer(&hit.path)?;
                if workload.containers.iter().any(|c| c.pointer == pointer) {
                    continue; // two paths selecting the same container count once
                }
                match hit.val {
                    Value::String(image) => workload.add_image(pointer, image),
                    Value::Object(_) => {
                        let pod_spec = pod_spec_around(&pointer)
                            .and_then(|spec_ptr| object.pointer(&spec_ptr).map(|spec| (spec_ptr, spec)))
                            .map(|(spec_ptr, spec)| workload.pod_spec_index(&spec_ptr, spec));
                        let kind = container_kind_at(&pointer);
                        workload.add_container(pointer, hit.val, kind, pod_spec)?;
                    }
                    other => {
                        return Err(format!(
                            "JSONPath '{path}' selected {} at {pointer}; expected an image string or a container object",
                            type_name(other)
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

/// `$['spec']['containers'][0]` -> `/spec/containers/0`
fn to_json_pointer(normalized_path: &str) -> Result<String, String> {
    let query = parse_json_path(normalized_path).map_err(|e| format!("cannot read JSONPath result '{normalized_path}': {e}"))?;
    let mut pointer = String::new();
    for segment in query.segments {
        match segment {
            Segment::Selector(Selector::Name(name)) => {
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Selector(Selector::Index(i)) => {
                pointer.push('/');
                pointer.push_str(&i.to_string());
            }
            other => return Err(format!("unexpected segment {other:?} in JSONPath result '{normalized_path}'")),
        }
    }
    Ok(pointer)
}

/// For `/a/b/containers/3` (or initContainers/ephemeralContainers), the pod spec `/a/b`.
fn pod_spec_around(container_pointer: &str) -> Option<String> {
    let (list, index) = container_pointer.rsplit_once('/')?;
    index.parse::<usize>().ok()?;
    let (spec, field) = list.rsplit_once('/')?;
    ContainerKind::from_field(field).map(|_| spec.to_string())
}

fn container_kind_at(container_pointer: &str) -> ContainerKind {
    container_pointer
        .rsplit('/')
        .nth(1)
        .and_then(ContainerKind::from_field)
        .unwrap_or(ContainerKind::Custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixture_request;

    fn extractor(json: &str) -> Result<ImageExtractor, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn rollout_containers_and_a_plain_image_string() {
        let extractors = [
            extractor(
                r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout",
                    "paths":["$.spec.template.spec.containers[*]","$.spec.template.spec.initContainers[*]","$.spec.template.spec.containers[*]"]}"#,
            )
            .unwrap(),
            extractor(r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","paths":["$.spec.analysisImage"]}"#).unwrap(),
        ];
        let request = fixture_request("rollout.json");
        let workload = Workload::from_request(&request, &extractors).unwrap();
        let found: Vec<(&str, ContainerKind, &str, Option<String>)> = workload
            .containers
            .iter()
            .map(|c| (c.pointer.as_str(), c.kind, c.image.unwrap(), c.pull_policy_pointer()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "/spec/template/spec/containers/0",
                    ContainerKind::Container,
                    "ghcr.io/acme/web:main",
                    Some("/spec/template/spec/containers/0/imagePullPolicy".to_string())
                ),
                (
                    "/spec/template/spec/initContainers/0",
                    ContainerKind::InitContainer,
                    "busybox",
                    Some("/spec/template/spec/initContainers/0/imagePullPolicy".to_string())
                ),
                ("/spec/analysisImage", ContainerKind::Custom, "ghcr.io/acme/analysis:1", None),
            ]
        );
        assert_eq!(workload.pod_specs.len(), 1);
        assert_eq!(workload.pod_specs[0].pointer, "/spec/template/spec");
        assert_eq!(workload.containers[2].to_string(), "image at /spec/analysisImage");
        assert!(workload.pod_spec_of(&workload.containers[2]).is_none());
    }

    #[test]
    fn extractors_for_another_kind_do_nothing() {
        let extractors =
            [extractor(r#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","paths":["$.spec.x"]}"#).unwrap()];
        let request = fixture_request("rollout.json");
        assert!(Workload::from_request(&request, &extractors).unwrap().containers.is_empty());
    }

    #[test]
    fn a_path_selecting_a_number_is_an_error() {
        let extractors =
            [extractor(r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","paths":["$.spec.replicas"]}"#).unwrap()];
        let request = fixture_request("rollout.json");
        let err = Workload::from_request(&request, &extractors).unwrap_err();
        assert!(err.contains("selected a number at /spec/replicas"), "{err}");
    }

    #[test]
    fn bad_extractors_are_refused() {
        let cases = [
            (r#"{"apiVersion":"a/v1","kind":"K","paths":[]}"#, "at least one JSONPath"),
            (r#"{"apiVersion":"a/v1","kind":"K","paths":["spec.x"]}"#, "must start with '$'"),
            (r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec[?("]}"#, "not valid JSONPath"),
            (r#"{"apiVersion":"","kind":"K","paths":["$.a"]}"#, "must not be empty"),
            (r#"{"apiVersion":"a/v1","kind":"K","paths":["$.a"],"extra":1}"#, "unknown field `extra`"),
        ];
        for (json, why) in cases {
            let err = extractor(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn pointers_escape_names() {
        assert_eq!(to_json_pointer("$['a/b']['c~d'][3]").unwrap(), "/a~1b/c~0d/3");
        assert_eq!(pod_spec_around("/spec/template/spec/containers/2").as_deref(), Some("/spec/template/spec"));
        assert_eq!(pod_spec_around("/spec/sidecars/2"), None);
    }
}
