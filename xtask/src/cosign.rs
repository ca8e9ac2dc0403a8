//! Key-based signatures stored the way cosign stores them, made with the `sigstore` crate:
//! for an artifact with digest `sha256:H`, the tag `sha256-H.sig` in the same repository holds a
//! manifest whose layers are simple-signing payloads
//! (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its base64 signature in the
//! `dev.cosignproject.cosign/signature` annotation.
//!
//! Verification reads a Kubewarden verification config (`apiVersion: v1`, `allOf` and/or `anyOf`
//! with `kind: pubKey` entries).

use crate::oci::{descriptor, sha256_digest, Artifact, Store};
use anyhow::{bail, ensure, Context, Result};
use base64::Engine;
use oci_spec::image::{ImageManifest, ImageManifestBuilder, MediaType};
use serde::Deserialize;
use serde_json::{json, Value};
use sigstore::crypto::signing_key::{SigStoreKeyPair, SigStoreSigner};
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The tag cosign gives the signatures of `digest`.
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1) + ".sig"
}

/// The private key password, as cosign reads it.
fn password() -> Vec<u8> {
    std::env::var("COSIGN_PASSWORD")
        .unwrap_or_default()
        .into_bytes()
}

/// Writes a new P-256 key pair, cosign's encrypted private key format and a PEM public key.
pub fn generate_key_pair(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer()?;
    let pair = signer.to_sigstore_keypair()?;
    std::fs::create_dir_all(dir)?;
    let (private, public) = (dir.join("cosign.key"), dir.join("cosign.pub"));
    std::fs::write(
        &private,
        pair.private_key_to_encrypted_pem(&password())?.as_bytes(),
    )?;
    std::fs::write(&public, pair.public_key_to_pem()?)?;
    Ok((private, public))
}

pub fn load_signer(private_key: &Path) -> Result<SigStoreSigner> {
    let pem = std::fs::read(private_key)
        .with_context(|| format!("cannot read {}", private_key.display()))?;
    let pair = SigStoreKeyPair::from_encrypted_pem(&pem, &password()).with_context(|| {
        format!(
            "cannot open {} (is COSIGN_PASSWORD right?)",
            private_key.display()
        )
    })?;
    Ok(pair.to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)?)
}

/// The simple-signing payload for `digest` of `docker_reference` (`registry/repository`).
pub fn payload(
    docker_reference: &str,
    digest: &str,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let optional = if annotations.is_empty() {
        Value::Null
    } else {
        json!(annotations)
    };
    serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": digest },
            "type": SIGNATURE_TYPE,
        },
        "optional": optional,
    }))
    .expect("a JSON value serialises")
}

/// Signs the artifact `digest` in `repository` and stores the signature beside it, keeping any
/// signatures already there.
pub fn sign(
    store: &dyn Store,
    repository: &str,
    docker_reference: &str,
    digest: &str,
    signer: &SigStoreSigner,
    annotations: &BTreeMap<String, String>,
) -> Result<String> {
    let payload = payload(docker_reference, digest, annotations);
    let tag = signature_tag(digest);
    let key = signer.to_verification_key()?;
    let mut layers = Vec::new();
    let mut blobs = Vec::new();
    if let Some(existing) = store.manifest(repository, &tag)? {
        let existing: ImageManifest = serde_json::from_slice(&existing)?;
        for layer in existing.layers() {
            let blob = store.blob(repository, layer.digest().as_ref())?;
            let signature = layer
                .annotations()
                .as_ref()
                .and_then(|a| a.get(SIGNATURE_ANNOTATION));
            let same = blob == payload
                && signature.is_some_and(|s| {
                    key.verify_signature(Signature::Base64Encoded(s.as_bytes()), &blob)
                        .is_ok()
                });
            if same {
                return Ok(tag); // this key already signed this payload: signing again changes nothing
            }
            blobs.push(blob);
            layers.push(layer.clone());
        }
    }
    let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign(&payload)?);
    layers.push(descriptor(
        PAYLOAD_MEDIA_TYPE,
        &payload,
        Some(HashMap::from([(
            SIGNATURE_ANNOTATION.to_string(),
            signature,
        )])),
    )?);
    blobs.push(payload);
    let diff_ids: Vec<String> = blobs.iter().map(|b| sha256_digest(b)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "created": "0001-01-01T00:00:00Z",
        "config": {}, "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            "application/vnd.oci.image.config.v1+json",
            &config,
            None,
        )?)
        .layers(layers)
        .build()?;
    blobs.insert(0, config);
    let artifact = Artifact {
        manifest: crate::oci::canonical_json(&manifest)?,
        blobs,
    };
    store.put(repository, &artifact, &tag)?;
    Ok(tag)
}

