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
//!
//! Paths use the JSONPath syntax of RFC 9535, without filters:
//!
//! ```text
//! path     := "$" segment*
//! segment  := ".." ( name | "*" | bracket ) | "." ( name | "*" ) | bracket
//! name     := [A-Za-z_] [A-Za-z0-9_-]*
//! bracket  := "[" selector ( "," selector )* "]"
//! selector := 'quoted' | "quoted" | "*" | index | [start] ":" [end] [ ":" [step] ]
//! ```
//!
//! Filter expressions (`[?…]`) are refused when the settings are validated. The grammar is parsed
//! here rather than with `jsonpath-rust`, whose parser alone added 167 KB to every `.wasm`.

use crate::workload::{type_name, ContainerKind, Workload};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawExtractor")]
pub struct ImageExtractor {
    pub api_version: String,
    pub kind: String,
    paths: Vec<(String, Vec<Segment>)>,
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
            return Err(format!(
                "paths for {}/{} must list at least one JSONPath",
                raw.api_version, raw.kind
            ));
        }
        let mut paths = Vec::with_capacity(raw.paths.len());
        for path in raw.paths {
            let segments = parse_path(&path)
                .map_err(|e| format!("path '{path}' is not valid JSONPath: {e}"))?;
            paths.push((path, segments));
        }
        Ok(ImageExtractor {
            api_version: raw.api_version,
            kind: raw.kind,
            paths,
        })
    }
}

impl ImageExtractor {
    pub fn applies_to(&self, api_version: &str, kind: &str) -> bool {
        self.api_version == api_version && self.kind == kind
    }

    /// Adds every container or image the paths select in `object` to `workload`.
    pub(crate) fn extract<'a>(
        &self,
        object: &'a Value,
        workload: &mut Workload<'a>,
    ) -> Result<(), String> {
        for (path, segments) in &self.paths {
            let mut found = Vec::new();
            select(segments, object, String::new(), &mut found);
            for (pointer, value) in found {
                if workload.containers.iter().any(|c| c.pointer == pointer) {
                    continue; // two paths selecting the same container count once
                }
                match value {
                    Value::String(image) => workload.add_image(pointer, image),
                    Value::Object(_) => {
                        let pod_spec = pod_spec_around(&pointer)
                            .and_then(|spec_ptr| object.pointer(&spec_ptr).map(|spec| (spec_ptr, spec)))
                            .map(|(spec_ptr, spec)| workload.pod_spec_index(&spec_ptr, spec));
                        let kind = container_kind_at(&pointer);
                        workload.add_container(pointer, value, kind, pod_spec)?;
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

/// One step of a path: its selectors, applied to the node or (descendant) to every node below it.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    descendant: bool,
    selectors: Vec<Selector>,
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Wildcard,
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
}

/// Parses a path of the grammar above.
fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut rest = path.strip_prefix('$').ok_or("it must start with '$'")?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let (descendant, after) = match rest.strip_prefix("..") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let (selectors, after) = if let Some(inner) = after.strip_prefix('[') {
            parse_bracket(inner)?
        } else if let Some(after_dot) = after.strip_prefix('.').or(descendant.then_some(after)) {
            if let Some(after_star) = after_dot.strip_prefix('*') {
                (vec![Selector::Wildcard], after_star)
            } else {
                let (name, after_name) = parse_name(after_dot)?;
                (vec![Selector::Name(name.to_string())], after_name)
            }
        } else {
            return Err(format!("unexpected '{after}'"));
        };
        segments.push(Segment {
            descendant,
            selectors,
        });
        rest = after;
    }
    Ok(segments)
}

fn parse_name(text: &str) -> Result<(&str, &str), String> {
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || (i > 0 && (c.is_ascii_digit() || c == '-')))
        })
        .map_or(text.len(), |(i, _)| i);
    if end == 0 {
        return Err(format!("expected a member name at '{text}'"));
    }
    Ok(text.split_at(end))
}

