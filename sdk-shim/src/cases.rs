//! A policy's case table: `policies/<name>/cases.yml`, written once and run twice, natively by
//! the policy's own tests ([`run_native`]) and through the shipped `.wasm` by `e2e`'s runner.
//!
//! ```yaml
//! bench:                            # optional: what `cargo bench -p e2e` measures this policy with
//!   settings: {exemptImages: ["registry.k8s.io/pause:*"]}
//! host:                             # host state shared by every case (a case may give its own)
//!   cluster: test_data/cluster.json # Kubernetes objects: a `List`, one object, or YAML documents
//!   digests:                        # fully-qualified image -> digest, or {error: why}
//!     docker.io/library/nginx:1.25: sha256:…
//! policy: pin-digest                 # optional: the policy `image-policies test` runs the table
//!                                   # with (a name, from dist/, or a path to a .wasm)
//! cases:
//!   - name: an unpinned image is refused      # unique in the table
//!     request: test_data/pod_latest.json     # an AdmissionReview or its `request`
//!     # or: manifest: deploy.yml             # a manifest's first object, created as the API
//!     #     namespace: team-a                # server would send it (namespace default `default`)
//!     requestChanges:                        # optional: values set in the request first
//!       /object/spec/containers/0/image: "[::1]"
//!     settings: {exemptImages: []}           # default {}
//!     expect:
//!       allowed: false
//!       code: 400                            # optional
//!       message: ["not pinned to a digest"]  # fragments the message must contain
//!       messageExcludes: ["'api'"]           # fragments it must not contain
//!       warnings: ["left as is"]             # exactly this many warnings, each containing its fragment
//!       mutated: {/spec/containers/0/image: "nginx@sha256:…"}  # exactly what the mutation changes
//!       secretsNotShown: [s3cr3t]            # in the host state, and nowhere in the answer
//!   - name: a bad pattern is refused
//!     settings: {exemptImages: [pause]}
//!     expect:
//!       settingsError: "exemptImages[0]: pattern 'pause'"
//! ```
//!
//! Without `mutated`, a case expects no mutation; without `warnings`, warnings are not checked.
//! Every case's settings must be valid unless it expects `settingsError`.

pub use crate::changes::changes;
use crate::entry::{validate, validate_settings, Policy};
use crate::host::FixtureHost;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name of a policy's case table, in its folder.
pub const CASES_FILE: &str = "cases.yml";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseTable {
    /// The policy the table is about, for runners that take tables from anywhere.
    pub policy: Option<String>,
    #[serde(default)]
    pub host: HostState,
    pub cases: Vec<Case>,
    #[serde(default)]
    pub bench: Bench,
    /// The folder the table's paths are relative to.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// How the benchmark runs the policy.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bench {
    #[serde(default = "empty_object")]
    pub settings: Value,
}

