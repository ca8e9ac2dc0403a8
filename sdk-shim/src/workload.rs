//! Every container of every workload kind, each with the JSON pointer where it lives.
//!
//! | kind (group)                                                    | pod spec at                           |
//! |-----------------------------------------------------------------|---------------------------------------|
//! | Pod (core)                                                      | `/spec`                               |
//! | PodTemplate (core)                                              | `/template/spec`                      |
//! | ReplicationController (core), Deployment, ReplicaSet, StatefulSet, DaemonSet (apps), Job (batch) | `/spec/template/spec` |
//! | CronJob (batch)                                                 | `/spec/jobTemplate/spec/template/spec` |
//!
//! In each pod spec: `containers`, `initContainers` and `ephemeralContainers`. A request on the
//! `pods/ephemeralcontainers` subresource (how `kubectl debug` adds a container) only changes the
//! ephemeral containers, so only those are walked. Custom resources are walked through the
//! JSONPath extractors of [`crate::extract`]. DELETE, other subresources and kinds nobody names
//! have no containers, so they are accepted.

use crate::extract::ImageExtractor;
use crate::request::AdmissionRequest;
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Container,
    InitContainer,
    EphemeralContainer,
    /// Found by a custom-resource extractor.
    Custom,
}

impl ContainerKind {
    const FIELDS: [(&'static str, ContainerKind); 3] = [
        ("containers", ContainerKind::Container),
        ("initContainers", ContainerKind::InitContainer),
        ("ephemeralContainers", ContainerKind::EphemeralContainer),
    ];

    /// The kind of container a pod-spec list field holds.
    pub(crate) fn from_field(field: &str) -> Option<Self> {
        Self::FIELDS
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, kind)| *kind)
    }

    fn label(self) -> &'static str {
        match self {
            ContainerKind::Container | ContainerKind::Custom => "container",
            ContainerKind::InitContainer => "init container",
            ContainerKind::EphemeralContainer => "ephemeral container",
        }
    }
}

/// A pod spec inside the object, with its pointer.
#[derive(Debug, Clone)]
pub struct PodSpecRef<'a> {
    pub pointer: String,
    pub spec: &'a Value,
}

/// One container (or one image string found by an extractor).
#[derive(Debug, Clone)]
pub struct ContainerRef<'a> {
    /// Pointer to the container object, or to the image string for an image-only match.
    pub pointer: String,
    pub kind: ContainerKind,
    pub name: Option<&'a str>,
    /// The image as written; `None` when the field is missing or not a string.
    pub image: Option<&'a str>,
    pub pull_policy: Option<&'a str>,
    /// Index into [`Workload::pod_specs`] of the pod spec this container belongs to.
    pub pod_spec: Option<usize>,
    /// False when the pointer names the image string itself rather than a container object.
    is_object: bool,
}

impl ContainerRef<'_> {
    /// Where the image string lives.
    pub fn image_pointer(&self) -> String {
        if self.is_object {
            format!("{}/image", self.pointer)
        } else {
            self.pointer.clone()
        }
    }

    /// Where `imagePullPolicy` lives, when this is a container object.
    pub fn pull_policy_pointer(&self) -> Option<String> {
        self.is_object
            .then(|| format!("{}/imagePullPolicy", self.pointer))
    }
}

impl fmt::Display for ContainerRef<'_> {
    /// `init container 'setup' (/spec/template/spec/initContainers/0)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.name) {
            (_, Some(name)) => write!(f, "{} '{}' ({})", self.kind.label(), name, self.pointer),
            (ContainerKind::Custom, None) if !self.is_object => {
                write!(f, "image at {}", self.pointer)
            }
            (kind, None) => write!(f, "{} at {}", kind.label(), self.pointer),
        }
    }
}

/// Everything in a request that holds images.
#[derive(Debug, Default)]
pub struct Workload<'a> {
    pub pod_specs: Vec<PodSpecRef<'a>>,
    pub containers: Vec<ContainerRef<'a>>,
}