/// Parses the inside of `[...]`, returning the selectors and what follows `]`.
fn parse_bracket(mut text: &str) -> Result<(Vec<Selector>, &str), String> {
    let mut selectors = Vec::new();
    loop {
        text = text.trim_start();
        let (selector, after) = parse_selector(text)?;
        selectors.push(selector);
        let after = after.trim_start();
        if let Some(after) = after.strip_prefix(',') {
            text = after;
        } else if let Some(after) = after.strip_prefix(']') {
            return Ok((selectors, after));
        } else {
            return Err(format!("expected ',' or ']' at '{after}'"));
        }
    }
}

fn parse_selector(text: &str) -> Result<(Selector, &str), String> {
    if text.starts_with('?') {
        return Err("filter expressions ([?...]) are not supported".to_string());
    }
    if let Some(after) = text.strip_prefix('*') {
        return Ok((Selector::Wildcard, after));
    }
    if let Some(quote) = text.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let mut name = String::new();
        let mut chars = text[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => name.push(escaped),
                    None => break,
                },
                c if c == quote => return Ok((Selector::Name(name), &text[1 + i + 1..])),
                c => name.push(c),
            }
        }
        return Err(format!("unterminated string at '{text}'"));
    }
    // index or slice: numbers separated by ':'
    let end = text.find([',', ']']).unwrap_or(text.len());
    let (body, after) = text.split_at(end);
    let parts: Vec<&str> = body.split(':').map(str::trim).collect();
    let number = |s: &str| -> Result<Option<i64>, String> {
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse()
                .map(Some)
                .map_err(|_| format!("'{s}' is not an integer"))
        }
    };
    match parts.as_slice() {
        [index] => Ok((
            Selector::Index(number(index)?.ok_or("empty selector")?),
            after,
        )),
        [start, end] => Ok((Selector::Slice(number(start)?, number(end)?, None), after)),
        [start, end, step] => Ok((
            Selector::Slice(number(start)?, number(end)?, number(step)?),
            after,
        )),
        _ => Err(format!("'{body}' is not a selector")),
    }
}

/// Collects `(JSON pointer, value)` for every node the segments select, in document order.
fn select<'a>(
    segments: &[Segment],
    value: &'a Value,
    pointer: String,
    out: &mut Vec<(String, &'a Value)>,
) {
    let Some((segment, rest)) = segments.split_first() else {
        out.push((pointer, value));
        return;
    };
    let mut nodes = Vec::new();
    if segment.descendant {
        descendants(value, pointer, &mut nodes);
    } else {
        nodes.push((pointer, value));
    }
    for (node_pointer, node) in nodes {
        for selector in &segment.selectors {
            for (child_pointer, child) in apply(selector, node, &node_pointer) {
                select(rest, child, child_pointer, out);
            }
        }
    }
}

fn descendants<'a>(value: &'a Value, pointer: String, out: &mut Vec<(String, &'a Value)>) {
    out.push((pointer.clone(), value));
    for (child_pointer, child) in children(value, &pointer) {
        descendants(child, child_pointer, out);
    }
}

fn children<'a>(value: &'a Value, pointer: &str) -> Vec<(String, &'a Value)> {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (child_pointer(pointer, k), v))
            .collect(),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{pointer}/{i}"), v))
            .collect(),
        _ => Vec::new(),
    }
}

