#!/usr/bin/env bash
# bench/cluster_latency.sh [RUNS] — benchmark, not a test.
#
# On the real two-node cluster of ../shared/kcluster with Porter installed by e2e/cluster.sh
# (it leaves Porter, the router peering and the e2e-web backend in place): how long from the
# moment `kubectl apply` of an annotated LoadBalancer Service returns (the API server's answer to
# the create, from its audit log: kubectl's own exit comes 10-60 ms later) until the router's
# kernel FIB holds the route with both nodes as next hops, and from the moment `kubectl delete`
# returns (likewise) until the route is gone. RUNS times each (default 7); prints every run,
# the medians, and where the time went:
#   controller    the create answered -> the controller's first status write answered (audit
#                 log): its watch delivery, pacing and decision, then two API writes, the
#                 finalizer first (so a release is never missed), then the status;
#   speaker       that write -> the router's bgpd logged the last node's UPDATE (FRR's
#                 `debug bgp updates in`, microsecond timestamps, turned on by this script):
#                 the speakers' watch delivery, pacing, plan and the UPDATE;
#   router        that UPDATE -> the router's last route or nexthop event (ip -ts monitor): FRR's
#                 best path and zebra's install. Not Porter's: bgpd queues received routes for
#                 its work queue's hold time (WORK_QUEUE_DEFAULT_HOLD, 50 ms) before processing.
# "porter" is the sum of Porter's parts: from apply (or delete) returning to the router holding
# the last node's UPDATE.
# Deletes are sent with --wait=false: `kubectl delete` returns when the API server has set the
# deletion timestamp, not after Porter has removed its finalizer.
#
#   NODES=2 ../shared/kcluster/up.sh && ../shared/kcluster/router.sh && e2e/cluster.sh
#   bench/cluster_latency.sh 7
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${KCLUSTER_KIT:-$ROOT/../shared/kcluster}
RUNS=${1:-7}
WORK=$ROOT/target/bench-latency
NS=porter-system
mkdir -p "$WORK"

