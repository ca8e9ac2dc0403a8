//! Reaching OCI registries as `docker`, `cosign` and `kwctl` do.
//!
//! - **Credentials**: an explicit login (`--username` with `--password-stdin`) for the registry a
//!   command names, else the Docker config (`$DOCKER_CONFIG/config.json`, else
//!   `~/.docker/config.json`) read as the Docker CLI reads it (docker/cli `config/configfile`,
//!   `config/credentials`): `credHelpers[key]`, else `credsStore`, through the
//!   `docker-credential-<name> get` protocol; else `auths[key]` (`auth`, or `username`/`password`,
//!   or `identitytoken`). The key is the host (`HOST[:PORT]`), and `https://index.docker.io/v1/` for
//!   Docker Hub; an `auths` key also matches by its host name once its scheme and path are removed.
//! - **Challenges**: `oci-client` answers `Basic` and `Bearer realm=…` challenges with the
//!   username and password. An identity token is an OAuth2 refresh token: it is exchanged at the
//!   realm for an access token of the repository's scope, as the Docker CLI does.
//! - **TLS**: the system roots plus `--ca-cert` files. Plain HTTP is spoken only with `--insecure`,
//!   or to a loopback registry that does not speak TLS (a loopback registry that does is verified).
//! - **Errors** say which of DNS, connection, TLS, 401, 403 or 404 failed and what to do, and
//!   never contain a credential.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The Docker config key of Docker Hub, whatever name the image uses for it.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// What a credential helper prints when it has nothing for a registry (docker-credential-helpers).
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// A password or token: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a registry is asked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Basic {
        username: String,
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken(Secret),
}

/// `--username` with the password read from stdin, as `docker login --password-stdin` reads it.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: Secret,
}

impl Login {
    pub fn read(username: &str, mut input: impl Read) -> Result<Login> {
        let mut password = String::new();
        input
            .read_to_string(&mut password)
            .context("cannot read the password from stdin")?;
        let password = password.strip_suffix('\n').unwrap_or(&password);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if username.is_empty() {
            bail!("--username is empty");
        }
        if password.is_empty() {
            bail!("--password-stdin read an empty password");
        }
        Ok(Login {
            username: username.to_string(),
            password: Secret::new(password),
        })
    }
}

/// The Docker config key for a registry host (`HOST[:PORT]`).
pub fn config_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        _ => host.to_string(),
    }
}

/// An `auths` key reduced to its host, as docker/cli's `ConvertToHostname` does.
fn key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// A Docker `config.json`: only the parts that say how to log in.
#[derive(Debug, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(skip)]
    path: PathBuf,
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        Self::path_from(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
    }

    fn path_from(docker_config: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
        match docker_config {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
            _ => home.map(|home| PathBuf::from(home).join(".docker/config.json")),
        }
    }

    /// The config at `path`; an absent file is an empty config, as for the Docker CLI.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut config: DockerConfig = serde_json::from_slice(&text).with_context(|| {
            format!(
                "{} is not a Docker config (expected JSON with auths, credHelpers or credsStore)",
                path.display()
            )
        })?;
        config.path = path.to_path_buf();
        Ok(config)
    }

    /// The credential for `host`, from its helper or its `auths` entry; anonymous when none.
    pub fn credential(&self, host: &str) -> Result<Credential> {
        let key = config_key(host);
        let helper = self
            .cred_helpers
            .get(&key)
            .map(|name| (name, "credHelpers"))
            .or_else(|| self.creds_store.as_ref().map(|name| (name, "credsStore")));
        if let Some((helper, field)) = helper {
            return run_helper(&format!("docker-credential-{helper}"), &key).with_context(|| {
                format!(
                    "the credential helper named by {field} in {} failed for {key}",
                    self.path.display()
                )
            });
        }
        let entry = self
            .auths
            .get(&key)
            .or_else(|| {
                self.auths
                    .iter()
                    .find(|(candidate, _)| key_host(candidate) == key)
                    .map(|(_, entry)| entry)
            })
            .or_else(|| {
                // The Hub's key may have been written in any of its host forms.
                (key == DOCKER_HUB_KEY)
                    .then(|| {
                        self.auths
                            .iter()
                            .find(|(candidate, _)| config_key(key_host(candidate)) == key)
                            .map(|(_, entry)| entry)
                    })
                    .flatten()
            });
        match entry {
            Some(entry) => entry.credential().with_context(|| {
                format!("auths[\"{key}\"] in {} is not usable", self.path.display())
            }),
            None => Ok(Credential::Anonymous),
        }
    }
}

