//! `policy-run`: evaluate one request with one policy, like `kwctl run`.
//!
//! ```text
//! policy-run --request-path REQ.json [--settings-json JSON | --settings-path FILE]
//!            [--digests FILE] [--resolve-digests [--plain-http HOST]... [--ca-cert FILE]...]
//!            [--cluster-state FILE]... POLICY.wasm
//! ```
//! `--resolve-digests` answers digest lookups that `--digests` does not from the real registries
//! (HTTPS, trusting the `--ca-cert` CAs too; plain HTTP for the `--plain-http` hosts and loopback
//! registries without TLS), with the Docker config's credentials (`e2e::registry`). Prints the policy's response as JSON. Invalid settings exit with status 2 and the policy's message.

use anyhow::{bail, Context, Result};
use e2e::registry::RegistryOptions;
use e2e::{read_json_or_yaml, read_request, HostCapabilities, PolicyModule};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

const USAGE: &str =
    "usage: policy-run --request-path FILE [--settings-json JSON | --settings-path FILE] \
[--digests FILE] [--resolve-digests [--plain-http HOST]... [--ca-cert FILE]...] [--cluster-state FILE]... POLICY.wasm";

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
    while let Some(arg) = args.next() {
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
    let module = PolicyModule::load(&policy)?;
    let instance = module.instantiate(Arc::new(capabilities))?;
    let verdict = instance.validate_settings(&settings)?;
    if !verdict.valid {
        eprintln!("invalid settings: {}", verdict.message.unwrap_or_default());
        return Ok(2);
    }
    let response = instance.validate(&request, &settings)?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(0)
}
