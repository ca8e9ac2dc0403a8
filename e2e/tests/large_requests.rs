//! Requests near the API server's size limit, through every compiled policy with the settings and
//! host state of its `cases.yml` bench entry: each is judged completely, which shows as findings
//! (problems listed, fields mutated) exactly 100 times those of the same request with 100 times
//! fewer containers; and one instance judges such a request again and again in the memory one
//! evaluation may take. The time is printed for the benchmark figures, not asserted: speed goals
//! live in the benchmarks, not in timed tests.

use e2e::bench::{deployment, payload, BENCH_REQUEST};
use e2e::{
    built_policy, policy_dirs, read_request, workspace_root, HostCapabilities, PolicyModule,
};
use sdk_shim::cases::{changes, CaseTable};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// A custom resource listing `images` image strings, one in a thousand from docker.io.
fn image_set(images: usize) -> Value {
    let images: Vec<Value> = (0..images)
        .map(|i| match i % 1000 {
            0 => json!(format!("docker.io/library/app-{i}:1")),
            _ => json!(format!("ghcr.io/acme/app-{i}:1")),
        })
        .collect();
    let mut review = read_request(&workspace_root().join(BENCH_REQUEST)).unwrap();
    review["kind"] = json!({"group": "example.com", "version": "v1", "kind": "ImageSet"});
    review["object"] =
        json!({"apiVersion": "example.com/v1", "kind": "ImageSet", "spec": {"images": images}});
    review
}

/// What a policy found: the problems its message lists, plus the fields its mutation changes.
fn findings(request: &Value, response: &Value) -> usize {
    assert_ne!(response["code"], json!(400), "{}", response["message"]);
    let problems = match (response["accepted"].as_bool(), response["message"].as_str()) {
        (Some(true), _) => 0,
        (_, Some(message)) => message
            .split_once(" problems: ")
            .and_then(|(count, _)| count.parse().ok())
            .unwrap_or(1),
        _ => panic!("a rejection without message: {response}"),
    };
    let mutated = match response.get("mutated_object").filter(|m| !m.is_null()) {
        Some(object) => changes(&request["object"], object).len(),
        None => 0,
    };
    problems + mutated
}

/// Every policy judges the small and the large request with its bench settings and host state;
/// returns (policy, findings in the small one, in the large one).
fn judge_both(small: &Value, large: &Value, shared: Value) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    for (name, dir) in policy_dirs(&workspace_root()).unwrap() {
        let table = CaseTable::load(&dir).unwrap();
        let mut settings = table.bench.settings.clone();
        if let (Some(settings), Some(extra)) = (settings.as_object_mut(), shared.as_object()) {
            settings.extend(extra.clone());
        }
        let mut capabilities = HostCapabilities::new();
        let host = table.shared_host().unwrap();
        capabilities.resources = host.resources;
        let capabilities = Arc::new(capabilities);
        let module = PolicyModule::load(&built_policy(&name).unwrap()).unwrap();
        let judge = |request: &Value| {
            let instance = module.instantiate(capabilities.clone()).unwrap();
            let start = Instant::now();
            let response = instance.validate(request, &settings).unwrap();
            let elapsed = start.elapsed();
            let response = serde_json::to_value(response).unwrap();
            (findings(request, &response), elapsed)
        };
        let (few, _) = judge(small);
        let (many, elapsed) = judge(large);
        eprintln!(
            "{name}: {many} findings in {:.1} ms ({} bytes)",
            elapsed.as_secs_f64() * 1e3,
            large.to_string().len()
        );
        found.push((name, few, many));
    }
    found
}

#[test]
fn a_deployment_of_1000_containers_is_judged_whole_by_every_policy() {
    let large = deployment(1000).unwrap();
    let size = large.to_string().len();
    assert!(size > 1_400_000, "{size} bytes");
    for (name, few, many) in judge_both(&deployment(10).unwrap(), &large, json!({})) {
        assert!(
            few > 0,
            "{name} finds nothing in the request: the test would prove nothing"
        );
        assert_eq!(many, 100 * few, "{name}");
    }
}

#[test]
fn a_custom_resource_with_100000_images_is_judged_whole() {
    let extractor = json!({"customResources": [{"apiVersion": "example.com/v1", "kind": "ImageSet", "paths": ["$.spec.images[*]", "$..images[*]"]}]});
    let found = judge_both(&image_set(1000), &image_set(100_000), extractor);
    for (name, few, many) in &found {
        assert_eq!(*many, 100 * few, "{name}");
    }
    assert!(
        found.iter().any(|(_, few, _)| *few > 0),
        "no policy finds anything in the image strings: {found:?}"
    );
}

/// Memory freed is used again: ten evaluations of a 1.5 MB request on one instance (as a host that
/// reuses instances makes them) fit in three times the request, the bound of one evaluation. An
/// allocator that kept what earlier calls allocated would run out by the third.
#[test]
fn a_reused_instance_judges_large_requests_in_the_memory_of_one() {
    let large = deployment(1000).unwrap();
    for (name, dir) in policy_dirs(&workspace_root()).unwrap() {
        let table = CaseTable::load(&dir).unwrap();
        let payload = payload(&large, &table.bench.settings);
        let mut capabilities = HostCapabilities::new();
        capabilities.resources = table.shared_host().unwrap().resources;
        let bytes = std::fs::read(built_policy(&name).unwrap()).unwrap();
        let module = PolicyModule::with_memory_limit(&bytes, 3 * payload.len()).unwrap();
        let instance = module.instantiate(Arc::new(capabilities)).unwrap();
        let first = instance.validate_bytes(&payload).unwrap();
        for call in 2..=10 {
            let answer = instance
                .validate_bytes(&payload)
                .unwrap_or_else(|e| panic!("{name}, call {call}: {e:#}"));
            assert!(answer == first, "{name}, call {call}: another answer");
        }
    }
}
