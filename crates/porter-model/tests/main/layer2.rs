//! Layer 2's part of the plan: who answers each address of a `layer2` Eip, and which speakers
//! must hear each other.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use porter_model::announce::{Observed, Options, SpeakerPlan, plan_checked};
use porter_model::health::Failing;
use porter_model::layer2::Layer2Plan;
use porter_model::manifests::Object;
use porter_model::owner;
use proptest::prelude::*;
use serde_json::json;

use crate::fixtures::*;

const NODES: [(&str, &str); 3] = [("n1", "10.0.0.1"), ("n2", "10.0.0.2"), ("n3", "10.0.0.3")];

/// A membership key of 32 bytes.
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Three ready nodes, a layer 2 pool on eth0, the membership key, and `extra`.
fn cluster(extra: impl IntoIterator<Item = Object>) -> porter_model::Snapshot {
    snapshot_with_nodes(
        vec![
            eip("l2", "192.168.0.0/27").layer2().default_pool().obj(),
            secret("porter-system", "porter-member", &[("key", KEY)]),
        ],
        &NODES,
        extra,
    )
}

/// Service `svc-i` holding 192.168.0.i with a ready endpoint on every node.
fn services(n: u8, policy: &str) -> Vec<Object> {
    (0..n)
        .flat_map(|i| {
            let name = format!("svc-{i}");
            [
                service("default", &name)
                    .ingress(&[&format!("192.168.0.{i}")])
                    .traffic_policy(policy)
                    .obj(),
                slice_ready(
                    "default",
                    &name,
                    &[("n1", true), ("n2", true), ("n3", true)],
                ),
            ]
        })
        .collect()
}

fn plan_of(
    snap: &porter_model::Snapshot,
    node: &str,
    alive: Option<&BTreeSet<String>>,
) -> SpeakerPlan {
    let failing = Failing::new();
    let observed = Observed {
        failing: &failing,
        alive,
    };
    plan_checked(
        &snap.for_speaker_on(node),
        node,
        &Options::default(),
        &observed,
    )
}

fn layer2(snap: &porter_model::Snapshot, alive: Option<&BTreeSet<String>>) -> Layer2Plan {
    plan_of(snap, "n1", alive).layer2
}

/// Owner by address, `-` for none.
fn owners(plan: &Layer2Plan) -> BTreeMap<IpAddr, String> {
    plan.owners
        .iter()
        .map(|(ip, a)| (*ip, a.owner.clone().unwrap_or_else(|| "-".into())))
        .collect()
}

