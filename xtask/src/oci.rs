//! OCI artifacts: a policy packaged with Kubewarden's media types, and the two places it is kept —
//! an OCI image layout directory on disk and a registry — behind one [`Store`] trait.

use crate::policy::PolicyCrate;
use anyhow::{bail, ensure, Context, Result};
use oci_spec::image::{
    Descriptor, DescriptorBuilder, Digest, ImageManifest, ImageManifestBuilder, MediaType,
};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v1+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A manifest and the blobs it names, ready to be stored.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub blobs: Vec<Vec<u8>>,
}

impl Artifact {
    pub fn digest(&self) -> String {
        sha256_digest(&self.manifest)
    }
}

/// JSON with sorted keys, so that one input always gives one digest (annotations are a HashMap).
pub fn canonical_json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&serde_json::to_value(value)?)?)
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn descriptor(
    media_type: &str,
    bytes: &[u8],
    annotations: Option<HashMap<String, String>>,
) -> Result<Descriptor> {
    let mut builder = DescriptorBuilder::default()
        .media_type(MediaType::from(media_type))
        .digest(Digest::from_str(&sha256_digest(bytes))?)
        .size(bytes.len() as u64);
    if let Some(annotations) = annotations {
        builder = builder.annotations(annotations);
    }
    Ok(builder.build()?)
}

/// Packages an annotated policy module: wasm config, one wasm layer, manifest annotations from the
/// metadata (single-line values only) plus the `org.opencontainers.image.*` ones.
pub fn package(policy: &PolicyCrate, wasm: &[u8], created: &str, source: &str) -> Result<Artifact> {
    let layer = descriptor(
        WASM_LAYER_MEDIA_TYPE,
        wasm,
        Some(HashMap::from([(
            "org.opencontainers.image.title".to_string(),
            format!("{}.wasm", policy.name),
        )])),
    )?;
    let config = serde_json::to_vec(&json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip1",
        "layerDigests": [layer.digest().to_string()],
    }))?;
    let mut annotations: HashMap<String, String> = policy
        .metadata
        .get("annotations")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| {
                    v.as_str()
                        .filter(|v| !v.contains('\n'))
                        .map(|v| (k.clone(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    annotations.insert("org.opencontainers.image.source".into(), source.to_string());
    annotations.insert("org.opencontainers.image.title".into(), policy.name.clone());
    annotations.insert(
        "org.opencontainers.image.version".into(),
        policy.version.clone(),
    );
    annotations.insert(
        "org.opencontainers.image.created".into(),
        created.to_string(),
    );
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(WASM_CONFIG_MEDIA_TYPE, &config, None)?)
        .layers(vec![layer])
        .annotations(annotations)
        .build()?;
    Ok(Artifact {
        manifest: canonical_json(&manifest)?,
        blobs: vec![config, wasm.to_vec()],
    })
}

/// Where artifacts are kept: an OCI layout directory or a registry.
pub trait Store {
    /// Stores the blobs and the manifest, and points `tag` at it.
    fn put(&self, repository: &str, artifact: &Artifact, tag: &str) -> Result<String>;
    /// The manifest bytes for a tag or a digest (`sha256:…`); `None` when there is none.
    fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Vec<u8>>>;
    /// A blob, checked against its digest.
    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>>;
    /// How to name `repository` here, for messages.
    fn describe(&self, repository: &str) -> String;
}

/// Fetches an artifact and checks every blob against the digest its manifest gives.
pub fn fetch(
    store: &dyn Store,
    repository: &str,
    reference: &str,
) -> Result<(String, ImageManifest, Vec<u8>)> {
    let bytes = store.manifest(repository, reference)?.with_context(|| {
        format!(
            "404 Not Found: wrong name or tag: {} has no {reference}",
            store.describe(repository)
        )
    })?;
    let digest = sha256_digest(&bytes);
    if reference.starts_with("sha256:") {
        ensure!(
            digest == reference,
            "the manifest served for {reference} has digest {digest}"
        );
    }
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).context("not an OCI image manifest")?;
    ensure!(
        manifest.config().media_type().to_string() == WASM_CONFIG_MEDIA_TYPE,
        "config media type is {}, expected {WASM_CONFIG_MEDIA_TYPE}",
        manifest.config().media_type()
    );
    let layer = match manifest.layers().as_slice() {
        [layer] if layer.media_type().to_string() == WASM_LAYER_MEDIA_TYPE => layer.clone(),
        _ => bail!("expected exactly one {WASM_LAYER_MEDIA_TYPE} layer"),
    };
    let wasm = store.blob(repository, layer.digest().as_ref())?;
    ensure!(
        wasm.len() as u64 == layer.size(),
        "layer size {} differs from the manifest's {}",
        wasm.len(),
        layer.size()
    );
    Ok((digest, manifest, wasm))
}

/// Checks that `bytes` hash to `digest`.
pub fn check_digest(digest: &str, bytes: &[u8]) -> Result<()> {
    let actual = sha256_digest(bytes);
    ensure!(
        actual == digest,
        "blob {digest} does not match its content (sha256 is {actual}): tampered or corrupt"
    );
    Ok(())
}

/// Writes `path` through a temporary file and a rename, so that a reader (another release into
/// the same layout) sees the old file or the new one, never a half-written one.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`), one per repository.
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn dir(&self, repository: &str) -> PathBuf {
        self.root
            .join(repository.rsplit('/').next().unwrap_or(repository))
    }

    fn blob_path(&self, repository: &str, digest: &str) -> Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .with_context(|| format!("unsupported digest {digest}"))?;
        ensure!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "malformed digest {digest}"
        );
        Ok(self.dir(repository).join("blobs/sha256").join(hex))
    }

    fn write_blob(&self, repository: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let path = self.blob_path(repository, &digest)?;
        std::fs::create_dir_all(path.parent().expect("blob dir"))?;
        write_whole(&path, bytes)?;
        Ok(digest)
    }

    fn index(&self, repository: &str) -> Result<Value> {
        let path = self.dir(repository).join("index.json");
        if !path.exists() {
            return Ok(
                json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}),
            );
        }
        serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))
    }
}

