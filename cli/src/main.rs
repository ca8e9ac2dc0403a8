//! `image-policies`: what the policies will do, before they sit in front of an API server.
//!
//! - `check`: evaluates manifests with the compiled policy modules, as the API server would send
//!   them, through the project's waPC host (`e2e`), the same `.wasm` that ships.
//! - `test`: runs declarative test suites (`sdk-shim/src/cases.rs`).
//!
//! Exit status: 0 when everything is accepted (or every case passed), 1 when something is
//! rejected (or a case failed), 2 on usage or input errors.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use e2e::registry::RegistryOptions;
use e2e::HostCapabilities;
use image_policies::fix::FileFix;
use image_policies::manifests::Manifests;
use image_policies::policies::{self, Body, Modules, Policy};
use image_policies::report::{self, Findings};
use image_policies::{check, fix, suite};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "image-policies",
    version,
    about = "Check Kubernetes manifests against the image policies, and run policy test suites"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate manifests as the API server would send them (CREATE) to the policies.
    Check(Box<CheckArgs>),
    /// Run declarative test suites (case tables) through the compiled policies.
    Test(TestArgs),
    /// Serve the browser playground (built into dist/playground/) on localhost.
    Playground {
        /// The built playground.
        #[arg(long, value_name = "DIR", default_value = "dist/playground")]
        dir: PathBuf,
        /// The port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Manifests: YAML or JSON files (several documents, `List` kinds), directories (searched
    /// recursively for .yaml, .yml and .json), or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
    /// Kubewarden policy manifests (ClusterAdmissionPolicy, AdmissionPolicy and their groups),
    /// a file or a folder of them: their rules, selectors, modes, modules and settings apply.
    #[arg(long, value_name = "FILE|DIR", required_unless_present = "policy")]
    policies: Vec<PathBuf>,
    /// One policy instead: its name (from --modules) or a path to its .wasm; it sees every
    /// workload kind.
    #[arg(long, value_name = "NAME|FILE.wasm", conflicts_with = "policies")]
    policy: Option<String>,
    /// The --policy's settings: a YAML/JSON file, or inline JSON/YAML.
    #[arg(long, value_name = "FILE|JSON", requires = "policy")]
    settings: Option<String>,
    /// Where the modules are: `<DIR>/<policy>.wasm`, as `cargo run -p xtask -- build` writes.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    modules: PathBuf,
    /// Fetch the `registry://` and `oci://` modules the policy manifests name, and verify their
    /// signatures (with --key or --verification-config), instead of taking them from --modules.
    #[arg(long, requires = "policies")]
    pull: bool,
    /// The cosign public key the pulled modules must be signed with.
    #[arg(
        long,
        value_name = "FILE",
        requires = "pull",
        conflicts_with = "verification_config"
    )]
    key: Option<PathBuf>,
    /// A Kubewarden verification config (keys, threshold) for the pulled modules.
    #[arg(long, value_name = "FILE", requires = "pull")]
    verification_config: Option<PathBuf>,
    /// Speak plain HTTP to the registries modules are pulled from (loopback ones always are).
    #[arg(long, requires = "pull")]
    insecure: bool,
    /// The namespace of objects that name none.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Image digests the host answers with: a YAML/JSON map of fully-qualified image -> digest.
    #[arg(long, value_name = "FILE")]
    digests: Vec<PathBuf>,
    /// Ask the registries for digests missing from --digests (with the Docker config's
    /// credentials).
    #[arg(long)]
    resolve_digests: bool,
    /// CA certificates to trust when resolving digests or pulling modules.
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Registries to reach over plain HTTP when resolving digests.
    #[arg(long = "plain-http", value_name = "HOST", requires = "resolve_digests")]
    plain_http: Vec<String>,
    /// Cluster objects the host answers with (Secrets, ServiceAccounts, Namespaces). The
    /// checked manifests' own Secrets, ServiceAccounts and Namespaces are added.
    #[arg(long = "cluster-state", value_name = "FILE")]
    cluster_state: Vec<PathBuf>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Output,
    /// Write the policies' mutations back into the files (comments and key order kept).
    #[arg(long)]
    fix: bool,
    #[arg(long, value_enum, default_value = "auto")]
    color: Colour,
}

#[derive(clap::Args)]
struct TestArgs {
    /// Suite files (or folders of `.yml`/`.yaml` suites).
    #[arg(required = true, value_name = "SUITE")]
    suites: Vec<PathBuf>,
    /// Where the modules are.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    modules: PathBuf,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: TestOutput,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
    Sarif,
    Junit,
}

