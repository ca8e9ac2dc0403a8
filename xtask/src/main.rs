//! `cargo xtask <command>` (or `cargo run -p xtask -- <command>`): the project's build, release
//! and maintenance tasks. `cargo xtask --help` lists them; every command has its own `--help`.

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use e2e::registry::{Login, RegistryOptions};
use e2e::{read_json_or_yaml, read_request, HostCapabilities, PolicyModule};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xtask::cosign::VerificationConfig;
use xtask::pipeline::{self, workspace_root, Location, ReleaseOptions};

#[derive(Parser)]
#[command(
    name = "xtask",
    version,
    about = "Build, release and maintain the image policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile every policy for wasm32-wasip1, annotate it, write dist/<name>.wasm; build the
    /// browser playground into dist/playground/
    Build,
    /// Build, package as OCI artifacts and sign: dist/oci/ (the main job), optionally push
    Release {
        /// Push to this registry: HOST[:PORT][/PREFIX]
        #[arg(long)]
        registry: Option<String>,
        #[command(flatten)]
        access: RegistryArgs,
        /// Sign with this cosign private key (default: a key generated under dist/keys/)
        #[arg(long)]
        key: Option<PathBuf>,
        /// The OCI image layout directory to write (relative paths: to the workspace)
        #[arg(long, value_name = "DIR", default_value = "dist/oci")]
        oci_layout: PathBuf,
    },
    /// Package, sign and push the modules already in dist/ (no build): publish a tested build
    Publish {
        /// Push to this registry: HOST[:PORT][/PREFIX]
        #[arg(long)]
        registry: String,
        #[command(flatten)]
        access: RegistryArgs,
        /// Sign with this cosign private key (default: a key generated under dist/keys/)
        #[arg(long)]
        key: Option<PathBuf>,
        /// The OCI image layout directory to write (relative paths: to the workspace)
        #[arg(long, value_name = "DIR", default_value = "dist/oci")]
        oci_layout: PathBuf,
    },
    /// Fetch a published policy and verify its signature
    Verify(Source),
    /// Fetch, verify and evaluate one request: the whole chain a cluster runs
    Run {
        #[command(flatten)]
        source: Source,
        /// The AdmissionReview (or its request) to evaluate, JSON or YAML
        #[arg(long)]
        request_path: PathBuf,
        /// Settings as JSON
        #[arg(long, conflicts_with = "settings_path")]
        settings_json: Option<String>,
        /// Settings from a JSON or YAML file
        #[arg(long)]
        settings_path: Option<PathBuf>,
        /// Image digests the host answers with (a map of image -> digest); may repeat
        #[arg(long)]
        digests: Vec<PathBuf>,
        /// Kubernetes objects the host answers with (Secrets, ServiceAccounts); may repeat
        #[arg(long)]
        cluster_state: Vec<PathBuf>,
    },
    /// Regenerate every derived file: Artifact Hub packages, manifests/, the README's policy table
    #[command(alias = "artifacthub")]
    Generate {
        /// Only report which files drifted; fail if any did
        #[arg(long)]
        check: bool,
    },
    /// Scaffold a new policy folder under policies/ and regenerate the derived files
    NewPolicy {
        /// The policy's name: lowercase words joined by '-', e.g. forbid-latest
        name: String,
        /// One line saying what it enforces
        #[arg(long, default_value = "Refuses images whose tag is forbidden")]
        description: String,
    },
    /// Build, then run the whole test suite and a smoke of every fuzz target
    Test,
    /// Write fuzz seeds from every policy's case table into CORPUS/settings and CORPUS/request
    #[command(hide = true)]
    FuzzSeeds { corpus: PathBuf },
    /// Print a shell completion script
    Completions { shell: clap_complete::Shell },
}

/// Where a published policy is and how to trust it.
#[derive(Args)]
struct Source {
    /// registry://HOST[:PORT]/REPOSITORY:TAG (or @sha256:...) or oci://DIR:TAG
    location: String,
    /// The cosign public key the policy must be signed with
    #[arg(
        long,
        required_unless_present = "verification_config",
        conflicts_with = "verification_config"
    )]
    key: Option<PathBuf>,
    /// A Kubewarden verification config (keys, threshold)
    #[arg(long)]
    verification_config: Option<PathBuf>,
    #[command(flatten)]
    access: RegistryArgs,
}

/// How to reach a registry. Credentials otherwise come from the Docker config
/// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json), its credential helpers included.
#[derive(Args)]
struct RegistryArgs {
    /// Speak plain HTTP to the registry (a loopback registry without TLS always is)
    #[arg(long)]
    insecure: bool,
    /// Trust this CA certificate (PEM) besides the system roots; may repeat
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Log in as this user (with --password-stdin) instead of the Docker config's credentials
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the password or token from stdin (never give it on the command line)
    #[arg(long, requires = "username")]
    password_stdin: bool,
}

