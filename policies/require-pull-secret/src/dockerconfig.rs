//! Whether a pull Secret serves an image, decided the way the kubelet's credential keyring
//! decides it. Nothing inside a Secret (user names, passwords, `auth` values, raw registry
//! keys) reaches a message: `describe` shows `host[:port][/path]` only.
//!
//! Rules, with the Kubernetes source each follows (paths under `pkg/`):
//!
//! Which Secrets count
//! - **S1** `credentialprovider/secrets/secrets.go`, `secretsToTrackedDockerConfigs`: only
//!   `type: kubernetes.io/dockerconfigjson` with a non-empty data key `.dockerconfigjson`
//!   (`{"auths": {...}}`), or `type: kubernetes.io/dockercfg` with a non-empty `.dockercfg`
//!   (the `{...}` map itself). Any other type, key, or an empty value is skipped silently.
//!   `data` is read as the API returns it (base64); `stringData` never reaches the kubelet.
//! - **S2** same function: a counted Secret whose JSON cannot be decoded makes
//!   `MakeDockerKeyring` fail, and `kubelet/images/image_manager.go`, `EnsureImageExists`,
//!   then fails every image of the pod (since 1.33 even one already on the node). A listed
//!   Secret that cannot be fetched is only logged, with a `FailedToRetrieveImagePullSecret`
//!   event (`kubelet/kubelet_pods.go`, `getPullSecretsForPod`): that is the caller's business.
//! - **S3** same function: all counted Secrets of a pod go into ONE `BasicDockerKeyring`, so
//!   one Secret's entries can hide another's Docker Hub fallback (L3); `Keyring::merge` them
//!   to judge a pod exactly.
//!
//! Decoding
//! - **D1** Go `encoding/json` into `credentialprovider/config.go`, `DockerConfigJSON` and
//!   `dockerConfigEntryWithAuth`: field names match case-insensitively (`Auths`, `USERNAME`,
//!   Go's folding of `ſ`, `K`, `ı`, `İ` included); the last duplicate wins and `null` changes
//!   nothing (a second `auths` object adds to the first); unknown fields of any type are
//!   ignored; a known field of the wrong type (`"username": 5`, `"auths": []`,
//!   `"HttpHeaders": 1`, an entry that is not an object) is an error (S2), as is bad syntax,
//!   trailing data or nesting deeper than 10000. Invalid UTF-8 and lone surrogates become
//!   U+FFFD rather than errors.
//! - **D2** `config.go`, `DockerConfigEntry.UnmarshalJSON` / `decodeDockerConfigFieldAuth`: a
//!   non-empty `auth` replaces `username`/`password`; it is padded base64 when it ends in `=`
//!   (after trimming white space) and unpadded otherwise, `\r`/`\n` skipped; decoded, it splits
//!   at the first `:`. Bad base64 or no `:` is an error (S2).
//! - **D3** `identitytoken` and `registrytoken` are never read: `dockerConfigEntryWithAuth`
//!   has no such fields and `keyring.go`, `BasicDockerKeyring.Add` copies only user name,
//!   password and email. An entry holding only a token gives the runtime empty credentials.
//! - **D4** (this policy's judgement, not a kubelet rule) an entry is usable only with a
//!   non-empty user name AND password. The user name is what the runtime keys on (containerd
//!   `ParseAuth` pulls anonymously when it is empty); a user name without a password is
//!   counted as unusable too. Unusable entries still take part in the lookup (L3).
//!
//! Registry keys (`credentialprovider/keyring.go`, `BasicDockerKeyring.Add`)
//! - **K1** `https://` is prefixed unless the key starts with `https://` or `http://`
//!   (case-sensitive: `HTTPS://h` becomes host `HTTPS:`), then Go's `url.Parse` runs: a key it
//!   rejects (bad port, space, `\`, `^`, a bad `%` escape, a control character, a host
//!   starting with `[` that is no `[...]` literal) is ignored. `user:pass@`, `?query` and
//!   `#fragment` are dropped (so `?` cannot be a wildcard), `%XX` is decoded, case is kept.
//! - **K2** a path starting `/v1/` or `/v2/` loses those 3 characters; the key is
//!   `host[:port]` plus the path unless the path is empty or `/`.
//!
//! Lookup (`keyring.go`, `BasicDockerKeyring.Lookup`)
//! - **L1** the string looked up is `util/parsers`, `ParseImageName`, i.e. distribution's
//!   `ParseNormalizedNamed(image).Name()`: `nginx` is `docker.io/library/nginx`,
//!   `index.docker.io/a/b` is `docker.io/a/b`, the domain keeps its case (`Docker.IO/nginx`).
//!   The caller computes it.
//! - **L2** `URLsMatchStr` / `ParseSchemelessURL` / `SplitURL` / `URLsMatch`: a key matches
//!   when the ports are equal (`net.SplitHostPort`; `localhost:` and `localhost` both have an
//!   empty port), the hosts have as many `.`-separated labels, each key label matches its image
//!   label with `filepath.Match` (`*`, `[a-z]`, case-sensitive, never across a `.`), and the
//!   key's path is a plain string prefix of the image's path (`ghcr.io/acme` covers
//!   `ghcr.io/acme-corp/app`).
//! - **L3** `Lookup` / `isDefaultRegistryMatch`: every matching key contributes. Only when
//!   none matches, and the image's first component is `docker.io`, `index.docker.io`, or has
//!   no `.` and no `:` (`localhost/app` too), the key exactly `index.docker.io` is used
//!   (from `index.docker.io`, `https://index.docker.io/v1/`, `.../v2/`; not from
//!   `https://index.docker.io/v1`, `registry-1.docker.io` or `Index.docker.io`).
//! - **L4** `kubelet/kuberuntime/kuberuntime_image.go`, `PullImage`: each returned credential
//!   is tried in turn, so an image is served when one of them is usable (D4). Node credentials
//!   (`config.json`, credential provider plugins) are added on top and are invisible here.

use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKER_CFG: &str = "kubernetes.io/dockercfg";

/// `keyring.go`: `defaultRegistryHost`, the key of the Docker Hub fallback (L3).
const DOCKER_HUB_KEY: &[u8] = b"index.docker.io";

/// How the kubelet reads one Secret.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretRead {
    /// Not a pull secret the kubelet reads (wrong type, data key missing or empty): silently
    /// skipped. The String says why, for messages.
    Skipped(String),
    /// The kubelet cannot parse it: every image pull of the pod fails. The String says why,
    /// never quoting data.
    Broken(String),
    /// Its entries, as the keyring holds them.
    Keyring(Keyring),
}

/// Registry keys as `BasicDockerKeyring` holds them, each with whether any credential filed
/// under it is usable (D4). Its `Debug` output is `describe()`.
#[derive(Clone, Default, PartialEq)]
pub struct Keyring {
    keys: HashMap<Vec<u8>, KeyEntry>,
}

#[derive(Clone, PartialEq)]
struct KeyEntry {
    usable: bool,
    /// The key parsed again as `Lookup` parses it; `None` when that fails (it then matches
    /// nothing, though it can still be the Docker Hub fallback key).
    pattern: Option<Target>,
}

/// A schemeless URL split as `SplitURL` splits it.
#[derive(Clone, PartialEq)]
struct Target {
    labels: Vec<Vec<u8>>,
    port: Vec<u8>,
    path: Vec<u8>,
}

/// Reads a Secret (as the API returns it) the way the kubelet does (S1, S2, D1-D4, K1, K2).
pub fn read_secret(secret: &Value) -> SecretRead {
    let kind = secret.get("type").and_then(Value::as_str).unwrap_or("");
    let (key, legacy) = match kind {
        DOCKER_CONFIG_JSON => (".dockerconfigjson", false),
        DOCKER_CFG => (".dockercfg", true),
        "" => {
            return SecretRead::Skipped(format!(
                "it has no type, so it is not {DOCKER_CONFIG_JSON} or {DOCKER_CFG}"
            ))
        }
        other => {
            return SecretRead::Skipped(format!(
                "type '{}' is not {DOCKER_CONFIG_JSON} or {DOCKER_CFG}",
                shown_type(other)
            ))
        }
    };
    let encoded = match secret.get("data").and_then(|data| data.get(key)) {
        None | Some(Value::Null) => {
            return SecretRead::Skipped(format!("it has no data key '{key}'"))
        }
        Some(Value::String(encoded)) => encoded,
        Some(_) => {
            return SecretRead::Broken(format!("its data key '{key}' is not a base64 string"))
        }
    };
    let Some(config) = go_base64(encoded.as_bytes(), true) else {
        return SecretRead::Broken(format!("its data key '{key}' is not valid base64"));
    };
    if config.is_empty() {
        return SecretRead::Skipped(format!("its data key '{key}' is empty"));
    }
    match gojson::registry_entries(&config, legacy) {
        Err(why) => SecretRead::Broken(format!("its data key '{key}' {why}")),
        Ok(entries) => {
            let mut keyring = Keyring::default();
            for (location, usable) in entries {
                keyring.add(&location, usable);
            }
            SecretRead::Keyring(keyring)
        }
    }
}