# shellcheck source=/dev/null
source "$KIT/common.sh" 2>/dev/null || { echo "no cluster kit at $KIT" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (the cluster's network namespaces)" >&2; exit 1; }
kc -n "$NS" get ds/porter-speaker >/dev/null 2>&1 && kc -n default get deploy/e2e-web >/dev/null 2>&1 ||
  { echo "Porter is not installed on the cluster: run e2e/cluster.sh first (it leaves it installed)" >&2; exit 1; }
router() { nsenter --net=/run/netns/kc-router -- "$@"; }
hops=()
for i in $(seq 1 "$NODES"); do node_vars "$i"; hops+=("$N_IP"); done
want=$(printf '%s\n' "${hops[@]}" | sort | tr '\n' ' ')
nexthops() { router ip -4 route show "$1/32" 2>/dev/null | grep -o 'via [0-9.]*' | awk '{print $2}' | sort | tr '\n' ' '; }
now() { date +%s.%N; }
# poll_until SECONDS CMD...: CMD every 2 ms until it succeeds.
poll_until() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.002; done; }
route_full() { [ "$(nexthops "$1")" = "$want" ]; }
route_gone() { [ -z "$(nexthops "$1")" ]; }

vtysh_router() { router vtysh --vty_socket "$KCLU/frr" "$@"; }
BGPD_LOG=$KCLU/frr/bgpd.log
vtysh_router -c 'conf t' -c 'log timestamp precision 6' -c "log file $BGPD_LOG debugging" -c 'end' \
  -c 'debug bgp updates in' >/dev/null ||
  { echo "cannot turn on FRR's update log in kc-router" >&2; exit 1; }
AUDIT=$KCLU/logs/audit.log
results=$WORK/runs.tsv
: >"$results"
echo "== $NODES nodes ($want), $RUNS runs; $(nproc) cores"
for run in $(seq 1 "$RUNS"); do
  svc=lat-$run
  kc -n default delete svc "$svc" --ignore-not-found --wait=true >/dev/null 2>&1
  router ip -ts monitor route nexthop >"$WORK/monitor.$run" 2>&1 &
  mon=$!
  audit_from=$(wc -l <"$AUDIT")
  bgpd_from=$(wc -l <"$BGPD_LOG")
  sleep 0.3
  t_apply=$(now)
  kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata:
  name: $svc
  namespace: default
  annotations: {lb.kubesphere.io/v1alpha1: porter}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  selector: {app: e2e-web}
  ports: [{name: http, port: 80, targetPort: 80}]
YAML
  t_applied=$(now)
  ip=""
  poll_until 10 bash -c "[ -n \"\$(nsenter --net=/run/netns/$NS_NODE -- $KCLU_BIN/kubectl --kubeconfig $KCLU/admin.kubeconfig -n default get svc $svc -o jsonpath='{.status.loadBalancer.ingress[0].ip}')\" ]"
  ip=$(kc -n default get svc "$svc" -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
  [ -n "$ip" ] || { echo "run $run: no address assigned" >&2; kill "$mon"; continue; }
  poll_until 10 route_full "$ip" || { echo "run $run: the route to $ip never got both next hops: $(nexthops "$ip")" >&2; }
  t_full=$(now)
  sleep 0.5
  t_delete=$(now)
  kc -n default delete svc "$svc" --wait=false >/dev/null
  t_deleted=$(now)
  poll_until 10 route_gone "$ip" || echo "run $run: the route to $ip was not withdrawn" >&2
  t_gone=$(now)
  sleep 0.3
  kill "$mon" 2>/dev/null; wait "$mon" 2>/dev/null
  audit_since=$(tail -n +"$((audit_from + 1))" "$AUDIT")
  echo "$audit_since" >"$WORK/audit.$run"
  tail -n +"$((bgpd_from + 1))" "$BGPD_LOG" | grep " rcvd " >"$WORK/bgpd.$run"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$svc" "$ip" "$t_applied" "$t_full" "$t_deleted" "$t_gone" >>"$results"
done

python3 - "$results" "$WORK" <<'PY'
import datetime, json, re, statistics, sys
results, work = sys.argv[1], sys.argv[2]

def ts(text):
    """RFC 3339 with up to nanoseconds (containerd, the audit log, ip -ts) -> seconds since the epoch."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?", text)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    tz = m.group(3)
    if tz is None:  # ip -ts prints local time without a zone
        base = base.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    elif tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        base -= sign * datetime.timedelta(hours=hh, minutes=mm)
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return base.replace(tzinfo=datetime.timezone.utc).timestamp() + frac

def bgpd_times(path, ip):
    """When FRR's bgpd logged each node's UPDATE for ip: (announced, withdrawn) lists."""
    add, withdrawn = [], []
    for line in open(path):
        if f"{ip}/32" not in line:
            continue
        stamp = " ".join(line.split(" ", 2)[:2])  # 2026/12/04 01:02:53.217610, local time
        t = datetime.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
        (withdrawn if "withdrawn" in line else add).append(t)
    return add, withdrawn

def monitor_events(path):
    out = []
    for line in open(path):
        if line.startswith("["):
            out.append(ts(line[1:]))
    return out

def last_in(events, lo, hi):
    inside = [e for e in events if lo <= e <= hi]
    return max(inside) if inside else None

rows = []
for line in open(results):
    run, svc, ip, applied, full, deleted, gone = line.rstrip("\n").split("\t")
    applied, full, deleted, gone = map(float, (applied, full, deleted, gone))
    # The clock starts when the API server answered the create (the delete): the audit log's
    # stageTimestamp. kubectl's own exit comes after that, by 10-60 ms on a loaded machine,
    # and the controller may have written by then.
    created = removed = None
    for a in open(f"{work}/audit.{run}"):
        try:
            e = json.loads(a)
        except ValueError:
            continue
        ref = e.get("objectRef") or {}
        if ref.get("resource") == "services" and ref.get("name") == svc and not ref.get("subresource") \
                and e.get("stage") == "ResponseComplete":
            if e.get("verb") == "create" and created is None:
                created = ts(e["stageTimestamp"])
            elif e.get("verb") == "delete" and removed is None:
                removed = ts(e["stageTimestamp"])
    applied = created or applied
    deleted = removed or deleted
    events = monitor_events(f"{work}/monitor.{run}")
    fib_add = last_in(events, applied, full) or full
    fib_del = last_in(events, deleted, gone) or gone
    status_write = None
    for a in open(f"{work}/audit.{run}"):
        try:
            e = json.loads(a)
        except ValueError:
            continue
        ref = e.get("objectRef") or {}
        if (ref.get("resource") == "services" and ref.get("name") == svc and ref.get("subresource") == "status"
                and e.get("verb") in ("patch", "update") and e.get("stage") == "ResponseComplete"
                and "porter" in e.get("user", {}).get("username", "")):
            t = ts(e["stageTimestamp"])
            if applied <= t <= full and status_write is None:
                status_write = t
    rcvd_add, rcvd_del = bgpd_times(f"{work}/bgpd.{run}", ip)
    rcvd_add = [t for t in rcvd_add if applied <= t <= full]
    rcvd_del = [t for t in rcvd_del if deleted <= t <= gone]
    rows.append(dict(run=run, add=fib_add - applied, delete=fib_del - deleted,
                     porter=(max(rcvd_add) - applied) if rcvd_add else None,
                     watch=(status_write - applied) if status_write else None,
                     speaker=(max(rcvd_add) - status_write) if status_write and rcvd_add else None,
                     router=(fib_add - max(rcvd_add)) if rcvd_add else None,
                     del_porter=(max(rcvd_del) - deleted) if rcvd_del else None,
                     del_router=(fib_del - max(rcvd_del)) if rcvd_del else None))

def ms(v):
    return "-" if v is None else f"{v * 1000:.0f}"
cols = ["add", "porter", "watch", "speaker", "router", "delete", "del_porter", "del_router"]
heads = ["apply->FIB", "porter", "controller", "speaker", "router", "| delete->gone", "porter", "router"]
print("  ".join(["run"] + heads) + "   (ms)")
def line(label, r):
    cells = [f"{ms(r[c]):>{len(h)}}" for c, h in zip(cols, heads)]
    print("  ".join([f"{label:>3}"] + cells))
for r in rows:
    line(r["run"], r)
med = {}
for c in cols:
    vals = [r[c] for r in rows if r[c] is not None]
    med[c] = statistics.median(vals) if vals else None
line("med", med)
PY
