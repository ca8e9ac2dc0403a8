//! Every image of every workload kind, each with the JSON pointer where it lives.
//!
//! | kind (group)                                                    | pod spec at                           |
//! |-----------------------------------------------------------------|---------------------------------------|
//! | Pod (core)                                                      | `/spec`                               |
//! | PodTemplate (core)                                              | `/template/spec`                      |
//! | ReplicationController (core), Deployment, ReplicaSet, StatefulSet, DaemonSet (apps), Job (batch) | `/spec/template/spec` |
//! | CronJob (batch)                                                 | `/spec/jobTemplate/spec/template/spec` |
//! | EphemeralContainers (core, Kubernetes up to 1.22)               | none: its `/ephemeralContainers` only |
//!
//! In each pod spec: `containers`, `initContainers`, `ephemeralContainers`, and the OCI image
//! volumes of Kubernetes 1.31+ (`volumes[].image.reference` with its own `pullPolicy`), which the
//! kubelet pulls like container images. A request on the `pods/ephemeralcontainers` subresource
//! (how `kubectl debug` adds a container) only changes the ephemeral containers, so only those are
//! walked. Custom resources are walked through the JSONPath extractors of [`crate::extract`]
//! (with the image volumes of every pod spec they find containers in). DELETE, other
//! subresources and kinds nobody names have no images, so they are accepted.
//!
//! On UPDATE, every image is compared with the same image in `oldObject` (same pod spec, same
//! kind, same name; by pointer when it has no name): one whose image and pull policy did not
//! change is marked [`ContainerRef::unchanged`], and the policies neither reject nor mutate it (see
//! [`crate::verdict`]): a controller's housekeeping on an old object must not be blocked, and a
//! label change must not restart containers.

use crate::extract::{type_name, ImageExtractor, Selected};
use crate::patch::Anchor;
use crate::request::AdmissionRequest;
use crate::view::{
    read_tree, ContainerReader, ContainerView, Object, ObjectSource, PodSpecAt, PodSpecReader,
    PodSpecView, Shape, Trees, VolumeView,
};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    Container,
    InitContainer,
    EphemeralContainer,
    /// An OCI image volume (`volumes[].image`).
    ImageVolume,
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
            ContainerKind::ImageVolume => "image volume",
        }
    }
}

/// A pod spec inside the object, with its pointer.
#[derive(Debug, Clone)]
pub struct PodSpecRef {
    pub pointer: String,
    /// The pod-level fields a rule reads, as written ([`crate::view::POD_FIELDS`]:
    /// `imagePullSecrets`, `serviceAccountName`, `serviceAccount`); nothing else is decoded.
    pub fields: Map<String, Value>,
    /// The same fields of the pod spec at the same pointer in `oldObject`, on UPDATE.
    pub old: Option<Map<String, Value>>,
}

/// One container, image volume, or image string found by an extractor.
#[derive(Debug, Clone)]
pub struct ContainerRef<'a> {
    /// Pointer to the container object (the volume's `image` object), or to the image string for
    /// an image-only match.
    pub pointer: String,
    pub kind: ContainerKind,
    pub name: Option<&'a str>,
    /// The image as written; `None` when the field is missing or not a string.
    pub image: Option<&'a str>,
    pub pull_policy: Option<&'a str>,
    /// Index into [`Workload::pod_specs`] of the pod spec this container belongs to.
    pub pod_spec: Option<usize>,
    /// On UPDATE: `oldObject` holds the same image with the same pull policy.
    pub unchanged: bool,
    /// False when the pointer names the image string itself rather than a container object.
    is_object: bool,
    /// The container object has no pull-policy member at all (not even a non-string one).
    pull_policy_absent: bool,
}