/// Where the pod spec of a built-in kind lives, by API group and kind.
fn pod_spec_pointer(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("", "Pod") => Some("/spec"),
        ("", "PodTemplate") => Some("/template/spec"),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

impl<'a> Workload<'a> {
    /// Finds every container in the request. An error means the request is malformed.
    pub fn from_request(
        request: &'a AdmissionRequest,
        extractors: &[ImageExtractor],
    ) -> Result<Self, String> {
        let mut workload = Workload::default();
        if matches!(request.operation.as_str(), "DELETE" | "CONNECT") {
            return Ok(workload);
        }
        let kind = &request.kind;
        let subresource = request.sub_resource.as_deref().unwrap_or("");
        if let Some(pointer) = pod_spec_pointer(&kind.group, &kind.kind) {
            let only_ephemeral = match subresource {
                "" => false,
                "ephemeralcontainers" if kind.kind == "Pod" => true,
                _ => return Ok(workload),
            };
            check_is_object(&request.object, "")?;
            // A missing spec has no containers; the API server rejects such an object itself.
            if let Some(spec) = request.object.pointer(pointer) {
                workload.add_pod_spec(pointer.to_string(), spec, only_ephemeral)?;
            }
            return Ok(workload);
        }
        let api_version = kind.api_version();
        let mut matched = false;
        for extractor in extractors
            .iter()
            .filter(|e| e.applies_to(&api_version, &kind.kind))
        {
            if !matched {
                check_is_object(&request.object, "")?;
                matched = true;
            }
            extractor.extract(&request.object, &mut workload)?;
        }
        Ok(workload)
    }

    fn add_pod_spec(
        &mut self,
        pointer: String,
        spec: &'a Value,
        only_ephemeral: bool,
    ) -> Result<(), String> {
        check_is_object(spec, &pointer)?;
        let index = self.pod_specs.len();
        for (field, kind) in ContainerKind::FIELDS {
            if only_ephemeral && kind != ContainerKind::EphemeralContainer {
                continue;
            }
            let list_pointer = format!("{pointer}/{field}");
            let Some(list) = spec.get(field) else {
                continue;
            };
            let list = match list {
                Value::Null => continue,
                Value::Array(list) => list,
                _ => return Err(format!("{list_pointer} must be a list of containers")),
            };
            for (i, container) in list.iter().enumerate() {
                self.add_container(format!("{list_pointer}/{i}"), container, kind, Some(index))?;
            }
        }
        self.pod_specs.push(PodSpecRef { pointer, spec });
        Ok(())
    }

    pub(crate) fn add_container(
        &mut self,
        pointer: String,
        container: &'a Value,
        kind: ContainerKind,
        pod_spec: Option<usize>,
    ) -> Result<(), String> {
        check_is_object(container, &pointer)?;
        let text = |field: &str| container.get(field).and_then(Value::as_str);
        self.containers.push(ContainerRef {
            pointer,
            kind,
            name: text("name"),
            image: text("image"),
            pull_policy: text("imagePullPolicy"),
            pod_spec,
            is_object: true,
        });
        Ok(())
    }

    pub(crate) fn add_image(&mut self, pointer: String, image: &'a str) {
        self.containers.push(ContainerRef {
            pointer,
            kind: ContainerKind::Custom,
            name: None,
            image: Some(image),
            pull_policy: None,
            pod_spec: None,
            is_object: false,
        });
    }

    /// Registers a pod spec found by an extractor (once), returning its index.
    pub(crate) fn pod_spec_index(&mut self, pointer: &str, spec: &'a Value) -> usize {
        match self.pod_specs.iter().position(|p| p.pointer == pointer) {
            Some(i) => i,
            None => {
                self.pod_specs.push(PodSpecRef {
                    pointer: pointer.to_string(),
                    spec,
                });
                self.pod_specs.len() - 1
            }
        }
    }

    /// The pod spec a container belongs to.
    pub fn pod_spec_of(&self, container: &ContainerRef) -> Option<&PodSpecRef<'a>> {
        container.pod_spec.map(|i| &self.pod_specs[i])
    }
}