/// Kubewarden's verification config.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationConfig {
    pub api_version: String,
    #[serde(default)]
    pub all_of: Vec<Requirement>,
    #[serde(default)]
    pub any_of: Option<AnyOf>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnyOf {
    #[serde(default = "one")]
    pub minimum_matches: usize,
    pub signatures: Vec<Requirement>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Requirement {
    #[serde(rename = "pubKey")]
    PubKey {
        #[serde(default)]
        owner: Option<String>,
        key: String,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    },
}

impl VerificationConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config: VerificationConfig = yaml_serde::from_str(&text)
            .with_context(|| format!("{} is not a verification config", path.display()))?;
        ensure!(
            config.api_version == "v1",
            "{}: apiVersion must be v1",
            path.display()
        );
        ensure!(
            !config.all_of.is_empty()
                || config
                    .any_of
                    .as_ref()
                    .is_some_and(|a| !a.signatures.is_empty()),
            "{}: allOf or anyOf must list at least one signature",
            path.display()
        );
        Ok(config)
    }

    /// A config that requires one signature by this public key.
    pub fn single_key(public_key_pem: &str) -> Self {
        VerificationConfig {
            api_version: "v1".into(),
            all_of: vec![Requirement::PubKey {
                owner: None,
                key: public_key_pem.to_string(),
                annotations: BTreeMap::new(),
            }],
            any_of: None,
        }
    }
}

/// A signature found beside the artifact.
struct Found {
    payload: Vec<u8>,
    signature: String,
}

/// Checks the signatures of `digest` in `repository` against the config; the error says why not.
pub fn verify(
    store: &dyn Store,
    repository: &str,
    digest: &str,
    config: &VerificationConfig,
) -> Result<()> {
    let tag = signature_tag(digest);
    let Some(manifest) = store.manifest(repository, &tag)? else {
        bail!(
            "{} is not signed: no signatures at tag {tag}",
            store.describe(repository)
        );
    };
    let manifest: ImageManifest = serde_json::from_slice(&manifest)
        .context("the signature manifest is not an OCI manifest")?;
    let mut found = Vec::new();
    for layer in manifest.layers() {
        if layer.media_type().to_string() != PAYLOAD_MEDIA_TYPE {
            continue;
        }
        let Some(signature) = layer
            .annotations()
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        else {
            continue;
        };
        found.push(Found {
            payload: store.blob(repository, layer.digest().as_ref())?,
            signature: signature.clone(),
        });
    }
    ensure!(
        !found.is_empty(),
        "{} has a {tag} manifest with no signature layers",
        store.describe(repository)
    );

    let mut problems = Vec::new();
    for (i, requirement) in config.all_of.iter().enumerate() {
        if let Err(why) = satisfied(requirement, &found, digest) {
            problems.push(format!("allOf[{i}]{}: {why}", owner(requirement)));
        }
    }
    if let Some(any_of) = &config.any_of {
        let mut matches = 0;
        let mut why_not = Vec::new();
        for (i, requirement) in any_of.signatures.iter().enumerate() {
            match satisfied(requirement, &found, digest) {
                Ok(()) => matches += 1,
                Err(why) => why_not.push(format!(
                    "anyOf.signatures[{i}]{}: {why}",
                    owner(requirement)
                )),
            }
        }
        if matches < any_of.minimum_matches {
            problems.push(format!(
                "anyOf needs {} matching signatures, found {matches} ({})",
                any_of.minimum_matches,
                why_not.join("; ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "signature verification of {}@{digest} failed: {}",
            store.describe(repository),
            problems.join("; ")
        )
    }
}

fn owner(requirement: &Requirement) -> String {
    match requirement {
        Requirement::PubKey {
            owner: Some(owner), ..
        } => format!(" (owner {owner})"),
        Requirement::PubKey { .. } => String::new(),
    }
}

/// Whether one of the signatures satisfies the requirement for `digest`.
fn satisfied(requirement: &Requirement, found: &[Found], digest: &str) -> Result<(), String> {
    let Requirement::PubKey {
        key, annotations, ..
    } = requirement;
    let key = CosignVerificationKey::try_from_pem(key.as_bytes())
        .map_err(|e| format!("unusable public key: {e}"))?;
    let mut why = "no signature verifies with this key".to_string();
    for candidate in found {
        if key
            .verify_signature(
                Signature::Base64Encoded(candidate.signature.as_bytes()),
                &candidate.payload,
            )
            .is_err()
        {
            continue;
        }
        let payload: Value = serde_json::from_slice(&candidate.payload)
            .map_err(|_| "a signed payload is not JSON".to_string())?;
        let signed_digest = payload["critical"]["image"]["docker-manifest-digest"]
            .as_str()
            .unwrap_or("");
        if signed_digest != digest {
            why = format!("the signature by this key is for {signed_digest}, not for {digest}");
            continue;
        }
        let missing: Vec<&String> = annotations
            .iter()
            .filter(|(k, v)| payload["optional"][k.as_str()].as_str() != Some(v.as_str()))
            .map(|(k, _)| k)
            .collect();
        if !missing.is_empty() {
            why = format!("the signature by this key lacks the annotations {missing:?}");
            continue;
        }
        return Ok(());
    }
    Err(why)
}
