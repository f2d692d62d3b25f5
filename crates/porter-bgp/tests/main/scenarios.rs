//! Two Porter sessions (AS 65001 dialing, AS 65000 passive) on a virtual clock.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use porter_bgp::wire::Message;
use porter_bgp::{Action, Event, Prefix, State, StopReason};

use crate::support::*;

fn host(last: u8) -> Prefix {
    Prefix::host(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
}

fn established_pair() -> Pair {
    let mut p = Pair::ebgp();
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

#[test]
fn both_reach_established_with_rfc_state_sequence() {
    let p = established_pair();
    let states = |log: &[Action]| -> Vec<State> {
        log.iter()
            .filter_map(|a| match a {
                Action::StateChanged { to, .. } => Some(*to),
                _ => None,
            })
            .collect()
    };
    use State::*;
    assert_eq!(
        states(&p.a.log),
        vec![Connect, OpenSent, OpenConfirm, Established]
    );
    assert_eq!(
        states(&p.b.log),
        vec![Active, OpenSent, OpenConfirm, Established]
    );
    assert_eq!(p.a.session.negotiated_hold_time(), Some(90));
    assert!(p.a.session.stats().established_since.is_some());
    // On Established each side sends End-of-RIB for every negotiated family.
    let eors: Vec<_> = sent_messages(&p.a.log)
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(raw) => raw.parse(ctx()).unwrap().end_of_rib,
            _ => None,
        })
        .collect();
    assert_eq!(eors.len(), 2);
}

