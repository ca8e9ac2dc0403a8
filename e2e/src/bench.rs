//! The benchmark of every policy (`cargo bench -p e2e [-- POLICY…]`): the compiled `.wasm` through
//! this host, on three requests, with the settings of the `bench` entry of its `cases.yml`:
//! - module size and compile time;
//! - per request, the median time with a fresh instance per request (rehydrated, as policy-server
//!   does) and with a warm instance, each as total and as net of the *floor*: `e2e/floor`, a module
//!   that accepts without reading the payload, measured in the same rounds as the policy;
//! - the peak linear memory of a fresh instance evaluating the largest request.

use crate::{read_request, workspace_root, HostCapabilities, PolicyModule};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A small Deployment: three containers and an init container, nothing else (about 1.1 KB).
pub const BENCH_REQUEST: &str = "e2e/test_data/bench_deployment.json";

/// The same Deployment as `kubectl apply` sends it (about 26 KB compact): the
/// `last-applied-configuration` annotation, `managedFields`, and containers with env, probes,
/// resources, volume mounts and security contexts.
pub const REALISTIC_REQUEST: &str = "e2e/test_data/bench_deployment_applied.json";

/// A request to measure on, and how many times.
pub struct BenchRequest {
    pub name: String,
    pub request: Value,
    pub containers: usize,
    pub fresh_runs: usize,
    pub warm_runs: usize,
}

/// The three requests: small, realistic, and 1,000 containers (about 1.5 MB).
pub fn requests() -> Result<Vec<BenchRequest>> {
    let root = workspace_root();
    Ok(vec![
        BenchRequest {
            name: "small".into(),
            request: read_request(&root.join(BENCH_REQUEST))?,
            containers: 4,
            fresh_runs: 300,
            warm_runs: 3000,
        },
        BenchRequest {
            name: "realistic".into(),
            request: read_request(&root.join(REALISTIC_REQUEST))?,
            containers: 4,
            fresh_runs: 200,
            warm_runs: 1000,
        },
        BenchRequest {
            name: "1000 containers".into(),
            request: deployment(1000)?,
            containers: 1000,
            fresh_runs: 15,
            warm_runs: 15,
        },
    ])
}

/// A Deployment of `containers` containers with env, probes and resources (about 1.5 KB each):
/// every tenth from quay.io, tagged `latest` and unpinned; the rest from ghcr.io/acme, pinned;
/// all `IfNotPresent`, and no pull secrets. Every policy finds something in it.
pub fn deployment(containers: usize) -> Result<Value> {
    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let containers: Vec<Value> = (0..containers)
        .map(|i| {
            let image = match i % 10 {
                0 => format!("quay.io/acme/tool-{i}:latest"),
                _ => format!("ghcr.io/acme/app-{i}:1.0@{DIGEST}"),
            };
            let env: Vec<Value> = (0..16)
                .map(|e| json!({"name": format!("SETTING_{e}"), "value": format!("value-{i}-{e}-padding-padding-padding")}))
                .collect();
            json!({
                "name": format!("c{i}"),
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "env": env,
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "16Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
            })
        })
        .collect();
    let mut review = read_request(&workspace_root().join(BENCH_REQUEST))?;
    review["object"]["spec"]["template"]["spec"] =
        json!({"containers": containers, "volumes": [{"name": "data", "emptyDir": {}}]});
    Ok(review)
}

/// Medians of one module on one request.
#[derive(Clone, Copy)]
pub struct Timing {
    pub fresh: Duration,
    pub warm: Duration,
}

/// One module's figures: size, compile time, and a timing per request (in `requests()` order).
pub struct Figures {
    pub wasm_bytes: u64,
    pub compile: Duration,
    pub timings: Vec<Timing>,
}

/// The `validate` payload of `request` with `settings`, as policy-server sends it.
pub fn payload(request: &Value, settings: &Value) -> Vec<u8> {
    json!({ "request": request, "settings": settings })
        .to_string()
        .into_bytes()
}

