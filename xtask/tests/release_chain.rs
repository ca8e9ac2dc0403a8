//! The whole release chain against real parts: the built modules are packaged, signed with
//! sigstore, pushed to a Distribution registry on loopback, checked with skopeo, pulled by tag and
//! by digest, verified, and run through the waPC host. Each rejection case is proven.

mod support;

use e2e::{read_request, HostCapabilities, PolicyModule};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use support::{ensure_installed, TempDir, TestRegistry};
use xtask::cosign::{self, VerificationConfig};
use xtask::oci::{self, Layout, Store};
use xtask::pipeline::{self, workspace_root, Location, ReleaseOptions};
use xtask::policy::PolicyCrate;
use xtask::registry::Registry;

/// A fresh key pair: its directory (kept while in scope), the private key and the public PEM.
fn keys(label: &str) -> (TempDir, PathBuf, String) {
    let dir = TempDir::new(label);
    let (private, public) = cosign::generate_key_pair(dir.path()).unwrap();
    let public = std::fs::read_to_string(public).unwrap();
    (dir, private, public)
}

/// Publishes every built policy to the registry (and a temporary layout), signed by `key`.
fn publish(registry: &TestRegistry, key: &Path, layout: &TempDir) -> Vec<pipeline::Released> {
    let root = workspace_root();
    let built = pipeline::built(&root).unwrap_or_else(|e| panic!("{e:#}"));
    let options = ReleaseOptions {
        registry: Some(format!("{}/image-policies", registry.host)),
        insecure: false,
        key: Some(key.to_path_buf()),
        layout: Some(layout.path().to_path_buf()),
    };
    pipeline::publish(&root, &built, &options).unwrap_or_else(|e| panic!("{e:#}"))
}

fn verify_error(location: &str, public_key: &str) -> String {
    let location = Location::parse(location, false).unwrap();
    match location.fetch_verified(&VerificationConfig::single_key(public_key)) {
        Ok(_) => panic!("verification passed"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn push_pull_by_tag_and_digest_verify_and_run() {
    let registry = TestRegistry::start();
    let layout = TempDir::new("layout");
    let (_keys, private, public) = keys("keys");
    let released = publish(&registry, &private, &layout);
    assert_eq!(released.len(), 4);

    let pin = released.iter().find(|r| r.name == "pin-digest").unwrap();
    let by_tag = format!(
        "registry://{}/image-policies/pin-digest:v0.1.0",
        registry.host
    );
    let by_digest = format!(
        "registry://{}/image-policies/pin-digest@{}",
        registry.host, pin.digest
    );
    assert_eq!(pin.pushed.as_deref(), Some(by_tag.as_str()));
    let request =
        read_request(&workspace_root().join("policies/pin-digest/test_data/pod_latest.json"))
            .unwrap();
    for location in [&by_tag, &by_digest] {
        let (digest, wasm) = Location::parse(location, false)
            .unwrap()
            .fetch_verified(&VerificationConfig::single_key(&public))
            .unwrap();
        assert_eq!(digest, pin.digest);
        let policy = PolicyModule::from_bytes(&wasm)
            .unwrap()
            .instantiate(Arc::new(HostCapabilities::new()))
            .unwrap();
        let response = policy.validate(&request, &json!({})).unwrap();
        assert!(!response.accepted);
        assert!(
            response.message.unwrap().contains("not pinned to a digest"),
            "{location}"
        );
    }
    // The same artifact, from the OCI layout.
    let from_layout = format!(
        "oci://{}:v0.1.0",
        layout.path().join("pin-digest").display()
    );
    let (digest, _) = Location::parse(&from_layout, false)
        .unwrap()
        .fetch_verified(&VerificationConfig::single_key(&public))
        .unwrap();
    assert_eq!(digest, pin.digest);
}

#[test]
fn an_independent_client_sees_kubewardens_media_types() {
    ensure_installed("skopeo", "skopeo");
    let registry = TestRegistry::start();
    let layout = TempDir::new("layout");
    let (_keys, private, _) = keys("keys");
    let released = publish(&registry, &private, &layout);
    for policy in &released {
        let output = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!(
                "docker://{}/image-policies/{}:v0.1.0",
                registry.host, policy.name
            ))
            .output()
            .expect("run skopeo");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.wasm.config.v1+json"
        );
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/vnd.wasm.content.layer.v1+wasm"
        );
        assert_eq!(
            manifest["annotations"]["io.kubewarden.policy.title"],
            policy.name.as_str()
        );
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.version"],
            "0.1.0"
        );
        assert!(
            manifest["annotations"]
                .get("io.kubewarden.policy.usage")
                .is_none(),
            "multi-line values stay out"
        );
        assert_eq!(oci::sha256_digest(&output.stdout), policy.digest);
        // The signature is where cosign looks for it.
        let signature = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!(
                "docker://{}/image-policies/{}:{}",
                registry.host,
                policy.name,
                cosign::signature_tag(&policy.digest)
            ))
            .output()
            .unwrap();
        let signature: serde_json::Value = serde_json::from_slice(&signature.stdout).unwrap();
        assert_eq!(
            signature["layers"][0]["mediaType"],
            cosign::PAYLOAD_MEDIA_TYPE
        );
        assert!(signature["layers"][0]["annotations"][cosign::SIGNATURE_ANNOTATION].is_string());
    }
}

