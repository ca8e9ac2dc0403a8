//! The committed Artifact Hub files and manifests are exactly what the generator makes, and they
//! carry what each policy folder says. No policy is named here: the policy set is the folders.

use serde_json::Value;
use std::path::{Path, PathBuf};
use xtask::artifacthub::{generate, write_or_check};
use xtask::kwctl_checks::{parse_author, Workspace};
use xtask::pipeline::{workspace_root, PUBLISHED_PREFIX};
use xtask::policy::{workspace_field, PolicyCrate};

fn policies() -> Vec<PolicyCrate> {
    let policies = PolicyCrate::all(&workspace_root()).unwrap();
    assert!(!policies.is_empty(), "no policy folders found");
    policies
}

/// Where a policy is published, with its tag.
fn image(policy: &PolicyCrate) -> String {
    format!("{PUBLISHED_PREFIX}/{}:v{}", policy.name, policy.version)
}

/// The generated files, read as YAML by path.
struct Generated(Vec<(PathBuf, String)>);

impl Generated {
    fn new() -> Self {
        Generated(generate(&workspace_root()).unwrap())
    }

    fn file(&self, path: impl AsRef<Path>) -> yaml_serde::Value {
        let path = path.as_ref();
        let (_, text) = self
            .0
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{} not generated", path.display()));
        yaml_serde::from_str(text).unwrap()
    }
}

fn json(value: &yaml_serde::Value) -> Value {
    serde_json::to_value(value).unwrap()
}

