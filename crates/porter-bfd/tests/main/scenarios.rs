//! RFC 5880 behaviours, one scenario each.

use std::time::Duration;

use porter_bfd::{Config, Diag, Packet, State};

use crate::support::Pair;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn three_way_handshake_then_the_configured_rate() {
    let mut pair = Pair::defaults();
    pair.run_for(ms(3000));
    assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
    let states: Vec<State> = pair.changes_a.iter().map(|(_, c)| c.to).collect();
    assert_eq!(states, [State::Init, State::Up], "Down → Init → Up");

    // Before Up both sent at one second or slower, and advertised it (§6.8.3).
    let up_at = pair.changes_a.last().unwrap().0;
    for s in pair.sent.iter().filter(|s| s.packet.state != State::Up) {
        assert!(s.packet.desired_min_tx >= 1_000_000, "{s:?}");
    }
    // Once Up: 300 ms, announced with a Poll that the peer answers with a Final.
    let after: Vec<_> = pair.sent.iter().filter(|s| s.at >= up_at).collect();
    assert!(after.iter().any(|s| s.packet.poll && s.by_a));
    assert!(after.iter().any(|s| s.packet.final_ && !s.by_a));
    assert!(after.iter().all(|s| !(s.packet.poll && s.packet.final_)));
    let last_a: Vec<_> = after.iter().filter(|s| s.by_a).rev().take(3).collect();
    assert!(
        last_a.iter().all(|s| !s.packet.poll),
        "the Poll Sequence ended"
    );
    assert_eq!(last_a[0].packet.desired_min_tx, 300_000);
    assert_eq!(last_a[0].at - last_a[1].at, ms(300));
    assert_eq!(pair.a.remote().discriminator, 2);
}

#[test]
fn silence_takes_the_session_down_after_one_detection_time() {
    let mut pair = Pair::defaults();
    pair.run_for(ms(3000));
    assert_eq!(pair.a.state(), State::Up);
    // b's packets stop reaching a (the link died that way).
    pair.b_to_a = false;
    let cut = pair.now;
    let last_heard = pair.sent.iter().rev().find(|s| !s.by_a).unwrap().at;
    pair.run_for(ms(2000));
    let (at, change) = pair
        .changes_a
        .iter()
        .find(|(_, c)| c.from == State::Up)
        .copied()
        .unwrap();
    assert_eq!(change.to, State::Down);
    assert_eq!(change.diag, Diag::DetectionTimeExpired);
    assert_eq!(
        at - last_heard,
        ms(900),
        "3 × 300 ms after the last packet heard"
    );
    assert!(at - cut <= ms(900));
    assert_eq!(
        pair.a.remote().discriminator,
        0,
        "§6.8.1: forgotten after a Detection Time"
    );
    // b still hears a, whose packets now say Down: b follows with diagnostic 3.
    let (_, b_change) = pair
        .changes_b
        .iter()
        .find(|(_, c)| c.from == State::Up)
        .copied()
        .unwrap();
    assert_eq!(
        (b_change.to, b_change.diag),
        (State::Down, Diag::NeighborDown)
    );
    assert_eq!(pair.a.stats().flaps, 1);
}

#[test]
fn the_session_comes_back_when_the_link_does() {
    let mut pair = Pair::defaults();
    pair.run_for(ms(3000));
    pair.a_to_b = false;
    pair.b_to_a = false;
    pair.run_for(ms(5000));
    assert_eq!((pair.a.state(), pair.b.state()), (State::Down, State::Down));
    // Down, both sides send at one second (§6.8.3) to a discriminator they forgot.
    let quiet: Vec<_> = pair.sent.iter().rev().take(4).collect();
    assert!(
        quiet
            .iter()
            .all(|s| s.packet.desired_min_tx == 1_000_000 && s.packet.your_discriminator == 0)
    );
    pair.a_to_b = true;
    pair.b_to_a = true;
    pair.run_for(ms(3000));
    assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
}