fn check_is_object(value: &Value, pointer: &str) -> Result<(), String> {
    if value.is_object() {
        Ok(())
    } else {
        let at = if pointer.is_empty() {
            "the request object"
        } else {
            pointer
        };
        Err(format!(
            "{at} must be an object, found {}",
            type_name(value)
        ))
    }
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixture_request;

    /// (fixture, expected (pointer, kind, image))
    #[test]
    fn every_kind_and_container_kind_is_walked() {
        use ContainerKind::*;
        type Expected = &'static [(&'static str, ContainerKind, &'static str)];
        let cases: [(&str, Expected); 11] = [
            (
                "pod_all_container_kinds.json",
                &[
                    ("/spec/containers/0", Container, "nginx:1.25"),
                    ("/spec/containers/1", Container, "ghcr.io/acme/sidecar:2"),
                    ("/spec/initContainers/0", InitContainer, "busybox"),
                    (
                        "/spec/ephemeralContainers/0",
                        EphemeralContainer,
                        "busybox:1.36",
                    ),
                ],
            ),
            (
                "pod_ephemeral_subresource.json",
                &[(
                    "/spec/ephemeralContainers/0",
                    EphemeralContainer,
                    "busybox:latest",
                )],
            ),
            (
                "deployment_three_containers_one_init.json",
                &[
                    ("/spec/template/spec/containers/0", Container, "nginx:1.25"),
                    (
                        "/spec/template/spec/containers/1",
                        Container,
                        "ghcr.io/acme/api:main",
                    ),
                    ("/spec/template/spec/containers/2", Container, "redis"),
                    (
                        "/spec/template/spec/initContainers/0",
                        InitContainer,
                        "busybox:1.36",
                    ),
                ],
            ),
            (
                "replicaset.json",
                &[("/spec/template/spec/containers/0", Container, "nginx:1.25")],
            ),
            (
                "statefulset.json",
                &[("/spec/template/spec/containers/0", Container, "postgres:16")],
            ),
            (
                "daemonset.json",
                &[
                    (
                        "/spec/template/spec/containers/0",
                        Container,
                        "fluent/fluent-bit:3.0",
                    ),
                    (
                        "/spec/template/spec/initContainers/0",
                        InitContainer,
                        "busybox",
                    ),
                ],
            ),
            (
                "replicationcontroller.json",
                &[("/spec/template/spec/containers/0", Container, "nginx")],
            ),
            (
                "job.json",
                &[("/spec/template/spec/containers/0", Container, "perl:5.34")],
            ),
            (
                "cronjob_init_unpinned.json",
                &[
                    (
                        "/spec/jobTemplate/spec/template/spec/containers/0",
                        Container,
                        "busybox:1.36",
                    ),
                    (
                        "/spec/jobTemplate/spec/template/spec/initContainers/0",
                        InitContainer,
                        "alpine",
                    ),
                ],
            ),
            (
                "podtemplate.json",
                &[("/template/spec/containers/0", Container, "nginx:1.25")],
            ),
            ("pod_delete.json", &[]),
        ];
        for (fixture, expected) in cases {
            let request = fixture_request(fixture);
            let workload =
                Workload::from_request(&request, &[]).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            let found: Vec<(&str, ContainerKind, &str)> = workload
                .containers
                .iter()
                .map(|c| (c.pointer.as_str(), c.kind, c.image.unwrap_or("<none>")))
                .collect();
            assert_eq!(found, expected.to_vec(), "{fixture}");
            for container in &workload.containers {
                let spec = workload
                    .pod_spec_of(container)
                    .expect("built-in containers have a pod spec");
                assert!(container.pointer.starts_with(&spec.pointer), "{fixture}");
            }
        }
    }

    #[test]
    fn unknown_kinds_and_other_subresources_have_no_containers() {
        for fixture in [
            "unknown_kind.json",
            "pod_status_subresource.json",
            "deployment_other_group.json",
        ] {
            let request = fixture_request(fixture);
            let workload = Workload::from_request(&request, &[]).unwrap();
            assert!(workload.containers.is_empty(), "{fixture}");
        }
    }

    #[test]
    fn malformed_objects_are_errors() {
        let cases = [
            (
                "pod_containers_not_a_list.json",
                "/spec/containers must be a list of containers",
            ),
            (
                "pod_container_not_object.json",
                "/spec/containers/0 must be an object, found a string",
            ),
            (
                "pod_object_missing.json",
                "the request object must be an object, found null",
            ),
        ];
        for (fixture, expected) in cases {
            let request = fixture_request(fixture);
            let err = Workload::from_request(&request, &[]).unwrap_err();
            assert_eq!(err, expected, "{fixture}");
        }
    }

    #[test]
    fn containers_describe_themselves() {
        let request = fixture_request("pod_all_container_kinds.json");
        let workload = Workload::from_request(&request, &[]).unwrap();
        let names: Vec<String> = workload.containers.iter().map(|c| c.to_string()).collect();
        assert_eq!(names[0], "container 'web' (/spec/containers/0)");
        assert_eq!(names[2], "init container 'setup' (/spec/initContainers/0)");
        assert_eq!(
            names[3],
            "ephemeral container 'debugger' (/spec/ephemeralContainers/0)"
        );
        assert_eq!(
            workload.containers[0].image_pointer(),
            "/spec/containers/0/image"
        );
        assert_eq!(
            workload.containers[0].pull_policy_pointer().as_deref(),
            Some("/spec/containers/0/imagePullPolicy")
        );
        assert_eq!(workload.containers[0].pull_policy, Some("Always"));
    }
}
