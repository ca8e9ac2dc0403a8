//! `image-policies` as a user runs it: the built binary, the modules in `dist/` (written by
//! `cargo run -p xtask -- build`, which the test command runs first), fixtures in `test_data/`.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the CLI from the workspace root (so `dist/` and the paths below resolve).
fn run(args: &[&str]) -> Run {
    run_with_stdin(args, None)
}

fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-policies"))
        .current_dir(root())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

const HELM: &str = "cli/test_data/helm";
const GROUP: &str = "manifests/image-policies-group.yml";

/// The objects some policy evaluated, in the JSON report.
fn evaluated(report: &Value) -> Vec<&str> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["policies"].as_array().unwrap().is_empty())
        .map(|r| r["object"].as_str().unwrap())
        .collect()
}

/// The JSON report's result for one object (`Kind/name`).
fn result_for<'a>(report: &'a Value, object: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["object"] == object)
        .unwrap_or_else(|| panic!("no result for {object}"))
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn text_groups_by_file_object_and_container() {
    let run = run(&["check", "--policies", GROUP, HELM]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(
        !out.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    let file = out.find("cli/test_data/helm/web.yaml\n").expect(out);
    let object = out
        .find("  Deployment/web in default (document 2, line 11): rejected")
        .expect(out);
    let container = out
        .find("    container 'web' image 'nginx:latest', line 30\n")
        .expect(out);
    let reason = out
        .find("      ✗ image-policies/pull_policy_for_tag: imagePullPolicy is IfNotPresent")
        .expect(out);
    assert!(
        file < object && object < container && container < reason,
        "{out}"
    );
    assert!(out.contains(
        "    container 'metrics' image 'quay.io/prometheus/statsd-exporter:v0.26.0', line 35"
    ));
    assert!(out.contains("✗ group image-policies: the workload's images break the image policies"));
    assert!(out.contains("  CronJob/report in batch (document 1, line 1): accepted"));
    assert!(out.contains("  Pod/debug in tools (document 1, line 5): rejected"));
    assert!(out.ends_with(
        "5 objects checked (3 policy evaluations): 2 rejected, 0 mutated, 3 accepted as they are\n"
    ));
    let colour = self::run(&["check", "--policies", GROUP, "--color", "always", HELM]);
    assert!(colour.stdout.contains("\u{1b}["), "{}", colour.stdout);
}

#[test]
fn json_names_every_violation_with_its_line() {
    let run = run(&["check", "--policies", GROUP, "--output", "json", HELM]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = json_of(&run);
    assert_eq!(
        report["summary"],
        serde_json::json!({"objects": 5, "rejected": 2, "mutated": 0, "accepted": 3})
    );
    let web = result_for(&report, "Deployment/web");
    assert_eq!(web["file"], "cli/test_data/helm/web.yaml");
    assert_eq!(web["document"], 2);
    assert_eq!(web["allowed"], false);
    let group = &web["policies"][0];
    assert_eq!(group["policy"], "image-policies");
    let pin = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["policy"] == "pin_digest")
        .unwrap();
    assert_eq!(pin["allowed"], false);
    let first = &pin["violations"][0];
    assert_eq!(first["container"], "container 'web'");
    assert_eq!(first["pointer"], "/spec/template/spec/containers/0");
    assert_eq!(first["image"], "nginx:latest");
    assert_eq!(first["line"], 30);
    assert_eq!(first["column"], 16);
    assert_eq!(pin["violations"][1]["line"], 35);
    // A List item's violation is located inside the list.
    let debug = result_for(&report, "Pod/debug");
    assert_eq!(debug["pointer"], "/items/0");
    let members = debug["policies"][0]["members"].as_array().unwrap();
    let pin = members
        .iter()
        .find(|m| m["policy"] == "pin_digest")
        .unwrap();
    assert_eq!(pin["violations"][0]["line"], 9);
}

#[test]
fn sarif_points_code_scanning_at_the_image_line() {
    let run = run(&["check", "--policies", GROUP, "--output", "sarif", HELM]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let sarif = json_of(&run);
    assert_eq!(sarif["version"], "2.1.0");
    let driver = &sarif["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "image-policies");
    let rules: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"image-policies/pin_digest"), "{rules:?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let at = |uri: &str, line: u64, rule: &str| {
        results.iter().any(|r| {
            let location = &r["locations"][0]["physicalLocation"];
            location["artifactLocation"]["uri"] == uri
                && location["region"]["startLine"] == line
                && r["ruleId"] == rule
                && r["level"] == "error"
        })
    };
    assert!(at(
        "cli/test_data/helm/web.yaml",
        30,
        "image-policies/pin_digest"
    ));
    assert!(at(
        "cli/test_data/helm/web.yaml",
        30,
        "image-policies/pull_policy_for_tag"
    ));
    assert!(at(
        "cli/test_data/helm/web.yaml",
        35,
        "image-policies/pin_digest"
    ));
    assert!(at(
        "cli/test_data/helm/list.json",
        9,
        "image-policies/pin_digest"
    ));
    // Every result names a rule the driver lists, and a message.
    for result in results {
        assert!(rules.contains(&result["ruleId"].as_str().unwrap()));
        assert!(result["message"]["text"].as_str().unwrap().contains('/'));
    }
    assert_eq!(results.len(), 4, "{results:#?}");
}

#[test]
fn junit_has_a_case_per_object_and_policy() {
    let run = run(&[
        "check",
        "--policies",
        "manifests/pin-digest.yml",
        "--output",
        "junit",
        HELM,
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let xml = roxmltree::Document::parse(&run.stdout).expect("well-formed XML");
    let suites = xml.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    assert_eq!(suites.attribute("tests"), Some("3"));
    assert_eq!(suites.attribute("failures"), Some("2"));
    let cases: Vec<_> = xml
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 3);
    let web = cases
        .iter()
        .find(|c| c.attribute("name") == Some("Deployment/web (document 2): pin-digest"))
        .unwrap();
    assert_eq!(
        web.attribute("classname"),
        Some("cli/test_data/helm/web.yaml")
    );
    let failure = web.children().find(|n| n.has_tag_name("failure")).unwrap();
    assert!(failure
        .text()
        .unwrap()
        .contains("line 30: not pinned to a digest"));
    let cron = cases
        .iter()
        .find(|c| c.attribute("name") == Some("CronJob/report (document 1): pin-digest"))
        .unwrap();
    assert!(cron.children().all(|n| !n.has_tag_name("failure")));
}

/// A copy of the Helm-style fixtures to fix.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("image-policies-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    for file in ["web.yaml", "list.json", "jobs/cron.yaml"] {
        std::fs::copy(root().join(HELM).join(file), dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn fix_writes_mutations_back_keeping_comments_and_order() {
    let dir = scratch("fix");
    let path = dir.display().to_string();
    let args = [
        "check",
        "--policy",
        "pull-policy-for-tag",
        "--settings",
        "{mutate: true}",
        &path,
    ];
    // Without --fix: the diff, and the files untouched.
    let shown = run(&args);
    assert_eq!(shown.code, 0, "{}{}", shown.stdout, shown.stderr);
    assert!(
        shown.stdout.contains(
            "-        imagePullPolicy: IfNotPresent\n    +        imagePullPolicy: Always"
        ),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("--fix writes it"));
    let original = std::fs::read_to_string(root().join(HELM).join("web.yaml")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("web.yaml")).unwrap(),
        original
    );

    let mut with_fix = args.to_vec();
    with_fix.insert(1, "--fix");
    let fixed = run(&with_fix);
    assert_eq!(fixed.code, 0, "{}{}", fixed.stdout, fixed.stderr);
    assert!(fixed.stdout.contains("fixed (written):"));
    let expected = original.replace(
        "image: nginx:latest\n        imagePullPolicy: IfNotPresent",
        "image: nginx:latest\n        imagePullPolicy: Always",
    );
    assert_ne!(expected, original);
    assert_eq!(
        std::fs::read_to_string(dir.join("web.yaml")).unwrap(),
        expected
    );
    // The busybox Pod in the JSON List has no policy: Always by default, and gets nothing.
    let again = run(&args);
    assert!(again.stdout.contains("0 mutated"), "{}", again.stdout);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fix_adds_a_missing_member_and_pins_in_json_and_yaml() {
    let dir = scratch("pin");
    let path = dir.display().to_string();
    let fixed = run(&[
        "check",
        "--fix",
        "--policy",
        "pin-digest",
        "--settings",
        "{mutate: true}",
        "--digests",
        "cli/test_data/digests.yml",
        &path,
    ]);
    assert_eq!(fixed.code, 0, "{}{}", fixed.stdout, fixed.stderr);
    let list: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("list.json")).unwrap()).unwrap();
    assert_eq!(
        list["items"][0]["spec"]["containers"][0]["image"],
        "busybox@sha256:2222222222222222222222222222222222222222222222222222222222222222"
    );
    let web = std::fs::read_to_string(dir.join("web.yaml")).unwrap();
    assert!(web.contains("        # the front end; bumped by the release job\n        image: nginx:latest@sha256:1111"));
    assert!(web.contains("image: \"quay.io/prometheus/statsd-exporter:v0.26.0@sha256:3333"));

    // pull-policy-for-tag adds imagePullPolicy beside an image that has none.
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: ghcr.io/acme/api:main # tracks main\n").unwrap();
    let pod_path = pod.display().to_string();
    let added = run(&[
        "check",
        "--fix",
        "--policy",
        "pull-policy-for-tag",
        "--settings",
        "{mutate: true, mutableTags: [latest, main]}",
        &pod_path,
    ]);
    assert_eq!(added.code, 0, "{}{}", added.stdout, added.stderr);
    assert_eq!(
        std::fs::read_to_string(&pod).unwrap(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: ghcr.io/acme/api:main # tracks main\n    imagePullPolicy: Always\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stdin_is_read_and_cannot_be_fixed_in_place() {
    let manifest = std::fs::read_to_string(root().join(HELM).join("web.yaml")).unwrap();
    let run = run_with_stdin(
        &[
            "check",
            "--policy",
            "pull-policy-for-tag",
            "--settings",
            "{mutate: true}",
            "-",
        ],
        Some(&manifest),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("-\n  Deployment/web in default (document 2, line 11): mutated"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("cannot fix: stdin cannot be fixed in place"));
}

#[test]
fn policy_manifests_decide_which_objects_and_how() {
    // Rules: a policy for pods does not see the Deployment.
    let pods = run(&[
        "check",
        "--policies",
        "cli/test_data/policies/pods-only.yml",
        "--output",
        "json",
        HELM,
    ]);
    assert_eq!(evaluated(&json_of(&pods)), ["Pod/debug"]);
    assert_eq!(pods.code, 1);

    // Monitor: reported, not enforced.
    let monitor = run(&[
        "check",
        "--policies",
        "cli/test_data/policies/monitor.yml",
        HELM,
    ]);
    assert_eq!(monitor.code, 0, "{}", monitor.stdout);
    assert!(
        monitor
            .stdout
            .contains("! (monitor) pin-digest: not pinned to a digest"),
        "{}",
        monitor.stdout
    );

    // A group's expression: pinned() || official() accepts the official nginx, not quay.io.
    let group = run(&[
        "check",
        "--policies",
        "cli/test_data/policies/group-or.yml",
        "--output",
        "json",
        HELM,
    ]);
    let report = json_of(&group);
    let verdict = |object: &str| result_for(&report, object)["allowed"].clone();
    assert_eq!(verdict("Pod/debug"), true, "busybox is official");
    assert_eq!(
        verdict("Deployment/web"),
        false,
        "statsd-exporter is neither"
    );
    assert_eq!(group.code, 1);

    // A mutation from a policy not registered as mutating is a rejection.
    let validating = run(&[
        "check",
        "--policies",
        "cli/test_data/policies/not-mutating.yml",
        HELM,
    ]);
    assert_eq!(validating.code, 1);
    assert!(
        validating.stdout.contains("not registered as mutating"),
        "{}",
        validating.stdout
    );

    // namespaceSelector reads the namespace's labels from the manifests.
    let selected = run(&[
        "check",
        "--policies",
        "cli/test_data/policies/namespace-selector.yml",
        "--output",
        "json",
        "cli/test_data/namespaces",
    ]);
    assert_eq!(evaluated(&json_of(&selected)), ["Pod/in-prod"]);
}

#[test]
fn the_manifests_secrets_serve_as_cluster_state() {
    let run = run(&[
        "check",
        "--policies",
        "examples/policies.yml",
        "--output",
        "json",
        "examples/manifests",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = json_of(&run);
    let cron = result_for(&report, "CronJob/cleanup");
    assert_eq!(
        cron["allowed"], true,
        "its secret is in pull-secret.yaml: {cron:#}"
    );
    let web = result_for(&report, "Deployment/web");
    let secret = web["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy"] == "require-pull-secret")
        .unwrap();
    assert_eq!(secret["allowed"], false);
    assert!(secret["message"]
        .as_str()
        .unwrap()
        .contains("ServiceAccount 'app' lists no imagePullSecrets"));
    // Mutating policies run first, in name order: the pull policy sees the mirrored image.
    let mutated = &web["mutatedObject"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        mutated["image"],
        "harbor.internal.example.com/dockerhub-cache/library/nginx:latest"
    );
    assert_eq!(mutated["imagePullPolicy"], "Always");
    assert!(!run.stdout.contains("dXNlcjpwYXNz") && !run.stdout.contains("user:pass"));
}

#[test]
fn bad_input_is_refused_naming_the_file_document_and_field() {
    for (args, fragment) in [
        (
            vec!["check", "--policy", "pin-digest", "cli/test_data/bad/no-api-version.yaml"],
            "cli/test_data/bad/no-api-version.yaml: document 2: apiVersion: missing",
        ),
        (
            vec!["check", "--policy", "pin-digest", "cli/test_data/bad/not-yaml.yaml"],
            "cli/test_data/bad/not-yaml.yaml: not YAML or JSON",
        ),
        (
            vec!["check", "--policy", "pin-digest", "cli/test_data/bad/a-list.yaml"],
            "document 1: expected a Kubernetes object, found a list",
        ),
        (
            vec!["check", "--policy", "pin-digest", "cli/test_data/missing.yaml"],
            "cannot read cli/test_data/missing.yaml",
        ),
        (
            vec!["check", "--policies", "cli/test_data/policies/bad-settings.yml", HELM],
            "ClusterAdmissionPolicy 'pull-policy': policy 'pull-policy': invalid settings: mutableTags: invalid type",
        ),
        (
            vec!["check", "--policies", "cli/test_data/policies/bad-expression.yml", HELM],
            "spec.expression: 'other()' is not a member of the group (members: pinned)",
        ),
        (
            vec!["check", "--policies", "cli/test_data/policies/wrong-version.yml", HELM],
            "names version 9.9.9, but dist/pin-digest.wasm is version 0.1.0",
        ),
        (
            vec!["check", "--policy", "no-such-policy", HELM],
            "dist/no-such-policy.wasm does not exist",
        ),
        (
            vec!["check", "--policy", "pin-digest", "--settings", "[1", HELM],
            "--settings: neither a file nor JSON/YAML",
        ),
        (vec!["check", HELM], "--policies"),
        (vec!["check", "--policies", "x.yml", "--policy", "p", HELM], "cannot be used with"),
        (vec!["test", "cli/test_data/helm/web.yaml"], "cli/test_data/helm/web.yaml: unknown field"),
    ] {
        let run = run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(fragment), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn test_runs_suites_and_counts() {
    let passed = run(&["test", "examples/suites", "policies/pin-digest/cases.yml"]);
    assert_eq!(passed.code, 0, "{}{}", passed.stdout, passed.stderr);
    assert!(passed.stdout.contains(
        "ok     examples/suites/pull-policy-for-tag.yml: latest with IfNotPresent is refused\n"
    ));
    let summary = passed.stdout.lines().last().unwrap();
    let (count, rest) = summary.split_once(" passed, ").unwrap();
    assert!(count.parse::<usize>().unwrap() > 30, "{summary}");
    assert_eq!(rest, "0 failed (5 suites)");

    // A suite whose expectation is wrong fails, naming the case and why.
    let dir = std::env::temp_dir().join(format!("image-policies-suite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = root().join("examples/suites/manifests/latest-ifnotpresent.yaml");
    std::fs::write(
        dir.join("wrong.yml"),
        format!(
            "policy: pull-policy-for-tag\ncases:\n  - name: expects the wrong verdict\n    manifest: {}\n    expect: {{allowed: true}}\n  - name: right\n    manifest: {}\n    expect: {{allowed: false}}\n",
            manifest.display(),
            manifest.display()
        ),
    )
    .unwrap();
    let suite = dir.join("wrong.yml").display().to_string();
    let failed = run(&["test", &suite]);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains(&format!(
            "FAILED {suite}: expects the wrong verdict: expected allowed=true"
        )),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.ends_with("1 passed, 1 failed (1 suites)\n"),
        "{}",
        failed.stdout
    );

    let junit = run(&["test", "--output", "junit", &suite]);
    assert_eq!(junit.code, 1);
    let xml = roxmltree::Document::parse(&junit.stdout).expect("well-formed XML");
    assert_eq!(xml.root_element().attribute("failures"), Some("1"));
    assert_eq!(xml.root_element().attribute("tests"), Some("2"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_folder_skips_what_is_not_kubernetes_and_says_so() {
    let run = run(&["check", "--policy", "pin-digest", "cli/test_data/mixed"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "skipped cli/test_data/mixed/values.yaml: document 1: apiVersion: missing (every Kubernetes object names it) (not a Kubernetes object)"
        ),
        "{}",
        run.stderr
    );
    assert!(run
        .stdout
        .contains("Pod/rendered in default (document 1, line 1): rejected"));
    // Named on its own, the same file is an error.
    let named = self::run(&[
        "check",
        "--policy",
        "pin-digest",
        "cli/test_data/mixed/values.yaml",
    ]);
    assert_eq!(named.code, 2);
}

#[test]
fn anchors_and_merge_keys_are_read_as_kubectl_reads_them() {
    let run = run(&[
        "check",
        "--policy",
        "pull-policy-for-tag",
        "--output",
        "json",
        "cli/test_data/anchors.yaml",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = json_of(&run);
    let violations = report["results"][0]["policies"][0]["violations"]
        .as_array()
        .unwrap();
    let containers: Vec<&str> = violations
        .iter()
        .map(|v| v["container"].as_str().unwrap())
        .collect();
    assert_eq!(containers, ["container 'web'", "container 'web-copy'"]);
    assert_eq!(violations[0]["line"], 10);
    // A value that comes from an alias is not rewritten in place: said, not guessed.
    let dir = std::env::temp_dir().join(format!("image-policies-anchors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("anchors.yaml");
    std::fs::copy(root().join("cli/test_data/anchors.yaml"), &file).unwrap();
    let path = file.display().to_string();
    let fixed = self::run(&[
        "check",
        "--fix",
        "--policy",
        "pull-policy-for-tag",
        "--settings",
        "{mutate: true}",
        &path,
    ]);
    assert_eq!(fixed.code, 0, "{}{}", fixed.stdout, fixed.stderr);
    assert!(fixed.stdout.contains("cannot fix: Pod/anchors: /spec/containers/1/imagePullPolicy: comes from an alias or merge key"), "{}", fixed.stdout);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        std::fs::read_to_string(root().join("cli/test_data/anchors.yaml")).unwrap()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
