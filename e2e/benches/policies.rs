//! `cargo bench -p e2e [-- POLICY…]` (after `cargo run -p xtask -- build`): every policy's `.wasm`
//! (or the ones named), measured on the same request with its `cases.yml` bench settings.

use e2e::{policy_dirs, workspace_root};
use sdk_shim::cases::CaseTable;

fn main() -> anyhow::Result<()> {
    // cargo passes `--bench`; anything else names policies.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for (name, dir) in policy_dirs(&workspace_root())? {
        if !chosen.is_empty() && !chosen.contains(&name) {
            continue;
        }
        let table = CaseTable::load(&dir).map_err(anyhow::Error::msg)?;
        let figures = e2e::bench::measure(&name, table.bench.settings)?;
        e2e::bench::report(&name, &figures);
    }
    Ok(())
}
