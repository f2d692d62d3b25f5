#!/usr/bin/env bash
# lab/lab.sh — step-by-step control of the Porter lab, for tests and for exploring by hand.
#
#   lab/lab.sh up frr|bird|gobgp  build the lab, start the router, the controller and a speaker per node,
#                              declare the Service; prints "EIP <address>" once it is assigned
#   lab/lab.sh up-l2           layer 2 mode instead (no router): client and nodes on one bridge, Eips
#                              `protocol: layer2` (IPv4 and IPv6), $LAB_L2_SERVICES Services of
#                              each family; prints "EIP SERVICE ADDRESS" for each once assigned
#   lab/lab.sh eips            the layer 2 Services' addresses again ("EIP SERVICE ADDRESS")
#   lab/lab.sh mac N           node N's MAC on the shared segment
#   lab/lab.sh neigh EIP       the client's neighbour entry for EIP: "MAC STATE" (nothing: none)
#   lab/lab.sh fetch-one EIP [S]  one request from the client, at most S s: the node, or FAILED
#   lab/lab.sh kill-speaker N  SIGKILL the speaker of node N (a crash: no goodbye)
#   lab/lab.sh start-speaker N  start node N's speaker again
#   lab/lab.sh stop-speaker N  SIGTERM the speaker of node N (e.g. node3) and wait for it to exit
#   lab/lab.sh restart-speaker N  stop it, then start it again
#   lab/lab.sh link-down N / link-up N  cut node N's cable at the router's bridge (both ends lose
#                              carrier; no TCP connection is closed), or plug it back
#   lab/lab.sh freeze-speaker N / thaw-speaker N  SIGSTOP / SIGCONT node N's speaker: a hung
#                              node that keeps its TCP connections open
#   lab/lab.sh gobgpd-node-up N EIP / gobgpd-node-stop N  gobgpd (OpenELB's engine) as node N's
#                              speaker announcing EIP (stop node N's speaker first), or SIGTERM it
#   lab/lab.sh bfd             the router's view of its BFD sessions, verbatim
#   lab/lab.sh monitor-start / monitor-stop  record the router's kernel route events; print them
#   lab/lab.sh delete-service  delete the Service, as kubectl delete would
#   lab/lab.sh weighted-service "node1=1 node2=3"  the Service as externalTrafficPolicy: Local,
#                              weighted by endpoints (LAB_WECMP_UNIT), with that many ready endpoints
#   lab/lab.sh weights EIP     the next hops of the router's kernel route to EIP and their weights
#   lab/lab.sh route EIP       the router's kernel route to EIP, verbatim
#   lab/lab.sh rib EIP         the router's own BGP view of the EIP's host route (vtysh, birdc, gobgp)
#   lab/lab.sh paths EIP       how many BGP paths the router holds for it
#   lab/lab.sh fetch EIP N     N HTTP requests from the client namespace, answers counted per node
#   lab/lab.sh loop-start EIP / loop-stop  a client loop of short requests; stop prints its JSON result
#   lab/lab.sh path-of EIP NODE_IP  the router's path to EIP via that node: communities, LOCAL_PREF
#   lab/lab.sh sessions        the router's view of its BGP sessions
#   lab/lab.sh established     how many of them are Established
#   lab/lab.sh endpoints N=S ...  rewrite the Service (externalTrafficPolicy: Local) and its
#                              EndpointSlice: one endpoint per node N in state S (ready, draining:
#                              terminating and still serving, stopped, gone)
#   lab/lab.sh cordon [N ...]  cordon these nodes (spec.unschedulable), uncordon the others
#   lab/lab.sh http-stop N / http-start N  stop node N's HTTP server (the Pod's process exits),
#                              or start it again
#   lab/lab.sh client-start EIP / client-stop  a client loop (lab/client_loop.py) in the client
#                              namespace; client-stop ends it and prints its summary
#   lab/lab.sh down            stop everything this lab started and delete its namespaces
#
# Environment: PORTER (path of the porter binary, required for `up`), LAB_PREFIX (namespace name
# prefix, default none), LAB_DIR (state folder), and the LAB_* knobs of lib.sh (iBGP, IPv6, MD5,
# passive, graceful restart, communities). Needs root, iproute2, frr, bird2, gobgpd, python3, curl.
# no `set -e`: cleanup paths must survive failing commands; every step that matters is checked
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || { echo "lab.sh: needs root (network namespaces)" >&2; exit 2; }