impl Store for Layout {
    fn put(&self, repository: &str, artifact: &Artifact, tag: &str) -> Result<String> {
        let dir = self.dir(repository);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        for blob in &artifact.blobs {
            self.write_blob(repository, blob)?;
        }
        let digest = self.write_blob(repository, &artifact.manifest)?;
        let mut index = self.index(repository)?;
        let manifests = index["manifests"]
            .as_array_mut()
            .context("index.json has no manifests list")?;
        manifests.retain(|m| m["annotations"][REF_NAME] != tag);
        manifests.push(json!({
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": digest,
            "size": artifact.manifest.len(),
            "annotations": { REF_NAME: tag },
        }));
        write_whole(&dir.join("index.json"), &serde_json::to_vec_pretty(&index)?)?;
        Ok(digest)
    }

    fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Vec<u8>>> {
        let digest = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            let index = self.index(repository)?;
            let found = index["manifests"].as_array().and_then(|list| {
                list.iter()
                    .find(|m| m["annotations"][REF_NAME] == reference)
                    .and_then(|m| m["digest"].as_str().map(str::to_string))
            });
            match found {
                Some(digest) => digest,
                None => return Ok(None),
            }
        };
        let path = self.blob_path(repository, &digest)?;
        if !path.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(path)?;
        check_digest(&digest, &bytes)?;
        Ok(Some(bytes))
    }

    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(repository, digest)?;
        let bytes = std::fs::read(&path)
            .with_context(|| format!("blob {digest} missing from {}", self.describe(repository)))?;
        check_digest(digest, &bytes)?;
        Ok(bytes)
    }

    fn describe(&self, repository: &str) -> String {
        format!("oci-layout {}", self.dir(repository).display())
    }
}
