//! MP-BGP, per-route attributes and negotiated capabilities, end to end on the virtual clock.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use porter_bgp::wire::{self, Message, Open, Update};
use porter_bgp::{
    Action, Event, Family, GracefulRestart, Prefix, RouteAttrs, Session, SessionConfig, State,
};

use crate::support::*;

const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);

fn v4(last: u8) -> Prefix {
    Prefix::host(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
}

fn v6(last: u16) -> Prefix {
    Prefix::host(IpAddr::V6(Ipv6Addr::new(
        0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, last,
    )))
}

fn up(mut p: Pair) -> Pair {
    p.start();
    p.advance(Duration::from_millis(1));
    assert!(
        p.both_established(),
        "a={} b={}",
        p.a.session.state(),
        p.b.session.state()
    );
    p
}

fn v6_pair(a: SessionConfig, b: SessionConfig) -> Pair {
    let s = |ip, port| SocketAddr::new(IpAddr::V6(ip), port);
    up(Pair::with_addrs(a, b, s(A6, 40000), s(B6, 179)))
}

/// Every UPDATE `a` sent after `from`, parsed as `b` would (with `b`'s ADD-PATH receive set).
fn updates_from_a(p: &Pair, from: usize) -> Vec<Update> {
    let add_path =
        p.b.session
            .negotiated()
            .map(|n| n.add_path_receive.clone())
            .unwrap_or_default();
    sent_messages(&p.a.log[from..])
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(raw) => Some(raw.parse_add_path(ctx(), &add_path).unwrap()),
            _ => None,
        })
        .collect()
}

fn next_hop_of(updates: &[Update], p: Prefix) -> Option<IpAddr> {
    updates
        .iter()
        .rev()
        .find(|u| u.announced.contains(&p))
        .and_then(|u| u.next_hop)
}

fn plain(ps: impl IntoIterator<Item = Prefix>) -> BTreeMap<Prefix, RouteAttrs> {
    ps.into_iter().map(|p| (p, RouteAttrs::default())).collect()
}

#[test]
fn ipv6_session_carries_v6_and_v4_via_extended_next_hop() {
    let mut p = v6_pair(a_config(), b_config());
    let n = p.a.session.negotiated().unwrap().clone();
    assert_eq!(
        n.families,
        [Family::Ipv4Unicast, Family::Ipv6Unicast].into()
    );
    assert!(n.extended_next_hop, "both Porter sides offer RFC 8950");
    let from = p.a.log.len();
    p.set_routes(true, [v4(10), v6(0x10), v6(0x11)].into());
    assert_eq!(
        p.b.session.received_routes(),
        &plain([v4(10), v6(0x10), v6(0x11)])
    );
    let ups = updates_from_a(&p, from);
    assert_eq!(next_hop_of(&ups, v6(0x10)), Some(IpAddr::V6(A6)));
    assert_eq!(
        next_hop_of(&ups, v4(10)),
        Some(IpAddr::V6(A6)),
        "IPv4 NLRI with the IPv6 next hop (RFC 8950)"
    );
    assert_eq!(
        p.a.session.stats().prefixes_advertised_by_family,
        [(Family::Ipv4Unicast, 1), (Family::Ipv6Unicast, 2)].into()
    );

    // Withdrawal travels in MP_UNREACH_NLRI and reaches the peer.
    let from = p.a.log.len();
    p.set_routes(true, [v4(10), v6(0x10)].into());
    let ups = updates_from_a(&p, from);
    assert_eq!(ups.len(), 1);
    assert_eq!(
        (ups[0].withdrawn.clone(), ups[0].announced.clone()),
        (vec![v6(0x11)], vec![])
    );
    assert_eq!(received(&p.b.session), [v4(10), v6(0x10)].into());

    // A configured next hop overrides our address.
    let mut a = a_config();
    a.next_hop_v6 = Some("fd00:99::11".parse().unwrap());
    let mut p = v6_pair(a, b_config());
    let from = p.a.log.len();
    p.set_routes(true, [v4(1), v6(1)].into());
    let ups = updates_from_a(&p, from);
    let nh: IpAddr = "fd00:99::11".parse().unwrap();
    assert_eq!(next_hop_of(&ups, v6(1)), Some(nh));
    assert_eq!(next_hop_of(&ups, v4(1)), Some(nh));
}

