# shellcheck shell=bash
# lab/lib.sh — Porter's network-namespace lab: the machinery shared by the demo (lab/demo.sh)
# and the end-to-end tests (crates/porter/tests/main/e2e_lab.rs, through lab/lab.sh).
#
#   client 10.98.0.2 ── router 10.98.0.1 | br0 10.99.0.1 ── node1 10.99.0.11
#                                                       ├── node2 10.99.0.12
#                                                       └── node3 10.99.0.13
#
# `router` runs a real routing daemon (FRR: zebra+bgpd, or BIRD 2), AS 64512. Each node runs
# `porter speaker` (AS 64513), which dials the router and announces the Service's EIP with the
# node itself as next hop; the router must then hold ONE route with three next hops (ECMP).
# One `porter controller` assigns the EIP from the Eip pool; all Porter processes read the same
# Kubernetes-style manifests folder (no cluster needed).
#
# Layer 2 mode (`lab.sh up-l2`, the lab_l2_* functions) has no router: see its section at the end.
#
# Every name is prefixed with $LAB_PREFIX so that several labs (e.g. the FRR and the BIRD e2e
# test) can run side by side. State lives in $LAB_DIR. Only processes recorded in $LAB_DIR/pids
# or running inside our own namespaces are ever killed.
#
# Knobs (environment), for the interop matrix; the defaults give the plain eBGP/IPv4 lab:
#   LAB_IBGP=1        nodes in the router's AS (iBGP) instead of AS 64513
#   LAB_FAMILY=4|6|dual  4: IPv4 EIP over IPv4 sessions; 6: IPv6 EIP over IPv6 sessions
#                     (fd00:99::/64); dual: IPv6 EIP over IPv4 sessions (MP-BGP)
#   LAB_MD5=secret    TCP MD5 on every session (Porter reads it from a Secret)
#   LAB_PASSIVE=1     Porter never dials: the router connects to the nodes' port 17900
#   LAB_GR=1          graceful restart on Porter's sessions (routers act as helpers)
#   LAB_COMMUNITY=a:b standard community on the Eip's routes
#   LAB_BFD=1         BFD (300 ms x 3) on every session: FRR's bfdd / BIRD's protocol bfd
#   LAB_BFD=multihop  the same over eBGP multihop sessions: multihop BFD (RFC 5883, port 4784);
#                     FRR only (BIRD resolves a multihop session's next hops through an IGP
#                     the lab does not run)
#   LAB_WECMP_UNIT=1M link bandwidth per ready endpoint of lab_write_weighted_service's Service
#                     (its bgp.porter.kubesphere.io/link-bandwidth-per-endpoint); empty = none: equal ECMP
#   LAB_GSHUT=1       the router honours RFC 8326: LOCAL_PREF 0 on routes carrying GRACEFUL_SHUTDOWN
#                     (65535:0), so a draining node leaves its multipath set (BIRD: an import filter;
#                     FRR 8.4's bgpd does it by itself, no configuration)
#   LAB_DRAIN=s       the speakers' --drain-seconds (unset: the binary's default)
#   LAB_HEALTH=tcp|http  lab_write_endpoints' Service asks for health probes of its endpoints
#                     (health.porter.kubesphere.io/probe), every 200 ms, 2 in a row changing the
#                     verdict (LAB_HEALTH_INTERVAL, LAB_HEALTH_THRESHOLD); empty = none

LAB_PREFIX=${LAB_PREFIX:-}
LAB_DIR=${LAB_DIR:-${TMPDIR:-/tmp}/porter-lab${LAB_PREFIX:+-$LAB_PREFIX}}
LAB_NODES=${LAB_NODES:-"node1 node2 node3"}
LAB_IBGP=${LAB_IBGP:-0}
LAB_FAMILY=${LAB_FAMILY:-4}
LAB_MD5=${LAB_MD5:-}
LAB_PASSIVE=${LAB_PASSIVE:-0}
LAB_GR=${LAB_GR:-0}
LAB_COMMUNITY=${LAB_COMMUNITY:-}
LAB_BFD=${LAB_BFD:-0}
LAB_WECMP_UNIT=${LAB_WECMP_UNIT-1M}
LAB_GSHUT=${LAB_GSHUT:-0}
LAB_DRAIN=${LAB_DRAIN:-}
LAB_HEALTH=${LAB_HEALTH:-}
LAB_HEALTH_INTERVAL=${LAB_HEALTH_INTERVAL:-200ms}
LAB_HEALTH_THRESHOLD=${LAB_HEALTH_THRESHOLD:-2}
ROUTER_AS=64512
if [ "$LAB_IBGP" = 1 ]; then NODE_AS=$ROUTER_AS; else NODE_AS=64513; fi
BGP_PORT=17900        # the nodes' listen port (OpenELB's documented default, so it never clashes with a CNI on 179)
MANIFESTS=$LAB_DIR/manifests
PIDFILE=$LAB_DIR/pids
FRR_BIN=${FRR_BIN:-/usr/lib/frr}

ns_name() { printf '%s%s' "$LAB_PREFIX" "$1"; }
in_ns() { local n; n=$(ns_name "$1"); shift; ip netns exec "$n" "$@"; }
lab_log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
record_pid() { echo "$1 $2" >>"$PIDFILE"; }
node_index() { echo "${1#node}"; }
node_ip() { echo "10.99.0.1$(node_index "$1")"; }
node_ip6() { echo "fd00:99::1$(node_index "$1")"; }
# Addresses the BGP sessions run between (IPv6 only with LAB_FAMILY=6).
session_node_ip() { if [ "$LAB_FAMILY" = 6 ]; then node_ip6 "$1"; else node_ip "$1"; fi; }
session_router_ip() { if [ "$LAB_FAMILY" = 6 ]; then echo fd00:99::1; else echo 10.99.0.1; fi; }
# The family of the Service's EIP, and its host prefix length.
eip_is_v6() { [ "$LAB_FAMILY" != 4 ]; }
host_len() { case "$1" in *:*) echo 128 ;; *) echo 32 ;; esac; }
ip_family() { case "$1" in *:*) echo ipv6 ;; *) echo ipv4 ;; esac; }

