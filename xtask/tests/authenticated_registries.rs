//! Publishing to and reading from registries that need TLS and credentials, end to end: the
//! `xtask` binary against Debian's Distribution registry on loopback with a certificate from a CA
//! made by the test, and either `htpasswd` authentication (bcrypt entries made by `htpasswd -B`)
//! or `token` authentication through the small issuer of `support/token.rs`. Each test runs the
//! commands a maintainer runs, with its own `HOME`, `DOCKER_CONFIG` and `PATH`.

mod support;

use base64::Engine as _;
use e2e::registry::RegistryOptions;
use e2e::HostCapabilities;
use sdk_shim::cases::CaseTable;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Instant;
use support::pki::Pki;
use support::token::{Account, TokenServer};
use support::{ensure_installed, TempDir, TestRegistry};
use xtask::pipeline::workspace_root;
use xtask::policy::PolicyCrate;

const WRITER: (&str, &str) = ("ci-bot", "s3cret-Writer-pw");
const READER: (&str, &str) = ("viewer", "s3cret-Reader-pw");
const IDENTITY_TOKEN: &str = "refresh-token-of-ci-bot-7f3a";

/// A registry with TLS and authentication, and what a client needs to reach it.
struct Secure {
    registry: TestRegistry,
    pki: Pki,
    token: Option<TokenServer>,
    _dir: TempDir,
}

impl Secure {
    /// TLS + `htpasswd` with the writer and the reader (Distribution's htpasswd grants every
    /// authenticated user everything).
    fn htpasswd() -> Self {
        ensure_installed("htpasswd", "apache2-utils");
        let dir = TempDir::new("htpasswd-registry");
        let pki = Pki::new(dir.path());
        let file = dir.path().join("htpasswd");
        let mut entries = String::new();
        for (user, password) in [WRITER, READER] {
            let output = with_stdin(
                Command::new("htpasswd").args(["-n", "-i", "-B", user]),
                password,
            );
            assert!(output.status.success(), "htpasswd failed");
            let line = String::from_utf8(output.stdout).unwrap();
            assert!(
                line.starts_with(&format!("{user}:$2y$")),
                "not bcrypt: {line}"
            );
            entries.push_str(line.trim());
            entries.push('\n');
        }
        std::fs::write(&file, entries).unwrap();
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: image-policies-test\n    path: {}\n",
            file.display()
        );
        let registry = TestRegistry::start_with(Some(&pki), &auth);
        Secure {
            registry,
            pki,
            token: None,
            _dir: dir,
        }
    }

    /// TLS + `token` authentication: the writer may push, the reader only pull.
    fn token() -> Self {
        let dir = TempDir::new("token-registry");
        let pki = Pki::new(dir.path());
        let token = TokenServer::start(
            dir.path(),
            vec![
                Account {
                    username: WRITER.0.into(),
                    password: WRITER.1.into(),
                    actions: vec!["pull".into(), "push".into()],
                    identity_token: Some(IDENTITY_TOKEN.into()),
                },
                Account {
                    username: READER.0.into(),
                    password: READER.1.into(),
                    actions: vec!["pull".into()],
                    identity_token: None,
                },
            ],
        );
        let registry = TestRegistry::start_with(Some(&pki), &token.registry_auth());
        Secure {
            registry,
            pki,
            token: Some(token),
            _dir: dir,
        }
    }

    fn host(&self) -> &str {
        &self.registry.host
    }

    fn ca(&self) -> String {
        self.pki.ca_cert.display().to_string()
    }
}

/// A user's machine: a home, a Docker config directory, a directory on `PATH` for helpers, and a
/// cosign key pair.
struct Machine {
    dir: TempDir,
    private_key: PathBuf,
    public_key: PathBuf,
}

impl Machine {
    fn new(label: &str) -> Self {
        let dir = TempDir::new(label);
        std::fs::create_dir_all(dir.path().join("docker")).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        let (private_key, public_key) =
            xtask::cosign::generate_key_pair(&dir.path().join("keys")).unwrap();
        Machine {
            dir,
            private_key,
            public_key,
        }
    }

