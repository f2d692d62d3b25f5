#!/usr/bin/env bash
# bench/speaker_scale.sh [N...] — benchmark, not a test.
#
# The `porter speaker` binary itself on the Kubernetes API path: the fake API server
# (porter-fake-api) holds N LoadBalancer Services holding addresses plus one EndpointSlice each,
# the speaker runs with only a kubeconfig pointing at it, and announces to gobgpd in a network
# namespace of its own. Prints, per N (default: 1 1000 10000 30000), the time from starting the
# speaker until gobgpd holds all N routes, and the speaker's peak RSS (VmHWM), split into heap
# and stacks (RssAnon) and the binary's pages (RssFile) at that moment.
# (crates/porter/examples/speaker_scale.rs does the work; figures in docs/benchmarks.md.)
#
# Needs root (the namespace), iproute2 and gobgpd/gobgp (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace)" >&2; exit 1; }

cargo build --quiet --release -p porter --bin porter --example speaker_scale
target="${CARGO_TARGET_DIR:-target}/release"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for n in "${@:-1 1000 10000 30000}"; do
  for count in $n; do
    "$target/examples/speaker_scale" --porter "$target/porter" --count "$count"
  done
done
