//! Scenarios on a virtual clock: start, kill, leave, cut link, partitions, rejoin, restart,
//! replay, wrong key.

use std::net::IpAddr;

use porter_member::{Config, ConfigError, DecodeError, Ignored, Key, Message, Quorum, Why};

use crate::support::{LATENCY, Net, key, ms, names};

fn config() -> Config {
    Config::default()
}

fn started(nodes: &[&str]) -> Net {
    let mut net = Net::new(nodes, config());
    net.run_for(ms(500));
    net
}

fn all_see_all(net: &Net) {
    for n in net.names() {
        assert_eq!(net.alive(&n), net.names(), "{n}'s view");
        assert!(net.m(&n).ready());
    }
}

#[test]
fn timers_are_checked() {
    assert_eq!(Config::default().check(), Ok(()));
    let late = Config {
        isolated_after: ms(1300),
        ..Config::default()
    };
    assert_eq!(late.check(), Err(ConfigError::IsolationTooLate));
    let zero = Config {
        interval: ms(0),
        ..Config::default()
    };
    assert_eq!(zero.check(), Err(ConfigError::ZeroInterval));
}

#[test]
fn start_settles_within_round_trips() {
    let mut net = Net::new(&["a", "b", "c"], config());
    // Handshakes are answered at once (boot echo, "I hear you"), not at the next interval.
    net.run_for(ms(20));
    all_see_all(&net);
    assert!(
        net.ignored
            .iter()
            .all(|(_, _, why)| *why == Ignored::Unproven)
    );
}

#[test]
fn a_single_member_answers_at_once() {
    let net = Net::new(&["solo"], config());
    assert!(net.m("solo").ready());
    assert_eq!(net.alive("solo"), names(&["solo"]));
}

#[test]
fn steady_state_sends_one_heartbeat_per_member_per_interval() {
    let mut net = started(&["a", "b", "c", "d"]);
    let from = net.sent.len();
    net.run_for(ms(10_000));
    // 4 nodes × 3 members × 10 s / 200 ms, give or take the first and last.
    let sent = net.sent.len() - from;
    assert!((4 * 3 * 49..=4 * 3 * 51).contains(&sent), "{sent}");
    assert!(net.changes.iter().all(|(at, _, _)| *at < net.t0 + ms(500)));
    all_see_all(&net);
}

#[test]
fn a_killed_speaker_is_counted_out_within_dead_after() {
    let mut net = started(&["a", "b", "c"]);
    let last_sent = net.sent.iter().rev().find(|w| w.from == "c").unwrap().at;
    let killed = net.now;
    net.kill("c");
    net.run_for(ms(3000));
    for observer in ["a", "b"] {
        let at = net.when(observer, "c", false, killed).unwrap();
        // Counted out `dead_after` after its last heartbeat arrived: 1.3-1.5 s after the kill.
        assert_eq!(at, last_sent + config().dead_after, "{observer}");
        assert!(at - killed <= config().dead_after);
        assert_eq!(
            net.change(observer, "c", false, killed).unwrap().why,
            Why::Silent
        );
        assert_eq!(net.alive(observer), names(&["a", "b"]));
        assert!(net.m(observer).ready(), "two of three are a majority");
    }
}

#[test]
fn a_leaving_speaker_is_counted_out_at_once() {
    let mut net = started(&["a", "b", "c"]);
    let left = net.now;
    net.leave("c");
    assert!(!net.m("c").ready());
    assert_eq!(net.change("c", "c", false, left).unwrap().why, Why::Leaving);
    net.run_for(ms(10));
    for observer in ["a", "b"] {
        assert_eq!(net.when(observer, "c", false, left), Some(left + LATENCY));
        assert_eq!(
            net.change(observer, "c", false, left).unwrap().why,
            Why::Left
        );
    }
    // It goes on saying so while the shell drains, and nobody counts it back.
    net.run_for(ms(1000));
    assert_eq!(net.alive("a"), names(&["a", "b"]));
    assert!(
        net.sent
            .iter()
            .filter(|w| w.from == "c" && w.at > left + ms(500))
            .count()
            >= 2
    );
}

#[test]
fn a_leave_lost_on_the_wire_costs_only_an_interval() {
    let mut net = started(&["a", "b", "c"]);
    net.cut_both("c", "a");
    let left = net.now;
    net.leave("c");
    net.run_for(ms(10));
    net.heal();
    net.run_for(ms(300));
    let at = net.when("a", "c", false, left).unwrap();
    assert!(at <= left + config().interval + LATENCY, "{:?}", at - left);
}

