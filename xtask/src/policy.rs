//! A policy crate as the release tools see it: its name, version, metadata.yml and README.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct PolicyCrate {
    pub name: String,
    pub version: String,
    pub dir: PathBuf,
    /// metadata.yml as JSON.
    pub metadata: Value,
    pub readme: String,
    /// questions-ui.yml as JSON.
    pub questions: Value,
    /// `[package.metadata.release] date`: when this version was released.
    pub release_date: String,
    /// `[package.metadata.release] profile`: the cargo profile of the wasm build (`release` by default).
    pub profile: String,
}

impl PolicyCrate {
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .with_context(|| format!("cannot read {}/Cargo.toml", dir.display()))?;
        let field = |key: &str| -> Result<String> {
            cargo_toml_field(&manifest, key)
                .with_context(|| format!("{}/Cargo.toml has no {key}", dir.display()))
        };
        let metadata_path = dir.join("metadata.yml");
        let metadata: Value = yaml_serde::from_str(
            &std::fs::read_to_string(&metadata_path)
                .with_context(|| format!("cannot read {}", metadata_path.display()))?,
        )
        .with_context(|| format!("{} is not valid YAML", metadata_path.display()))?;
        let readme = std::fs::read_to_string(dir.join("README.md"))
            .with_context(|| format!("{} has no README.md", dir.display()))?;
        let questions_path = dir.join("questions-ui.yml");
        let questions: Value = yaml_serde::from_str(
            &std::fs::read_to_string(&questions_path)
                .with_context(|| format!("cannot read {}", questions_path.display()))?,
        )
        .with_context(|| format!("{} is not valid YAML", questions_path.display()))?;
        Ok(PolicyCrate {
            name: field("name")?,
            version: field("version")?,
            dir: dir.to_path_buf(),
            metadata,
            readme,
            questions,
            release_date: field("date")?,
            profile: field("profile").unwrap_or_else(|_| "release".to_string()),
        })
    }

    /// Every policy under `policies/`, sorted by name.
    pub fn all(root: &Path) -> Result<Vec<Self>> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("policies"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("Cargo.toml").exists())
            .collect();
        dirs.sort();
        dirs.iter().map(|d| PolicyCrate::load(d)).collect()
    }

    /// The crate's wasm file name as cargo writes it.
    pub fn wasm_file_name(&self) -> String {
        format!("{}.wasm", self.name.replace('-', "_"))
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.get("annotations")?.get(key)?.as_str()
    }

    /// Checks what can be checked without building: the declared version and the required fields.
    pub fn check(&self) -> Result<()> {
        let declared = self.annotation("io.kubewarden.policy.version");
        if declared != Some(self.version.as_str()) {
            bail!(
                "{}: metadata.yml io.kubewarden.policy.version is {:?}, but the crate version is {}",
                self.name,
                declared,
                self.version
            );
        }
        if self
            .metadata
            .get("rules")
            .and_then(Value::as_array)
            .is_none_or(|r| r.is_empty())
        {
            bail!("{}: metadata.yml must list rules", self.name);
        }
        if self
            .metadata
            .get("mutating")
            .and_then(Value::as_bool)
            .is_none()
        {
            bail!(
                "{}: metadata.yml must say mutating: true or false",
                self.name
            );
        }
        crate::kwctl_checks::check(self)?;
        self.check_capabilities()
    }

    /// The host capabilities and context-aware resources declared in metadata.yml must be the ones
    /// the policy's source asks its host for.
    fn check_capabilities(&self) -> Result<()> {
        let source = read_sources(&self.dir.join("src"))?;
        let mut used = Vec::new();
        if source.contains(".manifest_digest(") {
            used.push("oci/v1/manifest_digest".to_string());
        }
        if source.contains(".get_resource(") {
            used.push("kubernetes/get_resource".to_string());
        }
        let declared = string_list(&self.metadata, "hostCapabilities");
        if sorted(declared.clone()) != sorted(used.clone()) {
            bail!(
                "{}: metadata.yml hostCapabilities {:?} differ from what the source uses {:?}",
                self.name,
                declared,
                used
            );
        }
        let aware: Vec<String> = self
            .metadata
            .get("contextAwareResources")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|r| {
                        format!(
                            "{}/{}",
                            r["apiVersion"].as_str().unwrap_or(""),
                            r["kind"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for resource in &aware {
            let (api_version, kind) = resource.rsplit_once('/').unwrap_or(("", resource));
            if !source.contains(&format!("\"{api_version}\", \"{kind}\"")) {
                bail!(
                    "{}: contextAwareResources lists {resource}, which the source never looks up",
                    self.name
                );
            }
        }
        if used.iter().any(|c| c == "kubernetes/get_resource") && aware.is_empty() {
            bail!(
                "{}: the source looks up Kubernetes resources but contextAwareResources is empty",
                self.name
            );
        }
        Ok(())
    }
}

fn read_sources(dir: &Path) -> Result<String> {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path)?;
            // Tests may use fixtures of any capability; only the policy's own code counts.
            text.push_str(source.split("#[cfg(test)]").next().unwrap_or(""));
        }
    }
    Ok(text)
}

/// The string value of the first `key = "value"` line of a Cargo.toml (flat keys are all we read).
pub fn cargo_toml_field(manifest: &str, key: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

pub fn string_list(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}