impl Keyring {
    /// Whether the kubelet would send usable credentials from this keyring when pulling
    /// `image_name` (the kubelet's lookup string, e.g. `docker.io/library/nginx`,
    /// `ghcr.io/acme/app`, `localhost:5000/app`; see L1). Rules L2-L4.
    pub fn serves(&self, image_name: &str) -> bool {
        let mut matched = false;
        let mut usable = false;
        if let Some(image) = schemeless_target(image_name.as_bytes()) {
            for entry in self.keys.values() {
                if entry.pattern.as_ref().is_some_and(|p| p.covers(&image)) {
                    matched = true;
                    usable |= entry.usable;
                }
            }
        }
        if matched {
            return usable;
        }
        is_default_registry_match(image_name)
            && self.keys.get(DOCKER_HUB_KEY).is_some_and(|e| e.usable)
    }

    /// The registries it has entries for, as `host[:port][/path]` only (never a scheme, user
    /// name or password), sorted, for messages. A path holding anything but letters, digits
    /// and `._-/`, or an empty segment, is shown as `/…` (`HTTPS://u:p@h` is host `HTTPS:`).
    pub fn describe(&self) -> Vec<String> {
        self.described(|_| true)
    }

    /// The registries of `describe` whose entries all lack usable credentials (D3, D4).
    pub fn describe_unusable(&self) -> Vec<String> {
        self.described(|entry| !entry.usable)
    }

    /// Adds another Secret's entries, as the kubelet puts all of a pod's Secrets in one
    /// keyring (S3).
    pub fn merge(&mut self, other: &Keyring) {
        for (key, entry) in &other.keys {
            self.keys
                .entry(key.clone())
                .and_modify(|mine| mine.usable |= entry.usable)
                .or_insert_with(|| entry.clone());
        }
    }

    /// `BasicDockerKeyring.Add` for one entry (K1, K2).
    fn add(&mut self, location: &str, usable: bool) {
        let Some(key) = keyring_key(location) else {
            return;
        };
        let entry = self.keys.entry(key).or_insert_with_key(|key| KeyEntry {
            usable: false,
            pattern: schemeless_target(key),
        });
        entry.usable |= usable;
    }

    fn described(&self, keep: impl Fn(&KeyEntry) -> bool) -> Vec<String> {
        let mut shown: Vec<String> = self
            .keys
            .iter()
            .filter(|(_, entry)| keep(entry))
            .map(|(key, _)| shown_key(key))
            .collect();
        shown.sort();
        shown.dedup();
        shown
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("registries", &self.describe())
            .field("unusable", &self.describe_unusable())
            .finish()
    }
}

impl Target {
    /// `URLsMatch(self, image)` (L2).
    fn covers(&self, image: &Target) -> bool {
        self.port == image.port
            && self.labels.len() == image.labels.len()
            && image.path.starts_with(&self.path)
            && self
                .labels
                .iter()
                .zip(&image.labels)
                .all(|(pattern, label)| go_match(pattern, label))
    }
}

/// The keyring key of a config key, or `None` when `url.Parse` rejects it (K1, K2).
fn keyring_key(location: &str) -> Option<Vec<u8>> {
    let mut value = Vec::with_capacity(location.len() + 8);
    if !location.starts_with("https://") && !location.starts_with("http://") {
        value.extend_from_slice(b"https://");
    }
    value.extend_from_slice(location.as_bytes());
    let url = parse_url(&value)?;
    let mut path: &[u8] = &url.path;
    if path.starts_with(b"/v2/") || path.starts_with(b"/v1/") {
        path = &path[3..];
    }
    let mut key = url.host;
    if !path.is_empty() && path != b"/" {
        key.extend_from_slice(path);
    }
    Some(key)
}

/// `ParseSchemelessURL` followed by `SplitURL`.
fn schemeless_target(schemeless: &[u8]) -> Option<Target> {
    let mut raw = Vec::with_capacity(schemeless.len() + 8);
    raw.extend_from_slice(b"https://");
    raw.extend_from_slice(schemeless);
    let url = parse_url(&raw)?;
    let (host, port) = split_host_port(&url.host).unwrap_or((&url.host, b""));
    Some(Target {
        labels: host.split(|&c| c == b'.').map(<[u8]>::to_vec).collect(),
        port: port.to_vec(),
        path: url.path,
    })
}

/// `isDefaultRegistryMatch` (L3).
fn is_default_registry_match(image: &str) -> bool {
    let Some((first, _)) = image.split_once('/') else {
        return !image.is_empty();
    };
    !first.is_empty()
        && (first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':']))
}

/// A key for messages: its host as the keyring holds it, its path only when plainly a path.
fn shown_key(key: &[u8]) -> String {
    let slash = key.iter().position(|&c| c == b'/').unwrap_or(key.len());
    let (host, path) = key.split_at(slash);
    let mut shown = String::new();
    for c in String::from_utf8_lossy(host).chars() {
        if c.is_ascii_graphic() {
            shown.push(c);
        } else {
            shown.extend(c.escape_unicode());
        }
    }
    let plain = path
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/'));
    if plain && !path.windows(2).any(|pair| pair == b"//") {
        shown.push_str(std::str::from_utf8(path).unwrap_or_default());
    } else {
        shown.push_str("/…");
    }
    shown
}

/// A Secret type for messages: printable ASCII, at most 80 characters.
fn shown_type(kind: &str) -> String {
    let mut shown: String = kind
        .chars()
        .take(80)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if kind.chars().count() > 80 {
        shown.push('…');
    }
    shown
}

// ---------------------------------------------------------------------------------------------
// Go's base64 (encoding/base64, StdEncoding / RawStdEncoding, not strict).

/// Decodes like Go's `StdEncoding` (`padded`) or `RawStdEncoding`: `\r` and `\n` are skipped
/// anywhere, non-zero trailing bits are accepted, `None` on any other defect.
fn go_base64(input: &[u8], padded: bool) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    fn skip_newlines(input: &[u8], mut at: usize) -> usize {
        while at < input.len() && matches!(input[at], b'\r' | b'\n') {
            at += 1;
        }
        at
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut at = 0;
    loop {
        let mut quantum = [0u8; 4];
        let mut filled = 0;
        let mut last = false;
        while filled < 4 {
            if at == input.len() {
                if filled == 0 {
                    return Some(out);
                }
                if filled == 1 || padded {
                    return None;
                }
                last = true;
                break;
            }
            let c = input[at];
            at += 1;
            if let Some(value) = sextet(c) {
                quantum[filled] = value;
                filled += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if !padded || c != b'=' {
                return None;
            }
            match filled {
                0 | 1 => return None,
                2 => {
                    at = skip_newlines(input, at);
                    if at == input.len() || input[at] != b'=' {
                        return None;
                    }
                    at += 1;
                }
                _ => {}
            }
            if skip_newlines(input, at) < input.len() {
                return None;
            }
            last = true;
            break;
        }
        let bits = u32::from(quantum[0]) << 18
            | u32::from(quantum[1]) << 12
            | u32::from(quantum[2]) << 6
            | u32::from(quantum[3]);
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        out.extend_from_slice(&bytes[..filled - 1]);
        if last {
            return Some(out);
        }
    }
}

/// `decodeDockerConfigFieldAuth` (D2): whether the user name and the password are non-empty.
fn decode_auth(field: &str) -> Result<(bool, bool), &'static str> {
    let padded = field.trim().ends_with('=');
    let decoded = go_base64(field.as_bytes(), padded)
        .ok_or("has a registry entry whose 'auth' is not base64")?;
    let colon = decoded
        .iter()
        .position(|&c| c == b':')
        .ok_or("has a registry entry whose 'auth' does not decode to user:password")?;
    Ok((colon > 0, colon + 1 < decoded.len()))
}

// ---------------------------------------------------------------------------------------------
// Go's encoding/json, only as far as DockerConfigJSON / DockerConfig need it (D1).

mod gojson {
    use std::collections::HashMap;