/// The split-brain rule: a node whose link dies stops answering before anyone counts it out
/// and takes its addresses.
#[test]
fn a_cut_off_node_stops_before_the_others_take_over() {
    let mut net = started(&["a", "b", "c"]);
    let cut = net.now;
    net.isolate("c");
    net.run_for(ms(3000));
    let stopped = net.when("c", "c", false, cut).unwrap();
    assert_eq!(net.change("c", "c", false, cut).unwrap().why, Why::Isolated);
    // The figures docs/architecture.md gives: stopped 0.9-1.1 s after the cut, counted out by
    // the others 1.3-1.5 s after it.
    let c = config();
    let window = |after: std::time::Duration| (after - c.interval)..=(after + LATENCY);
    assert!(
        window(c.isolated_after).contains(&(stopped - cut)),
        "{:?}",
        stopped - cut
    );
    for observer in ["a", "b"] {
        let taken = net.when(observer, "c", false, cut).unwrap();
        assert!(
            window(c.dead_after).contains(&(taken - cut)),
            "{:?}",
            taken - cut
        );
        assert!(
            stopped < taken,
            "c stopped at {:?}, {observer} took over at {:?}",
            stopped - cut,
            taken - cut
        );
        assert!(taken - cut <= config().dead_after);
    }
    assert!(!net.m("c").ready());
    assert!(net.m("c").isolated());
    assert!(net.m("a").ready() && net.m("b").ready());
}

#[test]
fn a_rejoining_node_takes_its_addresses_back_once_settled() {
    let mut net = started(&["a", "b", "c"]);
    net.isolate("c");
    net.run_for(ms(3000));
    let healed = net.now;
    net.heal();
    net.run_for(ms(500));
    all_see_all(&net);
    let ready = net.when("c", "c", true, healed).unwrap();
    for observer in ["a", "b"] {
        // Others count it in only after it says it is ready.
        assert!(net.when(observer, "c", true, healed).unwrap() >= ready);
    }
    // Within round trips, not intervals: an isolated node's heartbeats keep going out, and
    // the answers come at once.
    assert!(
        ready - healed <= config().interval + 4 * LATENCY,
        "{:?}",
        ready - healed
    );
}

#[test]
fn partition_one_against_two() {
    let mut net = started(&["a", "b", "c"]);
    let cut = net.now;
    net.partition(&["a"], &["b", "c"]);
    net.run_for(ms(3000));
    assert!(!net.m("a").ready(), "a alone is a minority");
    assert_eq!(net.alive("b"), names(&["b", "c"]));
    assert_eq!(net.alive("c"), names(&["b", "c"]));
    let stopped = net.when("a", "a", false, cut).unwrap();
    assert!(stopped < net.when("b", "a", false, cut).unwrap());
}

#[test]
fn partition_one_against_three() {
    let mut net = started(&["a", "b", "c", "d"]);
    net.partition(&["a"], &["b", "c", "d"]);
    net.run_for(ms(3000));
    assert!(!net.m("a").ready());
    for n in ["b", "c", "d"] {
        assert_eq!(net.alive(n), names(&["b", "c", "d"]));
    }
}

#[test]
fn partition_two_against_two_majority_keeps_the_side_of_the_first_name() {
    let mut net = started(&["a", "b", "c", "d"]);
    let cut = net.now;
    net.partition(&["a", "b"], &["c", "d"]);
    net.run_for(ms(3000));
    assert_eq!(net.alive("a"), names(&["a", "b"]));
    assert_eq!(net.alive("b"), names(&["a", "b"]));
    for n in ["c", "d"] {
        assert!(!net.m(n).ready() && net.m(n).isolated());
        let stopped = net.when(n, n, false, cut).unwrap();
        for other in ["a", "b"] {
            assert!(stopped < net.when(other, n, false, cut).unwrap());
        }
    }
    net.heal();
    net.run_for(ms(500));
    all_see_all(&net);
}

#[test]
fn partition_two_against_two_any_peer_keeps_both_sides() {
    let config = Config {
        quorum: Quorum::AnyPeer,
        ..Config::default()
    };
    let mut net = Net::new(&["a", "b", "c", "d"], config.clone());
    net.run_for(ms(500));
    net.partition(&["a", "b"], &["c", "d"]);
    net.run_for(ms(3000));
    assert_eq!(net.alive("a"), names(&["a", "b"]));
    assert_eq!(net.alive("c"), names(&["c", "d"]));
    // Alone, even AnyPeer stops.
    net.partition(&["c"], &["d"]);
    net.run_for(ms(3000));
    assert!(!net.m("c").ready() && !net.m("d").ready());
}

#[test]
fn two_nodes_the_first_name_survives_the_other() {
    let mut net = started(&["a", "b"]);
    net.kill("b");
    net.run_for(ms(3000));
    assert_eq!(net.alive("a"), names(&["a"]));
    assert!(net.m("a").ready());

    let mut net = started(&["a", "b"]);
    net.kill("a");
    net.run_for(ms(3000));
    // b cannot tell a's death from its own isolation: half, without the tie-breaker.
    assert!(!net.m("b").ready());
}

