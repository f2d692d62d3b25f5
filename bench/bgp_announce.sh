#!/usr/bin/env bash
# bench/bgp_announce.sh [N...] — benchmark, not a test.
#
# Advertises N /32s (default: 10000 and 100000) from 198.18.0.0/15 to a BIRD 2 receiver from
# three senders in turn — porter (the real speaker shell, crates/porter-speaker/examples/
# announce.rs), gobgpd and another BIRD 2 — and prints, side by side, the time from "session
# enabled" to "the receiver holds all N" and the sender's peak RSS.
#
#   bench-rcv 10.77.0.1 (BIRD 2, AS 64512) ──veth── bench-snd 10.77.0.2 (sender, AS 64513)
#
# Fair setup: each sender is started and FULLY LOADED first (porter: plan handed to the
# speaker; gobgpd: `gobgp mrt inject` until `gobgp global rib summary` shows N; BIRD: a static
# protocol with N blackhole routes, until it has imported N). Every sender only listens
# (passive); the receiver's BGP protocol starts `disabled`. The clock starts at
# `birdc enable snd` on the receiver, which then dials the sender; it stops when the receiver's
# protocol reports N routes imported (BIRD's RIB: no kernel protocol, so netlink is not
# measured). The receiver is polled every $BENCH_POLL s (default 0.05): that is the
# resolution. The receiver BIRD is restarted for every run, so each sender meets a fresh one.
#
# Columns: enable→up = until the receiver's session is Established, read from the receiver's
# log (ms timestamps); it is BIRD's own connect delay, identical for every sender; up→99% and
# up→all = from Established to >= 99% / all N in the receiver's RIB (the sender's part; a
# BIRD sender holds its last UPDATE until its main loop next wakes up, up to 3 s, which
# up→99% leaves out); enable→all = the total; RSS = the sender's VmHWM (peak resident set over
# its whole life, including loading) read right after the last route arrived; CPU = the
# sender's user+system CPU seconds spent between enable and all received (10 ms ticks);
# bytes = TCP payload bytes the receiver got on the session (from `ss -ti`).
#
# Environment: BENCH_RUNS (runs per sender and N, default 1), BENCH_POLL (s, default 0.05),
# BENCH_DIR (state, default /tmp/porter-bench), PORTER_ANNOUNCE (a prebuilt announce binary;
# default: built here with `cargo build --release`, target dir $CARGO_TARGET_DIR or ./target),
# BENCH_SENDERS (default "porter gobgpd bird").
#
# Needs root, iproute2, bird2 (bird, birdc), gobgpd/gobgp, python3. Everything it starts lives
# in its own namespaces (bench-rcv, bench-snd) and is stopped on exit or Ctrl-C.
set -u -o pipefail

NS_R=bench-rcv
NS_S=bench-snd
RCV_IP=10.77.0.1
SND_IP=10.77.0.2
RCV_AS=64512
SND_AS=64513
BENCH_DIR=${BENCH_DIR:-/tmp/porter-bench}
BENCH_RUNS=${BENCH_RUNS:-1}
BENCH_POLL=${BENCH_POLL:-0.05}
BENCH_SENDERS=${BENCH_SENDERS:-"porter gobgpd bird"}
TIMEOUT=300
# BENCH_DEBUG=1: both BIRDs log BGP states, events and packets (ms timestamps) to their logs;
# otherwise the receiver logs only its state changes (the moment it is Established)
BIRD_DEBUG=""; RCV_DEBUG=" debug { states };"
[ "${BENCH_DEBUG:-0}" = 1 ] && BIRD_DEBUG=" debug { states, events, packets };" && RCV_DEBUG=$BIRD_DEBUG
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

birdc_r() { rcv birdc -s "$BENCH_DIR/rcv/bird.ctl" "$@"; }
birdc_s() { snd birdc -s "$BENCH_DIR/snd-bird/bird.ctl" "$@"; }

