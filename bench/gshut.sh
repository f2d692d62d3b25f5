#!/usr/bin/env bash
# bench/gshut.sh [frr|bird ...] — benchmark, not a test.
#
# What a client sees when a node's speaker stops: the lab (lab/lib.sh: a router, three nodes,
# a client) with the router honouring RFC 8326 (LAB_GSHUT=1), and a client loop of short HTTP
# requests to the EIP (lab_client_loop_start: one new connection per request, one after
# another) running from 1 s before node3's speaker gets SIGTERM until 1 s after it exited.
# Printed per router and scenario: runs, requests, failed requests (sum over the runs, and the
# runs with any), and the longest gap between two successful answers (worst run, median run).
#
# Scenarios (node3's speaker; node1 and node2 always run Porter):
#   porter-drain    Porter, --drain-seconds $BENCH_DRAIN (default 5): RFC 8326, then withdraw
#   porter-drain0   Porter, --drain-seconds 0: NOTIFICATION Cease at once (the old goodbye)
#   gobgpd          gobgpd (OpenELB's engine) announcing the EIP, stopped with SIGTERM
#   porter-gr       Porter with graceful restart (LAB_GR=1): SIGTERM then start again, the
#                   loop running until node3's session is back
#
# Environment: PORTER (the porter binary; default target/release/porter, built if missing),
# BENCH_RUNS (runs per scenario, default 5), BENCH_DRAIN (default 5), BENCH_SCENARIOS.
# Needs root, the lab's routers (FRR, BIRD 2), gobgpd/gobgp, python3. Its labs are named
# bgs-<router>- and removed on exit.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_DRAIN=${BENCH_DRAIN:-5}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-"porter-drain porter-drain0 gobgpd porter-gr"}
ROUTERS=${*:-frr bird}
if [ -z "${PORTER:-}" ]; then
  PORTER=${CARGO_TARGET_DIR:-$ROOT/target}/release/porter
  [ -x "$PORTER" ] || (cd "$ROOT" && cargo build --release -p porter) || exit 1
fi
export PORTER
[ "$(id -u)" = 0 ] || { echo "bench/gshut.sh: needs root" >&2; exit 2; }

lab() { bash "$ROOT/lab/lab.sh" "$@"; }
log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
# shellcheck source=lab/lib.sh
. "$ROOT/lab/lib.sh"

trap 'lab down >/dev/null 2>&1' EXIT

# node3's speaker of scenario $1 up, and the router back at three next hops.
node3_up() {  # $1 = scenario, $2 = EIP
  case "$1" in
    gobgpd) lab_gobgpd_node_up node3 "$2" ;;
    porter-drain0) LAB_DRAIN=0 lab_speaker_up node3 ;;
    *) LAB_DRAIN=$BENCH_DRAIN lab_speaker_up node3 ;;
  esac
  lab_wait_nexthops "$2" 3 60 || log "node3 did not come back: $(lab_route "$2")"
  sleep 1
}

# One run: the loop across node3's stop (and, for porter-gr, its start); prints the loop's JSON.
one_run() {  # $1 = scenario, $2 = EIP
  lab_client_loop_start "$2"
  sleep 1
  case "$1" in
    gobgpd) lab_gobgpd_node_stop node3 ;;
    porter-gr)
      lab_speaker_stop node3
      lab_speaker_up node3
      # until node3's new session is up again (its own log says so)
      for _ in $(seq 600); do grep -q "session established" "$LAB_DIR/speaker-node3.log" && break; sleep 0.05; done ;;
    porter-drain0) LAB_DRAIN=0 lab_speaker_stop node3 ;;
    *) LAB_DRAIN=$BENCH_DRAIN lab_speaker_stop node3 ;;
  esac
  sleep 1
  lab_client_loop_stop
}

summary() {  # reads JSON lines; prints one table row
  python3 -c 'import json,statistics,sys
rs=[json.loads(l) for l in sys.stdin if l.strip()]
gaps=sorted(r["max_gap_ms"] for r in rs) or [0]
req=sum(r["requests"] for r in rs); failed=sum(r["failed"] for r in rs); bad=sum(1 for r in rs if r["failed"])
print("%-6s %-14s %4d %9d %6d %8d %10.1f %10.1f" % (sys.argv[1], sys.argv[2], len(rs), req, failed, bad, gaps[-1], statistics.median(gaps)))' "$1" "$2"
}

rows=()
for router in $ROUTERS; do
  for scenario in $BENCH_SCENARIOS; do
    export LAB_PREFIX="bgs-$router-" LAB_DIR="/tmp/porter-bench-gshut-$router" LAB_GSHUT=1
    if [ "$scenario" = porter-gr ]; then export LAB_GR=1; else export LAB_GR=0; fi
    export LAB_DRAIN=$BENCH_DRAIN
    # lib.sh reads the knobs when sourced (folders, AS numbers): again for each lab
    # shellcheck source=lab/lib.sh
    . "$ROOT/lab/lib.sh"
    log "$router $scenario: lab up"
    out=$(lab up "$router") || { log "lab up failed: $out"; exit 1; }
    eip=$(printf '%s\n' "$out" | sed -n 's/^EIP //p')
    lab_wait_nexthops "$eip" 3 60 || { log "no ECMP over three nodes"; exit 1; }
    # node3's Porter speaker leaves; the scenario's speaker takes its place
    [ "$scenario" = porter-gr ] || { LAB_DRAIN=0 lab_speaker_stop node3; sleep 1; }
    results=""
    for i in $(seq "$BENCH_RUNS"); do
      if [ "$scenario" = porter-gr ]; then lab_wait_nexthops "$eip" 3 60; sleep 1
      else node3_up "$scenario" "$eip"; fi
      r=$(one_run "$scenario" "$eip")
      log "$router $scenario run $i: $r"
      results+="$r"$'\n'
    done
    rows+=("$(printf '%s' "$results" | summary "$router" "$scenario")")
    lab down >/dev/null 2>&1
  done
done
echo
printf '%-6s %-14s %4s %9s %6s %8s %10s %10s\n' router scenario runs requests failed 'runs>0' gap-max-ms gap-med-ms
printf '%s\n' "${rows[@]}"
