#!/usr/bin/env bash
# bench/from_start.sh [N...] — benchmark, not a test.
#
# N LoadBalancer Services (default: 10000 and 100000), each holding an address of one Eip and
# with one EndpointSlice (a ready endpoint on this node), one BgpPeer: how long from *process
# start* until a BIRD 2 receiver's kernel FIB holds all N routes, and the sender's peak RSS.
# Side by side, in the same run, against the same receiver:
#
#   porter (manifests)  `porter speaker --manifests DIR` reading 10 YAML files
#   porter (API)        `porter speaker` on a kubeconfig naming the fake API server
#                       (porter-fake-api, another process) serving the same objects
#   gobgpd (preloaded)  gobgpd with the N routes injected first (`gobgp mrt inject`); the clock
#                       starts when the peer is configured (`gobgp neighbor add`)
#   BIRD                a BIRD 2 sender with N static routes in its bird.conf, from its start
#
#   start-rcv 10.77.0.1 (BIRD 2, AS 64512, kernel protocol) ──veth── start-snd 10.77.0.2 (sender, AS 64513)
#
# The receiver BIRD is passive (every sender dials it) and exports what it learns to the
# namespace's kernel table; the run is over when `ip -4 route show proto bird` counts N routes
# (polled every $BENCH_POLL s, default 0.1: that is the resolution, plus the time `ip` takes to
# list N routes). It is started afresh, with an empty FIB, for every sender. Peak RSS is the
# sender's VmHWM read right after (for porter: loading, planning and the session; gobgpd's
# includes its preloading; the fake API server's own memory is not the speaker's and is not
# counted). Both porter rows run the release `porter` binary, as shipped.
#
# The objects come from crates/porter/examples/scale_objects.rs (crates/porter/examples/scale/
# objects.rs), written once per N under $BENCH_DIR (default /tmp/porter-from-start).
# Environment: BENCH_RUNS (runs per sender and N, default 1), BENCH_POLL, BENCH_DIR,
# BENCH_SENDERS (default "porter-manifests porter-api gobgpd bird"), BENCH_SMAPS (set: keep
# each sender's /proc/PID/smaps, read with the VmHWM, as $BENCH_DIR/smaps-SENDER-N), PORTER_BIN and
# SCALE_OBJECTS (prebuilt binaries; default: built here, release, in $CARGO_TARGET_DIR).
#
# Needs root, iproute2, bird2, gobgpd/gobgp, python3. Everything it starts lives in its own
# namespaces and is stopped on exit or Ctrl-C. Figures: docs/benchmarks.md.
set -u -o pipefail

NS_R=start-rcv
NS_S=start-snd
RCV_IP=10.77.0.1
SND_IP=10.77.0.2
RCV_AS=64512
SND_AS=64513
BENCH_DIR=${BENCH_DIR:-/tmp/porter-from-start}
BENCH_RUNS=${BENCH_RUNS:-1}
BENCH_POLL=${BENCH_POLL:-0.1}
BENCH_SENDERS=${BENCH_SENDERS:-"porter-manifests porter-api gobgpd bird"}
TIMEOUT=300
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_trap_cleanup

birdc_r() { rcv birdc -s "$BENCH_DIR/rcv/bird.ctl" "$@"; }
fib_count() { rcv ip -4 route show proto bird 2>/dev/null | wc -l; }

