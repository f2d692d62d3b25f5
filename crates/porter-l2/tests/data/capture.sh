#!/usr/bin/env bash
# Regenerates linux-arping-ndisc6.pcap: real frames from Linux, iputils arping and ndisc6 between
# two network namespaces (run as root; needs iproute2, tcpdump, iputils-arping, iputils-ping,
# ndisc6). Side "a" (02:00:5e:00:00:09, 10.0.0.1, 2001:db8::1) asks; side "b"
# (02:00:5e:00:00:01, 10.0.0.2, 2001:db8::2) is a Linux host answering for its own addresses,
# the behaviour porter-l2's tests compare the Responder with (tests/main/captured.rs).
set -euo pipefail
out=${1:-$(dirname "$0")/linux-arping-ndisc6.pcap}
ip netns add l2a
ip netns add l2b
trap 'ip netns del l2a; ip netns del l2b' EXIT
ip link add va netns l2a type veth peer name vb netns l2b
ip -n l2a link set va address 02:00:5e:00:00:09
ip -n l2b link set vb address 02:00:5e:00:00:01
ip -n l2a addr add 10.0.0.1/24 dev va
ip -n l2b addr add 10.0.0.2/24 dev vb
ip -n l2a -6 addr add 2001:db8::1/64 dev va nodad
ip -n l2b -6 addr add 2001:db8::2/64 dev vb nodad
ip -n l2a link set va up
ip -n l2b link set vb up
sleep 2
ip netns exec l2a tcpdump -i va -w "$out" -U 'arp or icmp6' 2>/dev/null &
td=$!
sleep 1
ip netns exec l2a arping -c2 -w2 -I va 10.0.0.2 || true                # broadcast, then unicast request
ip netns exec l2a arping -U -c1 -w1 -I va -s 10.0.0.1 10.0.0.1 || true # gratuitous, request form
ip netns exec l2a arping -A -c1 -w1 -I va -s 10.0.0.1 10.0.0.1 || true # gratuitous, reply form
ip netns exec l2a arping -D -c1 -w1 -I va 10.0.0.5 || true             # RFC 5227 probe
ip netns exec l2a ping -c1 -W1 10.0.0.3 || true                        # the kernel's own request
ip netns exec l2a ndisc6 -1 -r1 -w500 2001:db8::2 va || true           # NS with SLLA, Linux's NA
ip netns exec l2a ping -6 -c1 -W1 2001:db8::6 || true                  # the kernel's own NS
ip -n l2a -6 addr add 2001:db8::7/64 dev va                            # DAD NS (with a nonce)
sleep 2
ip netns exec l2a sysctl -qw net.ipv6.conf.va.ndisc_notify=1
ip -n l2a link set va down
ip -n l2a link set va up                                               # unsolicited NA
sleep 3
kill "$td"
sleep 1