impl ContainerRef<'_> {
    /// Where the image string lives.
    pub fn image_pointer(&self) -> String {
        match (self.kind, self.is_object) {
            (ContainerKind::ImageVolume, _) => child(&self.pointer, "reference"),
            (_, true) => child(&self.pointer, "image"),
            (_, false) => self.pointer.clone(),
        }
    }

    /// Whether this has a pull policy: a container object or an image volume.
    pub fn has_pull_policy(&self) -> bool {
        self.kind == ContainerKind::ImageVolume || self.is_object
    }

    /// Where the pull policy lives, when this is a container object or an image volume.
    pub fn pull_policy_pointer(&self) -> Option<String> {
        match (self.kind, self.is_object) {
            (ContainerKind::ImageVolume, _) => Some(child(&self.pointer, "pullPolicy")),
            (_, true) => Some(child(&self.pointer, "imagePullPolicy")),
            (_, false) => None,
        }
    }

    /// Where a patch at `pointer` lands in the request's text, when it sets this image or its
    /// pull policy (see [`crate::patch::Anchor`]).
    pub fn anchor(&self, pointer: &str) -> Option<Anchor> {
        if pointer == self.image_pointer() {
            return self.image.map(Anchor::replace);
        }
        if Some(pointer) != self.pull_policy_pointer().as_deref() {
            return None;
        }
        match (self.pull_policy, self.pull_policy_absent, self.image) {
            (Some(policy), _, _) => Some(Anchor::replace(policy)),
            (None, true, Some(image)) => Some(Anchor::add_after(image, self.pull_policy_field())),
            _ => None,
        }
    }

    /// The name of the pull-policy field: `pullPolicy` for an image volume.
    pub fn pull_policy_field(&self) -> &'static str {
        match self.kind {
            ContainerKind::ImageVolume => "pullPolicy",
            _ => "imagePullPolicy",
        }
    }

    /// Which image of the old object this one is compared with on UPDATE.
    fn identity(&self, pod_specs: &[PodSpecRef]) -> String {
        match (self.name, self.pod_spec) {
            (Some(name), Some(spec)) => {
                format!("{}\0{:?}\0{name}", pod_specs[spec].pointer, self.kind)
            }
            _ => self.pointer.clone(),
        }
    }
}

impl ContainerRef<'_> {
    /// Appends what [`fmt::Display`] writes, piece by piece: every finding starts with it.
    pub fn write_label(&self, out: &mut String) {
        match (self.kind, self.name) {
            (kind, Some(name)) => {
                for piece in [kind.label(), " '", name, "' (", &self.pointer, ")"] {
                    out.push_str(piece);
                }
            }
            (ContainerKind::Custom, None) if !self.is_object => {
                out.push_str("image at ");
                out.push_str(&self.pointer);
            }
            (kind, None) => {
                for piece in [kind.label(), " at ", &self.pointer] {
                    out.push_str(piece);
                }
            }
        }
    }
}

impl fmt::Display for ContainerRef<'_> {
    /// `init container 'setup' (/spec/template/spec/initContainers/0)`,
    /// `image volume 'payload' (/spec/volumes/2/image)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut label = String::new();
        self.write_label(&mut label);
        f.write_str(&label)
    }
}

/// Everything in a request that holds images.
#[derive(Debug, Default)]
pub struct Workload<'a> {
    pub pod_specs: Vec<PodSpecRef>,
    pub containers: Vec<ContainerRef<'a>>,
    /// Pointers of `containers`, so that two extractor paths selecting one count once (only
    /// extractors can select a node twice, so only they keep it).
    seen: HashSet<String>,
    by_extractors: bool,
    /// Pointer -> index into `pod_specs`.
    pod_spec_indexes: HashMap<String, usize>,
}

/// `base/name`, a JSON pointer one level down (built for every container, so without `format!`).
fn child(base: &str, name: &str) -> String {
    let mut pointer = String::with_capacity(base.len() + 1 + name.len() + 16);
    pointer.push_str(base);
    pointer.push('/');
    pointer.push_str(name);
    pointer
}

/// `base/index`.
fn item(base: &str, index: usize) -> String {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = index;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut pointer = String::with_capacity(base.len() + 24);
    pointer.push_str(base);
    pointer.push('/');
    pointer.extend(digits[start..].iter().map(|&digit| char::from(digit)));
    pointer
}

