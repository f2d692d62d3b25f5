#!/usr/bin/env bash
# bench/drain.sh — drain before terminate (externalTrafficPolicy: Local): how long node3 stays
# in the router's FIB after its only local endpoint goes terminating (or after the node is
# cordoned), and what a client loop loses when node3's server stops after a delay of 0 (no
# preStop) or of the recommended preStop. On the lab of lab/lib.sh (three nodes, a client, FRR
# or BIRD as the router), manifests mode: the EndpointSlice is rewritten as the endpoint
# controller would (Ready false, Serving and Terminating true), the Node as `kubectl cordon`.
#
# Speakers on node3:
#   porter   Porter's speaker: it reads the folder every 100 ms (a watch event in a cluster)
#   gobgpd   gobgpd as node3's speaker, driven as OpenELB's controller would drive it on the
#            same EndpointSlice change: OpenELB's controller is not run here; a shell loop
#            reading the folder every 100 ms (Porter's cadence) calls `gobgp global rib del`,
#            so the row measures gobgpd's withdrawal, not OpenELB's reconcile path
#
# Each row, REPS runs: the withdrawal time (the file written -> node3's speaker withdraws ->
# the router's kernel route without node3, from `ip monitor route`), median and max, and the
# client loop (lab/client_loop.py: one HTTP request per new connection, 0.5 s timeout) summed
# over the runs in two parts: lost(FIB), until the router dropped node3 (with the server still
# up, only a connection in flight when the router's ECMP hash moved it to another node), and
# lost(on), from then on (the server's stop, the endpoint's removal); the longest gap between
# two answers.
# With delay 0 the server stops at the same moment the EndpointSlice changes (a Pod without
# preStop gets SIGTERM as its endpoint turns terminating).
#
# Usage: bench/drain.sh [CASES]
#   CASES default "porter:frr:terminate porter:bird:terminate porter:frr:cordon
#                  porter:bird:cordon gobgpd:frr:terminate"
# Environment: REPS (default 5), PRESTOP (default: the example's, deploy/examples/service-local.yaml).
# Needs root, the lab's tools (FRR, BIRD 2, gobgpd/gobgp, python3), and a built porter
# (PORTER, default target/release/porter, built if missing).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
CASES=${1:-"porter:frr:terminate porter:bird:terminate porter:frr:cordon porter:bird:cordon gobgpd:frr:terminate"}
REPS=${REPS:-5}
PRESTOP=${PRESTOP:-$(awk '/preStop:/{p=1} p && /seconds:/{print $2; exit}' deploy/examples/service-local.yaml)}
export PORTER=${PORTER:-$repo/target/release/porter}
[ -x "$PORTER" ] || cargo build -q --release -p porter || exit 1
export LAB_PREFIX=bdr- LAB_DIR=${TMPDIR:-/tmp}/porter-bench-drain
# shellcheck source=bench/lab_bench.sh
. "$repo/bench/lab_bench.sh"

# When node3's speaker logged the withdrawal (Porter), as epoch; empty for gobgpd.
seen_time() {  # $1 = EIP, $2 = epoch after which
  grep -E "withdrawing=[^ ]*$1|announces nothing" "$LAB_DIR/speaker-node3.log" 2>/dev/null |
    while read -r ts _; do
      e=$(epoch "$ts"); awk -v e="$e" -v t="$2" 'BEGIN{exit !(e >= t)}' && { echo "$e"; break; }
    done
}

# gobgpd in node3's namespace, announcing the EIP to the router (lab.sh gobgpd-node-up), and the
# stand-in controller: every 100 ms, node3's
# endpoint ready and node3 not cordoned -> announce, otherwise withdraw.
gobgpd_node3() {  # $1 = EIP
  local ns=${LAB_PREFIX}node3
  lab gobgpd-node-up node3 "$1"
  (
    on=1
    while :; do
      want=1
      grep -A2 'nodeName: node3' "$LAB_DIR/manifests/service-web.yaml" 2>/dev/null | grep -q 'ready: true' || want=0
      [ "$want" != "$on" ] && {
        if [ "$want" = 1 ]; then ip netns exec "$ns" gobgp global rib add "$1/32" origin igp
        else ip netns exec "$ns" gobgp global rib del "$1/32"; fi
        echo "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ) withdrawing=$([ "$want" = 0 ] && echo "$1")" >>"$LAB_DIR/speaker-node3.log"
        on=$want
      }
      sleep 0.1
    done
  ) >/dev/null 2>&1 &
  echo "$! bash" >>"$LAB_DIR/pids"; disown $!
}

