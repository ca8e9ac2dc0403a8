//! Which policies see which objects, with which module and settings: read from Kubewarden's
//! `ClusterAdmissionPolicy`, `AdmissionPolicy`, `ClusterAdmissionPolicyGroup` and
//! `AdmissionPolicyGroup` manifests, or one policy given on the command line.
//!
//! Modules are taken from a local folder (by default `dist/`, what the release tooling writes):
//! a manifest's `module: registry://ghcr.io/image-policies/pin-digest:v0.1.0` is
//! `<folder>/pin-digest.wasm`, whose annotated version must be `0.1.0`; `file://` names a path.
//! With [`Pull`], `registry://` and `oci://` modules are fetched instead and their signatures
//! verified with a Kubewarden verification config, by the release tooling's own code
//! (`xtask::pipeline::Location::fetch_verified`).

use crate::expression::Expression;
use crate::manifests::{json_type, parse_documents};
use anyhow::{anyhow, bail, Context, Result};
use e2e::PolicyModule;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The annotation holding a module's version (written by `cargo xtask annotate`).
const VERSION_ANNOTATION: &str = "io.kubewarden.policy.version";
/// The custom section holding a module's metadata.
const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// One module with its settings.
pub struct Member {
    pub name: String,
    pub module: Arc<PolicyModule>,
    pub settings: Value,
}

pub enum Body {
    Single(Member),
    /// A policy group: every member is evaluated, and `expression` over their verdicts decides.
    Group {
        members: Vec<Member>,
        expression: Expression,
        message: String,
    },
}

/// A policy as the cluster would run it.
pub struct Policy {
    pub name: String,
    /// Its webhook configuration's name, which orders mutating webhooks: Kubewarden's
    /// `clusterwide-<name>` or `namespaced-<namespace>-<name>`.
    pub webhook: String,
    /// Where it was read from (a file, or the command line).
    pub origin: String,
    pub rules: Vec<Rule>,
    /// Registered as a mutating webhook: its mutations are applied.
    pub mutating: bool,
    /// `mode: monitor`: rejections are only reported, mutations are not applied.
    pub monitor: bool,
    /// An `AdmissionPolicy` sees only its own namespace.
    pub namespace: Option<String>,
    pub object_selector: Option<Selector>,
    pub namespace_selector: Option<Selector>,
    pub body: Body,
}

/// A webhook rule (`admissionregistration.k8s.io/v1` `RuleWithOperations`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub api_versions: Vec<String>,
    #[serde(default)]
    pub operations: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    /// `Cluster`, `Namespaced` or `*` (the default).
    pub scope: Option<String>,
}

impl Rule {
    /// Whether the rule covers `operation` on the top-level resource `resource` (no
    /// subresource), as the API server's webhook rule matcher decides: `*` matches anything,
    /// `*/*` every resource and subresource.
    pub fn matches(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        operation: &str,
        namespaced: bool,
    ) -> bool {
        let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        let scope = match self.scope.as_deref() {
            Some("Cluster") => !namespaced,
            Some("Namespaced") => namespaced,
            _ => true,
        };
        scope
            && any(&self.operations, operation)
            && any(&self.api_groups, group)
            && any(&self.api_versions, version)
            && self
                .resources
                .iter()
                .any(|r| r == "*" || r == "*/*" || r == resource)
    }
}

/// A label selector (`matchLabels` and `matchExpressions`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

impl Selector {
    /// Whether `labels` fit, as `metav1.LabelSelectorAsSelector` reads the selector.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        self.match_labels
            .iter()
            .all(|(k, v)| label(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| {
                let value = label(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                    "NotIn" => !value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                    "Exists" => value.is_some(),
                    _ => value.is_none(), // DoesNotExist (others are refused on reading)
                }
            })
    }

    fn check(&self) -> Result<(), String> {
        for (i, requirement) in self.match_expressions.iter().enumerate() {
            let needs_values = match requirement.operator.as_str() {
                "In" | "NotIn" => true,
                "Exists" | "DoesNotExist" => false,
                other => {
                    return Err(format!(
                        "matchExpressions[{i}].operator: '{other}' is not one of In, NotIn, Exists, DoesNotExist"
                    ))
                }
            };
            if needs_values == requirement.values.is_empty() {
                return Err(format!(
                    "matchExpressions[{i}].values: {} for operator {}",
                    if needs_values {
                        "required"
                    } else {
                        "must be empty"
                    },
                    requirement.operator
                ));
            }
        }
        Ok(())
    }
}

/// Fetching modules from their registry (or OCI layout), verified.
pub struct Pull {
    pub verification: xtask::cosign::VerificationConfig,
    pub registry: e2e::registry::RegistryOptions,
}

