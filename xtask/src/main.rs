//! `cargo run -p xtask -- <command>`: the project's build and release tasks.

use anyhow::{bail, Context, Result};
use e2e::{read_json_or_yaml, read_request, HostCapabilities, PolicyModule};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xtask::cosign::VerificationConfig;
use xtask::pipeline::{self, workspace_root, Location, ReleaseOptions};

const USAGE: &str = "usage: cargo run -p xtask -- <command>
  build      compile every policy for wasm32-wasip1, annotate, write dist/<name>.wasm
  release    build, package as OCI artifacts, sign; write dist/oci/ (the main job)
             [--registry HOST[:PORT][/PREFIX]] [--insecure] [--key COSIGN_KEY]
  verify     LOCATION (--key PUBLIC_KEY | --verification-config FILE) [--insecure]
  run        LOCATION (--key PUBLIC_KEY | --verification-config FILE) --request-path FILE
             [--settings-json JSON | --settings-path FILE] [--digests FILE] [--cluster-state FILE] [--insecure]
  artifacthub  regenerate artifacthub-pkg.yml files and manifests/ [--check: only report drift]
  test       build, then run the whole test suite and a smoke of every fuzz target
LOCATION is registry://HOST[:PORT]/REPOSITORY:TAG (or @sha256:...) or oci://DIR:TAG.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = dispatch(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Command-line options: `--name value` pairs, bare flags and positional arguments.
struct Options {
    values: Vec<(String, String)>,
    flags: Vec<String>,
    positional: Vec<String>,
}

impl Options {
    fn parse(args: &[String], flags: &[&str]) -> Result<Self> {
        let mut options = Options {
            values: Vec::new(),
            flags: Vec::new(),
            positional: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if flags.contains(&arg.as_str()) {
                options.flags.push(arg.clone());
            } else if arg.starts_with("--") {
                let value = args
                    .next()
                    .with_context(|| format!("{arg} needs a value\n{USAGE}"))?;
                options.values.push((arg.clone(), value.clone()));
            } else {
                options.positional.push(arg.clone());
            }
        }
        Ok(options)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.values
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn check_known(&self, known: &[&str]) -> Result<()> {
        for (name, _) in &self.values {
            if !known.contains(&name.as_str()) {
                bail!("unknown option {name}\n{USAGE}");
            }
        }
        Ok(())
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}")
    };
    let options = Options::parse(rest, &["--insecure", "--check"])?;
    match command.as_str() {
        "build" => pipeline::build(&root).map(|_| ()),
        "release" => {
            options.check_known(&["--registry", "--key"])?;
            let release = ReleaseOptions {
                registry: options.value("--registry").map(str::to_string),
                insecure: options.flag("--insecure"),
                key: options.value("--key").map(PathBuf::from),
                layout: None,
            };
            pipeline::release(&root, &release).map(|_| ())
        }
        "verify" => {
            options.check_known(&["--key", "--verification-config"])?;
            let location = location(&options)?;
            let (digest, _) = location.fetch_verified(&verification_config(&options)?)?;
            println!("verified {} @{digest}", options.positional[0]);
            Ok(())
        }
        "run" => {
            options.check_known(&[
                "--key",
                "--verification-config",
                "--request-path",
                "--settings-json",
                "--settings-path",
                "--digests",
                "--cluster-state",
            ])?;
            run(&options)
        }
        "artifacthub" => {
            let differ = xtask::artifacthub::write_or_check(&root, options.flag("--check"))?;
            if options.flag("--check") && !differ.is_empty() {
                bail!(
                    "generated files drifted (run `cargo run -p xtask -- artifacthub`): {differ:?}"
                );
            }
            Ok(())
        }
        "test" => test(&root),
        _ => bail!("{USAGE}"),
    }
}

fn location(options: &Options) -> Result<Location> {
    let [text] = options.positional.as_slice() else {
        bail!("expected one LOCATION\n{USAGE}")
    };
    Location::parse(text, options.flag("--insecure"))
}

fn verification_config(options: &Options) -> Result<VerificationConfig> {
    match (
        options.value("--key"),
        options.value("--verification-config"),
    ) {
        (Some(key), None) => {
            let pem = std::fs::read_to_string(key).with_context(|| format!("cannot read {key}"))?;
            Ok(VerificationConfig::single_key(&pem))
        }
        (None, Some(config)) => VerificationConfig::load(Path::new(config)),
        _ => bail!(
            "give exactly one of --key and --verification-config: unverified policies are not run"
        ),
    }
}

/// Fetch, verify, and evaluate one request: the whole chain a cluster runs.
fn run(options: &Options) -> Result<()> {
    let location = location(options)?;
    let (_, wasm) = location.fetch_verified(&verification_config(options)?)?;
    let request_path = options
        .value("--request-path")
        .context("--request-path is required")?;
    let request = read_request(Path::new(request_path))?;
    let settings: Value = match (
        options.value("--settings-json"),
        options.value("--settings-path"),
    ) {
        (Some(json), _) => serde_json::from_str(json).context("--settings-json is not JSON")?,
        (None, Some(path)) => read_json_or_yaml(Path::new(path))?,
        (None, None) => Value::Null,
    };
    let mut capabilities = HostCapabilities::new();
    for path in options.values("--digests") {
        capabilities.load_digests(Path::new(path))?;
    }
    for path in options.values("--cluster-state") {
        capabilities.load_resources(Path::new(path))?;
    }
    let instance = PolicyModule::from_bytes(&wasm)?.instantiate(Arc::new(capabilities))?;
    let answer = instance.validate_settings(&settings)?;
    if !answer.valid {
        bail!("invalid settings: {}", answer.message.unwrap_or_default());
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&instance.validate(&request, &settings)?)?
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