#[test]
fn an_unsigned_artifact_is_rejected() {
    let registry = TestRegistry::start();
    let root = workspace_root();
    let policy = PolicyCrate::load(&root.join("policies/pull-policy-for-tag")).unwrap();
    let wasm = std::fs::read(e2e::built_policy("pull-policy-for-tag").unwrap()).unwrap();
    let artifact = oci::package(
        &policy,
        &wasm,
        "2026-01-01T00:00:00Z",
        "https://example.com",
    )
    .unwrap();
    Registry::new(&registry.host, false)
        .unwrap()
        .put("unsigned/pull-policy-for-tag", &artifact, "v0.1.0")
        .unwrap();
    let (_keys, _, public) = keys("keys");
    let error = verify_error(
        &format!(
            "registry://{}/unsigned/pull-policy-for-tag:v0.1.0",
            registry.host
        ),
        &public,
    );
    assert!(
        error.contains("is not signed: no signatures at tag sha256-"),
        "{error}"
    );
}

#[test]
fn a_signature_by_another_key_is_rejected() {
    let registry = TestRegistry::start();
    let (_keys, private, _) = keys("keys");
    let (_other, _, other_public) = keys("other-keys");
    publish(&registry, &private, &TempDir::new("layout"));
    let error = verify_error(
        &format!(
            "registry://{}/image-policies/pin-digest:v0.1.0",
            registry.host
        ),
        &other_public,
    );
    assert!(
        error.contains("allOf[0]: no signature verifies with this key"),
        "{error}"
    );
}

#[test]
fn a_tampered_layer_is_rejected() {
    let registry = TestRegistry::start();
    let layout = TempDir::new("layout");
    let (_keys, private, public) = keys("keys");
    let released = publish(&registry, &private, &layout);
    let pin = released.iter().find(|r| r.name == "pin-digest").unwrap();

    // On disk: one flipped byte in the wasm blob.
    let manifest = Layout::new(layout.path())
        .manifest("image-policies/pin-digest", "v0.1.0")
        .unwrap()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let blob = layout.path().join("pin-digest/blobs/sha256").join(layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    let error = verify_error(
        &format!(
            "oci://{}:v0.1.0",
            layout.path().join("pin-digest").display()
        ),
        &public,
    );
    assert!(error.contains("does not match its content"), "{error}");

    // In the registry: a changed module under the same tag, with the old signature copied over.
    let store = Registry::new(&registry.host, false).unwrap();
    let repository = "image-policies/pin-digest";
    let policy = PolicyCrate::load(&workspace_root().join("policies/pin-digest")).unwrap();
    let mut wasm = std::fs::read(e2e::built_policy("pin-digest").unwrap()).unwrap();
    wasm.extend_from_slice(b"\0\x04evil"); // a custom section: still a valid module
    let tampered = oci::package(
        &policy,
        &wasm,
        "2026-01-01T00:00:00Z",
        "https://example.com",
    )
    .unwrap();
    let tampered_digest = store.put(repository, &tampered, "v0.1.0").unwrap();
    let old_signature = store
        .manifest(repository, &cosign::signature_tag(&pin.digest))
        .unwrap()
        .unwrap();
    let signature_artifact = oci::Artifact {
        blobs: serde_json::from_slice::<serde_json::Value>(&old_signature).unwrap()["layers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(std::iter::once(
                &serde_json::from_slice::<serde_json::Value>(&old_signature).unwrap()["config"],
            ))
            .map(|d| {
                store
                    .blob(repository, d["digest"].as_str().unwrap())
                    .unwrap()
            })
            .collect(),
        manifest: old_signature,
    };
    store
        .put(
            repository,
            &signature_artifact,
            &cosign::signature_tag(&tampered_digest),
        )
        .unwrap();
    let error = verify_error(
        &format!("registry://{}/{repository}:v0.1.0", registry.host),
        &public,
    );
    assert!(
        error.contains(&format!(
            "the signature by this key is for {}, not for {tampered_digest}",
            pin.digest
        )),
        "{error}"
    );
}