#[test]
fn routes_flow_and_are_withdrawn() {
    let mut p = established_pair();
    p.set_routes(true, [host(10), host(11), host(12)].into());
    assert_eq!(p.b.session.stats().prefixes_received, 3);
    assert_eq!(p.a.session.stats().prefixes_advertised, 3);
    assert_eq!(
        &received(&p.b.session),
        &[host(10), host(11), host(12)].into()
    );

    let before = p.a.log.len();
    p.set_routes(true, [host(10), host(12)].into());
    assert_eq!(&received(&p.b.session), &[host(10), host(12)].into());
    // Minimal: exactly one UPDATE carrying exactly one withdrawal.
    let msgs = sent_messages(&p.a.log[before..]);
    assert_eq!(msgs.len(), 1);
    let Message::Update(raw) = &msgs[0] else {
        panic!("{msgs:?}")
    };
    let u = raw.parse(ctx()).unwrap();
    assert_eq!((u.withdrawn, u.announced), (vec![host(11)], vec![]));

    // Next hop is a's local address (next-hop-self), AS_PATH is [65001].
    let first = sent_messages(&p.a.log)
        .into_iter()
        .find_map(|m| match m {
            Message::Update(raw) => {
                Some(raw.parse(ctx()).unwrap()).filter(|u| !u.announced.is_empty())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(first.next_hop, Some(IpAddr::V4(A_ADDR)));
    assert_eq!(first.as_path, vec![65001]);
    assert_eq!(first.local_pref, None);
}

#[test]
fn routes_set_before_established_are_sent_on_established() {
    let mut p = Pair::ebgp();
    p.a.session
        .handle(p.now, Event::set_routes([host(1), host(2)]));
    p.start();
    p.advance(Duration::from_millis(1));
    assert_eq!(received(&p.b.session), [host(1), host(2)].into());
}

#[test]
fn keepalives_hold_the_session_up() {
    let mut p = established_pair();
    p.advance(Duration::from_secs(3600));
    assert!(p.both_established());
    assert_eq!(p.a.session.stats().flaps, 0);
    assert!(
        p.a.session.stats().messages_sent > 100,
        "keepalives every 30 s"
    );
}

#[test]
fn hold_timer_expiry_then_reconnect() {
    let mut p = established_pair();
    p.set_routes(true, [host(10)].into());
    p.b.frozen = true; // SIGSTOP: b stops reading and sending
    let log_start = p.a.log.len();
    p.advance(Duration::from_secs(91));
    assert_eq!(p.a.session.state(), State::Idle);
    let a_log = &p.a.log[log_start..];
    assert_notified_and_closed(a_log, 4, 0);
    assert!(
        a_log.iter().any(|a| matches!(a, Action::StateChanged { to: State::Idle, reason, .. } if reason.contains("hold timer expired"))),
        "{a_log:?}"
    );
    assert_eq!(p.a.session.stats().flaps, 1);
    assert_eq!(
        p.a.session.stats().prefixes_advertised,
        0,
        "Adj-RIB-Out forgotten"
    );
    assert!(
        p.a.session
            .stats()
            .last_error
            .as_deref()
            .unwrap()
            .contains("4/0")
    );

    // While b hangs, dials fail and a keeps retrying, backing off (5 s, then 10 s).
    p.advance(Duration::from_secs(20));
    assert!(
        p.a.log[log_start..]
            .iter()
            .filter(|a| **a == Action::Connect)
            .count()
            >= 2
    );

    // b wakes up, reads the NOTIFICATION, goes Idle, then listens again; a reconnects at
    // its next (backed-off, 20 s) attempt.
    p.b.frozen = false;
    p.advance(Duration::from_secs(25));
    assert!(
        p.both_established(),
        "a={} b={}",
        p.a.session.state(),
        p.b.session.state()
    );
    assert!(p.b.log.iter().any(|a| matches!(a, Action::StateChanged { reason, .. } if reason.contains("received NOTIFICATION 4/0"))));
    assert_eq!(
        &received(&p.b.session),
        &[host(10)].into(),
        "everything re-sent"
    );
}

#[test]
fn stop_sends_cease_and_stays_idle_until_start() {
    for (why, subcode, words) in [
        (
            StopReason::AdministrativeShutdown,
            2,
            "6/2 (Cease: Administrative Shutdown)",
        ),
        (
            StopReason::PeerDeconfigured,
            3,
            "6/3 (Cease: Peer De-configured)",
        ),
        (
            StopReason::AdministrativeReset,
            4,
            "6/4 (Cease: Administrative Reset)",
        ),
        (StopReason::BfdDown, 10, "6/10 (Cease: "),
    ] {
        stop_for(why, subcode, words);
    }
}

/// A stop for `why` sends Cease/`subcode`, which the peer logs as `words`; then Idle until
/// the next Start.
fn stop_for(why: StopReason, subcode: u8, words: &str) {
    let mut p = established_pair();
    p.a.session.handle(p.now, Event::Stop(why));
    p.settle();
    let a_log: Vec<_> = p.a.log.iter().rev().take(3).rev().cloned().collect();
    assert_notified_and_closed(&a_log, 6, subcode);
    assert!(
        p.b.log
            .iter()
            .any(|a| matches!(a, Action::StateChanged { reason, .. } if reason.contains(words))),
        "{why:?}: {:?}",
        p.b.log
    );
    p.advance(Duration::from_secs(60));
    assert_eq!(p.a.session.state(), State::Idle);
    assert_eq!(p.a.session.poll_timeout(), None, "stopped: no timers");
    if why == StopReason::BfdDown {
        let error = p.a.session.stats().last_error.clone().unwrap_or_default();
        assert!(
            error.contains("BFD down"),
            "a failed path is an error: {error}"
        );
    } else {
        assert_eq!(
            p.a.session.stats().last_error,
            None,
            "a manual stop is not an error"
        );
    }
    p.a.session.handle(p.now, Event::Start);
    p.advance(Duration::from_millis(1));
    assert!(p.both_established());
}

#[test]
fn stop_for_restart_closes_without_notification() {
    let mut p = established_pair();
    p.a.session.handle(p.now, Event::StopForRestart);
    let actions = drain(&mut p.a.session);
    assert!(
        notifications(&actions).is_empty(),
        "graceful restart: no NOTIFICATION, {actions:?}"
    );
    assert!(
        actions.contains(&Action::Close),
        "the connection is closed: {actions:?}"
    );
    assert_eq!(p.a.session.state(), State::Idle);
    assert_eq!(
        p.a.session.poll_timeout(),
        None,
        "stopped: no retry until Start"
    );
}

#[test]
fn connect_retry_backs_off_exponentially_and_starts_over_when_established() {
    let mut config = a_config();
    config.connect_retry = Duration::from_secs(1);
    config.connect_retry_max = Duration::from_secs(8);
    let mut s = porter_bgp::Session::new(config);
    let t0 = std::time::Instant::now();
    let mut now = t0;
    s.handle(now, Event::Start);
    let mut dials = Vec::new();
    for _ in 0..7 {
        let actions = drain(&mut s);
        if actions.contains(&Action::Connect) {
            dials.push((now - t0).as_secs());
            // The peer is unreachable: every dial fails at once.
            s.handle(now, Event::TcpConnectFailed);
            drain(&mut s);
        }
        now = s.poll_timeout().expect("a retry is always armed");
        s.handle_timeout(now);
    }
    // Gaps 1, 2, 4, 8, 8, 8 seconds: doubling, capped at connect_retry_max.
    assert_eq!(dials, vec![0, 1, 3, 7, 15, 23, 31]);

    // The next dial succeeds and the session comes up: the delay starts over.
    let actions = drain(&mut s);
    assert!(actions.contains(&Action::Connect));
    s.handle(
        now,
        Event::TcpConnected {
            local: sock(A_ADDR, 40000),
            remote: sock(B_ADDR, 179),
        },
    );
    s.handle(now, Event::Received(peer_open(65000, B_ADDR, 90)));
    s.handle(now, Event::Received(porter_bgp::wire::encode_keepalive()));
    assert_eq!(s.state(), State::Established);
    s.handle(now, Event::TcpClosed);
    drain(&mut s);
    assert_eq!(
        s.poll_timeout(),
        Some(now + Duration::from_secs(1)),
        "after an Established session the retry delay is connect_retry again"
    );
}

#[test]
fn tcp_loss_and_connect_failures_retry() {
    let mut p = established_pair();
    // The peer's TCP connection dies (no NOTIFICATION).
    p.b.session.handle(p.now, Event::TcpClosed);
    p.settle();
    assert_eq!(p.b.session.state(), State::Idle);
    assert_eq!(p.a.session.state(), State::Idle);
    assert_eq!(p.b.session.stats().flaps, 1);
    p.advance(Duration::from_secs(6));
    assert!(p.both_established());
}

#[test]
fn ibgp_uses_empty_as_path_and_local_pref() {
    let mut a = a_config();
    a.peer_as = 65001;
    let mut b = b_config();
    b.local_as = 65001;
    let mut p = Pair::new(a, b);
    p.start();
    p.advance(Duration::from_millis(1));
    assert!(p.both_established());
    let from = p.a.log.len();
    p.set_routes(true, [host(7)].into());
    let Message::Update(raw) = &sent_messages(&p.a.log[from..])[0] else {
        panic!()
    };
    let u = raw
        .parse(porter_bgp::wire::UpdateContext {
            four_octet_as: true,
            is_ibgp: true,
        })
        .unwrap();
    assert_eq!((u.as_path, u.local_pref), (vec![], Some(100)));
    assert_eq!(received(&p.b.session), [host(7)].into());
}

#[test]
fn large_rib_is_packed_and_v6_held_back_on_v4_session() {
    for extended in [false, true] {
        let mut a = a_config();
        a.extended_messages = extended;
        let mut p = Pair::new(a, b_config());
        p.start();
        p.advance(Duration::from_millis(1));
        large_rib(&mut p, extended);
    }
}

fn large_rib(p: &mut Pair, extended: bool) {
    let mut routes: BTreeSet<Prefix> = (0..10_000u32)
        .map(|i| Prefix::host(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))))
        .collect();
    routes.insert("2001:db8::10/128".parse().unwrap());
    let from = p.a.log.len();
    p.set_routes(true, routes);
    assert_eq!(p.b.session.stats().prefixes_received, 10_000);
    assert_eq!(
        p.a.session.stats().prefixes_advertised,
        10_000,
        "IPv6 skipped on an IPv4 session"
    );
    let sends: Vec<_> = p.a.log[from..]
        .iter()
        .filter(|a| matches!(a, Action::Send(_)))
        .collect();
    assert_eq!(sends.len(), 1, "one flush, one write");
    let Action::Send(bytes) = sends[0] else {
        unreachable!()
    };
    let lens = frame_lengths(bytes);
    let max = if extended { 65535 } else { 4096 };
    assert_eq!(p.a.session.negotiated().unwrap().max_message_len(), max);
    // RFC 8654: 10k /32s fit one extended UPDATE instead of 13.
    assert_eq!(lens.len(), 10_000usize.div_ceil((max - 23 - 20) / 5));
    assert!(lens.iter().all(|l| *l <= max));
}

#[test]
fn route_refresh_resends_the_family() {
    let mut p = established_pair();
    p.set_routes(true, [host(1), host(2)].into());
    let from = p.a.log.len();
    let rr = porter_bgp::wire::encode_route_refresh(porter_bgp::Family::Ipv4Unicast).unwrap();
    p.a.session.handle(p.now, Event::Received(rr));
    p.settle();
    let msgs = sent_messages(&p.a.log[from..]);
    let Message::Update(raw) = &msgs[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!(raw.parse(ctx()).unwrap().announced, vec![host(1), host(2)]);
    assert!(p.both_established());
}

/// The routes `b` holds from `a`, with their attributes.
fn received_attrs(p: &Pair) -> Vec<(Prefix, porter_bgp::RouteAttrs)> {
    p.b.session
        .received_routes()
        .iter()
        .map(|(p, a)| (*p, a.clone()))
        .collect()
}

/// RFC 8326 as the speaker runs it on SIGTERM, on the virtual clock: graceful shutdown,
/// the drain time with the session up, then the withdrawal and Cease 6/2.
#[test]
fn graceful_shutdown_reannounces_with_the_community_then_withdraws_and_stops() {
    use porter_bgp::attrs::well_known::GRACEFUL_SHUTDOWN;
    let mut p = established_pair();
    let med = porter_bgp::RouteAttrs {
        med: Some(7),
        ..Default::default()
    };
    p.set_route_attrs(
        true,
        [
            (host(1), Default::default()),
            (host(2), med.clone()),
            (host(3), Default::default()),
        ]
        .into(),
    );
    let before = p.a.log.len();
    p.a.session.handle(p.now, Event::GracefulShutdown);
    p.settle();
    assert!(p.a.session.in_graceful_shutdown());
    let updates = sent_messages(&p.a.log[before..]);
    assert_eq!(
        updates.len(),
        2,
        "one UPDATE per attribute set: {updates:?}"
    );
    let got = received_attrs(&p);
    assert_eq!(got.len(), 3);
    for (prefix, attrs) in &got {
        assert!(attrs.communities.contains(&GRACEFUL_SHUTDOWN), "{prefix}");
        assert_eq!(attrs.local_pref, None, "eBGP: no LOCAL_PREF on the wire");
    }
    assert_eq!(got[1].1.med, Some(7), "the route's own attributes stay");

    // The drain time: the session stays up (keepalives flow), nothing more is sent.
    let before = p.a.log.len();
    p.advance(Duration::from_secs(95));
    assert!(p.both_established());
    assert!(
        sent_messages(&p.a.log[before..])
            .iter()
            .all(|m| matches!(m, Message::Keepalive)),
        "only keepalives while draining"
    );
    // A route added while draining goes out in graceful shutdown too.
    p.set_routes(true, [host(1), host(2), host(3), host(4)].into());
    let four = p.b.session.received_routes()[&host(4)].clone();
    assert!(four.communities.contains(&GRACEFUL_SHUTDOWN));

    // Then withdraw and close: the peer sees the withdrawal before the Cease.
    let before = p.a.log.len();
    p.a.session.handle(p.now, Event::set_routes([]));
    p.a.session
        .handle(p.now, Event::Stop(StopReason::AdministrativeShutdown));
    p.settle();
    let msgs = sent_messages(&p.a.log[before..]);
    assert!(
        matches!(&msgs[..], [Message::Update(_), Message::Notification(n)] if (n.code, n.subcode) == (6, 2)),
        "{msgs:?}"
    );
    let Message::Update(raw) = &msgs[0] else {
        unreachable!()
    };
    assert_eq!(raw.parse(ctx()).unwrap().withdrawn.len(), 4);
    assert_eq!(p.a.session.state(), State::Idle);
}

#[test]
fn graceful_shutdown_on_ibgp_sends_local_pref_0_and_survives_a_reconnect() {
    use porter_bgp::attrs::well_known::GRACEFUL_SHUTDOWN;
    let mut a = a_config();
    a.peer_as = 65001;
    let mut b = b_config();
    b.local_as = 65001;
    let mut p = Pair::new(a, b);
    p.start();
    p.advance(Duration::from_millis(1));
    assert!(p.both_established());
    p.set_routes(true, [host(7)].into());
    assert_eq!(
        p.b.session.received_routes()[&host(7)].local_pref,
        Some(100)
    );
    p.a.session.handle(p.now, Event::GracefulShutdown);
    p.settle();
    let attrs = p.b.session.received_routes()[&host(7)].clone();
    assert_eq!(attrs.local_pref, Some(0));
    assert!(attrs.communities.contains(&GRACEFUL_SHUTDOWN));
    // The connection drops during the drain: the routes come back still in graceful shutdown.
    p.b.session
        .handle(p.now, Event::Stop(StopReason::AdministrativeReset));
    p.settle();
    p.b.session.handle(p.now, Event::Start);
    p.advance(Duration::from_secs(60));
    assert!(p.both_established());
    assert_eq!(p.b.session.received_routes()[&host(7)].local_pref, Some(0));
}

#[test]
fn graceful_restart_counts_as_negotiated_only_when_both_sent_it() {
    use porter_bgp::GracefulRestart;
    let gr = GracefulRestart {
        restart_time: 120,
        restarting: false,
    };
    for (on_a, on_b, negotiated) in [
        (false, false, false),
        (true, false, false),
        (false, true, false),
        (true, true, true),
    ] {
        let mut a = a_config();
        let mut b = b_config();
        a.graceful_restart = on_a.then_some(gr);
        b.graceful_restart = on_b.then_some(gr);
        let mut p = Pair::new(a, b);
        assert!(
            !p.a.session.graceful_restart_negotiated(),
            "not before OPEN"
        );
        p.start();
        p.advance(Duration::from_millis(1));
        assert!(p.both_established());
        assert_eq!(
            p.a.session.graceful_restart_negotiated(),
            negotiated,
            "a {on_a}, b {on_b}"
        );
    }
}
