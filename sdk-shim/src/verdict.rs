//! Findings -> one response: every violation at once, else the mutated object, else accept.

use crate::reference::ImageRef;
use crate::workload::ContainerRef;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::Value;
use std::fmt::Display;

/// What a policy found in one request.
#[derive(Debug, Default)]
pub struct Verdict {
    violations: Vec<String>,
    warnings: Vec<String>,
    patches: Vec<(String, Value)>,
}

impl Verdict {
    pub fn new() -> Self {
        Self::default()
    }

    /// A container breaks a rule: `container 'web' (/spec/containers/0) image 'nginx': <why>`.
    pub fn reject(&mut self, container: &ContainerRef, why: impl Display) {
        let image = container.image.unwrap_or("");
        self.violations
            .push(format!("{container} image '{image}': {why}"));
    }

    /// Parses the container's image; a missing or invalid one is recorded as a violation.
    pub fn parse_image(&mut self, container: &ContainerRef) -> Option<ImageRef> {
        let Some(image) = container.image else {
            self.violations.push(format!("{container} has no image"));
            return None;
        };
        match ImageRef::parse(image) {
            Ok(image) => Some(image),
            Err(e) => {
                self.reject(container, format_args!("invalid image reference: {e}"));
                None
            }
        }
    }

    /// The request as a whole breaks a rule.
    pub fn reject_request(&mut self, why: impl Display) {
        self.violations.push(why.to_string());
    }

    pub fn warn(&mut self, warning: impl Display) {
        self.warnings.push(warning.to_string());
    }

    /// Sets `value` at `pointer` in the mutated object (the parent must exist).
    pub fn patch(&mut self, pointer: String, value: Value) {
        self.patches.push((pointer, value));
    }

    /// Violations reject (all listed); otherwise patches mutate; otherwise accept.
    /// Takes the request's object by value: mutating patches it in place, without a deep copy.
    pub fn into_response(self, object: Value) -> ValidationResponse {
        let warnings = (!self.warnings.is_empty()).then_some(self.warnings);
        let mut response = ValidationResponse {
            accepted: true,
            message: None,
            code: None,
            mutated_object: None,
            audit_annotations: None,
            warnings,
        };
        if !self.violations.is_empty() {
            response.accepted = false;
            response.message = Some(join_violations(&self.violations));
            return response;
        }
        if self.patches.is_empty() {
            return response;
        }
        let mut mutated = object;
        for (pointer, value) in self.patches {
            if let Err(why) = set_pointer(&mut mutated, &pointer, value) {
                response.accepted = false;
                response.message = Some(format!("cannot mutate the object: {why}"));
                return response;
            }
        }
        response.mutated_object = Some(mutated);
        response
    }
}

fn join_violations(violations: &[String]) -> String {
    if violations.len() == 1 {
        return violations[0].clone();
    }
    let mut message = format!("{} problems: ", violations.len());
    for (i, violation) in violations.iter().enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        message.push_str(&format!("({}) {violation}", i + 1));
    }
    message
}

/// Sets (adds or replaces) the value at an RFC 6901 pointer whose parent exists.
/// Walks the tokens itself: this runs for every patch, and tokens rarely need unescaping.
pub fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let Some(path) = pointer.strip_prefix('/') else {
        return Err(format!("'{pointer}' is not a JSON pointer"));
    };
    let (parents, last) = match path.rsplit_once('/') {
        Some((parents, last)) => (Some(parents), last),
        None => (None, path),
    };
    let parent_pointer = &pointer[..pointer.len() - last.len() - 1];
    let missing = || format!("'{parent_pointer}' does not exist or holds no object");
    let mut node = root;
    for token in parents.into_iter().flat_map(|p| p.split('/')) {
        node = match node {
            Value::Object(map) => map.get_mut(unescape(token).as_ref()),
            Value::Array(list) => token.parse::<usize>().ok().and_then(|i| list.get_mut(i)),
            _ => None,
        }
        .ok_or_else(missing)?;
    }
    match node {
        Value::Object(map) => {
            map.insert(unescape(last).into_owned(), value);
            Ok(())
        }
        Value::Array(list) => match last.parse::<usize>() {
            Ok(i) if i < list.len() => {
                list[i] = value;
                Ok(())
            }
            Ok(i) if i == list.len() => {
                list.push(value);
                Ok(())
            }
            _ => Err(format!(
                "index '{last}' is out of range at '{parent_pointer}'"
            )),
        },
        _ => Err(missing()),
    }
}

fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~").into()
    } else {
        token.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_win_and_are_all_listed() {
        let mut verdict = Verdict::new();
        verdict.reject_request("first");
        verdict.reject_request("second");
        verdict.patch("/a".into(), json!(1));
        let response = verdict.into_response(json!({}));
        assert!(!response.accepted);
        assert_eq!(
            response.message.as_deref(),
            Some("2 problems: (1) first; (2) second")
        );
        assert!(response.mutated_object.is_none());
    }

    #[test]
    fn patches_build_the_mutated_object() {
        let mut verdict = Verdict::new();
        verdict.patch("/spec/containers/0/image".into(), json!("nginx@sha256:x"));
        verdict.patch(
            "/spec/containers/0/imagePullPolicy".into(),
            json!("IfNotPresent"),
        );
        verdict.warn("note");
        let object = json!({"spec": {"containers": [{"image": "nginx"}]}});
        let response = verdict.into_response(object);
        assert!(response.accepted);
        assert_eq!(
            response.mutated_object,
            Some(
                json!({"spec": {"containers": [{"image": "nginx@sha256:x", "imagePullPolicy": "IfNotPresent"}]}})
            )
        );
        assert_eq!(response.warnings, Some(vec!["note".to_string()]));
    }

    #[test]
    fn pointers_that_lead_nowhere_are_errors() {
        let mut root = json!({"a": [1]});
        assert!(set_pointer(&mut root, "/b/c", json!(1))
            .unwrap_err()
            .contains("'/b' does not exist"));
        assert!(set_pointer(&mut root, "/a/5", json!(1))
            .unwrap_err()
            .contains("out of range"));
        set_pointer(&mut root, "/a/1", json!(2)).unwrap();
        set_pointer(&mut root, "/x~1y", json!(3)).unwrap();
        set_pointer(&mut root, "/a/0", json!(0)).unwrap();
        assert_eq!(root, json!({"a": [0, 2], "x/y": 3}));
        assert!(set_pointer(&mut root, "nope", json!(1)).is_err());
        assert!(set_pointer(&mut root, "/a/x/y", json!(1))
            .unwrap_err()
            .contains("'/a/x' does not exist"));
    }

    #[test]
    fn nothing_found_accepts() {
        let response = Verdict::new().into_response(json!({}));
        assert!(
            response.accepted && response.message.is_none() && response.mutated_object.is_none()
        );
    }
}
