//! The playground: the policy crates themselves, built for `wasm32-unknown-unknown` with
//! `wasm-bindgen` and run in a static web page (`web/`). The rules, the settings validation and
//! the messages are the same code as in the Kubewarden modules: each policy's `validate` and
//! `validate_settings` entry points (`sdk_shim::entry`) are called with the same JSON payloads
//! the waPC host sends, and the host capabilities are answered from what the page is given
//! (`FixtureHost`). Manifests are wrapped into the API server's CREATE request
//! (`sdk_shim::review`) and mutations written back into the manifest's text as the CLI does
//! (`image_policies::fix`).
//!
//! The page speaks JSON strings with the exported functions: [`policies`], [`examples`],
//! [`validate_settings`] and [`evaluate`].

use image_policies::fix::{fix_text, ObjectChange};
use image_policies::manifests::{image_place, json_type, parse_documents, Manifests};
use sdk_shim::host::{FixtureHost, Host};
use sdk_shim::message::{parse_violation, split_message};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use wasm_bindgen::prelude::wasm_bindgen;

/// A policy's two entry points, as its Kubewarden module exports them.
struct Entry {
    name: &'static str,
    validate_settings: fn(&[u8]) -> Vec<u8>,
    validate: fn(&[u8], &dyn Host) -> Vec<u8>,
}

macro_rules! entry {
    ($name:literal, $policy:ident) => {
        Entry {
            name: $name,
            validate_settings: sdk_shim::entry::validate_settings::<$policy::Registered>,
            validate: sdk_shim::entry::validate::<$policy::Registered>,
        }
    };
}

// Every policy of the set (the folders under `policies/`): `POLICIES`.
include!("policies.rs");

/// What the page sends to [`evaluate`]; every text is YAML or JSON as the user typed it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Input {
    pub policy: String,
    pub settings: String,
    /// Manifests (several documents, `List` kinds) or one `AdmissionReview`.
    pub manifest: String,
    /// The namespace of objects that name none (`default` when empty).
    pub namespace: String,
    /// Fully-qualified image -> digest, for the policies that ask the host.
    pub digests: String,
    /// Cluster objects (Secrets, ServiceAccounts) for the policies that look them up.
    pub cluster: String,
}

/// The policies' names, as JSON.
#[wasm_bindgen]
pub fn policies() -> String {
    json!(POLICIES.iter().map(|p| p.name).collect::<Vec<_>>()).to_string()
}

/// The ready examples, as JSON: `[{title, policy, settings, manifest, digests, cluster}]`.
#[wasm_bindgen]
pub fn examples() -> String {
    let example = |title: &str,
                   policy: &str,
                   settings: &str,
                   manifest: &str,
                   digests: &str,
                   cluster: &str| {
        json!({"title": title, "policy": policy, "settings": settings, "manifest": manifest,
               "digests": digests, "cluster": cluster})
    };
    json!([
        example(
            "latest with IfNotPresent",
            "pull-policy-for-tag",
            "mutableTags: [latest]\nmutate: false\n",
            include_str!("../../examples/suites/manifests/latest-ifnotpresent.yaml"),
            "",
            "",
        ),
        example(
            "Docker Hub short names",
            "allowed-registries",
            "allow:\n- ghcr.io/acme\n",
            include_str!("../../examples/suites/manifests/docker-hub-short-names.yaml"),
            "",
            "",
        ),
        example(
            "Harbor pull-through cache",
            "allowed-registries",
            "allow:\n- harbor.internal.example.com\nmirrors:\n- from: docker.io\n  to: harbor.internal.example.com/dockerhub-cache\n",
            include_str!("../../examples/suites/manifests/docker-hub-short-names.yaml"),
            "",
            "",
        ),
        example(
            "ECR pull-through cache",
            "allowed-registries",
            "allow:\n- \"123456789012.dkr.ecr.*.amazonaws.com\"\nmirrors:\n- from: docker.io\n  to: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub\n",
            include_str!("../../examples/suites/manifests/docker-hub-short-names.yaml"),
            "",
            "",
        ),
        example(
            "a missing pull secret",
            "require-pull-secret",
            "registries:\n- registry.internal.example.com\nverifySecrets: true\n",
            include_str!("../../examples/suites/manifests/internal-with-secret.yaml"),
            "",
            "# team-a's secret is not here: add it, or move the pod to team-a\n",
        ),
        example(
            "pin to a digest",
            "pin-digest",
            "mutate: true\n",
            include_str!("../../examples/suites/manifests/latest-ifnotpresent.yaml"),
            "docker.io/library/nginx:latest: sha256:4f7a7b4c0d8e3a1d2b9c6e5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b\n",
            "",
        ),
    ])
    .to_string()
}

/// The policy's own settings verdict, as JSON `{valid, message}`.
#[wasm_bindgen]
pub fn validate_settings(policy: &str, settings: &str) -> String {
    settings_verdict(policy, settings).to_string()
}

