use allowed_registries::AllowedRegistries;
use sdk_shim::entry::validate;
use sdk_shim::host::FixtureHost;

fn main() -> anyhow::Result<()> {
    let settings = serde_json::json!({
        "allow": ["harbor.internal.example.com/dockerhub-cache", "ghcr.io/acme", "*.dkr.ecr.*.amazonaws.com"],
        "deny": ["docker.io.evil.com"],
        "mirrors": [{ "from": "docker.io", "to": "harbor.internal.example.com/dockerhub-cache" }]
    });
    let host = FixtureHost::default();
    let figures = e2e::bench::measure("allowed-registries", settings, |payload| {
        validate::<AllowedRegistries>(payload, &host)
    })?;
    e2e::bench::report("allowed-registries", &figures);
    Ok(())
}