# ---------------------------------------------------------------- receiver
receiver_up() {
  local d=$BENCH_DIR/rcv
  rm -rf "$d"; mkdir -p "$d"
  rcv ip -4 route flush proto bird 2>/dev/null
  cat >"$d/bird.conf" <<CONF
log "$d/bird.log" { info, warning, error, fatal };
router id $RCV_IP;
protocol device { scan time 10; }
protocol kernel {
  ipv4 { import none; export all; };
}
protocol bgp snd {
  local $RCV_IP as $RCV_AS;
  neighbor $SND_IP as $SND_AS;
  passive on;
  ipv4 { import all; export none; };
}
CONF
  rcv bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" >"$d/bird.out" 2>&1 || die "receiver bird: $(cat "$d/bird.out")"
  RCV_PID=$(pid_from "$d/bird.pid") || die "receiver bird did not start"
  PIDS+=("$RCV_PID")
  for _ in $(seq 100); do birdc_r show status >/dev/null 2>&1 && return 0; sleep 0.05; done
  die "receiver bird does not answer"
}
receiver_down() {
  stop_pid "$RCV_PID"
  rcv ip -4 route flush proto bird 2>/dev/null
  return 0
}

# ---------------------------------------------------------------- inputs, once per N
prepare() {  # $1 = N
  local n=$1
  [ -d "$BENCH_DIR/manifests-$n" ] || {
    log "writing the manifests for $n Services"
    "$SCALE_OBJECTS" manifests --count "$n" --dir "$BENCH_DIR/manifests-$n" --files 10 \
      --node n1 --node-ip "$SND_IP" --node-as "$SND_AS" --peer-ip "$RCV_IP" --peer-as "$RCV_AS" \
      || die "scale_objects manifests"
  }
  [ -f "$BENCH_DIR/rib-$n.mrt" ] || mrt_make "$n" "$BENCH_DIR/rib-$n.mrt"
  [ -f "$BENCH_DIR/bird-routes-$n.conf" ] || bird_static_routes "$n" >"$BENCH_DIR/bird-routes-$n.conf"
}

# ---------------------------------------------------------------- senders: start one, set T0 and SND_PID
start_porter_manifests() {  # $1 = N
  local d=$BENCH_DIR/snd-porter-manifests
  rm -rf "$d"; mkdir -p "$d"
  # a copy: the speaker writes its session report into the folder's status/
  cp -r "$BENCH_DIR/manifests-$1" "$d/manifests"
  sync
  T0=$(now)
  ip netns exec "$NS_S" env RUST_LOG=info "$PORTER_BIN" speaker --manifests "$d/manifests" --node n1 \
    >"$d/out.log" 2>&1 &
  SND_PID=$!; PIDS+=("$SND_PID")
}

start_porter_api() {  # $1 = N
  local d=$BENCH_DIR/snd-porter-api
  rm -rf "$d"; mkdir -p "$d"
  # the fake API server first, in the sender's namespace (the speaker reaches it on 127.0.0.1)
  ip netns exec "$NS_S" "$SCALE_OBJECTS" serve --count "$1" --kubeconfig "$d/kubeconfig" \
    --node n1 --node-ip "$SND_IP" --node-as "$SND_AS" --peer-ip "$RCV_IP" --peer-as "$RCV_AS" \
    >"$d/api.log" 2>&1 &
  API_PID=$!; PIDS+=("$API_PID")
  for _ in $(seq 3000); do grep -q '^ready' "$d/api.log" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready' "$d/api.log" || die "the fake API server did not start: $(tail -3 "$d/api.log")"
  T0=$(now)
  ip netns exec "$NS_S" env RUST_LOG=info KUBECONFIG="$d/kubeconfig" "$PORTER_BIN" speaker --node n1 \
    >"$d/out.log" 2>&1 &
  SND_PID=$!; PIDS+=("$SND_PID")
}

start_gobgpd() {  # $1 = N
  gobgpd_preloaded "$1" "$BENCH_DIR/rib-$1.mrt" ""
  T0=$(now)
  snd gobgp neighbor add "$RCV_IP" as "$RCV_AS" >/dev/null || die "gobgp neighbor add"
}

