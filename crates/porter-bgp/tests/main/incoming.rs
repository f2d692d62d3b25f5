//! Connections the peer opens (RFC 4271 §8.2.2, §6.8, RFC 4486): served at once whenever the
//! session has none (even during the connect-retry backoff), refused with NOTIFICATION Cease
//! otherwise; keepalive intervals and RFC 4271 §10 jitter.

use std::time::{Duration, Instant};

use porter_bgp::incoming::{COLLISION_RESOLUTION, CONNECTION_REJECTED};
use porter_bgp::wire::{self, Message};
use porter_bgp::{Action, Event, Jitter, Session, SessionConfig, State, StopReason};

use super::support::*;

fn offer(s: &mut Session, now: Instant) -> Vec<Action> {
    s.handle(
        now,
        Event::Incoming {
            local: sock(A_ADDR, 179),
            remote: sock(B_ADDR, 50000),
        },
    );
    drain(s)
}

/// The NOTIFICATION of the (single) `RejectIncoming` in `actions`, as (code, subcode).
fn rejected(actions: &[Action]) -> Option<(u8, u8)> {
    let bytes = actions.iter().find_map(|a| match a {
        Action::RejectIncoming(b) => Some(b.clone()),
        _ => None,
    })?;
    match wire::decode_all_with_limit(&bytes, wire::MAX_MESSAGE_LEN)
        .expect("a whole message")
        .as_slice()
    {
        [Message::Notification(n)] => Some((n.code, n.subcode)),
        other => panic!("not one NOTIFICATION: {other:?}"),
    }
}

/// A session that failed `failures` times in a row, now waiting in Idle for its next attempt.
fn backing_off(config: SessionConfig, failures: usize) -> (Session, Instant) {
    let mut s = Session::new(config);
    let mut now = Instant::now();
    s.handle(now, Event::Start);
    for _ in 0..failures {
        drain(&mut s);
        s.handle(now, Event::TcpConnectFailed);
        drain(&mut s);
        assert_eq!(s.state(), State::Idle);
        now = s.poll_timeout().expect("retry armed");
        s.handle_timeout(now);
    }
    s.handle(now, Event::TcpConnectFailed);
    drain(&mut s);
    (s, now)
}

#[test]
fn a_peer_connecting_during_a_long_backoff_is_served_at_once() {
    let mut config = a_config();
    config.connect_retry_max = Duration::from_secs(600);
    let (mut s, now) = backing_off(config, 8);
    assert_eq!(s.state(), State::Idle);
    let wait = s.poll_timeout().expect("retry armed") - now;
    assert!(wait >= Duration::from_secs(300), "a long backoff: {wait:?}");

    let actions = offer(&mut s, now);
    assert!(actions.contains(&Action::AcceptIncoming), "{actions:?}");
    assert_eq!(rejected(&actions), None);
    assert_eq!(s.state(), State::OpenSent);
    let opens = sent_messages(&actions)
        .into_iter()
        .filter(|m| matches!(m, Message::Open(_)))
        .count();
    assert_eq!(opens, 1, "our OPEN goes out on the new connection");
    // The session then comes up as any other.
    s.handle(now, Event::Received(peer_open(65000, B_ADDR, 90)));
    s.handle(now, Event::Received(wire::encode_keepalive()));
    assert_eq!(s.state(), State::Established);
}

#[test]
fn a_passive_session_serves_the_peer_in_active_and_after_an_error() {
    let mut s = Session::new({
        let mut c = a_config();
        c.passive = true;
        c
    });
    let now = Instant::now();
    s.handle(now, Event::Start);
    drain(&mut s);
    assert_eq!(s.state(), State::Active);
    assert!(offer(&mut s, now).contains(&Action::AcceptIncoming));
    // The peer's connection dies: Idle with a retry armed; its next connection is served.
    s.handle(now, Event::TcpClosed);
    drain(&mut s);
    assert_eq!(s.state(), State::Idle);
    assert!(offer(&mut s, now).contains(&Action::AcceptIncoming));
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn connect_abandons_its_dial_for_the_peers_connection() {
    let mut s = Session::new(a_config());
    let now = Instant::now();
    s.handle(now, Event::Start);
    drain(&mut s);
    assert_eq!(s.state(), State::Connect);
    let actions = offer(&mut s, now);
    let close = actions.iter().position(|a| *a == Action::Close);
    let accept = actions.iter().position(|a| *a == Action::AcceptIncoming);
    assert!(
        close.is_some() && close < accept,
        "dial dropped first: {actions:?}"
    );
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn a_stopped_session_refuses_with_cease_connection_rejected() {
    let mut s = Session::new(a_config());
    let now = Instant::now();
    // Never started, then started and stopped: both administratively down.
    assert_eq!(
        rejected(&offer(&mut s, now)),
        Some((6, CONNECTION_REJECTED))
    );
    s.handle(now, Event::Start);
    s.handle(now, Event::Stop(StopReason::AdministrativeShutdown));
    drain(&mut s);
    let actions = offer(&mut s, now);
    assert_eq!(rejected(&actions), Some((6, CONNECTION_REJECTED)));
    assert!(!actions.contains(&Action::AcceptIncoming));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), None, "still stopped");
}

#[test]
fn a_second_connection_while_established_is_refused_and_the_session_stays() {
    let (mut s, now) = session_in(State::Established);
    let actions = offer(&mut s, now);
    assert_eq!(rejected(&actions), Some((6, CONNECTION_REJECTED)));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Close | Action::AcceptIncoming | Action::Send(_))),
        "the established connection is untouched: {actions:?}"
    );
    assert_eq!(s.state(), State::Established);
}