# ---------------------------------------------------------------- network
lab_net_up() {
  # a fresh cluster: no objects or status left from an earlier run
  rm -rf "$MANIFESTS"
  mkdir -p "$LAB_DIR" "$MANIFESTS"
  : >"$PIDFILE"
  local n
  for n in router client $LAB_NODES; do
    ip netns add "$(ns_name "$n")"
    in_ns "$n" ip link set lo up
  done
  # one L2 segment: bridge br0 inside `router`, each node plugs in with a veth pair
  in_ns router ip link add br0 type bridge
  in_ns router ip link set br0 up
  in_ns router ip addr add 10.99.0.1/24 dev br0
  in_ns router ip -6 addr add fd00:99::1/64 dev br0 nodad
  for n in $LAB_NODES; do
    ip link add eth0 netns "$(ns_name "$n")" type veth peer name "p-$n" netns "$(ns_name router)"
    in_ns router ip link set "p-$n" master br0 up
    in_ns "$n" ip link set eth0 up
    in_ns "$n" ip addr add "$(node_ip "$n")/24" dev eth0
    in_ns "$n" ip -6 addr add "$(node_ip6 "$n")/64" dev eth0 nodad
    in_ns "$n" ip route add default via 10.99.0.1
    in_ns "$n" ip -6 route add default via fd00:99::1
  done
  ip link add eth0 netns "$(ns_name client)" type veth peer name c-client netns "$(ns_name router)"
  in_ns client ip link set eth0 up
  in_ns router ip link set c-client up
  in_ns client ip addr add 10.98.0.2/24 dev eth0
  in_ns client ip -6 addr add fd00:98::2/64 dev eth0 nodad
  in_ns router ip addr add 10.98.0.1/24 dev c-client
  in_ns router ip -6 addr add fd00:98::1/64 dev c-client nodad
  in_ns client ip route add default via 10.98.0.1
  in_ns client ip -6 route add default via fd00:98::1
  in_ns router sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # hash on L4 ports, or one client always lands on the same next hop
  in_ns router sysctl -qw net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
}

lab_net_down() {
  lab_router_down 2>/dev/null || true
  if [ -f "$PIDFILE" ]; then
    local pid name
    while read -r pid name; do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
      case "$(ps -o comm= -p "$pid" 2>/dev/null)" in *"$name"*) kill -TERM "$pid" 2>/dev/null ;; esac
    done <"$PIDFILE"
  fi
  local n pid
  # `switch`: layer 2 mode's bridge (no router there)
  for n in router switch client $LAB_NODES; do
    for pid in $(ip netns pids "$(ns_name "$n")" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  sleep 0.2
  for n in router switch client $LAB_NODES; do ip netns del "$(ns_name "$n")" 2>/dev/null; done
  [ -f "$PIDFILE" ] && : >"$PIDFILE"
  rm -f "$LAB_DIR/l2"
  return 0
}

# ---------------------------------------------------------------- routers
# The router's bgpd.conf, printed (docs/routers.md shows it; crates/porter/tests/main/routers_doc.rs
# checks that the doc's blocks are exactly this). $1, if given, is a log file: the lab's only addition.
lab_frr_bgpd_conf() {
  local n
  echo "frr defaults traditional"
  echo "hostname router"
  [ -n "${1:-}" ] && echo "log file $1 informational"
  echo "router bgp $ROUTER_AS"
  echo " bgp router-id 10.99.0.1"
  echo " no bgp ebgp-requires-policy"
  echo " neighbor NODES peer-group"
  echo " neighbor NODES remote-as $NODE_AS"
  echo " neighbor NODES timers connect 1"
  [ -n "$LAB_MD5" ] && echo " neighbor NODES password $LAB_MD5"
  # FRR's BFD defaults are 300 ms x 3, as Porter's; bfdd must run beside bgpd
  [ "$LAB_BFD" = multihop ] && echo " neighbor NODES ebgp-multihop 2"
  [ "$LAB_BFD" != 0 ] && echo " neighbor NODES bfd"
  for n in $LAB_NODES; do
    echo " neighbor $(session_node_ip "$n") peer-group NODES"
    # FRR 8.4 does not pass a peer-group's `port` on to its members: set it per neighbor
    [ "$LAB_PASSIVE" = 1 ] && echo " neighbor $(session_node_ip "$n") port $BGP_PORT"
  done
  echo " address-family ipv4 unicast"
  echo "  maximum-paths 16"
  echo "  maximum-paths ibgp 16"
  echo " exit-address-family"
  echo " address-family ipv6 unicast"
  echo "  neighbor NODES activate"
  echo "  maximum-paths 16"
  echo "  maximum-paths ibgp 16"
  echo " exit-address-family"
}

