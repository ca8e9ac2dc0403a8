//! A small token issuer for the Distribution registry's `token` authentication, written for the
//! tests (the protocol of distribution's `docs/spec/auth/token.md` and `oauth.md`):
//! - `GET /token?service=…&scope=repository:NAME:ACTIONS` with HTTP Basic credentials;
//! - `POST /token` with `grant_type=refresh_token&refresh_token=…` (an identity token).
//!
//! It grants each user the actions it may do (a reader only `pull`) and answers with a JWT signed
//! by a P-256 key whose self-signed certificate is the registry's `rootcertbundle`; the
//! certificate travels in the JWT's `x5c` header. Wrong credentials get 401.

use super::pki::{certificate, new_key};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::{PKey, Private};
use openssl::sha::sha256;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const SERVICE: &str = "image-policies-test-registry";
pub const ISSUER: &str = "image-policies-test-issuer";

/// Who may log in, and what each may do.
#[derive(Clone)]
pub struct Account {
    pub username: String,
    pub password: String,
    /// `pull` or `pull,push`.
    pub actions: Vec<String>,
    /// An identity (refresh) token that stands for this account.
    pub identity_token: Option<String>,
}

pub struct TokenServer {
    pub realm: String,
    /// The certificate bundle the registry trusts for tokens.
    pub bundle: PathBuf,
    /// Every grant made: `user scope -> granted actions`, for the tests to inspect.
    pub grants: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    address: String,
}

impl TokenServer {
    pub fn start(dir: &Path, accounts: Vec<Account>) -> Self {
        let key = new_key();
        let cert = certificate("image-policies test token signer", &key, None, false, &[]);
        let bundle = dir.join("token-signer.pem");
        std::fs::write(&bundle, cert.to_pem().unwrap()).unwrap();
        let x5c = STANDARD.encode(cert.to_der().unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let grants = Arc::new(Mutex::new(Vec::new()));
        let issuer = Issuer {
            key,
            x5c,
            accounts,
            grants: grants.clone(),
        };
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    issuer.serve(stream);
                }
            }
        });
        TokenServer {
            realm: format!("http://{address}/token"),
            bundle,
            grants,
            stop,
            address,
        }
    }

    /// The registry's `auth:` section for this issuer.
    pub fn registry_auth(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.realm,
            self.bundle.display()
        )
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.address);
    }
}

struct Issuer {
    key: PKey<Private>,
    x5c: String,
    accounts: Vec<Account>,
    grants: Arc<Mutex<Vec<String>>>,
}

impl Issuer {
    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (status, answer) = if path != "/token" {
            (404, json!({"error": "not found"}))
        } else {
            let mut params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            if method == "POST" {
                params.extend(form_urlencoded::parse(&body).into_owned());
            }
            self.answer(&headers, &params)
        };
        let body = answer.to_string();
        let reason = if status == 200 { "OK" } else { "Unauthorized" };
        let _ = write!(
            &stream,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn answer(
        &self,
        headers: &BTreeMap<String, String>,
        params: &[(String, String)],
    ) -> (u16, Value) {
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let account = if param("grant_type") == Some("refresh_token") {
            let token = param("refresh_token").unwrap_or("");
            self.accounts
                .iter()
                .find(|a| a.identity_token.as_deref() == Some(token))
        } else {
            headers
                .get("authorization")
                .and_then(|h| h.strip_prefix("Basic "))
                .and_then(|b| STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|pair| {
                    let (user, password) = pair.split_once(':')?;
                    self.accounts
                        .iter()
                        .find(|a| a.username == user && a.password == password)
                })
        };
        let Some(account) = account else {
            return (
                401,
                json!({"errors": [{"code": "UNAUTHORIZED", "message": "wrong credentials"}]}),
            );
        };
        if param("service") != Some(SERVICE) {
            return (
                401,
                json!({"errors": [{"code": "UNAUTHORIZED", "message": "unknown service"}]}),
            );
        }
        let mut access = Vec::new();
        for scope in params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v) {
            let mut fields = scope.splitn(3, ':');
            let (kind, name, wanted) = (
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
            );
            let granted: Vec<&str> = wanted
                .split(',')
                .filter(|a| account.actions.iter().any(|allowed| allowed == a))
                .collect();
            self.grants.lock().unwrap().push(format!(
                "{} {scope} -> {}",
                account.username,
                granted.join(",")
            ));
            access.push(json!({"type": kind, "name": name, "actions": granted}));
        }
        let token = self.jwt(&account.username, access);
        (
            200,
            json!({"token": token, "access_token": token, "expires_in": 300}),
        )
    }

    fn jwt(&self, subject: &str, access: Vec<Value>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{subject}-{now}-{}", access.len()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let ec = self.key.ec_key().unwrap();
        let signature = EcdsaSig::sign(&sha256(signing_input.as_bytes()), &ec).unwrap();
        let mut raw = signature.r().to_vec_padded(32).unwrap();
        raw.extend(signature.s().to_vec_padded(32).unwrap());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(raw))
    }
}