    /// Go's `maxNestingDepth`.
    const MAX_DEPTH: usize = 10_000;

    struct SyntaxError;
    type Parsed<T> = Result<T, SyntaxError>;

    /// The registry entries of a `.dockerconfigjson` (`legacy == false`) or `.dockercfg`,
    /// each with whether it is usable (D4); or why Go's `json.Unmarshal` fails on it.
    pub(super) fn registry_entries(
        json: &[u8],
        legacy: bool,
    ) -> Result<HashMap<String, bool>, &'static str> {
        let mut parser = Parser {
            json,
            at: 0,
            depth: 0,
            error: None,
        };
        let mut auths = None;
        let parsed = if legacy {
            parser.auths(&mut auths, "is not a JSON object")
        } else {
            parser.config(&mut auths)
        };
        let parsed = parsed.and_then(|()| {
            parser.space();
            if parser.at == json.len() {
                Ok(())
            } else {
                Err(SyntaxError)
            }
        });
        match (parsed, parser.error) {
            (Err(SyntaxError), _) => Err("is not valid JSON"),
            (Ok(()), Some(why)) => Err(why),
            (Ok(()), None) => Ok(auths.unwrap_or_default()),
        }
    }

    /// Go's `foldName`: ASCII upper case, plus the non-ASCII letters that fold to ASCII.
    fn folded(name: &str) -> String {
        name.chars()
            .map(|c| match c {
                '\u{17F}' => 'S',
                '\u{212A}' => 'K',
                '\u{130}' | '\u{131}' => 'I',
                c => c.to_ascii_uppercase(),
            })
            .collect()
    }

    struct Parser<'a> {
        json: &'a [u8],
        at: usize,
        depth: usize,
        /// The first decoding error; Go reports it once the syntax proves valid.
        error: Option<&'static str>,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.json.get(self.at).copied()
        }

        fn space(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.at += 1;
            }
        }

        fn expect(&mut self, c: u8) -> Parsed<()> {
            self.space();
            if self.peek() == Some(c) {
                self.at += 1;
                Ok(())
            } else {
                Err(SyntaxError)
            }
        }

        fn wrong(&mut self, why: &'static str) {
            self.error.get_or_insert(why);
        }

        fn open(&mut self) -> Parsed<()> {
            self.at += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                Err(SyntaxError)
            } else {
                Ok(())
            }
        }

        fn literal(&mut self, word: &[u8]) -> Parsed<()> {
            if self.json[self.at..].starts_with(word) {
                self.at += word.len();
                Ok(())
            } else {
                Err(SyntaxError)
            }
        }

        /// The members of an object (the cursor is on `{`), each handed over with the
        /// cursor on its value.
        fn object(
            &mut self,
            mut member: impl FnMut(&mut Self, String) -> Parsed<()>,
        ) -> Parsed<()> {
            self.open()?;
            self.space();
            if self.peek() == Some(b'}') {
                self.at += 1;
                self.depth -= 1;
                return Ok(());
            }
            loop {
                self.space();
                let name = self.string()?;
                self.expect(b':')?;
                self.space();
                member(self, name)?;
                self.space();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b'}') => {
                        self.at += 1;
                        self.depth -= 1;
                        return Ok(());
                    }
                    _ => return Err(SyntaxError),
                }
            }
        }

        /// A value decoded into a Go type other than an object or string: checked, dropped.
        /// Iterative, so that deep nesting costs no stack.
        fn skip(&mut self) -> Parsed<()> {
            let mut open: Vec<u8> = Vec::new();
            loop {
                self.space();
                match self.peek() {
                    Some(c @ (b'{' | b'[')) => {
                        self.open()?;
                        self.space();
                        let close = if c == b'{' { b'}' } else { b']' };
                        if self.peek() == Some(close) {
                            self.at += 1;
                            self.depth -= 1;
                        } else {
                            open.push(close);
                            if c == b'{' {
                                self.space();
                                self.string()?;
                                self.expect(b':')?;
                            }
                            continue;
                        }
                    }
                    Some(b'"') => {
                        self.string()?;
                    }
                    Some(b't') => self.literal(b"true")?,
                    Some(b'f') => self.literal(b"false")?,
                    Some(b'n') => self.literal(b"null")?,
                    Some(b'-' | b'0'..=b'9') => self.number()?,
                    _ => return Err(SyntaxError),
                }
                // A value ended: close what it ends, or move to the next element.
                loop {
                    let Some(&close) = open.last() else {
                        return Ok(());
                    };
                    self.space();
                    match self.peek() {
                        Some(b',') => {
                            self.at += 1;
                            if close == b'}' {
                                self.space();
                                self.string()?;
                                self.expect(b':')?;
                            }
                            break;
                        }
                        Some(c) if c == close => {
                            self.at += 1;
                            self.depth -= 1;
                            open.pop();
                        }
                        _ => return Err(SyntaxError),
                    }
                }
            }
        }

        fn number(&mut self) -> Parsed<()> {
            let digits = |parser: &mut Self| {
                let start = parser.at;
                while let Some(b'0'..=b'9') = parser.peek() {
                    parser.at += 1;
                }
                if parser.at > start {
                    Ok(())
                } else {
                    Err(SyntaxError)
                }
            };
            if self.peek() == Some(b'-') {
                self.at += 1;
            }
            if self.peek() == Some(b'0') {
                self.at += 1;
            } else {
                digits(self)?;
            }
            if self.peek() == Some(b'.') {
                self.at += 1;
                digits(self)?;
            }
            if let Some(b'e' | b'E') = self.peek() {
                self.at += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.at += 1;
                }
                digits(self)?;
            }
            Ok(())
        }

        fn hex4(&self, at: usize) -> Option<u32> {
            let digits = self.json.get(at..at + 4)?;
            let text = std::str::from_utf8(digits).ok()?;
            if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(text, 16).ok()
        }

        /// A string (the cursor is on `"`), unquoted as Go does it: invalid UTF-8 and lone
        /// surrogates become U+FFFD.
        fn string(&mut self) -> Parsed<String> {
            if self.peek() != Some(b'"') {
                return Err(SyntaxError);
            }
            self.at += 1;
            let mut out = String::new();
            loop {
                let c = self.peek().ok_or(SyntaxError)?;
                match c {
                    b'"' => {
                        self.at += 1;
                        return Ok(out);
                    }
                    0..=0x1f => return Err(SyntaxError),
                    b'\\' => {
                        let escape = *self.json.get(self.at + 1).ok_or(SyntaxError)?;
                        self.at += 2;
                        let plain = match escape {
                            b'"' | b'\\' | b'/' => escape as char,
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let unit = self.hex4(self.at).ok_or(SyntaxError)?;
                                self.at += 4;
                                out.push(self.utf16(unit));
                                continue;
                            }
                            _ => return Err(SyntaxError),
                        };
                        out.push(plain);
                    }
                    0x20..=0x7f => {
                        out.push(c as char);
                        self.at += 1;
                    }
                    _ => {
                        let (rune, size) = super::decode_rune(&self.json[self.at..]);
                        out.push(char::from_u32(rune).unwrap_or('\u{FFFD}'));
                        self.at += size;
                    }
                }
            }
        }

        /// The character of a `\u` escape, consuming a following low surrogate if it pairs.
        fn utf16(&mut self, unit: u32) -> char {
            if !(0xD800..0xE000).contains(&unit) {
                return char::from_u32(unit).unwrap_or('\u{FFFD}');
            }
            if (0xD800..0xDC00).contains(&unit) && self.json[self.at..].starts_with(b"\\u") {
                if let Some(low @ 0xDC00..=0xDFFF) = self.hex4(self.at + 2) {
                    self.at += 6;
                    let pair = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    return char::from_u32(pair).unwrap_or('\u{FFFD}');
                }
            }
            '\u{FFFD}'
        }

        /// A string field: a string sets it, `null` leaves it, anything else is an error.
        fn field(&mut self, slot: &mut String, wrong: &'static str) -> Parsed<()> {
            match self.peek() {
                Some(b'"') => *slot = self.string()?,
                Some(b'n') => self.literal(b"null")?,
                _ => {
                    self.wrong(wrong);
                    self.skip()?;
                }
            }
            Ok(())
        }

        /// `DockerConfigJSON`.
        fn config(&mut self, auths: &mut Option<HashMap<String, bool>>) -> Parsed<()> {
            self.space();
            match self.peek() {
                Some(b'{') => self.object(|parser, name| match folded(&name).as_str() {
                    "AUTHS" => parser.auths(auths, "has 'auths' that is not a JSON object"),
                    "HTTPHEADERS" => parser.headers(),
                    _ => parser.skip(),
                }),
                Some(b'n') => self.literal(b"null"),
                _ => {
                    self.wrong("is not a JSON object");
                    self.skip()
                }
            }
        }

        /// `DockerConfig` (`map[string]DockerConfigEntry`): `null` empties it, an object adds
        /// to it, the last duplicate key wins.
        fn auths(
            &mut self,
            auths: &mut Option<HashMap<String, bool>>,
            wrong: &'static str,
        ) -> Parsed<()> {
            self.space();
            match self.peek() {
                Some(b'{') => {
                    let map = auths.get_or_insert_with(HashMap::new);
                    self.object(|parser, location| {
                        let usable = parser.entry()?;
                        map.insert(location, usable);
                        Ok(())
                    })
                }
                Some(b'n') => {
                    *auths = None;
                    self.literal(b"null")
                }
                _ => {
                    self.wrong(wrong);
                    self.skip()
                }
            }
        }

        /// `HTTPHeaders map[string]string`: only its types matter.
        fn headers(&mut self) -> Parsed<()> {
            const WRONG: &str = "has 'HttpHeaders' that is not an object of strings";
            match self.peek() {
                Some(b'{') => self.object(|parser, _| parser.field(&mut String::new(), WRONG)),
                Some(b'n') => self.literal(b"null"),
                _ => {
                    self.wrong(WRONG);
                    self.skip()
                }
            }
        }

        /// `DockerConfigEntry.UnmarshalJSON` (D2, D3): whether it is usable (D4).
        fn entry(&mut self) -> Parsed<bool> {
            let (mut username, mut password, mut auth) =
                (String::new(), String::new(), String::new());
            match self.peek() {
                Some(b'{') => self.object(|parser, name| match folded(&name).as_str() {
                    "USERNAME" => parser.field(
                        &mut username,
                        "has a registry entry whose 'username' is not a string",
                    ),
                    "PASSWORD" => parser.field(
                        &mut password,
                        "has a registry entry whose 'password' is not a string",
                    ),
                    "EMAIL" => parser.field(
                        &mut String::new(),
                        "has a registry entry whose 'email' is not a string",
                    ),
                    "AUTH" => parser.field(
                        &mut auth,
                        "has a registry entry whose 'auth' is not a string",
                    ),
                    _ => parser.skip(),
                })?,
                Some(b'n') => self.literal(b"null")?,
                _ => {
                    self.wrong("has a registry entry that is not a JSON object");
                    self.skip()?;
                    return Ok(false);
                }
            }
            if auth.is_empty() {
                return Ok(!username.is_empty() && !password.is_empty());
            }
            match super::decode_auth(&auth) {
                Ok((user, pass)) => Ok(user && pass),
                Err(why) => {
                    self.wrong(why);
                    Ok(false)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Go's net/url.Parse, net.SplitHostPort and path/filepath.Match, as far as keys need them.

struct GoUrl {
    host: Vec<u8>,
    path: Vec<u8>,
}

/// `url.Parse` of `http://…` or `https://…`: the decoded host and path, `None` on error.
fn parse_url(raw: &[u8]) -> Option<GoUrl> {
    let (url, fragment) = match raw.iter().position(|&c| c == b'#') {
        Some(hash) => (&raw[..hash], Some(&raw[hash + 1..])),
        None => (raw, None),
    };
    if url.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return None;
    }
    let colon = url.iter().position(|&c| c == b':')?;
    let rest = &url[colon + 1..];
    let rest = match rest.iter().position(|&c| c == b'?') {
        Some(query) => &rest[..query],
        None => rest,
    };
    let rest = rest.strip_prefix(b"//")?;
    let (authority, path) =
        rest.split_at(rest.iter().position(|&c| c == b'/').unwrap_or(rest.len()));
    let host = parse_authority(authority)?;
    let path = unescape(path, Escaping::Path)?;
    if let Some(fragment) = fragment {
        unescape(fragment, Escaping::Other)?;
    }
    Some(GoUrl { host, path })
}

/// `parseAuthority`: the host; user info is checked and dropped.
fn parse_authority(authority: &[u8]) -> Option<Vec<u8>> {
    let at = authority.iter().rposition(|&c| c == b'@');
    let host = parse_host(&authority[at.map_or(0, |at| at + 1)..])?;
    if let Some(at) = at {
        let userinfo = &authority[..at];
        let valid = userinfo
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
        if !valid {
            return None;
        }
        for part in userinfo.splitn(2, |&c| c == b':') {
            unescape(part, Escaping::Other)?;
        }
    }
    Some(host)
}

/// `parseHost`.
fn parse_host(host: &[u8]) -> Option<Vec<u8>> {
    if host.first() == Some(&b'[') {
        let close = host.iter().rposition(|&c| c == b']')?;
        if !valid_optional_port(&host[close + 1..]) {
            return None;
        }
        let zone = host[..close].windows(3).position(|w| w == b"%25");
        if let Some(zone) = zone {
            let mut decoded = unescape(&host[..zone], Escaping::Host)?;
            decoded.extend(unescape(&host[zone..close], Escaping::Zone)?);
            decoded.extend(unescape(&host[close..], Escaping::Host)?);
            return Some(decoded);
        }
    } else if let Some(colon) = host.iter().rposition(|&c| c == b':') {
        if !valid_optional_port(&host[colon..]) {
            return None;
        }
    }
    unescape(host, Escaping::Host)
}

fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((&b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Escaping {
    Host,
    Zone,
    Path,
    /// User info and fragment: only `%` escapes are checked.
    Other,
}

/// `shouldEscape(c, encodeHost)` for ASCII `c`.
fn host_escapes(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c))
}

/// `unescape`: decodes `%XX`, `None` where Go reports an error.
fn unescape(text: &[u8], mode: Escaping) -> Option<Vec<u8>> {
    let hex = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'%' {
            let high = text.get(i + 1).copied().and_then(hex);
            let low = text.get(i + 2).copied().and_then(hex);
            let (Some(high), Some(low)) = (high, low) else {
                return None;
            };
            let escape = &text[i..i + 3];
            let byte = high << 4 | low;
            if mode == Escaping::Host && high < 8 && escape != b"%25" {
                return None;
            }
            if mode == Escaping::Zone && escape != b"%25" && byte != b' ' && host_escapes(byte) {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            if matches!(mode, Escaping::Host | Escaping::Zone) && c < 0x80 && host_escapes(c) {
                return None;
            }
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

/// `net.SplitHostPort`: `None` where it reports an error.
fn split_host_port(hostport: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = hostport.iter().rposition(|&c| c == b':')?;
    let (host, from, to) = if hostport[0] == b'[' {
        let close = hostport.iter().position(|&c| c == b']')?;
        if close + 1 != colon {
            return None;
        }
        (&hostport[1..close], 1, close + 1)
    } else {
        let host = &hostport[..colon];
        if host.contains(&b':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[from..].contains(&b'[') || hostport[to..].contains(&b']') {
        return None;
    }
    Some((host, &hostport[colon + 1..]))
}

/// The first rune of `bytes` as Go's `utf8.DecodeRune` reads it (U+FFFD, 1 when invalid).
fn decode_rune(bytes: &[u8]) -> (u32, usize) {
    let window = &bytes[..bytes.len().min(4)];
    let valid = match std::str::from_utf8(window) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&window[..e.valid_up_to()]).unwrap_or_default(),
    };
    match valid.chars().next() {
        Some(c) => (u32::from(c), c.len_utf8()),
        None => (0xFFFD, 1),
    }
}

/// `filepath.Match(pattern, name)` on Unix, a malformed pattern counting as no match.
fn go_match(mut pattern: &[u8], mut name: &[u8]) -> bool {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return !name.contains(&b'/');
        }
        match match_chunk(chunk, name) {
            Ok(Some(left)) if left.is_empty() || !pattern.is_empty() => {
                name = left;
                continue;
            }
            Err(()) => return false,
            _ => {}
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                match match_chunk(chunk, &name[i + 1..]) {
                    Ok(Some(left)) => {
                        if pattern.is_empty() && !left.is_empty() {
                            i += 1;
                            continue;
                        }
                        name = left;
                        continue 'pattern;
                    }
                    Err(()) => return false,
                    Ok(None) => {}
                }
                i += 1;
            }
        }
        return false;
    }
    name.is_empty()
}

/// `scanChunk`: leading stars, then up to the next star outside a class.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let Some((&b'*', rest)) = pattern.split_first() {
        pattern = rest;
        star = true;
    }
    let mut in_class = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'*' if !in_class => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// `matchChunk`: what is left of `name` after `chunk`, `None` on mismatch, `Err` when the chunk
