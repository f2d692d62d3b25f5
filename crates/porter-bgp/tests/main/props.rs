//! Property tests: no panics on any input, the peer's view converges to the desired set, and
//! chunking never changes behaviour.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use porter_bgp::wire::{self, Message};
use porter_bgp::{Action, Event, Family, NotificationError, Prefix, Session, State, StopReason};
use proptest::prelude::*;

use crate::support::*;

/// Valid messages a peer could send; the fuzz strategy mutates and splits them.
fn corpus() -> Vec<Bytes> {
    let good_update = {
        let attrs = [
            0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 10, 0, 0, 2,
        ];
        let mut body = vec![0, 0, 0, attrs.len() as u8];
        body.extend_from_slice(&attrs);
        body.extend_from_slice(&[32, 203, 0, 113, 10, 24, 198, 51, 100]);
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        v.push(2);
        v.extend_from_slice(&body);
        Bytes::from(v)
    };
    vec![
        peer_open(65000, B_ADDR, 90),
        wire::encode_keepalive(),
        good_update,
        wire::encode_end_of_rib(Family::Ipv4Unicast).unwrap(),
        wire::encode_end_of_rib(Family::Ipv6Unicast).unwrap(),
        wire::encode_route_refresh(Family::Ipv4Unicast).unwrap(),
        wire::encode_notification(&NotificationError::admin_shutdown()),
    ]
}

fn state_strategy() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::OpenSent),
        Just(State::OpenConfirm),
        Just(State::Established)
    ]
}

/// A byte stream: corpus messages, random mutations, or raw noise.
fn stream_strategy() -> impl Strategy<Value = Vec<u8>> {
    let n = corpus().len();
    let from_corpus = (
        prop::collection::vec(0..n, 1..8),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    )
        .prop_map(|(picks, flips)| {
            let c = corpus();
            let mut v: Vec<u8> = picks.iter().flat_map(|i| c[*i].to_vec()).collect();
            for (idx, byte) in flips {
                let i = idx.index(v.len());
                v[i] = byte;
            }
            v
        });
    prop_oneof![3 => from_corpus, 1 => prop::collection::vec(any::<u8>(), 0..200)]
}

fn split(stream: &[u8], cuts: &[prop::sample::Index]) -> Vec<Bytes> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    points
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&stream[w[0]..w[1]]))
        .collect()
}

fn assert_sends_decode(actions: &[Action]) {
    for m in sent_messages(actions) {
        if let Message::Update(raw) = m {
            raw.parse(ctx()).expect("our UPDATEs parse");
        }
    }
    // A NOTIFICATION is always followed by Close.
    for (i, a) in actions.iter().enumerate() {
        if !notifications(std::slice::from_ref(a)).is_empty() {
            assert_eq!(actions.get(i + 1), Some(&Action::Close));
        }
    }
}

fn run_chunks(state: State, chunks: &[Bytes]) -> (Vec<Action>, State, porter_bgp::SessionStats) {
    let (mut s, now) = session_in(state);
    let mut actions = Vec::new();
    for c in chunks {
        s.handle(now, Event::Received(c.clone()));
        actions.extend(drain(&mut s));
    }
    (actions, s.state(), s.stats().clone())
}

