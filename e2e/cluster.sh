#!/usr/bin/env bash
# e2e/cluster.sh — Porter on a real Kubernetes cluster, installed as a user installs it.
#
# Runs against the cluster of ../shared/kcluster (Kubernetes 1.28 in network namespaces: kc-node,
# kc-node2, an FRR router in kc-router, a client in kc-client) and, for the CRDs' CEL rules, against a
# Kubernetes 1.32 API server of ../shared/kapi (KAPI132, default /tmp/kapi132). docs/testing.md says how
# to build both. It:
#   * builds Porter's image (scripts/image.sh) and imports the OCI archive into every node's containerd;
#   * installs Porter with `kubectl apply -k` (deploy/ plus, on a pre-1.31 server, the component
#     deploy/components/pre-1.31), then a BgpConf, a BgpPeer for the router, an Eip and a backend;
#   * checks, printing PASS/FAIL per check and "N passed, M failed" at the end: the CRD rules on 1.32,
#     address assignment, the router's multipath route, HTTP through kube-proxy, the client's source
#     address with externalTrafficPolicy Local, a controller restart that writes nothing, a rolling
#     restart of the speakers that loses no request, cordoned and stopped speakers leaving the route
#     while the client is served, a hung speaker leaving it within BFD's detection time, a node whose
#     Pod fails its health probe leaving the route to an externalTrafficPolicy Local Service, route
#     withdrawal on Service delete, metrics, and no 403 for Porter's
#     ServiceAccounts in the API server's audit log.
#
# With no cluster up it prints why and exits 0 ("skipped"), so scripts/test.sh can call it anywhere.
# Porter is left installed afterwards (for a look around); KEEP=0 uninstalls it.
#
#   e2e/cluster.sh                 # the whole suite
#   ONLY="address route" e2e/cluster.sh   # some checks (names as printed in brackets)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${KCLUSTER_KIT:-$ROOT/../shared/kcluster}
KAPI132=${KAPI132:-/tmp/kapi132}
KEEP=${KEEP:-1}
ONLY=${ONLY:-}
WORK=$ROOT/target/e2e-cluster
NS=porter-system
POOL_FIRST=203.0.113.10
POOL=203.0.113.10-203.0.113.19

skip() { echo "skipped: $*"; exit 0; }
[ -f "$KIT/common.sh" ] || skip "no cluster kit at $KIT (KCLUSTER_KIT); see docs/testing.md, 'Real cluster'"
# shellcheck source=/dev/null
source "$KIT/common.sh"
[ "$(id -u)" = 0 ] || skip "the cluster lives in network namespaces: run as root"
[ -x "$KCLU/bin/kubectl" ] || skip "no cluster built at $KCLU: build it with $KIT/build.sh (docs/testing.md)"
[ -e /run/netns/kc-node ] && timeout 10 nsenter --net=/run/netns/kc-node -- \
  "$KCLU/bin/kubectl" --kubeconfig "$KCLU/admin.kubeconfig" get --raw /readyz >/dev/null 2>&1 ||
  skip "the cluster at $KCLU is not up: $KIT/up.sh (NODES=2 for the multipath checks) and $KIT/router.sh"

mkdir -p "$WORK"
pass=0; fail=0; failed=()
say() { printf '\n== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
# check NAME DESCRIPTION CMD...: runs CMD, counts PASS/FAIL.
check() {
  local name=$1 what=$2; shift 2
  wanted "$name" || return 0
  if "$@"; then echo "PASS [$name] $what"; pass=$((pass + 1))
  else echo "FAIL [$name] $what"; fail=$((fail + 1)); failed+=("$name"); fi
}
# retry SECONDS CMD...: until CMD succeeds, every 0.5 s.
retry() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.5; done; }
router() { nsenter --net=/run/netns/kc-router -- "$@"; }
client() { nsenter --net=/run/netns/kc-client -- "$@"; }
vtysh_router() { router vtysh --vty_socket "$KCLU/frr" -c "$1"; }

# ------------------------------------------------------------------ the router
if ! router true 2>/dev/null || ! pid_is "$(cat "$KCLU/frr/bgpd.pid" 2>/dev/null)" bgpd; then
  say "starting the router (FRR) in kc-router"
  "$KIT/router.sh" >/dev/null || { echo "FAIL: router.sh"; exit 1; }
fi
NODE_LIST=()
for i in $(seq 1 "$NODES"); do node_vars "$i"; NODE_LIST+=("$N_NAME:$N_IP"); done
node_ip() { local n; for n in "${NODE_LIST[@]}"; do [ "${n%%:*}" = "$1" ] && echo "${n#*:}"; done; }

# ------------------------------------------------------------------ image
COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD)
IMAGE=kclu.local/porter:$COMMIT
ARCHIVE=$WORK/porter.oci.tar
say "image $IMAGE (scripts/image.sh)"
OUT=$ARCHIVE "$ROOT/scripts/image.sh" "$IMAGE" || { echo "FAIL: scripts/image.sh"; exit 1; }
for i in $(seq 1 "$NODES"); do
  node_vars "$i"
  nsenter --mount="$N_MNTNS" -- ctr -a "$N_SOCK" -n k8s.io images import "$ARCHIVE" >/dev/null ||
    { echo "FAIL: importing $ARCHIVE into $N_NAME's containerd"; exit 1; }
done
echo "imported into ${NODE_LIST[*]%%:*}"