impl Default for Bench {
    fn default() -> Self {
        Bench {
            settings: empty_object(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub request: Option<PathBuf>,
    /// A manifest whose first object is wrapped into a CREATE request (`crate::review`).
    pub manifest: Option<PathBuf>,
    /// The namespace a `manifest` without one is created in.
    pub namespace: Option<String>,
    /// JSON pointer (into the `request`) -> value set there before the request is evaluated.
    #[serde(default)]
    pub request_changes: BTreeMap<String, Value>,
    #[serde(default = "empty_object")]
    pub settings: Value,
    pub host: Option<HostState>,
    pub expect: Expect,
}

/// What the host answers: image digests and cluster objects.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostState {
    #[serde(default)]
    pub digests: BTreeMap<String, DigestAnswer>,
    pub cluster: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DigestAnswer {
    Digest(String),
    Error { error: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    pub settings_error: Option<String>,
    pub allowed: Option<bool>,
    pub code: Option<u16>,
    #[serde(default)]
    pub message: Vec<String>,
    #[serde(default)]
    pub message_excludes: Vec<String>,
    pub warnings: Option<Vec<String>>,
    pub mutated: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub secrets_not_shown: Vec<String>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// The host state as loaded: digests and the cluster's objects.
#[derive(Debug, Default, Clone)]
pub struct LoadedHost {
    pub digests: BTreeMap<String, Result<String, String>>,
    pub resources: Vec<Value>,
}

impl LoadedHost {
    pub fn fixture_host(&self) -> FixtureHost {
        FixtureHost {
            digests: self.digests.clone().into_iter().collect(),
            resources: self.resources.clone(),
        }
    }
}

/// What a policy answered to one case: its settings answer, and its `validate` answer as JSON.
pub struct Answer {
    pub settings_valid: bool,
    pub settings_message: Option<String>,
    pub response: Option<Value>,
}

impl CaseTable {
    /// Reads `<dir>/cases.yml`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        Self::load_file(&dir.join(CASES_FILE))
    }

    /// Reads a table from any file; its paths are relative to the file's folder.
    pub fn load_file(path: &Path) -> Result<Self, String> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut table: CaseTable =
            yaml_serde::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        table.dir = dir.to_path_buf();
        let mut names = std::collections::HashSet::new();
        for case in &table.cases {
            if !names.insert(case.name.as_str()) {
                return Err(format!(
                    "{}: two cases named '{}'",
                    path.display(),
                    case.name
                ));
            }
        }
        Ok(table)
    }

    /// The host state of a case: its own, else the table's.
    pub fn host_for(&self, case: &Case) -> Result<LoadedHost, String> {
        self.load_host(case.host.as_ref().unwrap_or(&self.host))
    }

    /// The table's own host state, shared by the cases that give none.
    pub fn shared_host(&self) -> Result<LoadedHost, String> {
        self.load_host(&self.host)
    }

    fn load_host(&self, state: &HostState) -> Result<LoadedHost, String> {
        let mut host = LoadedHost::default();
        for (image, answer) in &state.digests {
            let answer = match answer {
                DigestAnswer::Digest(digest) => Ok(digest.clone()),
                DigestAnswer::Error { error } => Err(error.clone()),
            };
            host.digests.insert(image.clone(), answer);
        }
        if let Some(cluster) = &state.cluster {
            host.resources = read_objects(&self.dir.join(cluster))?;
        }
        Ok(host)
    }

    /// The `request` of a case's request file (which may hold a whole `AdmissionReview`).
    pub fn request_for(&self, case: &Case) -> Result<Option<Value>, String> {
        let (file, wrap) = match (&case.request, &case.manifest) {
            (Some(_), Some(_)) => return Err("give either request or manifest, not both".into()),
            (Some(file), None) => (file, false),
            (None, Some(file)) => (file, true),
            (None, None) => return Ok(None),
        };
        let path = self.dir.join(file);
        let value = read_objects(&path)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{} is empty", path.display()))?;
        if wrap {
            let namespace = case.namespace.as_deref().unwrap_or("default");
            let mut request = crate::review::create_request(&value, namespace, &case.name);
            for (pointer, new) in &case.request_changes {
                let slot = request.pointer_mut(pointer).ok_or_else(|| {
                    format!(
                        "requestChanges: {pointer} is not in the request for {}",
                        path.display()
                    )
                })?;
                *slot = new.clone();
            }
            return Ok(Some(request));
        }
        let mut request = match value.get("request") {
            Some(request)
                if value.get("kind").and_then(Value::as_str) == Some("AdmissionReview") =>
            {
                request.clone()
            }
            _ => value,
        };
        for (pointer, new) in &case.request_changes {
            let slot = request
                .pointer_mut(pointer)
                .ok_or_else(|| format!("requestChanges: {pointer} is not in {}", path.display()))?;
            *slot = new.clone();
        }
        Ok(Some(request))
    }

    /// Runs every case with `evaluate` and checks its answer; returns how many ran, or every
    /// failure, each naming its case.
    pub fn run(
        &self,
        evaluate: impl FnMut(&Case, Option<&Value>, &LoadedHost) -> Result<Answer, String>,
    ) -> Result<usize, String> {
        let failures: Vec<String> = self
            .run_each(evaluate)
            .into_iter()
            .filter_map(|(name, outcome)| {
                let why = outcome.err()?;
                Some(format!("{}: case '{name}': {why}", self.dir.display()))
            })
            .collect();
        match failures.is_empty() {
            true => Ok(self.cases.len()),
            false => Err(failures.join("\n")),
        }
    }

    /// Runs every case with `evaluate`: each case's name and whether it passed.
    pub fn run_each(
        &self,
        mut evaluate: impl FnMut(&Case, Option<&Value>, &LoadedHost) -> Result<Answer, String>,
    ) -> Vec<(String, Result<(), String>)> {
        self.cases
            .iter()
            .map(|case| {
                let outcome = (|| {
                    let host = self.host_for(case)?;
                    let request = self.request_for(case)?;
                    let answer = evaluate(case, request.as_ref(), &host)?;
                    case.check(&answer, request.as_ref(), &host)
                })();
                (case.name.clone(), outcome)
            })
            .collect()
    }
}

impl Case {
    /// Whether `answer` is what the case expects.
    pub fn check(
        &self,
        answer: &Answer,
        request: Option<&Value>,
        host: &LoadedHost,
    ) -> Result<(), String> {
        let expect = &self.expect;
        if let Some(fragment) = &expect.settings_error {
            let message = answer.settings_message.as_deref().unwrap_or("");
            return match !answer.settings_valid && message.contains(fragment.as_str()) {
                true => Ok(()),
                false => Err(format!(
                    "settings should be refused with '{fragment}', got valid={} {message:?}",
                    answer.settings_valid
                )),
            };
        }
        if !answer.settings_valid {
            return Err(format!(
                "settings refused: {:?}",
                answer.settings_message.as_deref().unwrap_or("")
            ));
        }
        let (Some(response), Some(request)) = (&answer.response, request) else {
            return Err("a case without settingsError needs a request".to_string());
        };
        let allowed = expect
            .allowed
            .ok_or("a case with a request must say whether it is allowed")?;
        let text = |field: &str| response.get(field).and_then(Value::as_str).unwrap_or("");
        let message = text("message");
        if response.get("accepted") != Some(&Value::Bool(allowed)) {
            return Err(format!("expected allowed={allowed}, got {response}"));
        }
        if let Some(code) = expect.code {
            if response.get("code").and_then(Value::as_u64) != Some(u64::from(code)) {
                return Err(format!("expected code {code}, got {response}"));
            }
        }
        for fragment in &expect.message {
            if !message.contains(fragment.as_str()) {
                return Err(format!("message lacks '{fragment}': {message:?}"));
            }
        }
        for fragment in &expect.message_excludes {
            if message.contains(fragment.as_str()) {
                return Err(format!(
                    "message should not contain '{fragment}': {message:?}"
                ));
            }
        }
        if let Some(expected) = &expect.warnings {
            let warnings: Vec<&str> = response
                .get("warnings")
                .and_then(Value::as_array)
                .map(|w| w.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let fits = warnings.len() == expected.len()
                && warnings
                    .iter()
                    .zip(expected)
                    .all(|(w, e)| w.contains(e.as_str()));
            if !fits {
                return Err(format!("expected warnings {expected:?}, got {warnings:?}"));
            }
        }
        let mutated = response.get("mutated_object").filter(|m| !m.is_null());
        match (&expect.mutated, mutated) {
            (None, None) => {}
            (None, Some(object)) => {
                return Err(format!(
                    "expected no mutation, got changes {:?}",
                    changes(request.get("object").unwrap_or(&Value::Null), object)
                ))
            }
            (Some(expected), None) => {
                return Err(format!("expected the mutation {expected:?}, got none"))
            }
            (Some(expected), Some(object)) => {
                let got = changes(request.get("object").unwrap_or(&Value::Null), object);
                if &got != expected {
                    return Err(format!("expected the mutation {expected:?}, got {got:?}"));
                }
            }
        }
        let known = host_strings(host);
        let answer_text = response.to_string();
        for secret in &expect.secrets_not_shown {
            if !known.iter().any(|s| s.contains(secret.as_str())) {
                return Err(format!(
                    "secretsNotShown: '{secret}' is not in the host state, so the check proves nothing"
                ));
            }
            if answer_text.contains(secret.as_str()) {
                return Err(format!("the answer shows the secret '{secret}'"));
            }
        }
        Ok(())
    }
}

/// Every string of the host's objects, and what base64 strings among them decode to (the data
/// of Secrets, the `auth` of a Docker config), so a secret can be shown to be there.
fn host_strings(host: &LoadedHost) -> Vec<String> {
    let mut strings = Vec::new();
    for value in &host.resources {
        collect_strings(value, 3, &mut strings);
    }
    strings
}

fn collect_strings(value: &Value, depth: u8, strings: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            strings.push(text.clone());
            if depth == 0 {
                return;
            }
            use base64::Engine;
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) else {
                return;
            };
            let Ok(decoded) = String::from_utf8(bytes) else {
                return;
            };
            match serde_json::from_str::<Value>(&decoded) {
                Ok(json) if json.is_object() => collect_strings(&json, depth - 1, strings),
                _ => collect_strings(&Value::String(decoded), depth - 1, strings),
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_strings(v, depth, strings)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            strings.push(k.clone());
            collect_strings(v, depth, strings);
        }),
        _ => {}
    }
}

/// Kubernetes objects from a JSON or YAML file: one object, a `List`'s items, or several documents.
pub fn read_objects(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut objects = Vec::new();
    for document in yaml_serde::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).map_err(|e| format!("{}: {e}", path.display()))?;
        match value.get("items").and_then(Value::as_array) {
            Some(items) if value.get("kind").and_then(Value::as_str) == Some("List") => {
                objects.extend(items.iter().cloned())
            }
            _ if value.is_null() => {}
            _ => objects.push(value),
        }
    }
    Ok(objects)
}