lab_frr_up() {
  local d=$LAB_DIR/frr
  rm -rf "$d"; mkdir -p "$d"; chown frr:frr "$d"
  printf 'hostname router\nlog file %s/zebra.log informational\n' "$d" >"$d/zebra.conf"
  lab_frr_bgpd_conf "$d/bgpd.log" >"$d/bgpd.conf"
  chown frr:frr "$d"/*.conf
  # -z/--vty_socket/-i keep every socket and pid file inside the lab folder
  in_ns router "$FRR_BIN/zebra" -d -f "$d/zebra.conf" -i "$d/zebra.pid" -z "$d/zserv.api" \
    --vty_socket "$d" -u frr -g frr >"$d/zebra.out" 2>&1
  for _ in $(seq 50); do [ -S "$d/zserv.api" ] && break; sleep 0.1; done
  if [ "$LAB_BFD" != 0 ]; then
    printf 'hostname router\nlog file %s/bfdd.log informational\n' "$d" >"$d/bfdd.conf"
    chown frr:frr "$d/bfdd.conf"
    in_ns router "$FRR_BIN/bfdd" -d -f "$d/bfdd.conf" -i "$d/bfdd.pid" -z "$d/zserv.api" \
      --vty_socket "$d" --bfdctl "$d/bfdd.sock" -u frr -g frr >"$d/bfdd.out" 2>&1
  fi
  in_ns router "$FRR_BIN/bgpd" -d -f "$d/bgpd.conf" -i "$d/bgpd.pid" -z "$d/zserv.api" \
    --vty_socket "$d" -u frr -g frr >"$d/bgpd.out" 2>&1
  for _ in $(seq 50); do [ -s "$d/bgpd.pid" ] && break; sleep 0.1; done
  [ -s "$d/bgpd.pid" ] || { lab_log "bgpd did not start: $(cat "$d/bgpd.out")"; return 1; }
}

# The router's bird.conf, printed (docs/routers.md shows it; crates/porter/tests/main/routers_doc.rs
# checks that the doc's blocks are exactly this). $1, if given, is a log file: the lab's only addition.
lab_bird_conf() {
  local n opts="" channels="" port="" import="import all;"
  [ -n "${1:-}" ] && echo "log \"$1\" all;"
  echo "router id 10.99.0.1;"
  echo "protocol device { scan time 5; }"
  # without `merge paths on` only the best path reaches the kernel
  echo "protocol kernel k4 { ipv4 { export all; import none; }; merge paths on; }"
  echo "protocol kernel k6 { ipv6 { export all; import none; }; merge paths on; }"
  [ -n "$LAB_MD5" ] && opts="$opts password \"$LAB_MD5\";"
  # as an iBGP router BIRD would resolve the nodes' next hops recursively without `direct`
  [ "$LAB_IBGP" = 1 ] && opts="$opts direct;"
  if [ "$LAB_BFD" != 0 ]; then
    # BIRD's own defaults are faster (min rx 10 ms, multiplier 5): ask for FRR's and Porter's
    echo "protocol bfd { interface \"*\" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }"
    # after an error (a BFD failure is one) BIRD waits `error wait time` (60 s by default)
    # before it takes the session back: 1 s, so a restored link is used again at once
    opts="$opts bfd on; error wait time 1, 10;"
  fi
  [ "$LAB_PASSIVE" = 1 ] && port=" port $BGP_PORT"
  # RFC 8326: routes with GRACEFUL_SHUTDOWN get LOCAL_PREF 0, so they leave the merged paths
  if [ "$LAB_GSHUT" = 1 ]; then
    echo "filter nodes_in { if (65535, 0) ~ bgp_community then bgp_local_pref = 0; accept; }"
    import="import filter nodes_in;"
  fi
  [ "$LAB_FAMILY" != 6 ] && channels="ipv4 { $import export none; };"
  [ "$LAB_FAMILY" != 4 ] && channels="$channels ipv6 { $import export none; };"
  echo "template bgp nodes { local $(session_router_ip) as $ROUTER_AS; connect retry time 1;$opts $channels }"
  for n in $LAB_NODES; do echo "protocol bgp $n from nodes { neighbor $(session_node_ip "$n")$port as $NODE_AS; }"; done
}

lab_bird_up() {
  local d=$LAB_DIR/bird
  rm -rf "$d"; mkdir -p "$d"
  lab_bird_conf "$d/bird.log" >"$d/bird.conf"
  in_ns router bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" >"$d/bird.out" 2>&1
  for _ in $(seq 50); do [ -s "$d/bird.pid" ] && break; sleep 0.1; done
  [ -s "$d/bird.pid" ] || { lab_log "bird did not start: $(cat "$d/bird.out")"; return 1; }
}

# GoBGP has no FIB code of its own, and gobgpd 3.10's zebra client panics on FRR 8.4's
# zebra messages (seen here with every software-name), so a GoBGP router is checked through
# its own RIB (`gobgp global rib`), not the kernel.
lab_gobgp_up() {
  local d=$LAB_DIR/gobgp n
  rm -rf "$d"; mkdir -p "$d"
  {
    echo "[global.config]"
    echo "  as = $ROUTER_AS"
    echo "  router-id = \"10.99.0.1\""
    echo "[global.use-multiple-paths.config]"
    echo "  enabled = true"
    local fam
    for n in $LAB_NODES; do
      echo "[[neighbors]]"
      echo "  [neighbors.config]"
      echo "    neighbor-address = \"$(session_node_ip "$n")\""
      echo "    peer-as = $NODE_AS"
      [ -n "$LAB_MD5" ] && echo "    auth-password = \"$LAB_MD5\""
      echo "  [neighbors.timers.config]"
      echo "    connect-retry = 1"
      if [ "$LAB_PASSIVE" = 1 ]; then
        echo "  [neighbors.transport.config]"
        echo "    remote-port = $BGP_PORT"
      fi
      if [ "$LAB_GR" = 1 ]; then
        echo "  [neighbors.graceful-restart.config]"
        echo "    enabled = true"
      fi
      for fam in ipv4 ipv6; do
        [ "$fam" = ipv4 ] && [ "$LAB_FAMILY" = 6 ] && continue
        [ "$fam" = ipv6 ] && [ "$LAB_FAMILY" = 4 ] && continue
        echo "  [[neighbors.afi-safis]]"
        echo "    [neighbors.afi-safis.config]"
        echo "      afi-safi-name = \"$fam-unicast\""
        if [ "$LAB_GR" = 1 ]; then
          echo "    [neighbors.afi-safis.mp-graceful-restart.config]"
          echo "      enabled = true"
        fi
      done
    done
  } >"$d/gobgpd.toml"
  # the API listens on the router namespace's own loopback: parallel labs never meet
  ip netns exec "$(ns_name router)" gobgpd -f "$d/gobgpd.toml" -p --pprof-disable \
    --api-hosts 127.0.0.1:50051 >"$d/gobgpd.log" 2>&1 &
  local pid=$!; disown "$pid"; echo "$pid" >"$d/gobgpd.pid"
  for _ in $(seq 50); do in_ns router gobgp global >/dev/null 2>&1 && break; sleep 0.1; done
  in_ns router gobgp global >/dev/null 2>&1 || { lab_log "gobgpd did not start: $(tail -5 "$d/gobgpd.log")"; return 1; }
}

lab_router_up() {
  echo "$1" >"$LAB_DIR/router-kind"
  case "$1" in
    frr) lab_frr_up ;;
    bird) lab_bird_up ;;
    gobgp) lab_gobgp_up ;;
    *) lab_log "unknown router $1"; return 2 ;;
  esac
}

# SIGTERM, never SIGKILL first: zebra and bird then remove the routes they installed
lab_router_down() {
  local f pids="" p
  for f in "$LAB_DIR/frr/bgpd.pid" "$LAB_DIR/frr/bfdd.pid" "$LAB_DIR/frr/zebra.pid" "$LAB_DIR/bird/bird.pid" \
    "$LAB_DIR/gobgp/gobgpd.pid"; do
    [ -s "$f" ] && pids="$pids $(cat "$f")"
    rm -f "$f"
  done
  [ -n "$pids" ] || { rm -rf "$LAB_DIR/frr" "$LAB_DIR/bird" "$LAB_DIR/gobgp" "$LAB_DIR/router-kind"; return 0; }
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$LAB_DIR/frr" "$LAB_DIR/bird" "$LAB_DIR/gobgp" "$LAB_DIR/router-kind"
  return 0
}

# The router's own view of its BGP sessions, verbatim.
lab_router_kind() { cat "$LAB_DIR/router-kind" 2>/dev/null; }

lab_router_sessions() {
  case "$(lab_router_kind)" in
    frr) in_ns router vtysh --vty_socket "$LAB_DIR/frr" -c "show bgp summary" ;;
    bird) in_ns router birdc -s "$LAB_DIR/bird/bird.ctl" show protocols ;;
    gobgp) in_ns router gobgp neighbor ;;
  esac
}

# Number of BGP sessions the router has Established.
lab_router_established() {
  case "$(lab_router_kind)" in
    frr)
      in_ns router vtysh --vty_socket "$LAB_DIR/frr" -c "show bgp summary json" 2>/dev/null |
        python3 -c 'import json,sys
d=json.load(sys.stdin); peers={a for af in d.values() if isinstance(af,dict) for a,p in af.get("peers",{}).items() if p.get("state")=="Established"}; print(len(peers))' 2>/dev/null || echo 0 ;;
    bird) in_ns router birdc -s "$LAB_DIR/bird/bird.ctl" show protocols 2>/dev/null | grep -c 'Established' || true ;;
    gobgp) in_ns router gobgp neighbor 2>/dev/null | grep -c ' Establ ' || true ;;
    *) echo 0 ;;
  esac
}

# ---------------------------------------------------------------- routes
lab_route() { in_ns router ip "-$(case "$1" in *:*) echo 6 ;; *) echo 4 ;; esac)" route show "$1"; }

# The router's own BGP view of the host route to $1: the paths it holds, verbatim.
lab_router_rib() {
  case "$(lab_router_kind)" in
    frr) in_ns router vtysh --vty_socket "$LAB_DIR/frr" -c "show bgp $(ip_family "$1") unicast $1/$(host_len "$1")" ;;
    bird) in_ns router birdc -s "$LAB_DIR/bird/bird.ctl" show route "$1/$(host_len "$1")" all ;;
    gobgp) in_ns router gobgp global rib -a "$(ip_family "$1")" "$1/$(host_len "$1")" ;;
  esac
}

# Number of BGP paths (next hops) the router's RIB holds for $1/32.
lab_router_paths() {
  case "$(lab_router_kind)" in
    frr)
      in_ns router vtysh --vty_socket "$LAB_DIR/frr" -c "show bgp $(ip_family "$1") unicast $1/$(host_len "$1") json" 2>/dev/null |
        python3 -c 'import json,sys
print(len(json.load(sys.stdin).get("paths",[])))' 2>/dev/null || echo 0 ;;
    bird) in_ns router birdc -s "$LAB_DIR/bird/bird.ctl" show route "$1/$(host_len "$1")" 2>/dev/null | grep -c 'via' || true ;;
    gobgp)
      in_ns router gobgp global rib -a "$(ip_family "$1")" "$1/$(host_len "$1")" -j 2>/dev/null |
        python3 -c 'import json,sys
d=json.load(sys.stdin); print(sum(len(v) for v in d.values()) if isinstance(d,dict) else 0)' 2>/dev/null || echo 0 ;;
    *) echo 0 ;;
  esac
}

# Next hops of the router's kernel route to $1: prints the count (0 if there is no route).
lab_nexthops() {
  local out entries vias
  out=$(lab_route "$1" 2>/dev/null)
  entries=$(printf '%s\n' "$out" | grep -c '^[^[:space:]]' || true)
  vias=$(printf '%s\n' "$out" | grep -c 'via' || true)
  # two entries for one prefix would be two routes, not ECMP: report that as a failure (-1)
  if [ "$entries" -gt 1 ]; then echo -1; else echo "$vias"; fi
}

# Waits until the router's route to $1 has exactly $2 next hops, at most $3 seconds.
lab_wait_nexthops() {
  local t0 n; t0=$(now_s)
  while :; do
    n=$(lab_nexthops "$1")
    [ "$n" = "$2" ] && return 0
    [ "$(elapsed "$t0" "$(now_s)" | cut -d. -f1)" -ge "$3" ] && return 1
    sleep 0.02
  done
}

# ---------------------------------------------------------------- manifests (what a cluster would hold)
lab_write_base_manifests() {
  local n gr="" peer_extra="" eip_extra="" transport="" pool=203.0.113.10-203.0.113.20
  if [ "$LAB_GR" = 1 ]; then
    gr="
  gracefulRestart:
    enabled: true
    restartTime: 120"
  fi
  if [ -n "$LAB_MD5" ]; then
    # the password lives in a Secret, as it would in a cluster
    peer_extra="
    authPasswordSecretRef:
      namespace: porter-system
      name: bgp-password
      key: password"
    cat >"$MANIFESTS/secret.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: bgp-password
  namespace: porter-system
stringData:
  password: "$LAB_MD5"
EOF
  fi
  [ "$LAB_PASSIVE" = 1 ] && transport="
  transport:
    passiveMode: true"
  [ "$LAB_BFD" = multihop ] && transport="$transport
  ebgpMultihop:
    enabled: true
    multihopTtl: 2"
  [ "$LAB_BFD" != 0 ] && transport="$transport
  bfd:
    enabled: true"
  eip_is_v6 && pool=2001:db8:ffff::10-2001:db8:ffff::20
  [ -n "$LAB_COMMUNITY" ] && eip_extra="
  bgp:
    communities: [\"$LAB_COMMUNITY\"]"
  cat >"$MANIFESTS/bgp.yaml" <<EOF
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata:
  name: default
spec:
  as: $NODE_AS
  listenPort: $BGP_PORT$gr
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata:
  name: tor
spec:
  conf:
    peerAs: $ROUTER_AS
    neighborAddress: $(session_router_ip)$peer_extra
  timers:
    config:
      connectRetry: "1"$transport
EOF
  cat >"$MANIFESTS/eip.yaml" <<EOF
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: lab-pool
  annotations:
    eip.openelb.kubesphere.io/is-default-eip: "true"
spec:
  address: $pool
  protocol: bgp$eip_extra
EOF
  lab_write_cordoned   # the Nodes, none cordoned
  return 0
}

# A LoadBalancer Service opting in to Porter, with one ready endpoint on every node.
lab_write_service() {
  local n tmp=$LAB_DIR/service.yaml.tmp
  lab_service_head Cluster "" >"$tmp"
  for n in $LAB_NODES; do
    cat >>"$tmp" <<EOF
- addresses: ["$(if eip_is_v6; then node_ip6 "$n"; else node_ip "$n"; fi)"]
  nodeName: $n
  conditions:
    ready: true
EOF
  done
  mv "$tmp" "$MANIFESTS/service-web.yaml"   # atomic: readers never see half a file
}

# The Service `web` with externalTrafficPolicy $1 (Cluster, Local) and the head of its
# EndpointSlice up to `endpoints:`, printed; $2 = extra annotation lines (YAML, each starting
# with a newline).
lab_service_head() {
  local policy=$1 annotation=${2:-} family=IPv4
  eip_is_v6 && family=IPv6
  cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations:
    lb.kubesphere.io/v1alpha1: porter$annotation
spec:
  type: LoadBalancer
  externalTrafficPolicy: $policy
  ipFamilies: [$family]
  selector:
    app: web
  ports:
  - port: 8080
    protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-lab
  namespace: default
  labels:
    kubernetes.io/service-name: web
addressType: $family
ports:
- port: 8080
  protocol: TCP
endpoints:
EOF
}

# Weighted ECMP: the Service `web` again, now externalTrafficPolicy: Local with a link bandwidth
# of $LAB_WECMP_UNIT per endpoint, and its EndpointSlice as the endpoint controller would write
# it for $1 = "node1=1 node2=3" ready endpoints per node (a node not named runs none). The
# addresses are pods' (10.244.N.I): the lab's nodes answer for their pods (lab_workload_up).
lab_write_weighted_service() {
  local n i count tmp=$LAB_DIR/service.yaml.tmp annotation=""
  [ -n "$LAB_WECMP_UNIT" ] && annotation="
    bgp.porter.kubesphere.io/link-bandwidth-per-endpoint: \"$LAB_WECMP_UNIT\""
  lab_service_head Local "$annotation" >"$tmp"
  for n in $1; do
    count=${n#*=}; n=${n%%=*}
    for i in $(seq "$count"); do
      cat >>"$tmp" <<EOF
- addresses: ["$(if eip_is_v6; then echo "fd00:244:$(node_index "$n")::$i"; else echo "10.244.$(node_index "$n").$i"; fi)"]
  nodeName: $n
  conditions:
    ready: true
EOF
    done
  done
  # a Service with no endpoint at all
  grep -q nodeName "$tmp" || sed -i 's/^endpoints:$/endpoints: []/' "$tmp"
  mv "$tmp" "$MANIFESTS/service-web.yaml"
}

# The next hops of the router's kernel route to $1 with their weights, one "ADDRESS WEIGHT" a
# line (a single next hop prints weight 1, as the kernel counts it).
lab_nexthop_weights() {
  lab_route "$1" | awk '
    /nexthop via/ { for (i = 1; i <= NF; i++) { if ($i == "via") a = $(i+1); if ($i == "weight") w = $(i+1) }; print a, w; next }
    / via / { for (i = 1; i <= NF; i++) if ($i == "via") print $(i+1), 1 }'
}

# ---------------------------------------------------------------- porter
# The controller runs in the host's namespace, where labs running side by side (the e2e tests) would
# clash on its default metrics port: it takes any free loopback port, which its log names ("serving
# /metrics ... address="). Each speaker has its node's namespace to itself and keeps the default
# (ip netns exec NODE curl -s localhost:7579/metrics).
lab_porter_controller_up() {
  "$PORTER" controller --manifests "$MANIFESTS" --metrics-address 127.0.0.1:0 \
    >"$LAB_DIR/controller.log" 2>&1 &
  local pid=$!; disown "$pid"; record_pid "$pid" porter; echo "$pid" >"$LAB_DIR/controller.pid"
}

lab_speaker_up() {  # $1 = node
  ip netns exec "$(ns_name "$1")" "$PORTER" speaker --manifests "$MANIFESTS" --node "$1" \
    ${LAB_DRAIN:+--drain-seconds "$LAB_DRAIN"} >"$LAB_DIR/speaker-$1.log" 2>&1 &
  local pid=$!; disown "$pid"; record_pid "$pid" porter; echo "$pid" >"$LAB_DIR/speaker-$1.pid"
}

# Stops a node's speaker the way Kubernetes does (SIGTERM) and waits until it has exited.
lab_speaker_stop() {  # $1 = node
  local pid; pid=$(cat "$LAB_DIR/speaker-$1.pid")
  kill -TERM "$pid" 2>/dev/null
  # the drain time (default 5 s) and the close (3 s) first, as the pod's grace period allows
  for _ in $(seq $(( (${LAB_DRAIN:-5} + 5) * 20 ))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null; return 0
}

# Restarts a node's speaker: SIGTERM, wait for the exit, start again (an upgrade, say).
lab_speaker_restart() {  # $1 = node
  lab_speaker_stop "$1"
  lab_speaker_up "$1"
}

# gobgpd (OpenELB's engine) as node $1's speaker, for the benchmarks that put it beside Porter:
# it dials the router (port -1, no listening port: gobgpd takes it only from its config file)
# and announces $2 with the node as next hop and origin IGP, as Porter does, so the router
# counts the paths equal for ECMP. Stop the node's Porter speaker first.
lab_gobgpd_node_up() {  # $1 = node, $2 = EIP
  local d=$LAB_DIR/gobgpd-$1 ip pid
  ip=$(node_ip "$1")
  rm -rf "$d"; mkdir -p "$d"
  cat >"$d/gobgpd.toml" <<TOML
[global.config]
  as = $NODE_AS
  router-id = "$ip"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.99.0.1"
    peer-as = $ROUTER_AS
  [neighbors.timers.config]
    connect-retry = 1
TOML
  ip netns exec "$(ns_name "$1")" gobgpd -f "$d/gobgpd.toml" --pprof-disable \
    --api-hosts 127.0.0.1:50051 --log-level=warn >"$d/gobgpd.log" 2>&1 &
  pid=$!; disown "$pid"; record_pid "$pid" gobgpd; echo "$pid" >"$d/gobgpd.pid"
  for _ in $(seq 100); do
    in_ns "$1" gobgp global rib add "$2/$(host_len "$2")" nexthop "$ip" origin igp >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# SIGTERM to node $1's gobgpd, as a DaemonSet's rollout would send it; waits for the exit.
lab_gobgpd_node_stop() {  # $1 = node
  local pid; pid=$(cat "$LAB_DIR/gobgpd-$1/gobgpd.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null
}

# Cuts (down) or restores (up) node $1's cable: its port on the router's bridge. Neither end
# closes a TCP connection, so only BFD or the hold timer notices.
lab_link_set() {  # $1 = node, $2 = up|down
  in_ns "$(lab_bridge_ns)" ip link set "p-$1" "$2"
}

# The router's BFD sessions, verbatim.
lab_router_bfd() {
  case "$(lab_router_kind)" in
    frr) in_ns router vtysh --vty_socket "$LAB_DIR/frr" -c "show bfd peers brief" ;;
    bird) birdc -s "$LAB_DIR/bird/bird.ctl" show bfd sessions ;;
    *) echo "no BFD on this router" ;;
  esac
}

# Records the router's kernel route events (`ip monitor route`) until lab_monitor_stop,
# which prints them: proof that a route did or did not change in between.
lab_monitor_start() {
  ip -n "$(ns_name router)" monitor route >"$LAB_DIR/monitor.txt" 2>&1 &
  local pid=$!; disown "$pid"; record_pid "$pid" ip; echo "$pid" >"$LAB_DIR/monitor.pid"
  sleep 0.2
}
lab_monitor_stop() {
  kill "$(cat "$LAB_DIR/monitor.pid")" 2>/dev/null
  sleep 0.1
  cat "$LAB_DIR/monitor.txt"
}

# Deletes the Service (and its endpoints), as `kubectl delete` would.
lab_delete_service() { rm -f "$MANIFESTS/service-web.yaml"; }

# The EIP the controller wrote into the Service's status (empty until assigned).
lab_service_ip() { "$PORTER" status --manifests "$MANIFESTS" --service default/web --ip-only 2>/dev/null; }

lab_wait_service_ip() {  # $1 = timeout s; prints the IP
  local t0 ip; t0=$(now_s)
  while :; do
    ip=$(lab_service_ip)
    [ -n "$ip" ] && { echo "$ip"; return 0; }
    [ "$(elapsed "$t0" "$(now_s)" | cut -d. -f1)" -ge "$1" ] && return 1
    sleep 0.02
  done
}

# ---------------------------------------------------------------- workload (kube-proxy's part, emulated)
# Each node accepts the EIP (kube-proxy binds LoadBalancer IPs in a cluster) and serves its own name.
# Without an EIP (layer 2 mode: every pool address is on lo already) it only serves.
lab_workload_up() {  # $1 = EIP, optional
  local n
  for n in $LAB_NODES; do
    [ -z "${1:-}" ] || in_ns "$n" ip addr add "$1/$(host_len "$1")" dev lo 2>/dev/null || true
    mkdir -p "$LAB_DIR/www-$n"; echo "$n" >"$LAB_DIR/www-$n/index.html"
    # `::` is dual-stack: the node answers on its IPv4 and IPv6 EIPs alike
    ip netns exec "$(ns_name "$n")" python3 -m http.server 8080 --bind :: \
      --directory "$LAB_DIR/www-$n" >"$LAB_DIR/http-$n.log" 2>&1 &
    record_pid $! python3; disown $!
  done
  for n in $LAB_NODES; do
    for _ in $(seq 50); do in_ns "$n" curl -s -o /dev/null --max-time 1 "http://localhost:8080/" && break; sleep 0.1; done
  done
}

# $2 requests from the client to http://$1:8080/ (bounded); prints "count answer" lines.
lab_client_fetch() {
  local i host=$1
  case "$1" in *:*) host="[$1]" ;; esac
  for i in $(seq "$2"); do
    in_ns client curl -s --max-time 5 "http://$host:8080/" || echo FAILED
  done | sort | uniq -c
}

# ---------------------------------------------------------------- client loop (what a user sees)
# Many short HTTP requests from the client to the EIP, one after another, each on a new connection
# (a new source port: the router hashes each onto a path), until lab_client_loop_stop; that prints
# one JSON line: requests, failed, longest gap between two successes (ms), answers per node.
lab_client_loop_start() {  # $1 = EIP
  rm -f "$LAB_DIR/loop.stop" "$LAB_DIR/loop.json"
  ip netns exec "$(ns_name client)" python3 "$(dirname "${BASH_SOURCE[0]}")/client_loop.py" "$1" \
    --timeout 2 --seconds 86400 --stop-file "$LAB_DIR/loop.stop" --json "$LAB_DIR/loop.json" \
    >"$LAB_DIR/loop.log" 2>&1 &
  local pid=$!; disown "$pid"; record_pid "$pid" python3; echo "$pid" >"$LAB_DIR/loop.pid"
  sleep 0.5
}
lab_client_loop_stop() {
  touch "$LAB_DIR/loop.stop"
  for _ in $(seq 100); do [ -s "$LAB_DIR/loop.json" ] && break; sleep 0.05; done
  cat "$LAB_DIR/loop.json" 2>/dev/null || { echo "client loop gave no result:" >&2; cat "$LAB_DIR/loop.log" >&2; return 1; }
  echo
}

# The router's view of the EIP's path from $2 (a node address), as JSON lines of
# {"nexthop", "communities", "local_pref", "best_or_multipath"}: what RFC 8326 changes.
lab_router_path_of() {  # $1 = EIP, $2 = node address
  case "$(lab_router_kind)" in
    frr)
      in_ns router vtysh --vty_socket "$LAB_DIR/frr" -c "show bgp $(ip_family "$1") unicast $1/$(host_len "$1") json" 2>/dev/null |
        python3 -c 'import json,sys
node=sys.argv[1]
for p in json.load(sys.stdin).get("paths",[]):
    hops=[h.get("ip") for h in p.get("nexthops",[])]
    if node in hops:
        print(json.dumps({"nexthop":node,"communities":p.get("community",{}).get("string",""),
          "local_pref":p.get("locPrf"),"in_use":bool(p.get("bestpath") or p.get("multipath"))}))' "$2" ;;
    bird)
      in_ns router birdc -s "$LAB_DIR/bird/bird.ctl" show route "$1/$(host_len "$1")" all 2>/dev/null |
        python3 -c 'import json,re,sys
node=sys.argv[1]; cur=None; out=[]
for l in sys.stdin:
    if "unicast [" in l:
        cur={"nexthop":None,"communities":"","local_pref":None}; out.append(cur)
    elif cur is not None:
        m=re.match(r"\s+via (\S+)", l)
        if m: cur["nexthop"]=m.group(1)
        if "BGP.community:" in l: cur["communities"]=l.split(":",1)[1].strip()
        if "BGP.local_pref:" in l: cur["local_pref"]=int(l.split(":",1)[1])
for p in out:
    if p["nexthop"]==node: print(json.dumps(p))' "$2" ;;
  esac
}

# ---------------------------------------------------------------- drain before terminate
# The Service with `externalTrafficPolicy: Local` and its EndpointSlice as the endpoint
# controller writes it while Pods come and go: one endpoint per NODE=STATE argument, STATE one of
#   ready     a running Pod (Ready, Serving, not Terminating)
#   draining  a Pod that got its deletion and still serves (Ready false, Serving, Terminating)
#   stopped   a terminating Pod that no longer serves (Ready false, Serving false, Terminating)
#   gone      no endpoint on the node (the Pod is gone)
# e.g. lab_write_endpoints node1=ready node2=ready node3=draining
lab_write_endpoints() {
  local arg n state ready serving terminating tmp=$LAB_DIR/service.yaml.tmp annotation=""
  [ -n "$LAB_HEALTH" ] && annotation="
    health.porter.kubesphere.io/probe: $LAB_HEALTH
    health.porter.kubesphere.io/interval: $LAB_HEALTH_INTERVAL
    health.porter.kubesphere.io/threshold: \"$LAB_HEALTH_THRESHOLD\""
  lab_service_head Local "$annotation" >"$tmp"
  for arg in "$@"; do
    n=${arg%%=*} state=${arg#*=}
    case "$state" in
      ready) ready=true serving=true terminating=false ;;
      draining) ready=false serving=true terminating=true ;;
      stopped) ready=false serving=false terminating=true ;;
      gone) continue ;;
      *) echo "lab_write_endpoints: unknown state $state" >&2; return 2 ;;
    esac
    cat >>"$tmp" <<EOF
- addresses: ["$(if eip_is_v6; then node_ip6 "$n"; else node_ip "$n"; fi)"]
  nodeName: $n
  conditions: {ready: $ready, serving: $serving, terminating: $terminating}
EOF
  done
  mv "$tmp" "$MANIFESTS/service-web.yaml"   # atomic: readers never see half a file
}

# Writes the Node objects (both InternalIPs, Ready), cordoning (`kubectl cordon`) the nodes
# named and uncordoning the others: `spec.unschedulable: true` on those.
lab_write_cordoned() {  # $@ = cordoned nodes (none: uncordon all)
  local n c tmp=$LAB_DIR/nodes.yaml.tmp
  : >"$tmp"
  for n in $LAB_NODES; do
    c=false
    case " $* " in *" $n "*) c=true ;; esac
    cat >>"$tmp" <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $n
spec:
  unschedulable: $c
status:
  addresses:
  - type: InternalIP
    address: $(node_ip "$n")
  - type: InternalIP
    address: $(node_ip6 "$n")
  conditions:
  - type: Ready
    status: "True"
EOF
  done
  mv "$tmp" "$MANIFESTS/nodes.yaml"
}

# Stops node $1's HTTP server (the Pod's process exits): the one listening on :8080 in that
# node's own namespace.
lab_http_stop() {  # $1 = node
  local pid
  pid=$(in_ns "$1" ss -Hltnp 'sport = :8080' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  # gone once nothing listens (`kill -0` would also succeed on the exited, unreaped process)
  for _ in $(seq 50); do [ -z "$(in_ns "$1" ss -Hltn 'sport = :8080')" ] && return 0; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null; return 0
}

# Starts node $1's HTTP server again (a new Pod on the node), as lab_workload_up does.
lab_http_start() {  # $1 = node
  local n=$1
  ip netns exec "$(ns_name "$n")" python3 -m http.server 8080 --bind :: \
    --directory "$LAB_DIR/www-$n" >>"$LAB_DIR/http-$n.log" 2>&1 &
  record_pid $! python3; disown $!
  for _ in $(seq 50); do in_ns "$n" curl -s -o /dev/null --max-time 1 "http://localhost:8080/" && return 0; sleep 0.1; done
  return 1
}

# Starts the client loop (lab/client_loop.py) against $1 in the client namespace; lab_client_stop
# ends it and prints its summary line.
lab_client_start() {  # $1 = EIP
  rm -f "$LAB_DIR/client.stop" "$LAB_DIR/client.out"
  ip netns exec "$(ns_name client)" python3 "$(dirname "${BASH_SOURCE[0]}")/client_loop.py" "$1" \
    --seconds 600 --stop-file "$LAB_DIR/client.stop" >"$LAB_DIR/client.out" 2>&1 &
  local pid=$!; disown "$pid"; record_pid "$pid" python3; echo "$pid" >"$LAB_DIR/client.pid"
}
lab_client_stop() {
  local pid; pid=$(cat "$LAB_DIR/client.pid")
  touch "$LAB_DIR/client.stop"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  cat "$LAB_DIR/client.out"
}

# ---------------------------------------------------------------- layer 2 mode (issue 14)
# No router: client and nodes share one segment, a bridge in its own namespace `switch`.
#
#   client 10.99.0.100 ─┐
#   node1  10.99.0.11  ─┤ br0 (namespace switch, no address)
#   node2  10.99.0.12  ─┤
#   node3  10.99.0.13  ─┘      (and fd00:99::100, fd00:99::1N)
#
# Eip `lab-l2` (10.99.0.200-10.99.0.229) and `lab-l2-v6` (fd00:99::200-fd00:99::21d), both
# `protocol: layer2, interface: eth0`; $LAB_L2_SERVICES Services of each family (l2v4-I, l2v6-I)
# with an endpoint on every node (externalTrafficPolicy: Cluster), so each holds one address.
# Every node accepts every pool address on lo, as kube-proxy would (IPVS binds them to a dummy
# device), with arp_ignore=1 / arp_announce=2 so its kernel never answers ARP for them on eth0
# (IPv6 needs nothing: Linux answers a Neighbor Solicitation only for addresses on the interface
# it came in on): only the speaker owning an address answers for it.
# The nodes' MACs are fixed (02:99:00:00:00:1N, the client 02:99:00:00:01:00) to read them easily.
LAB_L2_SERVICES=${LAB_L2_SERVICES:-30}
# Up to 30 Services per family the pools hold 30 addresses each; more (up to 150, for
# bench/l2_many.sh) take the IPv4 pool from 10.99.0.101 on (the client is .100) and grow the IPv6
# one, so the lab's usual addresses never change.
l2_pool_size() { if [ "$LAB_L2_SERVICES" -le 30 ]; then echo 30; else echo "$LAB_L2_SERVICES"; fi; }
l2_pool4_first() { if [ "$LAB_L2_SERVICES" -le 30 ]; then echo 200; else echo 101; fi; }
l2_pool4() { echo "10.99.0.$(l2_pool4_first)-10.99.0.$(($(l2_pool4_first) + $(l2_pool_size) - 1))"; }
l2_pool6() { printf 'fd00:99::200-fd00:99::%x\n' "$((0x200 + $(l2_pool_size) - 1))"; }
# Every address of both pools, one a line.
l2_pool_addresses() {
  local i
  for i in $(seq 0 $(($(l2_pool_size) - 1))); do echo "10.99.0.$(($(l2_pool4_first) + i))"; done
  for i in $(seq 0 $(($(l2_pool_size) - 1))); do printf 'fd00:99::%x\n' "$((0x200 + i))"; done
}
node_mac() { echo "02:99:00:00:00:1$(node_index "$1")"; }
# The namespace holding the bridge the nodes plug into: `switch` in layer 2 mode, else `router`.
lab_bridge_ns() { if [ -e "$LAB_DIR/l2" ]; then echo switch; else echo router; fi; }

lab_l2_net_up() {
  rm -rf "$MANIFESTS"
  mkdir -p "$LAB_DIR" "$MANIFESTS"
  : >"$PIDFILE"
  touch "$LAB_DIR/l2"
  local n a
  for n in switch client $LAB_NODES; do
    ip netns add "$(ns_name "$n")"
    in_ns "$n" ip link set lo up
  done
  in_ns switch ip link add br0 type bridge
  in_ns switch ip link set br0 up
  for n in $LAB_NODES; do
    ip link add eth0 netns "$(ns_name "$n")" type veth peer name "p-$n" netns "$(ns_name switch)"
    in_ns switch ip link set "p-$n" master br0 up
    in_ns "$n" ip link set eth0 address "$(node_mac "$n")"
    in_ns "$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
    in_ns "$n" ip link set eth0 up
    in_ns "$n" ip addr add "$(node_ip "$n")/24" dev eth0
    in_ns "$n" ip -6 addr add "$(node_ip6 "$n")/64" dev eth0 nodad
    for a in $(l2_pool_addresses); do in_ns "$n" ip addr add "$a/$(host_len "$a")" dev lo; done
  done
  ip link add eth0 netns "$(ns_name client)" type veth peer name p-client netns "$(ns_name switch)"
  in_ns switch ip link set p-client master br0 up
  in_ns client ip link set eth0 address 02:99:00:00:01:00
  in_ns client ip link set eth0 up
  in_ns client ip addr add 10.99.0.100/24 dev eth0
  in_ns client ip -6 addr add fd00:99::100/64 dev eth0 nodad
}

# The Eips, the membership Secret, the Nodes.
lab_l2_write_manifests() {
  local n key
  key=$(head -c 32 /dev/urandom | base64 -w0)
  cat >"$MANIFESTS/secret-member.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: porter-member
  namespace: porter-system
data:
  key: $key
YAML
  cat >"$MANIFESTS/eip.yaml" <<YAML
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: lab-l2
spec:
  address: $(l2_pool4)
  protocol: layer2
  interface: eth0
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: lab-l2-v6
spec:
  address: $(l2_pool6)
  protocol: layer2
  interface: eth0
YAML
  lab_write_cordoned   # the Nodes, none cordoned
}

# $LAB_L2_SERVICES Services per family, each with one endpoint per node (the node's address).
lab_l2_write_services() {
  local i n fam pool family tmp=$LAB_DIR/services-l2.yaml.tmp
  : >"$tmp"
  for fam in 4 6; do
    if [ $fam = 4 ]; then pool=lab-l2 family=IPv4; else pool=lab-l2-v6 family=IPv6; fi
    for i in $(seq 0 $((LAB_L2_SERVICES - 1))); do
      cat >>"$tmp" <<YAML
---
apiVersion: v1
kind: Service
metadata:
  name: l2v$fam-$i
  namespace: default
  annotations:
    lb.kubesphere.io/v1alpha1: porter
    eip.porter.kubesphere.io/v1alpha2: $pool
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  ipFamilies: [$family]
  ports:
  - port: 8080
    protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: l2v$fam-$i-lab
  namespace: default
  labels:
    kubernetes.io/service-name: l2v$fam-$i
addressType: $family
ports:
- port: 8080
  protocol: TCP
endpoints:
YAML
      for n in $LAB_NODES; do
        cat >>"$tmp" <<YAML
- addresses: ["$(if [ $fam = 6 ]; then node_ip6 "$n"; else node_ip "$n"; fi)"]
  nodeName: $n
  conditions:
    ready: true
YAML
      done
    done
  done
  mv "$tmp" "$MANIFESTS/services-l2.yaml"   # atomic: readers never see half a file
}

# "SERVICE EIP" for every layer 2 Service that holds an address, one a line (read from one
# `porter status`: its table's first columns are the Service and its address, "-" for none).
lab_l2_eips() {
  "$PORTER" status --manifests "$MANIFESTS" 2>/dev/null |
    awk '$1 ~ /^default\/l2v[46]-[0-9]+$/ && $2 ~ /^[0-9a-f.:]+$/ && $2 ~ /[.:]/ { sub(/^default\//, "", $1); print $1, $2 }' |
    sort -t- -k1,1 -k2,2n
}

# Waits (at most $1 s) until every layer 2 Service holds an address; prints lab_l2_eips.
lab_l2_wait_eips() {
  local t0 out; t0=$(now_s)
  while :; do
    out=$(lab_l2_eips)
    [ "$(printf '%s\n' "$out" | grep -c .)" = $((2 * LAB_L2_SERVICES)) ] && { echo "$out"; return 0; }
    [ "$(elapsed "$t0" "$(now_s)" | cut -d. -f1)" -ge "$1" ] && { echo "$out"; return 1; }
    sleep 0.2
  done
}

# The client's neighbour entry for $1: "LLADDR STATE", or nothing without one.
lab_l2_neigh() {
  in_ns client ip neigh show "$1" dev eth0 | awk '{ for (i = 1; i <= NF; i++) if ($i == "lladdr") print $(i+1), $NF }'
}

# One request from the client to $1, at most $2 s (default 1): the answering node, or FAILED.
lab_l2_fetch_one() {
  local host=$1
  case "$1" in *:*) host="[$1]" ;; esac
  in_ns client curl -s --max-time "${2:-1}" "http://$host:8080/" || echo FAILED
}

# SIGKILL node $1's speaker (a crash: no leave message) and waits until it is gone.
lab_speaker_kill() {  # $1 = node
  local pid; pid=$(cat "$LAB_DIR/speaker-$1.pid")
  kill -KILL "$pid" 2>/dev/null
  # a zombie is gone too: its parent (whoever adopted it) may be slow to reap it
  for _ in $(seq 100); do
    case "$(ps -o stat= -p "$pid" 2>/dev/null)" in "" | Z*) return 0 ;; esac
    sleep 0.02
  done
  return 0
}
