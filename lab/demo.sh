#!/usr/bin/env bash
# lab/demo.sh — Porter end to end on one machine, no cluster: the README's main command.
#
# Builds network namespaces `router`, `node1..3` and `client`; runs a real FRR in `router`
# (or BIRD 2: `lab/demo.sh bird`), `porter controller` and a `porter speaker` per node; declares
# an Eip pool and a LoadBalancer Service with endpoints on all three nodes; then shows the
# EIP, the BGP sessions, the router's ECMP route and a client spreading over the nodes. It then
# stops node3's speaker and shows the route shrink to two next hops while the client is still
# served. Exits 0 only if the router held 3 next hops, then 2. Cleans up on exit, Ctrl-C or error.
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

say "Building porter (release)"
(cd "$repo" && cargo build --release -q -p porter) || fail "build failed"
PORTER=$repo/target/release/porter

trap 'lab_net_down' EXIT
trap 'trap - EXIT; lab_net_down; exit 130' INT TERM
lab_net_down

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
