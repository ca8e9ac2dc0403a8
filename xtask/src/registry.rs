//! A registry as a [`Store`], through `oci-client`, reached as [`e2e::registry`] describes:
//! credentials from `--username`/`--password-stdin` or the Docker config, TLS with the system roots
//! and `--ca-cert`, plain HTTP only with `--insecure` or for a loopback registry without TLS.

use crate::oci::{check_digest, Artifact, Store, MANIFEST_MEDIA_TYPE};
use anyhow::Result;
use e2e::registry::{explain, http_status, RegistryClient, RegistryOptions};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

pub struct Registry {
    remote: RegistryClient,
    runtime: tokio::runtime::Runtime,
}

impl Registry {
    pub fn new(host: &str, options: &RegistryOptions) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let remote = runtime.block_on(RegistryClient::connect(host, options))?;
        Ok(Registry { remote, runtime })
    }

    fn explain(
        &self,
        error: &OciDistributionError,
        repository: &str,
        operation: RegistryOperation,
    ) -> anyhow::Error {
        explain(error, &self.remote.host, repository, operation)
    }
}

impl Store for Registry {
    fn put(&self, repository: &str, artifact: &Artifact, tag: &str) -> Result<String> {
        let image = self.remote.reference(repository, tag);
        let client = &self.remote.client;
        let push = RegistryOperation::Push;
        self.runtime.block_on(async {
            self.remote.authenticate(&image, push).await?;
            for blob in &artifact.blobs {
                let digest = crate::oci::sha256_digest(blob);
                if !client.blob_exists(&image, &digest).await.unwrap_or(false) {
                    client
                        .push_blob(&image, blob.clone(), &digest)
                        .await
                        .map_err(|e| self.explain(&e, repository, push))?;
                }
            }
            client
                .push_manifest_raw(
                    &image,
                    artifact.manifest.clone(),
                    http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
                )
                .await
                .map_err(|e| self.explain(&e, repository, push))?;
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(artifact.digest())
    }

    fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Vec<u8>>> {
        let image = self.remote.reference(repository, reference);
        let pull = RegistryOperation::Pull;
        self.runtime.block_on(async {
            self.remote.authenticate(&image, pull).await?;
            let answer = self
                .remote
                .client
                .pull_manifest_raw(&image, &RegistryAuth::Anonymous, &[MANIFEST_MEDIA_TYPE])
                .await;
            match answer {
                Ok((bytes, _)) => Ok(Some(bytes.to_vec())),
                Err(e) if http_status(&e) == Some(404) => Ok(None),
                Err(e) => Err(self.explain(&e, repository, pull)),
            }
        })
    }

    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let image = self.remote.reference(repository, digest);
        let pull = RegistryOperation::Pull;
        let mut out = Vec::new();
        self.runtime.block_on(async {
            self.remote.authenticate(&image, pull).await?;
            self.remote
                .client
                .pull_blob(&image, digest, &mut out)
                .await
                .map_err(|e| self.explain(&e, repository, pull))
        })?;
        check_digest(digest, &out)?;
        Ok(out)
    }

    fn describe(&self, repository: &str) -> String {
        format!("{}/{repository}", self.remote.host)
    }
}
