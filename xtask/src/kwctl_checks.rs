//! What Kubewarden's own tooling refuses, checked on every policy before anything is built or
//! generated: `kwctl scaffold artifacthub -m metadata.yml -q questions-ui.yml` must accept it.
//!
//! Our own re-implementation of the checks in kwctl 1.31 (`src/scaffold/artifacthub.rs`,
//! `artifacthub()`), which reads metadata.yml into policy-evaluator v0.30.4's `Metadata`
//! (`src/policy_metadata.rs`) and builds the package with `ArtifactHubPkg::from_metadata`
//! (`src/policy_artifacthub.rs`):
//!
//! - metadata.yml must deserialize as `Metadata`: `rules` (each with `apiGroups`, `apiVersions`,
//!   `resources` string lists and `operations` from CREATE/UPDATE/DELETE/CONNECT/`*`), `mutating`
//!   a bool, annotations all strings, and the optional fields of the right kind;
//! - annotations present and non-empty as a whole; `io.kubewarden.policy.version` (semver),
//!   `io.kubewarden.policy.title`, `io.artifacthub.displayName`, `io.kubewarden.policy.description`
//!   and `io.kubewarden.policy.ociUrl` required; `ociUrl` plus `:v<version>` must parse as an OCI
//!   reference, so it carries no tag;
//! - `io.kubewarden.policy.author`, when present, an address list of `name <email>` entries
//!   (comma-separated; empty entries between commas are skipped, an empty list is refused);
//! - `io.artifacthub.keywords`, when present, comma-separated without empty entries;
//! - `io.kubewarden.policy.url` and `io.kubewarden.policy.source`, when present, URLs;
//! - questions-ui.yml, when given, not empty.
//!
//! On top of those, what keeps each value tied to its single source: the title is the crate name,
//! the version the crate version, the author the workspace `authors`, the license the workspace
//! `license`, `ociUrl` the published location `<PUBLISHED_PREFIX>/<name>`, and `url` and `source`
//! the policy's folder in the workspace `repository`. Ours is stricter than kwctl in two places:
//! each author needs a name (Artifact Hub shows maintainers by name), and the fields our
//! generator reads (author, url, source, license, resources, category, severity) are required.

use crate::pipeline::PUBLISHED_PREFIX;
use crate::policy::PolicyCrate;
use crate::policy::{workspace_field, workspace_list};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

pub const VERSION: &str = "io.kubewarden.policy.version";
pub const TITLE: &str = "io.kubewarden.policy.title";
pub const DISPLAY_NAME: &str = "io.artifacthub.displayName";
pub const DESCRIPTION: &str = "io.kubewarden.policy.description";
pub const OCI_URL: &str = "io.kubewarden.policy.ociUrl";
pub const AUTHOR: &str = "io.kubewarden.policy.author";
pub const URL: &str = "io.kubewarden.policy.url";
pub const SOURCE: &str = "io.kubewarden.policy.source";
pub const LICENSE: &str = "io.kubewarden.policy.license";
pub const KEYWORDS: &str = "io.artifacthub.keywords";
pub const RESOURCES: &str = "io.artifacthub.resources";
pub const CATEGORY: &str = "io.kubewarden.policy.category";
pub const SEVERITY: &str = "io.kubewarden.policy.severity";

/// The annotations `ArtifactHubPkg::from_metadata` refuses to go without.
pub const REQUIRED_BY_KWCTL: [&str; 5] = [VERSION, TITLE, DISPLAY_NAME, DESCRIPTION, OCI_URL];
/// The ones our generated files and manifests also read.
pub const REQUIRED_BY_US: [&str; 7] = [AUTHOR, URL, SOURCE, LICENSE, RESOURCES, CATEGORY, SEVERITY];

/// One Artifact Hub maintainer, as kwctl builds it from the author annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
}

/// The `[workspace.package]` values metadata.yml repeats.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `authors`, each `name <email>`.
    pub authors: Vec<String>,
    pub repository: String,
    pub license: String,
}

impl Workspace {
    pub fn read(root: &Path) -> Result<Self> {
        let authors = workspace_list(root, "authors")?;
        if authors.is_empty() {
            bail!("the root Cargo.toml lists no authors");
        }
        Ok(Workspace {
            authors,
            repository: workspace_field(root, "repository")?,
            license: workspace_field(root, "license")?,
        })
    }

    /// The author annotation every policy carries: the authors, as one address list.
    pub fn author_annotation(&self) -> String {
        self.authors.join(", ")
    }

    /// The policy's folder, its home page and source.
    pub fn policy_home(&self, name: &str) -> String {
        format!(
            "{}/tree/main/policies/{name}",
            self.repository.trim_end_matches('/')
        )
    }
}

/// Where the release publishes a policy, without tag: the `ociUrl` annotation.
pub fn oci_url(name: &str) -> String {
    format!("{PUBLISHED_PREFIX}/{name}")
}