start_bird() {  # $1 = N
  local d=$BENCH_DIR/snd-bird
  rm -rf "$d"; mkdir -p "$d"
  cat >"$d/bird.conf" <<CONF
log "$d/bird.log" { info, warning, error, fatal };
router id $SND_IP;
protocol device { scan time 10; }
protocol static bench {
  ipv4;
  include "$BENCH_DIR/bird-routes-$1.conf";
}
protocol bgp rcv {
  local $SND_IP as $SND_AS;
  neighbor $RCV_IP as $RCV_AS;
  ipv4 { import none; export all; };
}
CONF
  T0=$(now)
  # `ip netns exec` directly (not through a shell function): then $! is BIRD itself
  ip netns exec "$NS_S" bird -f -c "$d/bird.conf" -s "$d/bird.ctl" >"$d/bird.out" 2>&1 &
  SND_PID=$!; PIDS+=("$SND_PID")
}

# ---------------------------------------------------------------- one measurement
ROWS=()
measure() {  # $1 = sender, $2 = N
  local name=$1 n=$2 c=0 tall hwm row
  API_PID=""
  receiver_up
  case "$name" in
    porter-manifests) start_porter_manifests "$n" ;;
    porter-api) start_porter_api "$n" ;;
    gobgpd) start_gobgpd "$n" ;;
    bird) start_bird "$n" ;;
    *) die "unknown sender $name" ;;
  esac
  while :; do
    c=$(fib_count)
    [ "$c" -ge "$n" ] && break
    kill -0 "$SND_PID" 2>/dev/null || { log "$name exited"; break; }
    [ "$(dt "$T0" "$(now)" | cut -d. -f1)" -ge "$TIMEOUT" ] && { log "TIMEOUT: $name: $c of $n"; break; }
    sleep "$BENCH_POLL"
  done
  tall=$(now)
  hwm=$(hwm_mb "$SND_PID")
  # where the memory is, for reading later (BENCH_SMAPS=1): every mapping's resident size
  [ -n "${BENCH_SMAPS:-}" ] && cp "/proc/$SND_PID/smaps" "$BENCH_DIR/smaps-$name-$n" 2>/dev/null
  row=$(printf '%-17s %7d %10s %9s' "$name" "$n" "$(dt "$T0" "$tall")" "$hwm")
  [ "$c" -ge "$n" ] || row="$row  (NOT DONE: $c routes)"
  ROWS+=("$row")
  log "$row"
  stop_pid "$SND_PID"
  [ -n "$API_PID" ] && stop_pid "$API_PID"
  # whatever else still runs in the sender's namespace was started by this run: stop it, so
  # the next sender meets the receiver alone
  for p in $(ip netns pids "$NS_S" 2>/dev/null); do stop_pid "$p"; done
  receiver_down
}

# ---------------------------------------------------------------- main
[ "$(id -u)" = 0 ] || die "run as root (network namespaces)"
NS=${*:-"10000 100000"}
target=${CARGO_TARGET_DIR:-$ROOT/target}/release
if [ -z "${PORTER_BIN:-}" ] || [ -z "${SCALE_OBJECTS:-}" ]; then
  log "building porter and the scale_objects example (release)"
  (cd "$ROOT" && cargo build --release -q -p porter --bin porter --example scale_objects) || die "build failed"
fi
PORTER_BIN=${PORTER_BIN:-$target/porter}
SCALE_OBJECTS=${SCALE_OBJECTS:-$target/examples/scale_objects}
mkdir -p "$BENCH_DIR"
net_up
log "bird $(bird --version 2>&1 | awk '{print $3}'), $(gobgpd --version), kernel $(uname -r), $(nproc) cores"
for n in $NS; do
  prepare "$n"
  for _ in $(seq "$BENCH_RUNS"); do
    for s in $BENCH_SENDERS; do measure "$s" "$n"; done
  done
done
echo
echo "From process start to N routes in a BIRD 2 receiver's kernel FIB (polled every ${BENCH_POLL}s)"
printf '%-17s %7s %10s %9s\n' source N "seconds" "RSS(MB)"
for r in "${ROWS[@]}"; do echo "$r"; done
