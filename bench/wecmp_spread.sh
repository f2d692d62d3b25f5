#!/usr/bin/env bash
# bench/wecmp_spread.sh [REQUESTS] — benchmark, not a test.
#
# Weighted vs equal ECMP: how a client's connections spread over the nodes of a Service with
# externalTrafficPolicy: Local running one ready endpoint on node1, three on node2 and none on
# node3. The lab of lab/lib.sh (three nodes running `porter speaker --manifests`, a router, a
# client; see its header) with, in turn:
#
#   frr  weighted   Porter sends 1M per endpoint (annotation link-bandwidth-per-endpoint);
#                   FRR weights its next hops by link bandwidth (its default)
#   frr  equal      the same Service without the annotation: plain ECMP
#   bird weighted   the weighted Service against BIRD 2, which cannot weight by link bandwidth
#
# For each: the router's kernel route (next hops and weights, `ip route`), then REQUESTS
# (default 1000) HTTP requests from the client, each a new TCP connection (curl), counted per
# node that answered (the router hashes on ports: fib_multipath_hash_policy=1). Ideal per-pod
# spread: node1 1/4, node2 3/4. gobgpd, OpenELB's speaker, has no weighting: OpenELB announces
# every node alike, so its spread is the "equal" row's (not run: there is nothing to compare).
#
# Environment: PORTER (the porter binary; default: built here, release), BENCH_RUNS (runs per
# row, default 1). Needs root and what lab/lab.sh needs. Everything runs in the lab's own
# namespaces (prefix wb-) and is stopped at the end. Figures: docs/benchmarks.md.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REQUESTS=${1:-1000}
BENCH_RUNS=${BENCH_RUNS:-1}
export LAB_PREFIX=wb- LAB_DIR=${TMPDIR:-/tmp}/porter-bench-wecmp
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
if [ -z "${PORTER:-}" ]; then
  (cd "$ROOT" && cargo build -q --release -p porter) || exit 1
  PORTER=${CARGO_TARGET_DIR:-$ROOT/target}/release/porter
fi
export PORTER
lab() { bash "$ROOT/lab/lab.sh" "$@"; }
trap 'lab down >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM

# one row: $1 router, $2 label, $3 per-endpoint unit ("" = equal ECMP)
row() {
  local router=$1 label=$2 unit=$3 eip weights answers run
  for run in $(seq "$BENCH_RUNS"); do
    eip=$(lab up "$router" | sed -n 's/^EIP //p')
    [ -n "$eip" ] || { echo "lab up $router failed" >&2; return 1; }
    LAB_WECMP_UNIT=$unit lab weighted-service "node1=1 node2=3"
    # until node3 (no endpoint) has left the route and two next hops remain with their weights
    for _ in $(seq 300); do
      weights=$(lab weights "$eip")
      [ "$(printf '%s\n' "$weights" | grep -c .)" = 2 ] && ! grep -q 10.99.0.13 <<<"$weights" && {
        [ -z "$unit" ] || [ "$router" != frr ] || ! grep -q ' 1$' <<<"$weights"; } && break
      sleep 0.2
    done
    lab fetch "$eip" 6 >/dev/null   # warm-up (neighbour discovery), not counted
    answers=$(lab fetch "$eip" "$REQUESTS")
    awk -v router="$router" -v label="$label" -v w="$(printf '%s\n' "$weights" | awk '{printf "%s%s", s, $2; s=":"}')" \
      -v total="$REQUESTS" '
      { n[$2] = $1 }
      END {
        n1 = n["node1"] + 0; n2 = n["node2"] + 0; n3 = n["node3"] + 0; f = n["FAILED"] + 0
        printf "| %s | %s | %s | %d | %d | %d | %d | %.2f |\n", router, label, w, n1, n2, n3, f, (n1 ? n2 / n1 : 0)
      }' <<<"$answers"
    lab down >/dev/null 2>&1
  done
}

echo "REQUESTS=$REQUESTS per row; endpoints node1=1 node2=3 node3=0; ideal node2/node1 = 3.00"
echo "| router | Porter | FIB weights node1:node2 | node1 | node2 | node3 | failed | node2/node1 |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
row frr "weighted (1M per endpoint)" 1M
row frr "equal (no weighting)" ""
row bird "weighted (1M per endpoint)" 1M
echo "| gobgpd (OpenELB's speaker) | no weighting: as the equal row | | | | | | |"