impl AuthEntry {
    fn credential(&self) -> Result<Credential> {
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Credential::IdentityToken(Secret::new(token)));
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .context("`auth` is not base64 of USERNAME:PASSWORD")?;
            let (username, password) = decoded
                .split_once(':')
                .context("`auth` is not base64 of USERNAME:PASSWORD")?;
            return Ok(Credential::Basic {
                username: username.to_string(),
                password: Secret::new(password),
            });
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) if !username.is_empty() => Ok(Credential::Basic {
                username: username.clone(),
                password: Secret::new(password.clone()),
            }),
            _ => Ok(Credential::Anonymous),
        }
    }
}

/// `docker-credential-<helper> get`, the server address on stdin, JSON on stdout.
fn run_helper(program: &str, key: &str) -> Result<Credential> {
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}: is it installed and on PATH?"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(key.as_bytes())
        .with_context(|| format!("cannot write to {program}"))?;
    let output = child
        .wait_with_output()
        .with_context(|| format!("{program} did not finish"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout);
        if said.trim() == HELPER_NOT_FOUND {
            return Ok(Credential::Anonymous);
        }
        // A helper reports its error on stdout; its first line is a message, never the secret.
        let first_line = said.lines().next().unwrap_or("").trim();
        bail!("{program} get exited with {}: {first_line}", output.status);
    }
    #[derive(Deserialize)]
    struct HelperAnswer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|_| {
        anyhow::anyhow!("{program} get did not print {{\"Username\", \"Secret\"}} JSON")
    })?;
    Ok(match (answer.username.as_str(), answer.secret) {
        (_, secret) if secret.is_empty() => Credential::Anonymous,
        ("<token>", secret) => Credential::IdentityToken(Secret::new(secret)),
        (username, secret) => Credential::Basic {
            username: username.to_string(),
            password: Secret::new(secret),
        },
    })
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

/// How to reach registries; the command-line options every registry command shares.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP to every registry.
    pub insecure: bool,
    /// Plain HTTP to these registries (`HOST[:PORT]`) only.
    pub plain_http_hosts: Vec<String>,
    /// PEM files of CAs trusted besides the system's roots.
    pub ca_certs: Vec<PathBuf>,
    /// Explicit credentials for the registry a command names; others use the Docker config.
    pub login: Option<Login>,
    /// The Docker config; `DockerConfig::default_path()` when absent.
    pub docker_config: Option<PathBuf>,
}

impl RegistryOptions {
    /// The credential for `host`: the explicit login when one was given, else the Docker config's.
    pub fn credential(&self, host: &str) -> Result<Credential> {
        if let Some(login) = &self.login {
            return Ok(Credential::Basic {
                username: login.username.clone(),
                password: login.password.clone(),
            });
        }
        match self
            .docker_config
            .clone()
            .or_else(DockerConfig::default_path)
        {
            Some(path) => DockerConfig::load(&path)?.credential(host),
            None => Ok(Credential::Anonymous),
        }
    }

    fn certificates(&self) -> Result<Vec<Vec<u8>>> {
        self.ca_certs
            .iter()
            .map(|path| {
                let pem = std::fs::read(path)
                    .with_context(|| format!("--ca-cert: cannot read {}", path.display()))?;
                reqwest::Certificate::from_pem(&pem).with_context(|| {
                    format!("--ca-cert: {} is not a PEM certificate", path.display())
                })?;
                Ok(pem)
            })
            .collect()
    }

    /// An `oci-client` configuration: plain HTTP for `plain_http_hosts` (all with `insecure`),
    /// and the `--ca-cert` CAs (read once, by `certificates`) trusted too.
    fn client_config(
        &self,
        plain_http_hosts: Vec<String>,
        certificates: &[Vec<u8>],
    ) -> ClientConfig {
        let protocol = if self.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::HttpsExcept(plain_http_hosts)
        };
        let extra_root_certificates = certificates
            .iter()
            .map(|data| Certificate {
                encoding: CertificateEncoding::Pem,
                data: data.clone(),
            })
            .collect();
        ClientConfig {
            protocol,
            extra_root_certificates,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        }
    }
}

