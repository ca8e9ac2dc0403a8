//! The committed Artifact Hub files and manifests are exactly what the generator makes.

use xtask::artifacthub::{generate, write_or_check};
use xtask::pipeline::workspace_root;

#[test]
fn committed_generated_files_do_not_drift() {
    let differ = write_or_check(&workspace_root(), true).unwrap();
    assert!(
        differ.is_empty(),
        "regenerate with `cargo run -p xtask -- artifacthub`: {differ:?} differ"
    );
}

#[test]
fn packages_carry_what_artifact_hub_and_kubewarden_read() {
    let files = generate(&workspace_root()).unwrap();
    let file = |path: &str| -> yaml_serde::Value {
        let (_, text) = files
            .iter()
            .find(|(p, _)| p.to_str() == Some(path))
            .unwrap_or_else(|| panic!("{path} not generated"));
        yaml_serde::from_str(text).unwrap()
    };
    let pkg = file("policies/require-pull-secret/artifacthub-pkg.yml");
    assert_eq!(pkg["version"], "0.1.0");
    assert_eq!(pkg["name"], "require-pull-secret");
    assert_eq!(
        pkg["containersImages"][0]["image"],
        "ghcr.io/image-policies/require-pull-secret:v0.1.0"
    );
    assert_eq!(pkg["annotations"]["kubewarden/mutation"], "true");
    // kwctl's maintainers, from the author annotation (the workspace authors).
    assert_eq!(pkg["maintainers"][0]["name"], "image-policies maintainers");
    assert_eq!(
        pkg["maintainers"][0]["email"],
        "maintainers@image-policies.dev"
    );
    let aware = pkg["annotations"]["kubewarden/contextAwareResources"]
        .as_str()
        .unwrap();
    assert!(
        aware.contains("kind: Secret") && aware.contains("kind: ServiceAccount"),
        "{aware}"
    );
    assert!(pkg["install"]
        .as_str()
        .unwrap()
        .contains("kwctl scaffold manifest -t ClusterAdmissionPolicy registry://"));
    assert!(pkg["annotations"]["kubewarden/questions-ui"]
        .as_str()
        .unwrap()
        .contains("variable: verifySecrets"));
    let pin = file("policies/pin-digest/artifacthub-pkg.yml");
    assert!(pin["annotations"]
        .get("kubewarden/contextAwareResources")
        .is_none());

    let set = file("artifacthub-pkg.yml");
    assert_eq!(set["containersImages"].as_sequence().unwrap().len(), 4);
    assert_eq!(set["maintainers"], pkg["maintainers"]);
    assert!(set["install"]
        .as_str()
        .unwrap()
        .contains("ClusterAdmissionPolicyGroup"));
    let repo = file("artifacthub-repo.yml");
    assert!(repo["owners"][0]["email"].as_str().unwrap().contains('@'));

    let policy = file("manifests/require-pull-secret.yml");
    assert_eq!(policy["kind"], "ClusterAdmissionPolicy");
    assert_eq!(
        policy["spec"]["module"],
        "registry://ghcr.io/image-policies/require-pull-secret:v0.1.0"
    );
    assert_eq!(
        policy["spec"]["settings"]["registries"][0],
        "registry.internal.example.com"
    );
    assert!(
        policy["spec"]["settings"].get("secretName").is_none(),
        "empty defaults are left out"
    );
    let group = file("manifests/image-policies-group.yml");
    assert_eq!(group["kind"], "ClusterAdmissionPolicyGroup");
    assert_eq!(
        group["spec"]["expression"],
        "allowed_registries() && pin_digest() && pull_policy_for_tag() && require_pull_secret()"
    );
}

#[test]
fn manifest_settings_are_valid_for_the_compiled_policies() {
    let files = generate(&workspace_root()).unwrap();
    let group: yaml_serde::Value = yaml_serde::from_str(
        &files
            .iter()
            .find(|(p, _)| p.ends_with("image-policies-group.yml"))
            .unwrap()
            .1,
    )
    .unwrap();
    let members = group["spec"]["policies"].as_mapping().unwrap();
    assert_eq!(members.len(), 4);
    for (member, spec) in members {
        let name = member.as_str().unwrap().replace('_', "-");
        let module = e2e::PolicyModule::load(&e2e::built_policy(&name).unwrap()).unwrap();
        let policy = module
            .instantiate(std::sync::Arc::new(e2e::HostCapabilities::new()))
            .unwrap();
        let settings: serde_json::Value = serde_json::to_value(&spec["settings"]).unwrap();
        let answer = policy.validate_settings(&settings).unwrap();
        assert!(answer.valid, "{name}: {settings} -> {answer:?}");
    }
}