/// Where the pod spec of a built-in kind lives, by API group and kind: its pointer, and the
/// same as object keys.
pub(crate) fn pod_spec_at(
    group: &str,
    kind: &str,
) -> Option<(&'static str, &'static [&'static str])> {
    match (group, kind) {
        ("", "Pod") => Some(("/spec", &["spec"])),
        ("", "PodTemplate") => Some(("/template/spec", &["template", "spec"])),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Some(("/spec/template/spec", &["spec", "template", "spec"])),
        ("batch", "CronJob") => Some((
            "/spec/jobTemplate/spec/template/spec",
            &["spec", "jobTemplate", "spec", "template", "spec"],
        )),
        _ => None,
    }
}

impl<'a> Workload<'a> {
    /// Finds every image in the request (and, on UPDATE, which ones `oldObject` already had).
    /// The objects are read from their text; `trees` keeps any tree that had to be parsed (for
    /// custom resources, or a string written with escapes). An error means the request's object
    /// is malformed.
    pub fn from_request(
        request: &'a AdmissionRequest<'a>,
        extractors: &[ImageExtractor],
        trees: &'a Trees<'a>,
    ) -> Result<Self, String> {
        let mut workload = Self::walk(request, request.object(trees), extractors)?;
        let has_old = !matches!(request.old_object, ObjectSource::Missing);
        if request.operation == "UPDATE" && has_old {
            // The old object is what the API server stored; if it cannot be walked, the update
            // is judged in full, as a request without oldObject is.
            if let Ok(old) = Self::walk(request, request.old_object(trees), extractors) {
                workload.compare_with(old);
            }
        }
        Ok(workload)
    }

    fn walk(
        request: &AdmissionRequest,
        object: Object<'a>,
        extractors: &[ImageExtractor],
    ) -> Result<Self, String> {
        let mut workload = Workload::default();
        if matches!(request.operation.as_str(), "DELETE" | "CONNECT") {
            return Ok(workload);
        }
        let kind = &request.kind;
        let subresource = request.sub_resource.as_deref().unwrap_or("");
        if let Some((pointer, path)) = pod_spec_at(&kind.group, &kind.kind) {
            let only_ephemeral = match subresource {
                "" => false,
                "ephemeralcontainers" if kind.kind == "Pod" => true,
                _ => return Ok(workload),
            };
            let root = object.root(path)?;
            // A missing spec has no containers; the API server rejects such an object itself.
            if let Some(spec) = &is_object(root.as_ref(), "")?.pod_spec {
                workload.add_pod_spec(pointer.to_string(), spec, only_ephemeral)?;
            }
            return Ok(workload);
        }
        if (kind.group.as_str(), kind.kind.as_str()) == ("", "EphemeralContainers") {
            // The legacy pods/ephemeralcontainers body: the list alone, no pod spec.
            let root = object.read(PodSpecAt(&[]))?;
            if let Some(Shape::Is(body)) = is_object(&root, "")? {
                workload.add_list(
                    "",
                    "ephemeralContainers",
                    ContainerKind::EphemeralContainer,
                    body.lists[2].as_ref(),
                    None,
                )?;
            }
            return Ok(workload);
        }
        let api_version = kind.api_version();
        let mut matched = false;
        for extractor in extractors
            .iter()
            .filter(|e| e.applies_to(&api_version, &kind.kind))
        {
            // JSONPath selects in the object's tree.
            let tree = object.tree()?;
            if !matched {
                check_is_object(tree, "")?;
                matched = true;
                workload.by_extractors = true;
            }
            for selected in extractor.select(tree)? {
                workload.add_selected(tree, selected)?;
            }
        }
        Ok(workload)
    }

    /// Marks what `old` already had, and links each pod spec to its old self.
    fn compare_with(&mut self, mut old: Workload<'a>) {
        let before: HashMap<String, (Option<&str>, Option<&str>)> = old
            .containers
            .iter()
            .map(|c| (c.identity(&old.pod_specs), (c.image, c.pull_policy)))
            .collect();
        for container in &mut self.containers {
            let identity = container.identity(&self.pod_specs);
            container.unchanged = container.image.is_some()
                && before.get(&identity) == Some(&(container.image, container.pull_policy));
        }
        for spec in &mut self.pod_specs {
            spec.old = old
                .pod_spec_indexes
                .get(&spec.pointer)
                .map(|&i| std::mem::take(&mut old.pod_specs[i].fields));
        }
    }

    fn add_pod_spec(
        &mut self,
        pointer: String,
        spec: &Shape<PodSpecView<'a>>,
        only_ephemeral: bool,
    ) -> Result<(), String> {
        let spec = is_object(spec, &pointer)?;
        let index = self.register_pod_spec(&pointer, spec.fields.clone());
        for ((field, kind), list) in ContainerKind::FIELDS.into_iter().zip(&spec.lists) {
            if only_ephemeral && kind != ContainerKind::EphemeralContainer {
                continue;
            }
            self.add_list(&pointer, field, kind, list.as_ref(), Some(index))?;
        }
        if !only_ephemeral {
            self.add_image_volumes(&pointer, spec.volumes.as_ref(), index)?;
        }
        Ok(())
    }

    /// Adds every container of the list `field` of the object at `pointer`.
    fn add_list(
        &mut self,
        pointer: &str,
        field: &str,
        kind: ContainerKind,
        list: Option<&Shape<Vec<Shape<ContainerView<'a>>>>>,
        pod_spec: Option<usize>,
    ) -> Result<(), String> {
        let list = match list {
            None | Some(Shape::Null) => return Ok(()),
            Some(Shape::Is(list)) => list,
            Some(Shape::Not(_)) => {
                return Err(format!("{pointer}/{field} must be a list of containers"))
            }
        };
        let list_pointer = child(pointer, field);
        self.containers.reserve(list.len());
        for (i, container) in list.iter().enumerate() {
            self.add_container(item(&list_pointer, i), container, kind, pod_spec)?;
        }
        Ok(())
    }

    /// `volumes[].image`: the OCI image volumes of a pod spec.
    fn add_image_volumes(
        &mut self,
        spec_pointer: &str,
        volumes: Option<&Shape<Vec<Shape<VolumeView<'a>>>>>,
        index: usize,
    ) -> Result<(), String> {
        let volumes = match volumes {
            None | Some(Shape::Null) => return Ok(()),
            Some(Shape::Is(volumes)) => volumes,
            Some(Shape::Not(_)) => {
                return Err(format!("{spec_pointer}/volumes must be a list of volumes"))
            }
        };
        for (i, volume) in volumes.iter().enumerate() {
            let at = || item(&child(spec_pointer, "volumes"), i);
            let volume = match volume {
                Shape::Is(volume) => volume,
                other => return Err(must_be_object(&at(), other)),
            };
            let image = match &volume.image {
                None | Some(Shape::Null) => continue,
                Some(image) => is_object(image, &child(&at(), "image"))?,
            };
            self.push(ContainerRef {
                pointer: child(&at(), "image"),
                kind: ContainerKind::ImageVolume,
                name: volume.name,
                image: image.image,
                pull_policy: image.pull_policy,
                pod_spec: Some(index),
                unchanged: false,
                is_object: true,
                pull_policy_absent: image.pull_policy_absent,
            });
        }
        Ok(())
    }

    fn add_container(
        &mut self,
        pointer: String,
        container: &Shape<ContainerView<'a>>,
        kind: ContainerKind,
        pod_spec: Option<usize>,
    ) -> Result<(), String> {
        let container = *is_object(container, &pointer)?;
        self.push(ContainerRef {
            pointer,
            kind,
            name: container.name,
            image: container.image,
            pull_policy: container.pull_policy,
            pod_spec,
            unchanged: false,
            is_object: true,
            pull_policy_absent: container.pull_policy_absent,
        });
        Ok(())
    }

    fn add_image(&mut self, pointer: String, image: &'a str) {
        self.push(ContainerRef {
            pointer,
            kind: ContainerKind::Custom,
            name: None,
            image: Some(image),
            pull_policy: None,
            pod_spec: None,
            unchanged: false,
            is_object: false,
            pull_policy_absent: false,
        });
    }

    fn push(&mut self, container: ContainerRef<'a>) {
        if self.by_extractors {
            self.seen.insert(container.pointer.clone());
        }
        self.containers.push(container);
    }

    /// Adds what an extractor selected, once (two paths selecting the same node count once).
    fn add_selected(&mut self, tree: &'a Value, selected: Selected<'a>) -> Result<(), String> {
        match selected {
            Selected::Image(pointer, _) | Selected::Container(pointer, _)
                if self.seen.contains(&pointer) => {}
            Selected::Image(pointer, image) => self.add_image(pointer, image),
            Selected::Container(pointer, container) => {
                // A container in a `containers`-like list belongs to the pod spec holding it.
                let pod_spec = match pod_spec_around(&pointer)
                    .and_then(|at| tree.pointer(&at).map(|spec| (at, spec)))
                {
                    Some((at, spec)) => Some(self.pod_spec_index(&at, spec)?),
                    None => None,
                };
                let kind = container_kind_at(&pointer);
                let container = read_tree(container, ContainerReader::CONTAINER);
                self.add_container(pointer, &container, kind, pod_spec)?;
            }
        }
        Ok(())
    }

    fn register_pod_spec(&mut self, pointer: &str, fields: Map<String, Value>) -> usize {
        let index = self.pod_specs.len();
        self.pod_spec_indexes.insert(pointer.to_string(), index);
        self.pod_specs.push(PodSpecRef {
            pointer: pointer.to_string(),
            fields,
            old: None,
        });
        index
    }

    /// Registers a pod spec found by an extractor (once, with its image volumes), returning its
    /// index.
    fn pod_spec_index(&mut self, pointer: &str, spec: &'a Value) -> Result<usize, String> {
        if let Some(&index) = self.pod_spec_indexes.get(pointer) {
            return Ok(index);
        }
        let Shape::Is(spec) = read_tree(spec, PodSpecReader) else {
            return Ok(self.register_pod_spec(pointer, Map::new()));
        };
        let index = self.register_pod_spec(pointer, spec.fields);
        self.add_image_volumes(pointer, spec.volumes.as_ref(), index)?;
        Ok(index)
    }

    /// The pod spec a container belongs to.
    pub fn pod_spec_of(&self, container: &ContainerRef) -> Option<&PodSpecRef> {
        container.pod_spec.map(|i| &self.pod_specs[i])
    }
}

fn is_object<'s, T>(shape: &'s Shape<T>, pointer: &str) -> Result<&'s T, String> {
    match shape {
        Shape::Is(value) => Ok(value),
        other => Err(must_be_object(pointer, other)),
    }
}