/// A session on an IPv6 connection against a scripted peer whose OPEN is `peer`.
fn v6_session_against(cfg: SessionConfig, peer: &Open) -> (Session, std::time::Instant) {
    let now = std::time::Instant::now();
    let mut s = Session::new(cfg);
    s.handle(now, Event::Start);
    s.handle(
        now,
        Event::TcpConnected {
            local: SocketAddr::new(IpAddr::V6(A6), 40000),
            remote: SocketAddr::new(IpAddr::V6(B6), 179),
        },
    );
    s.handle(now, Event::Received(wire::encode_open(peer).unwrap()));
    s.handle(now, Event::Received(wire::encode_keepalive()));
    assert_eq!(s.state(), State::Established);
    drain(&mut s);
    (s, now)
}

#[test]
fn ipv4_on_ipv6_session_without_rfc8950_needs_next_hop_v4() {
    let peer = Open::local(65000, B_ADDR, 90); // no extended next hop capability
    let (mut s, now) = v6_session_against(a_config(), &peer);
    s.handle(now, Event::set_routes([v4(1), v6(1)]));
    assert_eq!(owned(s.advertised_routes()), plain([v6(1)]), "IPv4 unsent");

    let mut cfg = a_config();
    cfg.next_hop_v4 = Some(Ipv4Addr::new(10, 99, 0, 11));
    let (mut s, now) = v6_session_against(cfg, &peer);
    s.handle(now, Event::set_routes([v4(1), v6(1)]));
    assert_eq!(owned(s.advertised_routes()), plain([v4(1), v6(1)]));
    let ups: Vec<Update> = sent_messages(&drain(&mut s))
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(raw) => Some(raw.parse(ctx()).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(
        next_hop_of(&ups, v4(1)),
        Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11))),
        "plain NEXT_HOP"
    );
    assert_eq!(next_hop_of(&ups, v6(1)), Some(IpAddr::V6(A6)));
}

#[test]
fn ipv4_session_carries_v6_with_next_hop_v6() {
    let mut a = a_config();
    a.next_hop_v6 = Some("fd00:99::11".parse().unwrap());
    let mut p = up(Pair::new(a, b_config()));
    let from = p.a.log.len();
    p.set_routes(true, [v4(1), v6(1)].into());
    assert_eq!(received(&p.b.session), [v4(1), v6(1)].into());
    let ups = updates_from_a(&p, from);
    assert_eq!(
        next_hop_of(&ups, v6(1)),
        Some("fd00:99::11".parse().unwrap())
    );
    assert_eq!(next_hop_of(&ups, v4(1)), Some(IpAddr::V4(A_ADDR)));
}

#[test]
fn peer_without_ipv6_never_gets_v6_updates() {
    let mut a = a_config();
    a.next_hop_v6 = Some("fd00:99::11".parse().unwrap());
    let mut b = b_config();
    b.families = [Family::Ipv4Unicast].into();
    let mut p = up(Pair::new(a, b));
    assert_eq!(
        p.a.session.negotiated().unwrap().families,
        [Family::Ipv4Unicast].into()
    );
    p.set_routes(true, [v4(1), v6(1), v6(2)].into());
    let ups = updates_from_a(&p, 0);
    assert!(!ups.is_empty());
    for u in &ups {
        assert!(
            u.announced
                .iter()
                .chain(&u.withdrawn)
                .all(|p| p.family() == Family::Ipv4Unicast),
            "{u:?}"
        );
        assert_ne!(u.end_of_rib, Some(Family::Ipv6Unicast));
    }
    assert_eq!(received(&p.b.session), [v4(1)].into());
    assert_eq!(
        p.b.session.state(),
        State::Established,
        "nothing it could object to"
    );
}

#[test]
fn attribute_change_reannounces_exactly_the_changed_prefix() {
    let mut p = up(Pair::ebgp());
    p.set_routes(true, [v4(1), v4(2), v4(3)].into());
    let changed = RouteAttrs {
        med: Some(50),
        communities: [65000 << 16 | 7].into(),
        large_communities: [[65000, 1, 2]].into(),
        ..RouteAttrs::default()
    };
    let mut routes = plain([v4(1), v4(2), v4(3)]);
    routes.insert(v4(2), changed.clone());
    let from = p.a.log.len();
    p.set_route_attrs(true, routes.clone());
    let ups = updates_from_a(&p, from);
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert_eq!(
        (ups[0].announced.clone(), ups[0].withdrawn.clone()),
        (vec![v4(2)], vec![]),
        "implicit withdraw: only the changed prefix, re-announced"
    );
    assert_eq!(p.b.session.received_routes(), &routes);
    assert_eq!(owned(p.a.session.advertised_routes()), routes);

    // Same attributes again: nothing sent. Two prefixes moving to one new set: one UPDATE.
    let from = p.a.log.len();
    p.set_route_attrs(true, routes.clone());
    assert!(updates_from_a(&p, from).is_empty());
    let other = RouteAttrs {
        med: Some(1),
        ..RouteAttrs::default()
    };
    routes.insert(v4(1), other.clone());
    routes.insert(v4(3), other);
    p.set_route_attrs(true, routes.clone());
    let ups = updates_from_a(&p, from);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].announced, vec![v4(1), v4(3)]);
    assert_eq!(p.b.session.received_routes(), &routes);
}

