//! Exact wire bytes for the MP-BGP, attribute and capability extensions (hand-written hex),
//! and decode -> encode round trips.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use porter_bgp::wire::{self, AddPathMode, Message, Open, OutAttrs, OutUpdate};
use porter_bgp::{
    Action, Event, Family, GracefulRestart, LinkBandwidth, Prefix, RouteAttrs, Session, State,
    parse_community, parse_large_community,
};

use crate::support::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

fn attrs(next_hop: IpAddr, route: RouteAttrs) -> OutAttrs {
    OutAttrs {
        as_path: vec![65001],
        next_hop,
        local_pref: None,
        four_octet_as: true,
        local_as: 65001,
        route,
    }
}

fn only_update(bytes: &[u8]) -> wire::Update {
    let msgs = wire::decode_all(bytes).unwrap();
    let [Message::Update(raw)] = &msgs[..] else {
        panic!("{msgs:?}")
    };
    raw.parse(ctx()).unwrap()
}

#[test]
fn ipv6_mp_reach_exact_bytes() {
    let p: Prefix = "2001:db8:ffff::10/128".parse().unwrap();
    let nh: IpAddr = "fd00:99::11".parse().unwrap();
    let u = OutUpdate {
        family: Family::Ipv6Unicast,
        withdrawn: vec![],
        announced: vec![p],
        attrs: Some(attrs(nh, RouteAttrs::default())),
        path_id: None,
    };
    let bytes = wire::encode_update(&u).unwrap();
    let expected = hex(&format!(
        "{MARKER} 004d 02  0000  0036  400101 00  400206 02 01 0000fde9
         800e26 0002 01 10 fd000099000000000000000000000011 00  80 20010db8ffff00000000000000000010"
    ));
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let back = only_update(&bytes);
    assert_eq!(
        (back.announced, back.next_hop, back.as_path),
        (vec![p], Some(nh), vec![65001])
    );
}

#[test]
fn ipv6_mp_unreach_exact_bytes() {
    let p: Prefix = "2001:db8:ffff::11/128".parse().unwrap();
    let u = OutUpdate {
        family: Family::Ipv6Unicast,
        withdrawn: vec![p],
        announced: vec![],
        attrs: None,
        path_id: None,
    };
    let bytes = wire::encode_update(&u).unwrap();
    let expected = hex(&format!(
        "{MARKER} 002e 02  0000  0017  800f14 0002 01  80 20010db8ffff00000000000000000011"
    ));
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let back = only_update(&bytes);
    assert_eq!((back.withdrawn, back.end_of_rib), (vec![p], None));
}

fn rich_attrs() -> RouteAttrs {
    RouteAttrs {
        med: Some(100),
        local_pref: Some(300), // eBGP: never sent
        communities: [
            parse_community("65000:100").unwrap(),
            parse_community("no-export").unwrap(),
        ]
        .into(),
        large_communities: [parse_large_community("65000:1:2").unwrap()].into(),
        link_bandwidth: Some(LinkBandwidth {
            bytes_per_second: 1_250_000_000,
        }),
    }
}

#[test]
fn med_communities_large_and_link_bandwidth_exact_bytes() {
    let u = OutUpdate {
        family: Family::Ipv4Unicast,
        withdrawn: vec![],
        announced: vec!["203.0.113.10/32".parse().unwrap()],
        attrs: Some(attrs(
            IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)),
            rich_attrs(),
        )),
        path_id: None,
    };
    let bytes = wire::encode_update(&u).unwrap();
    let expected = hex(&format!(
        "{MARKER} 005c 02  0000  0040
         400101 00  400206 02 01 0000fde9  400304 0a63000b  800404 00000064
         c00808 fde80064 ffffff01
         c01008 40 04 fde9 4e9502f9
         c0200c 0000fde8 00000001 00000002
         20 cb00710a"
    ));
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let back = only_update(&bytes);
    let expected_attrs = RouteAttrs {
        local_pref: None,
        ..rich_attrs()
    };
    assert_eq!(back.route_attrs(), expected_attrs);
    // Re-encoding the decoded attributes gives the same bytes.
    let again = OutUpdate {
        attrs: Some(attrs(back.next_hop.unwrap(), back.route_attrs())),
        ..u
    };
    assert_eq!(wire::encode_update(&again).unwrap(), bytes);

    // iBGP: LOCAL_PREF is the route's own value, the session default otherwise.
    let mut ibgp = again.clone();
    let a = ibgp.attrs.as_mut().unwrap();
    a.as_path.clear();
    a.local_pref = Some(100);
    a.route = rich_attrs();
    let b = wire::encode_update(&ibgp).unwrap();
    assert!(b.windows(7).any(|w| w == hex("400504 0000012c").as_slice()));
    a_route_default(&mut ibgp);
    let b = wire::encode_update(&ibgp).unwrap();
    assert!(b.windows(7).any(|w| w == hex("400504 00000064").as_slice()));
}