bench_trap_cleanup

# ---------------------------------------------------------------- receiver
receiver_up() {
  local d=$BENCH_DIR/rcv
  rm -rf "$d"; mkdir -p "$d"
  cat >"$d/bird.conf" <<CONF
log "$d/bird.log" all;
timeformat log "%F %T.%3f";
router id $RCV_IP;
protocol device { scan time 10; }
protocol bgp snd {
  disabled;
  local $RCV_IP as $RCV_AS;
  neighbor $SND_IP as $SND_AS;
  connect delay time 1;$RCV_DEBUG
  ipv4 { import all; export none; };
}
CONF
  rcv bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" >"$d/bird.out" 2>&1 || die "receiver bird: $(cat "$d/bird.out")"
  RCV_PID=$(pid_from "$d/bird.pid") || die "receiver bird did not start"
  PIDS+=("$RCV_PID")
  for _ in $(seq 100); do birdc_r show status >/dev/null 2>&1 && return 0; sleep 0.05; done
  die "receiver bird does not answer"
}
receiver_down() { stop_pid "$RCV_PID"; }

# one poll of the receiver: "<state> <routes imported>"
receiver_poll() {
  birdc_r show protocols all snd 2>/dev/null | awk '
    /BGP state:/ {s=$3}
    /Routes:/ {r=$2}
    END {printf "%s %d\n", (s==""?"-":s), r}'
}

# ---------------------------------------------------------------- senders
porter_up() {  # $1 = N
  local d=$BENCH_DIR/snd-porter
  rm -rf "$d"; mkdir -p "$d"
  # `ip netns exec` directly (not through a shell function): then $! is the speaker itself
  ip netns exec "$NS_S" "$PORTER_ANNOUNCE" --peer "$RCV_IP" --peer-as "$RCV_AS" --local-as "$SND_AS" \
    --router-id "$SND_IP" --count "$1" --first 198.18.0.0 --passive --listen-port 179 \
    >"$d/out.log" 2>"$d/err.log" &
  SND_PID=$!; PIDS+=("$SND_PID")
  # loaded once the session task runs (it reports its first state): plan built, routes handed over
  for _ in $(seq 600); do grep -q ' state=' "$d/out.log" 2>/dev/null && return 0; sleep 0.05; done
  die "porter did not start: $(cat "$d/err.log")"
}

gobgpd_up() {  # $1 = N
  local n=$1
  [ -f "$BENCH_DIR/rib-$n.mrt" ] || mrt_make "$n" "$BENCH_DIR/rib-$n.mrt"
  gobgpd_preloaded "$n" "$BENCH_DIR/rib-$n.mrt" "[[neighbors]]
  [neighbors.config]
    neighbor-address = \"$RCV_IP\"
    peer-as = $RCV_AS
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = \"ipv4-unicast\""
}

bird_sender_up() {  # $1 = N
  local d=$BENCH_DIR/snd-bird n=$1 c
  rm -rf "$d"; mkdir -p "$d"
  bird_static_routes "$n" >"$d/routes.conf"
  cat >"$d/bird.conf" <<CONF
log "$d/bird.log" all;
timeformat log "%F %T.%3f";
router id $SND_IP;
protocol device { scan time 10; }
protocol static bench {
  ipv4;
  include "$d/routes.conf";
}
protocol bgp rcv {
  local $SND_IP as $SND_AS;
  neighbor $RCV_IP as $RCV_AS;
  passive on;$BIRD_DEBUG
  ipv4 { import none; export all; };
}
CONF
  snd bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" >"$d/bird.out" 2>&1 || die "sender bird: $(cat "$d/bird.out")"
  SND_PID=$(pid_from "$d/bird.pid") || die "sender bird did not start"
  PIDS+=("$SND_PID")
  for _ in $(seq 1200); do
    c=$(birdc_s show protocols all bench 2>/dev/null | awk '/Routes:/{print $2}')
    [ "${c:-0}" -ge "$n" ] && return 0; sleep 0.1
  done
  die "sender bird loaded ${c:-0} of $n routes"
}