/// A graceful stop is not a death: the member that says it is leaving has stopped answering,
/// so it leaves the count, and the survivor of two keeps answering whichever name sorts first;
/// the leaver counts again once it is back.
#[test]
fn two_nodes_the_other_survives_a_graceful_stop_of_either() {
    for leaver in ["a", "b"] {
        let other = if leaver == "a" { "b" } else { "a" };
        let mut net = started(&["a", "b"]);
        let left = net.now;
        net.leave(leaver);
        net.run_for(ms(3000));
        assert_eq!(net.alive(other), names(&[other]), "{leaver} left");
        assert!(net.m(other).ready(), "{leaver} left: {other} answers");
        assert_eq!(
            net.change(other, other, false, left),
            None,
            "{other} never stopped answering when {leaver} left ({:?} after)",
            net.when(other, other, false, left).map(|t| t - left)
        );
        // back with a new boot: counted again, both answer for their own
        net.start(leaver);
        net.run_for(ms(3000));
        assert_eq!(net.alive(other), names(&["a", "b"]), "{leaver} back");
        assert!(net.m(leaver).ready() && net.m(other).ready());
        // and a crash of the first name still cuts the other off (it cannot tell it from its
        // own isolation)
        net.kill("a");
        net.run_for(ms(3000));
        assert!(!net.m("b").ready(), "{leaver}: a killed, b stops");
    }
}

#[test]
fn a_one_way_link_counts_out_both_ends() {
    let mut net = started(&["a", "b", "c"]);
    net.cut.insert(("a".into(), "b".into()));
    net.run_for(ms(3000));
    assert_eq!(net.alive("a"), names(&["a", "c"]));
    assert_eq!(net.alive("b"), names(&["b", "c"]));
    assert_eq!(net.alive("c"), names(&["a", "b", "c"]));
}

#[test]
fn a_restarted_speaker_is_recognised_by_its_new_boot() {
    let mut net = started(&["a", "b", "c"]);
    let old: Vec<_> = net
        .sent
        .iter()
        .filter(|w| w.from == "c" && w.to == "a")
        .cloned()
        .collect();
    let restart = net.now;
    net.kill("c");
    net.run_for(ms(100));
    net.start("c");
    net.run_for(ms(50));
    // Back well within dead_after. a and b saw it restart, not die: they count it out (its
    // responder starts empty) the moment its new boot is proven, and in once it is ready,
    // round trips later.
    all_see_all(&net);
    for observer in ["a", "b"] {
        let change = net.change(observer, "c", false, restart).unwrap();
        assert_eq!(change.why, Why::Restarted);
        let out = net.when(observer, "c", false, restart).unwrap();
        let back = net.when(observer, "c", true, restart).unwrap();
        assert!(back - out <= 4 * LATENCY, "{:?}", back - out);
        assert!(
            net.m(observer)
                .members()
                .any(|m| m.node == "c" && m.boot == Some(net.m("c").boot()))
        );
    }
    // Its previous boot's messages are now refused.
    for wire in old.iter().rev().take(3) {
        assert_eq!(net.inject("a", &wire.payload), Err(Ignored::Replay));
    }
}

#[test]
fn a_restart_slower_than_dead_after_is_counted_out_then_in() {
    let mut net = started(&["a", "b", "c"]);
    let killed = net.now;
    net.kill("c");
    net.run_for(ms(2000));
    net.start("c");
    net.run_for(ms(100));
    all_see_all(&net);
    assert!(net.when("a", "c", false, killed).is_some());
    assert!(net.when("a", "c", true, killed).is_some());
}

#[test]
fn replays_are_refused() {
    let mut net = started(&["a", "b", "c"]);
    let captured: Vec<_> = net
        .sent
        .iter()
        .filter(|w| w.from == "c" && w.to == "a")
        .cloned()
        .collect();
    let last = captured.last().unwrap().clone();
    assert_eq!(net.inject("a", &last.payload), Err(Ignored::Replay));
    // Sent to b: refused by a as addressed elsewhere.
    let to_b = net
        .sent
        .iter()
        .rev()
        .find(|w| w.from == "c" && w.to == "b")
        .unwrap()
        .clone();
    assert_eq!(net.inject("a", &to_b.payload), Err(Ignored::NotForMe));

    // Once c is dead, replaying everything it ever sent does not bring it back.
    let killed = net.now;
    net.kill("c");
    net.run_for(ms(2000));
    for wire in &captured {
        assert!(net.inject("a", &wire.payload).is_err());
    }
    net.run_for(ms(10));
    assert_eq!(net.alive("a"), names(&["a", "b"]));
    assert!(net.when("a", "c", true, killed).is_none());
}