/// Where modules come from, each compiled once.
pub struct Modules {
    pub dir: PathBuf,
    pub pull: Option<Pull>,
    loaded: BTreeMap<PathBuf, Arc<PolicyModule>>,
    pulled: BTreeMap<String, Arc<PolicyModule>>,
}

impl Modules {
    pub fn new(dir: PathBuf) -> Self {
        Modules {
            dir,
            pull: None,
            loaded: BTreeMap::new(),
            pulled: BTreeMap::new(),
        }
    }

    /// The module a policy names: a policy name (`pin-digest`), a path to a `.wasm`, or a
    /// manifest's `module:` URI.
    pub fn resolve(&mut self, module: &str) -> Result<Arc<PolicyModule>> {
        let remote = module.starts_with("registry://") || module.starts_with("oci://");
        if let (Some(pull), true) = (&self.pull, remote) {
            if let Some(pulled) = self.pulled.get(module) {
                return Ok(pulled.clone());
            }
            let location = xtask::pipeline::Location::parse(module, &pull.registry)?;
            let (digest, bytes) = location
                .fetch_verified(&pull.verification)
                .with_context(|| format!("cannot pull {module}"))?;
            eprintln!("pulled {module} ({digest}), signature verified");
            let compiled = Arc::new(
                PolicyModule::from_bytes(&bytes)
                    .with_context(|| format!("cannot load {module}"))?,
            );
            self.pulled.insert(module.to_string(), compiled.clone());
            return Ok(compiled);
        }
        let (path, version) = self.locate(module)?;
        if let Some(loaded) = self.loaded.get(&path) {
            return Ok(loaded.clone());
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(wanted) = version {
            let found = module_version(&bytes)
                .with_context(|| format!("{}: unreadable metadata", path.display()))?;
            if found.as_deref() != Some(wanted.as_str()) {
                bail!(
                    "{module} names version {wanted}, but {} is version {} \
                     (build that version, or point --modules at a folder that has it)",
                    path.display(),
                    found.as_deref().unwrap_or("unknown")
                );
            }
        }
        let compiled = Arc::new(
            PolicyModule::from_bytes(&bytes)
                .with_context(|| format!("cannot load {}", path.display()))?,
        );
        self.loaded.insert(path, compiled.clone());
        Ok(compiled)
    }

    /// The file for `module`, and the version it must have.
    fn locate(&self, module: &str) -> Result<(PathBuf, Option<String>)> {
        if let Some(path) = module.strip_prefix("file://") {
            return Ok((PathBuf::from(path), None));
        }
        if module.ends_with(".wasm") && !module.contains("://") {
            return Ok((PathBuf::from(module), None));
        }
        let reference = module.split_once("://").map_or(module, |(_, rest)| rest);
        // `host/path/name:tag@digest`: the last path segment, without tag or digest.
        let last = reference.rsplit('/').next().unwrap_or(reference);
        let last = last.split('@').next().unwrap_or(last);
        let (name, tag) = match last.split_once(':') {
            Some((name, tag)) => (name, Some(tag)),
            None => (last, None),
        };
        let name = name.trim_end_matches(".wasm");
        if name.is_empty() {
            bail!("module '{module}': no policy name in it");
        }
        let path = self.dir.join(format!("{name}.wasm"));
        if !path.exists() {
            bail!(
                "module '{module}': {} does not exist (build the modules with \
                 `cargo run -p xtask -- build`, or point --modules at the folder holding {name}.wasm)",
                path.display()
            );
        }
        let version = tag.map(|t| t.strip_prefix('v').unwrap_or(t).to_string());
        Ok((path, version))
    }
}

/// The version a module's metadata annotates, if any.
pub fn module_version(module: &[u8]) -> Result<Option<String>> {
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::CustomSection(section) = payload? {
            if section.name() == METADATA_SECTION {
                let metadata: Value = serde_json::from_slice(section.data())?;
                return Ok(metadata
                    .pointer(&format!(
                        "/annotations/{}",
                        VERSION_ANNOTATION.replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    .map(str::to_string));
            }
        }
    }
    Ok(None)
}

/// The rules every policy of the set uses when none are given: every workload kind the
/// policies read, on CREATE and UPDATE.
pub fn default_rules() -> Vec<Rule> {
    let rule = |group: &str, resources: &[&str]| Rule {
        api_groups: vec![group.to_string()],
        api_versions: vec!["v1".to_string()],
        operations: vec!["CREATE".to_string(), "UPDATE".to_string()],
        resources: resources.iter().map(|r| r.to_string()).collect(),
        scope: None,
    };
    vec![
        rule("", &["pods", "replicationcontrollers", "podtemplates"]),
        rule(
            "apps",
            &["deployments", "replicasets", "statefulsets", "daemonsets"],
        ),
        rule("batch", &["jobs", "cronjobs"]),
    ]
}

/// One policy from the command line (`--policy`, `--settings`), seeing every workload kind.
pub fn single(modules: &mut Modules, policy: &str, settings: Value) -> Result<Policy> {
    let module = modules.resolve(policy)?;
    let name = Path::new(policy)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(policy)
        .to_string();
    Ok(Policy {
        webhook: format!("clusterwide-{name}"),
        name: name.clone(),
        origin: "--policy".to_string(),
        rules: default_rules(),
        mutating: true,
        monitor: false,
        namespace: None,
        object_selector: None,
        namespace_selector: None,
        body: Body::Single(Member {
            name,
            module,
            settings,
        }),
    })
}

/// Every policy in a file of Kubewarden policy manifests; an `AdmissionPolicy` that names no
/// namespace is in `namespace` (as kubectl would create it).
pub fn read_file(modules: &mut Modules, path: &Path, namespace: &str) -> Result<Vec<Policy>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let documents =
        parse_documents(&text).with_context(|| format!("{}: not YAML or JSON", path.display()))?;
    let mut policies = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let at = format!("{}: document {}", path.display(), index + 1);
        let items: Vec<&Value> = match document.get("items").and_then(Value::as_array) {
            Some(items) => items.iter().collect(),
            None if document.is_null() => vec![],
            None => vec![document],
        };
        for item in items {
            if let Some(policy) = read_policy(modules, item, &at, namespace)? {
                policies.push(policy);
            }
        }
    }
    if policies.is_empty() {
        bail!(
            "{}: no ClusterAdmissionPolicy, AdmissionPolicy or policy group in it",
            path.display()
        );
    }
    Ok(policies)
}

