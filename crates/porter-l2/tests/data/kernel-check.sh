#!/usr/bin/env bash
# Checks porter-l2's frames against a real Linux neighbour table (run as root; needs iproute2,
# iputils-ping, python3). A client namespace and a "link" namespace joined by a veth pair; in
# the link namespace a Python AF_PACKET loop moves frames to and from `l2_pipe` (the example:
# one Responder per simulated node, MAC1 and MAC2) and the client's `ip neigh` shows what the
# kernel made of them. Prints one line per check and exits non-zero if one fails.
#
#   cargo build -p porter-l2 --example l2_pipe && crates/porter-l2/tests/data/kernel-check.sh PATH/TO/l2_pipe
set -euo pipefail
pipe=$(realpath "${1:?usage: kernel-check.sh PATH/TO/l2_pipe}")
ip netns add l2c
ip netns add l2n
trap 'ip netns del l2c; ip netns del l2n' EXIT
ip link add vc netns l2c type veth peer name vn netns l2n
ip -n l2c addr add 10.0.0.1/24 dev vc
ip -n l2c -6 addr add 2001:db8::1/64 dev vc nodad
ip -n l2c link set vc up
ip -n l2n link set vn up
sleep 1
ip netns exec l2n python3 - "$pipe" <<'PY'
import os, select, socket, struct, subprocess, sys, time

PIPE = sys.argv[1]
MAC1, MAC2 = "02:00:5e:00:01:01", "02:00:5e:00:01:02"
V4, V6 = "10.0.0.100", "2001:db8::100"
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
sock.bind(("vn", 0))
failed = []

class Node:
    def __init__(self, mac):
        self.p = subprocess.Popen([PIPE, mac], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
    def cmd(self, line):
        self.p.stdin.write(line + "\n"); self.p.stdin.flush()
        out = []
        while (l := self.p.stdout.readline().strip()) != "end":
            out.append(bytes.fromhex(l.split()[1]))
        return out

def client(*args):
    return subprocess.run(["ip", "netns", "exec", "l2c", *args], capture_output=True, text=True).stdout

def neigh(addr):
    out = client("ip", "neigh", "show", addr, "dev", "vc").split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None

def set_neigh(addr, mac):
    client("ip", "neigh", "replace", addr, "lladdr", mac, "dev", "vc", "nud", "reachable")

def check(name, got, want):
    ok = got == want
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {got} (want {want})")
    if not ok:
        failed.append(name)

def serve(node, seconds):
    """Answer the client for a while, as the speaker's shell would."""
    end = time.time() + seconds
    while (left := end - time.time()) > 0:
        if select.select([sock], [], [], left)[0]:
            frame, meta = sock.recvfrom(2048)
            if meta[2] == socket.PACKET_OUTGOING:
                continue
            for reply in node.cmd("frame " + frame.hex()):
                sock.send(reply)

def fix_icmpv6(f):
    f = bytearray(f); f[56:58] = b"\0\0"
    n = struct.unpack("!H", f[18:20])[0]
    data = bytes(f[22:54]) + struct.pack("!I", n) + b"\0\0\0\x3a" + bytes(f[54:54 + n])
    s = sum(struct.unpack(f"!{len(data)//2}H", data))
    while s > 0xffff: s = (s & 0xffff) + (s >> 16)
    f[56:58] = struct.pack("!H", ~s & 0xffff)
    return bytes(f)

n1, n2 = Node(MAC1), Node(MAC2)
n1.cmd(f"acquire {V4}"); n1.cmd(f"acquire {V6}")

# 1. Answers: the client resolves each address to node 1's MAC.
subprocess.Popen(["ip", "netns", "exec", "l2c", "ping", "-c1", "-W1", V4], stdout=subprocess.DEVNULL)
subprocess.Popen(["ip", "netns", "exec", "l2c", "ping", "-6", "-c1", "-W1", V6], stdout=subprocess.DEVNULL)
serve(n1, 1.5)
check("ARP request answered", neigh(V4), MAC1)
check("NS answered", neigh(V6), MAC1)

# 2. Takeover: node 1 releases, node 2 acquires; its first round moves the client.
n1.cmd(f"release {V4}"); n1.cmd(f"release {V6}")
for f in n2.cmd(f"acquire {V4}") + n2.cmd(f"acquire {V6}"):
    sock.send(f)
time.sleep(0.2)
check("takeover, IPv4 (gratuitous request + reply)", neigh(V4), MAC2)
check("takeover, IPv6 (unsolicited NA)", neigh(V6), MAC2)

# 3. Each gratuitous form alone moves an entry updated a moment ago (within locktime).
n2.cmd(f"release {V4}")  # acquire again for a fresh first round
garp_req, garp_rep = n2.cmd(f"acquire {V4}")
for name, frame, want in [
    ("gratuitous request alone", garp_req, MAC2),
    ("gratuitous reply alone (target MAC = ours)", garp_rep, MAC2),
    # Control: the reply with a zero target MAC is no gratuitous ARP to Linux; within its 1 s
    # locktime it does not override the entry.
    ("control: reply with zero target MAC, within locktime", garp_rep[:32] + bytes(6) + garp_rep[38:], MAC1),
]:
    set_neigh(V4, MAC1)
    sock.send(frame)
    time.sleep(0.1)
    check(name, neigh(V4), want)

# 4. O = 1 is what moves an IPv6 entry (RFC 4861 §7.2.5): the same NA with O = 0 does not.
n2.cmd(f"release {V6}")
(na,) = n2.cmd(f"acquire {V6}")
for name, frame, want in [
    ("unsolicited NA, O = 1", na, MAC2),
    ("control: the same NA with O = 0", fix_icmpv6(na[:58] + bytes([na[58] & ~0x20]) + na[59:]), MAC1),
]:
    set_neigh(V6, MAC1)
    sock.send(frame)
    time.sleep(0.1)
    check(name, neigh(V6), want)

# 5. With arp_accept = 0 (the default) a gratuitous ARP creates no entry: a client that never
# asked learns the owner by asking (answered as in 1).
client("ip", "neigh", "flush", "dev", "vc")
sock.send(garp_req); sock.send(garp_rep)
time.sleep(0.1)
check("no entry created by gratuitous ARP (arp_accept = 0)", neigh(V4), None)

print(f"{len(failed)} failed" if failed else "all checks passed")
sys.exit(1 if failed else 0)
PY
