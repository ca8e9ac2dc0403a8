//! The whole release chain against real parts: every built module is packaged, signed with
//! sigstore, pushed to a Distribution registry on loopback, checked with skopeo, pulled by tag and
//! by digest, verified, and run through the waPC host against its own case table. Each rejection
//! case is proven. No policy is named here: the policy set is the folders under `policies/`.

mod support;

use e2e::registry::RegistryOptions;
use e2e::{HostCapabilities, PolicyModule};
use sdk_shim::cases::{changes, Case, CaseTable, LoadedHost};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use support::{ensure_installed, TempDir, TestRegistry};
use xtask::cosign::{self, VerificationConfig};
use xtask::oci::{self, Layout, Store};
use xtask::pipeline::{self, workspace_root, Location, ReleaseOptions, Released};
use xtask::policy::{string_list, PolicyCrate};
use xtask::registry::Registry;

/// The host capability that resolves an image's tag to its manifest digest.
const DIGEST_CAPABILITY: &str = "oci/v1/manifest_digest";

/// Every policy folder, in the order the release handles them.
fn policies() -> Vec<PolicyCrate> {
    let policies = PolicyCrate::all(&workspace_root()).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!policies.is_empty(), "no policy folders found");
    policies
}

/// The policy the single-artifact checks use: the first folder, whichever it is.
fn first_policy() -> PolicyCrate {
    policies().into_iter().next().unwrap()
}

/// The tag a policy is released under.
fn tag(policy: &PolicyCrate) -> String {
    format!("v{}", policy.version)
}

/// A tag the release never pushes for `policy`.
fn unpublished_tag(policy: &PolicyCrate) -> String {
    format!("{}-unpublished", tag(policy))
}

/// `policy`'s repository in the test registry, without scheme.
fn repository(registry: &TestRegistry, policy: &PolicyCrate) -> String {
    format!("{}/image-policies/{}", registry.host, policy.name)
}

/// A fresh key pair: its directory (kept while in scope), the private key and the public PEM.
fn keys(label: &str) -> (TempDir, PathBuf, String) {
    let dir = TempDir::new(label);
    let (private, public) = cosign::generate_key_pair(dir.path()).unwrap();
    let public = std::fs::read_to_string(public).unwrap();
    (dir, private, public)
}

/// Publishes every built policy to the registry (and a temporary layout), signed by `key`.
fn publish(registry: &TestRegistry, key: &Path, layout: &TempDir) -> Vec<Released> {
    let root = workspace_root();
    let built = pipeline::built(&root).unwrap_or_else(|e| panic!("{e:#}"));
    let options = ReleaseOptions {
        registry: Some(format!("{}/image-policies", registry.host)),
        registry_options: RegistryOptions::default(),
        key: Some(key.to_path_buf()),
        layout: Some(layout.path().to_path_buf()),
    };
    pipeline::publish(&root, &built, &options).unwrap_or_else(|e| panic!("{e:#}"))
}

/// What the release says it did for `policy`.
fn released_for<'a>(released: &'a [Released], policy: &PolicyCrate) -> &'a Released {
    released
        .iter()
        .find(|r| r.name == policy.name)
        .unwrap_or_else(|| panic!("{} was not released", policy.name))
}

fn fetch_verified(location: &str, public_key: &str) -> (String, Vec<u8>) {
    Location::parse(location, &RegistryOptions::default())
        .unwrap()
        .fetch_verified(&VerificationConfig::single_key(public_key))
        .unwrap_or_else(|e| panic!("{location}: {e:#}"))
}

