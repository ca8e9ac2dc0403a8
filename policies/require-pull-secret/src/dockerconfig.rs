//! What a pull secret can serve: the registries of its docker config, never its credentials.

use base64::Engine;
use sdk_shim::pattern::glob_match;
use sdk_shim::reference::split_host_port;
use serde_json::Value;

pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKER_CFG: &str = "kubernetes.io/dockercfg";

/// The registries a Secret holds credentials for, normalised; or why it cannot be used.
/// Errors never quote the secret's data.
pub fn secret_registries(secret: &Value) -> Result<Vec<String>, String> {
    let kind = secret
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Opaque");
    let (key, nested) = match kind {
        DOCKER_CONFIG_JSON => (".dockerconfigjson", true),
        DOCKER_CFG => (".dockercfg", false),
        other => {
            return Err(format!(
                "type '{other}' is not {DOCKER_CONFIG_JSON} or {DOCKER_CFG}"
            ))
        }
    };
    let encoded = secret
        .get("data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("it has no data key '{key}'"))?;
    let unreadable = || format!("its '{key}' is not base64-encoded JSON");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| unreadable())?;
    let config: Value = serde_json::from_slice(&decoded).map_err(|_| unreadable())?;
    let auths = if nested {
        config.get("auths")
    } else {
        Some(&config)
    };
    let auths = auths
        .and_then(Value::as_object)
        .ok_or_else(|| format!("its '{key}' has no registry entries"))?;
    let mut registries: Vec<String> = auths.keys().map(|k| normalise_registry_key(k)).collect();
    registries.sort();
    registries.dedup();
    Ok(registries)
}

/// Registry keys as the kubelet reads them: scheme and trailing path dropped, lower case,
/// `index.docker.io` (as in `https://index.docker.io/v1/`) meaning `docker.io`.
pub fn normalise_registry_key(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or("").to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

/// Whether a normalised key serves `registry` (host[:port]); `*` in a key matches one DNS label.
pub fn key_serves(key: &str, registry: &str) -> bool {
    let (Some((key_host, key_port)), Some((host, port))) =
        (split_host_port(key), split_host_port(registry))
    else {
        return false;
    };
    let key_labels: Vec<&str> = key_host.split('.').collect();
    let labels: Vec<&str> = host.split('.').collect();
    key_port == port
        && key_labels.len() == labels.len()
        && key_labels
            .iter()
            .zip(&labels)
            .all(|(k, l)| glob_match(k, l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn keys_normalise_like_the_kubelet() {
        let cases = [
            ("https://index.docker.io/v1/", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("https://ghcr.io", "ghcr.io"),
            ("GHCR.IO/acme", "ghcr.io"),
            ("http://localhost:5000/v2/", "localhost:5000"),
            (
                "123456789.dkr.ecr.us-east-1.amazonaws.com",
                "123456789.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                "harbor.internal.example.com/dockerhub-cache",
                "harbor.internal.example.com",
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(normalise_registry_key(key), expected, "{key}");
        }
    }

    #[test]
    fn keys_serve_registries() {
        let cases = [
            ("docker.io", "docker.io", true),
            ("ghcr.io", "ghcr.io", true),
            ("ghcr.io", "ghcr.io.evil.com", false),
            ("*.gcr.io", "eu.gcr.io", true),
            ("*.gcr.io", "gcr.io", false),
            ("localhost:5000", "localhost:5000", true),
            ("localhost", "localhost:5000", false),
            ("us-docker.pkg.dev", "us-docker.pkg.dev", true),
            ("[::1]:5000", "[::1]:5000", true),
            ("[::1]", "[::1]:5000", false),
        ];
        for (key, registry, expected) in cases {
            assert_eq!(
                key_serves(key, registry),
                expected,
                "{key} serves {registry}"
            );
        }
    }

    #[test]
    fn secrets_are_read_or_refused_without_quoting_data() {
        let config = json!({"auths": {"https://index.docker.io/v1/": {"auth": "c2VjcmV0"}, "ghcr.io": {"password": "hunter2"}}});
        let good = json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": encode(&config.to_string())}});
        assert_eq!(
            secret_registries(&good).unwrap(),
            vec!["docker.io", "ghcr.io"]
        );
        let legacy = json!({"type": DOCKER_CFG, "data": {".dockercfg": encode(r#"{"quay.io": {"auth": "eA=="}}"#)}});
        assert_eq!(secret_registries(&legacy).unwrap(), vec!["quay.io"]);
        let cases = [
            (
                json!({"type": "Opaque", "data": {"password": encode("hunter2")}}),
                "type 'Opaque' is not",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON, "data": {}}),
                "no data key '.dockerconfigjson'",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": "hunter2!!"}}),
                "is not base64-encoded JSON",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": encode("hunter2")}}),
                "is not base64-encoded JSON",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": encode(r#"{"hunter2": 1}"#)}}),
                "has no registry entries",
            ),
        ];
        for (secret, expected) in cases {
            let err = secret_registries(&secret).unwrap_err();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
