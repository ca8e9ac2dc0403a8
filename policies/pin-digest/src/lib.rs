//! pin-digest: every image must name an immutable digest (`image@sha256:…`), so that every
//! container runs exactly the bits that were reviewed. With `mutate`, an unpinned image is
//! resolved through the host's OCI capability and patched to `<image as written>@<digest>`.
//! Container images and OCI image volumes (`volumes[].image.reference`) alike; on UPDATE, an
//! image the update does not change is left alone (with a warning when it is not pinned).

mod settings;

use sdk_shim::entry::Policy;
use sdk_shim::host::Host;
use sdk_shim::reference::ImageRef;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::Workload;
use serde_json::Value;
pub use settings::Settings;

pub struct PinDigest;

impl Policy for PinDigest {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::for_request(request);
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            if image.digest().is_some() || settings.exempt_images.iter().any(|p| p.matches(&image))
            {
                continue;
            }
            let written = container.image.unwrap_or_default();
            if !settings.mutate || container.unchanged {
                verdict.reject(
                    container,
                    format_args!(
                        "not pinned to a digest; use '{written}@sha256:<digest>' or enable mutate"
                    ),
                );
                continue;
            }
            match resolve_digest(&image, host) {
                Ok(digest) => verdict.fix(
                    container,
                    container.image_pointer(),
                    Value::String(format!("{written}@{digest}")),
                    "not pinned to a digest",
                ),
                Err(why) => verdict.reject(
                    container,
                    format_args!(
                        "cannot resolve '{}' to a digest: {why}",
                        image.fully_qualified()
                    ),
                ),
            }
        }
        verdict
    }
}

/// Asks the host for the digest and checks that what came back is a digest.
fn resolve_digest(image: &ImageRef, host: &dyn Host) -> Result<String, String> {
    let digest = host.manifest_digest(&image.fully_qualified())?;
    ImageRef::parse(&format!("{}@{digest}", image.name()))
        .map_err(|e| format!("the registry answered with an unusable digest: {e}"))?;
    Ok(digest)
}

sdk_shim::register_policy!(PinDigest);

#[cfg(test)]
mod tests {
    /// The case table (`cases.yml`), natively; `e2e` runs it through the `.wasm`.
    #[test]
    fn cases() {
        sdk_shim::cases::run_native::<super::PinDigest>(env!("CARGO_MANIFEST_DIR"));
    }
}

#[cfg(test)]
mod fuzz_regressions;