#[test]
fn graceful_restart_capability_is_seen_by_the_peer() {
    let mut a = a_config();
    a.graceful_restart = Some(GracefulRestart {
        restart_time: 120,
        restarting: false,
    });
    let p = up(Pair::new(a, b_config()));
    let gr =
        p.b.session
            .negotiated()
            .unwrap()
            .peer_graceful_restart
            .clone()
            .expect("b recorded a's GR capability");
    assert_eq!((gr.restart_time, gr.restarting), (120, false));
    assert_eq!(
        gr.families,
        [(Family::Ipv4Unicast, true), (Family::Ipv6Unicast, true)].into()
    );
    assert_eq!(
        p.a.session.negotiated().unwrap().peer_graceful_restart,
        None
    );
    // End-of-RIB for each family after the (empty) initial table, as RFC 4724 requires.
    let eors: BTreeSet<Family> = updates_from_a(&p, 0)
        .iter()
        .filter_map(|u| u.end_of_rib)
        .collect();
    assert_eq!(eors, [Family::Ipv4Unicast, Family::Ipv6Unicast].into());
}

#[test]
fn add_path_carries_path_ids_the_peer_decodes() {
    let mut a = a_config();
    a.add_path_send = true;
    a.next_hop_v6 = Some("fd00:99::11".parse().unwrap());
    let mut b = b_config();
    b.add_path_receive = true;
    let mut p = up(Pair::new(a, b));
    let both: BTreeSet<Family> = [Family::Ipv4Unicast, Family::Ipv6Unicast].into();
    assert_eq!(p.a.session.negotiated().unwrap().add_path_send, both);
    assert_eq!(p.b.session.negotiated().unwrap().add_path_receive, both);
    let from = p.a.log.len();
    p.set_routes(true, [v4(1), v4(2), v6(1)].into());
    p.set_routes(true, [v4(1), v6(2)].into());
    let mut view = BTreeMap::new();
    apply_routes(
        &mut view,
        &p.a.log[from..],
        &Replay {
            add_path: both.clone(),
            max_len: 65535,
            path_id: 1,
            ..Replay::default()
        },
    );
    assert_eq!(view, plain([v4(1), v6(2)]));
    assert_eq!(received(&p.b.session), [v4(1), v6(2)].into());
    assert_eq!(p.b.session.state(), State::Established);

    // The peer does not offer receive: plain NLRI, which a decoder without ADD-PATH reads.
    let mut a = a_config();
    a.add_path_send = true;
    let mut p = up(Pair::new(a, b_config()));
    assert!(p.a.session.negotiated().unwrap().add_path_send.is_empty());
    let from = p.a.log.len();
    p.set_routes(true, [v4(1)].into());
    let mut view = BTreeMap::new();
    apply_routes(
        &mut view,
        &p.a.log[from..],
        &Replay {
            max_len: 65535,
            ..Replay::default()
        },
    );
    assert_eq!(view, plain([v4(1)]));
}

#[test]
fn negotiated_facts_and_stats_are_exposed() {
    let mut a = a_config();
    a.hold_time = 30;
    let mut p = up(Pair::new(a, b_config()));
    p.set_routes(true, [v4(1), v4(2)].into());
    let n = p.a.session.negotiated().unwrap();
    assert_eq!(n.hold_time, 30);
    assert!(n.four_octet_as && n.route_refresh && n.extended_message);
    assert!(n.add_path_send.is_empty() && n.add_path_receive.is_empty());
    let s = p.a.session.stats();
    assert!(s.established_since.is_some());
    assert_eq!(s.prefixes_advertised, 2);
    assert_eq!(
        s.prefixes_advertised_by_family,
        [(Family::Ipv4Unicast, 2)].into()
    );
    assert_eq!(p.b.session.stats().prefixes_received, 2);
    p.b.session.handle(p.now, Event::TcpClosed);
    p.settle();
    assert!(
        p.a.session.negotiated().is_none(),
        "gone with the connection"
    );
    assert!(p.a.session.stats().prefixes_advertised_by_family.is_empty());
    assert!(p.a.log.iter().any(|a| matches!(
        a,
        Action::StateChanged {
            to: State::Idle,
            ..
        }
    )));
}