fn read_policy(
    modules: &mut Modules,
    object: &Value,
    at: &str,
    default_namespace: &str,
) -> Result<Option<Policy>> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = match kind {
        "ClusterAdmissionPolicy" | "AdmissionPolicy" => false,
        "ClusterAdmissionPolicyGroup" | "AdmissionPolicyGroup" => true,
        _ => return Ok(None),
    };
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{at}: {kind}: metadata.name is missing"))?
        .to_string();
    let at = format!("{at}: {kind} '{name}'");
    let spec = object
        .get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("{at}: spec: expected an object"))?;
    let field = |key: &str| spec.get(key).filter(|v| !v.is_null());
    let parse = |key: &str| -> Result<Option<Selector>> {
        let Some(value) = field(key) else {
            return Ok(None);
        };
        let selector: Selector =
            serde_json::from_value(value.clone()).map_err(|e| anyhow!("{at}: spec.{key}: {e}"))?;
        selector
            .check()
            .map_err(|e| anyhow!("{at}: spec.{key}.{e}"))?;
        Ok(Some(selector))
    };
    if field("matchConditions").is_some() {
        bail!(
            "{at}: spec.matchConditions (CEL) is not evaluated here; remove it to check without it"
        );
    }
    let rules: Vec<Rule> = match field("rules") {
        Some(rules) => {
            serde_json::from_value(rules.clone()).map_err(|e| anyhow!("{at}: spec.rules: {e}"))?
        }
        None => bail!("{at}: spec.rules is missing (a policy without rules sees nothing)"),
    };
    let mode = field("mode").and_then(Value::as_str).unwrap_or("protect");
    if !matches!(mode, "protect" | "monitor") {
        bail!("{at}: spec.mode: '{mode}' is not protect or monitor");
    }
    let namespace = match kind.starts_with("AdmissionPolicy") {
        true => Some(
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(default_namespace)
                .to_string(),
        ),
        false => None,
    };
    let webhook = match &namespace {
        Some(namespace) => format!("namespaced-{namespace}-{name}"),
        None => format!("clusterwide-{name}"),
    };
    let mut member = |name: &str, spec: &Map<String, Value>, at: &str| -> Result<Member> {
        let module = spec
            .get("module")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{at}: module: expected a string"))?;
        let settings = match spec.get("settings") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(settings @ Value::Object(_)) => settings.clone(),
            Some(other) => bail!(
                "{at}: settings: expected an object, found {}",
                json_type(other)
            ),
        };
        Ok(Member {
            name: name.to_string(),
            module: modules
                .resolve(module)
                .map_err(|e| anyhow!("{at}: {e:#}"))?,
            settings,
        })
    };
    let body = if group {
        let members_spec = field("policies")
            .and_then(Value::as_object)
            .ok_or_else(|| anyhow!("{at}: spec.policies: expected a map of name -> policy"))?;
        let mut members = Vec::new();
        for (member_name, member_spec) in members_spec {
            let member_at = format!("{at}: spec.policies.{member_name}");
            let member_spec = member_spec
                .as_object()
                .ok_or_else(|| anyhow!("{member_at}: expected an object"))?;
            members.push(member(member_name, member_spec, &member_at)?);
        }
        let expression = field("expression")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{at}: spec.expression: expected a string"))?;
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let expression = Expression::parse(expression, &names)
            .map_err(|e| anyhow!("{at}: spec.expression: {e}"))?;
        let message = field("message")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{at}: spec.message: expected a string"))?
            .to_string();
        Body::Group {
            members,
            expression,
            message,
        }
    } else {
        Body::Single(member(&name, spec, &at)?)
    };
    Ok(Some(Policy {
        name,
        webhook,
        origin: at.clone(),
        rules,
        // A group is a validating webhook; a policy mutates only when it says so.
        mutating: !group && field("mutating").and_then(Value::as_bool).unwrap_or(false),
        monitor: mode == "monitor",
        namespace,
        object_selector: parse("objectSelector")?,
        namespace_selector: parse("namespaceSelector")?,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_match_as_the_webhook_matcher_does() {
        let rule = Rule {
            api_groups: vec!["apps".into()],
            api_versions: vec!["v1".into()],
            operations: vec!["CREATE".into()],
            resources: vec!["deployments".into()],
            scope: None,
        };
        assert!(rule.matches("apps", "v1", "deployments", "CREATE", true));
        assert!(!rule.matches("", "v1", "deployments", "CREATE", true));
        assert!(!rule.matches("apps", "v1beta1", "deployments", "CREATE", true));
        assert!(!rule.matches("apps", "v1", "statefulsets", "CREATE", true));
        assert!(!rule.matches("apps", "v1", "deployments", "UPDATE", true));
        let mut any = Rule {
            api_groups: vec!["*".into()],
            api_versions: vec!["*".into()],
            operations: vec!["*".into()],
            resources: vec!["*/*".into()],
            scope: None,
        };
        assert!(any.matches("batch", "v1", "jobs", "CREATE", true));
        any.scope = Some("Cluster".into());
        assert!(!any.matches("", "v1", "pods", "CREATE", true));
        assert!(any.matches("", "v1", "namespaces", "CREATE", false));
        any.scope = Some("Namespaced".into());
        assert!(any.matches("", "v1", "pods", "CREATE", true));
        assert!(!any.matches("", "v1", "namespaces", "CREATE", false));
        any.scope = Some("*".into());
        assert!(any.matches("", "v1", "namespaces", "CREATE", false));
    }

    #[test]
    fn selectors_read_labels() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object().unwrap();
        let selector = |value: Value| -> Selector { serde_json::from_value(value).unwrap() };
        assert!(selector(json!({"matchLabels": {"app": "web"}})).matches(labels));
        assert!(!selector(json!({"matchLabels": {"app": "db"}})).matches(labels));
        let expression = |operator: &str, values: &[&str]| {
            selector(
                json!({"matchExpressions": [{"key": "tier", "operator": operator, "values": values}]}),
            )
        };
        assert!(expression("In", &["front", "back"]).matches(labels));
        assert!(!expression("In", &["back"]).matches(labels));
        assert!(expression("NotIn", &["back"]).matches(labels));
        assert!(!expression("NotIn", &["front"]).matches(labels));
        assert!(expression("Exists", &[]).matches(labels));
        assert!(!expression("DoesNotExist", &[]).matches(labels));
        assert!(
            selector(json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}))
                .matches(labels)
        );
        assert!(expression("Bogus", &[])
            .check()
            .unwrap_err()
            .contains("'Bogus'"));
        assert!(expression("In", &[])
            .check()
            .unwrap_err()
            .contains("values: required"));
        assert!(expression("Exists", &["a"])
            .check()
            .unwrap_err()
            .contains("must be empty"));
    }

    #[test]
    fn module_names_are_found_in_the_modules_folder() {
        let dir = std::env::temp_dir().join(format!("ip-modules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pin-digest.wasm"), b"").unwrap();
        let modules = Modules::new(dir.clone());
        let (path, version) = modules
            .locate("registry://ghcr.io/image-policies/pin-digest:v0.1.0")
            .unwrap();
        assert_eq!(path, dir.join("pin-digest.wasm"));
        assert_eq!(version.as_deref(), Some("0.1.0"));
        let (_, version) = modules.locate("ghcr.io/x/pin-digest@sha256:ab").unwrap();
        assert_eq!(version, None);
        assert_eq!(
            modules.locate("pin-digest").unwrap().0,
            dir.join("pin-digest.wasm")
        );
        assert_eq!(
            modules.locate("file:///tmp/x.wasm").unwrap().0,
            PathBuf::from("/tmp/x.wasm")
        );
        let missing = modules.locate("registry://ghcr.io/x/other:v1").unwrap_err();
        assert!(format!("{missing}").contains("other.wasm"), "{missing}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