# ------------------------------------------------------------------ install, as a user would
SERVER_MINOR=$(kc version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["minor"].rstrip("+"))')
OVERLAY=$WORK/overlay
mkdir -p "$OVERLAY"
{
  echo "# Written by e2e/cluster.sh: deploy/ with this build's image."
  echo "resources: [../../../deploy]"
  [ "$SERVER_MINOR" -lt 31 ] && echo "components: [../../../deploy/components/pre-1.31]"
  echo "images:"
  echo "  - {name: ghcr.io/porter-lb/porter, newName: ${IMAGE%:*}, newTag: \"$COMMIT\"}"
} >"$OVERLAY/kustomization.yaml"
say "kubectl apply -k (server 1.$SERVER_MINOR$([ "$SERVER_MINOR" -lt 31 ] && echo ', with components/pre-1.31'))"
# Where the audit log stands before Porter exists: the 403 check reads only what comes after.
AUDIT=$KCLU/logs/audit.log
AUDIT_FROM=$(wc -l <"$AUDIT" 2>/dev/null || echo 0)
# The layer 2 membership key, created once as deploy/porter.yaml says (before the speakers start, so
# they read it at once; a speaker re-reads a missing Secret every minute).
kc get namespace "$NS" >/dev/null 2>&1 || kc create namespace "$NS" >/dev/null
kc -n "$NS" get secret porter-member >/dev/null 2>&1 ||
  kc -n "$NS" create secret generic porter-member --from-file=key=<(head -c 32 /dev/urandom) >/dev/null ||
  { echo "FAIL: creating Secret porter-member"; exit 1; }
kc apply --server-side --force-conflicts -k "$OVERLAY" >/dev/null || { echo "FAIL: kubectl apply -k"; exit 1; }
kc wait --for=condition=Established crd/eips.network.kubesphere.io crd/bgpconfs.network.kubesphere.io \
  crd/bgppeers.network.kubesphere.io --timeout=30s >/dev/null
kc apply -f - >/dev/null <<YAML
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {name: default}
spec:
  as: 64513
  # the router dials port 179 and is refused; the speakers dial it (no NET_BIND_SERVICE needed)
  listenPort: 17900
  gracefulRestart: {enabled: true, restartTime: 30}
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {name: kc-router}
spec:
  conf: {peerAs: 64512, neighborAddress: 10.210.0.1}
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: e2e-pool
  annotations: {eip.openelb.kubesphere.io/is-default-eip: "true"}
