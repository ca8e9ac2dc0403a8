//! `cargo xtask new-policy` on a scratch copy of the workspace: the new folder builds to wasm,
//! passes its own cases natively and through the `.wasm`, and is in every generated file, with
//! no other edit.

use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::pipeline::workspace_root;
use xtask::policy::PolicyCrate;

/// The files git knows (the committed workspace, without build output), copied to `to`.
fn copy_workspace(from: &Path, to: &Path) {
    let listed = Command::new("git")
        .current_dir(from)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .expect("git ls-files");
    assert!(listed.status.success());
    for relative in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let relative = Path::new(std::str::from_utf8(relative).unwrap());
        let source = from.join(relative);
        if !source.is_file() {
            continue; // deleted in the work tree
        }
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&source, &target).unwrap();
    }
}

fn cargo(root: &Path, target_dir: &Path, args: &[&str]) {
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .args(args)
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "cargo {args:?} failed in {}",
        root.display()
    );
}

#[test]
fn a_scaffolded_policy_builds_passes_and_is_in_every_generated_file() {
    let real = workspace_root();
    let scratch = tempfile_dir();
    let root = scratch.join("workspace");
    copy_workspace(&real, &root);
    let before = xtask::artifacthub::generate(&root).unwrap();

    let dir = xtask::scaffold::new_policy(&root, "demo", "Refuses images whose tag is forbidden")
        .unwrap();
    assert!(xtask::scaffold::new_policy(&root, "demo", "again").is_err());

    // Picked up as a policy, and every derived file was written again with it.
    let policies = PolicyCrate::all(&root).unwrap();
    let demo = policies.iter().find(|p| p.name == "demo").expect("demo");
    demo.check().unwrap();
    let drift = xtask::artifacthub::write_or_check(&root, true).unwrap();
    assert!(drift.is_empty(), "new-policy left {drift:?} stale");
    let after = xtask::artifacthub::generate(&root).unwrap();
    assert_eq!(
        after.len(),
        before.len() + 2,
        "its hub package and manifest"
    );
    let file = |path: &str| -> String {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert!(file("policies/demo/artifacthub-pkg.yml").contains("name: demo"));
    assert!(file("manifests/demo.yml")
        .contains("module: registry://ghcr.io/image-policies/demo:v0.1.0"));
    assert!(file("manifests/image-policies-group.yml")
        .contains("registry://ghcr.io/image-policies/demo:v0.1.0"));
    assert!(file("artifacthub-pkg.yml").contains("demo"));
    assert!(file("README.md").contains("| [demo](policies/demo/README.md) |"));
    assert!(file("fuzz/Cargo.toml").contains("demo = { path = \"../policies/demo\" }"));
    assert!(file("fuzz/fuzz_targets/policies.rs").contains("$m!(demo::Demo);"));
    assert!(file("playground/Cargo.toml").contains("demo = { path = \"../policies/demo\" }"));
    assert!(file("playground/src/policies.rs").contains("entry!(\"demo\", demo),"));

    // Its own tests pass, natively; then its wasm passes the same cases through the waPC host.
    // A target directory of its own (the outer `cargo test` holds the workspace's), kept
    // between runs so that only the new crate is rebuilt.
    let target = real.join("target/new-policy-scratch");
    cargo(&root, &target, &["test", "-q", "-p", "demo"]);
    cargo(
        &root,
        &target,
        &[
            "build",
            "-q",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "demo",
        ],
    );
    let wasm = target.join("wasm32-wasip1/release/demo.wasm");
    let annotated = scratch.join("demo.wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    let annotated_bytes =
        xtask::annotate::annotate(&bytes, &xtask::annotate::embedded_metadata(demo)).unwrap();
    std::fs::write(&annotated, annotated_bytes).unwrap();
    let ran = e2e::cases::run_table(&dir, &annotated).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ran >= 2,
        "the scaffold has an accepting and a rejecting case"
    );

    std::fs::remove_dir_all(&scratch).ok();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("new-policy-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
