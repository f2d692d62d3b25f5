//! What heartbeats cost a speaker's CPU: tagging and checking one datagram, and a speaker with
//! `n` members receiving a heartbeat from each and sending one to each, round after round.
//! `cargo run --release -p porter-member --example cost [n]`. Figures in docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use porter_member::{Config, Key, Kind, Membership, Message};

fn main() {
    let n: usize = std::env::args().nth(1).map_or(1000, |a| a.parse().unwrap());
    let key = Key::new(&[7; 32]).unwrap();
    let message = Message {
        kind: Kind::Heartbeat,
        hears_you: true,
        ready: true,
        boot: 1,
        seq: 1,
        echo: 2,
        from: "worker-0001.example.net".into(),
        to: "worker-0002.example.net".into(),
    };
    let keys = [key.clone()];
    let rounds = 200_000;
    let start = Instant::now();
    let mut bytes = Vec::new();
    for _ in 0..rounds {
        bytes = std::hint::black_box(&message).encode(&key);
    }
    let encode = start.elapsed() / rounds;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(Message::decode(std::hint::black_box(&bytes), &keys).unwrap());
    }
    let decode = start.elapsed() / rounds;
    println!(
        "datagram of {} bytes: encode {encode:?}, decode {decode:?}",
        bytes.len()
    );

    // A speaker "m0" among n members, the others played by crafted heartbeats that echo its
    // boot (as after the handshake), each round a heartbeat from every member and a tick.
    let names: Vec<String> = (0..n)
        .map(|i| format!("worker-{i:04}.example.net"))
        .collect();
    let addr = |i: usize| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32));
    let t0 = Instant::now();
    let mut m = Membership::new(
        Config::default(),
        &names[0],
        NonZeroU64::new(9).unwrap(),
        key.clone(),
        t0,
    );
    m.set_members(
        t0,
        names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), addr(i))),
    );
    let datagram = |from: usize, seq: u64| {
        Message {
            kind: Kind::Heartbeat,
            hears_you: true,
            ready: true,
            boot: 100 + from as u64,
            seq,
            echo: 9,
            from: names[from].clone(),
            to: names[0].clone(),
        }
        .encode(&key)
    };
    let rounds = 20u64;
    let incoming: Vec<Vec<Vec<u8>>> = (1..=rounds)
        .map(|r| (1..n).map(|from| datagram(from, r)).collect())
        .collect();
    let mut now = t0;
    let mut sent = 0usize;
    let mut busy = Duration::ZERO;
    // The first rounds are the handshake; the rest is the steady state measured.
    let warmup = 2;
    for (i, round) in incoming.iter().enumerate() {
        if i == warmup {
            busy = Duration::ZERO;
            sent = 0;
        }
        now += Duration::from_millis(200);
        let start = Instant::now();
        for d in round {
            m.handle_packet(now, d).unwrap();
            // As the shell does after each datagram, to arm its timer.
            std::hint::black_box(m.poll_timeout());
        }
        m.handle_timeout(now);
        while m.poll_transmit().is_some() {
            sent += 1;
        }
        while m.poll_change().is_some() {}
        busy += start.elapsed();
    }
    assert_eq!(m.alive().count(), n);
    let rounds = rounds - warmup as u64;
    let per_round = busy / rounds as u32;
    println!(
        "{n} members: {per_round:?} per 200 ms round ({} received, {} sent): {:.1}% of one core",
        n - 1,
        sent / rounds as usize,
        per_round.as_secs_f64() / 0.2 * 100.0
    );
}
