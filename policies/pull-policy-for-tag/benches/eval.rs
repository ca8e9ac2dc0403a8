use pull_policy_for_tag::PullPolicyForTag;
use sdk_shim::entry::validate;
use sdk_shim::host::FixtureHost;

fn main() -> anyhow::Result<()> {
    let settings = serde_json::json!({ "mutableTags": ["latest", "main"], "allowNeverFor": ["registry.k8s.io/pause:*"] });
    let host = FixtureHost::default();
    let figures = e2e::bench::measure("pull-policy-for-tag", settings, |payload| {
        validate::<PullPolicyForTag>(payload, &host)
    })?;
    e2e::bench::report("pull-policy-for-tag", &figures);
    Ok(())
}