#[test]
fn collisions_keep_the_connection_opened_by_the_higher_identifier() {
    // Porter (10.0.0.1) dialled; the peer (10.0.0.2, higher) also connects: the peer's wins.
    let (mut s, now) = session_in(State::OpenConfirm);
    let actions = offer(&mut s, now);
    let n = notifications(&actions);
    assert_eq!(
        n.iter().map(|n| (n.code, n.subcode)).collect::<Vec<_>>(),
        [(6, COLLISION_RESOLUTION)],
        "our connection is closed with Cease/7: {actions:?}"
    );
    assert!(actions.contains(&Action::AcceptIncoming));
    assert_eq!(s.state(), State::OpenSent);

    // With a higher identifier of ours, our connection stays and the new one is refused.
    let mut config = a_config();
    config.router_id = std::net::Ipv4Addr::new(10, 0, 0, 9);
    let mut s = Session::new(config);
    s.handle(now, Event::Start);
    s.handle(
        now,
        Event::TcpConnected {
            local: sock(A_ADDR, 40000),
            remote: sock(B_ADDR, 179),
        },
    );
    s.handle(now, Event::Received(peer_open(65000, B_ADDR, 90)));
    drain(&mut s);
    let actions = offer(&mut s, now);
    assert_eq!(rejected(&actions), Some((6, COLLISION_RESOLUTION)));
    assert!(!actions.contains(&Action::AcceptIncoming));
    assert_eq!(s.state(), State::OpenConfirm);
}

#[test]
fn a_collision_before_the_peers_identifier_is_known_refuses_the_new_connection() {
    let (mut s, now) = session_in(State::OpenSent);
    let actions = offer(&mut s, now);
    assert_eq!(rejected(&actions), Some((6, COLLISION_RESOLUTION)));
    assert_eq!(s.state(), State::OpenSent);
}

/// The keepalive deadline once OpenConfirm is reached with `ours` configured and the peer
/// proposing `their_hold`.
fn keepalive_after(ours: Option<u16>, their_hold: u16) -> (Option<u16>, Option<Duration>) {
    let mut config = a_config();
    config.keepalive = ours;
    let mut s = Session::new(config);
    let now = Instant::now();
    s.handle(now, Event::Start);
    s.handle(
        now,
        Event::TcpConnected {
            local: sock(A_ADDR, 40000),
            remote: sock(B_ADDR, 179),
        },
    );
    s.handle(now, Event::Received(peer_open(65000, B_ADDR, their_hold)));
    drain(&mut s);
    assert_eq!(s.state(), State::OpenConfirm);
    let ka = s.negotiated_keepalive();
    (ka, s.poll_timeout().map(|d| d - now))
}

#[test]
fn the_configured_keepalive_is_used_capped_at_a_third_of_the_hold_time() {
    // Configured 10 s, hold 90: KEEPALIVE every 10 s (the earliest timer).
    assert_eq!(
        keepalive_after(Some(10), 90),
        (Some(10), Some(Duration::from_secs(10)))
    );
    // Unset: a third of the hold time.
    assert_eq!(
        keepalive_after(None, 90),
        (Some(30), Some(Duration::from_secs(30)))
    );
    // Configured above a third of the negotiated hold time (the peer asked for 9): capped.
    assert_eq!(
        keepalive_after(Some(10), 9),
        (Some(3), Some(Duration::from_secs(3)))
    );
    // Hold time 0: no KEEPALIVEs and no timers at all.
    assert_eq!(keepalive_after(Some(10), 0), (Some(0), None));
}

#[test]
fn jitter_scales_retry_and_keepalive_delays_into_three_quarters_to_one() {
    let run = |seed: u64| {
        let mut config = a_config();
        config.connect_retry = Duration::from_secs(8);
        config.connect_retry_max = Duration::from_secs(8);
        let mut s = Session::with_jitter(config, Jitter::seeded(seed));
        let now = Instant::now();
        s.handle(now, Event::Start);
        let mut gaps = Vec::new();
        let mut t = now;
        for _ in 0..50 {
            drain(&mut s);
            s.handle(t, Event::TcpConnectFailed);
            drain(&mut s);
            let next = s.poll_timeout().expect("retry armed");
            gaps.push(next - t);
            t = next;
            s.handle_timeout(t);
        }
        gaps
    };
    let gaps = run(1);
    let (lo, hi) = (Duration::from_secs(6), Duration::from_secs(8));
    assert!(gaps.iter().all(|g| (lo..=hi).contains(g)), "{gaps:?}");
    assert!(
        gaps.iter().any(|g| *g != gaps[0]),
        "the delays vary: {gaps:?}"
    );
    assert_eq!(run(1), gaps, "the same seed, the same delays");
    assert_ne!(run(2), gaps, "another seed, other delays");

    // Keepalive: a third of 90 s, jittered.
    let mut s = Session::with_jitter(a_config(), Jitter::seeded(3));
    let now = Instant::now();
    s.handle(now, Event::Start);
    s.handle(
        now,
        Event::TcpConnected {
            local: sock(A_ADDR, 40000),
            remote: sock(B_ADDR, 179),
        },
    );
    s.handle(now, Event::Received(peer_open(65000, B_ADDR, 90)));
    let ka = s.poll_timeout().expect("keepalive armed") - now;
    assert!(
        (Duration::from_millis(22_500)..=Duration::from_secs(30)).contains(&ka),
        "{ka:?}"
    );
}
