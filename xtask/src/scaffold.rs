//! `cargo xtask new-policy NAME`: a new policy folder from `xtask/templates/policy/`, then every
//! generated file again, so the policy is in the release, `manifests/`, the group, the Artifact
//! Hub files and the README's table with no other edit.

use crate::pipeline::PUBLISHED_PREFIX;
use crate::policy::{workspace_field, workspace_list};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where the templates live, relative to the workspace.
const TEMPLATES: &str = "xtask/templates/policy";

/// Writes `policies/<name>/` from the templates and regenerates the derived files; returns the
/// new folder.
pub fn new_policy(root: &Path, name: &str, description: &str) -> Result<PathBuf> {
    check_name(name)?;
    if description.trim().is_empty() || description.contains(['\n', '"']) {
        bail!("the description must be one line without '\"'");
    }
    let dir = root.join("policies").join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let values = [
        ("{{name}}", name.to_string()),
        ("{{Type}}", crate::policy::type_name(name)),
        ("{{description}}", description.trim().to_string()),
        ("{{date}}", today()),
        ("{{authors}}", workspace_list(root, "authors")?.join(", ")),
        ("{{repository}}", workspace_field(root, "repository")?),
        ("{{license}}", workspace_field(root, "license")?),
        ("{{oci_url}}", format!("{PUBLISHED_PREFIX}/{name}")),
    ];
    let templates = root.join(TEMPLATES);
    for template in files_under(&templates)? {
        let relative = template.strip_prefix(&templates)?;
        let target = dir.join(relative.to_string_lossy().trim_end_matches(".tmpl"));
        let mut text = std::fs::read_to_string(&template)
            .with_context(|| format!("cannot read {}", template.display()))?;
        for (placeholder, value) in &values {
            text = text.replace(placeholder, value);
        }
        std::fs::create_dir_all(target.parent().expect("a parent"))?;
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
        println!("wrote {}", target.strip_prefix(root)?.display());
    }
    crate::policy::PolicyCrate::load(&dir)?.check()?;
    crate::artifacthub::write_or_check(root, false)?;
    Ok(dir)
}

/// A policy name: lowercase words joined by `-`, as crate names and Kubernetes names allow.
pub fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && name.as_bytes()[0].is_ascii_lowercase();
    match valid {
        true => Ok(()),
        false => bail!(
            "'{name}' is not a policy name: lowercase letters and digits in words joined by '-', \
             starting with a letter, at most 63 characters (e.g. forbid-latest)"
        ),
    }
}

fn today() -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT00:00:00Z"])
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => "1970-01-01T00:00:00Z".to_string(),
    }
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_under(&path)?);
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["demo", "forbid-latest", "a1-b2"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "Demo",
            "-demo",
            "demo-",
            "de--mo",
            "1demo",
            "de_mo",
            "dé",
            &"a".repeat(64),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(crate::policy::type_name("forbid-latest"), "ForbidLatest");
        assert_eq!(crate::policy::type_name("demo"), "Demo");
    }
}