fn a_route_default(u: &mut OutUpdate) {
    u.attrs.as_mut().unwrap().route = RouteAttrs::default();
}

#[test]
fn add_path_and_rfc8950_exact_bytes() {
    // IPv4 /32 with an IPv6 next hop in MP_REACH_NLRI (AFI 1), path id 1.
    let u = OutUpdate {
        family: Family::Ipv4Unicast,
        withdrawn: vec!["203.0.113.11/32".parse().unwrap()],
        announced: vec!["203.0.113.10/32".parse().unwrap()],
        attrs: Some(attrs("fd00:99::11".parse().unwrap(), RouteAttrs::default())),
        path_id: Some(1),
    };
    let bytes = wire::encode_update(&u).unwrap();
    let expected = hex(&format!(
        "{MARKER} 004e 02  0009 00000001 20 cb00710b  002e  400101 00  400206 02 01 0000fde9
         800e1e 0001 01 10 fd000099000000000000000000000011 00  00000001 20 cb00710a"
    ));
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let msgs = wire::decode_all(&bytes).unwrap();
    let Message::Update(raw) = &msgs[0] else {
        panic!()
    };
    let back = raw
        .parse_add_path(ctx(), &[Family::Ipv4Unicast].into())
        .unwrap();
    assert_eq!(back.announced_path_ids, vec![1]);
    assert_eq!(back.withdrawn_path_ids, vec![1]);
    assert_eq!(back.next_hop, Some("fd00:99::11".parse().unwrap()));
    assert!(
        raw.parse(ctx()).is_err(),
        "without ADD-PATH the body NLRI does not parse"
    );
}

#[test]
fn open_with_gr_add_path_extended_nexthop_exact_bytes() {
    let mut cfg = a_config();
    cfg.graceful_restart = Some(GracefulRestart {
        restart_time: 120,
        restarting: true,
    });
    cfg.add_path_send = true;
    let (mut s, now) = (Session::new(cfg), std::time::Instant::now());
    s.handle(now, Event::Start);
    s.handle(
        now,
        Event::TcpConnected {
            local: sock(A_ADDR, 40000),
            remote: sock(B_ADDR, 179),
        },
    );
    assert_eq!(s.state(), State::OpenSent);
    let Some(Action::Send(bytes)) = drain(&mut s)
        .into_iter()
        .find(|a| matches!(a, Action::Send(_)))
    else {
        panic!()
    };
    let expected = hex(&format!(
        "{MARKER} 0053 01  04 fde9 005a 0a000001 36
         02 34
           01 04 0001 00 01   01 04 0002 00 01   02 00
           05 06 0001 0001 0002
           06 00
           40 0a 8078 0001 01 80 0002 01 80
           41 04 0000fde9
           45 08 0001 01 02 0002 01 02"
    ));
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let msgs = wire::decode_all(&bytes).unwrap();
    let [Message::Open(open)] = &msgs[..] else {
        panic!()
    };
    let gr = open.graceful_restart.as_ref().unwrap();
    assert_eq!((gr.restart_time, gr.restarting), (120, true));
    assert!(gr.families.values().all(|f| *f), "F bit on every family");
    assert_eq!(
        open.add_path,
        [
            (Family::Ipv4Unicast, AddPathMode::Send),
            (Family::Ipv6Unicast, AddPathMode::Send)
        ]
        .into()
    );
    assert!(open.extended_next_hop && open.extended_message);
    assert_eq!(wire::encode_open(open).unwrap(), bytes, "round trip");
}

#[test]
fn open_round_trip_every_capability_combination() {
    for bits in 0..16u8 {
        let mut open = Open::local(4_200_000_001, Ipv4Addr::new(192, 0, 2, 1), 30);
        open.extended_next_hop = bits & 1 != 0;
        open.extended_message = bits & 2 != 0;
        if bits & 4 != 0 {
            open.graceful_restart = Some(wire::GracefulRestartCap {
                restart_time: 4095,
                restarting: false,
                families: [(Family::Ipv6Unicast, false)].into(),
            });
        }
        if bits & 8 != 0 {
            open.add_path = [(Family::Ipv4Unicast, AddPathMode::Both)].into();
            open.families = BTreeSet::from([Family::Ipv4Unicast]);
        }
        let back = wire::decode_all(&wire::encode_open(&open).unwrap()).unwrap();
        assert_eq!(back, vec![Message::Open(open)]);
    }
}
