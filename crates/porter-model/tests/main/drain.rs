//! Properties of which nodes announce a Service as its endpoints go terminating (drain before
//! terminate), over random endpoints spread over random EndpointSlices.

use std::collections::BTreeSet;

use porter_model::Snapshot;
use porter_model::announce::plan;
use porter_model::manifests::Object;
use proptest::prelude::*;

use crate::fixtures::*;

const EIP: &str = "203.0.113.1";
const NODES: [(&str, &str); 3] = [("n1", "10.0.0.1"), ("n2", "10.0.0.2"), ("n3", "10.0.0.3")];
/// An endpoint's node: one of [`NODES`], or none (an endpoint without `nodeName`).
const ON: [Option<&str>; 4] = [Some("n1"), Some("n2"), Some("n3"), None];

#[derive(Debug, Clone)]
struct Ep {
    node: Option<&'static str>,
    cond: Cond,
    /// Which of three slices holds it.
    slice: usize,
}

fn ep() -> impl Strategy<Value = Ep> {
    let flag = || proptest::option::of(any::<bool>());
    (
        proptest::sample::select(ON.to_vec()),
        flag(),
        flag(),
        flag(),
        0..3usize,
    )
        .prop_map(|(node, ready, serving, terminating, slice)| Ep {
            node,
            cond: Cond {
                ready,
                serving,
                terminating,
            },
            slice,
        })
}

/// Three ready nodes, one peer, a pool, `default/web` holding [`EIP`] with the given policy,
/// its endpoints in up to three slices (or all in one).
fn cluster(local: bool, eps: &[Ep], one_slice: bool) -> Snapshot {
    let mut objects = vec![
        bgp_conf(64513).obj(),
        bgp_peer("tor", "10.99.0.1", 64512).obj(),
        eip("pool", "203.0.113.0/28").default_pool().obj(),
        service("default", "web")
            .ingress(&[EIP])
            .traffic_policy(if local { "Local" } else { "Cluster" })
            .obj(),
    ];
    for (name, addr) in NODES {
        objects.push(node(name, addr, true).obj());
    }
    let slices = if one_slice { 1 } else { 3 };
    for s in 0..slices {
        let mine: Vec<&Ep> = eps.iter().filter(|e| one_slice || e.slice == s).collect();
        let endpoints: Vec<(&str, Cond)> = mine
            .iter()
            .map(|e| (e.node.unwrap_or(""), e.cond))
            .collect();
        let mut slice = endpoint_slice("default", "web", &endpoints)
            .named(&format!("web-{s}"))
            .build();
        // `endpoint_slice` always writes a nodeName: none where the endpoint has none
        for (ep, e) in slice.endpoints.iter_mut().zip(&mine) {
            ep.node_name = e.node.map(str::to_owned);
        }
        objects.push(Object::EndpointSlice(slice));
    }
    snapshot(objects)
}

fn announcers(snap: &Snapshot) -> BTreeSet<&'static str> {
    NODES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| plan(snap, n).bgp.prefixes.contains_key(&ip(EIP)))
        .collect()
}

/// Ready and not terminating, read off the raw conditions (unset: Ready true, Terminating
/// false).
fn ready(c: &Cond) -> bool {
    c.terminating != Some(true) && c.ready != Some(false)
}

/// Terminating and still serving (unset Serving: as Ready, itself true when unset).
fn draining(c: &Cond) -> bool {
    c.terminating == Some(true) && c.serving.or(c.ready).unwrap_or(true)
}

/// KEP-1669: new traffic goes to ready endpoints; while none is in scope (on the node for
/// Local, anywhere for Cluster), to draining ones.
fn expected(local: bool, eps: &[Ep]) -> BTreeSet<&'static str> {
    if !local {
        let any = eps.iter().any(|e| ready(&e.cond) || draining(&e.cond));
        return if any {
            NODES.iter().map(|(n, _)| *n).collect()
        } else {
            BTreeSet::new()
        };
    }
    let on = |f: fn(&Cond) -> bool| -> BTreeSet<&'static str> {
        eps.iter()
            .filter(|e| f(&e.cond))
            .filter_map(|e| e.node)
            .collect()
    };
    let ready_nodes = on(ready);
    if ready_nodes.is_empty() {
        on(draining)
    } else {
        ready_nodes
    }
}

/// The endpoint controller's write when the Pod behind `e` gets its deletion.
fn terminate(e: &mut Ep) {
    e.cond = Cond {
        ready: Some(false),
        serving: Some(e.cond.serving.or(e.cond.ready).unwrap_or(true)),
        terminating: Some(true),
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn announcers_follow_what_kube_proxy_forwards(
        local in any::<bool>(),
        eps in proptest::collection::vec(ep(), 0..7),
    ) {
        let snap = cluster(local, &eps, false);
        prop_assert_eq!(announcers(&snap), expected(local, &eps));
        // how the endpoints are spread over slices does not matter
        prop_assert_eq!(announcers(&cluster(local, &eps, true)), announcers(&snap));
    }

    #[test]
    fn a_terminating_endpoint_adds_no_node_while_a_ready_one_remains(
        eps in proptest::collection::vec(ep(), 1..7),
        which in any::<prop::sample::Index>(),
    ) {
        let before = announcers(&cluster(true, &eps, false));
        let mut after_eps = eps.clone();
        let i = which.index(eps.len());
        terminate(&mut after_eps[i]);
        let after = announcers(&cluster(true, &after_eps, false));
        let still_ready = after_eps.iter().any(|e| e.node.is_some() && ready(&e.cond));
        if still_ready {
            prop_assert!(after.is_subset(&before), "{before:?} -> {after:?}");
            // its node withdraws unless another of its endpoints is still ready
            if let Some(n) = eps[i].node {
                let other_ready = after_eps.iter().any(|e| e.node == Some(n) && ready(&e.cond));
                prop_assert_eq!(after.contains(n), other_ready);
            }
        }
    }
}