fn set(nodes: &[&str]) -> BTreeSet<String> {
    nodes.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn thirty_addresses_spread_over_three_nodes() {
    let snap = cluster(services(30, "Cluster"));
    let plan = layer2(&snap, None);
    assert_eq!(plan.owners.len(), 30);
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for owner in owners(&plan).values() {
        *per_node.entry(owner.clone()).or_default() += 1;
    }
    println!("30 addresses over 3 nodes: {per_node:?}");
    assert_eq!(
        per_node.keys().collect::<Vec<_>>(),
        ["n1", "n2", "n3"],
        "every node owns some"
    );
    // every speaker computes the same owners, and each answers for its own only
    for (node, _) in NODES {
        let theirs = plan_of(&snap, node, None).layer2;
        assert_eq!(theirs, plan, "{node} sees other owners");
        assert_eq!(theirs.owned_by(node).count(), per_node[node]);
    }
    let a = &plan.owners[&"192.168.0.7".parse().unwrap()];
    assert_eq!(
        (a.interface.as_deref(), a.eip.as_str()),
        (Some("eth0"), "l2")
    );
    assert_eq!(a.service.to_string(), "default/svc-7");
    assert_eq!(
        plan.members,
        NODES
            .iter()
            .map(|(n, ip)| ((*n).to_owned(), ip.parse().unwrap()))
            .collect()
    );
}

#[test]
fn a_dead_speaker_s_addresses_move_and_no_other() {
    let snap = cluster(services(30, "Cluster"));
    let before = owners(&layer2(&snap, Some(&set(&["n1", "n2", "n3"]))));
    assert_eq!(
        before,
        owners(&layer2(&snap, None)),
        "all alive = no membership view"
    );
    let after = owners(&layer2(&snap, Some(&set(&["n1", "n2"]))));
    for (ip, was) in &before {
        if was == "n3" {
            assert_ne!(after[ip], "n3", "{ip}");
        } else {
            assert_eq!(&after[ip], was, "{ip} moved though its owner lives");
        }
    }
    // nobody alive (a speaker before it hears anyone, or isolated): nobody answers
    assert!(
        owners(&layer2(&snap, Some(&set(&[]))))
            .values()
            .all(|o| o == "-")
    );
}

#[test]
fn local_traffic_picks_among_nodes_with_a_ready_endpoint() {
    let snap = cluster([
        service("default", "web")
            .ingress(&["192.168.0.1"])
            .traffic_policy("Local")
            .obj(),
        slice_ready("default", "web", &[("n2", true), ("n3", false)]),
    ]);
    assert_eq!(
        owners(&layer2(&snap, None))[&"192.168.0.1".parse().unwrap()],
        "n2"
    );
    // n2 dead: no other node has an endpoint: nobody answers rather than a node that would drop it
    assert_eq!(
        owners(&layer2(&snap, Some(&set(&["n1", "n3"]))))[&"192.168.0.1".parse().unwrap()],
        "-"
    );
}

#[test]
fn ineligible_nodes_take_no_address_but_excluded_ones_are_no_members() {
    let mut snap = cluster(services(30, "Cluster"));
    snap.insert(
        node("n3", "10.0.0.3", true)
            .set(&["spec", "unschedulable"], json!(true))
            .obj(),
    );
    let plan = layer2(&snap, None);
    assert!(
        plan.owned_by("n3").next().is_none(),
        "a cordoned node answers nothing"
    );
    assert!(plan.members.contains_key("n3"), "its speaker still counts");
    snap.insert(
        node("n3", "10.0.0.3", true)
            .label(
                "node.kubernetes.io/exclude-from-external-load-balancers",
                "",
            )
            .obj(),
    );
    let plan = layer2(&snap, None);
    assert!(!plan.members.contains_key("n3"));
    assert!(plan.owned_by("n3").next().is_none());
    snap.insert(node("n2", "10.0.0.2", false).obj());
    let plan = layer2(&snap, None);
    assert_eq!(
        plan.members.keys().collect::<Vec<_>>(),
        ["n1"],
        "NotReady: no member"
    );
    assert!(
        plan.owners
            .values()
            .all(|a| a.owner.as_deref() == Some("n1"))
    );
}

#[test]
fn a_vip_eip_is_answered_as_a_layer2_one() {
    // OpenELB's `protocol: vip` (keepalived there): the same layer 2 announcement here
    let mut snap = cluster(services(30, "Cluster"));
    snap.insert(
        eip("l2", "192.168.0.0/27")
            .layer2()
            .set(&["spec", "protocol"], json!("vip"))
            .default_pool()
            .obj(),
    );
    let vip = layer2(&snap, None);
    let mut l2 = cluster(services(30, "Cluster"));
    l2.insert(eip("l2", "192.168.0.0/27").layer2().default_pool().obj());
    assert_eq!(owners(&vip), owners(&layer2(&l2, None)));
    assert_eq!(vip.owners.len(), 30);
}

#[test]
fn without_a_layer2_address_there_is_nothing_to_hear() {
    let snap = cluster([]);
    assert_eq!(layer2(&snap, None), Layer2Plan::default());
    // BGP pools are not layer 2's
    let bgp = snapshot([
        eip("pool", "203.0.113.0/28").default_pool().obj(),
        node("n1", "10.0.0.1", true).obj(),
        service("default", "web").ingress(&["203.0.113.1"]).obj(),
        slice_ready("default", "web", &[("n1", true)]),
    ]);
    assert_eq!(layer2(&bgp, None), Layer2Plan::default());
}

#[test]
fn the_membership_key_comes_from_the_secret_in_the_speaker_s_namespace() {
    let snap = cluster(services(1, "Cluster"));
    let plan = plan_of(&snap, "n1", None);
    let keys = plan.layer2.keys.as_ref().expect("the key is read");
    assert_eq!((keys.key.as_slice(), keys.previous.as_ref()), (KEY, None));
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert!(
        !format!("{plan:?}").contains("0123456789abcdef"),
        "the key is never printed"
    );

    // a rotation: `previous` is accepted too; too short a `previous` is left out
    let old: &[u8] = b"fedcba9876543210";
    for (previous, kept) in [(old, Some(old.to_vec())), (&b"short"[..], None)] {
        let rotating = snapshot_with_nodes(
            vec![
                eip("l2", "192.168.0.0/27").layer2().default_pool().obj(),
                secret(
                    "porter-system",
                    "porter-member",
                    &[("key", KEY), ("previous", previous)],
                ),
            ],
            &NODES,
            services(1, "Cluster"),
        );
        let keys = layer2(&rotating, None).keys.expect("the key is read");
        assert_eq!(keys.previous, kept);
    }

    // another namespace: the Secret in porter-system is not the speaker's
    let options = Options {
        namespace: "lb".into(),
        ..Options::default()
    };
    let failing = Failing::new();
    let observed = Observed {
        failing: &failing,
        alive: None,
    };
    let elsewhere = plan_checked(&snap.for_speaker_on("n1"), "n1", &options, &observed);
    assert_eq!(elsewhere.layer2.keys, None);
    assert_eq!(
        elsewhere
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "layer 2: the membership key: Secret lb/porter-member not found; this node answers no ARP or NDP"
        ]
    );
}