fn child_pointer(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn apply<'a>(selector: &Selector, value: &'a Value, pointer: &str) -> Vec<(String, &'a Value)> {
    match (selector, value) {
        (Selector::Name(name), Value::Object(map)) => map
            .get(name)
            .map(|v| (child_pointer(pointer, name), v))
            .into_iter()
            .collect(),
        (Selector::Wildcard, _) => children(value, pointer),
        (Selector::Index(i), Value::Array(list)) => {
            let index = if *i < 0 { list.len() as i64 + i } else { *i };
            usize::try_from(index)
                .ok()
                .and_then(|i| list.get(i).map(|v| (format!("{pointer}/{i}"), v)))
                .into_iter()
                .collect()
        }
        (Selector::Slice(start, end, step), Value::Array(list)) => {
            let len = list.len() as i64;
            let step = step.unwrap_or(1);
            if step <= 0 {
                return Vec::new(); // reverse slices select nothing useful for images
            }
            let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
            let (start, end) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
            (start..end)
                .step_by(step as usize)
                .map(|i| (format!("{pointer}/{i}"), &list[i as usize]))
                .collect()
        }
        _ => Vec::new(),
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
    fn extractors_for_another_kind_do_nothing() {
        let extractors = [extractor(
            r#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","paths":["$.spec.x"]}"#,
        )
        .unwrap()];
        let request = fixture_request("rollout.json");
        assert!(Workload::from_request(&request, &extractors)
            .unwrap()
            .containers
            .is_empty());
    }

    #[test]
    fn a_path_selecting_a_number_is_an_error() {
        let extractors = [extractor(
            r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","paths":["$.spec.replicas"]}"#,
        )
        .unwrap()];
        let request = fixture_request("rollout.json");
        let err = Workload::from_request(&request, &extractors).unwrap_err();
        assert!(err.contains("selected a number at /spec/replicas"), "{err}");
    }

    #[test]
    fn bad_extractors_are_refused() {
        let cases = [
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":[]}"#,
                "at least one JSONPath",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["spec.x"]}"#,
                "must start with '$'",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec["]}"#,
                "not valid JSONPath",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec[1"]}"#,
                "expected ',' or ']'",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec['x]"]}"#,
                "unterminated string",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec[a]"]}"#,
                "'a' is not an integer",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$spec"]}"#,
                "unexpected 'spec'",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec.containers[?@.name=='a']"]}"#,
                "filter expressions",
            ),
            (
                r#"{"apiVersion":"","kind":"K","paths":["$.a"]}"#,
                "must not be empty",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.a"],"extra":1}"#,
                "unknown field `extra`",
            ),
        ];
        for (json, why) in cases {
            let err = extractor(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn selectors_give_pointers() {
        let doc = serde_json::json!({"a/b": {"c~d": [10, 11, 12, 13]}, "list": [{"x": 1}, {"x": 2}], "deep": {"x": 3}});
        let cases: [(&str, &[&str]); 10] = [
            (
                "$[\"a/b\"]['c~d'][ 0 , 2 ]",
                &["/a~1b/c~0d/0", "/a~1b/c~0d/2"],
            ),
            ("$['a/b']['c~d'][::2]", &["/a~1b/c~0d/0", "/a~1b/c~0d/2"]),
            ("$..list[*].x", &["/list/0/x", "/list/1/x"]),
            ("$['a/b']['c~d'][3]", &["/a~1b/c~0d/3"]),
            ("$['a/b']['c~d'][-1]", &["/a~1b/c~0d/3"]),
            ("$['a/b']['c~d'][1:3]", &["/a~1b/c~0d/1", "/a~1b/c~0d/2"]),
            ("$.list[*].x", &["/list/0/x", "/list/1/x"]),
            ("$.list[0,1].x", &["/list/0/x", "/list/1/x"]),
            ("$..x", &["/deep/x", "/list/0/x", "/list/1/x"]),
            ("$.missing[*]", &[]),
        ];
        for (path, expected) in cases {
            let segments = parse_path(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let mut found = Vec::new();
            select(&segments, &doc, String::new(), &mut found);
            let mut pointers: Vec<String> = found.into_iter().map(|(p, _)| p).collect();
            pointers.sort();
            assert_eq!(pointers, expected.to_vec(), "{path}");
        }
        assert_eq!(
            pod_spec_around("/spec/template/spec/containers/2").as_deref(),
            Some("/spec/template/spec")
        );
        assert_eq!(pod_spec_around("/spec/sidecars/2"), None);
    }
}