case "${1:-}" in
  up)
    router=${2:?usage: lab.sh up frr|bird|gobgp}
    : "${PORTER:?set PORTER to the porter binary}"
    lab_net_down
    lab_net_up || { echo "cannot build the lab network" >&2; exit 1; }
    lab_router_up "$router" || exit 1
    lab_write_base_manifests
    lab_porter_controller_up
    for n in $LAB_NODES; do lab_speaker_up "$n"; done
    lab_write_service
    eip=$(lab_wait_service_ip 30) || { echo "no EIP assigned; controller log:" >&2; cat "$LAB_DIR/controller.log" >&2; exit 1; }
    lab_workload_up "$eip"
    echo "EIP $eip"
    ;;
  up-l2)
    : "${PORTER:?set PORTER to the porter binary}"
    lab_net_down
    lab_l2_net_up || { echo "cannot build the layer 2 lab network" >&2; exit 1; }
    lab_l2_write_manifests
    lab_porter_controller_up
    for n in $LAB_NODES; do lab_speaker_up "$n"; done
    lab_l2_write_services
    eips=$(lab_l2_wait_eips 60) || { echo "not every Service got an address; controller log:" >&2; cat "$LAB_DIR/controller.log" >&2; exit 1; }
    lab_workload_up
    printf '%s\n' "$eips" | sed 's/^/EIP /'
    ;;
  eips) lab_l2_eips | sed 's/^/EIP /' ;;
  mac) in_ns "${2:?node}" ip -br link show eth0 | awk '{print $3}' ;;
  neigh) lab_l2_neigh "${2:?EIP}" ;;
  fetch-one) lab_l2_fetch_one "${2:?EIP}" "${3:-1}" ;;
  kill-speaker) lab_speaker_kill "${2:?node}" ;;
  start-speaker) lab_speaker_up "${2:?node}" ;;
  stop-speaker) lab_speaker_stop "${2:?node}" ;;
  restart-speaker) lab_speaker_restart "${2:?node}" ;;
  link-down) lab_link_set "${2:?node}" down ;;
  link-up) lab_link_set "${2:?node}" up ;;
  freeze-speaker) kill -STOP "$(cat "$LAB_DIR/speaker-${2:?node}.pid")" ;;
  thaw-speaker) kill -CONT "$(cat "$LAB_DIR/speaker-${2:?node}.pid")" ;;
  gobgpd-node-up) lab_gobgpd_node_up "${2:?node}" "${3:?EIP}" ;;
  gobgpd-node-stop) lab_gobgpd_node_stop "${2:?node}" ;;
  bfd) lab_router_bfd ;;
  monitor-start) lab_monitor_start ;;
  monitor-stop) lab_monitor_stop ;;
  delete-service) lab_delete_service ;;
  weighted-service) lab_write_weighted_service "${2:?node=count ...}" ;;
  weights) lab_nexthop_weights "${2:?EIP}" ;;
  route) lab_route "${2:?EIP}" ;;
  rib) lab_router_rib "${2:?EIP}" ;;
  paths) lab_router_paths "${2:?EIP}" ;;
  fetch) lab_client_fetch "${2:?EIP}" "${3:-30}" ;;
  loop-start) lab_client_loop_start "${2:?EIP}" ;;
  loop-stop) lab_client_loop_stop ;;
  path-of) lab_router_path_of "${2:?EIP}" "${3:?node address}" ;;
  sessions) lab_router_sessions ;;
  established) lab_router_established ;;
  endpoints) shift; lab_write_endpoints "$@" ;;
  cordon) shift; lab_write_cordoned "$@" ;;
  http-stop) lab_http_stop "${2:?node}" ;;
  http-start) lab_http_start "${2:?node}" ;;
  client-start) lab_client_start "${2:?EIP}" ;;
  client-stop) lab_client_stop ;;
  down) lab_net_down ;;
  *) sed -n '2,/^# no .set -e/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
