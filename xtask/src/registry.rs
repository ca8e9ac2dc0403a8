//! A registry as a [`Store`], through `oci-client`. Plain HTTP is used only for a loopback
//! registry or when the caller says `insecure`.

use crate::oci::{check_digest, Artifact, Store, MANIFEST_MEDIA_TYPE};
use anyhow::{bail, Context, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::net::IpAddr;

pub struct Registry {
    host: String,
    client: Client,
    runtime: tokio::runtime::Runtime,
}

/// Whether `host[:port]` is this machine.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Registry {
    pub fn new(host: &str, insecure: bool) -> Result<Self> {
        let protocol = if insecure || is_loopback(host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            ..Default::default()
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Registry {
            host: host.to_string(),
            client,
            runtime,
        })
    }

    fn reference(&self, repository: &str, reference: &str) -> Reference {
        if reference.starts_with("sha256:") {
            Reference::with_digest(
                self.host.clone(),
                repository.to_string(),
                reference.to_string(),
            )
        } else {
            Reference::with_tag(
                self.host.clone(),
                repository.to_string(),
                reference.to_string(),
            )
        }
    }
}

fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

impl Store for Registry {
    fn put(&self, repository: &str, artifact: &Artifact, tag: &str) -> Result<String> {
        let image = self.reference(repository, tag);
        self.runtime.block_on(async {
            self.client
                .auth(
                    &image,
                    &RegistryAuth::Anonymous,
                    oci_client::RegistryOperation::Push,
                )
                .await
                .ok();
            for blob in &artifact.blobs {
                let digest = crate::oci::sha256_digest(blob);
                if !self
                    .client
                    .blob_exists(&image, &digest)
                    .await
                    .unwrap_or(false)
                {
                    self.client
                        .push_blob(&image, blob.clone(), &digest)
                        .await
                        .with_context(|| {
                            format!("cannot push blob {digest} to {}", self.describe(repository))
                        })?;
                }
            }
            self.client
                .push_manifest_raw(
                    &image,
                    artifact.manifest.clone(),
                    http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
                )
                .await
                .with_context(|| format!("cannot push the manifest to {image}"))?;
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(artifact.digest())
    }

    fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Vec<u8>>> {
        let image = self.reference(repository, reference);
        let answer = self.runtime.block_on(self.client.pull_manifest_raw(
            &image,
            &RegistryAuth::Anonymous,
            &[MANIFEST_MEDIA_TYPE],
        ));
        match answer {
            Ok((bytes, _)) => Ok(Some(bytes.to_vec())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => bail!("cannot fetch {image}: {e}"),
        }
    }

    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let image = self.reference(repository, digest);
        let mut out = Vec::new();
        self.runtime
            .block_on(self.client.pull_blob(&image, digest, &mut out))
            .with_context(|| {
                format!(
                    "cannot fetch blob {digest} from {}",
                    self.describe(repository)
                )
            })?;
        check_digest(digest, &out)?;
        Ok(out)
    }

    fn describe(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        for (host, expected) in [
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("localhost:5000", true),
            ("[::1]:5000", true),
            ("ghcr.io", false),
            ("10.0.0.1:5000", false),
            ("localhost.evil.com", false),
        ] {
            assert_eq!(is_loopback(host), expected, "{host}");
        }
    }
}