rows=()
for case in $CASES; do
  IFS=: read -r speaker router scenario <<<"$case"
  log "$case: lab up"
  eip=$(lab_up_all_ready "$router") || continue
  if [ "$speaker" = gobgpd ]; then
    lab stop-speaker node3
    wait_nexthops "$eip" 2 30
    : >"$LAB_DIR/speaker-node3.log"
    gobgpd_node3 "$eip"
    wait_nexthops "$eip" 3 60 || { log "$case: gobgpd's path never arrived"; lab down; continue; }
  fi
  monitor_start
  for delay in 0 "$PRESTOP"; do
    took=() sent=0 lost_w=0 lost_s=0 gap=0
    for rep in $(seq "$REPS"); do
      lab cordon; lab http-start node3 >/dev/null
      lab endpoints node1=ready node2=ready node3=ready
      wait_nexthops "$eip" 3 60 || { log "$case: node3 did not come back"; break; }
      sleep 0.5
      server=$(ip netns exec "${LAB_PREFIX}node3" ss -Hltnp 'sport = :8080' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
      lab client-start "$eip"
      sleep 1
      # delay 0: the server gets SIGTERM as its endpoint turns terminating
      [ "$delay" = 0 ] && kill -TERM "$server"
      if [ "$scenario" = cordon ]; then
        lab cordon node3; written=$(stat -c %.9Y "$LAB_DIR/manifests/nodes.yaml")
      else
        lab endpoints node1=ready node2=ready node3=draining
        written=$(stat -c %.9Y "$LAB_DIR/manifests/service-web.yaml")
      fi
      # first client run: until the router dropped node3 (what the withdrawal itself costs)
      wait_nexthops "$eip" 2 30
      a=$(lab client-stop)
      # second client run: the rest of the preStop delay, the server's stop, the endpoint's removal
      lab client-start "$eip"
      rest=$(awk -v d="$delay" -v w="$written" -v n="$(date +%s.%N)" 'BEGIN{r = d - (n - w); print (r > 0 ? r : 0)}')
      sleep "$rest"
      [ "$delay" = 0 ] || lab http-stop node3
      lab endpoints node1=ready node2=ready node3=gone
      sleep 0.5
      b=$(lab client-stop)
      seen=$(seen_time "$eip" "$written") fib=$(fib_time "$eip" "$written")
      log "$case delay=$delay run $rep: seen +$(ms "$written" "$seen") ms, FIB +$(ms "$written" "$fib") ms; until the FIB: $a; after: $b"
      took+=("$(ms "$written" "$fib")")
      set -- $a; sent=$((sent + $2)) lost_w=$((lost_w + $4)); [ "$6" -gt "$gap" ] && gap=$6
      set -- $b; sent=$((sent + $2)) lost_s=$((lost_s + $4)); [ "$6" -gt "$gap" ] && gap=$6
    done
    stats=$(printf '%s\n' "${took[@]}" | sort -n | awk '{a[NR]=$1} END{printf "%s %s", a[int((NR+1)/2)], a[NR]}')
    rows+=("$(printf '%-7s %-5s %-9s %5s   %7s %7s   %6s %9s %8s %7s' "$speaker" "$router" "$scenario" "$delay" $stats "$sent" "$lost_w" "$lost_s" "$gap")")
  done
  lab down
done

echo
echo "drain before terminate: node3's only endpoint terminating (or node3 cordoned), its server stopping after a delay;"
echo "withdrawal = file written -> router's kernel route without node3 ($REPS runs); client loop summed over the runs:"
echo "lost(FIB) until the router dropped node3, lost(on) after it (the server's stop, the endpoint's removal)"
printf '%-7s %-5s %-9s %5s   %7s %7s   %6s %9s %8s %7s\n' speaker router scenario "delay" "med(ms)" "max(ms)" sent "lost(FIB)" "lost(on)" "gap(ms)"
printf '%s\n' "${rows[@]}"
