//! `image-policies test`: declarative test suites, in the case-table format the project's own
//! policies use (`sdk-shim/src/cases.rs`), with the policy named at the top (`policy:`) and a
//! case's object given as a `manifest:` or a `request:`.

use crate::policies::Modules;
use e2e::cases::WasmRunner;
use sdk_shim::cases::CaseTable;
use std::path::Path;

/// One suite's outcome: each case's name and whether it passed.
pub struct SuiteRun {
    pub file: String,
    pub policy: String,
    pub cases: Vec<(String, Result<(), String>)>,
}

/// Runs one suite file; an unreadable suite or unknown policy is an error naming the file.
pub fn run(path: &Path, modules: &Modules) -> Result<SuiteRun, String> {
    let file = path.display().to_string();
    let table = CaseTable::load_file(path)?;
    let policy = match &table.policy {
        Some(policy) => policy.clone(),
        // A policy's own cases.yml sits in the policy's folder.
        None => path
            .parent()
            .and_then(|d| d.canonicalize().ok())
            .and_then(|d| Some(d.file_name()?.to_str()?.to_string()))
            .filter(|name| modules.dir.join(format!("{name}.wasm")).exists())
            .ok_or_else(|| format!("{file}: policy: missing (name the policy the suite tests)"))?,
    };
    let wasm = match policy.ends_with(".wasm") {
        true => table.dir.join(&policy),
        false => modules.dir.join(format!("{policy}.wasm")),
    };
    if !wasm.exists() {
        return Err(format!(
            "{file}: policy '{policy}': {} does not exist (build it, or point --modules at it)",
            wasm.display()
        ));
    }
    let mut runner = WasmRunner::new(&wasm).map_err(|e| format!("{file}: {e}"))?;
    let cases = table.run_each(|case, request, host| runner.evaluate(case, request, host));
    Ok(SuiteRun {
        file,
        policy,
        cases,
    })
}
