//! `image-policies check --pull`: modules fetched from where the policy manifest says (here an
//! OCI layout the release tooling writes and signs), run only once their signature verifies.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::pipeline::{self, workspace_root, ReleaseOptions};

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_image-policies"))
        .current_dir(workspace_root())
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn policy_file(dir: &Path, module: &str) -> String {
    let path = dir.join("policy.yml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: policies.kubewarden.io/v1\nkind: ClusterAdmissionPolicy\n\
             metadata: {{name: pin-digest}}\nspec:\n  module: {module}\n  rules:\n  \
             - {{apiGroups: [\"*\"], apiVersions: [\"*\"], operations: [CREATE], resources: [\"*\"]}}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn pulled_modules_run_only_with_a_verified_signature() {
    let root = workspace_root();
    let scratch = Scratch(std::env::temp_dir().join(format!("ip-pull-{}", std::process::id())));
    let dir = &scratch.0;
    std::fs::create_dir_all(dir).unwrap();
    let (private, public) = xtask::cosign::generate_key_pair(&dir.join("keys")).unwrap();
    let (_, stranger) = xtask::cosign::generate_key_pair(&dir.join("other-keys")).unwrap();
    let built: Vec<_> = pipeline::built(&root)
        .unwrap()
        .into_iter()
        .filter(|(policy, _)| policy.name == "pin-digest")
        .collect();
    let version = built[0].0.version.clone();
    let layout = dir.join("oci");
    pipeline::publish(
        &root,
        &built,
        &ReleaseOptions {
            registry: None,
            registry_options: Default::default(),
            key: Some(private),
            layout: Some(layout.clone()),
        },
    )
    .unwrap();
    let module = format!("oci://{}/pin-digest:v{version}", layout.display());
    let policies = policy_file(dir, &module);
    let manifests = "cli/test_data/helm";
    let key = public.display().to_string();

    let (code, pulled, stderr) = check(&[
        "--pull",
        "--key",
        &key,
        "--policies",
        &policies,
        "--output",
        "json",
        manifests,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("pulled {module} (sha256:")),
        "{stderr}"
    );
    assert!(stderr.contains("signature verified"), "{stderr}");
    // The same verdicts as the local build's module.
    let (_, local, _) = check(&["--policy", "pin-digest", "--output", "json", manifests]);
    let verdicts = |text: &str| -> Vec<(Value, Value)> {
        let report: Value = serde_json::from_str(text).unwrap();
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["object"].clone(), r["allowed"].clone()))
            .collect()
    };
    assert_eq!(verdicts(&pulled), verdicts(&local));
    assert!(verdicts(&pulled).contains(&(Value::from("Deployment/web"), Value::from(false))));

    // Signed by someone else: refused before it runs.
    let other = stranger.display().to_string();
    let (code, _, stderr) = check(&[
        "--pull",
        "--key",
        &other,
        "--policies",
        &policies,
        manifests,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot pull {module}")),
        "{stderr}"
    );
    assert!(!stderr.contains("signature verified"), "{stderr}");

    // No key: no pull.
    let (code, _, stderr) = check(&["--pull", "--policies", &policies, manifests]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--pull needs --key or --verification-config"),
        "{stderr}"
    );

    // A tag the layout does not have.
    let missing = policy_file(
        dir,
        &format!("oci://{}/pin-digest:v9.9.9", layout.display()),
    );
    let (code, _, stderr) = check(&["--pull", "--key", &key, "--policies", &missing, manifests]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot pull"), "{stderr}");
}