fn verify_error(location: &str, public_key: &str) -> String {
    let location = Location::parse(location, &RegistryOptions::default()).unwrap();
    match location.fetch_verified(&VerificationConfig::single_key(public_key)) {
        Ok(_) => panic!("verification passed"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn push_pull_by_tag_and_digest_verify_and_run() {
    let registry = TestRegistry::start();
    let layout = TempDir::new("layout");
    let fetched = TempDir::new("fetched");
    let (_keys, private, public) = keys("keys");
    let policies = policies();
    let released = publish(&registry, &private, &layout);
    assert_eq!(
        released.len(),
        policies.len(),
        "one release per policy folder"
    );

    for (policy, release) in policies.iter().zip(&released) {
        assert_eq!(release.name, policy.name);
        assert_eq!(release.tag, tag(policy));
        let by_tag = format!(
            "registry://{}:{}",
            repository(&registry, policy),
            tag(policy)
        );
        let by_digest = format!(
            "registry://{}@{}",
            repository(&registry, policy),
            release.digest
        );
        assert_eq!(release.pushed.as_deref(), Some(by_tag.as_str()));

        // By digest: the very module that was built, and it passes its whole case table.
        let (digest, wasm) = fetch_verified(&by_digest, &public);
        assert_eq!(digest, release.digest, "{by_digest}");
        let built = std::fs::read(e2e::built_policy(&policy.name).unwrap()).unwrap();
        assert!(
            wasm == built,
            "{by_digest} is not dist/{}.wasm",
            policy.name
        );
        let path = fetched.path().join(format!("{}.wasm", policy.name));
        std::fs::write(&path, &wasm).unwrap();
        let ran = e2e::cases::run_table(&policy.dir, &path)
            .unwrap_or_else(|e| panic!("{by_digest} fails its cases:\n{e}"));
        assert!(ran > 0, "{}: the case table has no cases", policy.name);

        // By tag: the same artifact.
        let (digest, from_tag) = fetch_verified(&by_tag, &public);
        assert_eq!(digest, release.digest, "{by_tag}");
        assert!(
            from_tag == wasm,
            "{by_tag} serves other bytes than {by_digest}"
        );

        // The same artifact, from the OCI layout.
        let from_layout = format!(
            "oci://{}:{}",
            Layout::new(layout.path()).dir(&policy.name).display(),
            tag(policy)
        );
        let (digest, from_layout_wasm) = fetch_verified(&from_layout, &public);
        assert_eq!(digest, release.digest, "{from_layout}");
        assert!(from_layout_wasm == wasm, "{from_layout} serves other bytes");
    }
}

#[test]
fn an_independent_client_sees_kubewardens_media_types() {
    ensure_installed("skopeo", "skopeo");
    let registry = TestRegistry::start();
    let layout = TempDir::new("layout");
    let (_keys, private, _) = keys("keys");
    let policies = policies();
    let released = publish(&registry, &private, &layout);
    assert_eq!(
        released.len(),
        policies.len(),
        "one release per policy folder"
    );
    for policy in &policies {
        let release = released_for(&released, policy);
        let output = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!(
                "docker://{}:{}",
                repository(&registry, policy),
                tag(policy)
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
            policy.version.as_str()
        );
        assert!(
            manifest["annotations"]
                .get("io.kubewarden.policy.usage")
                .is_none(),
            "multi-line values stay out"
        );
        assert_eq!(oci::sha256_digest(&output.stdout), release.digest);
        // The signature is where cosign looks for it.
        let signature = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!(
                "docker://{}:{}",
                repository(&registry, policy),
                cosign::signature_tag(&release.digest)
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
    let policy = first_policy();
    let wasm = std::fs::read(e2e::built_policy(&policy.name).unwrap()).unwrap();
    let artifact = oci::package(
        &policy,
        &wasm,
        "2026-01-01T00:00:00Z",
        "https://example.com",
    )
    .unwrap();
    let repository = format!("unsigned/{}", policy.name);
    Registry::new(&registry.host, &RegistryOptions::default())
        .unwrap()
        .put(&repository, &artifact, &tag(&policy))
        .unwrap();
    let (_keys, _, public) = keys("keys");
    let error = verify_error(
        &format!("registry://{}/{repository}:{}", registry.host, tag(&policy)),
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
    let policy = first_policy();
    let error = verify_error(
        &format!(
            "registry://{}:{}",
            repository(&registry, &policy),
            tag(&policy)
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
    let policy = first_policy();
    let release = released_for(&released, &policy);
    let repository = format!("image-policies/{}", policy.name);
    let tag = tag(&policy);

    // On disk: one flipped byte in the wasm blob.
    let layout_store = Layout::new(layout.path());
    let manifest = layout_store.manifest(&repository, &tag).unwrap().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let blob = layout_store
        .dir(&repository)
        .join("blobs/sha256")
        .join(layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    let error = verify_error(
        &format!("oci://{}:{tag}", layout_store.dir(&repository).display()),
        &public,
    );
    assert!(error.contains("does not match its content"), "{error}");

    // In the registry: a changed module under the same tag, with the old signature copied over.
    let store = Registry::new(&registry.host, &RegistryOptions::default()).unwrap();
    let mut wasm = std::fs::read(e2e::built_policy(&policy.name).unwrap()).unwrap();
    wasm.extend_from_slice(b"\0\x04evil"); // a custom section: still a valid module
    let tampered = oci::package(
        &policy,
        &wasm,
        "2026-01-01T00:00:00Z",
        "https://example.com",
    )
    .unwrap();
    let tampered_digest = store.put(&repository, &tampered, &tag).unwrap();
    let old_signature = store
        .manifest(&repository, &cosign::signature_tag(&release.digest))
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
                    .blob(&repository, d["digest"].as_str().unwrap())
                    .unwrap()
            })
            .collect(),
        manifest: old_signature,
    };
    store
        .put(
            &repository,
            &signature_artifact,
            &cosign::signature_tag(&tampered_digest),
        )
        .unwrap();
    let error = verify_error(
        &format!("registry://{}/{repository}:{tag}", registry.host),
        &public,
    );
    assert!(
        error.contains(&format!(
            "the signature by this key is for {}, not for {tampered_digest}",
            release.digest
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
    let policy = first_policy();
    let release = released_for(&released, &policy);
    let store = Registry::new(&registry.host, &RegistryOptions::default()).unwrap();
    let annotations = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let second = cosign::load_signer(&second_private).unwrap();
    cosign::sign(
        &store,
        &format!("image-policies/{}", policy.name),
        &format!("x/{}", policy.name),
        &release.digest,
        &second,
        &annotations,
    )
    .unwrap();

    let dir = TempDir::new("configs");
    let location = Location::parse(
        &format!(
            "registry://{}:{}",
            repository(&registry, &policy),
            tag(&policy)
        ),
        &RegistryOptions::default(),
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

/// One image a case's mutation pins through the host's digests.
struct Pinned {
    /// Where the image is, in the request's `object` (and in the mutated object).
    pointer: String,
    /// The image as the request writes it.
    written: String,
    /// What the case expects there after the mutation.
    expected: String,
    /// The host's digest the expected value carries.
    digest: String,
}

/// The images a case pins with the host's digests, when it is such a case: allowed, with a
/// mutation whose every change is an image of the request, as written, with one of the host's
/// digests. `None` for any other case.
fn pins_through_digests(case: &Case, request: &Value, host: &LoadedHost) -> Option<Vec<Pinned>> {
    let expect = &case.expect;
    if expect.settings_error.is_some() || expect.allowed != Some(true) {
        return None;
    }
    let digests: Vec<&String> = host
        .digests
        .values()
        .filter_map(|d| d.as_ref().ok())
        .collect();
    let mutated = expect.mutated.as_ref().filter(|m| !m.is_empty())?;
    mutated
        .iter()
        .map(|(pointer, value)| {
            let expected = value.as_str()?;
            let written = request.pointer(&format!("/object{pointer}"))?.as_str()?;
            let digest = digests.iter().find(|d| expected.contains(d.as_str()))?;
            (!written.is_empty() && expected.contains(written)).then(|| Pinned {
                pointer: pointer.clone(),
                written: written.to_string(),
                expected: expected.to_string(),
                digest: digest.to_string(),
            })
        })
        .collect()
}

/// Whether the table shows the policy refusing a request whose digest lookup fails, and whether
/// that refusal names the image.
fn refuses_failed_lookups(table: &CaseTable) -> (bool, bool) {
    let mut refuses = false;
    let mut names_image = false;
    for case in &table.cases {
        let host = table.host_for(case).unwrap();
        let failing: Vec<&String> = host
            .digests
            .iter()
            .filter(|(_, answer)| answer.is_err())
            .map(|(image, _)| image)
            .collect();
        if failing.is_empty() || case.request.is_none() || case.expect.allowed != Some(false) {
            continue;
        }
        refuses = true;
        names_image |= case.expect.message.iter().any(|fragment| {
            failing
                .iter()
                .any(|image| fragment.contains(image.as_str()))
        });
    }
    (refuses, names_image)
}

/// The host a case runs against, resolving what its fixtures do not know from the test registry.
fn registry_host(registry: &TestRegistry, host: &LoadedHost) -> Arc<HostCapabilities> {
    let mut capabilities = HostCapabilities::new()
        .with_registry_lookups(RegistryOptions {
            plain_http_hosts: vec![registry.host.clone()],
            ..Default::default()
        })
        .unwrap();
    for (image, answer) in &host.digests {
        capabilities = match answer {
            Ok(digest) => capabilities.with_digest(image, digest),
            Err(error) => capabilities.with_failing_digest(image, error),
        };
    }
    capabilities.resources = host.resources.clone();
    Arc::new(capabilities)
}

#[test]
fn digest_lookups_resolve_tags_from_the_real_registry() {
    let registry = TestRegistry::start();
    let (_keys, private, public) = keys("keys");
    let policies = policies();
    let released = publish(&registry, &private, &TempDir::new("layout"));
    let lookup = |host: &HostCapabilities, image: &str| {
        host.handle(
            "kubewarden",
            "oci",
            "v1/manifest_digest",
            json!(image).to_string().as_bytes(),
        )
    };

    // The host side: every pushed tag resolves to the pushed digest; a tag the registry does not
    // have is an error naming the image.
    let host = HostCapabilities::new()
        .with_registry_lookups(RegistryOptions {
            plain_http_hosts: vec![registry.host.clone()],
            ..Default::default()
        })
        .unwrap();
    for policy in &policies {
        let release = released_for(&released, policy);
        let image = format!("{}:{}", repository(&registry, policy), tag(policy));
        let answer = lookup(&host, &image).unwrap_or_else(|e| panic!("{image}: {e}"));
        assert_eq!(
            serde_json::from_slice::<Value>(&answer).unwrap(),
            json!({ "digest": release.digest }),
            "{image}"
        );
        let unknown = format!(
            "{}:{}",
            repository(&registry, policy),
            unpublished_tag(policy)
        );
        let error = lookup(&host, &unknown).unwrap_err();
        assert!(error.contains(&unknown), "{error}");
    }

    // The policy side: each policy that declares digest lookups, fetched from the registry, pins
    // the pushed image with the pushed digest in every case of its table that pins through the
    // host's digests.
    for policy in &policies {
        let capabilities = string_list(&policy.metadata, "hostCapabilities");
        if !capabilities.iter().any(|c| c == DIGEST_CAPABILITY) {
            continue;
        }
        let release = released_for(&released, policy);
        let image = format!("{}:{}", repository(&registry, policy), tag(policy));
        let unknown = format!(
            "{}:{}",
            repository(&registry, policy),
            unpublished_tag(policy)
        );
        let (_, wasm) = fetch_verified(
            &format!(
                "registry://{}@{}",
                repository(&registry, policy),
                release.digest
            ),
            &public,
        );
        let module = PolicyModule::from_bytes(&wasm).unwrap();
        let table = CaseTable::load(&policy.dir).unwrap();
        let (refuses, names_image) = refuses_failed_lookups(&table);
        let mut ran = 0;
        for case in &table.cases {
            let context = format!("{}: case '{}'", policy.name, case.name);
            let host = table.host_for(case).unwrap();
            let Some(mut request) = table.request_for(case).unwrap() else {
                continue;
            };
            let Some(pins) = pins_through_digests(case, &request, &host) else {
                continue;
            };
            for pin in &pins {
                *request
                    .pointer_mut(&format!("/object{}", pin.pointer))
                    .unwrap() = json!(image);
            }
            let capabilities = registry_host(&registry, &host);
            let instance = module.instantiate(capabilities.clone()).unwrap();
            let settings = instance.validate_settings(&case.settings).unwrap();
            assert!(settings.valid, "{context}: {settings:?}");
            let response = instance.validate(&request, &case.settings).unwrap();
            assert!(response.accepted, "{context}: {:?}", response.message);
            let mutated = response
                .mutated_object
                .unwrap_or_else(|| panic!("{context}: no mutation"));
            let expected: BTreeMap<String, Value> = pins
                .iter()
                .map(|pin| {
                    let (before, after) = pin.expected.split_once(&pin.written).unwrap();
                    let value = format!(
                        "{before}{image}{}",
                        after.replace(&pin.digest, &release.digest)
                    );
                    (pin.pointer.clone(), json!(value))
                })
                .collect();
            assert_eq!(changes(&request["object"], &mutated), expected, "{context}");
            assert!(
                capabilities
                    .calls()
                    .contains(&format!("{DIGEST_CAPABILITY} {}", json!(image))),
                "{context}: {image} was not looked up: {:?}",
                capabilities.calls()
            );
            ran += 1;

            // The same case with a tag the registry does not have: refused as the table shows.
            for pin in &pins {
                *request
                    .pointer_mut(&format!("/object{}", pin.pointer))
                    .unwrap() = json!(unknown);
            }
            let response = module
                .instantiate(registry_host(&registry, &host))
                .unwrap()
                .validate(&request, &case.settings)
                .unwrap();
            if refuses {
                assert!(!response.accepted, "{context}: {unknown} accepted");
            }
            if names_image {
                let message = response.message.unwrap_or_default();
                assert!(message.contains(&unknown), "{context}: {message}");
            }
            assert!(
                !response
                    .mutated_object
                    .is_some_and(|m| m.to_string().contains(&release.digest)),
                "{context}: {unknown} pinned to the digest of another tag"
            );
        }
        eprintln!(
            "{}: {ran} cases pinned {image} through the registry",
            policy.name
        );
        if policy.metadata["mutating"] == json!(true) {
            assert!(
                ran > 0,
                "{}: declares {DIGEST_CAPABILITY} and mutates, but no case of its table pins an \
                 image with the host's digests (allowed, `mutated` values that are the request's \
                 images with a digest from `host.digests`)",
                policy.name
            );
        }
    }
}