/// Checks a loaded policy against its workspace (the folder two levels above it).
pub fn check(policy: &PolicyCrate) -> Result<()> {
    let root = policy
        .dir
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not under <root>/policies", policy.dir.display()))?;
    check_in(&Workspace::read(root)?, policy)
}

/// Checks a policy: its metadata.yml and questions-ui.yml as they are on disk.
pub fn check_in(workspace: &Workspace, policy: &PolicyCrate) -> Result<()> {
    let questions_path = policy.dir.join("questions-ui.yml");
    let questions = std::fs::read_to_string(&questions_path)
        .with_context(|| format!("cannot read {}", questions_path.display()))?;
    let found = problems(
        workspace,
        &policy.name,
        &policy.version,
        &policy.metadata,
        Some(&questions),
    );
    if !found.is_empty() {
        bail!(
            "{}: `kwctl scaffold artifacthub` would refuse or disagree with metadata.yml:\n  - {}",
            policy.name,
            found.join("\n  - ")
        );
    }
    Ok(())
}

/// Every problem found, each naming its field; empty when kwctl and we accept the policy.
pub fn problems(
    workspace: &Workspace,
    name: &str,
    version: &str,
    metadata: &Value,
    questions_ui: Option<&str>,
) -> Vec<String> {
    let mut found = Vec::new();
    shape_problems(metadata, &mut found);

    let annotations = metadata.get("annotations").and_then(Value::as_object);
    let Some(annotations) = annotations.filter(|a| !a.is_empty()) else {
        found.push("annotations: none, and kwctl needs them".to_string());
        return found;
    };
    for (key, value) in annotations {
        if !value.is_string() {
            found.push(format!(
                "{key}: is {value}, but every annotation must be a string (quote it)"
            ));
        }
    }
    let get = |key: &str| annotations.get(key).and_then(Value::as_str);
    for key in REQUIRED_BY_KWCTL.iter().chain(&REQUIRED_BY_US) {
        match get(key) {
            None if annotations.contains_key(*key) => {}
            None => found.push(format!("{key}: missing")),
            Some(v) if v.trim().is_empty() => found.push(format!("{key}: empty")),
            Some(_) => {}
        }
    }

    let mut expect = |key: &str, wanted: &str, why: &str| match get(key) {
        Some(actual) if actual != wanted => {
            found.push(format!("{key}: is {actual:?}, must be {wanted:?} ({why})"))
        }
        _ => {}
    };
    expect(TITLE, name, "the crate name");
    expect(VERSION, version, "the crate version");
    expect(
        AUTHOR,
        &workspace.author_annotation(),
        "the workspace Cargo.toml authors",
    );
    expect(
        LICENSE,
        &workspace.license,
        "the workspace Cargo.toml license",
    );
    let home = workspace.policy_home(name);
    expect(
        URL,
        &home,
        "the policy's folder in the workspace repository",
    );
    expect(
        SOURCE,
        &home,
        "the policy's folder in the workspace repository",
    );

    if let Some(v) = get(VERSION) {
        if !is_semver(v) {
            found.push(format!("{VERSION}: {v:?} is not a semver version"));
        }
    }
    if let Some(url) = get(OCI_URL) {
        if let Err(why) = check_oci_repository(url) {
            found.push(format!("{OCI_URL}: {url:?} {why}"));
        } else if url != oci_url(name) {
            found.push(format!(
                "{OCI_URL}: is {url:?}, must be {:?} (where the release publishes it)",
                oci_url(name)
            ));
        }
    }
    if let Some(author) = get(AUTHOR) {
        if let Err(why) = parse_author(author) {
            found.push(format!("{AUTHOR}: {why}"));
        }
    }
    if let Some(keywords) = get(KEYWORDS) {
        if keywords.split(',').any(|k| k.trim().is_empty()) {
            found.push(format!(
                "{KEYWORDS}: {keywords:?} must be comma-separated keywords, none empty"
            ));
        }
    }
    for key in [URL, SOURCE] {
        if let Some(url) = get(key) {
            if !is_url(url) {
                found.push(format!("{key}: {url:?} is not a URL"));
            }
        }
    }
    if questions_ui.is_some_and(str::is_empty) {
        found.push("questions-ui.yml: empty, and kwctl refuses an empty questions-ui".to_string());
    }
    found
}

