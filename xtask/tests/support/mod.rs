//! Real parts for the release-chain tests: Debian's Distribution registry on a free loopback port
//! with a temporary storage directory, installed when missing; temporary directories; key pairs.
#![allow(dead_code)]

pub mod pki;
pub mod token;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("xtask-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Installs Debian packages whose command is missing (the test machine is a Debian one, as root).
pub fn ensure_installed(command: &str, package: &str) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if which(command) {
        return;
    }
    eprintln!("installing Debian package {package} (for {command})");
    let status = Command::new("sh")
        .args(["-c", &format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}")])
        .status()
        .expect("run apt-get");
    assert!(
        status.success() && which(command),
        "could not install {package}; install it and run the tests again"
    );
}

fn which(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Distribution registry process on 127.0.0.1, stopped when dropped.
pub struct TestRegistry {
    child: Child,
    pub host: String,
    _storage: TempDir,
}

impl TestRegistry {
    /// Plain HTTP, anonymous.
    pub fn start() -> Self {
        Self::start_with(None, "")
    }

    /// TLS with `pki`'s server certificate when given, and the `auth:` section `auth` (YAML).
    pub fn start_with(pki: Option<&pki::Pki>, auth: &str) -> Self {
        ensure_installed("docker-registry", "docker-registry");
        let storage = TempDir::new("registry");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{}{auth}",
                storage.path().join("data").display(),
                pki.map(|pki| format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    pki.server_cert.display(),
                    pki.server_key.display()
                ))
                .unwrap_or_default()
            ),
        )
        .expect("write registry config");
        let log = std::fs::File::create(storage.path().join("registry.log")).expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start on {host}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TestRegistry {
            child,
            host,
            _storage: storage,
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
