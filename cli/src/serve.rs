//! `image-policies playground`: serves the built playground (`dist/playground/`) on loopback.
//! Browsers load ES modules and `.wasm` only over HTTP, not from `file://`, hence a server at
//! all; it serves the folder's files and nothing else.

use anyhow::{anyhow, Context, Result};
use std::path::{Component, Path, PathBuf};

/// The content type browsers need for each file of the page (`application/wasm` for streaming
/// compilation, `text/javascript` for modules).
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The file a request path names inside `dir`: `/` is `index.html`; anything that would leave
/// the folder (`..`, absolute parts) is not served.
pub fn file_for(dir: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let file = match relative.as_os_str().is_empty() {
        true => dir.join("index.html"),
        false => dir.join(relative),
    };
    file.is_file().then_some(file)
}

/// Serves `dir` on `127.0.0.1:port` (0 picks a free port) until the process is stopped; prints
/// the address first.
pub fn serve(dir: &Path, port: u16) -> Result<()> {
    if !dir.join("index.html").is_file() {
        return Err(anyhow!(
            "{} has no index.html: build the playground with `cargo run -p xtask -- build`",
            dir.display()
        ));
    }
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let address = server
        .server_addr()
        .to_ip()
        .context("the server has no IP address")?;
    println!(
        "serving {} on http://{address}/ (Ctrl-C stops)",
        dir.display()
    );
    for request in server.incoming_requests() {
        let response = match (request.method(), file_for(dir, request.url())) {
            (tiny_http::Method::Get | tiny_http::Method::Head, Some(file)) => {
                match std::fs::read(&file) {
                    Ok(bytes) => {
                        let header = tiny_http::Header::from_bytes(
                            &b"Content-Type"[..],
                            content_type(&file).as_bytes(),
                        )
                        .expect("a valid header");
                        tiny_http::Response::from_data(bytes).with_header(header)
                    }
                    Err(_) => tiny_http::Response::from_data(b"cannot read\n".to_vec())
                        .with_status_code(500),
                }
            }
            _ => tiny_http::Response::from_data(b"not found\n".to_vec()).with_status_code(404),
        };
        let _ = request.respond(response);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_folder_are_served() {
        let dir = std::env::temp_dir().join(format!("ip-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "x").unwrap();
        std::fs::write(dir.join("sub/a.js"), "x").unwrap();
        assert_eq!(file_for(&dir, "/"), Some(dir.join("index.html")));
        assert_eq!(file_for(&dir, "/?x=1#s"), Some(dir.join("index.html")));
        assert_eq!(file_for(&dir, "/sub/a.js"), Some(dir.join("sub/a.js")));
        assert_eq!(file_for(&dir, "/missing.js"), None);
        assert_eq!(file_for(&dir, "/sub"), None);
        assert_eq!(file_for(&dir, "/../etc/passwd"), None);
        assert_eq!(file_for(&dir, "/sub/../index.html"), None);
        assert_eq!(file_for(&dir, "//etc/passwd"), None);
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