spec:
  address: $POOL
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: e2e-web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: e2e-web}}
  template:
    metadata: {labels: {app: e2e-web}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: e2e-web}}, matchLabelKeys: [pod-template-hash]}
      containers:
      - name: web
        image: kclu.local/web:1
        imagePullPolicy: Never
        ports: [{containerPort: 80}]
        readinessProbe: {httpGet: {path: /index.html, port: 80}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata:
  name: e2e-cluster
  namespace: default
  annotations: {lb.kubesphere.io/v1alpha1: porter}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  selector: {app: e2e-web}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: e2e-local
  namespace: default
spec:
  type: LoadBalancer
  loadBalancerClass: porter.kubesphere.io/bgp
  externalTrafficPolicy: Local
  selector: {app: e2e-web}
  ports: [{name: http, port: 80, targetPort: 80}]
YAML
for w in deploy/porter-controller ds/porter-speaker; do
  kc -n "$NS" rollout status "$w" --timeout=180s >/dev/null || { echo "FAIL: $w did not roll out"; kc -n "$NS" get pods -o wide; exit 1; }
done
kc -n default rollout status deploy/e2e-web --timeout=120s >/dev/null || { echo "FAIL: backend did not roll out"; exit 1; }
kc -n "$NS" get pods -o wide

# ------------------------------------------------------------------ helpers over the cluster
ingress() { kc -n default get svc "$1" -o jsonpath='{.status.loadBalancer.ingress[*].ip}' 2>/dev/null; }
has_ingress() { [ -n "$(ingress "$1")" ]; }
# The router's kernel route to $1: its next hops, sorted, one per line (none: no route).
nexthops() { router ip -4 route show "$1/32" 2>/dev/null | grep -o 'via [0-9.]*' | awk '{print $2}' | sort; }
nexthops_are() { [ "$(nexthops "$1" | tr '\n' ' ')" = "$2" ]; }
all_nodes_hops() { local n s=""; for n in "${NODE_LIST[@]}"; do s="$s${n#*:} "; done; echo "$s" | tr ' ' '\n' | grep . | sort | tr '\n' ' '; }
web_pods() { kc -n default get pods -l app=e2e-web --field-selector=status.phase=Running -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}'; }
get() { client curl -s -m 2 "http://$1/"; }
# Client loop: requests to $1 every 50 ms until $2 (a file) disappears; writes "ok"/"lost" lines to $3.
client_loop() {
  local ip=$1 flag=$2 out=$3
  : >"$out"
  while [ -e "$flag" ]; do
    if client curl -s -m 2 -o /dev/null -w '%{http_code}\n' "http://$ip/" 2>/dev/null | grep -qx 200; then echo ok; else echo lost; fi >>"$out"
    sleep 0.05
  done
}
start_loop() { LOOP_FLAG=$WORK/loop.$1; LOOP_OUT=$WORK/loop.$1.out; touch "$LOOP_FLAG"; client_loop "$2" "$LOOP_FLAG" "$LOOP_OUT" & LOOP_PID=$!; }
stop_loop() { rm -f "$LOOP_FLAG"; wait "$LOOP_PID" 2>/dev/null; LOOP_OK=$(grep -c ok "$LOOP_OUT"); LOOP_LOST=$(grep -c lost "$LOOP_OUT"); echo "  client loop: $LOOP_OK answered, $LOOP_LOST lost"; }
loop_lost_none() { stop_loop; [ "$LOOP_LOST" = 0 ] && [ "$LOOP_OK" -gt 10 ]; }
audit_since() { tail -n +"$((${1:-0} + 1))" "$AUDIT" 2>/dev/null; }

# ------------------------------------------------------------------ CRD rules on Kubernetes 1.32
# The objects of a YAML file without their status, as YAML.
without_status() {
  python3 -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs: d.pop("status", None)
yaml.safe_dump_all(docs, sys.stdout)' "$1"
}
kapi132() { (cd "$KIT/../kapi" && KAPI=$KAPI132 KAPI_PORT=17443 KAPI_ETCD_PORT=23791 KAPI_ETCD_PEER_PORT=23801 "$@"); }
# Starts the 1.32 API server beside the cluster. On a loaded 2-core machine its first start can
# outlast start.sh's 120 s wait: then what start.sh left running is stopped and it is started
# once more (the second start finds its files in the page cache), so a slow start is neither a
# failure nor a server left behind.
start_kapi132() {
  local try log
  for try in 1 2; do
    log=$(kapi132 ./start.sh 2>&1) && return 0
    kapi132 ./stop.sh >/dev/null 2>&1 || true
    echo "  the 1.32 API server did not start (attempt $try): $(tail -n 3 <<<"$log" | tr '\n' ' ' | cut -c1-300)"
  done
  return 1
}
crd_rules() {
  if [ ! -x "$KAPI132/bin/kube-apiserver" ]; then
    echo "  no Kubernetes 1.32 API server built at $KAPI132 (../shared/kapi/README.md, 'Kubernetes 1.32.6')"
    return 1
  fi
  start_kapi132 || return 1
  local ok=0
  crd_rules_on_kapi132 || ok=1
  kapi132 ./stop.sh >/dev/null 2>&1 || true
  return $ok
}
crd_rules_on_kapi132() {
  local kubectl="$KAPI132/bin/kubectl --kubeconfig $KAPI132/kubeconfig" ok=0 f out
  $kubectl version 2>/dev/null | grep -i server
  $kubectl apply --server-side --force-conflicts -f "$ROOT/deploy/crds.yaml" >/dev/null || { echo "  deploy/crds.yaml refused"; return 1; }
  $kubectl wait --for=condition=Established crd/eips.network.kubesphere.io crd/bgppeers.network.kubesphere.io \
    crd/bgpconfs.network.kubesphere.io --timeout=30s >/dev/null || return 1
  # what OpenELB documents, and the project's examples: accepted. Their status (what OpenELB's
  # speakers wrote, some of it deliberately not in Porter's schema, such as peerState.authPassword)
  # is no user input: a status subresource ignores it on create, so it is left out.
  for f in "$ROOT"/crates/porter-api/tests/fixtures/openelb/*.yaml "$ROOT"/deploy/examples/{eip,bgpconf,bgppeer}.yaml; do
    if out=$(without_status "$f" | $kubectl apply --dry-run=server -f - 2>&1); then echo "  accepted: ${f#"$ROOT"/}"
    else echo "  REFUSED: ${f#"$ROOT"/}: $out"; ok=1; fi
  done
  # malformed addresses: refused at apply, with a message naming the field
  local bad
  while IFS='|' read -r kind field value; do
    case $kind in
      Eip) bad="apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: bad}
spec: {address: \"$value\"}" ;;
      BgpConf) bad="apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {name: default}
spec: {as: 64513, routerId: \"$value\"}" ;;
      BgpPeer) bad="apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {name: bad}
spec: {conf: {peerAs: 64512, neighborAddress: \"$value\"}}" ;;
      BgpPeerLocal) bad="apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {name: bad}
spec: {conf: {peerAs: 64512, neighborAddress: 10.0.0.1}, transport: {localAddress: \"$value\"}}" ;;
    esac
    if out=$(echo "$bad" | $kubectl apply --dry-run=server -f - 2>&1); then
      echo "  ACCEPTED malformed $kind $field=$value"; ok=1
    elif grep -q "$field: Invalid value" <<<"$out"; then
      echo "  refused $kind $field=\"$value\": $(grep -o "$field: Invalid value.*" <<<"$out" | cut -c1-160)"
    else
      echo "  refused $kind $field=$value, but the message does not name $field: $out"; ok=1
    fi
  done <<'CASES'
Eip|spec.address|10.0.0.300
Eip|spec.address|10.0.0.5/24
Eip|spec.address|10.0.0.1-2001:db8::1
Eip|spec.address|pool-a
BgpConf|spec.routerId|::1
BgpConf|spec.routerId|0.0.0.0
BgpPeer|spec.conf.neighborAddress|10.0.0.1.1
BgpPeerLocal|spec.transport.localAddress|fe80::1%eth0
CASES
  return $ok
}
say "CRD rules on Kubernetes 1.32"
check crd-rules "1.32 API server: the CRDs apply as shipped; OpenELB's documented objects accepted, malformed addresses refused naming the field" crd_rules

# ------------------------------------------------------------------ address, route, traffic
say "a LoadBalancer Service gets an address, the router a route, the client an answer"
check address "Service e2e-cluster gets an address from Eip e2e-pool" retry 60 has_ingress e2e-cluster
LB=$(ingress e2e-cluster); LOCAL_LB=$(ingress e2e-local)
echo "  e2e-cluster: ${LB:-none}; e2e-local: ${LOCAL_LB:-none}"
WANT_HOPS=$(all_nodes_hops)
check route "the router's kernel route to $LB has one next hop per node ($WANT_HOPS)" retry 60 nexthops_are "$LB" "$WANT_HOPS"
router ip -4 route show "$LB/32" | sed 's/^/  /'
both_pods_answer() {
  local seen="" pod node i
  for i in $(seq 1 40); do seen="$seen$(get "$LB")"$'\n'; done
  while read -r pod node; do
    grep -q "hello from $pod$" <<<"$seen" || { echo "  $pod ($node) never answered"; return 1; }
    echo "  $pod on $node answered $(grep -c "hello from $pod$" <<<"$seen") of 40"
  done < <(web_pods)
}
check http "HTTP from kc-client to $LB reaches the pods on every node, through kube-proxy" retry 20 both_pods_answer

# ------------------------------------------------------------------ externalTrafficPolicy: Local
source_preserved() {
  local pod
  [ -n "$LOCAL_LB" ] || return 1
  get "$LOCAL_LB" >/dev/null || return 1
  # busybox httpd -v logs each request's peer address. The log is read whole before it is
  # searched: `kubectl logs | grep -q` fails under pipefail once the log (a readiness probe every
  # 2 s) outgrows the pipe and kubectl gets SIGPIPE when grep stops at the first match.
  local logs
  for pod in $(web_pods | awk '{print $1}'); do
    logs=$(kc -n default logs "$pod" 2>/dev/null)
    grep -qF "$CLIENT_IP" <<<"$logs" && { echo "  $pod logged the client's address $CLIENT_IP"; return 0; }
  done
  return 1
}
check etp-local "externalTrafficPolicy Local: the pods see the client's own address ($CLIENT_IP)" retry 20 source_preserved

# ------------------------------------------------------------------ metrics
metrics_of() { innode curl -s -m 3 "http://$1/metrics"; }
metrics() {
  local ctl_ip out rc=0 n port code
  ctl_ip=$(kc -n "$NS" get pods -l app.kubernetes.io/component=controller --field-selector=status.phase=Running -o jsonpath='{.items[0].status.podIP}')
  port_of() { kc -n "$NS" get "$1" -o jsonpath='{.spec.template.spec.containers[0].ports[?(@.name=="metrics")].containerPort}'; }
  out=$(metrics_of "$ctl_ip:$(port_of deploy/porter-controller)")
  grep -E '^porter_(ipam_[a-z_]*\{eip="e2e-pool"|controller_leader)' <<<"$out" | sed 's/^/  controller: /'
  grep -qE '^porter_ipam_addresses_in_use\{eip="e2e-pool"\} [1-9]' <<<"$out" || { echo "  controller: no addresses in use for e2e-pool"; rc=1; }
  grep -qE '^porter_ipam_pool_size\{eip="e2e-pool"\} 10$' <<<"$out" || { echo "  controller: pool size of e2e-pool is not 10"; rc=1; }
  port=$(port_of ds/porter-speaker)
  for n in "${NODE_LIST[@]}"; do
    out=$(metrics_of "${n#*:}:$port")
    grep -E '^porter_(bgp_session_state\{peer="kc-router".*\} 1|bgp_prefixes_advertised|speaker_announced)' <<<"$out" | sed "s/^/  ${n%%:*}: /"
    grep -qE '^porter_bgp_session_state\{peer="kc-router",[^}]*state="Established"\} 1' <<<"$out" || { echo "  ${n%%:*}: session with kc-router not Established"; rc=1; }
    code=$(innode curl -s -m 3 -o /dev/null -w '%{http_code}' "http://${n#*:}:$port/readyz")
    [ "$code" = 200 ] || { echo "  ${n%%:*}: /readyz $code"; rc=1; }
  done
  code=$(innode curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$ctl_ip:$(port_of deploy/porter-controller)/readyz")
  [ "$code" = 200 ] || { echo "  controller: /readyz $code"; rc=1; }
  return $rc
}
check metrics "/metrics and /readyz of the controller (Eip usage, pool size) and of every speaker (session Established)" retry 20 metrics

# ------------------------------------------------------------------ porter status
status_screen() {
  local out
  out=$(innode "$ROOT/target/x86_64-unknown-linux-gnu/dist/porter" status --kubeconfig "$KCLU/admin.kubeconfig" 2>&1) || { echo "$out"; return 1; }
  echo "$out" | sed 's/^/  /'
  grep -q "default/e2e-cluster.*$LB" <<<"$out"
}
check status "porter status on the cluster shows the Service, its address and the sessions" status_screen

# ------------------------------------------------------------------ controller restart
controller_restart() {
  local before after from pod new writes
  before=$(kc get svc -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.resourceVersion} {.status.loadBalancer.ingress[*].ip}{"\n"}{end}'; kc get eip -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}')
  pod=$(kc -n "$NS" get pods -l app.kubernetes.io/component=controller -o jsonpath='{.items[0].metadata.name}')
  from=$(wc -l <"$AUDIT")
  kc -n "$NS" delete pod "$pod" --wait=true >/dev/null
  kc -n "$NS" rollout status deploy/porter-controller --timeout=120s >/dev/null || return 1
  new=$(kc -n "$NS" get pods -l app.kubernetes.io/component=controller --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}')
  holder() { [ "$(kc -n "$NS" get lease porter-controller -o jsonpath='{.spec.holderIdentity}')" = "$new" ]; }
  retry 60 holder || { echo "  the new controller $new never took the Lease"; return 1; }
  sleep 10   # a full pass of the new leader
  after=$(kc get svc -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.resourceVersion} {.status.loadBalancer.ingress[*].ip}{"\n"}{end}'; kc get eip -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}')
  [ "$before" = "$after" ] || { echo "  Services or Eips changed:"; diff <(echo "$before") <(echo "$after"); return 1; }
  # the audit log: writes by the controller's ServiceAccount other than its Lease
  writes=$(audit_since "$from" | grep '"user":{"username":"system:serviceaccount:porter-system:porter-controller"' |
    grep -E '"verb":"(create|update|patch|delete)"' | grep -v '"resource":"leases"' || true)
  [ -z "$writes" ] || { echo "  the new controller wrote:"; echo "$writes" | head -n 5; return 1; }
  echo "  $pod -> $new: Lease taken, $(echo "$before" | wc -l) Services/Eips unchanged, no write but the Lease"
}
check controller-restart "controller restart keeps every address and writes nothing" controller_restart

# ------------------------------------------------------------------ speaker rolling restart
rolling_restart() {
  start_loop rollout "$LB"
  sleep 1
  kc -n "$NS" rollout restart ds/porter-speaker >/dev/null
  kc -n "$NS" rollout status ds/porter-speaker --timeout=240s >/dev/null || { stop_loop; return 1; }
  retry 60 nexthops_are "$LB" "$WANT_HOPS" || { stop_loop; echo "  route not back to every node"; return 1; }
  sleep 2
  loop_lost_none
}
check speaker-rollout "a rolling restart of the speaker DaemonSet loses no request of a client loop (graceful restart)" rolling_restart

# ------------------------------------------------------------------ two nodes: cordon, stopped speaker
if [ "$NODES" -ge 2 ]; then
  node_vars 2; N2=$N_NAME; N2_IP=$N_IP
  KEEP_HOPS=$(all_nodes_hops | tr ' ' '\n' | grep -v "^$N2_IP\$" | grep . | tr '\n' ' ')
  cordoned_drops_out() {
    start_loop cordon "$LB"
    kc cordon "$N2" >/dev/null
    retry 60 nexthops_are "$LB" "$KEEP_HOPS" || { kc uncordon "$N2" >/dev/null; stop_loop; echo "  $N2 still in the route"; return 1; }
    echo "  cordoned $N2: next hops now $(nexthops "$LB" | tr '\n' ' ')"
    kc uncordon "$N2" >/dev/null
    retry 60 nexthops_are "$LB" "$WANT_HOPS" || { stop_loop; echo "  $N2 did not come back"; return 1; }
    loop_lost_none
  }
  check cordon "a cordoned node drops out of the route and comes back, the client served throughout" cordoned_drops_out

  # Health-driven withdrawal: e2e-local asks every speaker to probe its node's Pods over HTTP.
  # The probed page is moved to one node 2's Pod lacks (its image has no rm: the page cannot
  # go, the path can; a new name each run, as the Pods outlive runs): its probe fails (404)
  # while the kubelet's readiness (/index.html) keeps the endpoint ready, and only node 2
  # withdraws; once the page is there, node 2 is back.
  health_withdraws() {
    local pod node n2_pod="" ready hc=health.porter.kubesphere.io page
    page=healthz-$(date +%s%N)
    while read -r pod node; do
      kc -n default exec "$pod" -- sh -c 'echo ok >/tmp/healthz' || return 1
      if [ "$node" = "$N2" ]; then n2_pod=$pod; else kc -n default exec "$pod" -- sh -c "echo ok >/tmp/$page" || return 1; fi
    done < <(web_pods)
    [ -n "$n2_pod" ] || { echo "  no e2e-web Pod on $N2"; return 1; }
    kc -n default annotate svc e2e-local --overwrite "$hc/probe=http" "$hc/path=/healthz" \
      "$hc/interval=500ms" "$hc/threshold=2" >/dev/null || return 1
    local back=0 ok=0
    if retry 60 nexthops_are "$LOCAL_LB" "$WANT_HOPS"; then
      kc -n default annotate svc e2e-local --overwrite "$hc/path=/$page" >/dev/null
      if retry 30 nexthops_are "$LOCAL_LB" "$KEEP_HOPS"; then
        ready=$(kc -n default get endpointslices -l kubernetes.io/service-name=e2e-local \
          -o jsonpath="{range .items[*].endpoints[?(@.nodeName=='$N2')]}{.conditions.ready}{end}")
        echo "  $n2_pod ($N2) fails its probe: next hops now $(nexthops "$LOCAL_LB" | tr '\n' ' '); its endpoint ready=$ready"
        [ "$ready" = true ] && ok=1
        kc -n default exec "$n2_pod" -- sh -c "echo ok >/tmp/$page"
        retry 30 nexthops_are "$LOCAL_LB" "$WANT_HOPS" && back=1
        echo "  the page is there: next hops $(nexthops "$LOCAL_LB" | tr '\n' ' ')"
      else
        echo "  $N2 still in the route to $LOCAL_LB: $(nexthops "$LOCAL_LB" | tr '\n' ' ')"
      fi
    else
      echo "  the probed Service is not routed via every node: $(nexthops "$LOCAL_LB" | tr '\n' ' ')"
    fi
    kc -n default annotate svc e2e-local "$hc/probe-" "$hc/path-" "$hc/interval-" "$hc/threshold-" >/dev/null
    [ "$ok" = 1 ] && [ "$back" = 1 ]
  }
  check health "health probes: the node whose Pod fails its HTTP probe (still Ready to the kubelet) leaves the route to an externalTrafficPolicy Local Service, and comes back" health_withdraws

  stopped_drops_out() {
    start_loop stop "$LB"
    # no speaker on node 2: the DaemonSet excludes it by affinity
    kc -n "$NS" patch ds porter-speaker --type=merge -p "{\"spec\":{\"template\":{\"spec\":{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"kubernetes.io/hostname\",\"operator\":\"NotIn\",\"values\":[\"$N2\"]}]}]}}}}}}}" >/dev/null
    # graceful restart: the router keeps the stopped speaker's route for restartTime (30 s), then drops it
    local dropped=0
    retry 90 nexthops_are "$LB" "$KEEP_HOPS" || { dropped=1; echo "  $N2 still in the route"; }
    echo "  speaker on $N2 stopped: next hops now $(nexthops "$LB" | tr '\n' ' ')"
    kc -n "$NS" patch ds porter-speaker --type=json -p '[{"op":"remove","path":"/spec/template/spec/affinity"}]' >/dev/null
    kc -n "$NS" rollout status ds/porter-speaker --timeout=120s >/dev/null
    retry 60 nexthops_are "$LB" "$WANT_HOPS" || { stop_loop; echo "  $N2 did not come back"; return 1; }
    loop_lost_none && [ "$dropped" = 0 ]
  }
  check speaker-stop "a stopped speaker drops out of the route (after the graceful-restart time), the client served throughout" stopped_drops_out

  # BFD: bfdd beside the router's bgpd, `neighbor X bfd`, spec.bfd on the BgpPeer. A hung speaker
  # (SIGSTOP: its sockets stay open, no FIN, no NOTIFICATION) leaves the route within BFD's
  # detection time (300 ms x 3), not after the hold time; graceful restart does not keep it.
  bfd_up_on_router() { [ "$(vtysh_router 'show bfd peers brief' | grep -c ' up ')" -ge "$NODES" ]; }
  bfd_up_in_status() {
    [ "$(kc get bgppeer kc-router -o jsonpath='{range .status.nodesPeerStatus.*}{.peerState.bfdState}{"\n"}{end}' | grep -c '^Up$')" -ge "$NODES" ]
  }
  speaker_pid_in() {  # $1 = a node's network namespace: the speaker running in it
    local p; for p in $(pgrep -f 'porter speaker'); do
      [ "$(ip netns identify "$p" 2>/dev/null)" = "$1" ] && { echo "$p"; return 0; }
    done; return 1
  }
  bfd_config() {  # $1 = "" to add, "no " to remove
    local n args=(-c 'configure terminal' -c "router bgp 64512")
    for n in "${NODE_LIST[@]}"; do args+=(-c "${1}neighbor ${n#*:} bfd"); done
    router vtysh --vty_socket "$KCLU/frr" "${args[@]}" >/dev/null
  }
  hung_node_drops_out() {
    local pid ok=0 bfdd=""
    printf 'hostname kc-router\nlog file %s/bfdd.log informational\n' "$KCLU/frr" >"$KCLU/frr/bfdd.conf"
    chown frr:frr "$KCLU/frr/bfdd.conf"
    router /usr/lib/frr/bfdd -d -f "$KCLU/frr/bfdd.conf" -i "$KCLU/frr/bfdd.pid" -z "$KCLU/frr/zserv.api" \
      --vty_socket "$KCLU/frr" --bfdctl "$KCLU/frr/bfdd.sock" -u frr -g frr >/dev/null 2>&1
    retry 10 test -s "$KCLU/frr/bfdd.pid" && bfdd=$(cat "$KCLU/frr/bfdd.pid")
    bfd_config ""
    kc patch bgppeer kc-router --type=merge -p '{"spec":{"bfd":{"enabled":true}}}' >/dev/null
    if ! retry 60 bfd_up_on_router; then echo "  BFD not up on the router:"; vtysh_router 'show bfd peers brief'; ok=1
    elif ! retry 60 bfd_up_in_status; then echo "  BgpPeer status does not show BFD Up on every node:"
      kc get bgppeer kc-router -o jsonpath='{.status.nodesPeerStatus}'; echo; ok=1
    else
      echo "  BFD up with every node; BgpPeer status bfdState: $(kc get bgppeer kc-router -o jsonpath='{.status.nodesPeerStatus.*.peerState.bfdState}')"
      start_loop hung "$LB"
      pid=$(speaker_pid_in "$N2")
      if [ -z "$pid" ]; then echo "  no speaker process found in $N2"; ok=1
      else
        kill -STOP "$pid"
        local t0=$SECONDS
        retry 20 nexthops_are "$LB" "$KEEP_HOPS" || { echo "  the hung $N2 is still in the route"; ok=1; }
        echo "  $N2's speaker hung: next hops $(nexthops "$LB" | tr '\n' ' ')within $((SECONDS - t0 + 1)) s"
        kill -CONT "$pid"
        retry 60 nexthops_are "$LB" "$WANT_HOPS" || { echo "  $N2 did not come back"; ok=1; }
      fi
      # requests that hashed to the hung node before detection are lost: counted, not checked
      stop_loop
    fi
    kc patch bgppeer kc-router --type=json -p '[{"op":"remove","path":"/spec/bfd"}]' >/dev/null
    bfd_config "no "
    [ -n "$bfdd" ] && kill -TERM "$bfdd" 2>/dev/null
    retry 60 nexthops_are "$LB" "$WANT_HOPS" || { echo "  the route did not come back after BFD was turned off"; ok=1; }
    return $ok
  }
  check bfd "with BFD, a hung speaker leaves the router's route within a second's detection and comes back" hung_node_drops_out
else
  echo "(one node: the cordon and stopped-speaker checks need NODES=2)"
fi

# ------------------------------------------------------------------ Service delete
withdrawn() { [ -z "$(nexthops "$LB")" ]; }
deleted_withdraws() {
  kc -n default delete svc e2e-cluster --wait=true --timeout=60s >/dev/null || return 1
  retry 30 withdrawn || { echo "  the router still routes $LB"; return 1; }
  echo "  $LB withdrawn from the router"
}
check delete "deleting the Service withdraws its route" deleted_withdraws

# ------------------------------------------------------------------ what a real API server showed
# An unreachable peer: the speakers retry, and write BgpPeer status only on lasting changes.
status_writes() {
  local from patches peer=e2e-unreachable
  from=$(wc -l <"$AUDIT")
  kc apply -f - >/dev/null <<'YAML'
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {name: e2e-unreachable}
spec:
  conf: {peerAs: 64512, neighborAddress: 10.210.0.99}
YAML
  sleep 60
  patches=$(audit_since "$from" | grep '"verb":"patch"' | grep "\"resource\":\"bgppeers\",\"name\":\"$peer\"" |
    grep -c 'system:serviceaccount:porter-system:porter-speaker' || true)
  kc get bgppeer "$peer" -o jsonpath='{range .status.nodesPeerStatus.*}  {.peerState.sessionState} {.peerState.lastError}{"\n"}{end}'
  kc delete bgppeer "$peer" >/dev/null
  echo "  $patches status writes in 60 s by $NODES speakers (at most 5 per node a minute)"
  [ "$patches" -ge "$NODES" ] && [ "$patches" -le $((5 * NODES)) ]
}
check status-writes "an unreachable peer: its status written at most 5 times a minute per node, not on every retry" status_writes

# A password Secret the speaker may not read: reported as forbidden, naming the Role to extend.
forbidden_secret() {
  local errors
  kc apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: e2e-unlisted, namespace: porter-system}
stringData: {password: not-for-the-speaker}
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {name: e2e-secret}
spec:
  conf:
    peerAs: 64512
    neighborAddress: 10.210.0.98
    authPasswordSecretRef: {namespace: porter-system, name: e2e-unlisted, key: password}
YAML
  reported() {
    errors=$(kc get bgppeer e2e-secret -o jsonpath='{range .status.nodesPeerStatus.*}{.peerState.lastError}{"\n"}{end}')
    [ "$(grep -c 'forbidden.*porter-speaker-bgp-passwords' <<<"$errors")" = "$NODES" ]
  }
  retry 60 reported; local rc=$?
  sed 's/^/  /' <<<"$errors" | sort -u
  kc delete bgppeer e2e-secret >/dev/null; kc -n porter-system delete secret e2e-unlisted >/dev/null
  return $rc
}
check forbidden-secret "a BgpPeer password Secret outside the speaker's Role: every node says forbidden and names the Role" forbidden_secret

# Layer 2: an Eip on the nodes' own segment (10.210.0.0/24, the bridge br-nodes of kc-router), its
# interface found as OpenELB's can_reach:10.210.0.1 (the membership key, Secret porter-member, was
# created at install). The Service's Announced condition names the node
# answering ARP; the router's neighbour entry holds that node's MAC and the client is served through it.
# Then the owner's speaker Pod is deleted: its speaker leaves, the other node answers (the router's
# entry moves to its MAC, by the gratuitous ARP), and once the DaemonSet's new Pod is up the address
# goes back to its owner.
layer2_answers() {
  # every speaker up (the install's rollout may still be replacing one)
  kc -n "$NS" rollout status ds/porter-speaker --timeout=120s >/dev/null || return 1
  kc apply -f - >/dev/null <<'YAML'
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: e2e-l2}
spec: {address: 10.210.0.200-10.210.0.201, protocol: layer2, interface: "can_reach:10.210.0.1"}
---
apiVersion: v1
kind: Service
metadata:
  name: e2e-l2
  namespace: default
  annotations: {lb.kubesphere.io/v1alpha1: porter, eip.openelb.kubesphere.io/v1alpha2: e2e-l2}
spec:
  type: LoadBalancer
  selector: {app: e2e-web}
  ports: [{name: http, port: 80, targetPort: 80}]
YAML
  local rc=0 ip owner other message mac_of_owner mac_of_other pod
  condition() { kc -n default get svc e2e-l2 -o jsonpath="{.status.conditions[?(@.type==\"porter.kubesphere.io/Announced\")].$1}"; }
  said() { [ "$(condition reason)" = Announced ] && [[ "$(condition message)" == *"answered by"* ]]; }
  if retry 30 said; then
    ip=$(ingress e2e-l2); message=$(condition message)
    owner=$(sed -n 's/.*answered by \([^ ]*\) (layer 2, ARP).*/\1/p' <<<"$message")
    echo "  e2e-l2 got $ip: $message"
    for n in "${NODE_LIST[@]%%:*}"; do [ "$n" != "$owner" ] && other=$n; done
    # (not /sys/class/net: nsenter --net keeps the host's sysfs)
    mac() { nsenter --net=/run/netns/"$1" -- ip -br link show eth0 | awk '{print $3}'; }
    mac_of_owner=$(mac "$owner"); mac_of_other=$(mac "$other")
    neigh() { router ip neigh show "$ip" dev br-nodes | awk '{print $3}'; }
    served() { [ "$(client curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$ip/")" = 200 ]; }
    retry 20 served || { echo "  the client is not served at $ip"; rc=1; }
    if [ "$(neigh)" = "$mac_of_owner" ]; then
      echo "  kc-router's neighbour entry for $ip: $(neigh), $owner's eth0"
    else
      echo "  kc-router's neighbour entry for $ip is '$(neigh)', not $owner's $mac_of_owner"; rc=1
    fi
    if [ -z "$other" ]; then
      echo "  one node: no takeover to see (NODES=2 shows it)"
      kc -n default delete svc e2e-l2 --wait=true >/dev/null; kc delete eip e2e-l2 >/dev/null
      return $rc
    fi
    pod=$(kc -n "$NS" get pods -l app.kubernetes.io/component=speaker --field-selector "spec.nodeName=$owner" -o jsonpath='{.items[0].metadata.name}')
    local t0 t1 took=""
    t0=$(date +%s.%N)
    kc -n "$NS" delete pod "$pod" --wait=false >/dev/null
    # polled every 50 ms: the time includes kubectl's request and the kubelet's SIGTERM
    for _ in $(seq 400); do
      [ "$(neigh)" = "$mac_of_other" ] && { t1=$(date +%s.%N); took=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}'); break; }
      sleep 0.05
    done
    if [ -n "$took" ]; then
      echo "  $pod deleted: the entry moved to $other's $mac_of_other ${took} s after kubectl delete"
    else
      echo "  $pod deleted: the entry stayed '$(neigh)', not $other's $mac_of_other"; rc=1
    fi
    back() { [ "$(neigh)" = "$mac_of_owner" ]; }
    kc -n "$NS" rollout status ds/porter-speaker --timeout=120s >/dev/null
    if retry 30 back && retry 10 served; then
      echo "  the new speaker on $owner answers again: entry $(neigh), client served"
    else
      echo "  after $owner's new speaker started: entry '$(neigh)'"; rc=1
    fi
  else
    echo "  e2e-l2 ($(ingress e2e-l2)): $(condition reason): $(condition message)"; rc=1
  fi
  kc -n default delete svc e2e-l2 --wait=true >/dev/null; kc delete eip e2e-l2 >/dev/null
  return $rc
}
check layer2 "a layer2 Eip's address is answered over ARP by the node its condition names, and moves when that node's speaker stops" layer2_answers

# ------------------------------------------------------------------ two nodes: drain before terminate
# A rolling update that moves a one-Pod backend (Deployment e2e-drain, maxUnavailable 0) from the
# first node to the second behind Service e2e-drain (externalTrafficPolicy Local): the new Pod is
# ready on node 2, then the old one terminates and node 1, left with no ready local Pod, withdraws
# while the Pod serves through the preStop sleep of deploy/examples/service-local.yaml (as exec:
# Kubernetes 1.28 has no sleep action; kube-proxy forwards to a serving terminating endpoint since
# 1.26). A client loop (lab/client_loop.py) must lose no request to the Pod's stop. The loop is
# serial: a route change may cost the one request in flight when the router's (non-resilient)
# ECMP hash moves its connection, so one lost request per route change of the address is allowed.
# The same move without the sleep runs first, its losses printed (a figure, not a check); each run
# prints the withdrawal time, from a `kubectl get -w` of the EndpointSlice seeing node 1's endpoint
# turn not ready to the router's kernel route without node 1.
if [ "$NODES" -ge 2 ]; then
  PRESTOP=$(awk '/preStop:/{p=1} p && /seconds:/{print $2; exit}' "$ROOT/deploy/examples/service-local.yaml")
  node_vars 1; D1=$N_NAME; D1_IP=$N_IP
  node_vars 2; D2=$N_NAME; D2_IP=$N_IP
  # drain_backend NODE SECONDS: e2e-drain's one Pod on NODE, with a preStop sleep of SECONDS (0: none).
  drain_backend() {
    local lifecycle=""
    [ "$2" -gt 0 ] && lifecycle="lifecycle: {preStop: {exec: {command: [sleep, \"$2\"]}}}"
    kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: e2e-drain, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerClass: porter.kubesphere.io/bgp
  externalTrafficPolicy: Local
  selector: {app: e2e-drain}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: e2e-drain, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: e2e-drain}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: e2e-drain}}
    spec:
      nodeSelector: {kubernetes.io/hostname: $1}
      terminationGracePeriodSeconds: 30
      containers:
      - name: web
        image: kclu.local/web:1
        imagePullPolicy: Never
        # httpd as PID 1 would ignore SIGTERM (and serve on for the whole grace period): a shell
        # stops it on SIGTERM, as an application that exits at once would
        command: [/bin/sh, -c, 'echo "hello from \$(hostname)" >/tmp/index.html; httpd -f -p 80 -h /tmp & p=\$!; trap "kill \$p; exit 0" TERM; wait']
        ports: [{containerPort: 80}]
        readinessProbe: {httpGet: {path: /index.html, port: 80}, periodSeconds: 1}
        $lifecycle