/// A message recorded before the receiver's current boot cannot carry its boot id, so a
/// restarted receiver does not believe a dead sender alive.
#[test]
fn replays_to_a_restarted_receiver_are_not_believed() {
    let mut net = started(&["a", "b", "c"]);
    let captured: Vec<_> = net
        .sent
        .iter()
        .filter(|w| w.from == "c" && w.to == "a")
        .cloned()
        .collect();
    net.kill("c");
    net.kill("a");
    net.start("a");
    for wire in &captured {
        assert_eq!(net.inject("a", &wire.payload), Err(Ignored::Unproven));
    }
    net.run_for(ms(3000));
    assert_eq!(net.alive("a"), names(&["a", "b"]));
}

#[test]
fn a_wrong_key_is_never_heard() {
    let mut net = Net::new(&["a", "b", "c"], config());
    net.nodes.get_mut("c").unwrap().key = Key::new(&[9; 32]).unwrap();
    net.start("c");
    net.run_for(ms(3000));
    assert_eq!(net.alive("a"), names(&["a", "b"]));
    assert!(!net.m("c").ready(), "c hears nobody");
    assert!(
        net.ignored
            .iter()
            .any(|(_, to, why)| to == "a" && *why == Ignored::Decode(DecodeError::BadTag))
    );
}

#[test]
fn a_key_rotation_loses_nobody() {
    let mut net = started(&["a", "b", "c"]);
    let new = Key::new(&[5; 32]).unwrap();
    let start = net.now;
    // The Secret gains the new key first (accepted by all), then it becomes the sending key.
    for n in ["a", "b", "c"] {
        net.m_mut(n).set_keys(vec![new.clone(), key()]);
        net.run_for(ms(150));
    }
    for n in ["a", "b", "c"] {
        net.m_mut(n).set_keys(vec![new.clone()]);
    }
    net.run_for(ms(3000));
    all_see_all(&net);
    assert!(net.changes.iter().all(|(at, _, _)| *at < start));
}

#[test]
fn strangers_and_reflections_are_ignored() {
    let mut net = started(&["a", "b"]);
    let forged = |from: &str, to: &str| {
        Message {
            kind: porter_member::Kind::Heartbeat,
            hears_you: true,
            ready: true,
            boot: 77,
            seq: 1,
            echo: 0,
            from: from.into(),
            to: to.into(),
        }
        .encode(&key())
    };
    assert_eq!(net.inject("a", &forged("z", "a")), Err(Ignored::Stranger));
    assert_eq!(net.inject("a", &forged("a", "a")), Err(Ignored::Stranger));
    assert_eq!(
        net.inject("a", &[0; 80]),
        Err(Ignored::Decode(DecodeError::BadMagic))
    );
}

#[test]
fn members_follow_the_plan() {
    let mut net = started(&["a", "b", "c"]);
    let now = net.now;
    // c leaves the plan (its Node is gone): a and b stop counting it and stop sending to it.
    let ab: Vec<(String, IpAddr)> = net
        .members()
        .into_iter()
        .filter(|(n, _)| n != "c")
        .collect();
    for n in ["a", "b"] {
        net.m_mut(n)
            .set_members(now, ab.iter().map(|(n, a)| (n.as_str(), *a)));
    }
    net.run_for(ms(1000));
    assert_eq!(net.alive("a"), names(&["a", "b"]));
    assert!(
        !net.sent
            .iter()
            .any(|w| w.at > now + ms(1) && w.from != "c" && w.to == "c")
    );
    // A member that never runs a speaker counts against the quorum: with two of four silent,
    // the side of the first name keeps answering (a is first), b alone would not.
    let ghosts = [
        ("a", "10.0.0.1"),
        ("b", "10.0.0.2"),
        ("y", "10.0.0.8"),
        ("z", "10.0.0.9"),
    ];
    let ghosts: Vec<(&str, IpAddr)> = ghosts
        .iter()
        .map(|(n, a)| (*n, a.parse().unwrap()))
        .collect();
    let now = net.now;
    for n in ["a", "b"] {
        net.m_mut(n).set_members(now, ghosts.iter().copied());
    }
    net.run_for(ms(2000));
    assert!(net.m("a").ready() && net.m("b").ready());
}

#[test]
fn starting_reports_no_spurious_change() {
    let net = Net::new(&["a", "b", "c"], config());
    // Started one after the other at the same instant, before any datagram: nobody is ready
    // yet, and nobody said so (there was nothing to take back).
    assert!(net.changes.is_empty(), "{:?}", net.changes);
    assert!(net.names().iter().all(|n| !net.m(n).ready()));
}