    fn docker_config(&self, config: Value) {
        std::fs::write(
            self.dir.path().join("docker/config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
    }

    /// `program`, run with this machine's home, Docker config and `PATH`.
    fn command(&self, program: &str) -> Command {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(program);
        command
            .env("HOME", self.dir.path())
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env("PATH", path);
        command
    }

    /// Runs `xtask ARGS` here, with `stdin` as its standard input.
    fn xtask(&self, args: &[&str], stdin: &str) -> Output {
        with_stdin(self.command(env!("CARGO_BIN_EXE_xtask")).args(args), stdin)
    }

    /// `publish` to `secure` under `acme/`, signed with this machine's key, into this machine's
    /// own OCI layout (tests run in parallel), trusting the `ca` file when given.
    fn publish_args(&self, secure: &Secure, ca: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "publish".into(),
            "--registry".into(),
            format!("{}/acme", secure.host()),
            "--key".into(),
            self.private_key.display().to_string(),
            "--oci-layout".into(),
            self.dir.path().join("oci").display().to_string(),
        ];
        if let Some(ca) = ca {
            args.extend(["--ca-cert".to_string(), ca.to_string()]);
        }
        args
    }

    fn publish(&self, secure: &Secure, extra: &[&str], stdin: &str) -> Output {
        let ca = secure.ca();
        let mut args = self.publish_args(secure, Some(&ca));
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let output = self.xtask(&args, stdin);
        eprintln!(
            "publish {extra:?} to {}: {} ms",
            secure.host(),
            started.elapsed().as_millis()
        );
        output
    }

    fn verify(&self, secure: &Secure, location: &str, extra: &[&str], stdin: &str) -> Output {
        let key = self.public_key.display().to_string();
        let ca = secure.ca();
        let mut args = vec!["verify", location, "--key", &key, "--ca-cert", &ca];
        args.extend_from_slice(extra);
        self.xtask(&args, stdin)
    }
}

/// Runs `command` with `input` on its stdin; returns what it printed.
fn with_stdin(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns stdout.
fn succeeded(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Asserts failure and returns stderr, which must hold none of the test's secrets.
fn failed(output: &Output, what: &str) -> String {
    assert!(
        !output.status.success(),
        "{what} succeeded:\n{}",
        text(&output.stdout)
    );
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    for secret in [WRITER.1, READER.1, IDENTITY_TOKEN] {
        assert!(!all.contains(secret), "{what} printed a secret:\n{all}");
    }
    eprintln!("{what}: {}", text(&output.stderr).trim());
    text(&output.stderr)
}

/// `NAME -> (registry://… by tag, digest)` from publish's output.
fn pushed(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(' ')?;
            let rest = rest.split_once(": pushed ")?.1;
            let (location, digest) = rest.split_once(" @")?;
            let digest = digest.split_whitespace().next()?;
            Some((name.into(), location.into(), digest.into()))
        })
        .collect()
}

fn policies() -> Vec<PolicyCrate> {
    PolicyCrate::all(&workspace_root()).unwrap()
}

/// Checks that every policy was pushed and returns what was pushed.
fn all_pushed(stdout: &str) -> Vec<(String, String, String)> {
    let pushed = pushed(stdout);
    let names: Vec<String> = policies().into_iter().map(|p| p.name).collect();
    let pushed_names: Vec<String> = pushed.iter().map(|p| p.0.clone()).collect();
    assert_eq!(pushed_names, names, "publish output:\n{stdout}");
    pushed
}

fn basic_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[test]
fn docker_config_auths_push_then_verify_run_and_skopeo_by_tag_and_digest() {
    ensure_installed("skopeo", "skopeo");
    let secure = Secure::htpasswd();
    let machine = Machine::new("auths");
    machine.docker_config(json!({"auths": {
        secure.host(): {"auth": basic_auth(WRITER.0, WRITER.1)},
        "ghcr.io": {"auth": basic_auth("someone-else", "unused")},
    }}));
    let output = machine.publish(&secure, &[], "");
    let stdout = succeeded(&output, "publish with the Docker config's auths");
    let stderr = text(&output.stderr);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r'),
        "no progress bar drawn when stderr is not a terminal:\n{stderr:?}"
    );