impl RegistryArgs {
    fn options(&self) -> Result<RegistryOptions> {
        let login = match &self.username {
            Some(username) => Some(Login::read(username, std::io::stdin().lock())?),
            None => None,
        };
        Ok(RegistryOptions {
            insecure: self.insecure,
            ca_certs: self.ca_certs.clone(),
            login,
            ..Default::default()
        })
    }
}

fn main() {
    if let Err(e) = dispatch(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    let root = workspace_root();
    match cli.command {
        Command::Build => pipeline::build(&root).map(|_| ()),
        Command::Release {
            registry,
            access,
            key,
            oci_layout,
        } => {
            let release = ReleaseOptions {
                registry,
                registry_options: access.options()?,
                key,
                layout: Some(root.join(oci_layout)),
            };
            pipeline::release(&root, &release).map(|_| ())
        }
        Command::Publish {
            registry,
            access,
            key,
            oci_layout,
        } => {
            let release = ReleaseOptions {
                registry: Some(registry),
                registry_options: access.options()?,
                key,
                layout: Some(root.join(oci_layout)),
            };
            pipeline::publish(&root, &pipeline::built(&root)?, &release).map(|_| ())
        }
        Command::Verify(source) => {
            let (digest, _) = source.fetch_verified()?;
            println!("verified {} @{digest}", source.location);
            Ok(())
        }
        Command::Run {
            source,
            request_path,
            settings_json,
            settings_path,
            digests,
            cluster_state,
        } => {
            let settings = match (settings_json, settings_path) {
                (Some(json), _) => {
                    serde_json::from_str(&json).context("--settings-json is not JSON")?
                }
                (None, Some(path)) => read_json_or_yaml(&path)?,
                (None, None) => Value::Null,
            };
            run(&source, &request_path, &settings, &digests, &cluster_state)
        }
        Command::Generate { check } => {
            let differ = xtask::artifacthub::write_or_check(&root, check)?;
            if check && !differ.is_empty() {
                bail!("generated files drifted (run `cargo xtask generate`): {differ:?}");
            }
            Ok(())
        }
        Command::NewPolicy { name, description } => {
            let dir = xtask::scaffold::new_policy(&root, &name, &description)?;
            println!(
                "{} is ready: edit its src/, cases.yml and README.md; `cargo test -p {name}` runs its cases",
                dir.display()
            );
            Ok(())
        }
        Command::Test => test(&root),
        Command::FuzzSeeds { corpus } => {
            let (settings, requests) = xtask::fuzz_seeds::write(&root, &corpus)?;
            println!("seeds from the case tables: {settings} settings, {requests} requests");
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "xtask", &mut std::io::stdout());
            Ok(())
        }
    }
}

impl Source {
    fn fetch_verified(&self) -> Result<(String, Vec<u8>)> {
        let location = Location::parse(&self.location, &self.access.options()?)?;
        let config = match (&self.key, &self.verification_config) {
            (Some(key), None) => {
                let pem = std::fs::read_to_string(key)
                    .with_context(|| format!("cannot read {}", key.display()))?;
                VerificationConfig::single_key(&pem)
            }
            (None, Some(config)) => VerificationConfig::load(config)?,
            _ => bail!(
                "give exactly one of --key and --verification-config: unverified policies are not run"
            ),
        };
        location.fetch_verified(&config)
    }
}

/// Fetch, verify, and evaluate one request: the whole chain a cluster runs.
fn run(
    source: &Source,
    request_path: &Path,
    settings: &Value,
    digests: &[PathBuf],
    cluster_state: &[PathBuf],
) -> Result<()> {
    let (_, wasm) = source.fetch_verified()?;
    let request = read_request(request_path)?;
    let mut capabilities = HostCapabilities::new();
    for path in digests {
        capabilities.load_digests(path)?;
    }
    for path in cluster_state {
        capabilities.load_resources(path)?;
    }
    let instance = PolicyModule::from_bytes(&wasm)?.instantiate(Arc::new(capabilities))?;
    let answer = instance.validate_settings(settings)?;
    if !answer.valid {
        bail!("invalid settings: {}", answer.message.unwrap_or_default());
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&instance.validate(&request, settings)?)?
    );
    Ok(())
}

/// The whole test suite: the e2e tests run the modules `build` writes.
fn test(root: &Path) -> Result<()> {
    pipeline::build(root)?;
    eprintln!("==> cargo test --workspace");
    let status = pipeline::cargo()
        .current_dir(root)
        .args(["test", "--workspace"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("tests failed");
    }
    // A short smoke of every fuzz target (the long runs stay out of CI: scripts/fuzz.sh long).
    eprintln!("==> bash scripts/fuzz.sh smoke");
    let status = std::process::Command::new("bash")
        .current_dir(root)
        .args(["scripts/fuzz.sh", "smoke"])
        .status()
        .context("cannot run scripts/fuzz.sh")?;
    if !status.success() {
        bail!("fuzz smoke failed");
    }
    Ok(())
}
