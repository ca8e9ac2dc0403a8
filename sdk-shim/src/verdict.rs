//! Findings -> one response: every violation at once, else the mutated object, else accept.
//!
//! An image that an UPDATE does not change ([`ContainerRef::unchanged`]) is never rejected nor
//! mutated: what would have been a violation becomes a warning. A fix the API server would drop
//! or refuse ([`AdmissionRequest::immutable_reason`]) is a violation that says why.

use crate::json::string_stop;
use crate::patch::{apply_to_text, check_readable, Patch};
use crate::reference::ImageRef;
use crate::request::{AdmissionRequest, Mutable};
use crate::workload::ContainerRef;
#[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::Value;
use std::fmt::{Display, Write as _};

/// What a policy found in one request.
#[derive(Debug, Default)]
pub struct Verdict {
    violations: Vec<String>,
    warnings: Vec<String>,
    patches: Vec<Patch>,
    /// What the API server lets a mutation of the request's object change.
    mutable: Mutable,
    /// The request's text is known to be readable by serde_json (see `AdmissionRequest`).
    text_readable: bool,
}

impl Verdict {
    /// A verdict on nothing in particular (every pointer may be patched).
    pub fn new() -> Self {
        Self::default()
    }

    /// A verdict on `request`: patches the API server would not apply become violations.
    pub fn for_request(request: &AdmissionRequest) -> Self {
        Verdict {
            mutable: request.mutable(),
            text_readable: request.text_readable,
            ..Self::default()
        }
    }

    /// A container breaks a rule: `container 'web' (/spec/containers/0) image 'nginx': <why>`.
    /// When the UPDATE does not change it, a warning instead.
    pub fn reject(&mut self, container: &ContainerRef, why: impl Display) {
        let image = container.image.unwrap_or("");
        // Sized for the usual message, so that writing it seldom grows the string.
        let mut finding = String::with_capacity(160 + image.len() + container.pointer.len());
        container.write_label(&mut finding);
        for piece in [" image '", image, "': "] {
            finding.push_str(piece);
        }
        let _ = write!(finding, "{why}");
        self.record(container, finding);
    }

    fn record(&mut self, container: &ContainerRef, finding: String) {
        if container.unchanged {
            self.warnings.push(format!(
                "{finding} (left as is: this UPDATE does not change it)"
            ));
        } else {
            self.violations.push(finding);
        }
    }

    /// Fixes a container by setting `value` at `pointer`, where `why` is what is wrong without
    /// the fix. Not for an image the UPDATE leaves unchanged (a warning says it does not comply);
    /// a violation, with `why` and the reason, where the API server would not take the change.
    pub fn fix(
        &mut self,
        container: &ContainerRef,
        pointer: String,
        value: Value,
        why: impl Display,
    ) {
        if container.unchanged {
            self.reject(container, why);
            return;
        }
        match self.mutable.refuses(&pointer) {
            Some(reason) => self.reject(
                container,
                format_args!("{why}, and the policy cannot fix it here: {reason}"),
            ),
            None => {
                let anchor = container.anchor(&pointer);
                self.patches.push(Patch {
                    pointer,
                    value,
                    anchor,
                })
            }
        }
    }

    /// Parses the container's image; a missing or invalid one is recorded as a violation.
    pub fn parse_image(&mut self, container: &ContainerRef) -> Option<ImageRef> {
        let Some(image) = container.image else {
            let field = match container.kind {
                crate::workload::ContainerKind::ImageVolume => "image reference",
                _ => "image",
            };
            self.record(container, format!("{container} has no {field}"));
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
        self.patches.push(Patch {
            pointer,
            value,
            anchor: None,
        });
    }

    /// Violations reject (all listed); otherwise patches mutate; otherwise accept.
    /// `object` gives the request's object as JSON text, only when there is something to patch.
    pub fn into_response<'t>(
        self,
        object: impl FnOnce() -> Result<Option<&'t str>, String>,
    ) -> Response {
        let mut response = Response {
            accepted: true,
            warnings: (!self.warnings.is_empty()).then_some(self.warnings),
            ..Response::default()
        };
        if !self.violations.is_empty() {
            response.accepted = false;
            response.violations = self.violations;
            return response;
        }
        if self.patches.is_empty() {
            return response;
        }
        let text = object().map(|text| text.unwrap_or("null"));
        let mutated = text.and_then(|text| apply_to_text(text, &self.patches));
        // The views skipped what no rule reads without checking it; what is copied is checked,
        // unless the fast reader saw nothing in the payload that serde_json could refuse.
        let mutated = match self.text_readable {
            true => mutated,
            false => mutated.and_then(|mutated| check_readable(&mutated).map(|_| mutated)),
        };
        match mutated {
            Ok(mutated) => response.mutated_object = Some(mutated),
            Err(why) => {
                response.accepted = false;
                response.message = Some(format!("cannot mutate the object: {why}"));
            }
        }
        response
    }
}

