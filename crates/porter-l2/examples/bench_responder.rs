//! Cost of the layer 2 core (docs/benchmarks.md, "Layer 2 core"): one Responder owning N
//! addresses (half IPv4, half IPv6) answers R requests of each kind, and sends the whole
//! announcement series of every address. Prints times and the process's peak RSS; asserts
//! only behaviour (every owned request answered, every round sent).
//!
//! ```sh
//! cargo run --release -p porter-l2 --example bench_responder -- 100000 1000000
//! ```
// A measurement harness: it reads the clock and /proc, which the core never does.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use porter_l2::{ANNOUNCE_AT, Mac, Responder, Verdict, build};

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn v4(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + i)
}

fn v6(i: u32) -> Ipv6Addr {
    Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(i))
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>().expect("a number"));
    let n = args.next().unwrap_or(10_000);
    let requests = args.next().unwrap_or(1_000_000);
    let us = Mac([2, 0, 0x5e, 0, 0, 1]);
    let client = Mac([2, 0, 0x5e, 0, 0, 9]);
    let before = vm_hwm_kb();

    let t0 = Instant::now();
    let mut r = Responder::new(us);
    let start = Instant::now();
    for i in 0..n {
        let addr: IpAddr = if i % 2 == 0 {
            v4(i).into()
        } else {
            v6(i).into()
        };
        r.acquire(t0, addr).expect("unicast");
    }
    let mut sent = 0u64;
    while let Some(f) = r.poll_transmit() {
        assert!(!f.bytes.is_empty());
        sent += 1;
    }
    let acquire = start.elapsed();
    let hwm_owned = vm_hwm_kb();

    // Requests: owned and not, ARP and NS, built once and replayed.
    let frames: Vec<Vec<u8>> = (0..1024u32)
        .map(|k| {
            let i = (k * 7919) % (2 * n.max(1));
            if k % 2 == 0 {
                build::arp_request(client, Ipv4Addr::new(192, 0, 2, 1), v4(i & !1))
            } else {
                build::neighbor_solicitation(
                    client,
                    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9),
                    v6(i | 1),
                )
            }
        })
        .collect();
    let start = Instant::now();
    let (mut replies, mut not_owned) = (0u64, 0u64);
    for k in 0..requests as usize {
        match r.handle_frame(&frames[k % frames.len()]) {
            Verdict::Reply(_) => replies += 1,
            _ => not_owned += 1,
        }
    }
    let answer = start.elapsed();
    assert_eq!(replies + not_owned, u64::from(requests));
    assert_eq!(r.counters().replies, replies);

    // The rest of every series, as a shell would drive it.
    let start = Instant::now();
    while let Some(at) = r.poll_timeout() {
        r.handle_timeout(at);
        while r.poll_transmit().is_some() {
            sent += 1;
        }
    }
    let series = start.elapsed();
    let per_round = u64::from(n / 2) * 2 + u64::from(n - n / 2);
    assert_eq!(sent, per_round * ANNOUNCE_AT.len() as u64);

    let per = |d: Duration, k: u64| d.as_nanos() as f64 / k.max(1) as f64;
    println!("owned addresses       {n}");
    println!(
        "acquire + first round {:?} ({:.0} ns per address)",
        acquire,
        per(acquire, n.into())
    );
    println!(
        "requests              {requests}: {replies} answered, {not_owned} not owned, {:?} ({:.0} ns per frame)",
        answer,
        per(answer, requests.into())
    );
    println!(
        "rest of the series    {:?} for {} frames",
        series,
        sent - per_round
    );
    println!(
        "VmHWM                 {before} kB at start, {hwm_owned} kB owning {n}, {} kB at end",
        vm_hwm_kb()
    );
}
