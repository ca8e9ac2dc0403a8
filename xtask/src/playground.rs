//! The browser playground: the `playground` crate (the policy crates linked into one library)
//! built for wasm32-unknown-unknown, bound to JavaScript by `wasm-bindgen --target web`, shrunk
//! by `wasm-opt`, and written with the page (`playground/web/`) to `dist/playground/`: a static
//! site that needs no server of its own (`image-policies playground` serves it on localhost).

use crate::pipeline::cargo;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use std::process::Command;

/// Builds the playground into `root/dist/playground/`; returns that folder.
pub fn build(root: &Path) -> Result<PathBuf> {
    eprintln!("==> compiling the playground for wasm32-unknown-unknown (profile playground)");
    let status = cargo()
        .current_dir(root)
        .args([
            "build",
            "--profile",
            "playground",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "playground",
        ])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build of the playground failed");
    }
    let built = root.join("target/wasm32-unknown-unknown/playground/playground.wasm");
    let out = root.join("dist/playground");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    // wasm-opt before wasm-bindgen: Debian's binaryen (108) turns the externref table that
    // wasm-bindgen adds into a funcref one, which the browser then refuses.
    crate::pipeline::optimise(&built)?;
    let status = Command::new("wasm-bindgen")
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            "playground",
            "--out-dir",
        ])
        .arg(&out)
        .arg(built.with_extension("opt.wasm"))
        .status()
        .context("cannot run wasm-bindgen (scripts/setup.sh installs wasm-bindgen-cli)")?;
    if !status.success() {
        bail!("wasm-bindgen failed on {}", built.display());
    }
    let bound = out.join("playground_bg.wasm");
    let web = root.join("playground/web");
    for entry in
        std::fs::read_dir(&web).with_context(|| format!("cannot read {}", web.display()))?
    {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, out.join(name))?;
        }
    }
    let mut total = 0;
    for entry in std::fs::read_dir(&out)? {
        total += entry?.metadata()?.len();
    }
    eprintln!(
        "==> dist/playground: {} bytes in all ({} bytes of wasm)",
        total,
        std::fs::metadata(&bound)?.len()
    );
    Ok(out)
}