/// A plain `reqwest` client trusting `certificates` besides the system roots (or any certificate),
/// for the protocol probe and the token exchange.
fn http_client(certificates: &[Vec<u8>], accept_any_certificate: bool) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .danger_accept_invalid_certs(accept_any_certificate);
    for pem in certificates {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
    }
    Ok(builder.build()?)
}

/// One registry host, with the client and credential every operation on it uses.
pub struct RegistryClient {
    pub host: String,
    pub client: oci_client::Client,
    pub plain_http: bool,
    credential: Credential,
    /// For exchanging an identity token: a client with the same trust as `client`.
    token_client: Option<reqwest::Client>,
    /// `repository operation` pairs already authenticated: their token is in `client`'s cache.
    authenticated: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl RegistryClient {
    /// Chooses the protocol (see the module's doc) and the credential for `host`.
    pub async fn connect(host: &str, options: &RegistryOptions) -> Result<Self> {
        let certificates = options.certificates()?;
        let plain_http = options.insecure
            || options.plain_http_hosts.iter().any(|h| h == host)
            || (is_loopback(host) && !speaks_tls(host).await);
        let plain_hosts = if plain_http {
            vec![host.to_string()]
        } else {
            Vec::new()
        };
        let client = oci_client::Client::new(options.client_config(plain_hosts, &certificates));
        let credential = options.credential(host)?;
        let token_client = match credential {
            Credential::IdentityToken(_) => Some(http_client(&certificates, false)?),
            _ => None,
        };
        Ok(RegistryClient {
            host: host.to_string(),
            client,
            plain_http,
            credential,
            token_client,
            authenticated: Default::default(),
        })
    }

    pub fn reference(&self, repository: &str, reference: &str) -> Reference {
        if reference.starts_with("sha256:") {
            Reference::with_digest(self.host.clone(), repository.into(), reference.into())
        } else {
            Reference::with_tag(self.host.clone(), repository.into(), reference.into())
        }
    }

    /// Authenticates for `operation` on `image`'s repository; later calls on it use the token.
    pub async fn authenticate(
        &self,
        image: &Reference,
        operation: RegistryOperation,
    ) -> Result<()> {
        let done = format!("{} {operation:?}", image.repository());
        if self
            .authenticated
            .lock()
            .is_ok_and(|set| set.contains(&done))
        {
            return Ok(());
        }
        let auth = match &self.credential {
            Credential::Anonymous => RegistryAuth::Anonymous,
            Credential::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.expose().to_string())
            }
            Credential::IdentityToken(token) => {
                let http = self
                    .token_client
                    .as_ref()
                    .context("no client for the token exchange")?;
                RegistryAuth::Bearer(self.exchange(http, token, image, operation).await?)
            }
        };
        self.client
            .auth(image, &auth, operation)
            .await
            .map_err(|e| explain(&e, &self.host, image.repository(), operation))?;
        if let Ok(mut set) = self.authenticated.lock() {
            set.insert(done);
        }
        Ok(())
    }

    /// The registry's `Bearer` challenge, answered with an OAuth2 refresh-token grant.
    async fn exchange(
        &self,
        http: &reqwest::Client,
        token: &Secret,
        image: &Reference,
        operation: RegistryOperation,
    ) -> Result<String> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let answer = http
            .get(format!("{scheme}://{}/v2/", self.host))
            .send()
            .await
            .map_err(|e| explain_transport(&e, &self.host))?;
        let challenge = answer
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(parse_bearer_challenge)
            .and_then(|c| c.get("realm").cloned().map(|realm| (realm, c)));
        let Some((realm, challenge)) = challenge else {
            bail!(
                "{} asks for no bearer token, so the identity token in the Docker config cannot be used: log in with a username and password",
                self.host
            );
        };
        let actions = match operation {
            RegistryOperation::Pull => "pull",
            RegistryOperation::Push => "pull,push",
        };
        let scope = format!("repository:{}:{actions}", image.repository());
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", token.expose())
            .append_pair("client_id", "image-policies")
            .append_pair("scope", &scope);
        if let Some(service) = challenge.get("service") {
            form.append_pair("service", service);
        }
        let answer = http
            .post(&realm)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.finish())
            .send()
            .await
            .map_err(|e| explain_transport(&e, &self.host))?;
        let status = answer.status();
        if !status.is_success() {
            bail!(
                "{} the token server {realm} refused the identity token of the Docker config ({status}): log in again",
                status_words(status.as_u16())
            );
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: Option<String>,
            token: Option<String>,
        }
        let token: TokenAnswer = answer
            .json()
            .await
            .with_context(|| format!("the token server {realm} did not answer with a token"))?;
        token
            .access_token
            .or(token.token)
            .with_context(|| format!("the token server {realm} did not answer with a token"))
    }
}