# ---------------------------------------------------------------- one measurement
ROWS=()
# epoch seconds at which the receiver went Established (its log has ms timestamps)
established_at() {
  local ts
  ts=$(grep -m1 -E 'snd: (BGP session established|State changed to up)' "$BENCH_DIR/rcv/bird.log" | cut -d' ' -f1,2)
  [ -n "$ts" ] && date -d "$ts" +%s.%N
}
measure() {  # $1 = sender name, $2 = N
  local name=$1 n=$2 t0 tup t99="" tall out c=0 cpu0 cpu1 hwm bytes
  receiver_up
  case "$name" in
    porter) porter_up "$n" ;;
    gobgpd) gobgpd_up "$n" ;;
    bird) bird_sender_up "$n" ;;
  esac
  sleep 1   # let the sender settle (GC, config parsing) before the clock starts
  cpu0=$(cpu_ticks "$SND_PID")
  t0=$(now)
  birdc_r enable snd >/dev/null
  while :; do
    out=$(receiver_poll); c=${out#* }
    [ -z "$t99" ] && [ "$c" -ge $((n * 99 / 100)) ] && t99=$(now)
    [ "$c" -ge "$n" ] && break
    [ "$(dt "$t0" "$(now)" | cut -d. -f1)" -ge "$TIMEOUT" ] && { log "TIMEOUT: $name has $c of $n"; break; }
    sleep "$BENCH_POLL"
  done
  tall=$(now)
  cpu1=$(cpu_ticks "$SND_PID")
  hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$SND_PID/status")
  bytes=$(rcv ss -tiH state established "( sport = :179 or dport = :179 )" | grep -o 'bytes_received:[0-9]*' | head -1 | cut -d: -f2)
  tup=$(established_at); [ -n "$tup" ] || tup=$t0
  [ -n "$t99" ] || t99=$tall
  local row
  row=$(printf '%-7s %7d %10s %9s %9s %11s %8s %7s %9s' "$name" "$n" "$(dt "$t0" "$tup")" "$(dt "$tup" "$t99")" \
    "$(dt "$tup" "$tall")" "$(dt "$t0" "$tall")" "$hwm" \
    "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", (b-a)/100}')" "${bytes:-?}")
  [ "$c" -ge "$n" ] || row="$row  (TIMEOUT at $c)"
  ROWS+=("$row")
  log "$row"
  stop_pid "$SND_PID"
  receiver_down
}

# ---------------------------------------------------------------- main
[ "$(id -u)" = 0 ] || die "run as root (network namespaces)"
NS=${*:-"10000 100000"}
if [ -z "${PORTER_ANNOUNCE:-}" ]; then
  log "building the announce example (release)"
  (cd "$ROOT" && cargo build --release -q -p porter-speaker --example announce) || die "build failed"
  PORTER_ANNOUNCE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/announce
fi
[ -x "$PORTER_ANNOUNCE" ] || die "no announce binary at $PORTER_ANNOUNCE"
mkdir -p "$BENCH_DIR"
net_up
log "bird $(bird --version 2>&1 | awk '{print $3}'), $(gobgpd --version), kernel $(uname -r), $(nproc) cores"
for n in $NS; do
  for _ in $(seq "$BENCH_RUNS"); do
    for s in $BENCH_SENDERS; do measure "$s" "$n"; done
  done
done
echo
echo "BGP: N /32s to a BIRD 2 receiver (polled every ${BENCH_POLL}s)"
printf '%-7s %7s %10s %9s %9s %11s %8s %7s %9s\n' sender N "enable→up" "up→99%" "up→all" "enable→all" "RSS(MB)" "CPU(s)" bytes
for r in "${ROWS[@]}"; do echo "$r"; done