/// Measures the modules at `paths` (each with its settings) on every request, in rounds: each
/// round times every module once, so that a slow spell of the machine (a shared VM has them)
/// weighs on all of them alike, and a net time (module - floor) compares like with like.
pub fn measure(modules: &[(&PathBuf, &Value)], requests: &[BenchRequest]) -> Result<Vec<Figures>> {
    let capabilities = Arc::new(HostCapabilities::new());
    let mut compiled = Vec::new();
    let mut figures = Vec::new();
    for (path, _) in modules {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let compile = median(5, || {
            PolicyModule::from_bytes(&bytes).expect("compile");
        });
        compiled.push(PolicyModule::from_bytes(&bytes)?);
        figures.push(Figures {
            wasm_bytes: bytes.len() as u64,
            compile,
            timings: Vec::new(),
        });
    }
    for bench in requests {
        let payloads: Vec<Vec<u8>> = modules
            .iter()
            .map(|(_, settings)| payload(&bench.request, settings))
            .collect();
        let mut warm_instances = Vec::new();
        for (((path, _), module), payload) in modules.iter().zip(&compiled).zip(&payloads) {
            // The measured request must be judged, not refused as malformed.
            let answer = module
                .instantiate(capabilities.clone())?
                .validate_raw(payload)?;
            ensure!(
                answer.code != Some(400),
                "{} refuses the {} request: {:?}",
                path.display(),
                bench.name,
                answer.message
            );
            warm_instances.push(module.instantiate(capabilities.clone())?);
        }
        // Timed up to the answer's bytes: decoding them is the host's work, the same for every
        // module giving the same answer (a mutated object is 26 KB on the realistic request).
        let fresh = medians_in_rounds(bench.fresh_runs, modules.len(), |i| {
            let instance = compiled[i]
                .instantiate(capabilities.clone())
                .expect("instantiate");
            instance.validate_bytes(&payloads[i]).expect("validate");
        });
        let warm = medians_in_rounds(bench.warm_runs, modules.len(), |i| {
            warm_instances[i]
                .validate_bytes(&payloads[i])
                .expect("validate");
        });
        for ((figures, fresh), warm) in figures.iter_mut().zip(fresh).zip(warm) {
            figures.timings.push(Timing { fresh, warm });
        }
    }
    Ok(figures)
}

/// The median time of `run(i)` for each of `count` subjects, over `rounds` rounds that each run
/// every subject once, in turn.
fn medians_in_rounds(rounds: usize, count: usize, mut run: impl FnMut(usize)) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(rounds); count];
    for _ in 0..rounds {
        for (i, times) in times.iter_mut().enumerate() {
            let start = Instant::now();
            run(i);
            times.push(start.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut times| {
            times.sort();
            times[rounds / 2]
        })
        .collect()
}

/// The smallest linear memory (in 64 KiB pages, as bytes) with which a fresh instance of the
/// module at `path` evaluates `payload`: found by bisecting wasmtime's memory limit.
pub fn peak_memory(path: &PathBuf, payload: &[u8]) -> Result<usize> {
    const PAGE: usize = 64 * 1024;
    let bytes = std::fs::read(path)?;
    let fits = |pages: usize| -> bool {
        PolicyModule::with_memory_limit(&bytes, pages * PAGE)
            .and_then(|module| module.instantiate(Arc::new(HostCapabilities::new())))
            .and_then(|instance| instance.validate_raw(payload))
            .is_ok()
    };
    let (mut low, mut high) = (0, 16 * 1024); // up to 1 GiB
    if !fits(high) {
        bail!("{} needs more than 1 GiB", path.display());
    }
    while high - low > 1 {
        let middle = (low + high) / 2;
        if fits(middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    Ok(high * PAGE)
}

/// Builds the floor module (`e2e/floor`) for wasm32-wasip1 and returns its path.
pub fn build_floor() -> Result<PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "bench-floor",
        ])
        .status()
        .context("cannot run cargo")?;
    ensure!(status.success(), "cannot build the floor module");
    Ok(root.join("target/wasm32-wasip1/release/bench_floor.wasm"))
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

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `total − floor` in µs (negative when the floor is slower: noise, shown as is).
pub fn net_us(total: Duration, floor: Duration) -> f64 {
    us(total) - us(floor)
}
