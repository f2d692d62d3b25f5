#!/usr/bin/env bash
# scripts/test.sh — every check Porter has, as CI runs them: formatting, lints, unit and
# property tests, and the end-to-end lab tests against real FRR and BIRD 2 (those need root;
# without it they skip with a message). Installs the routers on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo test --workspace
