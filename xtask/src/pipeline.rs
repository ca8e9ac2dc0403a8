//! The release chain: build + annotate, package, sign, store (OCI layout, and a registry when
//! asked), and back: fetch, verify, run.

use crate::annotate;
use crate::cosign::{self, VerificationConfig};
use crate::oci::{self, Layout, Store};
use crate::policy::{workspace_field, PolicyCrate};
use crate::registry::Registry;
use anyhow::{bail, Context, Result};
use e2e::registry::RegistryOptions;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Where the published artifacts live; Artifact Hub files and manifests point here.
pub const PUBLISHED_PREFIX: &str = "ghcr.io/image-policies";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds every policy and writes `dist/<name>.wasm`, annotated. Returns the paths written.
pub fn build(root: &Path) -> Result<Vec<(PolicyCrate, PathBuf)>> {
    let policies = PolicyCrate::all(root)?;
    for policy in &policies {
        policy.check()?;
    }
    let started = Instant::now();
    let mut profiles: Vec<&str> = policies.iter().map(|p| p.profile.as_str()).collect();
    profiles.sort();
    profiles.dedup();
    let bar = progress("compiling", profiles.len());
    for profile in profiles {
        let names: Vec<&str> = policies
            .iter()
            .filter(|p| p.profile == profile)
            .map(|p| p.name.as_str())
            .collect();
        say(
            &bar,
            format!(
                "==> compiling {} for wasm32-wasip1 (profile {profile})",
                names.join(", ")
            ),
        );
        bar.set_message(names.join(", "));
        let mut command = cargo();
        command.current_dir(root).args([
            "build",
            "--profile",
            profile,
            "--target",
            "wasm32-wasip1",
        ]);
        for name in names {
            command.args(["-p", name]);
        }
        // Under a progress bar cargo's own output is kept, and shown only when it fails.
        if bar.is_hidden() {
            if !command.status().context("cannot run cargo")?.success() {
                bail!("cargo build failed");
            }
        } else {
            let output = command
                .arg("--quiet")
                .output()
                .context("cannot run cargo")?;
            if !output.status.success() {
                bar.abandon();
                eprint!("{}", String::from_utf8_lossy(&output.stderr));
                bail!("cargo build failed");
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let dist = root.join("dist");
    std::fs::create_dir_all(&dist)?;
    let mut written = Vec::new();
    for policy in policies {
        let built = root
            .join("target/wasm32-wasip1")
            .join(&policy.profile)
            .join(policy.wasm_file_name());
        let module = optimise(&built)?;
        let annotated = annotate::annotate(&module, &annotate::embedded_metadata(&policy))?;
        let out = dist.join(format!("{}.wasm", policy.name));
        std::fs::write(&out, &annotated)?;
        println!(
            "wrote {} ({} bytes: {} code + {} metadata)",
            out.strip_prefix(root).unwrap_or(&out).display(),
            annotated.len(),
            module.len(),
            annotated.len() - module.len()
        );
        written.push((policy, out));
    }
    crate::playground::build(root)?;
    eprintln!(
        "==> built and annotated in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(written)
}

/// What rustc enables for wasm32-wasip1 (1.82 and later): wasm-opt may use exactly these.
const WASM_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Binaryen's `wasm-opt -Oz` on a module cargo built, written beside it as `<name>.opt.wasm`
/// and returned: about 16% smaller and no slower (policy-server
/// instantiates a module for every request, so its size is paid on every admission).
pub fn optimise(built: &Path) -> Result<Vec<u8>> {
    let optimised = built.with_extension("opt.wasm");
    let status = Command::new("wasm-opt")
        .arg("-Oz")
        .args(WASM_FEATURES)
        .arg(built)
        .arg("-o")
        .arg(&optimised)
        .status()
        .context("cannot run wasm-opt (Debian's binaryen; scripts/setup.sh installs it)")?;
    if !status.success() {
        bail!("wasm-opt failed on {}", built.display());
    }
    std::fs::read(&optimised).with_context(|| format!("cannot read {}", optimised.display()))
}

/// Options of the main job.
pub struct ReleaseOptions {
    /// `host[:port][/prefix]` to push to, besides the OCI layout.
    pub registry: Option<String>,
    /// TLS, plain HTTP and credentials for that registry.
    pub registry_options: RegistryOptions,
    /// A cosign private key; a new key pair is made in `dist/keys/` when absent.
    pub key: Option<PathBuf>,
    /// The OCI layout directory; `dist/oci` by default.
    pub layout: Option<PathBuf>,
}

/// What the release wrote for one policy.
pub struct Released {
    pub name: String,
    pub tag: String,
    pub digest: String,
    /// `registry://host/repo:tag` when pushed.
    pub pushed: Option<String>,
}

/// The main job: build, annotate, package, sign into `dist/oci/`, and push when asked.
pub fn release(root: &Path, options: &ReleaseOptions) -> Result<Vec<Released>> {
    let started = Instant::now();
    let built = build(root)?;
    let released = publish(root, &built, options)?;
    eprintln!(
        "==> release finished in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(released)
}

/// The modules `build` wrote to `dist/`, without building.
pub fn built(root: &Path) -> Result<Vec<(PolicyCrate, PathBuf)>> {
    PolicyCrate::all(root)?
        .into_iter()
        .map(|policy| {
            let path = root.join("dist").join(format!("{}.wasm", policy.name));
            anyhow::ensure!(
                path.exists(),
                "{} is missing: run `cargo run -p xtask -- build`",
                path.display()
            );
            Ok((policy, path))
        })
        .collect()
}

/// Packages and signs built modules into `dist/oci/`, and pushes them when asked.
pub fn publish(
    root: &Path,
    built: &[(PolicyCrate, PathBuf)],
    options: &ReleaseOptions,
) -> Result<Vec<Released>> {
    let key = match &options.key {
        Some(key) => key.clone(),
        None => {
            let key = root.join("dist/keys/cosign.key");
            if !key.exists() {
                let (private, public) = cosign::generate_key_pair(&root.join("dist/keys"))?;
                println!(
                    "generated a P-256 key pair: {} and {}",
                    private.display(),
                    public.display()
                );
            }
            key
        }
    };
    let signer = cosign::load_signer(&key)?;
    let registry = match &options.registry {
        Some(target) => {
            let (host, prefix) = target
                .split_once('/')
                .unwrap_or((target.as_str(), "image-policies"));
            Some((
                Registry::new(host, &options.registry_options)?,
                host.to_string(),
                prefix.trim_end_matches('/').to_string(),
            ))
        }
        None => None,
    };
    let created = commit_time(root);
    let source = workspace_field(root, "repository")?;
    let mut released = Vec::new();
    let layout = Layout::new(
        &options
            .layout
            .clone()
            .unwrap_or_else(|| root.join("dist/oci")),
    );
    let bar = progress("releasing", built.len());
    for (policy, wasm_path) in built {
        let step = Instant::now();
        bar.set_message(format!("{}: packaging", policy.name));
        let wasm = std::fs::read(wasm_path)?;
        let artifact = oci::package(policy, &wasm, &created, &source)?;
        let tag = format!("v{}", policy.version);
        let repository = format!("image-policies/{}", policy.name);
        let digest = layout.put(&repository, &artifact, &tag)?;
        let published = format!("{PUBLISHED_PREFIX}/{}", policy.name);
        bar.set_message(format!("{}: signing", policy.name));
        let signature = cosign::sign(
            &layout,
            &repository,
            &published,
            &digest,
            &signer,
            &BTreeMap::new(),
        )?;
        bar.suspend(|| {
            println!(
                "{} {tag}: {} @{digest} (signed: {signature})",
                policy.name,
                layout.describe(&repository)
            )
        });
        let mut pushed = None;
        if let Some((registry, host, prefix)) = &registry {
            let repository = format!("{prefix}/{}", policy.name);
            bar.set_message(format!("{}: pushing to {host}", policy.name));
            registry.put(&repository, &artifact, &tag)?;
            cosign::sign(
                registry,
                &repository,
                &format!("{host}/{repository}"),
                &digest,
                &signer,
                &BTreeMap::new(),
            )?;
            let location = format!("registry://{host}/{repository}:{tag}");
            bar.suspend(|| {
                println!(
                    "{} {tag}: pushed {location} @{digest} (signed)",
                    policy.name
                )
            });
            pushed = Some(location);
        }
        say(
            &bar,
            format!(
                "    {} packaged and signed in {} ms",
                policy.name,
                step.elapsed().as_millis()
            ),
        );
        bar.inc(1);
        released.push(Released {
            name: policy.name.clone(),
            tag,
            digest,
            pushed,
        });
    }
    bar.finish_and_clear();
    Ok(released)
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal (CI, pipes).
fn progress(step: &str, steps: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:24}] {pos}/{len} {wide_msg} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(step.to_string());
    bar
}

/// A log line: above the bar on a terminal, plain on stderr otherwise.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// The last commit's time (reproducible artifacts for one commit), or the epoch outside git.
fn commit_time(root: &Path) -> String {
    Command::new("git")
        .current_dir(root)
        .args([
            "log",
            "-1",
            "--format=%cd",
            "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
        ])
        .env("TZ", "UTC")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// Where an artifact is: `registry://host[:port]/repo(:tag|@sha256:…)` or
/// `oci://dir(:tag|@sha256:…)` for an OCI layout directory.
pub struct Location {
    pub store: Box<dyn Store>,
    pub repository: String,
    pub reference: String,
}

impl Location {
    pub fn parse(text: &str, options: &RegistryOptions) -> Result<Self> {
        let (scheme, rest) = text.split_once("://").with_context(|| {
            format!("'{text}': expected registry://host/repository:tag or oci://dir:tag")
        })?;
        let (name, reference) = match rest.rsplit_once('@') {
            Some((name, digest)) => (name, digest.to_string()),
            None => match rest.rsplit_once(':') {
                Some((name, tag)) if !tag.contains('/') => (name, tag.to_string()),
                _ => bail!("'{text}' names no tag or digest"),
            },
        };
        match scheme {
            "registry" => {
                let (host, repository) = name
                    .split_once('/')
                    .with_context(|| format!("'{text}' names no repository"))?;
                Ok(Location {
                    store: Box::new(Registry::new(host, options)?),
                    repository: repository.to_string(),
                    reference,
                })
            }
            "oci" => {
                let dir = Path::new(name);
                let parent = dir.parent().unwrap_or(Path::new("."));
                let repository = dir
                    .file_name()
                    .context("the layout path names no directory")?
                    .to_string_lossy();
                Ok(Location {
                    store: Box::new(Layout::new(parent)),
                    repository: repository.to_string(),
                    reference,
                })
            }
            other => bail!("'{other}://' is not supported; use registry:// or oci://"),
        }
    }

    /// Fetches the policy, checks its blobs and its signatures, and returns the module.
    pub fn fetch_verified(&self, config: &VerificationConfig) -> Result<(String, Vec<u8>)> {
        let (digest, _manifest, wasm) =
            oci::fetch(self.store.as_ref(), &self.repository, &self.reference)?;
        cosign::verify(self.store.as_ref(), &self.repository, &digest, config)?;
        Ok((digest, wasm))
    }
}