#[test]
fn without_a_usable_key_the_plan_has_none_and_says_why() {
    for (data, why) in [
        (
            vec![],
            "Secret porter-system/porter-member has no key \"key\"",
        ),
        (
            vec![("key", &b"too short"[..])],
            "Secret porter-system/porter-member key \"key\" has 9 bytes, at least 16 are needed",
        ),
    ] {
        let snap = snapshot_with_nodes(
            vec![
                eip("l2", "192.168.0.0/27").layer2().default_pool().obj(),
                secret("porter-system", "porter-member", &data),
            ],
            &NODES,
            services(2, "Cluster"),
        );
        let plan = plan_of(&snap, "n1", None);
        assert_eq!(plan.layer2.keys, None);
        assert_eq!(
            plan.layer2.owners.len(),
            2,
            "who would answer is still planned"
        );
        assert_eq!(plan.problems.len(), 1, "{:?}", plan.problems);
        let problem = plan.problems[0].to_string();
        assert!(problem.contains(why), "{problem}");
    }
    // no layer 2 address: no key needed, no problem
    let snap = snapshot_with_nodes(
        vec![eip("l2", "192.168.0.0/27").layer2().default_pool().obj()],
        &NODES,
        [],
    );
    assert!(plan_of(&snap, "n1", None).problems.is_empty());
}

proptest! {
    /// Over any endpoints and alive sets: the owner is a candidate (eligible, with an endpoint
    /// for Local, alive), it is rendezvous hashing's pick among them, and a node leaving the
    /// alive set moves exactly its own addresses.
    #[test]
    fn owners_are_alive_candidates_and_move_only_when_theirs_goes(
        ready in prop::collection::vec(prop::collection::btree_set(0usize..3, 0..3), 1..8),
        alive in prop::collection::btree_set(0usize..3, 0..4),
        gone in 0usize..3,
        local in any::<bool>(),
    ) {
        let mut objects = Vec::new();
        for (i, nodes) in ready.iter().enumerate() {
            let name = format!("svc-{i}");
            objects.push(service("default", &name)
                .ingress(&[&format!("192.168.0.{i}")])
                .traffic_policy(if local { "Local" } else { "Cluster" })
                .obj());
            let eps: Vec<(&str, bool)> = nodes.iter().map(|&n| (NODES[n].0, true)).collect();
            if !eps.is_empty() {
                objects.push(slice_ready("default", &name, &eps));
            }
        }
        let snap = cluster(objects);
        let alive: BTreeSet<String> = alive.iter().map(|&n| NODES[n].0.to_owned()).collect();
        let plan = layer2(&snap, Some(&alive));
        for (i, nodes) in ready.iter().enumerate() {
            let ip: IpAddr = format!("192.168.0.{i}").parse().unwrap();
            let candidates: Vec<&str> = NODES
                .iter()
                .enumerate()
                .filter(|(n, _)| !nodes.is_empty() && (!local || nodes.contains(n)))
                .map(|(_, (name, _))| *name)
                .filter(|name| alive.contains(*name))
                .collect();
            prop_assert_eq!(
                plan.owners[&ip].owner.as_deref(),
                owner::owner(ip, candidates.iter().copied())
            );
        }
        let mut fewer = alive.clone();
        fewer.remove(NODES[gone].0);
        let after = layer2(&snap, Some(&fewer));
        for (ip, a) in &plan.owners {
            if a.owner.as_deref() != Some(NODES[gone].0) {
                prop_assert_eq!(&after.owners[ip].owner, &a.owner);
            }
        }
    }
}