#[test]
fn admin_down_tells_the_peer_and_ignores_it() {
    let mut pair = Pair::defaults();
    pair.run_for(ms(3000));
    let now = pair.now;
    pair.a.admin_down(now);
    pair.exchange();
    assert_eq!(pair.a.state(), State::AdminDown);
    assert_eq!(pair.a.diag(), Diag::AdminDown);
    let told = pair.sent.iter().rev().find(|s| s.by_a).unwrap();
    assert!(
        told.by_a && told.packet.state == State::AdminDown && told.at == now,
        "at once"
    );
    assert_eq!(
        (pair.b.state(), pair.b.diag()),
        (State::Down, Diag::NeighborDown)
    );
    pair.run_for(ms(5000));
    assert_eq!(
        pair.a.state(),
        State::AdminDown,
        "the peer cannot bring it up"
    );
    assert!(
        pair.changes_a
            .iter()
            .all(|(_, c)| c.diag != Diag::DetectionTimeExpired)
    );
    assert_eq!(
        pair.b.state(),
        State::Down,
        "and the peer does not come up with it"
    );
}

#[test]
fn a_passive_session_waits_to_be_heard() {
    let mut passive = Config::new(1);
    passive.passive = true;
    let mut pair = Pair::new(passive, Config::new(2), None);
    pair.a_to_b = true;
    pair.b_to_a = false;
    pair.run_for(ms(5000));
    assert!(
        pair.sent.iter().all(|s| !s.by_a),
        "a passive session sends nothing unheard"
    );
    pair.b_to_a = true;
    pair.run_for(ms(3000));
    assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
}

#[test]
fn a_passive_session_stopped_before_it_was_heard_says_nothing() {
    let mut passive = Config::new(1);
    passive.passive = true;
    let mut pair = Pair::new(passive, Config::new(2), None);
    pair.b_to_a = false;
    pair.run_for(ms(2000));
    let now = pair.now;
    pair.a.admin_down(now);
    pair.run_for(ms(2000));
    assert_eq!(pair.a.state(), State::AdminDown);
    assert!(pair.sent.iter().all(|s| !s.by_a), "{:?}", pair.sent);
}

#[test]
fn slower_of_ours_and_the_peers_rates_and_the_detect_multiplier() {
    let mut fast = Config::new(1);
    fast.desired_min_tx = ms(50);
    fast.required_min_rx = ms(50);
    let mut slow = Config::new(2);
    slow.desired_min_tx = ms(200);
    slow.required_min_rx = ms(400);
    slow.detect_mult = 5;
    let mut pair = Pair::new(fast, slow, None);
    pair.run_for(ms(5000));
    assert_eq!(pair.a.state(), State::Up);
    // a sends no faster than b can receive; b at its own 200 ms.
    assert_eq!(pair.a.transmit_interval(), Some(ms(400)));
    assert_eq!(pair.b.transmit_interval(), Some(ms(200)));
    // a detects b's silence after b's multiplier × b's 200 ms; b after 3 × 400 ms.
    assert_eq!(pair.a.detection_time(), ms(1000));
    assert_eq!(pair.b.detection_time(), ms(1200));
}

#[test]
fn a_peer_that_wants_no_packets_gets_none_but_its_finals() {
    let mut pair = Pair::defaults();
    pair.run_for(ms(3000));
    let now = pair.now;
    let mut wants_none = Packet {
        required_min_rx: 0,
        poll: true,
        your_discriminator: 1,
        ..pair.sent.iter().rev().find(|s| !s.by_a).unwrap().packet
    };
    wants_none.final_ = false;
    pair.a.handle_packet(now, &wants_none);
    pair.a.handle_timeout(now);
    let answer = pair.a.poll_transmit().expect("a Poll is answered");
    assert!(answer.final_ && !answer.poll);
    assert_eq!(pair.a.transmit_interval(), None);
    let later = now + ms(500);
    pair.a.handle_timeout(later);
    assert!(pair.a.poll_transmit().is_none(), "no periodic packets");
}

#[test]
fn a_peer_in_demand_mode_stops_our_periodic_packets() {
    let mut pair = Pair::defaults();
    pair.run_for(ms(3000));
    let now = pair.now;
    let demand = Packet {
        demand: true,
        ..pair.sent.iter().rev().find(|s| !s.by_a).unwrap().packet
    };
    pair.a.handle_packet(now, &demand);
    assert_eq!(pair.a.transmit_interval(), None);
}
