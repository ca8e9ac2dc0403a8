//! `cargo run -p xtask -- <command>`: the project's build and release tasks.

mod annotate;
mod policy;

use anyhow::{bail, Context, Result};
use policy::PolicyCrate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const USAGE: &str = "usage: cargo run -p xtask -- <build|test>\n\
  build    compile every policy for wasm32-wasip1 and write the annotated modules to dist/\n\
  test     build, then run the whole test suite (unit, end-to-end)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(&workspace_root()).map(|_| ()),
        Some("test") => test(&workspace_root()),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Builds every policy and writes `dist/<name>.wasm`, annotated. Returns the paths written.
pub fn build(root: &Path) -> Result<Vec<PathBuf>> {
    let policies = PolicyCrate::all(root)?;
    for policy in &policies {
        policy.check()?;
    }
    let started = Instant::now();
    eprintln!(
        "==> compiling {} policies for wasm32-wasip1 (release)",
        policies.len()
    );
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip1"]);
    for policy in &policies {
        cargo.args(["-p", &policy.name]);
    }
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let dist = root.join("dist");
    std::fs::create_dir_all(&dist)?;
    let mut written = Vec::new();
    for policy in &policies {
        let built = root
            .join("target/wasm32-wasip1/release")
            .join(policy.wasm_file_name());
        let module =
            std::fs::read(&built).with_context(|| format!("cannot read {}", built.display()))?;
        let annotated = annotate::annotate(&module, &annotate::embedded_metadata(policy))?;
        let out = dist.join(format!("{}.wasm", policy.name));
        std::fs::write(&out, &annotated)?;
        println!(
            "wrote {} ({} bytes code, {} bytes annotated)",
            out.strip_prefix(root).unwrap_or(&out).display(),
            module.len(),
            annotated.len()
        );
        written.push(out);
    }
    eprintln!("==> built in {:.1}s", started.elapsed().as_secs_f64());
    Ok(written)
}

/// The whole test suite: the e2e tests run the modules `build` writes.
fn test(root: &Path) -> Result<()> {
    build(root)?;
    eprintln!("==> cargo test --workspace");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["test", "--workspace"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("tests failed");
    }
    Ok(())
}
