#!/usr/bin/env bash
# Everything a fresh Debian machine needs, installed only when missing:
# - the Rust toolchain of rust-toolchain.toml (with wasm32-wasip1, clippy, rustfmt);
# - libssl-dev and pkg-config, which the release tooling (sigstore, oci-client) links against;
# - binaryen (wasm-opt), which shrinks every module after cargo builds it;
# - wasm-bindgen-cli at the version of the wasm-bindgen crate in Cargo.lock (the playground);
# - with --test: Debian's docker-registry (a real OCI registry for the tests), skopeo,
#   apache2-utils (htpasswd, for the registries with authentication), and chromium (the
#   playground's browser test).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup toolchain install

packages=()
pkg-config --exists openssl 2>/dev/null || packages+=(libssl-dev pkg-config)
command -v wasm-opt >/dev/null || packages+=(binaryen)
if [[ "${1:-}" == "--test" ]]; then
  command -v docker-registry >/dev/null || packages+=(docker-registry)
  command -v skopeo >/dev/null || packages+=(skopeo)
  command -v htpasswd >/dev/null || packages+=(apache2-utils)
  command -v chromium >/dev/null || packages+=(chromium)
fi
if ((${#packages[@]})); then
  echo "installing Debian packages: ${packages[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}"
fi

# wasm-bindgen's command line must match the crate exactly.
bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]]; then
  echo "installing wasm-bindgen-cli $bindgen"
  cargo install wasm-bindgen-cli --version "$bindgen"
fi
