//! A policy crate as the release tools see it: its name, version, metadata.yml and README.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
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

/// The parts of a Cargo.toml the release reads.
#[derive(Deserialize)]
struct Manifest {
    package: Option<Package>,
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: Inherited,
    #[serde(default)]
    metadata: PackageMetadata,
}

#[derive(Deserialize, Default)]
struct PackageMetadata {
    release: Option<ReleaseMetadata>,
}

#[derive(Deserialize)]
struct ReleaseMetadata {
    date: String,
    profile: Option<String>,
}

#[derive(Deserialize)]
struct Workspace {
    package: Option<toml::Table>,
}

/// A package field written out or taken from the workspace (`version.workspace = true`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Inherited {
    Value(String),
    Workspace { workspace: bool },
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid Cargo.toml", path.display()))
}

/// A `[workspace.package]` string field of the root Cargo.toml.
pub fn workspace_field(root: &Path, key: &str) -> Result<String> {
    match workspace_value(root, key)? {
        toml::Value::String(text) => Ok(text),
        other => bail!("[workspace.package] {key} is {other}, not a string"),
    }
}

/// A `[workspace.package]` list of strings (`authors`).
pub fn workspace_list(root: &Path, key: &str) -> Result<Vec<String>> {
    let value = workspace_value(root, key)?;
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .with_context(|| format!("[workspace.package] {key} must be a list of strings"))
}

fn workspace_value(root: &Path, key: &str) -> Result<toml::Value> {
    let path = root.join("Cargo.toml");
    read_manifest(&path)?
        .workspace
        .and_then(|w| w.package)
        .and_then(|p| p.get(key).cloned())
        .with_context(|| format!("{} has no [workspace.package] {key}", path.display()))
}

impl PolicyCrate {
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join("Cargo.toml");
        let package = read_manifest(&manifest_path)?
            .package
            .with_context(|| format!("{} has no [package]", manifest_path.display()))?;
        let root = dir
            .parent()
            .and_then(Path::parent)
            .context("a policy folder sits in <workspace>/policies/")?;
        let version = match package.version {
            Inherited::Value(version) => version,
            Inherited::Workspace { workspace: true } => workspace_field(root, "version")?,
            Inherited::Workspace { workspace: false } => {
                bail!(
                    "{}: version.workspace must be true",
                    manifest_path.display()
                )
            }
        };
        let release = package.metadata.release.with_context(|| {
            format!(
                "{} has no [package.metadata.release] date",
                manifest_path.display()
            )
        })?;
        let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if folder != package.name {
            bail!(
                "the policy folder policies/{folder} must be named as its crate, {}",
                package.name
            );
        }
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
            name: package.name,
            version,
            dir: dir.to_path_buf(),
            metadata,
            readme,
            questions,
            release_date: release.date,
            profile: release.profile.unwrap_or_else(|| "release".to_string()),
        })
    }

    /// Every policy under `policies/`, sorted by name.
    pub fn all(root: &Path) -> Result<Vec<Self>> {
        e2e::policy_dirs(root)?
            .iter()
            .map(|(_, dir)| PolicyCrate::load(dir))
            .collect()
    }

    /// The policy's Rust type, by convention its name in CamelCase (`forbid-latest` -> `ForbidLatest`).
    pub fn type_name(&self) -> String {
        type_name(&self.name)
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
        // Which host capabilities and resources it uses is checked by behaviour: the e2e case
        // runner records every host call of its cases and compares them with metadata.yml.
        Ok(())
    }
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

/// A policy's Rust type from its name: `forbid-latest` -> `ForbidLatest`.
pub fn type_name(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}