fn must_be_object<T>(pointer: &str, found: &Shape<T>) -> String {
    let at = if pointer.is_empty() {
        "the request object"
    } else {
        pointer
    };
    format!("{at} must be an object, found {}", found.found())
}

fn check_is_object(value: &Value, pointer: &str) -> Result<(), String> {
    match value {
        Value::Object(_) => Ok(()),
        Value::Null => Err(must_be_object::<()>(pointer, &Shape::Null)),
        other => Err(must_be_object::<()>(pointer, &Shape::Not(type_name(other)))),
    }
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
mod pointer_tests {
    use super::{child, item, ContainerKind, ContainerRef};

    /// (kind, is a container object, has a pull policy): the same as having its pointer.
    #[test]
    fn a_pull_policy_is_where_its_pointer_is() {
        let cases = [
            (ContainerKind::Container, true, true),
            (ContainerKind::ImageVolume, true, true),
            (ContainerKind::ImageVolume, false, true),
            (ContainerKind::Custom, true, true),
            (ContainerKind::Custom, false, false),
        ];
        for (kind, is_object, has) in cases {
            let container = ContainerRef {
                pointer: "/spec/x".to_string(),
                kind,
                name: None,
                image: None,
                pull_policy: None,
                pod_spec: None,
                unchanged: false,
                is_object,
                pull_policy_absent: true,
            };
            assert_eq!(container.has_pull_policy(), has, "{kind:?} {is_object}");
            assert_eq!(container.pull_policy_pointer().is_some(), has);
        }
    }

    #[test]
    fn pointers_are_joined_as_format_would() {
        for index in [0, 7, 9, 10, 99, 100, 12345, usize::MAX] {
            assert_eq!(
                item("/spec/containers", index),
                format!("/spec/containers/{index}")
            );
        }
        assert_eq!(item("", 3), "/3");
        assert_eq!(
            child("/spec/containers/0", "image"),
            "/spec/containers/0/image"
        );
        assert_eq!(child("", "ephemeralContainers"), "/ephemeralContainers");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixture_request, raw};

    fn walk<'a>(
        request: &'a AdmissionRequest<'a>,
        extractors: &[ImageExtractor],
    ) -> Result<Workload<'a>, String> {
        Workload::from_request(request, extractors, Box::leak(Box::default()))
    }

    fn object(value: Value) -> ObjectSource<'static> {
        ObjectSource::Text(raw(value))
    }

    /// (fixture, expected (pointer, kind, image))
    #[test]
    fn every_kind_and_container_kind_is_walked() {
        use ContainerKind::*;
        type Expected = &'static [(&'static str, ContainerKind, &'static str)];
        let cases: [(&str, Expected); 14] = [
            (
                "pod_image_volumes.json",
                &[
                    ("/spec/containers/0", Container, "nginx:1.25"),
                    (
                        "/spec/volumes/2/image",
                        ImageVolume,
                        "ghcr.io/acme/payload:1",
                    ),
                    ("/spec/volumes/3/image", ImageVolume, "ghcr.io/acme/models"),
                ],
            ),
            (
                "deployment_image_volumes.json",
                &[
                    ("/spec/template/spec/containers/0", Container, "nginx:1.25"),
                    (
                        "/spec/template/spec/volumes/2/image",
                        ImageVolume,
                        "ghcr.io/acme/payload:1",
                    ),
                    (
                        "/spec/template/spec/volumes/3/image",
                        ImageVolume,
                        "ghcr.io/acme/models",
                    ),
                ],
            ),
            (
                "ephemeral_legacy_kind.json",
                &[("/ephemeralContainers/0", EphemeralContainer, "busybox:1.36")],
            ),
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
            let workload = walk(&request, &[]).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            let found: Vec<(&str, ContainerKind, &str)> = workload
                .containers
                .iter()
                .map(|c| (c.pointer.as_str(), c.kind, c.image.unwrap_or("<none>")))
                .collect();
            assert_eq!(found, expected.to_vec(), "{fixture}");
            for container in &workload.containers {
                if fixture == "ephemeral_legacy_kind.json" {
                    assert!(workload.pod_spec_of(container).is_none());
                    continue;
                }
                let spec = workload
                    .pod_spec_of(container)
                    .expect("built-in containers have a pod spec");
                assert!(container.pointer.starts_with(&spec.pointer), "{fixture}");
                assert!(!container.unchanged, "{fixture}: CREATE changes everything");
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
            let workload = walk(&request, &[]).unwrap();
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
            (
                "pod_image_volume_not_object.json",
                "/spec/volumes/2/image must be an object, found a string",
            ),
        ];
        for (fixture, expected) in cases {
            let request = fixture_request(fixture);
            let err = walk(&request, &[]).unwrap_err();
            assert_eq!(err, expected, "{fixture}");
        }
    }

    #[test]
    fn image_volumes_describe_themselves() {
        let request = fixture_request("pod_image_volumes.json");
        let workload = walk(&request, &[]).unwrap();
        let payload = &workload.containers[1];
        assert_eq!(
            payload.to_string(),
            "image volume 'payload' (/spec/volumes/2/image)"
        );
        assert_eq!(payload.image_pointer(), "/spec/volumes/2/image/reference");
        assert_eq!(
            payload.pull_policy_pointer().as_deref(),
            Some("/spec/volumes/2/image/pullPolicy")
        );
        assert_eq!(payload.pull_policy, Some("IfNotPresent"));
        assert_eq!(workload.containers[2].pull_policy, None);
    }

    /// (fixture, expected (pointer, unchanged))
    #[test]
    fn update_marks_what_the_old_object_already_had() {
        type Expected = &'static [(&'static str, bool)];
        let cases: [(&str, Expected); 2] = [
            (
                "pod_update_sidecar_image.json",
                &[
                    ("/spec/containers/0", true),
                    ("/spec/containers/1", false),
                    ("/spec/volumes/2/image", true),
                    ("/spec/volumes/3/image", true),
                ],
            ),
            (
                // Containers reordered (matched by name); 'api' changes its pull policy.
                "deployment_update_reordered.json",
                &[
                    ("/spec/template/spec/containers/0", false),
                    ("/spec/template/spec/containers/1", true),
                    ("/spec/template/spec/volumes/2/image", true),
                    ("/spec/template/spec/volumes/3/image", true),
                ],
            ),
        ];
        for (fixture, expected) in cases {
            let request = fixture_request(fixture);
            let workload = walk(&request, &[]).unwrap();
            let found: Vec<(&str, bool)> = workload
                .containers
                .iter()
                .map(|c| (c.pointer.as_str(), c.unchanged))
                .collect();
            assert_eq!(found, expected.to_vec(), "{fixture}");
            assert!(workload.pod_specs[0].old.is_some(), "{fixture}");
        }
        // Without oldObject, or on CREATE, everything is judged.
        let mut request = fixture_request("pod_update_sidecar_image.json");
        request.old_object = ObjectSource::Missing;
        let workload = walk(&request, &[]).unwrap();
        assert!(workload.containers.iter().all(|c| !c.unchanged));
        let mut request = fixture_request("pod_update_sidecar_image.json");
        request.operation = "CREATE".into();
        let workload = walk(&request, &[]).unwrap();
        assert!(workload.containers.iter().all(|c| !c.unchanged));
    }

    #[test]
    fn containers_describe_themselves() {
        let request = fixture_request("pod_all_container_kinds.json");
        let workload = walk(&request, &[]).unwrap();
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

    // Custom resources, walked through the settings' extractors.

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
        let workload = walk(&request, &extractors).unwrap();
        let found: Vec<(&str, ContainerKind, &str, Option<String>)> = workload
            .containers
            .iter()
            .map(|c| {
                (
                    c.pointer.as_str(),
                    c.kind,
                    c.image.unwrap(),
                    c.pull_policy_pointer(),
                )
            })
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
                (
                    "/spec/analysisImage",
                    ContainerKind::Custom,
                    "ghcr.io/acme/analysis:1",
                    None
                ),
            ]
        );
        assert_eq!(workload.pod_specs.len(), 1);
        assert_eq!(workload.pod_specs[0].pointer, "/spec/template/spec");
        assert_eq!(
            workload.containers[2].to_string(),
            "image at /spec/analysisImage"
        );
        assert!(workload.pod_spec_of(&workload.containers[2]).is_none());
    }

    #[test]
    fn pod_specs_found_by_extractors_bring_their_image_volumes() {
        let extractors = [extractor(
            r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout",
                "paths":["$.spec.template.spec.containers[*]","$.spec.template.spec.initContainers[*]"]}"#,
        )
        .unwrap()];
        let request = fixture_request("rollout_image_volume.json");
        let workload = walk(&request, &extractors).unwrap();
        let volumes: Vec<String> = workload
            .containers
            .iter()
            .filter(|c| c.kind == ContainerKind::ImageVolume)
            .map(|c| format!("{c} {}", c.image_pointer()))
            .collect();
        assert_eq!(
            volumes,
            vec!["image volume 'models' (/spec/template/spec/volumes/0/image) /spec/template/spec/volumes/0/image/reference"]
        );
        // Once, although two containers of that pod spec were found.
        assert_eq!(workload.pod_specs.len(), 1);
    }

    #[test]
    fn a_custom_resource_that_is_no_object_is_malformed() {
        let extractors = [extractor(
            r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","paths":["$.spec.x"]}"#,
        )
        .unwrap()];
        let mut request = fixture_request("rollout.json");
        request.object = object(serde_json::json!(["not", "an", "object"]));
        let err = walk(&request, &extractors).unwrap_err();
        assert_eq!(err, "the request object must be an object, found a list");
    }

    #[test]
    fn extractors_for_another_kind_do_nothing() {
        let extractors = [extractor(
            r#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","paths":["$.spec.x"]}"#,
        )
        .unwrap()];
        let request = fixture_request("rollout.json");
        assert!(walk(&request, &extractors).unwrap().containers.is_empty());
    }

    #[test]
    fn a_path_selecting_a_number_is_an_error() {
        let extractors = [extractor(
            r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","paths":["$.spec.replicas"]}"#,
        )
        .unwrap()];
        let request = fixture_request("rollout.json");
        let err = walk(&request, &extractors).unwrap_err();
        assert!(err.contains("selected a number at /spec/replicas"), "{err}");
    }

    #[test]
    fn containers_of_a_pod_spec_list_belong_to_it() {
        assert_eq!(
            pod_spec_around("/spec/template/spec/containers/2").as_deref(),
            Some("/spec/template/spec")
        );
        assert_eq!(pod_spec_around("/spec/sidecars/2"), None);
        assert_eq!(pod_spec_around("/spec/containers/x"), None);
        assert_eq!(
            container_kind_at("/spec/initContainers/0"),
            ContainerKind::InitContainer
        );
        assert_eq!(container_kind_at("/spec/sidecars/0"), ContainerKind::Custom);
    }

    #[test]
    fn pull_policy_fields_are_named_by_kind() {
        let request = fixture_request("pod_image_volumes.json");
        let workload = walk(&request, &[]).unwrap();
        let fields: Vec<(ContainerKind, &str)> = workload
            .containers
            .iter()
            .map(|c| (c.kind, c.pull_policy_field()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (ContainerKind::Container, "imagePullPolicy"),
                (ContainerKind::ImageVolume, "pullPolicy"),
                (ContainerKind::ImageVolume, "pullPolicy"),
            ]
        );
    }

    #[test]
    fn only_pods_have_the_ephemeralcontainers_subresource() {
        let mut request = fixture_request("deployment_three_containers_one_init.json");
        request.sub_resource = Some("ephemeralcontainers".into());
        let mut tree = request.object.text_tree();
        tree["spec"]["template"]["spec"]["ephemeralContainers"] =
            serde_json::json!([{"name": "debugger", "image": "busybox"}]);
        request.object = object(tree);
        let workload = walk(&request, &[]).unwrap();
        assert!(workload.containers.is_empty());
    }

    /// Containers without a name describe themselves by pointer.
    #[test]
    fn unnamed_containers_describe_themselves_by_pointer() {
        let extractors = [extractor(
            r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout",
                "paths":["$.spec.sidecars[*]","$.spec.template.spec.initContainers[*]","$.spec.analysisImage"]}"#,
        )
        .unwrap()];
        let mut request = fixture_request("rollout.json");
        request.object = object(serde_json::json!({
            "spec": {
                "sidecars": [{"image": "ghcr.io/acme/sidecar:1"}],
                "template": {"spec": {"initContainers": [{"image": "busybox"}]}},
                "analysisImage": "ghcr.io/acme/analysis:1"
            }
        }));
        let workload = walk(&request, &extractors).unwrap();
        let names: Vec<String> = workload.containers.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            names,
            vec![
                "container at /spec/sidecars/0",
                "init container at /spec/template/spec/initContainers/0",
                "image at /spec/analysisImage",
            ]
        );
    }

    /// A custom resource with two pod templates: each container belongs to its own pod spec.
    #[test]
    fn containers_of_two_pod_specs_belong_to_their_own() {
        let extractors = [extractor(
            r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout",
                "paths":["$.spec.*.spec.containers[*]"]}"#,
        )
        .unwrap()];
        let mut request = fixture_request("rollout.json");
        request.object = object(serde_json::json!({
            "spec": {
                "blue": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}},
                "green": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}
            }
        }));
        let workload = walk(&request, &extractors).unwrap();
        let found: Vec<(&str, &str)> = workload
            .containers
            .iter()
            .map(|c| {
                (
                    c.pointer.as_str(),
                    workload.pod_spec_of(c).unwrap().pointer.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                ("/spec/blue/spec/containers/0", "/spec/blue/spec"),
                ("/spec/green/spec/containers/0", "/spec/green/spec"),
            ]
        );
    }
}