    for (name, by_tag, digest) in all_pushed(&stdout) {
        let layout = machine
            .dir
            .path()
            .join("oci")
            .join(&name)
            .join("index.json");
        assert!(layout.is_file(), "--oci-layout: no {}", layout.display());
        let by_digest = format!("{}@{digest}", by_tag.rsplit_once(':').unwrap().0);
        for location in [&by_tag, &by_digest] {
            let out = succeeded(
                &machine.verify(&secure, location, &[], ""),
                &format!("verify {location}"),
            );
            assert!(out.contains(&digest), "{out}");
        }
        // skopeo, with the same credentials and CA, sees the manifest that was pushed.
        let image = by_tag.replace("registry://", "docker://");
        let credentials = format!("{}:{}", WRITER.0, WRITER.1);
        let cert_dir = secure.pki.cert_dir.display().to_string();
        let inspect = Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--creds",
                &credentials,
                "--cert-dir",
                &cert_dir,
                &image,
            ])
            .output()
            .expect("run skopeo");
        let raw = succeeded(&inspect, &format!("skopeo inspect {image}"));
        assert_eq!(xtask::oci::sha256_digest(raw.as_bytes()), digest, "{name}");
        // Without credentials the registry refuses skopeo too: authentication is really on.
        let anonymous = Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir", &cert_dir, &image])
            .output()
            .unwrap();
        assert!(
            !anonymous.status.success(),
            "{image} is readable anonymously"
        );
    }

    // The whole chain a cluster runs, through TLS and auth: fetch, verify, evaluate.
    let (policy, case_settings, request, allowed) = a_hostless_case();
    let (_, by_tag, _) = all_pushed(&stdout)
        .into_iter()
        .find(|p| p.0 == policy)
        .unwrap();
    let request_file = machine.dir.path().join("request.json");
    std::fs::write(&request_file, request.to_string()).unwrap();
    let key = machine.public_key.display().to_string();
    let ca = secure.ca();
    let settings = case_settings.to_string();
    let run = machine.xtask(
        &[
            "run",
            &by_tag,
            "--key",
            &key,
            "--ca-cert",
            &ca,
            "--request-path",
            request_file.to_str().unwrap(),
            "--settings-json",
            &settings,
        ],
        "",
    );
    let response: Value = serde_json::from_str(&succeeded(&run, "run")).unwrap();
    assert_eq!(response["accepted"], allowed, "{response}");

    // On a terminal (util-linux `script` gives it one) the same publish draws its progress bar.
    let command = format!(
        "'{}' '{}'",
        env!("CARGO_BIN_EXE_xtask"),
        machine
            .publish_args(&secure, Some(&secure.ca()))
            .join("' '")
    );
    let on_tty = machine
        .command("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    let screen = succeeded(&on_tty, "publish on a terminal");
    assert!(
        screen.contains("releasing") && screen.contains('\r'),
        "no progress bar on a terminal:\n{screen:?}"
    );

    // The runner's digest lookups go through the same TLS and credentials.
    let (_, by_tag, digest) = &all_pushed(&stdout)[0];
    let image = by_tag.trim_start_matches("registry://");
    let lookup = |docker_config: serde_json::Value| {
        let config = machine.dir.path().join("lookup-config.json");
        std::fs::write(&config, docker_config.to_string()).unwrap();
        let options = RegistryOptions {
            ca_certs: vec![secure.pki.ca_cert.clone()],
            docker_config: Some(config),
            ..Default::default()
        };
        let host = HostCapabilities::new()
            .with_registry_lookups(options)
            .unwrap();
        host.handle(
            "kubewarden",
            "oci",
            "v1/manifest_digest",
            &serde_json::to_vec(image).unwrap(),
        )
        .map(|answer| serde_json::from_slice::<Value>(&answer).unwrap())
    };
    let answer =
        lookup(json!({"auths": {secure.host(): {"auth": basic_auth(WRITER.0, WRITER.1)}}}));
    assert_eq!(answer.unwrap()["digest"], digest.as_str());
    let refused = lookup(json!({})).unwrap_err();
    assert!(refused.contains("401 Unauthorized"), "{refused}");

    // A tag that does not exist is a clear 404.
    let missing = format!("{}:v0.0.0-missing", by_tag.rsplit_once(':').unwrap().0);
    let stderr = failed(
        &machine.verify(&secure, &missing, &[], ""),
        "verify a missing tag",
    );
    assert!(
        stderr.contains("404 Not Found: wrong name or tag"),
        "{stderr}"
    );

    // With an empty Docker config, the same read is a clear 401.
    machine.docker_config(json!({}));
    let stderr = failed(
        &machine.verify(&secure, by_tag, &[], ""),
        "anonymous verify",
    );
    assert!(
        stderr.contains("401 Unauthorized: missing or wrong credentials"),
        "{stderr}"
    );
}

