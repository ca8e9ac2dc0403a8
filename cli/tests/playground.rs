//! The playground in a real browser: Debian's headless Chromium, driven over the DevTools
//! protocol, loads the page `image-policies playground` serves from `dist/playground/`, types
//! settings and manifests, and reads the verdict from the DOM; each verdict is checked against
//! the same case run through the Kubewarden module (`dist/<policy>.wasm`) in the waPC host.
//! One test leaves a screenshot in `target/playground.png` for a person to look at.

use base64::Engine;
use e2e::{HostCapabilities, PolicyModule};
use sdk_shim::message::{parse_violation, split_message};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `image-policies playground --port 0`: the server and its address.
fn serve() -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-policies"))
        .current_dir(root())
        .args(["playground", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (Process(child), address)
}

/// Headless Chromium with the DevTools protocol on a free port.
struct Browser {
    _process: Process,
    _profile: PathBuf,
    socket: WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Browser {
    fn launch() -> Browser {
        let profile = std::env::temp_dir().join(format!("ip-chromium-{}", std::process::id()));
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1400,1100",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium (Debian's package; `bash scripts/setup.sh --test` installs it)");
        // Chromium keeps logging to stderr: read it all (a full pipe would stop the browser),
        // handing over the DevTools port when it is announced.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tell, told) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ws://127.0.0.1:") {
                    let _ = tell.send(url.split('/').next().unwrap_or("").to_string());
                }
            }
        });
        let port = told
            .recv_timeout(Duration::from_secs(30))
            .expect("Chromium printed no DevTools address");
        let process = Process(child);
        // The page target's socket, from the DevTools HTTP endpoint (once the tab exists).
        let started = Instant::now();
        let url = loop {
            let targets: Value =
                serde_json::from_str(&http_get(&format!("127.0.0.1:{port}"), "/json/list"))
                    .unwrap();
            let page = targets.as_array().and_then(|targets| {
                targets
                    .iter()
                    .find(|t| t["type"] == "page" && t["url"] == "about:blank")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
            });
            match page {
                Some(url) => break url,
                None if started.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                None => panic!("Chromium has no page target: {targets:#}"),
            }
        };
        let (socket, _) = tungstenite::connect(url).expect("the page's DevTools socket");
        if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
            // A browser that stops answering fails the test instead of hanging it.
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
        }
        let mut browser = Browser {
            _process: process,
            _profile: profile,
            socket,
            next_id: 0,
        };
        eprintln!("connected to {}", port);
        browser.call("Page.enable", json!({}));
        eprintln!("page enabled");
        browser
    }

    /// One DevTools command and its result (events in between are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(message)).unwrap();
        loop {
            let Message::Text(text) = self.socket.read().unwrap() else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page and returns its value.
    fn eval(&mut self, script: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": script, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{script}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Polls `script` until it is true.
    fn wait_for(&mut self, script: &str, what: &str) {
        let started = Instant::now();
        while self.eval(script) != true {
            if started.elapsed() > Duration::from_secs(30) {
                let page = self
                    .eval("document.body ? document.body.innerText.slice(0, 2000) : location.href");
                panic!("timed out waiting for {what}; the page shows: {page}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(
            "window.verdicts > 0 && !!document.getElementById('verdict-summary').dataset.state",
            "the first verdict",
        );
    }

    /// Types `text` into the field with `id`, replacing what it held, as a user would.
    fn type_into(&mut self, id: &str, text: &str) {
        self.eval(&format!(
            "(() => {{ const f = document.getElementById('{id}'); f.focus(); f.select(); return true; }})()"
        ));
        if text.is_empty() {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": "keyDown", "key": "Backspace", "windowsVirtualKeyCode": 8}),
            );
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": "keyUp", "key": "Backspace", "windowsVirtualKeyCode": 8}),
            );
        } else {
            self.call("Input.insertText", json!({"text": text}));
        }
    }

    fn choose_policy(&mut self, policy: &str) {
        self.eval(&format!(
            "(() => {{ const s = document.getElementById('policy'); s.value = '{policy}'; \
             s.dispatchEvent(new Event('change')); return true; }})()"
        ));
    }

    /// Waits until the page has shown a verdict after the last input, then reads it.
    fn verdict_after(&mut self, shown: u64) -> Value {
        self.wait_for(&format!("window.verdicts > {shown}"), "a new verdict");
        // The page evaluates 120 ms after the last keystroke; let it settle.
        std::thread::sleep(Duration::from_millis(300));
        self.read_verdict()
    }

    fn verdicts(&mut self) -> u64 {
        self.eval("window.verdicts").as_u64().unwrap()
    }

    fn read_verdict(&mut self) -> Value {
        self.eval(
            "JSON.stringify({
               summary: document.getElementById('verdict-summary').textContent,
               state: document.getElementById('verdict-summary').dataset.state,
               settings: document.getElementById('settings-status').textContent,
               settingsValid: document.getElementById('settings-status').dataset.valid,
               objects: [...document.querySelectorAll('.object')].map(o => ({
                 title: o.querySelector('h3').firstChild.textContent,
                 accepted: o.dataset.accepted === 'true',
                 mutated: o.dataset.mutated === 'true',
                 containers: [...o.querySelectorAll('.violation .container')].map(c => c.textContent),
                 reasons: [...o.querySelectorAll('.violation .reason')].map(r => r.textContent),
               })),
               diff: document.getElementById('mutation').hidden ? '' : document.getElementById('diff').textContent,
               hash: location.hash,
             })",
        )
        .as_str()
        .map(|s| serde_json::from_str(s).unwrap())
        .unwrap()
    }
}