/// Evaluates the page's input (JSON of [`Input`]) and answers JSON (see [`run`]).
#[wasm_bindgen]
pub fn evaluate(input: &str) -> String {
    match serde_json::from_str::<Input>(input) {
        Ok(input) => run(&input).to_string(),
        Err(e) => json!({"error": format!("the page sent an unreadable input: {e}")}).to_string(),
    }
}

fn entry(policy: &str) -> Result<&'static Entry, String> {
    POLICIES.iter().find(|p| p.name == policy).ok_or_else(|| {
        let names: Vec<&str> = POLICIES.iter().map(|p| p.name).collect();
        format!("unknown policy '{policy}' (one of {})", names.join(", "))
    })
}

/// Settings text as the settings object (empty text is `{}`).
fn settings_value(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match yaml_serde::from_str::<Value>(text) {
        Ok(Value::Null) => Ok(Value::Object(Map::new())),
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(format!(
            "settings: expected an object of settings, found {}",
            json_type(&other)
        )),
        Err(e) => Err(format!("settings: not YAML or JSON: {e}")),
    }
}

fn settings_verdict(policy: &str, text: &str) -> Value {
    let checked = entry(policy).and_then(|entry| {
        let settings = settings_value(text)?;
        let answer = (entry.validate_settings)(settings.to_string().as_bytes());
        serde_json::from_slice::<Value>(&answer).map_err(|e| e.to_string())
    });
    checked.unwrap_or_else(|message| json!({"valid": false, "message": message}))
}

/// The answer: `{settings, objects: [...], diff, fixed, fixProblems}` or `{error}` for input the
/// page must fix first. Each object: `{object, document, namespace, accepted, message, code,
/// warnings, violations: [{container, pointer, image, reason, line}], mutated, changes}`.
pub fn run(input: &Input) -> Value {
    match run_checked(input) {
        Ok(answer) => answer,
        Err(error) => json!({"error": error}),
    }
}

fn run_checked(input: &Input) -> Result<Value, String> {
    let entry = entry(&input.policy)?;
    let settings_answer = settings_verdict(entry.name, &input.settings);
    if settings_answer["valid"] != true {
        return Ok(json!({"settings": settings_answer, "objects": []}));
    }
    let settings = settings_value(&input.settings)?;
    let namespace = match input.namespace.trim() {
        "" => "default",
        given => given,
    };
    let mut manifests = Manifests::default();
    manifests
        .add("manifest".to_string(), None, input.manifest.clone(), false)
        .map_err(|e| format!("{e:#}"))?;
    if manifests.objects.is_empty() {
        return Err("manifest: no Kubernetes object in it".to_string());
    }
    let mut host = FixtureHost {
        digests: digests(&input.digests)?,
        resources: cluster_objects(&input.cluster)?,
    };

    // Each object as the API server sends it: (request, prefix of its object in the text).
    let mut requests = Vec::new();
    for (index, object) in manifests.objects.iter().enumerate() {
        if object.kind() == "AdmissionReview" {
            let request = object
                .value
                .get("request")
                .filter(|r| r.is_object())
                .ok_or("manifest: an AdmissionReview needs a request object")?;
            requests.push((request.clone(), format!("{}/request/object", object.prefix)));
        } else {
            let uid = format!("playground-{index}");
            let request = sdk_shim::review::create_request(&object.value, namespace, &uid);
            requests.push((request, object.prefix.clone()));
        }
    }
    // The manifests' own Secrets and ServiceAccounts exist once they are applied.
    for (request, _) in &requests {
        let kind = request.pointer("/object/kind").and_then(Value::as_str);
        if matches!(kind, Some("Secret" | "ServiceAccount")) {
            host.resources.push(request["object"].clone());
        }
    }

    let mut objects = Vec::new();
    let mut changes = Vec::new();
    for ((request, prefix), object) in requests.iter().zip(&manifests.objects) {
        let payload = json!({"request": request, "settings": settings}).to_string();
        let answer = (entry.validate)(payload.as_bytes(), &host);
        let response: Value = serde_json::from_slice(&answer)
            .map_err(|e| format!("the policy's answer is unreadable: {e}"))?;
        let places = manifests.places.get(&(object.source, object.document));
        let message = response.get("message").and_then(Value::as_str);
        let accepted = response.get("accepted") == Some(&Value::Bool(true));
        let violations: Vec<Value> = match (accepted, message) {
            (false, Some(message)) => split_message(message)
                .iter()
                .map(|text| {
                    let v = parse_violation(text);
                    let line = v
                        .pointer
                        .as_deref()
                        .and_then(|p| image_place(places?, &format!("{prefix}{p}")))
                        .map(|place| place.value.start.line());
                    json!({"container": v.subject, "pointer": v.pointer, "image": v.image,
                           "reason": v.reason, "line": line})
                })
                .collect(),
            _ => vec![],
        };
        let sent = request.get("object").cloned().unwrap_or(Value::Null);
        let mutated = response.get("mutated_object").filter(|m| !m.is_null());
        let object_changes = mutated
            .map(|m| sdk_shim::changes::changes(&sent, m))
            .unwrap_or_default();
        let label = match request.pointer("/kind/kind").and_then(Value::as_str) {
            Some(kind) => format!(
                "{kind}/{}",
                request.get("name").and_then(Value::as_str).unwrap_or("")
            ),
            None => object.label(),
        };
        objects.push(json!({
            "object": label,
            "document": object.document + 1,
            "namespace": request.get("namespace"),
            "accepted": accepted,
            "message": message,
            "code": response.get("code"),
            "warnings": response.get("warnings").cloned().unwrap_or(json!([])),
            "violations": violations,
            "mutated": mutated.is_some(),
            "changes": object_changes,
        }));
        if accepted && !object_changes.is_empty() {
            changes.push((object.document, prefix.clone(), label, sent, object_changes));
        }
    }
    let object_changes: Vec<ObjectChange> = changes
        .iter()
        .map(
            |(document, prefix, label, original, changes)| ObjectChange {
                document: *document,
                prefix,
                label: label.clone(),
                original: original_at(&manifests, *document, prefix).unwrap_or(original),
                changes: changes.clone(),
            },
        )
        .collect();
    let fix = fix_text(
        "manifest",
        &input.manifest,
        |document| manifests.places.get(&(0, document)),
        &object_changes,
    );
    Ok(json!({
        "settings": settings_answer,
        "objects": objects,
        "diff": fix.diff,
        "fixed": fix.fixed,
        "fixProblems": fix.problems,
    }))
}