#[derive(Clone, Copy, ValueEnum)]
enum TestOutput {
    Text,
    Junit,
}

#[derive(Clone, Copy, ValueEnum)]
enum Colour {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Check(args) => check(*args),
        Command::Test(args) => test(args),
        Command::Playground { dir, port } => image_policies::serve::serve(&dir, port).map(|()| 0),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check(args: CheckArgs) -> Result<u8> {
    let mut modules = Modules::new(args.modules.clone());
    if args.pull {
        let verification = match (&args.key, &args.verification_config) {
            (Some(key), None) => {
                let pem = std::fs::read_to_string(key)
                    .with_context(|| format!("cannot read {}", key.display()))?;
                xtask::cosign::VerificationConfig::single_key(&pem)
            }
            (None, Some(config)) => xtask::cosign::VerificationConfig::load(config)?,
            _ => bail!("--pull needs --key or --verification-config: modules are run only once their signatures are verified"),
        };
        modules.pull = Some(policies::Pull {
            verification,
            registry: RegistryOptions {
                insecure: args.insecure,
                ca_certs: args.ca_certs.clone(),
                ..RegistryOptions::default()
            },
        });
    }
    let policies = load_policies(&args, &mut modules)?;
    validate_settings(&policies)?;
    let manifests = Manifests::read(&args.paths)?;
    for skipped in &manifests.skipped {
        eprintln!("skipped {skipped} (not a Kubernetes object)");
    }
    let capabilities = capabilities(&args, &manifests)?;
    let mut known = capabilities.resources.clone();
    known.extend(manifests.objects.iter().map(|o| o.value.clone()));
    let checker = check::Checker {
        policies: &policies,
        capabilities: Arc::new(capabilities),
        namespaces: check::namespace_labels(&known),
        default_namespace: args.namespace.clone(),
    };

    let progress = ProgressBar::with_draw_target(
        Some(manifests.objects.len() as u64),
        ProgressDrawTarget::stderr(),
    );
    if manifests.sources.len() < 2 {
        progress.set_draw_target(ProgressDrawTarget::hidden());
    }
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} objects {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut checked = Vec::new();
    for index in 0..manifests.objects.len() {
        let object = &manifests.objects[index];
        progress.set_message(manifests.sources[object.source].name.clone());
        checked.push(checker.check(&manifests, index));
        progress.inc(1);
    }
    progress.finish_and_clear();

    let fixes = fixes(&manifests, &checked);
    if args.fix {
        for (source, fix) in &fixes {
            if let (Some(fixed), Some(path)) = (&fix.fixed, &manifests.sources[*source].path) {
                std::fs::write(path, fixed)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    let findings = Findings {
        manifests: &manifests,
        checked,
        fixes,
        fixed_files: args.fix,
    };
    let out = match args.output {
        Output::Text => {
            let colour = match args.color {
                Colour::Always => true,
                Colour::Never => false,
                Colour::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            findings.text(colour)
        }
        Output::Json => format!("{:#}\n", findings.json()),
        Output::Sarif => format!("{:#}\n", findings.sarif()),
        Output::Junit => findings.junit(),
    };
    print!("{out}");
    Ok(if findings.rejected() { 1 } else { 0 })
}

fn load_policies(args: &CheckArgs, modules: &mut Modules) -> Result<Vec<Policy>> {
    if let Some(policy) = &args.policy {
        let settings = match &args.settings {
            None => Value::Object(Default::default()),
            Some(given) if Path::new(given).is_file() => e2e::read_json_or_yaml(Path::new(given))?,
            Some(inline) => yaml_serde::from_str(inline)
                .map_err(|e| anyhow!("--settings: neither a file nor JSON/YAML: {e}"))?,
        };
        if !settings.is_object() {
            bail!("--settings: expected an object of settings");
        }
        return Ok(vec![policies::single(modules, policy, settings)?]);
    }
    let mut loaded = Vec::new();
    for path in &args.policies {
        let files = match path.is_dir() {
            true => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yml" | "yaml" | "json")
                        )
                    })
                    .collect();
                files.sort();
                files
            }
            false => vec![path.clone()],
        };
        for file in files {
            loaded.extend(policies::read_file(modules, &file, &args.namespace)?);
        }
    }
    Ok(loaded)
}

/// Every member's settings, checked by the module itself as policy-server does on start.
fn validate_settings(policies: &[Policy]) -> Result<()> {
    for policy in policies {
        let members = match &policy.body {
            Body::Single(member) => std::slice::from_ref(member),
            Body::Group { members, .. } => members.as_slice(),
        };
        for member in members {
            let instance = member
                .module
                .instantiate(Arc::new(HostCapabilities::new()))?;
            let answer = instance.validate_settings(&member.settings)?;
            if !answer.valid {
                bail!(
                    "{}: policy '{}': invalid settings: {}",
                    policy.origin,
                    member.name,
                    answer.message.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

fn capabilities(args: &CheckArgs, manifests: &Manifests) -> Result<HostCapabilities> {
    let mut capabilities = HostCapabilities::new();
    for path in &args.digests {
        capabilities.load_digests(path)?;
    }
    for path in &args.cluster_state {
        capabilities.load_resources(path)?;
    }
    // The checked manifests' own Secrets and ServiceAccounts exist once they are applied.
    for object in &manifests.objects {
        if matches!(object.kind(), "Secret" | "ServiceAccount") {
            let request = sdk_shim::review::create_request(&object.value, &args.namespace, "");
            capabilities.resources.push(request["object"].clone());
        }
    }
    if args.resolve_digests {
        capabilities = capabilities.with_registry_lookups(RegistryOptions {
            plain_http_hosts: args.plain_http.clone(),
            ca_certs: args.ca_certs.clone(),
            ..RegistryOptions::default()
        })?;
    }
    Ok(capabilities)
}

/// Each source's mutations written into its text, with the diff.
fn fixes(manifests: &Manifests, checked: &[check::Checked]) -> BTreeMap<usize, FileFix> {
    let mut by_source: BTreeMap<usize, Vec<fix::ObjectChange>> = BTreeMap::new();
    for c in checked.iter().filter(|c| !c.rejected()) {
        let Some(mutated) = &c.mutated else { continue };
        let object = &manifests.objects[c.object];
        by_source
            .entry(object.source)
            .or_default()
            .push(fix::ObjectChange {
                document: object.document,
                prefix: &object.prefix,
                label: object.label(),
                original: &object.value,
                changes: sdk_shim::changes::changes(&c.sent, mutated),
            });
    }
    by_source
        .into_iter()
        .map(|(index, objects)| {
            let source = &manifests.sources[index];
            let places = |document| manifests.places.get(&(index, document));
            let mut fix = fix::fix_text(&source.name, &source.text, places, &objects);
            if fix.fixed.is_some() && source.path.is_none() {
                fix.problems
                    .push("stdin cannot be fixed in place".to_string());
            }
            (index, fix)
        })
        .collect()
}

fn test(args: TestArgs) -> Result<u8> {
    let modules = Modules::new(args.modules.clone());
    let mut files = Vec::new();
    for path in &args.suites {
        match path.is_dir() {
            true => {
                // In a folder, the suites are the YAML files with `cases`; the rest are fixtures.
                files.extend(
                    image_policies::manifests::manifest_files(path)?
                        .into_iter()
                        .filter(|p| {
                            matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
                        })
                        .filter(|p| is_suite(p)),
                );
            }
            false => files.push(path.clone()),
        }
    }
    let mut runs = Vec::new();
    for file in &files {
        runs.push(suite::run(file, &modules).map_err(|e| anyhow!(e))?);
    }
    let (mut passed, mut failed) = (0, 0);
    let mut junit = String::new();
    for run in &runs {
        let failures = run.cases.iter().filter(|(_, r)| r.is_err()).count();
        junit.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
            report::xml(&run.file),
            run.cases.len()
        ));
        for (name, outcome) in &run.cases {
            junit.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                report::xml(&run.policy),
                report::xml(name)
            ));
            match outcome {
                Ok(()) => {
                    passed += 1;
                    junit.push_str("/>\n");
                    if matches!(args.output, TestOutput::Text) {
                        println!("ok     {}: {name}", run.file);
                    }
                }
                Err(why) => {
                    failed += 1;
                    junit.push_str(&format!(
                        ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                        report::xml_attribute(why)
                    ));
                    if matches!(args.output, TestOutput::Text) {
                        println!("FAILED {}: {name}: {why}", run.file);
                    }
                }
            }
        }
        junit.push_str("  </testsuite>\n");
    }
    match args.output {
        TestOutput::Text => println!(
            "{passed} passed, {failed} failed ({} suites)",
            runs.len()
        ),
        TestOutput::Junit => print!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"image-policies test\" tests=\"{}\" failures=\"{failed}\">\n{junit}</testsuites>\n",
            passed + failed
        ),
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn is_suite(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| yaml_serde::from_str::<Value>(&text).ok())
        .is_some_and(|value| value.get("cases").is_some())
}
