#!/usr/bin/env bash
# bench/health.sh — health-driven withdrawal: node3's Pod stops answering while the API still
# calls its endpoint ready (a hung or crashed process the kubelet has not noticed yet); how long
# until the router's kernel route drops node3, and what a client loop loses meanwhile. On the lab
# of lab/lib.sh (three nodes, a client, FRR or BIRD), externalTrafficPolicy: Local, one ready
# endpoint per node; the EndpointSlice never changes during a run.
#
# Cases, SPEAKER:ROUTER:PROBE[:INTERVAL:THRESHOLD]:
#   porter  Porter's speakers, the Service asking for PROBE (tcp, http; `none`: no
#           health.porter.kubesphere.io/probe annotation, the behaviour before this feature)
#   gobgpd  gobgpd as node3's speaker (OpenELB's engine), which has no probe: the route stays
#           as long as the endpoint is ready in the API
#
# Each run: the client loop (lab/client_loop.py: one HTTP request per new connection, 0.5 s
# timeout) runs 1 s, node3's server is stopped (its port refuses connections), then up to WINDOW
# seconds pass or the router drops node3, then 1 s more. Printed per case, over REPS runs: the
# withdrawal (server stopped -> router's kernel route without node3), median and max, or
# "never" within WINDOW; requests sent and failed, summed; the longest gap between two answers.
#
# Usage: bench/health.sh [CASES]
#   CASES default "porter:frr:http:200ms:2 porter:bird:tcp:200ms:2 porter:frr:http:2s:3
#                  porter:frr:none gobgpd:frr:none"
# Environment: REPS (default 5), WINDOW (default 10 s).
# Needs root, the lab's tools (FRR, BIRD 2, gobgpd/gobgp, python3), and a built porter
# (PORTER, default target/release/porter, built if missing).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
CASES=${1:-"porter:frr:http:200ms:2 porter:bird:tcp:200ms:2 porter:frr:http:2s:3 porter:frr:none gobgpd:frr:none"}
REPS=${REPS:-5}
WINDOW=${WINDOW:-10}
export PORTER=${PORTER:-$repo/target/release/porter}
[ -x "$PORTER" ] || cargo build -q --release -p porter || exit 1
export LAB_PREFIX=bhc- LAB_DIR=${TMPDIR:-/tmp}/porter-bench-health
# shellcheck source=bench/lab_bench.sh
. "$repo/bench/lab_bench.sh"

rows=()
for case in $CASES; do
  IFS=: read -r speaker router probe interval threshold <<<"$case"
  if [ "$probe" = none ]; then export LAB_HEALTH=""; else export LAB_HEALTH=$probe; fi
  export LAB_HEALTH_INTERVAL=${interval:-2s} LAB_HEALTH_THRESHOLD=${threshold:-3}
  log "$case: lab up"
  eip=$(lab_up_all_ready "$router") || continue
  if [ "$speaker" = gobgpd ]; then
    lab stop-speaker node3
    wait_nexthops "$eip" 2 30
    lab gobgpd-node-up node3 "$eip"
    wait_nexthops "$eip" 3 60 || { log "$case: gobgpd's path never arrived"; lab down; continue; }
  fi
  monitor_start
  took=() sent=0 lost=0 gap=0
  for rep in $(seq "$REPS"); do
    lab http-start node3 >/dev/null
    wait_nexthops "$eip" 3 60 || { log "$case: node3 did not come back"; break; }
    sleep 1
    lab client-start "$eip"
    sleep 1
    stopped=$(date +%s.%N)
    lab http-stop node3
    wait_nexthops "$eip" 2 "$WINDOW"
    sleep 1
    out=$(lab client-stop)
    fib=$(fib_time "$eip" "$stopped")
    if [ -n "$fib" ]; then took+=("$(ms "$stopped" "$fib")"); else took+=(never); fi
    log "$case run $rep: withdrawn +${took[-1]} ms; $out"
    set -- $out; sent=$((sent + $2)) lost=$((lost + $4)); [ "$6" -gt "$gap" ] && gap=$6
  done
  stats=$(printf '%s\n' "${took[@]}" | sort -n | awk '{a[NR]=$1} END{printf "%s %s", a[int((NR+1)/2)], a[NR]}')
  rows+=("$(printf '%-7s %-5s %-5s %6s %4s   %7s %7s   %6s %6s %8s' "$speaker" "$router" "$probe" "${interval:--}" "${threshold:--}" $stats "$sent" "$lost" "$gap")")
  lab down
done

echo
echo "health-driven withdrawal: node3's server stops, its endpoint stays ready in the API;"
echo "withdrawal = server stopped -> router's kernel route without node3 ($REPS runs, 'never' = not within ${WINDOW} s);"
echo "client loop summed over the runs, each ending 1 s after the withdrawal (or the window)"
printf '%-7s %-5s %-5s %6s %4s   %7s %7s   %6s %6s %8s\n' speaker router probe every fail "med(ms)" "max(ms)" sent lost "gap(ms)"
printf '%s\n' "${rows[@]}"
