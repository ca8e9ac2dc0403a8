#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer), natively, on nightly.
#
#   bash scripts/fuzz.sh smoke          each target briefly; fails on any crash (test command)
#   bash scripts/fuzz.sh long [RUNS]    each target for RUNS executions (default 10000000), then
#                                       each target's executions, time and executions/second
#   bash scripts/fuzz.sh seed           only (re)write the seed corpora under fuzz/corpus/
#
# Targets (fuzz/fuzz_targets/): reference, pattern, settings, request. What each checks is in
# fuzz/checks/. A crash is saved under fuzz/artifacts/<target>/; copy it to
# fuzz/regressions/<target>/ and the native tests replay it (sdk-shim/tests/fuzz_regressions.rs
# for reference and pattern, each policy's fuzz_regressions unit test for settings and request).
#
# Environment: FUZZ_TARGETS (space-separated subset), FUZZ_SANITIZER (default none: the code
# under test is safe Rust, and without ASan it runs faster; "address" to check unsafe
# dependencies), FUZZ_ARGS (more libFuzzer options, e.g. "-max_len=65536"), CARGO_BUILD_JOBS (default 1:
# the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-smoke}"
runs="${2:-10000000}"
targets=(${FUZZ_TARGETS:-reference pattern settings request})
sanitizer="${FUZZ_SANITIZER:-none}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

case "$mode" in
  smoke | long | seed) ;;
  *)
    echo "usage: $0 smoke | long [RUNS] | seed" >&2
    exit 2
    ;;
