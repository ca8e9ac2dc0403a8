//! The `policy-run` command line, as a user runs it (like `kwctl run`).

use e2e::{built_policy, workspace_root};
use std::process::Command;

fn policy_run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_policy-run"))
        .args(args)
        .output()
        .expect("run policy-run");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path(relative: &str) -> String {
    workspace_root().join(relative).display().to_string()
}

#[test]
fn prints_the_response_for_a_whole_admission_review() {
    let wasm = built_policy("pin-digest").unwrap().display().to_string();
    let request = path("policies/pin-digest/test_data/pod_latest.json");
    let (code, stdout, stderr) =
        policy_run(&["--request-path", &request, "--settings-json", "{}", &wasm]);
    assert_eq!(code, 0, "{stderr}");
    let response: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(response["accepted"], false);
    assert!(response["message"]
        .as_str()
        .unwrap()
        .contains("not pinned to a digest"));
}

#[test]
fn serves_digests_from_a_file() {
    let wasm = built_policy("pin-digest").unwrap().display().to_string();
    let request = path("policies/pin-digest/test_data/pod_latest.json");
    let digests = path("e2e/test_data/digests.yml");
    let (code, stdout, stderr) = policy_run(&[
        "--request-path",
        &request,
        "--settings-json",
        r#"{"mutate": true}"#,
        "--digests",
        &digests,
        &wasm,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let response: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(response["accepted"], true, "{stdout}");
    assert_eq!(
        response["mutated_object"]["spec"]["containers"][0]["image"],
        "nginx@sha256:9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d9f7a2c1d"
    );
}

#[test]
fn invalid_settings_exit_non_zero_with_the_policys_message() {
    let wasm = built_policy("pin-digest").unwrap().display().to_string();
    let request = path("policies/pin-digest/test_data/pod_latest.json");
    let (code, stdout, stderr) = policy_run(&[
        "--request-path",
        &request,
        "--settings-json",
        r#"{"mutate": "no"}"#,
        &wasm,
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("invalid settings: mutate: invalid type"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_are_clear() {
    let (code, _, stderr) = policy_run(&["--request-path"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--request-path needs a value"), "{stderr}");
    let (code, _, stderr) =
        policy_run(&["--request-path", "/nonexistent.json", "/nonexistent.wasm"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read /nonexistent.json"), "{stderr}");
}