/// What `validate` answers: Kubewarden's `ValidationResponse`, with the mutated object kept as
/// the JSON text it was written as (see [`crate::patch`]), and the rejection's violations kept
/// apart until they are written, so the message is never held twice.
#[derive(Debug, Default, PartialEq)]
pub struct Response {
    pub accepted: bool,
    /// The message, when it is not made of `violations`.
    pub message: Option<String>,
    /// Every violation found: the message lists them all.
    pub violations: Vec<String>,
    pub code: Option<u16>,
    pub mutated_object: Option<String>,
    pub warnings: Option<Vec<String>>,
}

impl Response {
    /// The message shown to the user: the violations, else the message given.
    pub fn message(&self) -> Option<String> {
        if self.violations.is_empty() {
            return self.message.clone();
        }
        let mut message = String::with_capacity(message_len(&self.violations));
        for_each_piece(&self.violations, |piece| message.push_str(piece));
        Some(message)
    }

    /// A `ValidationResponse` as JSON, the mutated object copied in as it is.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            128 + self.mutated_object.as_ref().map_or(0, String::len)
                + self.message.as_ref().map_or(0, String::len)
                + message_len(&self.violations),
        );
        self.write_head(&mut out);
        match &self.mutated_object {
            Some(object) => out.extend_from_slice(object.as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        self.write_tail(&mut out);
        out
    }

    /// The same JSON as [`Self::to_json`], written around the mutated object where it lies: the
    /// object is most of the answer, and a fresh instance pays for every new page it touches.
    pub fn into_json(mut self) -> Vec<u8> {
        let Some(object) = self.mutated_object.take() else {
            return self.to_json();
        };
        let mut head = Vec::with_capacity(128 + self.message.as_ref().map_or(0, String::len));
        self.write_head(&mut head);
        let mut out = object.into_bytes();
        let len = out.len();
        // Within the room `crate::patch` leaves, unless there are long warnings.
        out.extend_from_slice(&head);
        out.copy_within(..len, head.len());
        out[..head.len()].copy_from_slice(&head);
        self.write_tail(&mut out);
        out
    }

    /// Everything before the mutated object. Writing plain data (a bool, strings, a number) to
    /// a Vec cannot fail.
    fn write_head(&self, out: &mut Vec<u8>) {
        let accepted: &[u8] = if self.accepted { b"true" } else { b"false" };
        out.extend_from_slice(b"{\"accepted\":");
        out.extend_from_slice(accepted);
        out.extend_from_slice(b",\"message\":");
        if self.violations.is_empty() {
            let _ = serde_json::to_writer(&mut *out, &self.message);
        } else {
            out.push(b'"');
            for_each_piece(&self.violations, |piece| escape_into(out, piece));
            out.push(b'"');
        }
        out.extend_from_slice(b",\"code\":");
        let _ = serde_json::to_writer(&mut *out, &self.code);
        out.extend_from_slice(b",\"mutated_object\":");
    }

    /// Everything after the mutated object.
    fn write_tail(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"audit_annotations\":null,\"warnings\":");
        let _ = serde_json::to_writer(&mut *out, &self.warnings);
        out.push(b'}');
    }
}