esac
if [[ "$mode" == long && ! "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "RUNS must be a positive number, not '$runs'" >&2
  exit 2
fi

# --- What the fuzzing needs, installed only when missing -------------------------------------
install_tools() {
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "==> installing the nightly toolchain (rustup does not auto-install here)"
    rustup toolchain install nightly --profile minimal
  fi
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    nice -n 10 cargo install cargo-fuzz --locked
  fi
  if ! command -v jq >/dev/null; then
    echo "==> installing jq (writes the request seeds)"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq jq
  fi
}

# --- Seed corpora -----------------------------------------------------------------------------
# Seeds are rewritten on every run (named seed-*); what libFuzzer adds keeps its hash names.

# write_lines DIR PREFIX: one seed file per line of standard input.
write_lines() {
  local dir="$1" prefix="$2" i=0 line
  mkdir -p "$dir"
  while IFS= read -r line; do
    printf '%s' "$line" >"$dir/seed-$prefix-$i"
    i=$((i + 1))
  done
}

# Image references: the fixtures' images and the corners of the grammar.
reference_seeds() {
  jq -r '.. | objects | .image? // empty | strings' \
    policies/*/test_data/*.json sdk-shim/test_data/*.json | sort -u
  cat <<'EOF'
nginx
library/nginx:1.25
docker.io/nginx
index.docker.io/library/nginx:latest
Docker.IO/library/nginx
ghcr.io/acme/app:1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
quay.io/a/b@sha384:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
quay.io/a/b@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
localhost/app
localhost:5000/team/app:dev
LOCALHOST:5000/app
[::1]:5000/app:v1
[2001:db8::1]/app
192.168.0.1:8080/a/b/c:tag_1.0-rc
registry.example.com:443/a__b/c-d/e.f:latest
a.b/c--d/e___f
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
example.com/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
Foo/bar
nginx:
nginx@
:tag
/nginx
nginx/
ghcr.io//a
-a.io/b
a-.io/b
ghcr.io:/a
ghcr.io:0x50/a
nginx:-tag
nginx:.tag
nginx@sha256:0123
nginx@md5:0123456789abcdef0123456789abcdef
nginx@SHA256:0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
EOF
}

# Patterns: "pattern\nimage\nother pattern" (fuzz/checks/shim.rs), one file each.
pattern_seeds() {
  local dir="$1"
  local patterns=(
    "docker.io" "docker.io/library" "index.docker.io/library/nginx:1.*" "ghcr.io/acme"
    "ghcr.io/acme/*:*" "*.dkr.ecr.*.amazonaws.com" "localhost:*" "localhost:5000/team"
    "[::1]:5000" "registry.k8s.io/pause:*" "quay.io/*/app:v*" "*.*" "*:*/*" "nginx" "ghcr.io/acme/"
    "https://ghcr.io" "ghcr.io/ACME" "harbor.example.com/cache:1"
  )
  local images=(
    "nginx" "nginx:1.25" "ghcr.io/acme/app:1" "ghcr.io/acme-evil/app" "docker.io.evil.com/x"
    "123456789.dkr.ecr.us-east-1.amazonaws.com/team/builder:2.0" "localhost:5000/team/app"
    "[::1]:5000/app" "registry.k8s.io/pause:3.9"
    "quay.io/a/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  )
  local i
  mkdir -p "$dir"
  for i in "${!patterns[@]}"; do
    printf '%s\n%s\n%s' "${patterns[$i]}" "${images[$((i % ${#images[@]}))]}" \
      "${patterns[$(((i + 3) % ${#patterns[@]}))]}" >"$dir/seed-pat-$i"
  done
}

ROLLOUT='{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "paths": ["$.spec.template.spec.containers[*]", "$.spec.template.spec.initContainers[*]"]}'
SCANNER='{"apiVersion": "example.com/v1", "kind": "Scanner", "paths": ["$.spec.scannerImage", "$..sidecars[0:2]", "$.spec[\"jobs\"][*].template.spec.containers[-1]"]}'

# Settings that every policy must refuse, or that sit on the edge of what they accept.
extra_settings_seeds() {
  cat <<'EOF'

null
[]
"mutate"
{"mutate": "yes"}
{"allow": ["nginx"]}
{"mirrors": [{"from": "*.gcr.io", "to": "harbor.example.com/gcr"}]}
{"mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}, {"from": "quay.io", "to": "harbor.example.com/cache"}]}
{"mutableTags": [""]}
{"registries": []}
{"registries": ["ghcr.io"], "secretName": "Not_A_Name"}
{"customResources": [{"apiVersion": "v1", "kind": "X", "paths": ["$[?(@.image)]"]}]}
{"customResources": [{"apiVersion": "v1", "kind": "X", "paths": ["$['a\u0041\\'b'][::-1][1:-1:2]"]}]}
{"customResources": [{"apiVersion": "", "kind": "X", "paths": []}]}
EOF
}

settings_seeds() {
  extra_settings_seeds
}

# The case tables' settings and requests (every case's, and each with every policy's bench
# settings) come from `cargo xtask fuzz-seeds`; these add the shim's fixtures and a few more.
request_seeds() {
  local dir="$1" file
  mkdir -p "$dir"
  for file in sdk-shim/test_data/*.json; do
    jq -c --argjson settings "{\"customResources\": [$ROLLOUT, $SCANNER]}" \
      'select(type == "object" and has("request")) | {request: .request, settings: $settings}' \
      "$file" >"$dir/seed-shim-$(basename "$file" .json)"
  done
  # A request without settings, and one whose namespace has no fixture resources.
  jq -c '{request: .request}' sdk-shim/test_data/pod_all_container_kinds.json >"$dir/seed-no-settings"
  jq -c --argjson s '{"registries": ["docker.io"], "verifySecrets": true}' \
    '{request: (.request | .namespace = "elsewhere"), settings: $s}' \
    sdk-shim/test_data/pod_all_container_kinds.json >"$dir/seed-other-namespace"
  # A custom resource that only the Scanner extractor of the settings reads.
  jq -c '{request: (.request | .kind = {group: "example.com", version: "v1", kind: "Scanner"}
      | .object = {apiVersion: "example.com/v1", kind: "Scanner", metadata: {name: "s", namespace: "default"},
        spec: {scannerImage: "ghcr.io/acme/scan:main", sidecars: [{name: "a", image: "nginx"}, "busybox:1.36"],
          jobs: [{template: {spec: {containers: [{name: "c", image: "docker.io/acme/x:latest", imagePullPolicy: "Never"}]}}}]}}),
    settings: $settings}' --argjson settings "{\"customResources\": [$ROLLOUT, $SCANNER]}" \
    sdk-shim/test_data/pod_all_container_kinds.json >"$dir/seed-scanner"
}

write_seeds() {
  local corpus=fuzz/corpus
  rm -f "$corpus"/*/seed-*
  reference_seeds | write_lines "$corpus/reference" ref
  pattern_seeds "$corpus/pattern"
  settings_seeds | write_lines "$corpus/settings" set
  request_seeds "$corpus/request"
  cargo run -q -p xtask -- fuzz-seeds "$corpus"
  local target
  for target in reference pattern settings request; do
    echo "seeds: $target $(find "$corpus/$target" -name 'seed-*' | wc -l)"
  done
}

# --- Running ------------------------------------------------------------------------------------
# libFuzzer options per target.
target_options() {
  local opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  case "$1" in
    settings) opts+=(-dict=fuzz/json.dict -max_len=4096) ;;
    request) opts+=(-dict=fuzz/json.dict -max_len=16384) ;;
    *) opts+=(-max_len=512) ;;
  esac
  printf '%s\n' "${opts[@]}"
}