fn prefix_from(i: u16) -> Prefix {
    let [hi, lo] = i.to_be_bytes();
    match i % 7 {
        0 => Prefix::new(IpAddr::V4(Ipv4Addr::new(10, hi, 0, 0)), 16).unwrap(),
        1 => Prefix::new(IpAddr::V4(Ipv4Addr::new(172, 16, hi, 0)), 24).unwrap(),
        2 => Prefix::host(IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001, 0xdb8, 0, 0, 0, 0, 0, i,
        ))),
        _ => Prefix::host(IpAddr::V4(Ipv4Addr::new(203, hi, lo, 1))),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set(BTreeSet<u16>),
    Flap,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::btree_set(0u16..4000, 0..1500).prop_map(Op::Set),
        1 => Just(Op::Flap),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (1) Arbitrary bytes in any state never panic, and everything we send is valid BGP.
    #[test]
    fn arbitrary_input_never_panics(state in state_strategy(), stream in stream_strategy(),
                                    cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let (actions, end, _) = run_chunks(state, &split(&stream, &cuts));
        assert_sends_decode(&actions);
        if end == State::Idle {
            prop_assert!(actions.contains(&Action::Close));
        }
    }

    /// (3) The same byte stream in any chunking yields identical actions and state.
    #[test]
    fn chunking_does_not_matter(state in state_strategy(), stream in stream_strategy(),
                                cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let whole = run_chunks(state, &[Bytes::from(stream.clone())]);
        let chunked = run_chunks(state, &split(&stream, &cuts));
        prop_assert_eq!(whole, chunked);
    }

    /// Any sequence of shell events (including nonsense ones) never panics and keeps the
    /// invariants: no timers after Stop in Idle, Connect only from an active session.
    #[test]
    fn any_event_sequence_is_safe(events in prop::collection::vec(0u8..9, 0..40), passive in any::<bool>()) {
        let mut cfg = a_config();
        cfg.passive = passive;
        let mut s = Session::new(cfg);
        let mut now = std::time::Instant::now();
        let c = corpus();
        let (l, r) = (sock(A_ADDR, 40000), SocketAddr::new(IpAddr::V4(B_ADDR), 179));
        for e in events {
            match e {
                0 => s.handle(now, Event::Start),
                1 => s.handle(now, Event::Stop(StopReason::AdministrativeShutdown)),
                2 => s.handle(now, Event::TcpConnected { local: l, remote: r }),
                3 => s.handle(now, Event::TcpConnectFailed),
                4 => s.handle(now, Event::TcpClosed),
                5 => s.handle(now, Event::Received(c[0].clone())),
                6 => s.handle(now, Event::Received(c[1].clone())),
                7 => s.handle(now, Event::set_routes([prefix_from(3)])),
                _ => {
                    now += Duration::from_secs(31);
                    s.handle_timeout(now);
                }
            }
            let actions = drain(&mut s);
            assert_sends_decode(&actions);
            if passive {
                prop_assert!(!actions.contains(&Action::Connect));
            }
            if e == 1 {
                prop_assert_eq!(s.state(), State::Idle);
                prop_assert_eq!(s.poll_timeout(), None);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// (2) After any SetRoutes sequence (with reconnects), the peer's view equals the last desired
    /// set (IPv4 part: this is an IPv4 session), and no UPDATE exceeds 4096 bytes.
    #[test]
    fn peer_view_converges(ops in prop::collection::vec(op_strategy(), 1..6)) {
        // Without RFC 8654 on one side, messages stay within 4096 bytes.
        let mut a = a_config();
        a.extended_messages = false;
        let mut p = Pair::new(a, b_config());
        p.start();
        p.advance(Duration::from_millis(1));
        let mut last = BTreeSet::new();
        let mut view = BTreeSet::new();
        let mut seen = 0;
        for op in ops {
            match op {
                Op::Set(ids) => {
                    last = ids.into_iter().map(prefix_from).collect::<BTreeSet<_>>();
                    p.set_routes(true, last.clone());
                }
                Op::Flap => {
                    p.b.session.handle(p.now, Event::TcpClosed);
                    p.advance(Duration::from_secs(6));
                    // The peer forgot everything; replay only what the new connection carries.
                    seen = p.a.log.iter().rposition(|a| matches!(a, Action::StateChanged { to: State::Idle, .. })).unwrap();
                    view.clear();
                }
            }
            prop_assert!(p.both_established());
        }
        apply_updates(&mut view, &p.a.log[seen..], 4096);
        let expected: BTreeSet<Prefix> = last.iter().filter(|x| x.family() == Family::Ipv4Unicast).copied().collect();
        prop_assert_eq!(&view, &expected);
        prop_assert_eq!(&received(&p.b.session), &expected);
        prop_assert_eq!(p.a.session.stats().prefixes_advertised, expected.len());
    }
}
