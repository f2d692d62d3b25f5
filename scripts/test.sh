#!/usr/bin/env bash
# scripts/test.sh — every check Porter has, as CI runs them: formatting, that the pure crates
# link nothing doing I/O (scripts/check-pure-deps.sh), lints, unit and property tests, the
# end-to-end lab tests against real FRR and BIRD 2 (those need root; without it they skip with a
# message, and under CI, which runs as root, they fail instead), the container image (built, then run), and the
# real-cluster suite where a cluster is up (it skips, saying why, where none is). Installs the
# routers and buildah on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
# porter-api, porter-ipam, porter-bgp, porter-model: no tokio, sockets, HTTP, TLS, libc (seconds).
scripts/check-pure-deps.sh
cargo clippy --workspace --all-targets -q -- -D warnings
cargo test --workspace
# The image: a static binary in a FROM scratch image, which must run `porter --version`.
if [ "$(id -u)" = 0 ]; then
  scripts/image.sh
else
  echo "skipped: the container image (buildah needs root)"
fi
# Porter installed with kubectl apply -k on a real cluster (../shared/kcluster; docs/testing.md).
e2e/cluster.sh