# run_target TARGET LOG LIBFUZZER-OPTIONS...: the corpus first (new inputs go there), then the
# regressions, which libFuzzer only reads.
run_target() {
  local target="$1" log="$2"
  shift 2
  local opts
  mapfile -t opts < <(target_options "$target")
  nice -n 10 cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" \
    "fuzz/corpus/$target" "fuzz/regressions/$target" -- "${opts[@]}" "$@" ${FUZZ_ARGS:-} >"$log" 2>&1
}

# "runs seconds" from libFuzzer's closing "Done N runs in S second(s)".
done_line() {
  sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$1" | tail -n 1
}

install_tools
write_seeds
[[ "$mode" == seed ]] && exit 0

echo "==> cargo +nightly fuzz build --sanitizer $sanitizer (jobs: $CARGO_BUILD_JOBS)"
nice -n 10 cargo +nightly fuzz build --sanitizer "$sanitizer"

logs=fuzz/target/logs
mkdir -p "$logs"
failed=()
summary=()
start=$SECONDS
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  case "$mode" in
    smoke) limits=(-runs=1000000 -max_total_time=10) ;;
    long) limits=("-runs=$runs") ;;
  esac
  echo "==> $target: ${limits[*]} (log: $log)"
  started=$EPOCHREALTIME
  if run_target "$target" "$log" "${limits[@]}"; then
    status=ok
  else
    status=CRASH
    failed+=("$target")
    grep -E 'panicked at|^SUMMARY|Test unit written to|^Running:|deadly signal|timeout' "$log" | head -n 20 >&2 || true
  fi
  wall=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  read -r done_runs done_secs < <(done_line "$log"; echo "- -")
  rate=-
  if [[ "$done_runs" =~ ^[0-9]+$ && "$done_secs" =~ ^[0-9]+$ ]]; then
    rate=$((done_runs / (done_secs > 0 ? done_secs : 1)))
  fi
  summary+=("$(printf '%-10s %-6s %11s runs %6s s fuzzing %7s s wall %8s exec/s' \
    "$target" "$status" "$done_runs" "$done_secs" "$wall" "$rate")")
done

echo "==> fuzzing ($mode) took $((SECONDS - start)) s"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "crashes in: ${failed[*]}; reproducers under fuzz/artifacts/<target>/, logs under $logs/" >&2
  echo "to keep one as a regression: cp fuzz/artifacts/<target>/crash-* fuzz/regressions/<target>/" >&2
  exit 1
fi
