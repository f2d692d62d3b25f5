# bench/lab_bench.sh — sourced by the benchmarks run on the lab of lab/lib.sh (drain.sh,
# health.sh), not run: the lab's commands, the router's next hops, and when the router's
# kernel route dropped a node, read from `ip -ts monitor route` (TZ=UTC).
# The caller sets LAB_PREFIX and LAB_DIR (its own lab names) and PORTER before sourcing.
export TZ=UTC
lab() { bash "$repo/lab/lab.sh" "$@"; }
log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
epoch() { date -u -d "$1" +%s.%N; }
nexthops() { lab route "$1" | grep -c 'nexthop via'; }
wait_nexthops() {  # $1 = EIP, $2 = count, $3 = limit (s)
  local t0; t0=$(date +%s)
  while [ "$(nexthops "$1")" != "$2" ]; do
    [ $(($(date +%s) - t0)) -gt "$3" ] && return 1
    sleep 0.05
  done
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN{if (a == "" || b == "") print "?"; else printf "%.0f", (b-a)*1000}'; }

# Records the router's route events into $LAB_DIR/monitor.txt until the lab goes down.
monitor_start() {
  ip -n "${LAB_PREFIX}router" -ts monitor route >"$LAB_DIR/monitor.txt" 2>&1 &
  echo "$! ip" >>"$LAB_DIR/pids"
}

# The first route event for $1 after epoch $2 whose route no longer goes via $3 (a node's
# address, default node3's), as epoch (`ip -ts monitor route`: each event starts with
# "[local time]", TZ=UTC here).
fib_time() {
  python3 - "$1" "$2" "$LAB_DIR/monitor.txt" "${3:-10.99.0.13}" <<'PY'
import sys, datetime
eip, t0, path, node = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
events, cur = [], None
for line in open(path):
    if line.startswith("["):
        ts, _, rest = line[1:].partition("]")
        cur = [ts, rest]
        events.append(cur)
    elif cur:
        cur[1] += line
for ts, text in events:
    t = datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp()
    if t >= t0 and eip in text and "Deleted" not in text and node not in text:
        print(f"{t:.6f}")
        break
PY
}

# Brings the lab up with $1 as the router and a ready endpoint on every node; prints the EIP
# once the router routes it via the three nodes (nothing, and the lab down, if it does not).
lab_up_all_ready() {  # $1 = router
  local eip
  eip=$(lab up "$1" | awk '/^EIP/{print $2}')
  [ -n "$eip" ] || { log "lab did not come up"; lab down; return 1; }
  lab endpoints node1=ready node2=ready node3=ready
  wait_nexthops "$eip" 3 60 || { log "no ECMP route to $eip"; lab down; return 1; }
  echo "$eip"
}
