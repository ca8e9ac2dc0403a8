#!/usr/bin/env bash
# Everything a fresh Debian machine needs, installed only when missing:
# - the Rust toolchain of rust-toolchain.toml (with wasm32-wasip1, clippy, rustfmt);
# - libssl-dev and pkg-config, which the release tooling (sigstore, oci-client) links against;
# - with --test: Debian's docker-registry (a real OCI registry for the tests) and skopeo.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup toolchain install

packages=()
pkg-config --exists openssl 2>/dev/null || packages+=(libssl-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
  command -v docker-registry >/dev/null || packages+=(docker-registry)
  command -v skopeo >/dev/null || packages+=(skopeo)
fi
if ((${#packages[@]})); then
  echo "installing Debian packages: ${packages[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}"
fi