/// Whether a loopback registry answers TLS (any certificate: this only picks the protocol; the
/// real connection then verifies it).
async fn speaks_tls(host: &str) -> bool {
    let Ok(client) = http_client(&[], true) else {
        return false;
    };
    client
        .get(format!("https://{host}/v2/"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok()
}

/// `Bearer realm="…",service="…"` as a map (the parameters are quoted strings, RFC 7235).
fn parse_bearer_challenge(header: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(mut rest) = header
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| header.trim().strip_prefix("bearer "))
    else {
        return out;
    };
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, after)) => (value, after),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.insert(name.trim().to_ascii_lowercase(), value.to_string());
        rest = after;
    }
    out
}

/// The words of the `ImagePullBackOff` guide for an HTTP status.
fn status_words(status: u16) -> &'static str {
    match status {
        401 => "401 Unauthorized:",
        403 => "403 Forbidden:",
        404 => "404 Not Found:",
        _ => "",
    }
}

/// Which step of reaching `host` failed, and what to do about it.
pub fn explain_transport(error: &(dyn std::error::Error + 'static), host: &str) -> anyhow::Error {
    let mut chain = String::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        // reqwest and hyper repeat their source's text in their own; keep each part once.
        let part = e.to_string();
        if !chain.contains(&part) {
            chain.push_str(&part);
            chain.push_str(": ");
        }
        cause = e.source();
    }
    let lower = chain.to_ascii_lowercase();
    let advice = if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        format!("DNS: cannot resolve the registry host {host}: check its name")
    } else if lower.contains("certificate")
        || lower.contains("self signed")
        || lower.contains("self-signed")
    {
        format!(
            "TLS: the certificate of {host} is not trusted: if the registry uses a private CA, give it with --ca-cert FILE"
        )
    } else if lower.contains("ssl") || lower.contains("tls") || lower.contains("handshake") {
        format!(
            "TLS: no secure connection to {host}: check that it speaks HTTPS (--insecure only for a plain-HTTP registry you trust)"
        )
    } else if lower.contains("connection refused")
        || lower.contains("timed out")
        || lower.contains("connect")
    {
        format!("cannot connect to {host}: is the registry running and is HOST[:PORT] right?")
    } else {
        return anyhow::anyhow!("{}: {}", host, chain.trim_end_matches(": "));
    };
    anyhow::anyhow!("{advice} ({})", chain.trim_end_matches(": "))
}

/// The HTTP status an `oci-client` error stands for, when it is one the guide names (401, 403,
/// 404) or the registry's own code; `None` for transport and decoding errors.
pub fn http_status(error: &OciDistributionError) -> Option<u16> {
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Some(401),
        OciDistributionError::ImageManifestNotFoundError(_) => Some(404),
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().find_map(|e| match e.code {
                OciErrorCode::Unauthorized => Some(401),
                OciErrorCode::Denied => Some(403),
                OciErrorCode::NameUnknown
                | OciErrorCode::ManifestUnknown
                | OciErrorCode::BlobUnknown => Some(404),
                _ => None,
            })
        }
        _ => None,
    }
}