/// is malformed (checked to its end, as Go does).
fn match_chunk<'n>(mut chunk: &[u8], mut name: &'n [u8]) -> Result<Option<&'n [u8]>, ()> {
    fn class_char(chunk: &[u8]) -> Result<(u32, &[u8]), ()> {
        let chunk = match chunk.first() {
            None | Some(b'-' | b']') => return Err(()),
            Some(b'\\') => &chunk[1..],
            Some(_) => chunk,
        };
        if chunk.is_empty() {
            return Err(());
        }
        let (c, size) = decode_rune(chunk);
        if (c == 0xFFFD && size == 1) || chunk.len() == size {
            return Err(());
        }
        Ok((c, &chunk[size..]))
    }
    let mut failed = false;
    while let Some(&first) = chunk.first() {
        if !failed && name.is_empty() {
            failed = true;
        }
        match first {
            b'[' => {
                let mut c = 0;
                if !failed {
                    let (rune, size) = decode_rune(name);
                    c = rune;
                    name = &name[size..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (low, rest) = class_char(chunk)?;
                    let mut high = low;
                    chunk = rest;
                    if chunk[0] == b'-' {
                        let (top, rest) = class_char(&chunk[1..])?;
                        high = top;
                        chunk = rest;
                    }
                    matched |= low <= c && c <= high;
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if name[0] == b'/' {
                        failed = true;
                    }
                    name = &name[decode_rune(name).1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if first == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(());
                    }
                }
                if !failed {
                    if chunk[0] != name[0] {
                        failed = true;
                    }
                    name = &name[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok((!failed).then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::{json, Map};

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn secret(kind: &str, key: &str, config: &str) -> Value {
        json!({"type": kind, "data": {key: b64(config)}})
    }

    fn read_config(config: &str) -> SecretRead {
        read_secret(&secret(DOCKER_CONFIG_JSON, ".dockerconfigjson", config))
    }

    fn keyring(config: &str) -> Keyring {
        match read_config(config) {
            SecretRead::Keyring(keyring) => keyring,
            other => panic!("{config}: {other:?}"),
        }
    }

    /// A keyring with usable credentials under each of `keys`.
    fn with_keys(keys: &[&str]) -> Keyring {
        let auths: Map<String, Value> = keys
            .iter()
            .map(|k| (k.to_string(), json!({"auth": b64("robot:s3cret")})))
            .collect();
        keyring(&json!({ "auths": auths }).to_string())
    }

    #[test]
    fn key_forms() {
        let cases = [
            // Schemes, /v1/ and /v2/ (K1, K2).
            ("ghcr.io", "ghcr.io/acme/app", true),
            ("https://ghcr.io", "ghcr.io/acme/app", true),
            ("http://ghcr.io", "ghcr.io/acme/app", true),
            ("https://ghcr.io/", "ghcr.io/acme/app", true),
            ("https://ghcr.io/v1/", "ghcr.io/acme/app", true),
            ("https://ghcr.io/v2/", "ghcr.io/acme/app", true),
            ("ghcr.io/v2/acme", "ghcr.io/acme/app", true),
            ("ghcr.io/v2/acme", "ghcr.io/other/app", false),
            ("https://ghcr.io/v1", "ghcr.io/acme/app", false),
            ("https://ghcr.io/v1", "ghcr.io/v1x/app", true),
            ("https://robot:s3cret@ghcr.io", "ghcr.io/acme/app", true),
            ("ghcr.io/acme#fragment", "ghcr.io/acme/app", true),
            ("ghcr.io/ac%6De", "ghcr.io/acme/app", true),
            ("ghcr.io/%zz", "ghcr.io/acme/app", false),
            // Paths are raw string prefixes (L2).
            ("ghcr.io/acme", "ghcr.io/acme/app", true),
            ("ghcr.io/acme", "ghcr.io/acme-corp/app", true),
            ("ghcr.io/acme", "ghcr.io/other/app", false),
            ("ghcr.io/acme/", "ghcr.io/acme/app", true),
            ("ghcr.io/acme/", "ghcr.io/acme-corp/app", false),
            ("ghcr.io/acme/app", "ghcr.io/acme/application", true),
            ("ghcr.io/acme/app", "ghcr.io/acme", false),
            // Ports.
            ("localhost:5000", "localhost:5000/app", true),
            ("localhost:5000", "localhost/app", false),
            ("localhost", "localhost:5000/app", false),
            ("localhost:", "localhost/app", true),
            ("ghcr.io:443", "ghcr.io/acme/app", false),
            ("ghcr.io:abc", "ghcr.io/acme/app", false),
            ("[::1]:5000", "[::1]:5000/app", true),
            ("[::1]", "[::1]:5000/app", false),
            // Globs, one label each, same label count.
            ("*.gcr.io", "eu.gcr.io/proj/app", true),
            ("*.gcr.io", "gcr.io/proj/app", false),
            ("*.gcr.io", "a.b.gcr.io/proj/app", false),
            ("*.gcr.io", "eu.gcr.io:443/proj/app", false),
            ("*-docker.pkg.dev", "europe-docker.pkg.dev/p/r/app", true),
            ("ghcr.*", "ghcr.io/acme/app", true),
            ("*", "localhost/app", true),
            ("*", "ghcr.io/acme/app", false),
            ("*.io", "ghcr.io/acme/app", true),
            ("g[a-h]cr.io", "ghcr.io/acme/app", true),
            ("g[a-c]cr.io", "ghcr.io/acme/app", false),
            ("[gq]hcr.io", "ghcr.io/acme/app", false),
            ("gh?r.io", "ghcr.io/acme/app", false),
            ("*.gcr.io/proj", "eu.gcr.io/proj/app", true),
            ("*.gcr.io/proj", "eu.gcr.io/other/app", false),
            // Case sensitivity (hosts, paths and the scheme prefix).
            ("GHCR.IO", "ghcr.io/acme/app", false),
            ("GHCR.IO", "GHCR.IO/acme/app", true),
            ("ghcr.io/Acme", "ghcr.io/acme/app", false),
            ("HTTPS://ghcr.io", "ghcr.io/acme/app", false),
            // Keys url.Parse rejects are ignored.
            (" ghcr.io", "ghcr.io/acme/app", false),
            ("ghcr.io\\", "ghcr.io/acme/app", false),
            ("https://user:p/ss@ghcr.io", "ghcr.io/acme/app", false),
            ("https://%zz@ghcr.io", "ghcr.io/acme/app", false),
            ("ghcr.io#%zz", "ghcr.io/acme/app", false),
            ("g\\hcr.io", "ghcr.io/acme/app", false),
            ("g[^a]cr.io", "ghcr.io/acme/app", false),
            ("[::1%41]:5000", "[::1A]:5000/app", false),
            // Control characters are refused up to the fragment; the query is not checked.
            ("ghcr.io?a\tb", "ghcr.io/acme/app", false),
            ("ghcr.io?\u{7f}", "ghcr.io/acme/app", false),
            ("ghcr.io?a b", "ghcr.io/acme/app", true),
            ("ghcr.io?%#41", "ghcr.io/acme/app", true),
            // Host escapes: only %25 and non-ASCII bytes (%80 and up); path escapes decode.
            ("ghcr.%69o", "ghcr.io/acme/app", false),
            ("gh%C3%80.io", "gh\u{C0}.io/acme/app", true),
            ("ghcr.io/ac%2Fme", "ghcr.io/ac/me/app", true),
            ("gh\u{C0}.io", "gh\u{C0}.io/acme/app", true),
            // A stray ']' fails net.SplitHostPort: the whole host is one label, no port.
            ("*:5000", "a]b:5000/app", false),
        ];
        for (key, image, expected) in cases {
            assert_eq!(
                with_keys(&[key]).serves(image),
                expected,
                "key {key:?} serves {image}"
            );
        }
    }

    #[test]
    fn zoned_keys_are_kept_but_match_nothing() {
        // The keyring holds the decoded host; Lookup parses it again, and a decoded zone is
        // then a bad escape, so the key matches nothing. Bad zone escapes drop the key.
        let cases: [(&str, &[&str]); 4] = [
            ("[fe80::1%25en0]:5000", &["[fe80::1%en0]:5000"]),
            ("[fe80::1%25a%20b]:5000", &["[fe80::1%a\\u{20}b]:5000"]),
            ("[fe80::1%25%7B]:5000", &[]),
            ("[fe80::1%41]:5000", &[]),
        ];
        for (key, shown) in cases {
            let keyring = with_keys(&[key]);
            assert_eq!(keyring.describe(), shown, "{key}");
            assert!(!keyring.serves("[fe80::1%25en0]:5000/app"), "{key}");
        }
    }

    #[test]
    fn escaped_surrogates_in_keys() {
        // Go's unquote: a pair is one character, anything else a lone surrogate (U+FFFD).
        let cases = [
            (r#"ghcr.io/\ud83d\ude00"#, "ghcr.io/\u{1F600}/app"),
            (r#"ghcr.io/\ude00\ude00x"#, "ghcr.io/\u{FFFD}\u{FFFD}x/app"),
            (r#"ghcr.io/\ud83d\ud83dx"#, "ghcr.io/\u{FFFD}\u{FFFD}x/app"),
            (r#"ghcr.io/\ud83d\u0041"#, "ghcr.io/\u{FFFD}A/app"),
            (r#"ghcr.io/\udbff\udfff"#, "ghcr.io/\u{10FFFF}/app"),
        ];
        for (key, image) in cases {
            let keyring = keyring(&format!(r#"{{"auths":{{"{key}":{{"auth":"cjpw"}}}}}}"#));
            assert!(keyring.serves(image), "{key} serves {image}");
            assert!(!keyring.serves("ghcr.io/acme/app"), "{key}");
        }
    }

    #[test]
    fn docker_hub_fallback() {
        let cases = [
            (
                "https://index.docker.io/v1/",
                "docker.io/library/nginx",
                true,
            ),
            ("https://index.docker.io/v1/", "docker.io/acme/app", true),
            (
                "https://index.docker.io/v2/",
                "docker.io/library/nginx",
                true,
            ),
            (
                "http://index.docker.io/v1/",
                "docker.io/library/nginx",
                true,
            ),
            ("index.docker.io", "docker.io/library/nginx", true),
            ("index.docker.io/v1/", "docker.io/library/nginx", true),
            ("https://index.docker.io", "docker.io/library/nginx", true),
            ("docker.io", "docker.io/library/nginx", true),
            ("https://docker.io/v1/", "docker.io/library/nginx", true),
            ("docker.io/library", "docker.io/library/nginx", true),
            ("docker.io/library", "docker.io/acme/app", false),
            ("*.io", "docker.io/library/nginx", true),
            (
                "https://index.docker.io/v1",
                "docker.io/library/nginx",
                false,
            ),
            ("Index.Docker.IO", "docker.io/library/nginx", false),
            ("index.docker.io/acme", "docker.io/acme/app", false),
            ("registry-1.docker.io", "docker.io/library/nginx", false),
            ("registry.hub.docker.com", "docker.io/library/nginx", false),
            ("*.docker.io", "docker.io/library/nginx", false),
            ("hub.docker.com", "docker.io/library/nginx", false),
            // isDefaultRegistryMatch also takes first components without '.' or ':'.
            ("index.docker.io", "localhost/app", true),
            ("index.docker.io", "localhost:5000/app", false),
            ("index.docker.io", "ghcr.io/acme/app", false),
            ("index.docker.io", "Docker.IO/nginx", false),
            ("docker.io", "Docker.IO/nginx", false),
            ("Docker.IO", "Docker.IO/nginx", true),
            // A name without '/' is a Docker Hub one (`library/`), an empty one is not.
            ("index.docker.io", "nginx", true),
            ("index.docker.io", "", false),
        ];
        for (key, image, expected) in cases {
            assert_eq!(
                with_keys(&[key]).serves(image),
                expected,
                "key {key:?} serves {image}"
            );
        }
    }

    #[test]
    fn a_matching_unusable_key_hides_the_docker_hub_fallback() {
        let hub = json!({"auths": {"https://index.docker.io/v1/": {"auth": b64("robot:s3cret")}}});
        let cases = [
            (json!({"docker.io": {}}), false),
            (json!({"*.io": {"identitytoken": "t0ken"}}), false),
            (json!({"docker.io/acme": {}}), true),
            (json!({"ghcr.io": {}}), true),
        ];
        for (other, expected) in cases {
            let mut auths = hub["auths"].as_object().unwrap().clone();
            auths.extend(other.as_object().unwrap().clone());
            let one = keyring(&json!({ "auths": auths }).to_string());
            assert_eq!(one.serves("docker.io/library/nginx"), expected, "{other}");
            // The same across two Secrets once merged, as the kubelet builds one keyring.
            let mut merged = keyring(&hub.to_string());
            assert!(merged.serves("docker.io/library/nginx"));
            merged.merge(&keyring(&json!({ "auths": other }).to_string()));
            assert_eq!(
                merged.serves("docker.io/library/nginx"),
                expected,
                "{other}"
            );
        }
    }

    #[test]
    fn usable_entries() {
        let cases = [
            (json!({"auth": b64("robot:s3cret")}), true),
            (json!({"auth": b64("robot:s3cre")}), true),
            (
                json!({"auth": b64("robot:s3cre").trim_end_matches('=')}),
                true,
            ),
            (json!({"auth": format!("{}\n", b64("robot:s3cret"))}), true),
            (json!({"auth": b64("robot:s3:cret")}), true),
            (json!({"username": "robot", "password": "s3cret"}), true),
            (json!({"Username": "robot", "PASSWORD": "s3cret"}), true),
            (
                json!({"u\u{17F}ername": "robot", "pa\u{17F}\u{17F}word": "s3cret"}),
                true,
            ),
            (
                json!({"auth": "", "username": "robot", "password": "s3cret"}),
                true,
            ),
            (
                json!({"username": "robot", "password": "s3cret", "email": null}),
                true,
            ),
            (
                json!({"username": "robot", "password": "s3cret", "identitytoken": 5}),
                true,
            ),
            (json!({"auth": b64(":")}), false),
            (json!({"auth": b64("robot:")}), false),
            (json!({"auth": b64(":s3cret")}), false),
            (json!({"username": "robot"}), false),
            (json!({"password": "s3cret"}), false),
            (json!({"identitytoken": "t0ken"}), false),
            (
                json!({"username": "00000000-0000-0000-0000-000000000000", "identitytoken": "t0ken"}),
                false,
            ),
            (json!({"registrytoken": "t0ken"}), false),
            (
                json!({"username": "robot", "password": "s3cret", "auth": b64(":")}),
                false,
            ),
            (json!({}), false),
            (json!(null), false),
        ];
        for (entry, expected) in cases {
            let keyring = keyring(&json!({"auths": {"ghcr.io": entry}}).to_string());
            assert_eq!(keyring.serves("ghcr.io/acme/app"), expected, "{entry}");
            assert_eq!(keyring.describe(), ["ghcr.io"], "{entry}");
            let unusable: &[&str] = if expected { &[] } else { &["ghcr.io"] };
            assert_eq!(keyring.describe_unusable(), unusable, "{entry}");
        }
    }

    #[test]
    fn go_json_details() {
        let cases = [
            // The last duplicate wins; null changes nothing.
            (
                r#"{"auths":{"ghcr.io":{"username":"robot","password":"s3cret","password":null}}}"#,
                true,
            ),
            (
                r#"{"auths":{"ghcr.io":{"username":"robot","password":"s3cret","username":""}}}"#,
                false,
            ),
            (
                r#"{"auths":{"ghcr.io":{"username":"robot","password":"s3cret"},"ghcr.io":{}}}"#,
                false,
            ),
            // A second "auths" adds to the first; a null one empties it.
            (
                r#"{"auths":{"ghcr.io":{"username":"r","password":"p"}},"Auths":{"quay.io":{}}}"#,
                true,
            ),
            (
                r#"{"auths":{"ghcr.io":{"username":"r","password":"p"}},"auths":null}"#,
                false,
            ),
            // Escapes, lone surrogates and invalid UTF-8 are values, not errors.
            (
                r#"{"\u0061uths":{"ghcr.io":{"username":"\ud800","password":"\u0070"}}}"#,
                true,
            ),
            (
                "{\"auths\":{\"ghcr.io\":{\"username\":\"\u{FFFD}\",\"password\":\"p\"}}}",
                true,
            ),
            // Unknown fields of any shape are ignored.
            (
                r#"{"credsStore":"x","auths":{"ghcr.io":{"auth":"cjpw","x":[1,{"y":-0.5e+3}]}}}"#,
                true,
            ),
            (
                r#"{"HttpHeaders":{"User-Agent":"x","X":null},"auths":{"ghcr.io":{"auth":"cjpw"}}}"#,
                true,
            ),
            (
                r#"{"x":{},"y":[],"z":[true,false,null,{"a":[]}],"auths":{"ghcr.io":{"auth":"cjpw"}}}"#,
                true,
            ),
            (
                r#"{"HttpHeaders":null,"auths":{"ghcr.io":{"auth":"cjpw"}}}"#,
                true,
            ),
            (
                r#"{"auths":{"ghcr.io":{"username":"\b\f\n\r\t\"\\\/","password":"p"}}}"#,
                true,
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(
                keyring(config).serves("ghcr.io/acme/app"),
                expected,
                "{config}"
            );
        }
        let invalid_utf8 =
            b"{\"auths\":{\"ghcr.io\":{\"username\":\"\xff\",\"password\":\"\xc3\"}}}";
        let encoded = base64::engine::general_purpose::STANDARD.encode(invalid_utf8);
        let secret = json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": encoded}});
        let SecretRead::Keyring(keyring) = read_secret(&secret) else {
            panic!("invalid UTF-8 is no error");
        };
        assert!(keyring.serves("ghcr.io/acme/app"));
    }

    #[test]
    fn legacy_and_empty_configs() {
        let legacy = secret(DOCKER_CFG, ".dockercfg", r#"{"quay.io": {"auth": "cjpw"}}"#);
        let SecretRead::Keyring(ring) = read_secret(&legacy) else {
            panic!("dockercfg not read");
        };
        assert!(ring.serves("quay.io/acme/app"));
        assert!(!ring.serves("ghcr.io/acme/app"));
        // Decodable but empty: read (the kubelet counts it), serving nothing.
        for config in [
            "{}",
            "null",
            r#"{"auths": null}"#,
            r#"{"auths": {}}"#,
            " \n{ } ",
        ] {
            let empty = keyring(config);
            assert!(empty.describe().is_empty(), "{config}");
            assert!(!empty.serves("docker.io/library/nginx"), "{config}");
        }
        let legacy_null = secret(DOCKER_CFG, ".dockercfg", "null");
        assert!(
            matches!(read_secret(&legacy_null), SecretRead::Keyring(k) if k.describe().is_empty())
        );
    }

    #[test]
    fn broken_secrets() {
        let deep = format!(
            r#"{{"auths":{{}},"x":{}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": "hunter2!!"}}),
                "is not valid base64",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": 7}}),
                "is not a base64 string",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {"ghcr.io": {"password": "hunter2"}}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {}} hunter2"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(DOCKER_CONFIG_JSON, ".dockerconfigjson", "hunter2"),
                "is not valid JSON",
            ),
            (
                secret(DOCKER_CONFIG_JSON, ".dockerconfigjson", " "),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {"a": {"password": "hunter2"},}}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {}, "x": 01}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(DOCKER_CONFIG_JSON, ".dockerconfigjson", &deep),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {}, "x": [1}}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {}, "x": 1.}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {}, "x": -}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {}, "x": 1e+}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    "{\"auths\": {\"ghcr.io\": {\"username\": \"a\tb\"}}}",
                ),
                "is not valid JSON",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {}, "x": {"a": 1]}"#,
                ),
                "is not valid JSON",
            ),
            (
                secret(DOCKER_CONFIG_JSON, ".dockerconfigjson", r#"["hunter2"]"#),
                "is not a JSON object",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": ["hunter2"]}"#,
                ),
                "'auths' that is not a JSON object",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"HttpHeaders": {"hunter2": 1}}"#,
                ),
                "'HttpHeaders' that is not an object of strings",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"httpheaders": "hunter2"}"#,
                ),
                "'HttpHeaders' that is not an object of strings",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {"ghcr.io": "hunter2"}}"#,
                ),
                "entry that is not a JSON object",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {"ghcr.io": {"username": 7, "password": "hunter2"}}}"#,
                ),
                "whose 'username' is not a string",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {"ghcr.io": {"EMAIL": ["hunter2"]}}}"#,
                ),
                "whose 'email' is not a string",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    r#"{"auths": {"ghcr.io": {"auth": "hunter2!!"}}}"#,
                ),
                "whose 'auth' is not base64",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    &format!(
                        r#"{{"auths": {{"ghcr.io": {{"auth": "{}="}}}}}}"#,
                        b64("robot:hunter2")
                    ),
                ),
                "whose 'auth' is not base64",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    &format!(
                        r#"{{"auths": {{"ghcr.io": {{"auth": " {}"}}}}}}"#,
                        b64("robot:hunter2")
                    ),
                ),
                "whose 'auth' is not base64",
            ),
            (
                secret(
                    DOCKER_CONFIG_JSON,
                    ".dockerconfigjson",
                    &format!(
                        r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
                        b64("hunter2")
                    ),
                ),
                "does not decode to user:password",
            ),
            (
                secret(DOCKER_CFG, ".dockercfg", r#"["hunter2"]"#),
                "is not a JSON object",
            ),
            (
                secret(
                    DOCKER_CFG,
                    ".dockercfg",
                    r#"{"ghcr.io": {"auth": true, "password": "hunter2"}}"#,
                ),
                "whose 'auth' is not a string",
            ),
        ];
        for (secret, expected) in cases {
            let SecretRead::Broken(why) = read_secret(&secret) else {
                panic!("not broken: {secret}");
            };
            assert!(why.contains(expected), "{why} (expected {expected})");
            assert!(!why.contains("hunter2"), "{why}");
        }
        // Nesting up to Go's limit (10000, the outer object included) is fine.
        let deep_ok = format!(
            r#"{{"auths":{{}},"x":{}1{}}}"#,
            "[".repeat(9_999),
            "]".repeat(9_999)
        );
        assert!(matches!(read_config(&deep_ok), SecretRead::Keyring(_)));
        // Closed containers no longer count: 20000 siblings are far from the limit.
        let wide = format!(
            r#"{{"auths":{{}},"x":[{}1]}}"#,
            r#"[],{},[1],{"a":1},"#.repeat(5_000)
        );
        assert!(matches!(read_config(&wide), SecretRead::Keyring(_)));
    }

    #[test]
    fn skipped_secrets() {
        let config = r#"{"auths": {"ghcr.io": {"auth": "cjpw"}}}"#;
        let cases = [
            (
                secret("Opaque", ".dockerconfigjson", config),
                "type 'Opaque' is not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg",
            ),
            (
                json!({"data": {".dockerconfigjson": b64(config)}}),
                "it has no type",
            ),
            (
                secret(DOCKER_CONFIG_JSON, ".dockercfg", config),
                "it has no data key '.dockerconfigjson'",
            ),
            (
                secret(DOCKER_CFG, ".dockerconfigjson", config),
                "it has no data key '.dockercfg'",
            ),
            (
                secret(DOCKER_CONFIG_JSON, ".dockerconfigjson", ""),
                "its data key '.dockerconfigjson' is empty",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON}),
                "it has no data key '.dockerconfigjson'",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": null}}),
                "it has no data key",
            ),
            (
                json!({"type": DOCKER_CONFIG_JSON, "stringData": {".dockerconfigjson": config}}),
                "it has no data key",
            ),
            (json!({"type": "x\n\u{1b}y"}), "type 'x??y' is not"),
        ];
        for (secret, expected) in cases {
            let SecretRead::Skipped(why) = read_secret(&secret) else {
                panic!("not skipped: {secret}");
            };
            assert!(why.contains(expected), "{why} (expected {expected})");
        }
        // A type is shown up to 80 characters, with '…' only when it is longer.
        let skipped = |kind: &str| match read_secret(&json!({"type": kind})) {
            SecretRead::Skipped(why) => why,
            other => panic!("not skipped: {other:?}"),
        };
        let eighty = "t".repeat(80);
        assert!(skipped(&eighty).contains(&format!("type '{eighty}' is not")));
        assert!(skipped(&format!("{eighty}tt")).contains(&format!("type '{eighty}…' is not")));
        assert!(skipped(&format!("{eighty}t")).contains(&format!("type '{eighty}…' is not")));
    }

    #[test]
    fn merged_keys_are_usable_when_any_secret_has_usable_credentials() {
        // BasicDockerKeyring.Add appends credentials under a key, Lookup returns them all (L4).
        let usable = with_keys(&["ghcr.io"]);
        let unusable = keyring(r#"{"auths": {"ghcr.io": {"identitytoken": "t0ken"}}}"#);
        for (first, second) in [(&usable, &unusable), (&unusable, &usable)] {
            let mut merged = first.clone();
            merged.merge(second);
            assert!(merged.serves("ghcr.io/acme/app"));
            assert!(merged.describe_unusable().is_empty());
        }
        let mut neither = unusable.clone();
        neither.merge(&unusable);
        assert!(!neither.serves("ghcr.io/acme/app"));
        assert_eq!(neither.describe_unusable(), ["ghcr.io"]);
    }

    #[test]
    fn describe_shows_hosts_and_plain_paths_only() {
        let keyring = keyring(
            &json!({"auths": {
                "https://index.docker.io/v1/": {"auth": b64("robot:s3cret")},
                "https://robot:s3cret@ghcr.io": {"auth": b64("robot:s3cret")},
                "http://localhost:5000/v2/": {},
                "quay.io/acme/": {"auth": b64("robot:s3cret")},
                "ghcr.io/": {"identitytoken": "t0ken"},
                "HTTPS://robot:s3cret@quay.io": {"auth": b64("robot:s3cret")},
                "harbor.example.com/a%20b": {"auth": b64("robot:s3cret")},
                "ghcr.io:bad": {"auth": b64("robot:s3cret")},
            }})
            .to_string(),
        );
        assert_eq!(
            keyring.describe(),
            [
                "HTTPS:/…",
                "ghcr.io",
                "harbor.example.com/…",
                "index.docker.io",
                "localhost:5000",
                "quay.io/acme/",
            ]
        );
        assert_eq!(keyring.describe_unusable(), ["localhost:5000"]);
        let debug = format!("{keyring:?}");
        assert!(
            debug.contains("localhost:5000") && !debug.contains("s3cret"),
            "{debug}"
        );
    }

    #[test]
    fn no_output_contains_the_fixture_credentials() {
        const USER: &str = "kw-fixture-user";
        const PASSWORD: &str = "kw-fixture-pass-7Qz";
        let fixture: Vec<Value> =
            serde_json::from_str(include_str!("../test_data/keyring/leaky_secrets.json")).unwrap();
        let engine = base64::engine::general_purpose::STANDARD;
        let mut outputs = Vec::new();
        let mut served = Vec::new();
        for secret in &fixture {
            // First: the fixture really holds the credentials, inside each Secret's data.
            let data = secret["data"].as_object().unwrap();
            let raw: String = data
                .values()
                .map(|v| {
                    let text = v.as_str().unwrap();
                    engine.decode(text).map_or_else(
                        |_| text.to_string(),
                        |bytes| String::from_utf8_lossy(&bytes).into_owned(),
                    )
                })
                .collect();
            let auth_decoded: String = raw
                .split('"')
                .filter_map(|s| engine.decode(s).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect();
            let plain = format!("{raw}{auth_decoded}");
            assert!(
                plain.contains(PASSWORD),
                "fixture lacks the password: {secret}"
            );
            match read_secret(secret) {
                SecretRead::Skipped(why) | SecretRead::Broken(why) => outputs.push(why),
                SecretRead::Keyring(keyring) => {
                    outputs.extend(keyring.describe());
                    outputs.extend(keyring.describe_unusable());
                    outputs.push(format!("{keyring:?}"));
                    served.push(
                        [
                            "ghcr.io/acme/app",
                            "quay.io/acme/app",
                            "localhost:5000/app",
                            "docker.io/library/nginx",
                        ]
                        .map(|image| keyring.serves(image)),
                    );
                }
            }
            outputs.push(format!("{:?}", read_secret(secret)));
        }
        assert!(include_str!("../test_data/keyring/leaky_secrets.json").contains(USER));
        assert_eq!(fixture.len(), 8);
        assert_eq!(
            served,
            [[true, false, false, true], [true, false, false, false]]
        );
        for output in &outputs {
            let lower = output.to_lowercase();
            assert!(
                !lower.contains(&USER.to_lowercase()) && !lower.contains(&PASSWORD.to_lowercase()),
                "leaks: {output}"
            );
        }
    }

    #[test]
    fn go_globs() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*c", "abcbc", true),
            ("[a-c]x", "bx", true),
            ("[^a]x", "bx", true),
            ("[^a]x", "ax", false),
            ("[!a]x", "bx", false),
            ("[!a]x", "!x", true),
            ("[a-]x", "ax", false),
            ("[]x", "x", false),
            ("a[", "a", false),
            ("\\*", "*", true),
            ("[\u{FFFD}]", "\u{FFFD}", true),
            ("?", "é", true),
            ("?", "", false),
            ("ab", "abc", false),
            // A last chunk matching early is retried further on; a star never skips a '/'.
            ("*a", "aba", true),
            ("a*/b", "ab/b", true),
            ("a*b", "a/b", false),
            // A star inside a class is a character; a trailing '\' or an empty class is bad.
            ("[*]x", "*x", true),
            ("[a]*x", "abbx", true),
            ("a\\", "a", false),
            ("[^]x", "ax", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                go_match(pattern.as_bytes(), name.as_bytes()),
                expected,
                "{pattern} ~ {name}"
            );
        }
    }

    #[test]
    fn go_base64_details() {
        let cases: [(&str, bool, Option<&str>); 15] = [
            ("cm9ib3Q6czNjcmV0", true, Some("robot:s3cret")),
            // Newlines between the two '=' and after the padding are skipped.
            ("cjpwYQ=\r\n=\n", true, Some("r:pa")),
            ("cjpwYQ==\n\r", true, Some("r:pa")),
            // Padding after fewer than two characters of a quantum, a lone or broken "==".
            ("cjpwY=", true, None),
            ("cjpw=", true, None),
            ("cjpwYQ=", true, None),
            ("cjpwYQ=x", true, None),
            ("cm9i\r\nb3Q6czNjcmV0\n", true, Some("robot:s3cret")),
            ("cjpwYQ==", true, Some("r:pa")),
            ("cjpwYQ", false, Some("r:pa")),
            ("cjpwYQ", true, None),
            ("cjpwYQ==", false, None),
            ("cjpwYR==", true, Some("r:pa")),
            ("cjpwYQ==x", true, None),
            ("c", false, None),
        ];
        for (input, padded, expected) in cases {
            let decoded = go_base64(input.as_bytes(), padded);
            assert_eq!(
                decoded.as_deref(),
                expected.map(str::as_bytes),
                "{input:?} padded={padded}"
            );
        }
    }

    #[test]
    fn mutated_configs_never_panic() {
        let seed = json!({"auths": {
            "https://u:p@[::1%25en0]:5000/v2/a%41": {"auth": "cjpw", "Username": "\u{e9}"},
            "*.g[a-z]r.io/x": {"username": "r", "password": "p", "x": [1.5e3, true, null]},
            "index.docker.io": null,
        }, "HttpHeaders": {"a": "b"}})
        .to_string()
        .into_bytes();
        let specials = b"{}[]\":,\\%@*?[]^-:/.#=0aZ\n \xff\xc3";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % bound
        };
        let engine = base64::engine::general_purpose::STANDARD;
        for _ in 0..3_000 {
            let mut config = seed.clone();
            for _ in 0..1 + next(4) {
                let at = next(config.len());
                match next(3) {
                    0 => config[at] = specials[next(specials.len())],
                    1 => config.insert(at, specials[next(specials.len())]),
                    _ => {
                        config.remove(at);
                    }
                }
            }
            for (kind, key) in [
                (DOCKER_CONFIG_JSON, ".dockerconfigjson"),
                (DOCKER_CFG, ".dockercfg"),
            ] {
                let secret = json!({"type": kind, "data": {key: engine.encode(&config)}});
                if let SecretRead::Keyring(ring) = read_secret(&secret) {
                    for image in [
                        "docker.io/library/nginx",
                        "eu.gcr.io/x/y",
                        "[::1]:5000/aA",
                        "localhost/app",
                    ] {
                        ring.serves(image);
                    }
                    ring.describe();
                }
            }
        }
    }

    #[test]
    fn cost_is_linear_in_the_secret_size() {
        // 20000 distinct keys and one long glob key: built and looked up quickly.
        let mut auths = Map::new();
        for i in 0..20_000 {
            auths.insert(
                format!("r{i}.example.com/p{i}"),
                json!({"auth": b64("robot:s3cret")}),
            );
        }
        auths.insert(format!("{}x.io", "*a".repeat(50_000)), json!({}));
        let keyring = keyring(&json!({ "auths": auths }).to_string());
        let start = std::time::Instant::now();
        assert!(keyring.serves("r19999.example.com/p19999/app"));
        assert!(!keyring.serves("ghcr.io/acme/app"));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
