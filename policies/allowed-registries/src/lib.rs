//! allowed-registries: images come only from registries the platform team trusts.
//!
//! 1. `deny` judges the image as written: a denied image is rejected, whatever mirror applies.
//! 2. `mirrors`: an image under `from` is rewritten to `to` + the rest of its path, keeping tag and
//!    digest (`nginx:1.25` with `{from: docker.io, to: harbor.internal.example.com/dockerhub-cache}`
//!    becomes `harbor.internal.example.com/dockerhub-cache/library/nginx:1.25`), and the image is
//!    patched. The first matching mirror wins; a `from` without a port covers only its host's
//!    default ports (443, 80), since another port is another registry.
//! 3. `deny` then `allow` judge the image the cluster will pull (the rewritten one when mirrored):
//!    a deny match rejects; a non-empty `allow` must match. So a mirror never launders a denied
//!    image, and its target must itself be allowed.
//!
//! Patterns match every spelling of a registry ([`sdk_shim::pattern`]): `docker.io.evil.com`,
//! `ghcr.io/acme-evil` (against `ghcr.io/acme`), upper-case hosts, `index.docker.io`,
//! `registry-1.docker.io`, other ports, IP spellings and the loopback's many names are all judged
//! as what they are. Container images and OCI image volumes alike.

mod settings;

use sdk_shim::entry::Policy;
use sdk_shim::host::Host;
use sdk_shim::pattern::any_matches;
use sdk_shim::reference::ImageRef;
use sdk_shim::request::AdmissionRequest;
use sdk_shim::verdict::Verdict;
use sdk_shim::workload::Workload;
use serde_json::Value;
pub use settings::{Mirror, Settings};
use std::cell::OnceCell;

pub struct AllowedRegistries;

impl Policy for AllowedRegistries {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        _host: &dyn Host,
    ) -> Verdict {
        let mut verdict = Verdict::for_request(request);
        // The allow list as a message says it, written once, if a message needs it.
        let allowed = OnceCell::new();
        for container in &workload.containers {
            let Some(image) = verdict.parse_image(container) else {
                continue;
            };
            if let Some(denied) = any_matches(&settings.deny, &image) {
                let name = image.name();
                verdict.reject(
                    container,
                    format_args!("{name} is denied by deny pattern '{denied}'"),
                );
                continue;
            }
            let rewritten = match mirror(&settings.mirrors, &image) {
                None => None,
                Some(Ok(rewritten)) => Some(rewritten),
                Some(Err(why)) => {
                    verdict.reject(container, why);
                    continue;
                }
            };
            let pulled = rewritten.as_ref().unwrap_or(&image);
            if let Some(why) = refusal(settings, pulled, &allowed) {
                let name = pulled.name();
                match &rewritten {
                    Some(_) => verdict.reject(
                        container,
                        format_args!("{name} (mirrored to '{}') {why}", pulled.to_image_string()),
                    ),
                    None => verdict.reject(container, format_args!("{name} {why}")),
                }
                continue;
            }
            if let Some(rewritten) = rewritten {
                let target = rewritten.to_image_string();
                verdict.fix(
                    container,
                    container.image_pointer(),
                    Value::String(target.clone()),
                    format_args!("is pulled through mirror '{target}'"),
                );
            }
        }
        verdict
    }
}

/// The image moved to its mirror, if one applies.
fn mirror(mirrors: &[Mirror], image: &ImageRef) -> Option<Result<ImageRef, String>> {
    // A `from` without a port rewrites only its host's default ports: `localhost:5000/app` and
    // `localhost:6000/app` are two registries and must not become one mirrored image.
    let mirror = mirrors
        .iter()
        .find(|m| m.from.matches_registry_on_its_port(image))?;
    // The path as the registry serves it (`library/nginx` however Docker Hub is spelt), so every
    // spelling of one image lands on one mirrored image.
    let repository = image.canonical_repository();
    let rest = after_segments(&repository, mirror.from.segment_count());
    let prefix = mirror.to.repository_prefix();
    let between = match prefix.is_empty() || rest.is_empty() {
        true => "",
        false => "/",
    };
    // The new name must itself be valid (e.g. within 255 characters).
    let moved = image.moved_to(mirror.to.registry(), &[prefix, between, rest]);
    Some(moved.map_err(|e| {
        format!(
            "mirror '{}' -> '{}' gives an invalid reference: {e}",
            mirror.from, mirror.to
        )
    }))
}

/// What follows the first `count` '/'-separated segments of `path` (`""` when nothing does).
fn after_segments(path: &str, count: usize) -> &str {
    if count == 0 {
        return path;
    }
    let mut slashes = path.bytes().enumerate().filter(|&(_, b)| b == b'/');
    slashes.nth(count - 1).map_or("", |(i, _)| &path[i + 1..])
}

/// Why the image may not be used, if it may not.
fn refusal(settings: &Settings, image: &ImageRef, allowed: &OnceCell<String>) -> Option<String> {
    if let Some(denied) = any_matches(&settings.deny, image) {
        return Some(format!("is denied by deny pattern '{denied}'"));
    }
    if !settings.allow.is_empty() && any_matches(&settings.allow, image).is_none() {
        let allowed = allowed.get_or_init(|| {
            let patterns: Vec<&str> = settings.allow.iter().map(|p| p.as_str()).collect();
            patterns.join(", ")
        });
        return Some(format!(
            "is not from an allowed registry (allow: {allowed})"
        ));
    }
    None
}

sdk_shim::register_policy!(AllowedRegistries);

#[cfg(test)]
mod tests {
    /// The case table (`cases.yml`), natively; `e2e` runs it through the `.wasm`.
    #[test]
    fn cases() {
        sdk_shim::cases::run_native::<super::AllowedRegistries>(env!("CARGO_MANIFEST_DIR"));
    }
}

#[cfg(test)]
mod fuzz_regressions;
