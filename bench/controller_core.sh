#!/usr/bin/env bash
# Benchmark of Porter's controller and speaker cores at scale (not a test): N LoadBalancer Services (default:
# 10 000 and 100 000) over 50 Eip pools for the controller; the same Services holding their addresses plus N
# EndpointSlices for the speaker. Prints the time to allocate every Service, the time of a full resync after a
# restart (0 changes), the speaker's plan time, and the peak RSS of each role, each role in its own process.
# The controller runs twice per N: keeping what its source keeps of each Service (the fields it reads), and
# keeping whole Services (`--whole`, as before the source trimmed them), for comparison.
#
#   ./bench/controller_core.sh [N...]
#
# Figures and the machine they were taken on: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --release -p porter-kube --example bench_cores
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_cores"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for n in "${@:-10000 100000}"; do
  for count in $n; do
    echo "== controller, $count Services"
    "$bin" --role controller --services "$count"
    echo "== controller, $count whole Services"
    "$bin" --role controller --services "$count" --whole
    echo "== speaker, $count Services"
    "$bin" --role speaker --services "$count"
  done
done
