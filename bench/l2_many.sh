#!/usr/bin/env bash
# bench/l2_many.sh — a layer 2 takeover of many addresses at once (issue 14), on the lab's layer 2
# mode (lab.sh up-l2: client and three nodes on one bridge, no router) with N Services per family.
#
# bench/l2_takeover.sh times one address. Here one node owns about a third of N addresses of each
# family (rendezvous hashing over three nodes) and fails (`stop`: SIGTERM, the goodbye; `kill`:
# SIGKILL, detected by the heartbeats' timeout); the other two take its addresses over, each
# sending a gratuitous ARP / unsolicited NA per address it takes. The client holds a neighbour
# entry for every address (one request to each first), and `ip -ts monitor neigh` in its namespace
# stamps the moment each entry changes its MAC. Per run: how many addresses the node owned, and
# from the failure the first, median and last entry to move: the spread between first and last
# is the cost of many addresses at once.
# Figures, not assertions; docs/benchmarks.md, "Layer 2 takeover", keeps them.
#
# Usage: bench/l2_many.sh [RUNS] [N] [MODES]   (RUNS 3, N 120 Services per family (at most 150;
# below the kernel's default neighbour gc_thresh1 of 128 so the client's table keeps every entry),
# MODES "stop kill"). Needs root, python3, curl and a built porter (PORTER, default
# target/release/porter, built if missing).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
RUNS=${1:-3}
N=${2:-120}
MODES=${3:-"stop kill"}
export PORTER=${PORTER:-$repo/target/release/porter}
[ -x "$PORTER" ] || cargo build -q --release -p porter || exit 1
export LAB_PREFIX=bl2m- LAB_DIR=${TMPDIR:-/tmp}/porter-bench-l2many LAB_L2_SERVICES=$N
client_ns=${LAB_PREFIX}client
lab() { bash "$repo/lab/lab.sh" "$@"; }
log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
# The client's entries: "ADDRESS MAC", one a line.
entries() { ip netns exec "$client_ns" ip neigh show dev eth0 | awk '{ for (i = 1; i <= NF; i++) if ($i == "lladdr") print $1, $(i+1) }'; }
# Requests to every address until each is answered and has an entry (at most 60 s).
warm() {
  local a t0=$SECONDS
  for a in $addrs; do
    until [ "$(lab fetch-one "$a" 1)" != FAILED ]; do
      [ $((SECONDS - t0)) -gt 60 ] && { log "$a is not answered"; return 1; }
      sleep 0.1
    done
  done
}
# Waits (at most $2 s) until no entry / every address of the list in $3 holds MAC $1 ("none" /
# "all"), by $4.
wait_entries() {
  local mac=$1 limit=$2 list=$3 want=$4 t0=$SECONDS n
  while :; do
    n=$(entries | awk -v m="$mac" 'NR==FNR { mine[$1] = 1; next } ($1 in mine) && $2 == m' <(tr ' ' '\n' <<<"$list") - | wc -l)
    if [ "$want" = none ]; then [ "$n" = 0 ] && return 0; else [ "$n" = "$(wc -w <<<"$list")" ] && return 0; fi
    [ $((SECONDS - t0)) -ge "$limit" ] && return 1
    sleep 0.05
  done
}

trap 'lab down' EXIT
trap 'trap - EXIT; lab down; exit 130' INT TERM
log "lab up-l2 with $N Services per family"
out=$(lab up-l2) || { echo "$out"; log "the lab did not come up"; exit 1; }
addrs=$(echo "$out" | awk '$1=="EIP" {print $3}')
log "$(wc -w <<<"$addrs") addresses; warming the client's neighbour table"
warm || exit 1
victim=node1
vmac=$(lab mac "$victim")

rows=()
for mode in $MODES; do
  for run in $(seq "$RUNS"); do
    warm || break
    # the pool addresses whose entries hold the victim's MAC (not the node's own address)
    mine=$(entries | awk -v m="$vmac" 'NR==FNR { pool[$1] = 1; next } ($1 in pool) && $2 == m {print $1}' <(tr ' ' '\n' <<<"$addrs") - | tr '\n' ' ')
    count=$(wc -w <<<"$mine")
    mon=$LAB_DIR/monitor.txt
    ip netns exec "$client_ns" ip -ts monitor neigh >"$mon" 2>&1 &
    monitor=$!
    sleep 0.3
    t0=$(date +%s.%N)
    case $mode in
      stop) lab stop-speaker "$victim" & stopper=$! ;;
      kill) lab kill-speaker "$victim" & stopper=$! ;;
    esac
    wait_entries "$vmac" 15 "$mine" none || log "$mode run $run: some entries still hold $victim's MAC after 15 s"
    wait "$stopper"
    sleep 0.5
    kill "$monitor"; wait "$monitor" 2>/dev/null
    # per address of the victim, the first change to another MAC after t0
    row=$(python3 - "$mon" "$t0" "$vmac" $mine <<'PY'
import sys, datetime
mon, t0, vmac, mine = sys.argv[1], float(sys.argv[2]), sys.argv[3], set(sys.argv[4:])
moved = {}
for line in open(mon):
    if not line.startswith("["):
        continue
    stamp, rest = line[1:].split("] ", 1)
    words = rest.split()
    if "lladdr" not in words:
        continue
    addr, mac = words[0], words[words.index("lladdr") + 1]
    at = datetime.datetime.fromisoformat(stamp).timestamp() - t0
    if addr in mine and mac != vmac and at >= 0 and addr not in moved:
        moved[addr] = at
times = sorted(moved.values())
if not times:
    print(f"{len(mine)} 0 - - -")
else:
    median = times[len(times) // 2]
    print(f"{len(mine)} {len(times)} {times[0]:.3f} {median:.3f} {times[-1]:.3f}")
PY
)
    log "$mode run $run: $victim owned $count addresses; moved, first / median / last (s): $row"
    rows+=("$(printf '%-5s %3s   %s' "$mode" "$run" "$row")")
    lab start-speaker "$victim"
    wait_entries "$vmac" 30 "$mine" all || log "$victim did not take every address back"
  done
done

echo
echo "layer 2 takeover of many addresses: $N Services per family, $victim fails; seconds from the failure"
printf '%-5s %3s   %s\n' mode run "owned moved first median last"
printf '%s\n' "${rows[@]}"
