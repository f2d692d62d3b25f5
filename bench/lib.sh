# bench/lib.sh — sourced by the BGP benchmarks (bgp_announce.sh, from_start.sh), not run.
#
# Two network namespaces joined by a veth pair, a receiver and a sender:
#
#   $NS_R $RCV_IP (AS $RCV_AS) ──veth── $NS_S $SND_IP (AS $SND_AS)
#
# and what both benchmarks do with them: start and stop only their own processes, build the
# preloaded inputs of gobgpd (an MRT file) and of a BIRD sender (static routes), read a process's
# peak RSS and CPU time. The caller sets NS_R, NS_S, RCV_IP, SND_IP, RCV_AS, SND_AS and
# BENCH_DIR before sourcing; every address announced is in 198.18.0.0/15 (RFC 2544).

PIDS=()

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
rcv() { ip netns exec "$NS_R" "$@"; }
snd() { ip netns exec "$NS_S" "$@"; }

# Stops everything this run started, then deletes its namespaces.
bench_cleanup() {
  local p ns
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # anything else still running inside OUR namespaces was started by us
  for ns in "$NS_R" "$NS_S"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  sleep 0.1
  for ns in "$NS_R" "$NS_S"; do ip netns del "$ns" 2>/dev/null; done
  return 0
}

bench_trap_cleanup() {
  trap bench_cleanup EXIT
  trap 'trap - EXIT; bench_cleanup; exit 130' INT TERM
}

net_up() {
  local ns
  for ns in "$NS_R" "$NS_S"; do
    ip netns list | grep -qw "$ns" && die "namespace $ns exists (another run? remove it with: ip netns del $ns)"
  done
  for ns in "$NS_R" "$NS_S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip link add eth0 netns "$NS_R" type veth peer name eth0 netns "$NS_S"
  ip -n "$NS_R" addr add "$RCV_IP/24" dev eth0; ip -n "$NS_R" link set eth0 up
  ip -n "$NS_S" addr add "$SND_IP/24" dev eth0; ip -n "$NS_S" link set eth0 up
}

# stops one process we started (SIGTERM, then SIGKILL after 5 s)
stop_pid() {
  local p=$1
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$p" 2>/dev/null; return 0
}

# waits for a pid file and prints the pid
pid_from() { for _ in $(seq 100); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.05; done; return 1; }

# peak resident set (VmHWM) of a process, MB
hwm_mb() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# user+system CPU ticks of a process
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

mrt_make() {  # $1 = N, $2 = file: TABLE_DUMP_V2, N host routes from 198.18.0.0
  python3 - "$1" "$2" "$SND_IP" "$SND_AS" <<'PY'
import socket, struct, sys, time
n, path, nh, asn = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ts = int(time.time())
def mrt(sub, body): return struct.pack('!IHHI', ts, 13, sub, len(body)) + body
peer = struct.pack('!B4s4sI', 0x02, socket.inet_aton(nh), socket.inet_aton(nh), asn)
out = [mrt(1, socket.inet_aton(nh) + struct.pack('!HH', 0, 1) + peer)]
attrs = bytes([0x40, 1, 1, 0]) + bytes([0x40, 2, 0]) + bytes([0x40, 3, 4]) + socket.inet_aton(nh)
base = struct.unpack('!I', socket.inet_aton('198.18.0.0'))[0]
# `gobgp mrt inject` (gobgp 3.10) drops the last ~510 records of a stream. The tail is padded
# with the first 4096 records AGAIN: whatever of the padding is lost, the RIB ends up with
# exactly the N measured prefixes (a re-added identical path replaces the first copy), and
# nothing outside the measured range is ever announced.
seq = list(range(n)) + list(range(min(n, 4096)))
for i, j in enumerate(seq):
    body = struct.pack('!IB', i, 32) + struct.pack('!I', base + j) + struct.pack('!H', 1)
    body += struct.pack('!HIH', 0, ts, len(attrs)) + attrs
    out.append(mrt(2, body))
open(path, 'wb').write(b''.join(out))
PY
}

# IPv4 destinations in the sender namespace's gobgpd
gobgp_rib_count() {
  snd gobgp global rib summary -a ipv4 2>/dev/null | awk -F'[:,] *' '/Destination/{print $2; exit}'
}

# gobgpd in the sender namespace with the N routes of the MRT file $2 preloaded. $3 = the
# neighbour section of its configuration (empty: none yet). Sets SND_PID.
gobgpd_preloaded() {  # $1 = N, $2 = MRT file, $3 = neighbours (TOML)
  local d=$BENCH_DIR/snd-gobgpd n=$1 c
  rm -rf "$d"; mkdir -p "$d"
  cat >"$d/gobgpd.toml" <<CONF
[global.config]
  as = $SND_AS
  router-id = "$SND_IP"
$3
CONF
  # the API listens on the sender namespace's own loopback
  ip netns exec "$NS_S" gobgpd -f "$d/gobgpd.toml" -p --pprof-disable --api-hosts 127.0.0.1:50051 >"$d/gobgpd.log" 2>&1 &
  SND_PID=$!; PIDS+=("$SND_PID")
  for _ in $(seq 100); do snd gobgp global >/dev/null 2>&1 && break; sleep 0.05; done
  kill -0 "$SND_PID" 2>/dev/null || die "gobgpd did not start: $(tail -3 "$d/gobgpd.log")"
  snd gobgp mrt inject global --no-ipv6 --nexthop "$SND_IP" "$2" >"$d/inject.log" 2>&1 \
    || die "gobgp mrt inject: $(cat "$d/inject.log")"
  for _ in $(seq 1200); do
    c=$(gobgp_rib_count); [ "${c:-0}" -ge "$n" ] && break; sleep 0.1
  done
  [ "${c:-0}" -eq "$n" ] || die "gobgpd RIB holds ${c:-0} destinations, not $n"
}

# N `route 198.18.x.y/32 blackhole;` lines for a BIRD static protocol
bird_static_routes() {  # $1 = N
  python3 - "$1" <<'PY'
import sys
base = (198 << 24) | (18 << 16)
w = sys.stdout.write
for i in range(int(sys.argv[1])):
    a = base + i
    w(f"route {a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}/32 blackhole;\n")
PY
}