/// A policy and one of its cases that needs no host fixtures: settings, request, verdict.
fn a_hostless_case() -> (String, Value, Value, bool) {
    for policy in policies() {
        let table = CaseTable::load(&policy.dir).unwrap();
        if !table.host.digests.is_empty() || table.host.cluster.is_some() {
            continue;
        }
        for case in &table.cases {
            if case.host.is_some() || case.expect.settings_error.is_some() {
                continue;
            }
            if let (Some(allowed), Some(request)) =
                (case.expect.allowed, table.request_for(case).unwrap())
            {
                return (policy.name, case.settings.clone(), request, allowed);
            }
        }
    }
    panic!("no policy has a case without host fixtures");
}

#[test]
fn a_credential_helper_on_path_answers_for_the_registry() {
    let secure = Secure::htpasswd();
    let machine = Machine::new("helper");
    let asked = machine.dir.path().join("helper-asked");
    // The helper protocol: `get`, the server address on stdin, JSON on stdout.
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat > '{}'\nprintf '%s' '{{\"ServerURL\":\"{}\",\"Username\":\"{}\",\"Secret\":\"{}\"}}'\n",
        asked.display(),
        secure.host(),
        WRITER.0,
        WRITER.1
    );
    let helper = machine.dir.path().join("bin/docker-credential-imgpol-test");
    std::fs::write(&helper, script).unwrap();
    std::process::Command::new("chmod")
        .args(["+x", helper.to_str().unwrap()])
        .status()
        .unwrap();
    // credHelpers for this registry wins over a wrong auths entry, as in the Docker CLI.
    machine.docker_config(json!({
        "auths": {secure.host(): {"auth": basic_auth(WRITER.0, "wrong")}},
        "credHelpers": {secure.host(): "imgpol-test"},
    }));
    let stdout = succeeded(
        &machine.publish(&secure, &[], ""),
        "publish via credHelpers",
    );
    all_pushed(&stdout);
    assert_eq!(std::fs::read_to_string(&asked).unwrap(), secure.host());

    // credsStore names the helper for every registry.
    std::fs::remove_file(&asked).unwrap();
    machine.docker_config(json!({"credsStore": "imgpol-test"}));
    let (_, by_tag, _) = pushed(&stdout).into_iter().next().unwrap();
    succeeded(
        &machine.verify(&secure, &by_tag, &[], ""),
        "verify via credsStore",
    );
    assert_eq!(std::fs::read_to_string(&asked).unwrap(), secure.host());

    // A helper that is not installed is named, with what to do.
    machine.docker_config(json!({"credsStore": "not-installed"}));
    let stderr = failed(&machine.verify(&secure, &by_tag, &[], ""), "missing helper");
    assert!(
        stderr.contains("docker-credential-not-installed") && stderr.contains("PATH"),
        "{stderr}"
    );
}