YAML
  }
  drain_pod() { kc -n default get pods -l app=e2e-drain -o jsonpath='{.items[0].metadata.name}'; }
  # drain_move SECONDS: the Pod on node 1 with that preStop, then moved to node 2 under a client
  # loop; sets DRAIN_SENT, DRAIN_FAILED, DRAIN_CHANGES.
  drain_move() {
    local ip old loop mon stop=$WORK/drain.stop out=$WORK/drain.out events=$WORK/drain.routes slices=$WORK/drain.slices.$$.$1
    drain_backend "$D1" "$1"
    kc -n default rollout status deploy/e2e-drain --timeout=120s >/dev/null || return 1
    retry 60 has_ingress e2e-drain || return 1
    ip=$(ingress e2e-drain)
    retry 60 nexthops_are "$ip" "$D1_IP " || { echo "  e2e-drain not routed via $D1"; return 1; }
    old=$(drain_pod)
    sleep 2
    rm -f "$stop"
    # not through `router`: $! must be the monitor itself, to stop it
    TZ=UTC nsenter --net=/run/netns/kc-router -- ip -ts monitor route >"$events" 2>&1 & mon=$!
    # the watch ends by itself (--request-timeout), after this run; an earlier one may still be
    # writing to its own (removed) file
    rm -f "$WORK"/drain.slices.*
    kc -n default get endpointslices -l kubernetes.io/service-name=e2e-drain -w --request-timeout=45s \
      --no-headers -o 'custom-columns=N:.endpoints[*].nodeName,R:.endpoints[*].conditions.ready' 2>/dev/null |
      while read -r line; do echo "$(date +%s.%N) $line"; done >"$slices" &
    client python3 "$ROOT/lab/client_loop.py" "$ip" --port 80 --seconds 600 --stop-file "$stop" >"$out" 2>&1 & loop=$!
    sleep 2
    drain_backend "$D2" "$1"
    kc -n default rollout status deploy/e2e-drain --timeout=120s >/dev/null
    kc -n default wait --for=delete "pod/$old" --timeout=90s >/dev/null
    retry 30 nexthops_are "$ip" "$D2_IP "
    sleep 2
    touch "$stop"; wait "$loop"
    kill "$mon" 2>/dev/null
    read -r _ DRAIN_SENT _ DRAIN_FAILED _ < "$out"
    DRAIN_CHANGES=$(grep -c "^\[.*$ip" "$events")
    local took
    took=$(python3 - "$ip" "$D1" "$D1_IP" "$slices" "$events" <<'PY'
import sys, datetime
ip, node, node_ip, slices, events = sys.argv[1:]
# lines "EPOCH NODES READY" (comma lists): the first where no endpoint on `node` is ready
seen = None
for l in open(slices):
    f = l.split()
    if len(f) < 3:
        continue
    ready = [r for n, r in zip(f[1].split(","), f[2].split(",")) if n == node]
    if "true" not in ready:
        seen = float(f[0]); break
evs, cur = [], None
for l in open(events):
    if l.startswith("["):
        ts, _, rest = l[1:].partition("]")
        cur = [ts, rest]; evs.append(cur)
    elif cur:
        cur[1] += l
fib = None
for ts, text in evs:
    t = datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp()
    if seen is not None and t >= seen and ip in text and "Deleted" not in text and node_ip not in text:
        fib = t; break
print("?" if seen is None or fib is None else f"{(fib - seen) * 1000:.0f} ms")
PY
)
    echo "  preStop $1 s: $(cat "$out"); $DRAIN_CHANGES route events for $ip; $D1's endpoint seen not ready -> route without $D1: $took"
  }
  drain_before_terminate() {
    drain_move 0 || return 1
    drain_move "$PRESTOP" || return 1
    kc -n default delete deploy e2e-drain >/dev/null; kc -n default delete svc e2e-drain >/dev/null
    [ "${DRAIN_SENT:-0}" -gt 100 ] && [ "${DRAIN_FAILED:-1}" -le "$DRAIN_CHANGES" ]
  }
  check drain "a rollout moving a Pod off a node behind externalTrafficPolicy Local, with the example's preStop ($PRESTOP s), loses no request to the Pod's stop" drain_before_terminate
fi

# ------------------------------------------------------------------ RBAC as enforced
no_403() {
  local refused
  # (the forbidden-secret check's Secret is refused on purpose)
  refused=$(audit_since "$AUDIT_FROM" | grep '"code":403' | grep 'system:serviceaccount:porter-system:' |
    grep -v '"requestURI":"/api/v1/namespaces/porter-system/secrets/e2e-unlisted"' || true)
  [ -z "$refused" ] || { grep -o '"requestURI":"[^"]*","verb":"[^"]*","user":{"username":"[^"]*"' <<<"$refused" | head -n 5; return 1; }
  echo "  $(audit_since "$AUDIT_FROM" | grep -c 'system:serviceaccount:porter-system:') requests by Porter's ServiceAccounts, none refused"
}
check rbac "no 403 for Porter's ServiceAccounts in the API server's audit log" no_403

if [ "$KEEP" = 0 ]; then
  kc delete -f - --ignore-not-found >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: e2e-web, namespace: default}
YAML
  kc -n default delete svc e2e-local --ignore-not-found >/dev/null
  kc delete -k "$OVERLAY" --ignore-not-found >/dev/null
fi

echo
[ "$fail" = 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
