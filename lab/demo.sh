#!/usr/bin/env bash
# lab/demo.sh — Porter end to end on one machine, no cluster: the README's main command.
#
# Builds network namespaces `router`, `node1..3` and `client`; runs a real FRR in `router`
# (or BIRD 2: `lab/demo.sh bird`), `porter controller` and a `porter speaker` per node; declares
# an Eip pool and a LoadBalancer Service with endpoints on all three nodes; then shows the
# EIP, the BGP sessions, the router's ECMP route and a client spreading over the nodes. It then
# stops node3's speaker and shows the route shrink to two next hops while the client is still
# served. Exits 0 only if the router held 3 next hops, then 2. Cleans up on exit, Ctrl-C or error.
#
# `lab/demo.sh layer2` shows layer 2 mode instead (no router: client and nodes on one bridge,
# Eips `protocol: layer2`): which node answers ARP / Neighbor Solicitation for each of 30
# addresses, as the client's neighbour table shows it, then the client's entry moving to the
# next owner when the owner's speaker stops (SIGTERM) and when its link is cut. Exits 0 only if
# every address was answered by one node, all three nodes answered some, and both takeovers
# moved the entry.
# no `set -e`: cleanup paths must survive failing commands; every step that matters is checked
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
router=${1:-frr}
# shellcheck source=lab/lib.sh
. "$here/lib.sh"

if [ -t 1 ]; then say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }; else say() { printf '\n== %s\n' "$*"; }; fi
fail() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "the lab creates network namespaces: run it as root"
"$repo/scripts/deps.sh" || fail "cannot install the lab's packages"

# PORTER set: that binary, no build
if [ -z "${PORTER:-}" ]; then
  say "Building porter (release)"
  (cd "$repo" && cargo build --release -q -p porter) || fail "build failed"
  PORTER=$repo/target/release/porter
fi

trap 'lab_net_down' EXIT
trap 'trap - EXIT; lab_net_down; exit 130' INT TERM
lab_net_down

# The client's neighbour entry for $1 moving away from MAC $2 (at most $3 s); prints the MAC.
wait_moved() {
  local t0 m; t0=$(now_s)
  while :; do
    m=$(lab_l2_neigh "$1" | awk '{print $1}')
    [ -n "$m" ] && [ "$m" != "$2" ] && { echo "$m"; return 0; }
    [ "$(elapsed "$t0" "$(now_s)" | cut -d. -f1)" -ge "$3" ] && return 1
    sleep 0.01
  done
}
node_of_mac() { local n; for n in $LAB_NODES; do [ "$(node_mac "$n")" = "$1" ] && echo "$n"; done; }

demo_layer2() {
  say "Lab: namespaces switch (a bridge), client, $LAB_NODES on one segment; no router"
  lab_l2_net_up || fail "cannot build the lab network"
  lab_l2_write_manifests
  lab_porter_controller_up
  for n in $LAB_NODES; do lab_speaker_up "$n"; done
  say "Declaring $LAB_L2_SERVICES Services per family from Eips lab-l2 ($(l2_pool4)) and lab-l2-v6 ($(l2_pool6)), protocol: layer2, interface: eth0"
  lab_l2_write_services
  eips=$(lab_l2_wait_eips 60) || fail "not every Service got an address (see $LAB_DIR/controller.log)"
  lab_workload_up
  echo "nodes' MACs: $(for n in $LAB_NODES; do printf '%s=%s ' "$n" "$(node_mac "$n")"; done)"
  echo "(every node accepts every pool address on lo, kube-proxy's part, and its kernel answers no ARP for them)"

  say "One request from the client to each IPv4 address: who answers, and the client's neighbour entry"
  local t0 line svc a who mac bad=0
  t0=$(now_s)
  # the speakers hear each other within a second or two of starting: wait for the first answer
  a=$(echo "$eips" | awk '$2 !~ /:/ {print $2; exit}')
  while [ "$(lab_l2_fetch_one "$a")" = FAILED ]; do
    [ "$(elapsed "$t0" "$(now_s)" | cut -d. -f1)" -ge 30 ] && fail "nobody answers for $a"
  done
  declare -A count=()
  while read -r svc a; do
    case "$a" in *:*) continue ;; esac
    who=$(lab_l2_fetch_one "$a")
    mac=$(lab_l2_neigh "$a" | awk '{print $1}')
    printf '  %-8s %-13s answered by %-6s client neigh %s (%s)\n' "$svc" "$a" "$who" "$mac" "$(node_of_mac "$mac")"
    [ "$who" = "$(node_of_mac "$mac")" ] || bad=1
    count[$who]=$(( ${count[$who]:-0} + 1 ))
  done <<<"$eips"
  say "Spread of the IPv4 addresses over the nodes"
  for n in $LAB_NODES; do echo "  $n: ${count[$n]:-0}"; [ "${count[$n]:-0}" -gt 0 ] || bad=1; done
  [ $bad = 0 ] || fail "an address answered by a node other than the one in the neighbour entry, or a node answering none"

  say "IPv6 (NDP): the first three addresses"
  for a in $(echo "$eips" | awk '$2 ~ /:/ {print $2}' | head -3); do
    who=$(lab_l2_fetch_one "$a" 2)
    mac=$(lab_l2_neigh "$a" | awk '{print $1}')
    printf '  %-16s answered by %-6s client neigh %s (%s)\n' "$a" "$who" "$mac" "$(node_of_mac "$mac")"
  done

  say "Porter's own view (porter status; the first Services of each family, and what follows the Services)"
  "$PORTER" status --manifests "$MANIFESTS" 2>&1 |
    awk '/^default\/l2v[46]-/ { if ($1 ~ /-[0-2]$/) print; next }
         $2 ~ /^default\/l2v[46]-/ { if ($2 ~ /-[0-2]$/) print; next } { print }'

  a=$(echo "$eips" | awk '$2 !~ /:/ {print $2; exit}')
  local owner next t_stop moved
  owner=$(lab_l2_fetch_one "$a")
  say "Stopping $owner's speaker (SIGTERM, as Kubernetes would) while a client loop sends requests to $a"
  lab_client_loop_start "$a"
  t_stop=$(now_s)
  lab_speaker_stop "$owner" &
  moved=$(wait_moved "$a" "$(node_mac "$owner")" 20) || fail "the client's entry for $a never left $owner"
  echo "  the client's entry for $a moved to $moved ($(node_of_mac "$moved")) after $(elapsed "$t_stop" "$(now_s)") s"
  wait
  sleep 1
  echo "  client loop: $(lab_client_loop_stop)"
  sleep 1   # the speakers' reports are rewritten every second
  echo "  porter status, the layer 2 row of $a while $owner's speaker is down:"
  "$PORTER" status --manifests "$MANIFESTS" 2>&1 | awk -v a="$a" 'NR==1 || $1=="LAYER" {h=$0} $1==a {print "    " h; print "    " $0; exit}'
  lab_speaker_up "$owner"
  t0=$(now_s)
  until [ "$(lab_l2_neigh "$a" | awk '{print $1}')" = "$(node_mac "$owner")" ]; do
    [ "$(elapsed "$t0" "$(now_s)" | cut -d. -f1)" -ge 30 ] && fail "$owner never took $a back"
    sleep 0.05
  done
  echo "  $owner's speaker started again: it takes $a back after $(elapsed "$t0" "$(now_s)") s"

  say "Cutting $owner's link (its port on the bridge) while the client loop runs"
  lab_client_loop_start "$a"
  t_stop=$(now_s)
  lab_link_set "$owner" down
  moved=$(wait_moved "$a" "$(node_mac "$owner")" 20) || fail "the client's entry for $a never left $owner"
  echo "  the client's entry for $a moved to $moved ($(node_of_mac "$moved")) after $(elapsed "$t_stop" "$(now_s)") s"
  sleep 1
  echo "  client loop: $(lab_client_loop_stop)"
  lab_link_set "$owner" up

  say "OK: each address answered by one node, spread over all three; both takeovers moved the client's entry"
  exit 0
}
[ "$router" = layer2 ] && demo_layer2

