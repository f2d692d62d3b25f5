//! Property test: random desired maps (IPv4 + IPv6, random attributes) through reconnects, on
//! random session setups; the peer's decoded view always equals the last desired map.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use porter_bgp::{Action, Event, LinkBandwidth, Prefix, RouteAttrs, State};
use proptest::prelude::*;

use crate::support::*;

fn prefix(i: u16) -> Prefix {
    let [hi, lo] = i.to_be_bytes();
    match i % 5 {
        0 => Prefix::new(IpAddr::V4(Ipv4Addr::new(10, hi, 0, 0)), 16).unwrap(),
        1 => Prefix::host(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))),
        2 => Prefix::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 0)),
            48,
        )
        .unwrap(),
        _ => Prefix::host(IpAddr::V4(Ipv4Addr::new(203, hi, lo, 1))),
    }
}

fn attrs_strategy() -> impl Strategy<Value = RouteAttrs> {
    (
        prop::option::of(0u32..3),
        prop::option::of(prop_oneof![Just(50u32), Just(200)]),
        prop::collection::btree_set(
            prop_oneof![Just(65000u32 << 16 | 1), Just(0xFFFF_FF01)],
            0..3,
        ),
        prop::collection::btree_set(Just([65000u32, 1, 2]), 0..2),
        // Multiples of 1000 below 2^24 are exact in float32.
        prop::option::of((1u32..16_000).prop_map(|k| LinkBandwidth {
            bytes_per_second: k * 1000,
        })),
    )
        .prop_map(
            |(med, local_pref, communities, large_communities, link_bandwidth)| RouteAttrs {
                med,
                local_pref,
                communities,
                large_communities,
                link_bandwidth,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Set(BTreeMap<u16, RouteAttrs>),
    Flap,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let map = prop::collection::btree_map(0u16..3000, attrs_strategy(), 0..800);
    prop_oneof![6 => map.prop_map(Op::Set), 1 => Just(Op::Flap)]
}

#[derive(Debug, Clone)]
struct Setup {
    ipv6_transport: bool,
    extended: bool,
    add_path: bool,
    ibgp: bool,
}

fn setup_strategy() -> impl Strategy<Value = Setup> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(ipv6_transport, extended, add_path, ibgp)| Setup {
            ipv6_transport,
            extended,
            add_path,
            ibgp,
        },
    )
}

fn pair(s: &Setup) -> Pair {
    let mut a = a_config();
    let mut b = b_config();
    a.extended_messages = s.extended;
    a.add_path_send = s.add_path;
    b.add_path_receive = s.add_path;
    if s.ibgp {
        a.peer_as = 65001;
        b.local_as = 65001;
    }
    let mut p = if s.ipv6_transport {
        let sa = |last| {
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last)),
                179,
            )
        };
        Pair::with_addrs(a, b, sa(1), sa(2))
    } else {
        a.next_hop_v6 = Some(Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 0x11));
        Pair::new(a, b)
    };
    p.start();
    p.advance(Duration::from_millis(1));
    p
}

/// What the peer should see for `desired`: LOCAL_PREF only on iBGP, defaulting to 100.
fn expected(desired: &BTreeMap<Prefix, RouteAttrs>, ibgp: bool) -> BTreeMap<Prefix, RouteAttrs> {
    desired
        .iter()
        .map(|(p, a)| {
            let local_pref = if ibgp {
                Some(a.local_pref.unwrap_or(100))
            } else {
                None
            };
            (
                *p,
                RouteAttrs {
                    local_pref,
                    ..a.clone()
                },
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn peer_view_equals_last_desired_map(setup in setup_strategy(), ops in prop::collection::vec(op_strategy(), 1..5)) {
        let mut p = pair(&setup);
        prop_assert!(p.both_established());
        let mut last = BTreeMap::new();
        let mut seen = 0;
        for op in ops {
            match op {
                Op::Set(m) => {
                    last = m.into_iter().map(|(i, a)| (prefix(i), a)).collect();
                    p.set_route_attrs(true, last.clone());
                }
                Op::Flap => {
                    p.b.session.handle(p.now, Event::TcpClosed);
                    p.advance(Duration::from_secs(6));
                    seen = p.a.log.iter().rposition(|a| matches!(a, Action::StateChanged { to: State::Idle, .. })).unwrap();
                }
            }
            prop_assert!(p.both_established());
        }
        let n = p.b.session.negotiated().unwrap().clone();
        prop_assert_eq!(n.max_message_len(), if setup.extended { 65535 } else { 4096 });
        prop_assert_eq!(!n.add_path_receive.is_empty(), setup.add_path);
        let want = expected(&last, setup.ibgp);
        // Independent replay of the bytes a sent since the last reconnect; it also checks the
        // size of every message and the path identifier of every NLRI.
        let mut view = BTreeMap::new();
        apply_routes(&mut view, &p.a.log[seen..], &Replay {
            ctx: porter_bgp::wire::UpdateContext { four_octet_as: true, is_ibgp: setup.ibgp },
            add_path: n.add_path_receive.clone(),
            max_len: n.max_message_len(),
            path_id: u32::from(setup.add_path),
        });
        prop_assert_eq!(&view, &want);
        prop_assert_eq!(p.b.session.received_routes(), &want);
        let families: BTreeSet<_> = last.keys().map(|p| p.family()).collect();
        prop_assert_eq!(p.a.session.stats().prefixes_advertised_by_family.keys().copied().collect::<BTreeSet<_>>(), families);
    }
}