/// What deserializing into policy-evaluator's `Metadata` asks of the fields besides annotations.
fn shape_problems(metadata: &Value, found: &mut Vec<String>) {
    let Some(object) = metadata.as_object() else {
        found.push("metadata.yml: not a mapping".to_string());
        return;
    };
    match object.get("rules").map(Value::as_array) {
        None => found.push("rules: missing".to_string()),
        Some(None) => found.push("rules: not a list".to_string()),
        Some(Some(rules)) => {
            for (i, rule) in rules.iter().enumerate() {
                for key in ["apiGroups", "apiVersions", "resources", "operations"] {
                    match rule.get(key).and_then(Value::as_array) {
                        None => found.push(format!("rules[{i}].{key}: missing or not a list")),
                        Some(list) if !list.iter().all(Value::is_string) => {
                            found.push(format!("rules[{i}].{key}: not a list of strings"))
                        }
                        Some(list) if key == "operations" => {
                            for op in list.iter().filter_map(Value::as_str) {
                                if !["CREATE", "UPDATE", "DELETE", "CONNECT", "*"].contains(&op) {
                                    found.push(format!(
                                        "rules[{i}].operations: unknown operation {op:?}"
                                    ));
                                }
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    if !object.get("mutating").is_some_and(Value::is_boolean) {
        found.push("mutating: missing or not true/false".to_string());
    }
    if object
        .get("backgroundAudit")
        .is_some_and(|v| !v.is_boolean())
    {
        found.push("backgroundAudit: not true/false".to_string());
    }
    let one_of = |key: &str, allowed: &[&str], found: &mut Vec<String>| {
        if let Some(value) = object.get(key) {
            if !value.as_str().is_some_and(|v| allowed.contains(&v)) {
                found.push(format!("{key}: {value} is not one of {allowed:?}"));
            }
        }
    };
    one_of(
        "executionMode",
        &["kubewarden-wapc", "opa", "gatekeeper", "wasi"],
        found,
    );
    one_of("policyType", &["kubernetes", "raw"], found);
    one_of("protocolVersion", &["v1"], found);
    if let Some(aware) = object.get("contextAwareResources") {
        let fine = aware.as_array().is_some_and(|list| {
            list.iter().all(|r| {
                r.get("apiVersion").is_some_and(Value::is_string)
                    && r.get("kind").is_some_and(Value::is_string)
            })
        });
        if !fine {
            found.push("contextAwareResources: must list {apiVersion, kind} strings".to_string());
        }
    }
    if let Some(v) = object.get("minimumKubewardenVersion") {
        if !v.as_str().is_some_and(is_semver) {
            found.push(format!("minimumKubewardenVersion: {v} is not semver"));
        }
    }
}

/// Parses the author annotation as kwctl does (an RFC 5322 address list: entries split at commas
/// outside double quotes, empty entries skipped), each entry `name <email>`.
pub fn parse_author(value: &str) -> std::result::Result<Vec<Maintainer>, String> {
    let mut maintainers = Vec::new();
    for entry in split_outside_quotes(value) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let parsed = entry
            .strip_suffix('>')
            .and_then(|e| e.rsplit_once('<'))
            .map(|(name, email)| (name.trim().trim_matches('"').trim(), email.trim()));
        let Some((name, email)) = parsed else {
            return Err(format!(
                "{entry:?} must be `name <email>` (entries separated by commas)"
            ));
        };
        if name.is_empty() {
            return Err(format!("{entry:?} has no name before <email>"));
        }
        if !is_email(email) {
            return Err(format!("{entry:?}: {email:?} is not an email address"));
        }
        maintainers.push(Maintainer {
            name: name.to_string(),
            email: email.to_string(),
        });
    }
    if maintainers.is_empty() {
        return Err(format!(
            "{value:?} must be comma-separated `name <email>` entries"
        ));
    }
    Ok(maintainers)
}

fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// An addr-spec with a dot-atom local part and a domain of DNS labels.
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = |s: &str, part: &dyn Fn(&str) -> bool| s.split('.').all(part);
    !local.is_empty()
        && local.len() <= 64
        && dot_atom(local, &|p| !p.is_empty() && p.chars().all(atext))
        && domain.contains('.')
        && domain.len() <= 253
        && dot_atom(domain, &|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `MAJOR.MINOR.PATCH[-pre][+build]`, numbers without leading zeros.
fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let number = |n: &str| {
        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    };
    let idents = |s: &str| {
        s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && pre.is_none_or(idents)
        && build.is_none_or(idents)
}

fn is_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "https" | "http")
            && !rest.is_empty()
            && !rest.starts_with('/')
            && !rest.chars().any(char::is_whitespace)
    })
}

/// kwctl appends `:v<version>` and parses an OCI reference: a repository without scheme, tag or
/// digest, of lowercase path components.
fn check_oci_repository(url: &str) -> std::result::Result<(), &'static str> {
    if url.contains("://") {
        return Err("must be a repository without scheme (host/path)");
    }
    if url.contains('@') {
        return Err("must not carry a digest: kwctl appends the tag");
    }
    let (host, path) = url.split_once('/').unwrap_or(("", url));
    if path.contains(':') {
        return Err("must not carry a tag: kwctl appends :v<version>");
    }
    if path.is_empty()
        || !path.split('/').all(|component| {
            !component.is_empty()
                && component.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && component.starts_with(|c: char| c.is_ascii_alphanumeric())
                && component.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
    {
        return Err("is not an OCI repository (lowercase path components)");
    }
    if host.is_empty() {
        return Err("must name its registry host");
    }
    Ok(())
}
