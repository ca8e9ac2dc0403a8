use pin_digest::PinDigest;
use sdk_shim::entry::validate;
use sdk_shim::host::FixtureHost;

fn main() -> anyhow::Result<()> {
    let settings = serde_json::json!({ "exemptImages": ["registry.k8s.io/pause:*"] });
    let host = FixtureHost::default();
    let figures = e2e::bench::measure("pin-digest", settings, |payload| {
        validate::<PinDigest>(payload, &host)
    })?;
    e2e::bench::report("pin-digest", &figures);
    Ok(())
}