say "Lab: namespaces router, client, $LAB_NODES; $router in router (AS $ROUTER_AS); porter speakers (AS $NODE_AS)"
lab_net_up || fail "cannot build the lab network"
lab_router_up "$router" || fail "cannot start $router"
lab_write_base_manifests
lab_porter_controller_up
for n in $LAB_NODES; do lab_speaker_up "$n"; done

t0=$(now_s)
until [ "$(lab_router_established)" = 3 ]; do
  [ "$(elapsed "$t0" "$(now_s)" | cut -d. -f1)" -ge 60 ] && { lab_router_sessions; fail "BGP sessions did not come up"; }
  sleep 0.1
done
say "BGP sessions, as the router sees them (Established after $(elapsed "$t0" "$(now_s)") s)"
lab_router_sessions

say "Declaring Service default/web (type LoadBalancer, annotation lb.kubesphere.io/v1alpha1: porter) with an endpoint on every node"
t_declare=$(now_s)
lab_write_service
eip=$(lab_wait_service_ip 30) || fail "the controller assigned no EIP (see $LAB_DIR/controller.log)"
echo "Service default/web got EIP $eip from Eip lab-pool (203.0.113.10-203.0.113.20)"
lab_wait_nexthops "$eip" 3 60 || { lab_route "$eip"; fail "the router never held 3 next hops for $eip"; }
t_three=$(now_s)

say "Porter's own view (porter status: Services, the speakers' sessions, pools)"
sleep 1   # the speakers refresh their session reports every second
"$PORTER" status --manifests "$MANIFESTS"

say "The router's kernel route to $eip (ip route show $eip, in namespace router)"
lab_route "$eip"
before=$(lab_nexthops "$eip")

lab_workload_up "$eip"
say "30 HTTP requests from client to http://$eip:8080/ (each node answers with its name)"
spread=$(lab_client_fetch "$eip" 30)
echo "$spread"
answered=$(echo "$spread" | grep -c 'node')
[ "$answered" = 3 ] || fail "expected answers from all 3 nodes"

say "Stopping node3's speaker (SIGTERM, as Kubernetes would)"
t_stop=$(now_s)
lab_speaker_stop node3
lab_wait_nexthops "$eip" 2 120 || { lab_route "$eip"; fail "the route did not shrink to 2 next hops"; }
t_two=$(now_s)
lab_route "$eip"
after=$(lab_nexthops "$eip")

say "30 HTTP requests again"
spread=$(lab_client_fetch "$eip" 30)
echo "$spread"
echo "$spread" | grep -q FAILED && fail "some requests failed after node3 left"
echo "$spread" | grep -q node3 && fail "node3 still received traffic"

say "Figures (one run, not a benchmark)"
printf '  Service declared -> 3-way ECMP route in the router FIB: %s s\n' "$(elapsed "$t_declare" "$t_three")"
printf '  speaker stopped  -> 2-way ECMP route in the router FIB: %s s\n' "$(elapsed "$t_stop" "$t_two")"

[ "$before" = 3 ] && [ "$after" = 2 ] || fail "next hops: $before then $after (want 3 then 2)"
say "OK: the router held 3 next hops, then 2"