#[test]
fn verification_configs_with_several_keys() {
    let registry = TestRegistry::start();
    let (_first, first_private, first_public) = keys("first");
    let (_second, second_private, second_public) = keys("second");
    let (_stranger, _, stranger_public) = keys("stranger");
    let released = publish(&registry, &first_private, &TempDir::new("layout"));
    let pin = released.iter().find(|r| r.name == "pin-digest").unwrap();
    let store = Registry::new(&registry.host, false).unwrap();
    let annotations = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let second = cosign::load_signer(&second_private).unwrap();
    cosign::sign(
        &store,
        "image-policies/pin-digest",
        "x/pin-digest",
        &pin.digest,
        &second,
        &annotations,
    )
    .unwrap();

    let dir = TempDir::new("configs");
    let location = Location::parse(
        &format!(
            "registry://{}/image-policies/pin-digest:v0.1.0",
            registry.host
        ),
        false,
    )
    .unwrap();
    let check = |config: serde_json::Value| {
        let path = dir.path().join("verification.yml");
        std::fs::write(&path, config.to_string()).unwrap(); // JSON is YAML
        VerificationConfig::load(&path)
            .and_then(|config| location.fetch_verified(&config).map(|_| ()))
    };
    let key = |pem: &str| json!({"kind": "pubKey", "key": pem});

    let mut second = key(&second_public);
    second["owner"] = json!("release-team");
    second["annotations"] = json!({"env": "prod"});
    check(json!({"apiVersion": "v1", "allOf": [key(&first_public), second]})).unwrap();
    check(json!({"apiVersion": "v1", "anyOf": {"minimumMatches": 1, "signatures": [key(&stranger_public), key(&first_public)]}}))
        .unwrap();
    let too_few = json!({"apiVersion": "v1", "anyOf": {"minimumMatches": 2, "signatures": [key(&stranger_public), key(&first_public)]}});
    let error = format!("{:#}", check(too_few).unwrap_err());
    assert!(
        error.contains("anyOf needs 2 matching signatures, found 1"),
        "{error}"
    );
    let mut wants_annotation = key(&first_public);
    wants_annotation["annotations"] = json!({"env": "prod"});
    let error = format!(
        "{:#}",
        check(json!({"apiVersion": "v1", "allOf": [wants_annotation]})).unwrap_err()
    );
    assert!(error.contains("lacks the annotations [\"env\"]"), "{error}");
    let unsupported =
        json!({"apiVersion": "v1", "allOf": [{"kind": "githubAction", "owner": "acme"}]});
    let error = format!("{:#}", check(unsupported).unwrap_err());
    assert!(error.contains("is not a verification config"), "{error}");
}

#[test]
fn pin_digest_resolves_a_tag_from_the_real_registry() {
    let registry = TestRegistry::start();
    let layout = TempDir::new("layout");
    let (_keys, private, _) = keys("keys");
    let released = publish(&registry, &private, &layout);
    let target = released
        .iter()
        .find(|r| r.name == "pull-policy-for-tag")
        .unwrap();
    let image = format!(
        "{}/image-policies/pull-policy-for-tag:v0.1.0",
        registry.host
    );

    let capabilities = HostCapabilities::new()
        .with_registry_lookups(vec![registry.host.clone()])
        .unwrap();
    let wasm = std::fs::read(e2e::built_policy("pin-digest").unwrap()).unwrap();
    let policy = PolicyModule::from_bytes(&wasm)
        .unwrap()
        .instantiate(Arc::new(capabilities))
        .unwrap();
    let mut request =
        read_request(&workspace_root().join("policies/pin-digest/test_data/pod_latest.json"))
            .unwrap();
    request["object"]["spec"]["containers"][0]["image"] = json!(image);
    let response = policy.validate(&request, &json!({"mutate": true})).unwrap();
    assert!(response.accepted, "{:?}", response.message);
    let patched = &response.mutated_object.unwrap()["spec"]["containers"][0]["image"];
    assert_eq!(patched, &json!(format!("{image}@{}", target.digest)));

    // A tag the registry does not have is a rejection naming the image and the registry's answer.
    request["object"]["spec"]["containers"][0]["image"] = json!(format!(
        "{}/image-policies/pull-policy-for-tag:v9",
        registry.host
    ));
    let response = policy.validate(&request, &json!({"mutate": true})).unwrap();
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(
        message.contains(&format!(
            "cannot resolve '{}/image-policies/pull-policy-for-tag:v9' to a digest",
            registry.host
        )),
        "{message}"
    );
}
