//! Seed corpora for the `settings` and `request` fuzz targets, from every policy's case table:
//! every case's settings, and every case's request with its settings and with each policy's
//! bench settings (`scripts/fuzz.sh` calls `cargo xtask fuzz-seeds fuzz/corpus`).

use crate::policy::PolicyCrate;
use anyhow::{Context, Result};
use sdk_shim::cases::CaseTable;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// Writes `corpus/settings/seed-case-*` and `corpus/request/seed-case-*`; returns how many of each.
pub fn write(root: &Path, corpus: &Path) -> Result<(usize, usize)> {
    let mut settings = BTreeSet::new();
    let mut requests = Vec::new();
    let mut tables = Vec::new();
    for policy in PolicyCrate::all(root)? {
        let table = CaseTable::load(&policy.dir).map_err(anyhow::Error::msg)?;
        settings.insert(table.bench.settings.to_string());
        tables.push(table);
    }
    let every_bench: Vec<Value> = tables.iter().map(|t| t.bench.settings.clone()).collect();
    for table in &tables {
        for case in &table.cases {
            settings.insert(case.settings.to_string());
            let Some(request) = table.request_for(case).map_err(anyhow::Error::msg)? else {
                continue;
            };
            requests.push(json!({"request": request, "settings": case.settings}).to_string());
            for bench in &every_bench {
                requests.push(json!({"request": request, "settings": bench}).to_string());
            }
        }
    }
    let requests: BTreeSet<String> = requests.into_iter().collect();
    let written = |dir: &str, seeds: &BTreeSet<String>| -> Result<usize> {
        let dir = corpus.join(dir);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in seeds.iter().enumerate() {
            let path = dir.join(format!("seed-case-{i}"));
            std::fs::write(&path, seed)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(seeds.len())
    };
    Ok((
        written("settings", &settings)?,
        written("request", &requests)?,
    ))
}
