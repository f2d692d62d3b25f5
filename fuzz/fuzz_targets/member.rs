//! Layer 2 membership: any datagram is either refused with a reason or decodes into a message
//! that encodes and decodes back to itself; a membership core fed any mix of raw datagrams,
//! authenticated messages with arbitrary fields, time, plan changes, key changes and a leave
//! keeps its rules (never ready while isolated, itself alive exactly when ready, no deadline in
//! the past, every datagram it sends authenticated, addressed and in sequence).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use porter_member::{Config, Key, Kind, Membership, Message, Quorum};

const NAMES: [&str; 5] = ["m0", "m1", "m2", "m3", "stranger"];

#[derive(Debug, arbitrary::Arbitrary)]
enum Op {
    Datagram(Vec<u8>),
    Crafted {
        from: u8,
        to: u8,
        leaving: bool,
        hears_you: bool,
        ready: bool,
        boot: u8,
        seq: u64,
        /// Echo our boot (so a new boot is believed) rather than `echo`.
        echo_ours: bool,
        echo: u64,
        other_key: bool,
    },
    Wait(u16),
    Members(u8),
    Keys(bool),
    Leave,
}

fuzz_target!(|input: (bool, Vec<Op>)| {
    let (majority, ops) = input;
    let key = Key::new(&[1; 32]).unwrap();
    let other = Key::new(&[2; 32]).unwrap();
    let config = Config {
        quorum: if majority {
            Quorum::Majority
        } else {
            Quorum::AnyPeer
        },
        ..Config::default()
    };
    let t0 = Instant::now();
    let mut now = t0;
    let ours = NonZeroU64::new(0xb007).unwrap();
    let mut m = Membership::new(config, "m0", ours, key.clone(), t0);
    let addr = |i: usize| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8));
    m.set_members(now, (0..4).map(|i| (NAMES[i], addr(i))));
    let mut keys = vec![key.clone()];
    let mut last_seq = 0;
    for op in ops {
        match op {
            Op::Datagram(bytes) => {
                if let Ok(message) = Message::decode(&bytes, &keys) {
                    assert_eq!(
                        Message::decode(&message.encode(&keys[0]), &keys),
                        Ok(message)
                    );
                }
                let _ = m.handle_packet(now, &bytes);
            }
            Op::Crafted {
                from,
                to,
                leaving,
                hears_you,
                ready,
                boot,
                seq,
                echo_ours,
                echo,
                other_key,
            } => {
                let message = Message {
                    kind: if leaving {
                        Kind::Leaving
                    } else {
                        Kind::Heartbeat
                    },
                    hears_you,
                    ready,
                    // A few boots per member, so restarts and retired boots come up.
                    boot: u64::from(boot % 4) + 1 + u64::from(from) * 16,
                    seq,
                    echo: if echo_ours { ours.get() } else { echo },
                    from: NAMES[usize::from(from) % NAMES.len()].to_owned(),
                    to: NAMES[usize::from(to) % 2].to_owned(),
                };
                let _ =
                    m.handle_packet(now, &message.encode(if other_key { &other } else { &key }));
            }
            Op::Wait(ms) => {
                let until = now + Duration::from_millis(u64::from(ms));
                while let Some(at) = m.poll_timeout().filter(|at| *at <= until) {
                    assert!(at >= now, "a deadline in the past");
                    now = at;
                    m.handle_timeout(now);
                    assert!(m.poll_timeout().is_none_or(|next| next > now));
                }
                now = until;
                m.handle_timeout(now);
            }
            Op::Members(mask) => {
                let members: Vec<(&str, IpAddr)> = (0..5)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| (NAMES[i], addr(i)))
                    .collect();
                m.set_members(now, members);
            }
            Op::Keys(rotate) => {
                keys = if rotate {
                    vec![other.clone(), key.clone()]
                } else {
                    vec![key.clone()]
                };
                m.set_keys(keys.clone());
            }
            Op::Leave => m.leave(now),
        }
        assert!(!(m.isolated() && m.ready()));
        assert_eq!(m.alive().any(|n| n == "m0"), m.ready());
        while let Some(t) = m.poll_transmit() {
            let message = Message::decode(&t.payload, &keys).expect("sent with the first key");
            assert_eq!(message.from, "m0");
            assert_eq!(message.to, t.node);
            assert_eq!(message.boot, ours.get());
            assert!(message.seq > last_seq);
            last_seq = message.seq;
        }
        while m.poll_change().is_some() {}
    }
});