#[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
impl From<Response> for ValidationResponse {
    /// For native callers: the mutated object as a tree (a text serde_json cannot read, which
    /// the views' checks should make impossible, becomes a rejection rather than a panic).
    fn from(response: Response) -> Self {
        let message = response.message();
        let mutated = response
            .mutated_object
            .map(|text| serde_json::from_str::<serde_json::Value>(&text));
        let (accepted, message, mutated_object) = match mutated {
            Some(Err(e)) => (false, Some(format!("cannot mutate the object: {e}")), None),
            Some(Ok(object)) => (response.accepted, message, Some(object)),
            None => (response.accepted, message, None),
        };
        ValidationResponse {
            accepted,
            message,
            code: response.code,
            mutated_object,
            audit_annotations: None,
            warnings: response.warnings,
        }
    }
}

/// The violations as one message, piece by piece: the only one, or
/// `N problems: (1) first; (2) second`.
fn for_each_piece(violations: &[String], mut write: impl FnMut(&str)) {
    if let [only] = violations {
        return write(only);
    }
    let mut number = String::with_capacity(24);
    let _ = write!(number, "{} problems: ", violations.len());
    write(&number);
    for (i, violation) in violations.iter().enumerate() {
        if i > 0 {
            write("; ");
        }
        number.clear();
        let _ = write!(number, "({}) ", i + 1);
        write(&number);
        write(violation);
    }
}

/// About the length of the joined message (exact unless it needs escapes).
fn message_len(violations: &[String]) -> usize {
    let numbering = violations.len() * "; (1000) ".len();
    numbering + 24 + violations.iter().map(String::len).sum::<usize>()
}

