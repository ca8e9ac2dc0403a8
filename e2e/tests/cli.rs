//! The `policy-run` command line, as a user runs it (like `kwctl run`).

use e2e::{built_policy, policy_dirs, workspace_root};
use sdk_shim::cases::{Answer, CaseTable};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
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

/// A scratch directory for the files a case is given to `policy-run` as.
fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policy-run-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// For every policy, a few cases of its table (one without host state, one with digests, one
/// with cluster objects, one with refused settings), run with `policy-run` as a user would, with
/// the case's request, settings and host state given as files: the answers are checked as the
/// case table says.
#[test]
fn answers_each_kind_of_case_as_the_case_table_says() {
    let mut ran = 0;
    for (name, dir) in policy_dirs(&workspace_root()).unwrap() {
        let wasm = built_policy(&name).unwrap().display().to_string();
        let table = CaseTable::load(&dir).unwrap();
        let files = scratch(&name);
        let any_request = table
            .cases
            .iter()
            .find_map(|c| table.request_for(c).unwrap())
            .expect("a case with a request");
        let mut kinds_seen = BTreeSet::new();
        for case in &table.cases {
            let host = table.host_for(case).unwrap();
            let kind = match (
                &case.expect.settings_error,
                host.digests.is_empty(),
                host.resources.is_empty(),
            ) {
                (Some(_), _, _) => "settings",
                (None, true, true) => "plain",
                (None, false, _) => "digests",
                (None, true, false) => "cluster",
            };
            if host.digests.values().any(Result::is_err) || !kinds_seen.insert(kind) {
                continue; // a failing lookup cannot be written in a --digests file
            }
            let request = table
                .request_for(case)
                .unwrap()
                .unwrap_or(any_request.clone());
            let request_path = files.join("request.json");
            std::fs::write(&request_path, request.to_string()).unwrap();
            let mut args = vec![
                "--request-path".to_string(),
                request_path.display().to_string(),
                "--settings-json".to_string(),
                case.settings.to_string(),
            ];
            if !host.digests.is_empty() {
                let digests: BTreeMap<&String, &String> = host
                    .digests
                    .iter()
                    .filter_map(|(image, answer)| Some((image, answer.as_ref().ok()?)))
                    .collect();
                let path = files.join("digests.json");
                std::fs::write(&path, serde_json::to_string(&digests).unwrap()).unwrap();
                args.extend(["--digests".to_string(), path.display().to_string()]);
            }
            if !host.resources.is_empty() {
                let path = files.join("cluster.json");
                let list = json!({"apiVersion": "v1", "kind": "List", "items": host.resources});
                std::fs::write(&path, list.to_string()).unwrap();
                args.extend(["--cluster-state".to_string(), path.display().to_string()]);
            }
            args.push(wasm.clone());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, stdout, stderr) = policy_run(&args);
            let what = format!("{name}: case '{}'", case.name);
            if let Some(fragment) = &case.expect.settings_error {
                assert_eq!(code, 2, "{what}: {stderr}");
                assert!(stdout.is_empty(), "{what}");
                assert!(
                    stderr.contains(&format!("invalid settings: {fragment}")),
                    "{what}: {stderr}"
                );
            } else {
                assert_eq!(code, 0, "{what}: {stderr}");
                let answer = Answer {
                    settings_valid: true,
                    settings_message: None,
                    response: Some(serde_json::from_str(&stdout).unwrap()),
                };
                case.check(&answer, Some(&request), &host)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            ran += 1;
        }
        std::fs::remove_dir_all(&files).ok();
    }
    assert!(ran > 0);
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