/// A plain HTTP GET (the DevTools endpoint on loopback): the body, by its Content-Length (the
/// endpoint keeps the connection open).
fn http_get(host: &str, path: &str) -> String {
    let stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(&stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

/// The Kubewarden module's answer for each object of `manifest`, as the CLI wraps them.
fn module_verdicts(policy: &str, settings: &Value, manifest: &str) -> Vec<(bool, Vec<String>)> {
    let module = PolicyModule::load(&root().join("dist").join(format!("{policy}.wasm"))).unwrap();
    image_policies::manifests::parse_documents(manifest)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|object| {
            let request = sdk_shim::review::create_request(&object, "default", "t");
            let instance = module
                .instantiate(Arc::new(HostCapabilities::new()))
                .unwrap();
            let response = instance.validate(&request, settings).unwrap();
            let reasons = match (&response.message, response.accepted) {
                (Some(message), false) => split_message(message)
                    .iter()
                    .map(|v| parse_violation(v).reason)
                    .collect(),
                _ => vec![],
            };
            (response.accepted, reasons)
        })
        .collect()
}

#[test]
fn the_playground_decides_as_the_modules_do_in_headless_chromium() {
    let (_server, address) = serve();
    eprintln!("serving at {address}");
    let mut browser = Browser::launch();
    let loaded = Instant::now();
    browser.open(&address);
    let first_verdict_ms = browser.eval("window.firstVerdictMs").as_f64().unwrap();
    eprintln!(
        "page load to first verdict: {first_verdict_ms:.0} ms in the page ({} ms as the test saw it)",
        loaded.elapsed().as_millis()
    );
    // The first example is shown on arrival.
    let first = browser.read_verdict();
    assert_eq!(first["objects"][0]["title"], "Deployment/web", "{first:#}");
    assert_eq!(first["objects"][0]["accepted"], false);

    // Type a policy, settings and a Helm-style manifest with three documents.
    let manifest = std::fs::read_to_string(root().join("cli/test_data/helm/web.yaml")).unwrap();
    let settings_text = "mutableTags: [latest]\n";
    let shown = browser.verdicts();
    browser.choose_policy("pull-policy-for-tag");
    browser.type_into("settings", settings_text);
    browser.type_into("manifest", &manifest);
    let page = browser.verdict_after(shown);
    assert_eq!(page["settings"], "settings are valid", "{page:#}");
    let expected = module_verdicts(
        "pull-policy-for-tag",
        &json!({"mutableTags": ["latest"]}),
        &manifest,
    );
    let objects = page["objects"].as_array().unwrap();
    assert_eq!(objects.len(), expected.len(), "{page:#}");
    for (object, (accepted, reasons)) in objects.iter().zip(&expected) {
        assert_eq!(object["accepted"], *accepted, "{object:#}");
        assert_eq!(&object["reasons"], &json!(reasons), "{object:#}");
    }
    assert_eq!(objects[1]["title"], "Deployment/web");
    assert!(!objects[1]["accepted"].as_bool().unwrap());
    assert_eq!(
        objects[1]["containers"][0],
        "container 'web', image 'nginx:latest', line 30"
    );

    // Invalid settings: the policy's own validate_settings message, live.
    let shown = browser.verdicts();
    browser.type_into("settings", "mutableTags: latest");
    let page = browser.verdict_after(shown);
    let module = PolicyModule::load(&root().join("dist/pull-policy-for-tag.wasm")).unwrap();
    let refused = module
        .instantiate(Arc::new(HostCapabilities::new()))
        .unwrap()
        .validate_settings(&json!({"mutableTags": "latest"}))
        .unwrap();
    assert!(!refused.valid);
    assert_eq!(page["settings"], refused.message.unwrap(), "{page:#}");
    assert_eq!(page["settingsValid"], "false");
    assert_eq!(page["objects"], json!([]));

    // A mutation: the manifest's diff, as `image-policies check` shows it.
    let shown = browser.verdicts();
    browser.type_into("settings", "mutate: true");
    let page = browser.verdict_after(shown);
    let cli = Command::new(env!("CARGO_BIN_EXE_image-policies"))
        .current_dir(root())
        .args([
            "check",
            "--policy",
            "pull-policy-for-tag",
            "--settings",
            "{mutate: true}",
        ])
        .args(["--output", "json", "cli/test_data/helm/web.yaml"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let changed = |diff: &str| -> Vec<String> {
        diff.lines()
            .filter(|l| {
                (l.starts_with('+') && !l.starts_with("+++"))
                    || (l.starts_with('-') && !l.starts_with("---"))
            })
            .map(str::to_string)
            .collect()
    };
    let cli_diff = changed(report["fixes"][0]["diff"].as_str().unwrap());
    assert_eq!(
        cli_diff,
        [
            "-        imagePullPolicy: IfNotPresent",
            "+        imagePullPolicy: Always"
        ]
    );
    assert_eq!(
        changed(page["diff"].as_str().unwrap()),
        cli_diff,
        "{page:#}"
    );
    assert_eq!(page["objects"][1]["mutated"], true);

    // The state is in the URL: a fresh page on that link shows the same verdict.
    let link = format!("{address}{}", page["hash"].as_str().unwrap());
    browser.call("Page.navigate", json!({"url": "about:blank"}));
    browser.wait_for("location.href === 'about:blank'", "a blank page");
    browser.open(&link);
    let again = browser.read_verdict();
    assert_eq!(again["objects"], page["objects"]);
    assert_eq!(again["diff"], page["diff"]);

    // A screenshot for a person to look at: the Docker Hub example, rejected.
    let shown = browser.verdicts();
    browser.eval(
        "(() => { const e = document.getElementById('example'); e.value = '1'; \
         e.dispatchEvent(new Event('change')); return true; })()",
    );
    let page = browser.verdict_after(shown);
    assert_eq!(page["objects"][0]["accepted"], false, "{page:#}");
    assert!(page["objects"][0]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("docker.io/library/nginx is not from an allowed registry"));
    let shot = browser.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    let path = root().join("target/playground.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", path.display(), png.len());
}
