#!/usr/bin/env python3
"""A client loop for the lab's failover measurements: one short HTTP request after another,
each on a new TCP connection (so the router's L4 hash spreads them over the next hops), until
the stop file appears or the time runs out. Prints one summary line:

  sent N failed F longest_gap_ms G answered node1=A node2=B ...

and, with --json FILE, the same as JSON in FILE (written whole, then renamed): requests,
failed, max_gap_ms, nodes, and the first 20 errors with their time and exception type (a
ConnectionResetError is a flow the router's hash moved; a TimeoutError, traffic sent where
nothing answers).

A request fails when it is not answered within --timeout (a next hop that is dead, or a
node that stopped serving). The longest gap is the longest time between two answered
requests: what a user of the service sees as an outage.
"""
import argparse
import json
import os
import socket
import sys
import time


def request(host, port, timeout):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\r\nHost: eip\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200") and not head.startswith(b"HTTP/1.1 200"):
        raise OSError("status: " + head.split(b"\r\n")[0].decode(errors="replace"))
    return body.decode(errors="replace").strip()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--timeout", type=float, default=0.5)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--stop-file")
    p.add_argument("--json")
    a = p.parse_args()
    sent = failed = 0
    answered = {}
    errors = []
    start = time.monotonic()
    last_ok = start
    longest = 0.0
    while time.monotonic() - start < a.seconds:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        sent += 1
        try:
            who = request(a.host, a.port, a.timeout)
            now = time.monotonic()
            longest = max(longest, now - last_ok)
            last_ok = now
            answered[who] = answered.get(who, 0) + 1
        except OSError as e:
            failed += 1
            if len(errors) < 20:
                errors.append(f"{time.time():.3f} {type(e).__name__}: {e}")
    longest = max(longest, time.monotonic() - last_ok)
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"requests": sent, "failed": failed, "max_gap_ms": round(longest * 1000, 1),
                       "nodes": answered, "errors": errors}, f)
        os.rename(a.json + ".tmp", a.json)
    nodes = " ".join(f"{k}={v}" for k, v in sorted(answered.items()))
    print(f"sent {sent} failed {failed} longest_gap_ms {longest * 1000:.0f} answered {nodes}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