/// Runs a policy's case table natively, as its waPC entry points would; panics listing every
/// failing case. A policy's tests call it once: `run_native::<MyPolicy>(env!("CARGO_MANIFEST_DIR"))`.
pub fn run_native<P: Policy>(dir: &str) {
    let table = CaseTable::load(Path::new(dir)).unwrap_or_else(|e| panic!("{e}"));
    let ran = table.run(|case, request, host| {
        let settings = serde_json::to_vec(&case.settings).map_err(|e| e.to_string())?;
        let settings_answer: Value = serde_json::from_slice(&validate_settings::<P>(&settings))
            .map_err(|e| e.to_string())?;
        let response = match request {
            Some(request) => {
                let payload = serde_json::json!({"request": request, "settings": case.settings});
                let bytes = validate::<P>(payload.to_string().as_bytes(), &host.fixture_host());
                Some(serde_json::from_slice(&bytes).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        Ok(Answer {
            settings_valid: settings_answer["valid"] == Value::Bool(true),
            settings_message: settings_answer["message"].as_str().map(str::to_string),
            response,
        })
    });
    match ran {
        Ok(count) => assert!(count > 0, "{dir}/{CASES_FILE} has no cases"),
        Err(failures) => panic!("failing cases:\n{failures}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(response: Value) -> Answer {
        Answer {
            settings_valid: true,
            settings_message: None,
            response: Some(response),
        }
    }

    fn case(expect: Value) -> Case {
        serde_json::from_value(json!({"name": "c", "expect": expect})).unwrap()
    }

    #[test]
    fn each_expectation_can_fail() {
        let request = json!({"object": {"spec": {"image": "a"}}});
        let host = LoadedHost {
            resources: vec![json!({"data": {"password": "czNjcjN0"}})], // "s3cr3t"
            ..Default::default()
        };
        let rejected =
            json!({"accepted": false, "code": 400, "message": "bad image 'a'", "warnings": ["w1"]});
        let mutated = json!({"accepted": true, "mutated_object": {"spec": {"image": "b"}}});
        // (expect, response, failure fragment or "" for a pass)
        let cases = [
            (
                json!({"allowed": false, "message": ["bad image"]}),
                &rejected,
                "",
            ),
            (json!({"allowed": true}), &rejected, "expected allowed=true"),
            (
                json!({"allowed": false, "code": 403}),
                &rejected,
                "expected code 403",
            ),
            (json!({"allowed": false, "code": 400}), &rejected, ""),
            (
                json!({"allowed": false, "message": ["good"]}),
                &rejected,
                "message lacks 'good'",
            ),
            (
                json!({"allowed": false, "messageExcludes": ["'a'"]}),
                &rejected,
                "should not contain",
            ),
            (json!({"allowed": false, "warnings": ["w1"]}), &rejected, ""),
            (
                json!({"allowed": false, "warnings": []}),
                &rejected,
                "expected warnings",
            ),
            (
                json!({"allowed": false, "warnings": ["w2"]}),
                &rejected,
                "expected warnings",
            ),
            (json!({"allowed": true}), &mutated, "expected no mutation"),
            (
                json!({"allowed": true, "mutated": {"/spec/image": "b"}}),
                &mutated,
                "",
            ),
            (
                json!({"allowed": true, "mutated": {"/spec/image": "c"}}),
                &mutated,
                "expected the mutation",
            ),
            (
                json!({"allowed": false, "mutated": {"/spec/image": "b"}}),
                &rejected,
                "got none",
            ),
            (
                json!({"allowed": false, "secretsNotShown": ["s3cr3t"]}),
                &rejected,
                "",
            ),
            (
                json!({"allowed": false, "secretsNotShown": ["hunter2"]}),
                &rejected,
                "not in the host state",
            ),
            (
                json!({"allowed": false, "secretsNotShown": ["bad"]}),
                &json!({"accepted": false, "message": "bad"}),
                "not in the host state",
            ),
        ];
        for (expect, response, failure) in cases {
            let outcome =
                case(expect.clone()).check(&answer(response.clone()), Some(&request), &host);
            match failure {
                "" => assert!(outcome.is_ok(), "{expect}: {outcome:?}"),
                _ => assert!(
                    outcome.as_ref().is_err_and(|e| e.contains(failure)),
                    "{expect}: {outcome:?}"
                ),
            }
        }
        let leaky = LoadedHost {
            resources: vec![json!({"data": {"password": "YmFk"}})], // "bad"
            ..Default::default()
        };
        let outcome = case(json!({"allowed": false, "secretsNotShown": ["bad"]})).check(
            &answer(json!({"accepted": false, "message": "bad"})),
            Some(&request),
            &leaky,
        );
        assert!(outcome.is_err_and(|e| e.contains("shows the secret")));
    }

    #[test]
    fn settings_cases() {
        let refused = Answer {
            settings_valid: false,
            settings_message: Some("mutate: invalid type".to_string()),
            response: None,
        };
        let expect_error = case(json!({"settingsError": "mutate:"}));
        assert!(expect_error
            .check(&refused, None, &LoadedHost::default())
            .is_ok());
        let expect_other = case(json!({"settingsError": "allow:"}));
        assert!(expect_other
            .check(&refused, None, &LoadedHost::default())
            .is_err());
        let expect_request = case(json!({"allowed": true}));
        assert!(expect_request
            .check(&refused, None, &LoadedHost::default())
            .is_err_and(|e| e.contains("settings refused")));
        let valid = Answer {
            settings_valid: true,
            settings_message: None,
            response: None,
        };
        assert!(expect_error
            .check(&valid, None, &LoadedHost::default())
            .is_err());
        assert!(expect_request
            .check(&valid, None, &LoadedHost::default())
            .is_err_and(|e| e.contains("needs a request")));
    }
    /// A policy for the runner's own tests: with `pin`, an image gets the host's digest; an image
    /// the host cannot resolve is refused with the host's reason.
    struct Pinner;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct PinnerSettings {
        pin: bool,
    }

    impl crate::settings::PolicySettings for PinnerSettings {}

    impl Policy for Pinner {
        type Settings = PinnerSettings;

        fn evaluate(
            settings: &PinnerSettings,
            request: &crate::request::AdmissionRequest,
            workload: &crate::workload::Workload,
            host: &dyn crate::host::Host,
        ) -> crate::verdict::Verdict {
            let mut verdict = crate::verdict::Verdict::for_request(request);
            for container in &workload.containers {
                let Some(image) = verdict.parse_image(container) else {
                    continue;
                };
                match host.manifest_digest(&image.fully_qualified()) {
                    Ok(digest) if settings.pin => verdict.fix(
                        container,
                        container.image_pointer(),
                        Value::String(format!("{}@{digest}", container.image.unwrap_or(""))),
                        "not pinned",
                    ),
                    Ok(_) => {}
                    Err(why) => verdict.reject(container, why),
                }
            }
            verdict
        }
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// A folder under the system's temporary one holding `files`, fresh for each test.
    fn table_dir(test: &str, files: &[(&str, String)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sdk-shim-cases-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    fn pod(image: &str) -> Value {
        json!({
            "uid": "1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "object": {"kind": "Pod", "spec": {"containers": [{"name": "web", "image": image}]}},
        })
    }

    fn table_files() -> Vec<(&'static str, String)> {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": pod("busybox")});
        // Not an AdmissionReview: its stray `request` is not the request (it would not decode).
        let mut bare = pod("redis:7");
        bare["request"] = json!({"not": "a request"});
        let cluster = "\
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Secret, metadata: {name: a, namespace: ns}}
  - {apiVersion: v1, kind: Secret, metadata: {name: b, namespace: ns}}
--- null
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: ns}
items: [not, a, list]
";
        let table = format!(
            "\
host:
  cluster: cluster.yaml
  digests:
    docker.io/library/nginx:1.25: {DIGEST}
    docker.io/library/redis:7: {{error: registry down}}
cases:
  - name: a review is unwrapped and changed before it is judged
    request: review.json
    requestChanges: {{/object/spec/containers/0/image: \"nginx:1.25\"}}
    settings: {{pin: true}}
    expect:
      allowed: true
      mutated: {{/spec/containers/0/image: \"nginx:1.25@{DIGEST}\"}}
  - name: a bare request is taken whole, with the table's host
    request: bare.json
    expect: {{allowed: false, message: [\"image 'redis:7': registry down\"]}}
  - name: a case's own host replaces the table's
    request: review.json
    requestChanges: {{/object/spec/containers/0/image: \"nginx:1.25\"}}
    host: {{digests: {{}}}}
    settings: {{pin: true}}
    expect: {{allowed: false, message: [\"manifest unknown: docker.io/library/nginx:1.25\"]}}
  - name: settings are checked
    settings: {{pin: 1}}
    expect: {{settingsError: \"pin: invalid type: integer `1`, expected a boolean\"}}
"
        );
        vec![
            ("cases.yml", table),
            ("review.json", review.to_string()),
            ("bare.json", bare.to_string()),
            ("cluster.yaml", cluster.to_string()),
        ]
    }

    #[test]
    fn a_table_on_disk_is_loaded_and_run() {
        let dir = table_dir("run", &table_files());
        let table = CaseTable::load(&dir).unwrap();
        assert_eq!(table.cases.len(), 4);
        assert_eq!(table.bench.settings, json!({}));
        assert_eq!(table.cases[1].settings, json!({}));

        // The List's items, not the null document, and a non-List object with `items` whole.
        let shared = table.shared_host().unwrap();
        let names: Vec<&str> = shared
            .resources
            .iter()
            .map(|r| r["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(shared.digests.len(), 2);
        assert_eq!(
            shared.digests["docker.io/library/redis:7"],
            Err("registry down".to_string())
        );
        assert_eq!(table.host_for(&table.cases[0]).unwrap().resources.len(), 3);
        let own = table.host_for(&table.cases[2]).unwrap();
        assert!(own.digests.is_empty() && own.resources.is_empty());
        assert_eq!(
            own.fixture_host().digests.len(),
            0,
            "the case's own host has no digests"
        );
        assert_eq!(shared.fixture_host().digests.len(), 2);
        assert_eq!(shared.fixture_host().resources.len(), 3);

        let review = table.request_for(&table.cases[0]).unwrap().unwrap();
        assert_eq!(review["uid"], "1");
        assert_eq!(
            review["object"]["spec"]["containers"][0]["image"],
            "nginx:1.25"
        );
        let bare = table.request_for(&table.cases[1]).unwrap().unwrap();
        assert_eq!(bare["request"], json!({"not": "a request"}));
        assert_eq!(bare["object"]["spec"]["containers"][0]["image"], "redis:7");
        assert_eq!(table.request_for(&table.cases[3]).unwrap(), None);

        crate::cases::run_native::<Pinner>(dir.to_str().unwrap());
        let mut seen = Vec::new();
        let ran = table.run(|case, _, _| {
            seen.push(case.name.clone());
            Err("no answer".to_string())
        });
        assert_eq!(seen.len(), 4);
        let failures = ran.unwrap_err();
        assert_eq!(failures.lines().count(), 4, "{failures}");
        assert!(
            failures.contains("case 'settings are checked': no answer"),
            "{failures}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_table_counts_its_cases_and_names_its_failures() {
        let mut files = table_files();
        let dir = table_dir("count", &files);
        let table = CaseTable::load(&dir).unwrap();
        let ran = table.run(|case, request, host| {
            let settings = serde_json::to_vec(&case.settings).unwrap();
            let settings: Value =
                serde_json::from_slice(&validate_settings::<Pinner>(&settings)).unwrap();
            let response = request.map(|request| {
                let payload = json!({"request": request, "settings": case.settings});
                let bytes =
                    validate::<Pinner>(payload.to_string().as_bytes(), &host.fixture_host());
                serde_json::from_slice(&bytes).unwrap()
            });
            Ok(Answer {
                settings_valid: settings["valid"] == json!(true),
                settings_message: settings["message"].as_str().map(str::to_string),
                response,
            })
        });
        assert_eq!(ran, Ok(4));

        // A failing case makes `run_native` panic, naming it.
        files[0].1 = files[0].1.replace("allowed: true", "allowed: false");
        let dir = table_dir("failing", &files);
        let failed =
            std::panic::catch_unwind(|| crate::cases::run_native::<Pinner>(dir.to_str().unwrap()));
        let message = failed.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.contains("case 'a review is unwrapped and changed before it is judged': expected allowed=false"), "{message}");

        // Two cases of one name are refused.
        files[0].1.push_str("  - name: settings are checked\n    settings: {pin: true}\n    expect: {allowed: true}\n");
        let dir = table_dir("twice", &files);
        let err = CaseTable::load(&dir).unwrap_err();
        assert!(
            err.ends_with("two cases named 'settings are checked'"),
            "{err}"
        );
        for test in ["count", "failing", "twice"] {
            let _ = std::fs::remove_dir_all(table_dir(test, &[]));
        }
    }

    #[test]
    fn host_strings_decode_base64_three_levels_deep() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let in_json = |s: &str| b64(&json!({ "k": s }).to_string());
        let strings = |resource: Value| {
            host_strings(&LoadedHost {
                resources: vec![resource],
                ..Default::default()
            })
        };
        // Strings in arrays count; a decoded JSON object is searched, other JSON stays text.
        let found = strings(json!({"list": ["plain", b64("42"), b64(r#"{"auth": "inner"}"#)]}));
        for expected in ["list", "plain", "42", "auth", "inner"] {
            assert!(found.iter().any(|s| s == expected), "{expected}: {found:?}");
        }
        // Three decodings, and no fourth: as plain base64 ...
        let deepest = b64("deepest");
        let found = strings(json!({"data": b64(&b64(&b64(&deepest)))}));
        assert!(found.contains(&deepest), "{found:?}");
        assert!(!found.iter().any(|s| s == "deepest"), "{found:?}");
        // ... and through JSON objects.
        let found = strings(json!({"data": in_json(&in_json(&in_json(&deepest)))}));
        assert!(found.contains(&deepest), "{found:?}");
        assert!(!found.iter().any(|s| s == "deepest"), "{found:?}");
    }
}
