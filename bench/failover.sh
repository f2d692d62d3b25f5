#!/usr/bin/env bash
# bench/failover.sh — what a client loses when a node's link dies without a word: the cable
# is cut (lab.sh link-down), no TCP connection closes, and the router keeps sending a share of
# the traffic to the dead node until something tells it. Side by side, on the lab of
# lab/lib.sh (three nodes, a client, FRR or BIRD as the router):
#
#   porter+bfd   Porter with BFD (300 ms x 3) on its session; the router runs BFD too
#   porter       Porter without BFD: only the BGP hold timer (90 s) notices
#   gobgpd       gobgpd as node3's speaker, as OpenELB runs it (it has no BFD): the hold timer
#
# For each: how long the router kept the dead next hop in its FIB (from the cut until the
# route shows two next hops), and what a client loop (lab/client_loop.py: one HTTP request
# per new connection, 0.5 s timeout) saw: requests sent, failed, and the longest gap between
# two answered requests. Figures, not assertions; docs/benchmarks.md, "Failover", keeps them.
#
# Usage: bench/failover.sh [CASES]   CASES default "porter+bfd:frr porter+bfd:bird porter:frr gobgpd:frr"
# Needs root, the lab's tools (FRR, BIRD 2, gobgpd/gobgp, python3), and a built porter
# (PORTER, default target/release/porter, built if missing).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
CASES=${1:-"porter+bfd:frr porter+bfd:bird porter:frr gobgpd:frr"}
export PORTER=${PORTER:-$repo/target/release/porter}
[ -x "$PORTER" ] || cargo build -q --release -p porter || exit 1
export LAB_PREFIX=bfo- LAB_DIR=${TMPDIR:-/tmp}/porter-bench-failover
lab() { bash "$repo/lab/lab.sh" "$@"; }
log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
now() { date +%s.%N; }
nexthops() { lab route "$1" | grep -c 'nexthop via'; }
wait_nexthops() {  # $1 = EIP, $2 = count, $3 = limit (s); prints the seconds it took
  local t0 n; t0=$(now)
  while :; do
    n=$(nexthops "$1")
    [ "$n" = "$2" ] && { awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; return 0; }
    awk -v a="$t0" -v b="$(now)" -v l="$3" 'BEGIN{exit !(b-a > l)}' && { echo "never"; return 1; }
    sleep 0.02
  done
}

rows=()
for case in $CASES; do
  speaker=${case%%:*} router=${case##*:}
  export LAB_BFD=0
  [ "$speaker" = porter+bfd ] && LAB_BFD=1
  log "$case: lab up"
  eip=$(lab up "$router" | awk '/^EIP/{print $2}')
  [ -n "$eip" ] || { log "$case: lab did not come up"; lab down; continue; }
  wait_nexthops "$eip" 3 60 >/dev/null || { log "$case: no ECMP route"; lab down; continue; }
  if [ "$speaker" = gobgpd ]; then
    lab stop-speaker node3
    wait_nexthops "$eip" 2 30 >/dev/null
    lab gobgpd-node-up node3 "$eip" || { log "gobgpd did not start"; lab down; continue; }
    wait_nexthops "$eip" 3 60 >/dev/null || { log "$case: gobgpd's path never arrived"; lab down; continue; }
  fi
  sleep 3  # BFD sessions up (they come up within two slow intervals)
  stop=$LAB_DIR/client.stop; rm -f "$stop"
  ip netns exec "${LAB_PREFIX}client" python3 "$repo/lab/client_loop.py" "$eip" --seconds 300 \
    --stop-file "$stop" >"$LAB_DIR/client.out" 2>&1 &
  client=$!
  sleep 2
  log "$case: cutting node3's link"
  lab link-down node3
  took=$(wait_nexthops "$eip" 2 150)
  sleep 2
  touch "$stop"; wait "$client"
  summary=$(cat "$LAB_DIR/client.out")
  log "$case: route without node3 after ${took} s; client: $summary"
  rows+=("$(printf '%-12s %-5s %10s   %s' "$speaker" "$router" "$took" "$summary")")
  lab down
done

echo
echo "node3's link cut, nothing closed: seconds until the router's FIB dropped node3, and a client loop"
printf '%-12s %-5s %10s   %s\n' speaker router "FIB (s)" "client (0.5 s timeout per request)"
printf '%s\n' "${rows[@]}"
