//! Properties over random input: no bytes make the core panic; it answers only for owned
//! targets, to the asker; everything it builds parses back, valid, with a correct checksum; and
//! announcements speak only for owned addresses, at most one series per acquisition.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use porter_l2::build::{self, Gratuitous};
use porter_l2::{
    ANNOUNCE_AT, ArpOp, FrameKind, Mac, Packet, Responder, Skip, Verdict, parse, solicited_node,
};
use proptest::prelude::*;

use crate::support::{CLIENT, US, icmpv6_checksum_ok};

/// A small pool so owned and asked-for addresses meet often.
fn pool_v4(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + i % 4)
}

fn pool_v6(i: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10 + u16::from(i % 4))
}

fn unicast_mac() -> impl Strategy<Value = Mac> {
    any::<[u8; 6]>()
        .prop_map(|mut m| {
            m[0] &= 0xfe;
            Mac(m)
        })
        .prop_filter("not zero", |m| m.is_unicast())
}

fn host_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("host", |a| {
            !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
        })
}

fn host_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>()
        .prop_map(Ipv6Addr::from)
        .prop_filter("host", |a| !(a.is_unspecified() || a.is_multicast()))
}

/// A valid question from a client: (frame, asked-for address).
fn question() -> impl Strategy<Value = (Vec<u8>, IpAddr)> {
    prop_oneof![
        (any::<u8>(), prop::bool::ANY).prop_map(|(i, probe)| {
            let sender = if probe {
                Ipv4Addr::UNSPECIFIED
            } else {
                Ipv4Addr::new(192, 0, 2, 1)
            };
            (
                build::arp_request(CLIENT, sender, pool_v4(i)),
                pool_v4(i).into(),
            )
        }),
        (any::<u8>(), prop::bool::ANY).prop_map(|(i, dad)| {
            let src = if dad {
                Ipv6Addr::UNSPECIFIED
            } else {
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
            };
            (
                build::neighbor_solicitation(CLIENT, src, pool_v6(i)),
                pool_v6(i).into(),
            )
        }),
    ]
}

fn responder(owned: &[u8]) -> Responder {
    let mut r = Responder::new(US);
    let t0 = Instant::now();
    for &i in owned {
        r.acquire(t0, pool_v4(i).into()).unwrap();
        r.acquire(t0, pool_v6(i / 4).into()).unwrap();
    }
    while r.poll_transmit().is_some() {}
    r
}