#[test]
fn password_stdin_logs_in_and_a_wrong_password_is_a_clear_401() {
    let secure = Secure::htpasswd();
    let machine = Machine::new("stdin");
    let login = ["--username", WRITER.0, "--password-stdin"];
    let stdout = succeeded(
        &machine.publish(&secure, &login, &format!("{}\n", WRITER.1)),
        "publish with --password-stdin",
    );
    all_pushed(&stdout);

    let stderr = failed(
        &machine.publish(&secure, &login, "not-the-password\n"),
        "publish with a wrong password",
    );
    assert!(
        stderr.contains("401 Unauthorized: missing or wrong credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    // A password is never taken from the command line.
    let refused = machine.xtask(
        &[
            "publish",
            "--registry",
            secure.host(),
            "--password",
            WRITER.1,
        ],
        "",
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("--password"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn an_unknown_ca_is_refused_and_the_message_says_ca_cert() {
    let secure = Secure::htpasswd();
    let machine = Machine::new("unknown-ca");
    machine
        .docker_config(json!({"auths": {secure.host(): {"auth": basic_auth(WRITER.0, WRITER.1)}}}));
    let publish = |ca: Option<&str>| {
        let args = machine.publish_args(&secure, ca);
        machine.xtask(&args.iter().map(String::as_str).collect::<Vec<_>>(), "")
    };
    let stderr = failed(&publish(None), "publish without the CA");
    assert!(
        stderr.contains("TLS: the certificate of") && stderr.contains("--ca-cert"),
        "{stderr}"
    );
    // A CA file that is not a certificate is named.
    let not_pem = machine.dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let stderr = failed(
        &publish(Some(not_pem.to_str().unwrap())),
        "publish with a broken CA file",
    );
    assert!(stderr.contains("not-a-ca.pem"), "{stderr}");

    // DNS and connection failures are told apart.
    let stderr = failed(
        &machine.verify(
            &secure,
            "registry://no-such-registry.invalid/acme/p:v1",
            &[],
            "",
        ),
        "an unknown host",
    );
    assert!(
        stderr.contains("DNS: cannot resolve the registry host no-such-registry.invalid"),
        "{stderr}"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stderr = failed(
        &machine.verify(&secure, &format!("registry://{closed}/acme/p:v1"), &[], ""),
        "a closed port",
    );
    assert!(
        stderr.contains(&format!("cannot connect to {closed}")),
        "{stderr}"
    );
}

#[test]
fn a_token_server_grants_by_account_and_identity_tokens_are_exchanged() {
    let secure = Secure::token();
    let token = secure.token.as_ref().unwrap();
    let machine = Machine::new("token");

    // The writer's identity token from the Docker config, exchanged at the realm.
    machine.docker_config(json!({"auths": {secure.host(): {"identitytoken": IDENTITY_TOKEN}}}));
    let stdout = succeeded(
        &machine.publish(&secure, &[], ""),
        "publish with an identity token",
    );
    let pushed = all_pushed(&stdout);
    let grants = token.grants.lock().unwrap().clone();
    assert!(
        grants
            .iter()
            .any(|g| g.starts_with(WRITER.0) && g.ends_with(":pull,push -> pull,push")),
        "{grants:?}"
    );

    // The reader pulls and verifies through a bearer token from its username and password.
    machine.docker_config(json!({}));
    let reader = ["--username", READER.0, "--password-stdin"];
    let (_, by_tag, digest) = &pushed[0];
    let out = succeeded(
        &machine.verify(&secure, by_tag, &reader, READER.1),
        "the reader verifies",
    );
    assert!(out.contains(digest.as_str()), "{out}");

    // The reader may not push: the issuer grants it pull only, and the registry refuses.
    let stderr = failed(
        &machine.publish(&secure, &reader, READER.1),
        "the reader pushes",
    );
    assert!(
        stderr.contains("401 Unauthorized") || stderr.contains("403 Forbidden"),
        "{stderr}"
    );
    assert!(stderr.contains("push to"), "{stderr}");

    // A wrong password is refused by the issuer.
    let stderr = failed(
        &machine.verify(
            &secure,
            by_tag,
            &["--username", READER.0, "--password-stdin"],
            "wrong",
        ),
        "wrong password at the token server",
    );
    assert!(stderr.contains("401 Unauthorized"), "{stderr}");

    // A stale identity token is refused with what to do.
    machine.docker_config(json!({"auths": {secure.host(): {"identitytoken": "expired-token"}}}));
    let stderr = failed(
        &machine.verify(&secure, by_tag, &[], ""),
        "stale identity token",
    );
    assert!(
        stderr.contains("401 Unauthorized") && stderr.contains("log in again"),
        "{stderr}"
    );
}
