//! Properties over random histories of kills, restarts, cuts, leaves and waits.

use proptest::prelude::*;

use porter_member::{Config, Quorum};

use crate::support::{Net, ms};

#[derive(Clone, Debug)]
enum Op {
    Kill(usize),
    Start(usize),
    Leave(usize),
    Isolate(usize),
    CutOneWay(usize, usize),
    Heal,
    Wait(u64),
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..n).prop_map(Op::Kill),
        (0..n).prop_map(Op::Start),
        (0..n).prop_map(Op::Leave),
        (0..n).prop_map(Op::Isolate),
        (0..n, 0..n).prop_map(|(a, b)| Op::CutOneWay(a, b)),
        Just(Op::Heal),
        (1..2500u64).prop_map(Op::Wait),
    ]
}

fn history() -> impl Strategy<Value = (usize, bool, Vec<Op>)> {
    (2..6usize, any::<bool>()).prop_flat_map(|(n, majority)| {
        (Just(n), Just(majority), prop::collection::vec(op(n), 0..25))
    })
}

const NAMES: [&str; 5] = ["n0", "n1", "n2", "n3", "n4"];

fn net(n: usize, majority: bool) -> Net {
    let config = Config {
        quorum: if majority {
            Quorum::Majority
        } else {
            Quorum::AnyPeer
        },
        ..Config::default()
    };
    Net::new(&NAMES[..n], config)
}

fn apply(net: &mut Net, op: &Op) {
    let name = |i: usize| NAMES[i].to_string();
    match *op {
        Op::Kill(i) => net.kill(&name(i)),
        Op::Start(i) => net.start(&name(i)),
        Op::Leave(i) => {
            if net.nodes[&name(i)].m.is_some() {
                net.leave(&name(i));
            }
        }
        Op::Isolate(i) => net.isolate(&name(i)),
        Op::CutOneWay(a, b) => {
            net.cut.insert((name(a), name(b)));
        }
        Op::Heal => net.heal(),
        Op::Wait(d) => net.run_for(ms(d)),
    }
}

/// What holds at every moment on every running node.
fn invariants(net: &Net) -> Result<(), TestCaseError> {
    for (name, node) in &net.nodes {
        let Some(m) = node.m.as_ref() else { continue };
        prop_assert!(!(m.isolated() && m.ready()), "{name} isolated and ready");
        let alive: Vec<&str> = m.alive().collect();
        prop_assert_eq!(alive.contains(&name.as_str()), m.ready());
        for a in &alive {
            prop_assert!(net.nodes.contains_key(*a));
        }
        let mut sorted = alive.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(sorted.len(), alive.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever happened, once every speaker runs and the network is whole, all agree within
    /// a second that everyone is alive: restarts, leaves and cuts leave no lasting trace.
    #[test]
    fn converges_after_any_history((n, majority, ops) in history()) {
        let mut net = net(n, majority);
        for op in &ops {
            apply(&mut net, op);
            invariants(&net)?;
        }
        net.heal();
        for name in net.names() {
            let node = &net.nodes[&name];
            if node.m.as_ref().is_none_or(|m| !m.ready()) {
                net.start(&name);
            }
        }
        net.run_for(ms(1000));
        invariants(&net)?;
        let everyone = net.names();
        for name in net.names() {
            prop_assert_eq!(net.alive(&name), everyone.clone(), "{}'s view", name);
        }
    }

    /// From any settled state, a node whose link dies stops answering before any other node
    /// counts it out (with a majority quorum and three nodes or more; the quorum is what lets
    /// it tell that it is the one cut off).
    #[test]
    fn a_cut_off_node_stops_first((n, _majority, ops) in history(), victim in 0..5usize) {
        prop_assume!(n >= 3);
        let victim = NAMES[victim % n];
        let mut net = net(n, true);
        for op in &ops {
            apply(&mut net, op);
        }
        net.heal();
        for name in net.names() {
            net.start(&name);
        }
        net.run_for(ms(2000));
        let cut = net.now;
        net.isolate(victim);
        net.run_for(ms(3000));
        let stopped = net.when(victim, victim, false, cut).unwrap();
        for other in net.names().into_iter().filter(|o| o != victim) {
            let taken = net.when(&other, victim, false, cut).unwrap();
            prop_assert!(stopped < taken);
        }
    }
}