/// An answer is a valid frame from us, for `target`, to the asker of `question`.
fn check_answer(question: &[u8], answer: &[u8], target: IpAddr) {
    match (parse(question), parse(answer)) {
        (Ok(Packet::Arp(q)), Ok(Packet::Arp(a))) => {
            assert_eq!(a.op, ArpOp::Reply);
            assert_eq!((a.eth_src, a.sender_mac), (US, US));
            assert_eq!(IpAddr::from(a.sender_ip), target);
            assert_eq!(
                (a.eth_dst, a.target_mac, a.target_ip),
                (q.sender_mac, q.sender_mac, q.sender_ip)
            );
        }
        (Ok(Packet::Solicitation(q)), Ok(Packet::Advertisement(a))) => {
            assert!(icmpv6_checksum_ok(answer));
            assert_eq!(IpAddr::from(a.target), target);
            assert_eq!((a.eth_src, a.target_mac), (US, Some(US)));
            assert!(!a.router && a.override_);
            if q.is_dad() {
                assert_eq!(
                    (a.dst, a.eth_dst, a.solicited),
                    (porter_l2::ALL_NODES, Mac::ALL_NODES, false)
                );
            } else {
                assert_eq!((a.dst, a.solicited), (q.src, true));
                assert_eq!(Some(a.eth_dst), q.source_mac.or(Some(q.eth_src)));
            }
        }
        (q, a) => panic!("question {q:?} answered by {a:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_bytes_make_it_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut r = responder(&[0, 1, 2, 3]);
        let verdict = r.handle_frame(&bytes);
        match parse(&bytes) {
            Err(Skip::Invalid(reason)) => prop_assert_eq!(verdict, Verdict::Dropped(reason)),
            Err(Skip::Unrelated) => prop_assert!(matches!(verdict, Verdict::Ignored(_))),
            Ok(_) => prop_assert!(!matches!(verdict, Verdict::Dropped(_))),
        }
    }

    /// Valid questions with a few bytes changed: whatever still parses is answered correctly
    /// or not at all.
    #[test]
    fn damaged_questions(
        (frame, _) in question(),
        owned in prop::collection::vec(any::<u8>(), 0..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in prop::bool::weighted(0.2),
    ) {
        let mut frame = frame;
        for (at, byte) in edits {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        if truncate {
            frame.truncate(cut.index(frame.len() + 1));
        }
        let mut r = responder(&owned);
        if let Verdict::Reply(answer) = r.handle_frame(&frame) {
            prop_assert!(r.owns(answer.addr));
            check_answer(&frame, &answer.bytes, answer.addr);
        }
    }

    #[test]
    fn answers_only_for_owned_targets(
        owned in prop::collection::vec(any::<u8>(), 0..4),
        (frame, target) in question(),
    ) {
        let mut r = responder(&owned);
        let owns = r.owns(target);
        match r.handle_frame(&frame) {
            Verdict::Reply(answer) => {
                prop_assert!(owns);
                prop_assert_eq!(answer.addr, target);
                check_answer(&frame, &answer.bytes, target);
            }
            Verdict::Ignored(porter_l2::Ignored::NotOwned) => prop_assert!(!owns),
            other => prop_assert!(false, "{:?}", other),
        }
        prop_assert_eq!(r.counters().requests, 1);
    }

    #[test]
    fn built_frames_parse_back(
        mac in unicast_mac(),
        peer in unicast_mac(),
        a4 in host_v4(),
        b4 in host_v4(),
        a6 in host_v6(),
        b6 in host_v6(),
        solicited in prop::bool::ANY,
    ) {
        for (form, op, tha) in [
            (Gratuitous::Request, ArpOp::Request, Mac::ZERO),
            (Gratuitous::Reply, ArpOp::Reply, mac),
        ] {
            let Ok(Packet::Arp(g)) = parse(&build::gratuitous_arp(mac, a4, form)) else {
                panic!("gratuitous {form:?}")
            };
            prop_assert_eq!((g.op, g.eth_dst, g.sender_mac, g.target_mac), (op, Mac::BROADCAST, mac, tha));
            prop_assert_eq!((g.sender_ip, g.target_ip), (a4, a4));
        }
        let reply = build::arp_reply(mac, a4, peer, b4);
        prop_assert_eq!(reply.len(), build::ARP_FRAME_LEN);
        let Ok(Packet::Arp(a)) = parse(&reply) else { panic!("reply") };
        prop_assert_eq!((a.sender_mac, a.sender_ip, a.target_mac, a.target_ip), (mac, a4, peer, b4));

        let to = if solicited { b6 } else { porter_l2::ALL_NODES };
        let na = build::neighbor_advertisement(mac, a6, peer, to, solicited);
        prop_assert!(icmpv6_checksum_ok(&na));
        let Ok(Packet::Advertisement(n)) = parse(&na) else { panic!("NA {:?}", parse(&na)) };
        prop_assert_eq!((n.target, n.target_mac, n.src, n.dst), (a6, Some(mac), a6, to));
        prop_assert_eq!((n.router, n.solicited, n.override_), (false, solicited, true));

        let un = build::unsolicited_na(mac, a6);
        prop_assert!(icmpv6_checksum_ok(&un));
        prop_assert!(matches!(parse(&un), Ok(Packet::Advertisement(n)) if !n.solicited));

        let ns = build::neighbor_solicitation(peer, b6, a6);
        prop_assert!(icmpv6_checksum_ok(&ns));
        let Ok(Packet::Solicitation(s)) = parse(&ns) else { panic!("NS {:?}", parse(&ns)) };
        prop_assert_eq!((s.target, s.src, s.dst, s.source_mac), (a6, b6, solicited_node(a6), Some(peer)));
    }

    #[test]
    fn announcements_speak_only_for_owned_addresses(
        ops in prop::collection::vec((0u8..5, any::<u8>(), 0u16..1500), 1..60),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut r = Responder::new(US);
        // Rounds sent per address since it was last acquired (or re-announced).
        let mut rounds: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for (op, i, wait) in ops {
            let addr: IpAddr = if i % 2 == 0 { pool_v4(i / 2).into() } else { pool_v6(i / 2).into() };
            match op {
                0 => {
                    if r.acquire(now, addr) == Ok(true) {
                        rounds.insert(addr, 0);
                    }
                }
                1 => {
                    r.release(addr);
                    rounds.remove(&addr);
                }
                2 => {
                    r.reannounce(now);
                    rounds.values_mut().for_each(|n| *n = 0);
                }
                3 => {
                    now += Duration::from_millis(u64::from(wait));
                    r.handle_timeout(now);
                    prop_assert!(r.poll_timeout().is_none_or(|at| at > now));
                }
                // Frames wait in the queue between polls, across releases and acquisitions.
                _ => {
                    while let Some(f) = r.poll_transmit() {
                        prop_assert!(f.kind.is_gratuitous());
                        prop_assert!(r.owns(f.addr), "{:?} not owned", f);
                        prop_assert!(parse(&f.bytes).is_ok());
                        if f.kind != FrameKind::GratuitousReply {
                            let n = rounds.get_mut(&f.addr).unwrap();
                            *n += 1;
                            prop_assert!(*n <= ANNOUNCE_AT.len());
                        }
                    }
                }
            }
        }
    }
}
