//! {{name}}: {{description}}.
//!
//! Scaffolded by `cargo xtask new-policy`: the rule below (refuse images whose tag is in
//! `forbiddenTags`) is a working example to replace with this policy's own.

mod settings;

use sdk_shim::entry::Policy;
use sdk_shim::host::Host;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::Workload;
pub use settings::Settings;

pub struct {{Type}};

impl Policy for {{Type}} {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        _host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::for_request(request);
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            if let Some(tag) = image
                .effective_tag()
                .filter(|tag| settings.forbidden_tags.iter().any(|f| f == tag))
            {
                verdict.reject(container, format_args!("the tag '{tag}' is forbidden"));
            }
        }
        verdict
    }
}

sdk_shim::register_policy!({{Type}});

#[cfg(test)]
mod tests {
    /// The case table (`cases.yml`), natively; `e2e` runs it through the `.wasm`.
    #[test]
    fn cases() {
        sdk_shim::cases::run_native::<super::{{Type}}>(env!("CARGO_MANIFEST_DIR"));
    }
}
