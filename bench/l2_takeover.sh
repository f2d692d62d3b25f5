#!/usr/bin/env bash
# bench/l2_takeover.sh — layer 2 takeover as a client on the segment sees it (issue 14), on the
# lab's layer 2 mode (lab.sh up-l2: client and three nodes on one bridge, no router).
#
# For one IPv4 and one IPv6 address, its owner fails three ways:
#   stop   the owner's speaker gets SIGTERM (a rolling update): it says goodbye, the next owner
#          takes over at once
#   kill   SIGKILL (a crash): the others count it dead after their heartbeat timeout
#   cut    the owner's port on the bridge goes down (a dead NIC, cable or switch port): the
#          owner isolates itself and stops, the others count it dead
# and for each, RUNS times (default 5):
#   neigh  seconds from the failure until the client's neighbour entry holds the next owner's
#          MAC (polled every ~10 ms): the takeover itself
#   gap    the longest time between two answered requests of a client loop (lab/client_loop.py:
#          one HTTP request per new connection, 0.2 s timeout), and its failed requests.
# In `stop` and `kill` the old owner's node still serves (kube-proxy's part outlives the
# speaker), so the client's requests are answered throughout and the gap stays small whatever
# the takeover takes; `cut` is where a client loses traffic until the takeover.
# Figures, not assertions; docs/benchmarks.md, "Layer 2 takeover", keeps them.
#
# Usage: bench/l2_takeover.sh [RUNS] [MODES] [FAMILIES]   (MODES default "stop kill cut",
# FAMILIES "4 6"). Needs root, python3, curl, and a built porter (PORTER, default
# target/release/porter, built if missing).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
RUNS=${1:-5}
MODES=${2:-"stop kill cut"}
FAMILIES=${3:-"4 6"}
export PORTER=${PORTER:-$repo/target/release/porter}
[ -x "$PORTER" ] || cargo build -q --release -p porter || exit 1
export LAB_PREFIX=bl2- LAB_DIR=${TMPDIR:-/tmp}/porter-bench-l2 LAB_L2_SERVICES=${LAB_L2_SERVICES:-2}
lab() { bash "$repo/lab/lab.sh" "$@"; }
log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }
mac_of() { lab neigh "$1" | awk '{print $1}'; }

# Polls the client's entry for $1 until it holds MAC $2 (at most $3 s after $4, the start);
# prints the seconds since the start, or "never".
wait_mac() {
  local m
  while :; do
    m=$(mac_of "$1")
    [ "$m" = "$2" ] && { dt "$4" "$(now)"; return 0; }
    awk -v a="$4" -v b="$(now)" -v l="$3" 'BEGIN{exit !(b-a > l)}' && { echo never; return 1; }
    sleep 0.01
  done
}

# Requests until node $2 answers $1 and the client's entry holds its MAC (at most 60 s).
settle() {
  local t0; t0=$(now)
  while :; do
    [ "$(lab fetch-one "$1" 1)" = "$2" ] && [ "$(mac_of "$1")" = "$(lab mac "$2")" ] && return 0
    awk -v a="$t0" -v b="$(now)" 'BEGIN{exit !(b-a > 60)}' && return 1
    sleep 0.1
  done
}

stats() {  # numbers on stdin -> "min median max"
  sort -g | awk '{v[NR]=$1} END{if(NR==0){print "-"; exit}; printf "%.3f / %.3f / %.3f", v[1], (NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2), v[NR]}'
}

trap 'lab down' EXIT
trap 'trap - EXIT; lab down; exit 130' INT TERM
log "lab up-l2"
out=$(lab up-l2) || { echo "$out"; log "the lab did not come up"; exit 1; }
declare -A eip
eip[4]=$(echo "$out" | awk '$1=="EIP" && $3 !~ /:/ {print $3; exit}')
eip[6]=$(echo "$out" | awk '$1=="EIP" && $3 ~ /:/ {print $3; exit}')

rows=()
for fam in $FAMILIES; do
  a=${eip[$fam]}
  # the owner: whoever answers once the speakers agree (every node serves its own name)
  owner=""
  for _ in $(seq 300); do owner=$(lab fetch-one "$a" 1); [ "$owner" != FAILED ] && [ -n "$(mac_of "$a")" ] && break; sleep 0.1; done
  sleep 3; owner=$(lab fetch-one "$a" 1)
  settle "$a" "$owner" || { log "IPv$fam $a: no stable owner"; continue; }
  log "IPv$fam $a: owned by $owner ($(lab mac "$owner"))"
  for mode in $MODES; do
    neighs=() gaps=() failed=0 next=""
    for run in $(seq "$RUNS"); do
      stop=$LAB_DIR/l2client.stop; rm -f "$stop" "$LAB_DIR/l2client.json"
      ip netns exec "${LAB_PREFIX}client" python3 "$repo/lab/client_loop.py" "$a" --timeout 0.2 \
        --seconds 120 --stop-file "$stop" --json "$LAB_DIR/l2client.json" >/dev/null 2>&1 &
      client=$!
      sleep 1.5
      before=$(mac_of "$a")
      t0=$(now)
      stopper=""
      case $mode in
        stop) lab stop-speaker "$owner" & stopper=$! ;;
        kill) lab kill-speaker "$owner" & stopper=$! ;;
        cut) lab link-down "$owner" ;;
      esac
      # the next owner: the first MAC other than the owner's the entry holds
      took=never
      while awk -v a="$t0" -v b="$(now)" 'BEGIN{exit !(b-a < 30)}'; do
        m=$(mac_of "$a")
        [ -n "$m" ] && [ "$m" != "$before" ] && { took=$(dt "$t0" "$(now)"); break; }
        sleep 0.01
      done
      [ -n "$stopper" ] && wait "$stopper"
      sleep 2
      touch "$stop"; wait "$client" 2>/dev/null
      res=$(cat "$LAB_DIR/l2client.json" 2>/dev/null)
      gap=$(echo "$res" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max_gap_ms"]/1000)' 2>/dev/null || echo nan)
      f=$(echo "$res" | python3 -c 'import json,sys; print(json.load(sys.stdin)["failed"])' 2>/dev/null || echo 0)
      failed=$((failed + f))
      log "IPv$fam $mode run $run: failure at $(date -d "@$t0" +%T.%3N), entry moved after ${took} s to $m; client: $res"
      [ "$took" != never ] && neighs+=("$took")
      gaps+=("$gap")
      case $mode in
        stop | kill) lab start-speaker "$owner" ;;
        cut) lab link-up "$owner" ;;
      esac
      settle "$a" "$owner" || log "IPv$fam: $owner did not take $a back"
    done
    rows+=("$(printf 'IPv%s  %-5s %4s   %-26s %-26s %s' "$fam" "$mode" "$RUNS" \
      "$(printf '%s\n' "${neighs[@]}" | grep -v '^$' | stats) (${#neighs[@]})" \
      "$(printf '%s\n' "${gaps[@]}" | stats)" "$failed")")
  done
done

echo
echo "layer 2 takeover, $RUNS runs each: seconds, min / median / max"
printf '%-11s %4s   %-26s %-26s %s\n' "fam   mode" runs "client's entry moved (n)" "client loop longest gap" "failed requests"
printf '%s\n' "${rows[@]}"
