//! What the `settings` and `request` fuzz targets check, and the cluster the `request` target
//! runs against. Shared, through `#[path]`, by the fuzz targets and by each policy crate's
//! `fuzz_regressions` unit test, which replays `fuzz/regressions/` through that policy.
#![allow(dead_code)]

use sdk_shim::entry::{evaluate_payload, validate, Policy};
use sdk_shim::host::FixtureHost;
use sdk_shim::settings::decode_settings;
use serde_json::{json, Value};

/// Settings decoding must never panic, whatever the bytes.
pub fn settings<P: Policy>(data: &[u8]) {
    let _ = decode_settings::<P::Settings>(data);
}

/// A whole `validate` payload must be judged, never panic, and its response must encode; the
/// answer the module writes (the mutated object copied in as text) must be one the host reads.
/// The host reads it as `sdk_shim::tree` does: as serde_json's `Value` without the `raw_value`
/// feature (a host built with it has already re-read serde_json's private raw-value key in the
/// request, so a module never sees that key as a host with it would read it).
pub fn request<P: Policy>(data: &[u8], host: &FixtureHost) {
    let answer = validate::<P>(data, host);
    if let Err(e) = sdk_shim::tree::from_slice(&answer) {
        panic!("the host cannot read the answer: {e}");
    }
    let response = evaluate_payload::<P>(data, host);
    if response.accepted {
        assert!(
            response.code.is_none(),
            "an accepted request carries code {:?}",
            response.code
        );
    }
    serde_json::to_vec(&response).expect("the response encodes as JSON");
}

/// Where the fast payload reader (`sdk_shim::json`) decodes a payload, serde_json decodes it
/// to the same request and settings; where it calls it readable, serde_json reads all of it.
pub fn fast_reader_agrees(data: &[u8]) {
    use sdk_shim::request::ValidationPayload;
    let fast =
        sdk_shim::json::from_slice_seed(data, std::marker::PhantomData::<ValidationPayload<Value>>);
    if let Ok((fast, readable)) = fast {
        let slow = serde_json::from_slice::<ValidationPayload<Value>>(data)
            .expect("serde_json reads what the fast reader reads");
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        if readable.0 {
            sdk_shim::tree::from_slice(data).expect("a readable payload reads as a tree");
        }
    }
}

/// The namespace the fixture requests live in.
pub const NAMESPACE: &str = "default";

/// A small cluster: dockerconfig Secrets that serve some registries, broken ones, and
/// ServiceAccounts that name them; digests for a few images, a bad digest and a failing lookup.
pub fn fixture_host() -> FixtureHost {
    let sha256 = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let sha512 = format!("sha512:{}", "fedcba9876543210".repeat(8));
    FixtureHost::default()
        .with_digest("docker.io/library/nginx:1.25", &sha256)
        .with_digest("docker.io/library/nginx:latest", &sha256)
        .with_digest("docker.io/library/busybox:latest", &sha512)
        .with_digest("ghcr.io/acme/app:1", &sha256)
        .with_digest("docker.io/library/busybox:1.36", "md5:0123456789abcdef")
        .with_digest("docker.io/library/redis:latest", "")
        .with_failing_digest("ghcr.io/acme/api:main", "registry unreachable")
        .with_resource(docker_config_secret(
            "regcred",
            &["ghcr.io", "https://index.docker.io/v1/"],
        ))
        .with_resource(docker_config_secret(
            "ecr-cred",
            &["*.dkr.ecr.*.amazonaws.com"],
        ))
        .with_resource(docker_config_secret(
            "harbor-cred",
            &["https://harbor.internal.example.com/v2/", "localhost:5000"],
        ))
        .with_resource(secret(
            "gcr-cred",
            "kubernetes.io/dockercfg",
            ".dockercfg",
            &base64(br#"{"https://us-docker.pkg.dev":{"auth":"eDp5"}}"#),
        ))
        .with_resource(secret("opaque", "Opaque", "password", "eDp5"))
        .with_resource(secret(
            "not-base64",
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            "%%%",
        ))
        .with_resource(secret(
            "not-json",
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            &base64(b"{\"auths\":"),
        ))
        .with_resource(secret(
            "no-auths",
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            &base64(br#"{"auths":[]}"#),
        ))
        .with_resource(service_account("default", &[]))
        .with_resource(service_account("builder", &["ecr-cred"]))
        .with_resource(service_account("broken-sa", &["missing-secret", "opaque"]))
        .with_resource(service_account("puller", &["not-json", "regcred"]))
}

fn secret(name: &str, kind: &str, key: &str, data: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": kind,
        "data": {key: data},
    })
}

fn docker_config_secret(name: &str, registries: &[&str]) -> Value {
    let auths: serde_json::Map<String, Value> = registries
        .iter()
        .map(|r| (r.to_string(), json!({"auth": "eDp5"})))
        .collect();
    let config = json!({ "auths": auths }).to_string();
    secret(
        name,
        "kubernetes.io/dockerconfigjson",
        ".dockerconfigjson",
        &base64(config.as_bytes()),
    )
}

fn service_account(name: &str, secrets: &[&str]) -> Value {
    let secrets: Vec<Value> = secrets.iter().map(|s| json!({ "name": s })).collect();
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "imagePullSecrets": secrets,
    })
}

/// Standard base64 with padding (RFC 4648), as Kubernetes stores Secret data.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads_like_rfc4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ];
        for (plain, encoded) in cases {
            assert_eq!(super::base64(plain.as_bytes()), encoded);
        }
    }
}
