#!/usr/bin/env bash
# Benchmark of Porter's controller and speaker cores at scale (not a test): 10 000 LoadBalancer Services over
# 50 Eip pools for the controller; the same Services holding their addresses plus 10 000 EndpointSlices for the
# speaker. Prints the time to allocate every Service, the time of a full resync after a restart (0 changes),
# the speaker's plan time, and the peak RSS of each role, each role in its own process.
#
#   ./bench/controller_core.sh
#
# Figures and the machine they were taken on: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --release -p porter-kube --example bench_cores
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_cores"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for role in controller speaker; do
  echo "== $role"
  "$bin" --role "$role"
done