/// The (apiVersion, kind) pairs of a `contextAwareResources` list.
fn resources(list: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["apiVersion"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// The member name of a policy in the group: its name in snake_case.
fn member(policy: &PolicyCrate) -> String {
    policy.name.replace('-', "_")
}

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
    let root = workspace_root();
    let files = Generated::new();
    let policies = policies();
    // kwctl's maintainers, from the author annotation (the workspace authors).
    let maintainers = parse_author(&Workspace::read(&root).unwrap().author_annotation()).unwrap();
    assert!(!maintainers.is_empty());

    for policy in &policies {
        let name = policy.name.as_str();
        let pkg = files.file(Path::new("policies").join(name).join("artifacthub-pkg.yml"));
        assert_eq!(pkg["version"], policy.version.as_str(), "{name}");
        assert_eq!(pkg["name"], name);
        let images = pkg["containersImages"].as_sequence().unwrap();
        assert_eq!(images.len(), 1, "{name}");
        assert_eq!(images[0]["image"], image(policy).as_str(), "{name}");
        let mutating = policy.metadata["mutating"].as_bool().unwrap();
        assert_eq!(
            pkg["annotations"]["kubewarden/mutation"],
            mutating.to_string().as_str(),
            "{name}"
        );
        let people = pkg["maintainers"].as_sequence().unwrap();
        assert_eq!(people.len(), maintainers.len(), "{name}");
        for (entry, maintainer) in people.iter().zip(&maintainers) {
            assert_eq!(entry["name"], maintainer.name.as_str(), "{name}");
            assert_eq!(entry["email"], maintainer.email.as_str(), "{name}");
        }

        // Context-aware resources: there exactly when metadata.yml lists some, each of them.
        let declared = resources(&policy.metadata["contextAwareResources"]);
        match pkg["annotations"].get("kubewarden/contextAwareResources") {
            None => assert!(declared.is_empty(), "{name}: {declared:?} left out"),
            Some(aware) => {
                assert!(
                    !declared.is_empty(),
                    "{name}: lists resources it does not use"
                );
                let listed: Value = yaml_serde::from_str(aware.as_str().unwrap()).unwrap();
                assert_eq!(resources(&listed), declared, "{name}");
                for (_, kind) in &declared {
                    assert!(
                        aware.as_str().unwrap().contains(&format!("kind: {kind}")),
                        "{name}: {aware:?}"
                    );
                }
            }
        }
        assert!(
            pkg["install"].as_str().unwrap().contains(&format!(
                "kwctl scaffold manifest -t ClusterAdmissionPolicy registry://{}",
                image(policy)
            )),
            "{name}"
        );
        let questions = std::fs::read_to_string(policy.dir.join("questions-ui.yml")).unwrap();
        assert_eq!(
            pkg["annotations"]["kubewarden/questions-ui"].as_str(),
            Some(questions.as_str()),
            "{name}"
        );

        // The ready manifest: the published module, each question's default as settings.
        let manifest = files.file(Path::new("manifests").join(format!("{name}.yml")));
        assert_eq!(manifest["kind"], "ClusterAdmissionPolicy");
        assert_eq!(manifest["metadata"]["name"], name);
        assert_eq!(
            manifest["spec"]["module"],
            format!("registry://{}", image(policy)).as_str()
        );
        assert_eq!(manifest["spec"]["mutating"], mutating, "{name}");
        assert_eq!(
            resources(&json(&manifest["spec"]["contextAwareResources"])),
            declared,
            "{name}"
        );
        let settings = json(&manifest["spec"]["settings"]);
        let settings = settings.as_object().unwrap();
        let mut given = 0;
        for question in policy.questions["questions"].as_array().unwrap() {
            let variable = question["variable"].as_str().unwrap();
            match &question["default"] {
                Value::Null => {
                    assert!(!settings.contains_key(variable), "{name}: {variable}")
                }
                Value::String(s) if s.is_empty() => assert!(
                    !settings.contains_key(variable),
                    "{name}: {variable}: empty defaults are left out"
                ),
                default => {
                    assert_eq!(settings.get(variable), Some(default), "{name}: {variable}");
                    given += 1;
                }
            }
        }
        assert_eq!(
            settings.len(),
            given,
            "{name}: settings beyond the questions"
        );
    }

    let set = files.file("artifacthub-pkg.yml");
    assert_eq!(
        set["version"],
        workspace_field(&root, "version").unwrap().as_str()
    );
    let images = set["containersImages"].as_sequence().unwrap();
    assert_eq!(images.len(), policies.len(), "one image per policy");
    for (entry, policy) in images.iter().zip(&policies) {
        assert_eq!(entry["name"], policy.name.as_str());
        assert_eq!(entry["image"], image(policy).as_str());
    }
    let first = files.file(
        Path::new("policies")
            .join(&policies[0].name)
            .join("artifacthub-pkg.yml"),
    );
    assert_eq!(set["maintainers"], first["maintainers"]);
    assert!(set["install"]
        .as_str()
        .unwrap()
        .contains("ClusterAdmissionPolicyGroup"));
    let repo = files.file("artifacthub-repo.yml");
    assert!(repo["owners"][0]["email"].as_str().unwrap().contains('@'));

    let group = files.file("manifests/image-policies-group.yml");
    assert_eq!(group["kind"], "ClusterAdmissionPolicyGroup");
    let calls: Vec<String> = policies
        .iter()
        .map(|p| format!("{}()", member(p)))
        .collect();
    assert_eq!(group["spec"]["expression"], calls.join(" && ").as_str());
    let members = group["spec"]["policies"].as_mapping().unwrap();
    assert_eq!(members.len(), policies.len(), "one member per policy");
    for policy in &policies {
        let spec = &members[member(policy).as_str()];
        assert_eq!(
            spec["module"],
            format!("registry://{}", image(policy)).as_str(),
            "{}",
            policy.name
        );
    }
}

#[test]
fn manifest_settings_are_valid_for_the_compiled_policies() {
    let files = Generated::new();
    let policies = policies();
    let group = files.file("manifests/image-policies-group.yml");
    let members = group["spec"]["policies"].as_mapping().unwrap();
    assert_eq!(members.len(), policies.len(), "one member per policy");
    for policy in &policies {
        let name = &policy.name;
        let module = e2e::PolicyModule::load(&e2e::built_policy(name).unwrap()).unwrap();
        let instance = module
            .instantiate(std::sync::Arc::new(e2e::HostCapabilities::new()))
            .unwrap();
        let manifest = files.file(Path::new("manifests").join(format!("{name}.yml")));
        for (what, settings) in [
            (
                "group member",
                &members[member(policy).as_str()]["settings"],
            ),
            ("manifest", &manifest["spec"]["settings"]),
        ] {
            let settings = json(settings);
            assert!(settings.is_object(), "{name}: {what} has no settings");
            let answer = instance.validate_settings(&settings).unwrap();
            assert!(answer.valid, "{name}: {what}: {settings} -> {answer:?}");
        }
    }
}
