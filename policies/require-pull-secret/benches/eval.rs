use require_pull_secret::RequirePullSecret;
use sdk_shim::entry::validate;
use sdk_shim::host::FixtureHost;

fn main() -> anyhow::Result<()> {
    // Plain mode: the bench request lists no pull secrets, so the ghcr.io container is rejected.
    let settings =
        serde_json::json!({ "registries": ["ghcr.io/acme", "*.dkr.ecr.*.amazonaws.com"] });
    let host = FixtureHost::default();
    let figures = e2e::bench::measure("require-pull-secret", settings, |payload| {
        validate::<RequirePullSecret>(payload, &host)
    })?;
    e2e::bench::report("require-pull-secret", &figures);
    Ok(())
}