/// An `oci-client` error in the words of the `ImagePullBackOff` guide.
pub fn explain(
    error: &OciDistributionError,
    host: &str,
    repository: &str,
    operation: RegistryOperation,
) -> anyhow::Error {
    let what = match operation {
        RegistryOperation::Pull => "read",
        RegistryOperation::Push => "push to",
    };
    if let OciDistributionError::RequestError(e) = error {
        return explain_transport(e, host);
    }
    let status = http_status(error).unwrap_or(0);
    let advice = match status {
        401 => format!(
            "missing or wrong credentials for {host}, or they do not allow you to {what} {repository}: log in (docker login {host}, or --username with --password-stdin)"
        ),
        403 => format!("the credentials have no permission to {what} {host}/{repository}: ask for access to that repository"),
        404 => format!("wrong name or tag: {host}/{repository} has no such manifest or blob"),
        _ => return anyhow::anyhow!("cannot {what} {host}/{repository}: {error}"),
    };
    anyhow::anyhow!("{} {advice}", status_words(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        let mut config: DockerConfig = serde_json::from_str(json).unwrap();
        config.path = PathBuf::from("config.json");
        config
    }

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    #[test]
    fn docker_config_keys_are_matched_as_docker_matches_them() {
        let auth = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "ghcr.io": {{"username": "octo", "password": "pat"}},
                "https://harbor.example.com/v2/": {{"auth": "{}"}},
                "localhost:5000": {{"identitytoken": "refresh"}},
                "empty.example.com": {{}}
            }}}}"#,
            auth("hubuser:hub:pass"),
            auth("robot$ci:harbor")
        );
        let config = config(&json);
        for (host, expected) in [
            ("docker.io", basic("hubuser", "hub:pass")),
            ("index.docker.io", basic("hubuser", "hub:pass")),
            ("registry-1.docker.io", basic("hubuser", "hub:pass")),
            ("ghcr.io", basic("octo", "pat")),
            ("harbor.example.com", basic("robot$ci", "harbor")),
            (
                "localhost:5000",
                Credential::IdentityToken(Secret::new("refresh")),
            ),
            ("localhost", Credential::Anonymous),
            ("empty.example.com", Credential::Anonymous),
            ("ghcr.io.evil.com", Credential::Anonymous),
            ("quay.io", Credential::Anonymous),
        ] {
            assert_eq!(config.credential(host).unwrap(), expected, "{host}");
        }
    }

    #[test]
    fn hub_entries_under_another_host_form_still_match() {
        let config = config(r#"{"auths": {"docker.io": {"username": "u", "password": "p"}}}"#);
        assert_eq!(
            config.credential("index.docker.io").unwrap(),
            basic("u", "p")
        );
    }

    #[test]
    fn broken_auth_entries_name_the_key_and_hide_the_value() {
        let config = config(r#"{"auths": {"ghcr.io": {"auth": "bm90LWEtcGFpcg=="}}}"#);
        let error = format!("{:#}", config.credential("ghcr.io").unwrap_err());
        assert!(error.contains("auths[\"ghcr.io\"]"), "{error}");
        assert!(error.contains("USERNAME:PASSWORD"), "{error}");
        assert!(
            !error.contains("not-a-pair") && !error.contains("bm90"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_helper_is_a_clear_error() {
        let config = config(
            r#"{"credsStore": "no-such-helper-here", "auths": {"ghcr.io": {"username": "u", "password": "p"}}}"#,
        );
        let error = format!("{:#}", config.credential("ghcr.io").unwrap_err());
        assert!(error.contains("credsStore"), "{error}");
        assert!(
            error.contains("docker-credential-no-such-helper-here"),
            "{error}"
        );
        assert!(error.contains("PATH"), "{error}");
    }

    #[test]
    fn a_missing_config_is_anonymous_and_a_broken_one_is_named() {
        let dir = std::env::temp_dir().join(format!("docker-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .credential("ghcr.io")
                .unwrap(),
            Credential::Anonymous
        );
        std::fs::write(&path, "{not json").unwrap();
        let error = format!("{:#}", DockerConfig::load(&path).unwrap_err());
        assert!(error.contains(&path.display().to_string()), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_config_is_where_docker_looks() {
        let path = |config: Option<&str>, home: Option<&str>| {
            DockerConfig::path_from(config.map(OsString::from), home.map(OsString::from))
        };
        assert_eq!(
            path(Some("/cfg"), Some("/home/u")),
            Some(PathBuf::from("/cfg/config.json"))
        );
        assert_eq!(
            path(Some(""), Some("/home/u")),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(
            path(None, Some("/home/u")),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(path(None, None), None);
    }

    /// A helper script answering `get` with `stdout` and exit `status`; it records its input.
    fn helper(name: &str, stdout: &str, status: i32) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("helpers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (script, asked) = (dir.join(name), dir.join(format!("{name}.asked")));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$1\" = get ] || exit 9\ncat > '{}'\nprintf '%s' '{stdout}'\nexit {status}\n",
                asked.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (script, asked)
    }

    #[test]
    fn credential_helpers_speak_the_docker_protocol() {
        let run = |name: &str, stdout: &str, status: i32| {
            let (script, asked) = helper(name, stdout, status);
            let answer = run_helper(script.to_str().unwrap(), "registry.example:5000");
            assert_eq!(
                std::fs::read_to_string(asked).unwrap(),
                "registry.example:5000"
            );
            answer
        };
        let json = |user: &str, secret: &str| {
            format!(
                r#"{{"ServerURL":"registry.example:5000","Username":"{user}","Secret":"{secret}"}}"#
            )
        };
        assert_eq!(
            run("basic", &json("bot", "pw"), 0).unwrap(),
            basic("bot", "pw")
        );
        assert_eq!(
            run("token", &json("<token>", "refresh"), 0).unwrap(),
            Credential::IdentityToken(Secret::new("refresh"))
        );
        assert_eq!(
            run("empty", &json("bot", ""), 0).unwrap(),
            Credential::Anonymous
        );
        assert_eq!(
            run("none", HELPER_NOT_FOUND, 1).unwrap(),
            Credential::Anonymous
        );
        let error = format!(
            "{:#}",
            run("broken", "the keychain is locked\nsecret-looking-detail", 1).unwrap_err()
        );
        assert!(error.contains("the keychain is locked"), "{error}");
        assert!(!error.contains("secret-looking-detail"), "{error}");
        let error = format!("{:#}", run("garbage", "pw-in-plain-text", 0).unwrap_err());
        assert!(error.contains("did not print"), "{error}");
        assert!(!error.contains("pw-in-plain-text"), "{error}");
    }

    #[test]
    fn auths_need_a_username_for_a_password() {
        let config = config(
            r#"{"auths": {"a.example": {"username": "", "password": "p"}, "b.example": {"username": "u"}}}"#,
        );
        assert_eq!(
            config.credential("a.example").unwrap(),
            Credential::Anonymous
        );
        assert_eq!(
            config.credential("b.example").unwrap(),
            Credential::Anonymous
        );
    }

    #[test]
    fn ca_files_are_read_and_checked() {
        let options = |paths: Vec<PathBuf>| RegistryOptions {
            ca_certs: paths,
            ..Default::default()
        };
        let missing = std::env::temp_dir().join("no-such-dir-for-ca-files/missing.pem");
        let error = format!("{:#}", options(vec![missing]).certificates().unwrap_err());
        assert!(
            error.contains("--ca-cert") && error.contains("missing.pem"),
            "{error}"
        );
        assert!(options(vec![]).certificates().unwrap().is_empty());
    }

    #[test]
    fn every_registry_error_shape_is_named() {
        use oci_client::errors::{OciEnvelope, OciError};
        let envelope = |code: OciErrorCode| OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: "from the registry".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "https://r/v2/".into(),
        };
        let cases = [
            (
                OciDistributionError::UnauthorizedError { url: "u".into() },
                "401 Unauthorized:",
            ),
            (
                OciDistributionError::AuthenticationFailure("body".into()),
                "401 Unauthorized:",
            ),
            (
                OciDistributionError::ImageManifestNotFoundError("m".into()),
                "404 Not Found:",
            ),
            (envelope(OciErrorCode::Unauthorized), "401 Unauthorized:"),
            (envelope(OciErrorCode::Denied), "403 Forbidden:"),
            (envelope(OciErrorCode::NameUnknown), "404 Not Found:"),
            (envelope(OciErrorCode::ManifestUnknown), "404 Not Found:"),
            (envelope(OciErrorCode::BlobUnknown), "404 Not Found:"),
            (
                envelope(OciErrorCode::Toomanyrequests),
                "cannot read r.example/acme/p: Registry error",
            ),
        ];
        for (error, words) in cases {
            let text = explain(&error, "r.example", "acme/p", RegistryOperation::Pull).to_string();
            assert!(text.starts_with(words), "{error:?}: {text}");
        }
        let text = explain(
            &envelope(OciErrorCode::Denied),
            "r.example",
            "acme/p",
            RegistryOperation::Pull,
        )
        .to_string();
        assert!(
            text.contains("no permission to read r.example/acme/p"),
            "{text}"
        );
    }

    #[test]
    fn transport_failures_name_their_step() {
        let failure = |text: &str| std::io::Error::other(text.to_string());
        for (cause, words) in [
            (
                "dns error: failed to lookup address information",
                "DNS: cannot resolve the registry host r.example",
            ),
            ("Name or service not known", "DNS: cannot resolve"),
            (
                "certificate verify failed (unable to get local issuer certificate)",
                "TLS: the certificate of r.example is not trusted",
            ),
            ("self signed chain", "TLS: the certificate"),
            ("self-signed chain", "TLS: the certificate"),
            ("dns error: no record found", "DNS: cannot resolve"),
            (
                "failed to lookup address information",
                "DNS: cannot resolve",
            ),
            (
                "ssl routines: wrong version number",
                "TLS: no secure connection to r.example",
            ),
            ("handshake failure", "TLS: no secure connection"),
            (
                "tcp connect error: Connection refused (os error 111)",
                "cannot connect to r.example",
            ),
            ("operation timed out", "cannot connect to r.example"),
        ] {
            let text = explain_transport(&failure(cause), "r.example").to_string();
            assert!(text.starts_with(words), "{cause}: {text}");
            assert!(text.contains(cause), "the cause is kept: {text}");
        }
        let text = explain_transport(&failure("something else"), "r.example").to_string();
        assert_eq!(text, "r.example: something else");
    }

    #[test]
    fn an_unreadable_config_is_an_error_not_anonymous() {
        let dir = std::env::temp_dir().join(format!("config-is-a-dir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("config.json")).unwrap();
        let error = format!(
            "{:#}",
            DockerConfig::load(&dir.join("config.json")).unwrap_err()
        );
        assert!(error.contains("cannot read"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passwords_from_stdin_lose_one_line_ending_only() {
        for (input, expected) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            (" pw \n\n", " pw \n"),
        ] {
            let login = Login::read("u", input.as_bytes()).unwrap();
            assert_eq!(login.password.expose(), expected, "{input:?}");
        }
        assert!(Login::read("u", "\n".as_bytes()).is_err());
        assert!(Login::read("", "pw".as_bytes()).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let credential = basic("user", "hunter2");
        let shown = format!("{credential:?}");
        assert!(
            shown.contains("<redacted>") && shown.contains("user"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        let login = Login::read("user", "hunter2".as_bytes()).unwrap();
        assert!(!format!("{login:?}").contains("hunter2"));
    }

    #[test]
    fn bearer_challenges() {
        let c = parse_bearer_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        );
        assert_eq!(c["realm"], "https://auth.example.com/token");
        assert_eq!(c["service"], "registry.example.com");
        assert_eq!(c["scope"], "repository:a/b:pull");
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_empty());
        assert_eq!(
            parse_bearer_challenge("Bearer realm=plain, service=s")["service"],
            "s"
        );
    }

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
            ("localhost:http", false),
        ] {
            assert_eq!(is_loopback(host), expected, "{host}");
        }
    }

    #[test]
    fn registry_errors_in_the_guides_words() {
        let error = |code: u16| OciDistributionError::ServerError {
            code,
            url: "https://r/v2/".into(),
            message: String::new(),
        };
        for (code, words) in [
            (401, "401 Unauthorized: missing or wrong credentials"),
            (
                403,
                "403 Forbidden: the credentials have no permission to push to r.example/acme/p",
            ),
            (404, "404 Not Found: wrong name or tag"),
        ] {
            let text =
                explain(&error(code), "r.example", "acme/p", RegistryOperation::Push).to_string();
            assert!(text.contains(words), "{code}: {text}");
        }
    }
}
