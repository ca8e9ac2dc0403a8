//! `policy-run`: evaluate one request with one policy, like `kwctl run`.
//!
//! ```text
//! policy-run --request-path REQ.json [--settings-json JSON | --settings-path FILE]
//!            [--digests FILE] [--resolve-digests [--plain-http HOST]... [--ca-cert FILE]...]
//!            [--cluster-state FILE]... [--fuel-profile FOLDED [--fuel-step N]] POLICY.wasm
//! ```
//! `--resolve-digests` answers digest lookups that `--digests` does not from the real registries
//! (HTTPS, trusting the `--ca-cert` CAs too; plain HTTP for the `--plain-http` hosts and loopback
//! registries without TLS), with the Docker config's credentials (`e2e::registry`). Prints the policy's response as JSON. Invalid settings exit with status 2 and the policy's message.
//!
//! `--fuel-profile` also writes where the call's WebAssembly instructions go, a sample every
//! `--fuel-step` instructions (100 by default), as folded stacks (`e2e::fuel::validate_profile`,
//! for a flame graph), and prints the functions that run the most of them to stderr. Host calls
//! are answered as in the benchmark (no cluster, no registry). Names need a module built with
//! them: `CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target wasm32-wasip1 -p
//! POLICY`, then `wasm-opt -Oz -g --strip-dwarf` with the features of `xtask`'s build.

use anyhow::{bail, Context, Result};
use e2e::bench::payload;
use e2e::fuel;
use e2e::registry::RegistryOptions;
use e2e::{read_json_or_yaml, read_request, HostCapabilities, PolicyModule};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

const USAGE: &str =
    "usage: policy-run --request-path FILE [--settings-json JSON | --settings-path FILE] \
[--digests FILE] [--resolve-digests [--plain-http HOST]... [--ca-cert FILE]...] [--cluster-state FILE]... \
[--fuel-profile FOLDED [--fuel-step N]] POLICY.wasm";

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<i32> {
    let mut args = std::env::args().skip(1);
    let (mut request, mut settings, mut policy) = (None, Value::Null, None);
    let mut capabilities = HostCapabilities::new();
    let (mut resolve, mut registries) = (false, RegistryOptions::default());
    let (mut profile, mut step) = (None, 100);
    let answers_host_calls =
        |arg: &str| matches!(arg, "--digests" | "--resolve-digests" | "--cluster-state");
    let mut host_given = false;
    while let Some(arg) = args.next() {
        host_given |= answers_host_calls(&arg);
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--request-path" | "-r" => request = Some(PathBuf::from(value()?)),
            "--settings-json" => {
                settings = serde_json::from_str(&value()?).context("--settings-json is not JSON")?
            }
            "--settings-path" => settings = read_json_or_yaml(&PathBuf::from(value()?))?,
            "--digests" => capabilities.load_digests(&PathBuf::from(value()?))?,
            "--resolve-digests" => resolve = true,
            "--plain-http" => registries.plain_http_hosts.push(value()?),
            "--ca-cert" => registries.ca_certs.push(PathBuf::from(value()?)),
            "--cluster-state" => capabilities.load_resources(&PathBuf::from(value()?))?,
            "--fuel-profile" => profile = Some(PathBuf::from(value()?)),
            "--fuel-step" => {
                step = value()?
                    .parse()
                    .context("--fuel-step is a number of instructions")?
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(0);
            }
            other if other.starts_with('-') => bail!("unknown option {other}\n{USAGE}"),
            other => policy = Some(PathBuf::from(other)),
        }
    }
    if resolve {
        capabilities = capabilities.with_registry_lookups(registries)?;
    }
    let policy = policy.context(USAGE)?;
    let request = read_request(&request.context(USAGE)?)?;
    let wasm = std::fs::read(&policy)
        .with_context(|| format!("cannot read policy {}", policy.display()))?;
    let module = PolicyModule::from_bytes(&wasm)
        .with_context(|| format!("cannot load policy {}", policy.display()))?;
    let instance = module.instantiate(Arc::new(capabilities))?;
    let verdict = instance.validate_settings(&settings)?;
    if !verdict.valid {
        eprintln!("invalid settings: {}", verdict.message.unwrap_or_default());
        return Ok(2);
    }
    let response = instance.validate(&request, &settings)?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    if let Some(folded) = profile {
        if host_given {
            eprintln!(
                "note: the profile's calls are answered as in the benchmark: no digests, cluster state or registries"
            );
        }
        // Compiled again: the profile needs an engine that counts fuel.
        let profile = fuel::validate_profile(&wasm, &payload(&request, &settings), step)?;
        std::fs::write(&folded, profile.folded())
            .with_context(|| format!("cannot write {}", folded.display()))?;
        eprintln!(
            "{} instructions, {} sampled; where the most were counted (see e2e::fuel::validate_profile):",
            profile.fuel, profile.sampled()
        );
        for (function, fuel) in profile.by_function().into_iter().take(25) {
            eprintln!("{fuel:>10}  {function}");
        }
    }
    Ok(0)
}