/// Writes `text` as the inside of a JSON string, escaped as serde_json escapes it.
pub(crate) fn escape_into(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut start = 0;
    loop {
        // The plain run up to the next byte JSON escapes, found eight bytes at a time.
        let i = string_stop(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&byte) = bytes.get(i) else {
            return;
        };
        let escaped: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xf) as usize],
            ],
        };
        out.extend_from_slice(escaped);
        start = i + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::AdmissionRequest;
    use crate::testing::raw;
    use crate::workload::Workload;
    use serde_json::json;

    fn walk<'a>(request: &'a AdmissionRequest<'a>) -> Workload<'a> {
        Workload::from_request(request, &[], Box::leak(Box::default())).unwrap()
    }

    /// A request decoded from `value`'s text (which lives as long as the test).
    fn request_from(value: Value) -> AdmissionRequest<'static> {
        serde_json::from_str(Box::leak(value.to_string().into_boxed_str())).unwrap()
    }

    #[test]
    fn violations_win_and_are_all_listed() {
        let mut verdict = Verdict::new();
        verdict.reject_request("first");
        verdict.reject_request("second");
        verdict.patch("/a".into(), json!(1));
        let response = verdict.into_response(|| Ok(None));
        assert!(!response.accepted);
        assert_eq!(
            response.message().as_deref(),
            Some("2 problems: (1) first; (2) second")
        );
        assert!(response.mutated_object.is_none());
    }

    /// The answer's JSON says what a serialised `ValidationResponse` says, escapes included.
    #[test]
    fn the_answer_is_a_validation_response() {
        let awkward = "quote \" backslash \\ newline \n return \r tab \t backspace \u{8} form feed \u{c} bell \u{7} del \u{7f} é \u{2028}";
        let one = |violations: Vec<&str>| Response {
            violations: violations.into_iter().map(str::to_string).collect(),
            code: Some(400),
            warnings: Some(vec![awkward.to_string()]),
            ..Response::default()
        };
        for response in [
            one(vec![awkward]),
            one(vec![awkward, "second"]),
            Response {
                accepted: true,
                message: Some(awkward.to_string()),
                mutated_object: Some(r#"{"a":[1,"x"]}"#.to_string()),
                ..Response::default()
            },
            Response {
                accepted: true,
                mutated_object: Some(r#"{"b":[true,null]}"#.to_string()),
                warnings: Some(vec![awkward.to_string(), "second".to_string()]),
                ..Response::default()
            },
        ] {
            let written = response.to_json();
            let moved = Response {
                violations: response.violations.clone(),
                message: response.message.clone(),
                warnings: response.warnings.clone(),
                mutated_object: response.mutated_object.clone(),
                ..response
            };
            assert_eq!(
                moved.into_json(),
                written,
                "into_json writes what to_json writes"
            );
            let expected = serde_json::to_vec(&ValidationResponse::from(Response {
                violations: response.violations.clone(),
                message: response.message.clone(),
                warnings: response.warnings.clone(),
                mutated_object: response.mutated_object.clone(),
                ..response
            }))
            .unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
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
        let response =
            ValidationResponse::from(verdict.into_response(|| Ok(Some(raw(object).get()))));
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
    fn unchanged_images_warn_and_immutable_fixes_reject() {
        use crate::testing::fixture_request;
        // A Pod UPDATE: container 0 unchanged, container 1 changes its image.
        let request = fixture_request("pod_update_sidecar_image.json");
        let workload = walk(&request);
        let (same, changed) = (&workload.containers[0], &workload.containers[1]);
        let mut verdict = Verdict::for_request(&request);
        verdict.reject(same, "not pinned");
        verdict.fix(same, same.image_pointer(), json!("x"), "not pinned");
        verdict.fix(
            changed,
            changed.image_pointer(),
            json!("ghcr.io/acme/sidecar:2@sha256:x"),
            "not pinned",
        );
        let response = ValidationResponse::from(
            verdict.into_response(|| Ok(request.object.text().map(|t| t.get()))),
        );
        assert!(response.accepted, "{:?}", response.message);
        let warnings = response.warnings.unwrap();
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].ends_with(
                "image 'nginx:1.25': not pinned (left as is: this UPDATE does not change it)"
            ),
            "{warnings:?}"
        );
        let object = response.mutated_object.unwrap();
        assert_eq!(object["spec"]["containers"][0]["image"], "nginx:1.25");
        assert_eq!(
            object["spec"]["containers"][1]["image"],
            "ghcr.io/acme/sidecar:2@sha256:x"
        );

        // The pull policy of a running Pod cannot be changed: the fix becomes a violation.
        let mut verdict = Verdict::for_request(&request);
        verdict.fix(
            changed,
            changed.pull_policy_pointer().unwrap(),
            json!("Always"),
            "tag '2' is mutable",
        );
        let response = ValidationResponse::from(
            verdict.into_response(|| Ok(request.object.text().map(|t| t.get()))),
        );
        assert!(!response.accepted);
        assert_eq!(
            response.message.unwrap(),
            "container 'sidecar' (/spec/containers/1) image 'ghcr.io/acme/sidecar:2': tag '2' is mutable, and the policy \
             cannot fix it here: a Pod's spec is immutable once created except for container images; change the Pod's template or recreate it"
        );
    }

    #[test]
    fn nothing_found_accepts() {
        let response = Verdict::new().into_response(|| Ok(None));
        assert!(
            response.accepted && response.message.is_none() && response.mutated_object.is_none()
        );
    }

    #[test]
    fn parse_image_records_missing_and_invalid_images() {
        let request = request_from(json!({
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "object": {"kind": "Pod", "spec": {
                "containers": [
                    {"name": "ok", "image": "nginx:1.25"},
                    {"name": "none"},
                    {"name": "bad", "image": "Nginx"},
                ],
                "volumes": [
                    {"name": "data", "image": {"reference": "ghcr.io/acme/data:1"}},
                    {"name": "empty", "image": {"pullPolicy": "Always"}},
                ],
            }},
        }));
        let workload = walk(&request);
        let mut verdict = Verdict::for_request(&request);
        let parsed: Vec<Option<String>> = workload
            .containers
            .iter()
            .map(|c| verdict.parse_image(c).map(|i| i.fully_qualified()))
            .collect();
        assert_eq!(
            parsed,
            [
                Some("docker.io/library/nginx:1.25".to_string()),
                None,
                None,
                Some("ghcr.io/acme/data:1".to_string()),
                None,
            ]
        );
        let message = verdict.into_response(|| Ok(None)).message().unwrap();
        assert!(message.starts_with("3 problems: "), "{message}");
        assert!(
            message.contains("container 'none' (/spec/containers/1) has no image;"),
            "{message}"
        );
        assert!(
            message.contains("image 'Nginx': invalid image reference: "),
            "{message}"
        );
        assert!(
            message
                .ends_with("image volume 'empty' (/spec/volumes/1/image) has no image reference"),
            "{message}"
        );
    }
}
