//! The benchmark of every policy (`cargo bench -p e2e [-- POLICY…]`): the compiled `.wasm` through
//! this host (module compile, a fresh instance per request as policy-server does, a warm
//! instance), on the same request, with the settings of the `bench` entry of its `cases.yml`.

use crate::{built_policy, read_request, workspace_root, HostCapabilities, PolicyModule};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The request every policy is measured on: a Deployment with three containers and an init container.
pub const BENCH_REQUEST: &str = "e2e/test_data/bench_deployment.json";

pub struct Figures {
    pub wasm_bytes: u64,
    pub compile: Duration,
    pub fresh: Duration,
    pub warm: Duration,
}

/// Measures `policy` with `settings`.
pub fn measure(policy: &str, settings: Value) -> anyhow::Result<Figures> {
    let path = built_policy(policy)?;
    let bytes = std::fs::read(&path)?;
    let request = read_request(&workspace_root().join(BENCH_REQUEST))?;
    let payload = json!({ "request": request, "settings": settings })
        .to_string()
        .into_bytes();
    let capabilities = Arc::new(HostCapabilities::new());

    let compile = median(5, || {
        PolicyModule::from_bytes(&bytes).expect("compile");
    });
    let module = PolicyModule::from_bytes(&bytes)?;
    // The measured request must be judged, not refused as malformed.
    let answer = module
        .instantiate(capabilities.clone())?
        .validate_raw(&payload)?;
    anyhow::ensure!(
        answer.code != Some(400),
        "{policy} refuses the bench request: {:?}",
        answer.message
    );

    let fresh = median(300, || {
        let instance = module
            .instantiate(capabilities.clone())
            .expect("instantiate");
        instance.validate_raw(&payload).expect("validate");
    });
    let warm_instance = module.instantiate(capabilities.clone())?;
    let warm = median(3000, || {
        warm_instance.validate_raw(&payload).expect("validate");
    });
    Ok(Figures {
        wasm_bytes: bytes.len() as u64,
        compile,
        fresh,
        warm,
    })
}

/// Prints one policy's figures against the project's targets.
pub fn report(policy: &str, figures: &Figures) {
    println!("{policy}:");
    println!(
        "  .wasm size (annotated)  {:>10} bytes   target <= 300 KB",
        figures.wasm_bytes
    );
    println!("  module compile          {:>10.2} ms", ms(figures.compile));
    println!(
        "  fresh instance, median  {:>10.1} us      target <= 300 us",
        us(figures.fresh)
    );
    println!(
        "  warm instance, median   {:>10.1} us      target <= 20 us",
        us(figures.warm)
    );
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
