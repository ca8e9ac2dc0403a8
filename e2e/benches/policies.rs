//! `cargo bench -p e2e [-- POLICY…]` (after `cargo run -p xtask -- build`): every policy's `.wasm`
//! (or the ones named) and the floor module, measured in one run on the same three requests, each
//! policy with its `cases.yml` bench settings. Prints a Markdown table for the README. With
//! `BENCH_BASELINE_DIR=DIR`, the modules `DIR/<policy>.wasm` (an earlier build) are measured in
//! the same run, each in a row after the current one.

use e2e::bench::{self, BenchRequest, Figures};
use e2e::fuel;
use e2e::{built_policy, policy_dirs, workspace_root};
use sdk_shim::cases::CaseTable;
use serde_json::Value;

fn main() -> anyhow::Result<()> {
    // cargo passes `--bench`; anything else names policies.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // Modules of an earlier commit to measure in the same run, as `DIR/<policy>.wasm`.
    let baseline = std::env::var_os("BENCH_BASELINE_DIR").map(std::path::PathBuf::from);
    let requests = bench::requests()?;
    for bench in &requests {
        eprintln!(
            "request {}: {} bytes, {} containers",
            bench.name,
            bench.request.to_string().len(),
            bench.containers
        );
    }
    let floor_path = bench::build_floor()?;
    let null = Value::Null;
    print_header();
    let largest = requests.last().expect("three requests");
    eprintln!(
        "peak memory: bisecting each module's memory limit on the {} request; the guests' \
         \"memory allocation ... failed\" lines below are the bisection's too-small limits",
        largest.name
    );
    let mut floor = None;
    let mut memory = Vec::new();
    let mut fuel = Vec::new();
    for (name, dir) in policy_dirs(&workspace_root())? {
        if !chosen.is_empty() && !chosen.contains(&name) {
            continue;
        }
        let table = CaseTable::load(&dir).map_err(anyhow::Error::msg)?;
        let settings = &table.bench.settings;
        let path = built_policy(&name)?;
        let old = baseline
            .as_ref()
            .map(|dir| dir.join(format!("{name}.wasm")));
        // The floor, the policy and its baseline, measured in the same rounds.
        let mut modules = vec![(&floor_path, &null), (&path, settings)];
        if let Some(old) = &old {
            modules.push((old, settings));
        }
        let mut figures = bench::measure(&modules, &requests)?.into_iter();
        let (this_floor, current) = (
            figures.next().expect("floor"),
            figures.next().expect("policy"),
        );
        print_rows(
            &format!("floor (with {name})"),
            &this_floor,
            &this_floor,
            &requests,
        );
        print_rows(&name, &current, &this_floor, &requests);
        // Instructions per call, exact: this module's and its baseline's, on each request.
        for bench in &requests {
            let payload = bench::payload(&bench.request, settings);
            let count = |path: &std::path::PathBuf| -> anyhow::Result<fuel::Fuel> {
                fuel::validate_fuel(&std::fs::read(path)?, &payload)
            };
            let before = old.as_ref().map(&count).transpose()?;
            fuel.push((name.clone(), bench.name.clone(), count(&path)?, before));
        }
        let payload = bench::payload(&largest.request, settings);
        memory.push((
            name.clone(),
            current.wasm_bytes,
            current.compile,
            bench::peak_memory(&path, &payload)?,
            payload.len(),
        ));
        if let (Some(old), Some(old_figures)) = (&old, figures.next()) {
            print_rows(
                &format!("{name} (baseline)"),
                &old_figures,
                &this_floor,
                &requests,
            );
            memory.push((
                format!("{name} (baseline)"),
                old_figures.wasm_bytes,
                old_figures.compile,
                bench::peak_memory(old, &payload)?,
                payload.len(),
            ));
        }
        floor.get_or_insert(this_floor);
    }
    let floor = match floor {
        Some(floor) => floor,
        None => bench::measure(&[(&floor_path, &null)], &requests)?.remove(0),
    };
    let floor_peak =
        bench::peak_memory(&floor_path, &bench::payload(&largest.request, &Value::Null))?;
    println!();
    println!(
        "| module | `.wasm` | compile | peak linear memory, {} request | peak / request size |",
        largest.name
    );
    println!("|---|---|---|---|---|");
    let floor_size = bench::payload(&largest.request, &Value::Null).len();
    println!(
        "| floor | {} B | {:.0} ms | {} B | {:.2}x |",
        floor.wasm_bytes,
        bench::ms(floor.compile),
        floor_peak,
        floor_peak as f64 / floor_size as f64
    );
    for (name, size, compile, peak, payload) in memory {
        println!(
            "| {name} | {size} B | {:.0} ms | {peak} B | {:.2}x |",
            bench::ms(compile),
            peak as f64 / payload as f64
        );
    }
    println!();
    println!("| policy | request | wasm instructions (fuel), first call | second call | baseline, first call | after / before |");
    println!("|---|---|---|---|---|---|");
    for (name, request, after, before) in fuel {
        let (baseline, ratio) = match before {
            Some(before) => (
                before.first.to_string(),
                format!("{:.2}", after.first as f64 / before.first as f64),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "| {name} | {request} | {} | {} | {baseline} | {ratio} |",
            after.first, after.second
        );
    }
    Ok(())
}

fn print_header() {
    println!("| module | request | fresh total | fresh net | warm total | warm net | warm net per container |");
    println!("|---|---|---|---|---|---|---|");
}

/// One row per request: totals, nets of the floor, and the warm net per container.
fn print_rows(name: &str, figures: &Figures, floor: &Figures, requests: &[BenchRequest]) {
    for ((timing, floor), bench) in figures.timings.iter().zip(&floor.timings).zip(requests) {
        let warm_net = bench::net_us(timing.warm, floor.warm);
        println!(
            "| {name} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.2} µs |",
            bench.name,
            bench::us(timing.fresh),
            bench::net_us(timing.fresh, floor.fresh),
            bench::us(timing.warm),
            warm_net,
            warm_net / bench.containers as f64
        );
    }
}