/// The object as the text holds it (without the namespace the API server fills in).
fn original_at<'a>(manifests: &'a Manifests, document: usize, prefix: &str) -> Option<&'a Value> {
    manifests
        .objects
        .iter()
        .filter(|o| o.document == document)
        .find_map(|o| match prefix.strip_prefix(&o.prefix) {
            Some("") => Some(&o.value),
            Some(rest) => o.value.pointer(rest),
            None => None,
        })
}

fn digests(text: &str) -> Result<HashMap<String, Result<String, String>>, String> {
    if text.trim().is_empty() {
        return Ok(HashMap::new());
    }
    let map: Option<HashMap<String, String>> = yaml_serde::from_str(text)
        .map_err(|e| format!("digests: expected a map of image -> digest: {e}"))?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(image, digest)| (image, Ok(digest)))
        .collect())
}

fn cluster_objects(text: &str) -> Result<Vec<Value>, String> {
    let documents =
        parse_documents(text).map_err(|e| format!("cluster objects: not YAML or JSON: {e:#}"))?;
    let mut objects = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        match document {
            Value::Null => {}
            Value::Object(ref map) if map.get("items").is_some_and(Value::is_array) => {
                objects.extend(map["items"].as_array().into_iter().flatten().cloned())
            }
            Value::Object(_) => objects.push(document),
            other => {
                return Err(format!(
                    "cluster objects: document {}: expected a Kubernetes object, found {}",
                    index + 1,
                    json_type(&other)
                ))
            }
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(policy: &str, settings: &str, manifest: &str) -> Input {
        Input {
            policy: policy.to_string(),
            settings: settings.to_string(),
            manifest: manifest.to_string(),
            ..Input::default()
        }
    }

    const LATEST: &str = include_str!("../../examples/suites/manifests/latest-ifnotpresent.yaml");

    #[test]
    fn a_rejection_lists_each_violation_at_its_line() {
        let answer = run(&input("pull-policy-for-tag", "", LATEST));
        let object = &answer["objects"][0];
        assert_eq!(object["object"], "Deployment/web");
        assert_eq!(object["accepted"], false);
        assert_eq!(object["namespace"], "default");
        let violation = &object["violations"][0];
        assert_eq!(violation["container"], "container 'web'");
        assert_eq!(violation["line"], 14);
        assert!(violation["reason"]
            .as_str()
            .unwrap()
            .contains("so use Always"));
        assert_eq!(answer["diff"], "");
    }

    #[test]
    fn a_mutation_is_shown_as_a_diff_of_the_manifest() {
        let answer = run(&input("pull-policy-for-tag", "mutate: true", LATEST));
        let object = &answer["objects"][0];
        assert_eq!(object["accepted"], true);
        assert_eq!(
            object["changes"],
            json!({"/spec/template/spec/containers/0/imagePullPolicy": "Always"})
        );
        let diff = answer["diff"].as_str().unwrap();
        assert!(
            diff.contains(
                "-        imagePullPolicy: IfNotPresent\n+        imagePullPolicy: Always\n"
            ),
            "{diff}"
        );
        assert_eq!(
            answer["fixed"].as_str().unwrap(),
            LATEST.replace("IfNotPresent", "Always")
        );
    }

    #[test]
    fn an_admission_review_is_evaluated_as_it_is() {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "operation": "CREATE", "namespace": "ns", "name": "p",
                        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                   "spec": {"containers": [{"name": "a", "image": "nginx"}]}}}});
        let answer = run(&input(
            "pin-digest",
            "",
            &serde_json::to_string_pretty(&review).unwrap(),
        ));
        let object = &answer["objects"][0];
        assert_eq!(object["object"], "Pod/p");
        assert_eq!(object["namespace"], "ns");
        assert_eq!(object["accepted"], false);
        assert_eq!(object["violations"][0]["line"], 21, "{answer:#}");
    }

    #[test]
    fn host_capabilities_come_from_the_page() {
        let mut given = input("pin-digest", "mutate: true", LATEST);
        let without = run(&given);
        assert!(without["objects"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot resolve 'docker.io/library/nginx:latest'"));
        given.digests = "docker.io/library/nginx:latest: sha256:4f7a7b4c0d8e3a1d2b9c6e5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b".to_string();
        let with = run(&given);
        assert_eq!(with["objects"][0]["accepted"], true, "{with:#}");
        assert!(with["diff"]
            .as_str()
            .unwrap()
            .contains("+        image: nginx:latest@sha256:4f7a"));

        let secret = include_str!("../../examples/suites/cluster-team-a.yaml");
        let pod = include_str!("../../examples/suites/manifests/internal-with-secret.yaml");
        let mut given = input(
            "require-pull-secret",
            "registries: [registry.internal.example.com]\nverifySecrets: true",
            pod,
        );
        assert_eq!(run(&given)["objects"][0]["accepted"], false);
        given.cluster = secret.to_string();
        let answer = run(&given);
        assert_eq!(answer["objects"][0]["accepted"], true, "{answer:#}");
        assert!(!answer.to_string().contains("user:pass"));
    }

    #[test]
    fn settings_are_judged_by_the_policy_itself() {
        assert_eq!(
            settings_verdict("pull-policy-for-tag", "mutableTags: latest"),
            json!({"valid": false, "message": "mutableTags: invalid type: string \"latest\", expected a sequence"})
        );
        assert_eq!(
            settings_verdict("pin-digest", ""),
            json!({"valid": true, "message": null})
        );
        assert_eq!(
            settings_verdict("pin-digest", "[1]")["message"],
            "settings: expected an object of settings, found a list"
        );
        assert!(settings_verdict("pin-digest", "a: [")["message"]
            .as_str()
            .unwrap()
            .starts_with("settings: not YAML or JSON"));
        assert!(settings_verdict("nope", "")["message"]
            .as_str()
            .unwrap()
            .contains("unknown policy 'nope'"));
        let answer = run(&input("pull-policy-for-tag", "bogus: 1", LATEST));
        assert_eq!(answer["settings"]["valid"], false);
        assert_eq!(answer["objects"], json!([]));
    }

    #[test]
    fn bad_input_is_an_error_naming_where() {
        for (given, fragment) in [
            (
                input("pin-digest", "", "a: ["),
                "manifest: not YAML or JSON",
            ),
            (
                input("pin-digest", "", "kind: Pod\n"),
                "manifest: document 1: apiVersion: missing",
            ),
            (
                input("pin-digest", "", ""),
                "manifest: no Kubernetes object in it",
            ),
            (
                Input {
                    digests: "[1]".into(),
                    ..input("pin-digest", "", LATEST)
                },
                "digests: expected a map",
            ),
            (
                Input {
                    cluster: "- 1".into(),
                    ..input("pin-digest", "", LATEST)
                },
                "cluster objects: document 1: expected a Kubernetes object, found a list",
            ),
        ] {
            let answer = run(&given);
            let error = answer["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{answer}"));
            assert!(error.contains(fragment), "{error}");
        }
        assert!(evaluate("{").contains("unreadable input"));
    }

    #[test]
    fn every_example_names_a_policy_and_valid_settings() {
        let examples: Vec<Value> = serde_json::from_str(&examples()).unwrap();
        assert_eq!(examples.len(), 6);
        for example in examples {
            let policy = example["policy"].as_str().unwrap();
            let settings = example["settings"].as_str().unwrap();
            assert_eq!(
                settings_verdict(policy, settings)["valid"],
                true,
                "{example}"
            );
        }
        let names: Vec<String> = serde_json::from_str(&policies()).unwrap();
        assert_eq!(
            names,
            [
                "allowed-registries",
                "pin-digest",
                "pull-policy-for-tag",
                "require-pull-secret"
            ]
        );
    }
}
