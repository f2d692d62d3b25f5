//! `announce::plan`: what one node announces, and to whom.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use porter_api::SecretKeyRef;
use porter_bgp::{LinkBandwidth, RouteAttrs};
use porter_model::Snapshot;
use porter_model::announce::{BgpPlan, LocalBgp, Problem, SpeakerPlan, plan};
use porter_model::manifests::Object;
use porter_model::valid::ValidPeer;
use serde_json::json;

use crate::fixtures::*;

/// The plan's problems as users read them (logs, BgpPeer `lastError`).
pub(crate) fn texts(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

const EIP: &str = "203.0.113.1";
const NODES: [(&str, &str); 3] = [("n1", "10.0.0.1"), ("n2", "10.0.0.2"), ("n3", "10.0.0.3")];

/// A BGP cluster: BgpConf, one peer, three ready nodes, a bgp pool and `default/web`
/// holding [`EIP`], plus `extra` objects.
fn cluster(extra: impl IntoIterator<Item = Object>) -> Snapshot {
    snapshot_with_nodes(
        vec![
            bgp_conf(64513).obj(),
            bgp_peer("tor", "10.99.0.1", 64512).obj(),
            eip("pool", "203.0.113.0/28").default_pool().obj(),
        ],
        &NODES,
        extra,
    )
}

fn web() -> Obj<k8s_openapi::api::core::v1::Service> {
    service("default", "web").ingress(&[EIP])
}

/// These addresses, each with no attributes beyond the mandatory ones.
fn set(ips: &[&str]) -> BTreeMap<IpAddr, Arc<RouteAttrs>> {
    ips.iter()
        .map(|s| (ip(s), Arc::new(RouteAttrs::default())))
        .collect()
}

/// The nodes (of n1..n3) that announce `addr`.
fn announcers(snap: &Snapshot, addr: &str) -> Vec<&'static str> {
    NODES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| plan(snap, n).bgp.prefixes.contains_key(&ip(addr)))
        .collect()
}

// ------------------------------------------------------------------------------- traffic policy

#[test]
fn cluster_policy_one_ready_endpoint_anywhere_makes_every_node_announce() {
    let snap = cluster([
        web().traffic_policy("Cluster").obj(),
        slice_ready("default", "web", &[("n1", true), ("n2", false)]),
    ]);
    assert_eq!(announcers(&snap, EIP), ["n1", "n2", "n3"]);
    let p = plan(&snap, "n3");
    assert_eq!(p.bgp.prefixes, set(&[EIP]));
    assert_eq!(p.ineligible, None);
    assert_eq!(texts(&p.problems), Vec::<String>::new());
}

#[test]
fn unset_policy_is_cluster() {
    let snap = cluster([web().obj(), slice_ready("default", "web", &[("n2", true)])]);
    assert_eq!(announcers(&snap, EIP), ["n1", "n2", "n3"]);
}

#[test]
fn cluster_policy_without_a_ready_endpoint_nobody_announces() {
    let not_ready = cluster([
        web().traffic_policy("Cluster").obj(),
        slice_ready("default", "web", &[("n1", false), ("n2", false)]),
    ]);
    assert_eq!(announcers(&not_ready, EIP), Vec::<&str>::new());
    let no_slice = cluster([web().traffic_policy("Cluster").obj()]);
    assert_eq!(announcers(&no_slice, EIP), Vec::<&str>::new());
    let empty_slice = cluster([web().obj(), slice_ready("default", "web", &[])]);
    assert_eq!(announcers(&empty_slice, EIP), Vec::<&str>::new());
}

#[test]
fn endpoints_of_another_service_do_not_count() {
    let snap = cluster([
        web().obj(),
        // Same Service name, other namespace; and another Service in the same namespace.
        slice_ready("other", "web", &[("n1", true)]),
        slice_ready("default", "db", &[("n1", true)]),
    ]);
    assert_eq!(announcers(&snap, EIP), Vec::<&str>::new());
}

#[test]
fn endpoints_spread_over_several_slices_count() {
    let snap = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice("default", "web", &[("n1", NOT_READY)])
            .named("web-1")
            .obj(),
        endpoint_slice("default", "web", &[("n3", READY)])
            .named("web-2")
            .obj(),
    ]);
    assert_eq!(announcers(&snap, EIP), ["n3"]);
}

#[test]
fn local_policy_only_nodes_with_a_ready_endpoint_announce() {
    let snap = cluster([
        web().traffic_policy("Local").obj(),
        slice_ready("default", "web", &[("n1", true), ("n2", false)]),
    ]);
    assert_eq!(announcers(&snap, EIP), ["n1"]);
    assert_eq!(plan(&snap, "n2").bgp.prefixes, BTreeMap::new());
    assert_eq!(
        plan(&snap, "n2").ineligible,
        None,
        "eligible, just no endpoint"
    );
}

#[test]
fn local_policy_endpoint_conditions() {
    let c = |ready, serving, terminating| Cond {
        ready,
        serving,
        terminating,
    };
    // (what, conditions, counts beside a ready endpoint on n1, counts alone)
    let cases = [
        ("ready", c(Some(true), Some(true), Some(false)), true, true),
        ("all unset counts as ready", c(None, None, None), true, true),
        (
            "ready unset, serving",
            c(None, Some(true), None),
            true,
            true,
        ),
        (
            // kube-proxy reads Serving only of terminating endpoints
            "not ready, serving, not terminating",
            c(Some(false), Some(true), Some(false)),
            false,
            false,
        ),
        (
            // the Pod got its deletion: n2 withdraws while it still serves
            "terminating, serving",
            c(Some(false), Some(true), Some(true)),
            false,
            true,
        ),
        (
            // publishNotReadyAddresses keeps Ready true while terminating
            "terminating, still Ready",
            c(Some(true), Some(true), Some(true)),
            false,
            true,
        ),
        (
            "terminating, serving unset, not ready",
            c(Some(false), None, Some(true)),
            false,
            false,
        ),
        (
            "terminating, not serving",
            c(Some(false), Some(false), Some(true)),
            false,
            false,
        ),
        (
            "not ready, serving unset",
            c(Some(false), None, None),
            false,
            false,
        ),
        (
            "not ready, not serving",
            c(Some(false), Some(false), Some(false)),
            false,
            false,
        ),
    ];
    for (what, cond, beside, alone) in cases {
        let with_n1 = cluster([
            web().traffic_policy("Local").obj(),
            endpoint_slice("default", "web", &[("n1", READY), ("n2", cond)]).obj(),
        ]);
        let want: &[&str] = if beside { &["n1", "n2"] } else { &["n1"] };
        assert_eq!(
            announcers(&with_n1, EIP),
            want,
            "{what} beside n1: {cond:?}"
        );
        let only = cluster([
            web().traffic_policy("Local").obj(),
            endpoint_slice("default", "web", &[("n2", cond)]).obj(),
        ]);
        let want: &[&str] = if alone { &["n2"] } else { &[] };
        assert_eq!(announcers(&only, EIP), want, "{what} alone: {cond:?}");
    }
}

#[test]
fn local_policy_a_node_whose_last_local_endpoint_terminates_withdraws_at_once() {
    let before = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice(
            "default",
            "web",
            &[("n1", READY), ("n2", READY), ("n3", READY)],
        )
        .obj(),
    ]);
    assert_eq!(announcers(&before, EIP), ["n1", "n2", "n3"]);
    // n3's only endpoint goes terminating (still serving what reached it): n3 withdraws now
    let draining = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice(
            "default",
            "web",
            &[("n1", READY), ("n2", READY), ("n3", DRAINING)],
        )
        .obj(),
    ]);
    assert_eq!(announcers(&draining, EIP), ["n1", "n2"]);
    assert_eq!(plan(&draining, "n3").ineligible, None);
    // a second endpoint on n3 still ready: n3 keeps announcing
    let one_of_two = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice(
            "default",
            "web",
            &[("n1", READY), ("n3", DRAINING), ("n3", READY)],
        )
        .obj(),
    ]);
    assert_eq!(announcers(&one_of_two, EIP), ["n1", "n3"]);
    // the draining endpoint in a slice of its own changes nothing
    let split = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice("default", "web", &[("n1", READY)])
            .named("web-1")
            .obj(),
        endpoint_slice("default", "web", &[("n3", DRAINING)])
            .named("web-2")
            .obj(),
    ]);
    assert_eq!(announcers(&split, EIP), ["n1"]);
}

#[test]
fn local_policy_with_every_endpoint_terminating_the_serving_nodes_keep_announcing() {
    // e.g. a Deployment scaled to zero: kube-proxy forwards to the serving terminating Pods
    // until they stop, so withdrawing everywhere would drop traffic they still answer
    let snap = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice(
            "default",
            "web",
            &[("n1", NOT_READY), ("n2", DRAINING), ("n3", DRAINING)],
        )
        .obj(),
    ]);
    assert_eq!(announcers(&snap, EIP), ["n2", "n3"]);
    // a ready endpoint appears anywhere (the new Pod of a rollout): only its node announces
    let replaced = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice("default", "web", &[("n2", DRAINING), ("n3", DRAINING)])
            .named("web-1")
            .obj(),
        endpoint_slice("default", "web", &[("n1", READY)])
            .named("web-2")
            .obj(),
    ]);
    assert_eq!(announcers(&replaced, EIP), ["n1"]);
}

#[test]
fn cluster_policy_announces_while_any_endpoint_serves() {
    let draining = cluster([
        web().traffic_policy("Cluster").obj(),
        endpoint_slice("default", "web", &[("n2", DRAINING)]).obj(),
    ]);
    assert_eq!(announcers(&draining, EIP), ["n1", "n2", "n3"]);
    let stopped = Cond {
        serving: Some(false),
        ..DRAINING
    };
    let gone = cluster([
        web().traffic_policy("Cluster").obj(),
        endpoint_slice("default", "web", &[("n2", stopped)]).obj(),
    ]);
    assert_eq!(announcers(&gone, EIP), Vec::<&str>::new());
}

#[test]
fn a_cordoned_node_withdraws_even_with_a_ready_local_endpoint() {
    let snap = cluster([
        web().traffic_policy("Local").obj(),
        endpoint_slice("default", "web", &[("n1", READY), ("n3", READY)]).obj(),
        node("n3", "10.0.0.3", true)
            .set(&["spec", "unschedulable"], json!(true))
            .obj(),
    ]);
    assert_eq!(announcers(&snap, EIP), ["n1"]);
}

#[test]
fn local_policy_endpoint_without_conditions_counts() {
    let slice = endpoint_slice("default", "web", &[("n1", READY)])
        .set(
            &["endpoints"],
            json!([{"addresses": ["10.244.0.9"], "nodeName": "n1"}]),
        )
        .obj();
    let snap = cluster([web().traffic_policy("Local").obj(), slice]);
    assert_eq!(announcers(&snap, EIP), ["n1"]);
}

#[test]
fn local_policy_endpoint_without_node_name_is_nowhere() {
    let slice = endpoint_slice("default", "web", &[("n1", READY)])
        .set(&["endpoints"], json!([{"addresses": ["10.244.0.9"]}]))
        .obj();
    let local = cluster([web().traffic_policy("Local").obj(), slice.clone()]);
    assert_eq!(announcers(&local, EIP), Vec::<&str>::new());
    let cluster_wide = cluster([web().traffic_policy("Cluster").obj(), slice]);
    assert_eq!(announcers(&cluster_wide, EIP), ["n1", "n2", "n3"]);
}

// ------------------------------------------------------------------------------- eligibility

#[test]
fn ineligible_nodes_announce_nothing_and_say_why() {
    let snap = cluster([
        web().traffic_policy("Local").obj(),
        slice_ready(
            "default",
            "web",
            &[("n1", true), ("n2", true), ("n3", true), ("ghost", true)],
        ),
        node("n2", "10.0.0.2", false).obj(),
        node("n3", "10.0.0.3", true).label(EXCLUDE, "").obj(),
    ]);
    let n1 = plan(&snap, "n1");
    assert_eq!(n1.bgp.prefixes, set(&[EIP]));
    assert_eq!(n1.ineligible, None);

    let n2 = plan(&snap, "n2");
    assert_eq!(n2.bgp.prefixes, BTreeMap::new());
    assert_eq!(n2.ineligible.as_deref(), Some("node n2 is not Ready"));

    let n3 = plan(&snap, "n3");
    assert_eq!(n3.bgp.prefixes, BTreeMap::new());
    assert_eq!(
        n3.ineligible.as_deref(),
        Some("node n3 carries label node.kubernetes.io/exclude-from-external-load-balancers")
    );

    let ghost = plan(&snap, "ghost");
    assert_eq!(ghost.bgp.prefixes, BTreeMap::new());
    assert_eq!(
        ghost.ineligible.as_deref(),
        Some("node \"ghost\" is not known (no Node object)")
    );
}

#[test]
fn cordoned_nodes_stop_announcing_unless_the_operator_says_otherwise() {
    let snap = cluster([
        web().obj(),
        slice_ready("default", "web", &[("n1", true)]),
        node("n1", "10.0.0.1", true)
            .set(&["spec", "unschedulable"], json!(true))
            .obj(),
    ]);
    let cordoned = plan(&snap, "n1");
    assert_eq!(cordoned.bgp.prefixes, BTreeMap::new());
    assert_eq!(
        cordoned.ineligible.as_deref(),
        Some(
            "node n1 is cordoned (spec.unschedulable); start the speaker with --announce-from-cordoned to announce anyway"
        )
    );
    let options = porter_model::announce::Options {
        announce_from_cordoned: true,
        ..Default::default()
    };
    let anyway = porter_model::announce::plan_with(&snap, "n1", &options);
    assert_eq!(anyway.bgp.prefixes, set(&[EIP]));
    assert_eq!(anyway.ineligible, None);
}

#[test]
fn ineligible_nodes_keep_their_sessions() {
    // Withdrawing is done over the sessions, so a NotReady node still knows its peers.
    let snap = cluster([node("n2", "10.0.0.2", false).obj()]);
    let n2 = plan(&snap, "n2");
    assert!(n2.ineligible.is_some());
    assert_eq!(
        n2.bgp.local,
        Ok(LocalBgp {
            local_as: 64513,
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            listen_port: Some(179),
            listen_addresses: Vec::new(),
            next_hop_v4: Some(Ipv4Addr::new(10, 0, 0, 2)),
            next_hop_v6: None,
            graceful_restart: None,
        })
    );
    assert_eq!(n2.bgp.peers.keys().collect::<Vec<_>>(), ["tor"]);
}

#[test]
fn a_node_without_a_ready_condition_is_eligible() {
    let bare = node("n1", "10.0.0.1", true).unset(&["status", "conditions"]);
    let snap = cluster([
        bare.obj(),
        web().obj(),
        slice_ready("default", "web", &[("n1", true)]),
    ]);
    let p = plan(&snap, "n1");
    assert_eq!(p.ineligible, None);
    assert_eq!(p.bgp.prefixes, set(&[EIP]));
}

#[test]
fn an_unknown_node_has_no_router_id_to_fall_back_to() {
    let snap = cluster([]);
    assert_eq!(
        plan(&snap, "ghost").bgp.local,
        Err(
            "BgpConf default has no spec.routerId and this node has no IPv4 InternalIP to use instead"
                .to_owned()
        )
    );
}

// ------------------------------------------------------------------------------- what is announced

#[test]
fn only_addresses_of_valid_bgp_pools_are_announced() {
    let snap = cluster([
        eip("l2", "198.51.100.0/28").layer2().obj(),
        eip("explicit-bgp", "192.0.2.0/28").bgp().obj(),
        eip("disabled", "192.0.2.16/28").disabled().obj(),
        eip("broken", "192.0.2.40/28").obj(),
        web().obj(),
        service("default", "l2svc").ingress(&["198.51.100.1"]).obj(),
        service("default", "bgp2").ingress(&["192.0.2.3"]).obj(),
        service("default", "old").ingress(&["192.0.2.17"]).obj(),
        service("default", "outside").ingress(&["100.64.0.1"]).obj(),
        service("default", "broken").ingress(&["192.0.2.40"]).obj(),
        service("default", "optout")
            .not_opted_in()
            .ingress(&["203.0.113.9"])
            .obj(),
        slice_ready("default", "web", &[("n1", true)]),
        slice_ready("default", "l2svc", &[("n1", true)]),
        slice_ready("default", "bgp2", &[("n1", true)]),
        slice_ready("default", "old", &[("n1", true)]),
        slice_ready("default", "outside", &[("n1", true)]),
        slice_ready("default", "broken", &[("n1", true)]),
        slice_ready("default", "optout", &[("n1", true)]),
    ]);
    assert_eq!(
        plan(&snap, "n1").bgp.prefixes,
        set(&[EIP, "192.0.2.3", "192.0.2.17"])
    );
}

#[test]
fn an_overlapping_bgp_eip_does_not_announce_the_older_layer2_pool() {
    // "l2" is older, so it owns 10.0.0.0-7 (assign rejects "late"): an address of "l2" is
    // answered by ARP, never announced over BGP because of an Eip that is invalid.
    let snap = cluster([
        eip("l2", "10.1.0.0/29").layer2().created_at(0).obj(),
        eip("late", "10.1.0.4-10.1.0.12").created_at(5).obj(),
        service("default", "web").ingress(&["10.1.0.5"]).obj(),
        slice_ready("default", "web", &[("n1", true)]),
    ]);
    let assign = porter_model::assign::plan(&snap);
    assert!(!assign.eips["late"].errors.is_empty());
    assert_eq!(
        assign.services[&key("default", "web")].pool.as_deref(),
        Some("l2")
    );
    assert_eq!(plan(&snap, "n1").bgp.prefixes, BTreeMap::new());
}

#[test]
fn every_address_of_every_service_is_announced_once() {
    let snap = cluster([
        web().obj(),
        service("shop", "api").ingress(&["203.0.113.2"]).obj(),
        service("shop", "local")
            .traffic_policy("Local")
            .ingress(&["203.0.113.3"])
            .obj(),
        slice_ready("default", "web", &[("n2", true)]),
        slice_ready("shop", "api", &[("n3", true)]),
        slice_ready("shop", "local", &[("n3", true)]),
    ]);
    assert_eq!(plan(&snap, "n1").bgp.prefixes, set(&[EIP, "203.0.113.2"]));
    let n3 = plan(&snap, "n3").bgp.prefixes;
    assert_eq!(n3, set(&[EIP, "203.0.113.2", "203.0.113.3"]));
    // one pool, one attribute set: held once, not once per address
    let first = &n3[&ip(EIP)];
    assert!(n3.values().all(|attrs| Arc::ptr_eq(attrs, first)));
}

#[test]
fn an_ipv6_address_of_a_bgp_pool_is_announced() {
    let snap = cluster([
        eip("v6", "2001:db8::/120").obj(),
        service("default", "six").ingress(&["2001:db8::7"]).obj(),
        slice_ready("default", "six", &[("n1", true)]),
    ]);
    assert_eq!(plan(&snap, "n2").bgp.prefixes, set(&["2001:db8::7"]));
}

// ------------------------------------------------------------------------------- peers

#[test]
fn a_peer_without_node_selector_is_every_nodes_peer() {
    let snap = cluster([]);
    let want = ValidPeer::new("tor", ip("10.99.0.1"), 64512);
    for (n, _) in NODES {
        assert_eq!(
            plan(&snap, n).bgp.peers,
            BTreeMap::from([("tor".to_owned(), want.clone())]),
            "{n}"
        );
    }
}

#[test]
fn peers_by_node_selector() {
    let snap = cluster([
        node("n1", "10.0.0.1", true).label(RACK, "r1").obj(),
        node("n2", "10.0.0.2", true).label(RACK, "r2").obj(),
        bgp_peer("tor-r1", "10.99.1.1", 64512)
            .match_labels(&[(RACK, "r1")])
            .obj(),
        bgp_peer("tor-r1-r2", "10.99.1.2", 64512)
            .match_expression(RACK, "In", &["r1", "r2"])
            .obj(),
        bgp_peer("not-r1", "10.99.1.3", 64512)
            .match_expression(RACK, "NotIn", &["r1"])
            .obj(),
        bgp_peer("racked", "10.99.1.4", 64512)
            .match_expression(RACK, "Exists", &[])
            .obj(),
        bgp_peer("unracked", "10.99.1.5", 64512)
            .match_expression(RACK, "DoesNotExist", &[])
            .obj(),
        bgp_peer("both", "10.99.1.6", 64512)
            .match_labels(&[(RACK, "r2")])
            .match_expression(RACK, "In", &["r1"])
            .obj(),
    ]);
    let names = |n: &str| -> Vec<String> { plan(&snap, n).bgp.peers.into_keys().collect() };
    assert_eq!(names("n1"), ["racked", "tor", "tor-r1", "tor-r1-r2"]);
    assert_eq!(names("n2"), ["not-r1", "racked", "tor", "tor-r1-r2"]);
    assert_eq!(names("n3"), ["not-r1", "tor", "unracked"]);
    assert_eq!(texts(&plan(&snap, "n1").problems), Vec::<String>::new());
}

const RACK: &str = "openelb.kubesphere.io/rack";

#[test]
fn an_invalid_peer_is_a_problem_naming_it_and_its_field() {
    let snap = cluster([
        bgp_peer("no-as", "10.99.1.1", 0).obj(),
        bgp_peer("bad-addr", "10.99.1.300", 64512).obj(),
        bgp_peer("bad-selector", "10.99.1.2", 64512)
            .match_expression(RACK, "Bogus", &["r1"])
            .obj(),
        bgp_peer("no-conf", "10.99.1.3", 64512)
            .unset(&["spec", "conf"])
            .obj(),
    ]);
    let p = plan(&snap, "n1");
    assert_eq!(
        texts(&p.problems),
        [
            "BgpPeer bad-addr: spec.conf.neighborAddress: \"10.99.1.300\" is not an IP address",
            "BgpPeer bad-selector: spec.nodeSelector.matchExpressions[0].operator: \"Bogus\" is not one of In, NotIn, Exists, DoesNotExist",
            "BgpPeer no-as: spec.conf.peerAs: must be set (1-4294967295)",
            "BgpPeer no-conf: spec.conf: must be set (with at least neighborAddress and peerAs)",
        ]
    );
    // Typed: the BgpPeer status writer finds each peer's problems by name, without parsing.
    let named: Vec<&str> = p
        .problems
        .iter()
        .filter_map(|problem| match problem {
            Problem::BgpPeer { name, .. } => Some(name.as_str()),
            Problem::ServiceAnnotation { .. }
            | Problem::HealthCheck { .. }
            | Problem::Unsupported { .. }
            | Problem::Layer2 { .. } => None,
        })
        .collect();
    assert_eq!(named, ["bad-addr", "bad-selector", "no-as", "no-conf"]);
    assert_eq!(p.bgp.peers.keys().collect::<Vec<_>>(), ["tor"]);
}

// ------------------------------------------------------------------------------- local

#[test]
fn without_bgp_conf_default_bgp_does_not_run() {
    let mut snap = cluster([]);
    snap.bgp_confs.clear();
    let want = Err("no BgpConf named \"default\": BGP is not configured".to_owned());
    assert_eq!(plan(&snap, "n1").bgp.local, want);
    // Any other name is not read, as in OpenELB.
    snap.insert(
        bgp_conf(64513)
            .set(&["metadata", "name"], json!("main"))
            .obj(),
    );
    let p = plan(&snap, "n1");
    assert_eq!(p.bgp.local, want);
    assert!(
        matches!(&p.bgp.local, Err(m) if m.contains("\"default\"")),
        "{:?}",
        p.bgp.local
    );
}

#[test]
fn an_invalid_bgp_conf_names_its_fields() {
    let snap = cluster([bgp_conf(0)
        .set(&["spec", "routerId"], json!("::1"))
        .set(&["spec", "listenPort"], json!(70000))
        .obj()]);
    assert_eq!(
        plan(&snap, "n1").bgp.local,
        Err("BgpConf default: spec.as: must be set (1-4294967295); \
             spec.routerId: \"::1\" is not an IPv4 address (a BGP identifier is 32 bits, even for IPv6); \
             spec.listenPort: 70000 is out of range (-1 = do not listen, 0 = 179, or 1-65535)"
            .to_owned())
    );
}

#[test]
fn router_id_is_the_conf_s_else_the_node_s_internal_ip() {
    let from_node = cluster([]);
    for (n, addr) in NODES {
        assert_eq!(
            plan(&from_node, n).bgp.local.map(|l| l.router_id),
            Ok(addr.parse::<Ipv4Addr>().expect("v4")),
            "{n}"
        );
    }
    let fixed = cluster([bgp_conf(64513)
        .set(&["spec", "routerId"], json!("192.0.2.254"))
        .obj()]);
    for (n, _) in NODES {
        assert_eq!(
            plan(&fixed, n).bgp.local.map(|l| l.router_id),
            Ok(Ipv4Addr::new(192, 0, 2, 254))
        );
    }
}

#[test]
fn router_id_skips_ipv6_and_external_addresses() {
    let n = node("n1", "10.0.0.1", true).set(
        &["status", "addresses"],
        json!([
            {"type": "ExternalIP", "address": "198.51.100.1"},
            {"type": "InternalIP", "address": "fd00::1"},
            {"type": "InternalIP", "address": "10.0.0.42"},
        ]),
    );
    let snap = cluster([n.obj()]);
    assert_eq!(
        plan(&snap, "n1").bgp.local.map(|l| l.router_id),
        Ok(Ipv4Addr::new(10, 0, 0, 42))
    );
    let v6_only = node("n1", "fd00::1", true);
    let snap = cluster([v6_only.obj()]);
    assert!(plan(&snap, "n1").bgp.local.is_err());
}

#[test]
fn listen_port() {
    for (port, want) in [
        (Some(17900), Some(17900)),
        (Some(-1), None),
        (Some(0), Some(179)),
        (None, Some(179)),
    ] {
        let conf = match port {
            Some(p) => bgp_conf(64513).set(&["spec", "listenPort"], json!(p)),
            None => bgp_conf(64513),
        };
        let snap = cluster([conf.obj()]);
        assert_eq!(
            plan(&snap, "n1").bgp.local,
            Ok(LocalBgp {
                local_as: 64513,
                router_id: Ipv4Addr::new(10, 0, 0, 1),
                listen_port: want,
                listen_addresses: Vec::new(),
                next_hop_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
                next_hop_v6: None,
                graceful_restart: None,
            }),
            "listenPort {port:?}"
        );
    }
}

// ------------------------------------------------------------------------------- whole plan

#[test]
fn the_whole_plan_of_one_node() {
    let snap = cluster([
        web().traffic_policy("Local").obj(),
        slice_ready("default", "web", &[("n2", true)]),
    ]);
    let p: SpeakerPlan = plan(&snap, "n2");
    assert_eq!(p, plan(&snap, "n2"), "deterministic");
    assert_eq!(
        p,
        SpeakerPlan {
            health: Default::default(),
            layer2: Default::default(),
            bgp: BgpPlan {
                local: Ok(LocalBgp {
                    local_as: 64513,
                    router_id: Ipv4Addr::new(10, 0, 0, 2),
                    listen_port: Some(179),
                    listen_addresses: Vec::new(),
                    next_hop_v4: Some(Ipv4Addr::new(10, 0, 0, 2)),
                    next_hop_v6: None,
                    graceful_restart: None,
                }),
                peers: plan(&snap, "n1").bgp.peers,
                prefixes: set(&[EIP]),
            },
            ineligible: None,
            problems: vec![],
        }
    );
}

// ------------------------------------------------------------------------------- route attributes

const COMMUNITIES: &str = "bgp.porter.kubesphere.io/communities";
const LARGE_COMMUNITIES: &str = "bgp.porter.kubesphere.io/large-communities";
const MED: &str = "bgp.porter.kubesphere.io/med";
const LOCAL_PREF: &str = "bgp.porter.kubesphere.io/local-pref";
const LINK_BANDWIDTH: &str = "bgp.porter.kubesphere.io/link-bandwidth";

/// `asn:value` as a standard community.
fn c(asn: u32, value: u32) -> u32 {
    asn << 16 | value
}

fn bandwidth(bytes_per_second: u32) -> Option<LinkBandwidth> {
    Some(LinkBandwidth { bytes_per_second })
}

/// The cluster with the pool carrying `spec.bgp` attributes, and `extra`.
fn attributed(extra: impl IntoIterator<Item = Object>) -> Snapshot {
    let pool = eip("pool", "203.0.113.0/28")
        .default_pool()
        .route_attrs(json!({
            "communities": ["65000:100", "no-export"],
            "largeCommunities": ["65000:1:2"],
            "med": 10,
            "localPref": 200,
            "linkBandwidth": "10G",
        }));
    cluster(std::iter::once(pool.obj()).chain(extra))
}

fn pool_attrs() -> RouteAttrs {
    RouteAttrs {
        med: Some(10),
        local_pref: Some(200),
        communities: [c(65000, 100), 0xFFFF_FF01].into(),
        large_communities: [[65000, 1, 2]].into(),
        link_bandwidth: bandwidth(1_250_000_000),
    }
}

#[test]
fn an_address_carries_its_eip_s_attributes() {
    let snap = attributed([web().obj(), slice_ready("default", "web", &[("n1", true)])]);
    let p = plan(&snap, "n1");
    assert_eq!(
        p.bgp.prefixes,
        BTreeMap::from([(ip(EIP), Arc::new(pool_attrs()))])
    );
    assert_eq!(texts(&p.problems), Vec::<String>::new());
}

#[test]
fn service_annotations_add_communities_and_override_the_rest() {
    let svc = web()
        .annotate(COMMUNITIES, "65000:200, no-export")
        .annotate(LARGE_COMMUNITIES, "65000:1:3")
        .annotate(MED, "5")
        .annotate(LINK_BANDWIDTH, "1G");
    let snap = attributed([svc.obj(), slice_ready("default", "web", &[("n1", true)])]);
    let p = plan(&snap, "n1");
    let want = RouteAttrs {
        med: Some(5),
        local_pref: Some(200),
        communities: [c(65000, 100), c(65000, 200), 0xFFFF_FF01].into(),
        large_communities: [[65000, 1, 2], [65000, 1, 3]].into(),
        link_bandwidth: bandwidth(125_000_000),
    };
    assert_eq!(p.bgp.prefixes, BTreeMap::from([(ip(EIP), Arc::new(want))]));

    // On a pool without attributes, the annotations are the attributes.
    let snap = cluster([
        web().annotate(LOCAL_PREF, "300").obj(),
        slice_ready("default", "web", &[("n1", true)]),
    ]);
    let want = RouteAttrs {
        local_pref: Some(300),
        ..RouteAttrs::default()
    };
    assert_eq!(
        plan(&snap, "n1").bgp.prefixes,
        BTreeMap::from([(ip(EIP), Arc::new(want))])
    );
}

#[test]
fn a_bad_annotation_is_reported_and_the_address_keeps_its_eip_s_attributes() {
    let svc = web()
        .traffic_policy("Local")
        .annotate(COMMUNITIES, "65000:300,65000:abc")
        .annotate(MED, "low");
    let snap = attributed([svc.obj(), slice_ready("default", "web", &[("n1", true)])]);
    let want_problems = [
        "Service default/web: metadata.annotations[bgp.porter.kubesphere.io/communities]: invalid community \"65000:abc\": \"abc\" is not a decimal number; expected ASN:VALUE (each 0..=65535) or one of no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr (announced with its Eip's BGP attributes only)",
        "Service default/web: metadata.annotations[bgp.porter.kubesphere.io/med]: \"low\" is not an integer (0-4294967295) (announced with its Eip's BGP attributes only)",
    ];
    let n1 = plan(&snap, "n1");
    // Not even the well-formed 65000:300 is applied: all or nothing.
    assert_eq!(
        n1.bgp.prefixes,
        BTreeMap::from([(ip(EIP), Arc::new(pool_attrs()))])
    );
    assert_eq!(texts(&n1.problems), want_problems);
    assert!(
        n1.problems.iter().all(|p| matches!(p,
            Problem::ServiceAnnotation { service, .. } if *service == key("default", "web"))),
        "{:?}",
        n1.problems
    );
    // A node that does not announce it (Local policy, no endpoint there) reports it too.
    let n2 = plan(&snap, "n2");
    assert_eq!(n2.bgp.prefixes, BTreeMap::new());
    assert_eq!(texts(&n2.problems), want_problems);
}

#[test]
fn annotations_of_a_service_outside_bgp_pools_are_not_read() {
    let snap = cluster([
        eip("l2", "192.0.2.0/28").layer2().obj(),
        service("default", "l2svc")
            .ingress(&["192.0.2.1"])
            .annotate(MED, "bad")
            .obj(),
        slice_ready("default", "l2svc", &[("n1", true)]),
        secret("porter-system", "porter-member", &[("key", &[7; 32])]),
    ]);
    let p = plan(&snap, "n1");
    assert_eq!(p.bgp.prefixes, BTreeMap::new());
    assert_eq!(texts(&p.problems), Vec::<String>::new());
}

#[test]
fn services_sharing_an_address_merge_their_attributes_in_any_order() {
    let a = service("default", "a")
        .ingress(&[EIP])
        .annotate(COMMUNITIES, "65000:1")
        .annotate(MED, "50")
        .annotate(LOCAL_PREF, "100")
        .annotate(LINK_BANDWIDTH, "1G");
    let b = service("other", "b")
        .ingress(&[EIP])
        .annotate(COMMUNITIES, "65000:2")
        .annotate(LARGE_COMMUNITIES, "1:2:3")
        .annotate(MED, "20")
        .annotate(LOCAL_PREF, "50");
    let want = RouteAttrs {
        med: Some(20),
        local_pref: Some(100),
        communities: [c(65000, 1), c(65000, 2)].into(),
        large_communities: [[1, 2, 3]].into(),
        link_bandwidth: bandwidth(125_000_000),
    };
    let endpoints = || {
        [
            slice_ready("default", "a", &[("n1", true)]),
            slice_ready("other", "b", &[("n1", true)]),
        ]
    };
    let snap = cluster(
        [a.clone().obj(), b.clone().obj()]
            .into_iter()
            .chain(endpoints()),
    );
    assert_eq!(
        plan(&snap, "n1").bgp.prefixes,
        BTreeMap::from([(ip(EIP), Arc::new(want.clone()))])
    );
    // The same with the Services' keys in the other order.
    let a = a.set(&["metadata", "namespace"], json!("z"));
    let endpoints = [
        slice_ready("z", "a", &[("n1", true)]),
        slice_ready("other", "b", &[("n1", true)]),
    ];
    let snap = cluster([a.obj(), b.obj()].into_iter().chain(endpoints));
    assert_eq!(
        plan(&snap, "n1").bgp.prefixes,
        BTreeMap::from([(ip(EIP), Arc::new(want))])
    );
}

#[test]
fn an_invalid_eip_bgp_setting_makes_the_pool_invalid_and_unannounced() {
    let bad = eip("pool", "203.0.113.0/28")
        .default_pool()
        .route_attrs(json!({"communities": ["65000:100000"]}));
    let snap = cluster([
        bad.obj(),
        web().obj(),
        slice_ready("default", "web", &[("n1", true)]),
    ]);
    assert_eq!(plan(&snap, "n1").bgp.prefixes, BTreeMap::new());
    let errors = &porter_model::assign::plan(&snap).eips["pool"].errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .to_string()
            .starts_with("spec.bgp.communities[0]: invalid community \"65000:100000\""),
        "{errors:?}"
    );
}

// ------------------------------------------------------------------------------- next hops

#[test]
fn next_hops_are_the_node_s_first_internal_ip_of_each_family() {
    let dual = node("n1", "10.0.0.1", true).set(
        &["status", "addresses"],
        json!([
            {"type": "ExternalIP", "address": "2001:db8:ff::1"},
            {"type": "InternalIP", "address": "fd00::11"},
            {"type": "InternalIP", "address": "10.0.0.1"},
            {"type": "InternalIP", "address": "fd00::12"},
            {"type": "InternalIP", "address": "10.0.0.2"},
        ]),
    );
    let snap = cluster([dual.obj()]);
    let local = plan(&snap, "n1").bgp.local.expect("BGP configured");
    assert_eq!(local.next_hop_v4, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(
        local.next_hop_v6,
        Some("fd00::11".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(local.router_id, Ipv4Addr::new(10, 0, 0, 1));

    // IPv4-only: no IPv6 next hop.
    let local = plan(&cluster([]), "n2").bgp.local.expect("BGP configured");
    assert_eq!(
        (local.next_hop_v4, local.next_hop_v6),
        (Some(Ipv4Addr::new(10, 0, 0, 2)), None)
    );

    // IPv6-only with a fixed router id: no IPv4 next hop.
    let snap = cluster([
        node("n3", "fd00::3", true).internal_ips(&["fd00::3"]).obj(),
        bgp_conf(64513)
            .set(&["spec", "routerId"], json!("192.0.2.3"))
            .obj(),
    ]);
    let local = plan(&snap, "n3").bgp.local.expect("BGP configured");
    assert_eq!(
        (local.next_hop_v4, local.next_hop_v6),
        (None, Some("fd00::3".parse::<Ipv6Addr>().unwrap()))
    );
}

// ------------------------------------------------------------------------------- passwords

fn peer_of(snap: &Snapshot, name: &str) -> Option<ValidPeer> {
    plan(snap, "n1").bgp.peers.get(name).cloned()
}

#[test]
fn a_password_secret_is_resolved_into_the_peer() {
    let snap = cluster([
        bgp_peer("tor", "10.99.0.1", 64512)
            .password_secret("kube-system", "bgp", "password")
            .obj(),
        secret(
            "kube-system",
            "bgp",
            &[("password", b"s3cret"), ("other", b"x")],
        ),
    ]);
    let p = plan(&snap, "n1");
    assert_eq!(texts(&p.problems), Vec::<String>::new());
    let tor = &p.bgp.peers["tor"];
    assert_eq!(tor.password.as_deref(), Some("s3cret"));
    assert_eq!(
        tor.password_secret,
        Some(SecretKeyRef {
            namespace: "kube-system".into(),
            name: "bgp".into(),
            key: "password".into()
        })
    );
}

#[test]
fn a_peer_whose_password_secret_is_unusable_is_not_started() {
    let tor =
        || bgp_peer("tor", "10.99.0.1", 64512).password_secret("kube-system", "bgp", "password");
    let long = [b'x'; 81];
    for (secret_obj, why) in [
        (
            None,
            "Secret kube-system/bgp not found; the session is not started without its password",
        ),
        (
            Some(secret("kube-system", "bgp", &[("pass", b"s3cret")])),
            "Secret kube-system/bgp has no key \"password\"; the session is not started without its password",
        ),
        (
            Some(secret("default", "bgp", &[("password", b"s3cret")])),
            "Secret kube-system/bgp not found; the session is not started without its password",
        ),
        (
            Some(secret("kube-system", "bgp", &[("password", b"")])),
            "Secret kube-system/bgp key \"password\" is empty; the session is not started without its password",
        ),
        (
            Some(secret("kube-system", "bgp", &[("password", &[0xff, 0xfe])])),
            "Secret kube-system/bgp key \"password\" is not UTF-8 text",
        ),
        (
            Some(secret("kube-system", "bgp", &[("password", &long)])),
            "Secret kube-system/bgp key \"password\" is longer than 80 bytes (the TCP-MD5 key limit)",
        ),
    ] {
        let snap = cluster([tor().obj()].into_iter().chain(secret_obj));
        let p = plan(&snap, "n1");
        assert_eq!(p.bgp.peers, BTreeMap::new(), "{why}");
        assert_eq!(
            texts(&p.problems),
            [format!(
                "BgpPeer tor: spec.conf.authPasswordSecretRef: {why}"
            )]
        );
        assert!(!p.problems[0].to_string().contains("s3cret"));
    }
}

#[test]
fn a_secret_the_source_may_not_read_is_reported_with_the_sources_reason_not_as_missing() {
    let tor = bgp_peer("tor", "10.99.0.1", 64512).password_secret("kube-system", "bgp", "password");
    let mut snap = cluster([tor.obj()]);
    snap.unreadable_secrets.insert(
        key("kube-system", "bgp"),
        "cannot be read: forbidden (403); add it to Role x".to_owned(),
    );
    let p = plan(&snap, "n1");
    assert_eq!(p.bgp.peers, BTreeMap::new());
    assert_eq!(
        texts(&p.problems),
        [
            "BgpPeer tor: spec.conf.authPasswordSecretRef: Secret kube-system/bgp cannot be read: forbidden (403); add it to Role x; the session is not started without its password"
        ]
    );
}

#[test]
fn a_password_secret_of_a_peer_of_other_nodes_is_not_looked_up() {
    let snap = cluster([bgp_peer("far", "10.99.9.1", 64512)
        .match_labels(&[("rack", "elsewhere")])
        .password_secret("kube-system", "missing", "password")
        .obj()]);
    let p = plan(&snap, "n1");
    assert_eq!(texts(&p.problems), Vec::<String>::new());
    assert_eq!(p.bgp.peers.keys().collect::<Vec<_>>(), ["tor"]);
}

#[test]
fn a_plain_text_password_needs_no_secret() {
    let snap = cluster([bgp_peer("tor", "10.99.0.1", 64512)
        .set(&["spec", "conf", "authPassword"], json!("pw"))
        .obj()]);
    assert_eq!(
        peer_of(&snap, "tor").unwrap().password.as_deref(),
        Some("pw")
    );
}

// ------------------------------------------------------------------------------- graceful restart

#[test]
fn graceful_restart_is_inherited_from_the_bgp_conf_unless_the_peer_decides() {
    let snap = cluster([
        bgp_conf(64513)
            .graceful_restart(json!({"enabled": true, "restartTime": 300}))
            .obj(),
        bgp_peer("own", "10.99.0.2", 64512)
            .graceful_restart(json!({"enabled": true, "restartTime": 60}))
            .obj(),
        bgp_peer("off", "10.99.0.3", 64512)
            .graceful_restart(json!({"enabled": false}))
            .obj(),
        bgp_peer("default-time", "10.99.0.4", 64512)
            .graceful_restart(json!({"enabled": true}))
            .obj(),
    ]);
    let p = plan(&snap, "n1");
    assert_eq!(p.bgp.local.as_ref().unwrap().graceful_restart, Some(300));
    let gr: Vec<(&str, Option<u16>)> = p
        .bgp
        .peers
        .iter()
        .map(|(n, peer)| (n.as_str(), peer.graceful_restart))
        .collect();
    assert_eq!(
        gr,
        [
            ("default-time", Some(120)),
            ("off", None),
            ("own", Some(60)),
            ("tor", Some(300)),
        ]
    );

    // Without it in the BgpConf, only the peers that enable it have it.
    let snap = cluster([bgp_peer("own", "10.99.0.2", 64512)
        .graceful_restart(json!({"enabled": true}))
        .obj()]);
    let p = plan(&snap, "n1");
    assert_eq!(p.bgp.local.as_ref().unwrap().graceful_restart, None);
    assert_eq!(p.bgp.peers["own"].graceful_restart, Some(120));
    assert_eq!(p.bgp.peers["tor"].graceful_restart, None);
}

#[test]
fn an_out_of_range_restart_time_is_reported() {
    let snap = cluster([
        bgp_conf(64513)
            .graceful_restart(json!({"enabled": true, "restartTime": 4096}))
            .obj(),
        bgp_peer("p", "10.99.0.2", 64512)
            .graceful_restart(json!({"enabled": true, "restartTime": 10000}))
            .obj(),
    ]);
    let p = plan(&snap, "n1");
    assert_eq!(
        p.bgp.local,
        Err("BgpConf default: spec.gracefulRestart.restartTime: 4096 is out of range (1-4095 seconds, or 0/unset = 120)".to_owned())
    );
    assert_eq!(
        texts(&p.problems),
        [
            "BgpPeer p: spec.gracefulRestart.restartTime: 10000 is out of range (1-4095 seconds, or 0/unset = 120)"
        ]
    );
}

// ------------------------------------------------------------------------------- weighted ECMP

const PER_ENDPOINT: &str = "bgp.porter.kubesphere.io/link-bandwidth-per-endpoint";

/// The cluster with the pool weighting by endpoints (`1M` per endpoint, 125 000 bytes/s) and
/// `static_bw` as its `linkBandwidth`, and `extra`.
fn weighted(static_bw: Option<&str>, extra: impl IntoIterator<Item = Object>) -> Snapshot {
    let mut bgp = json!({"linkBandwidthPerEndpoint": "1M"});
    if let Some(bw) = static_bw {
        bgp["linkBandwidth"] = json!(bw);
    }
    let pool = eip("pool", "203.0.113.0/28")
        .default_pool()
        .route_attrs(bgp);
    cluster(std::iter::once(pool.obj()).chain(extra))
}

/// Each node's link bandwidth for `addr` (bytes/s), `None` where it is not announced; a node
/// announcing it without a bandwidth reads `Some(None)`.
fn bandwidths(snap: &Snapshot, addr: &str) -> Vec<(&'static str, Option<Option<u32>>)> {
    NODES
        .iter()
        .map(|&(n, _)| {
            let bw = plan(snap, n)
                .bgp
                .prefixes
                .get(&ip(addr))
                .map(|a| a.link_bandwidth.map(|b| b.bytes_per_second));
            (n, bw)
        })
        .collect()
}

#[test]
fn a_weighted_local_service_is_announced_with_unit_times_the_node_s_endpoints() {
    // n1: one ready; n2: three ready over two slices and one not ready; n3: none
    let snap = weighted(
        Some("10G"),
        [
            web().traffic_policy("Local").obj(),
            slice_ready(
                "default",
                "web",
                &[("n1", true), ("n2", true), ("n2", true), ("n3", false)],
            ),
            endpoint_slice("default", "web", &[("n2", READY), ("n2", NOT_READY)])
                .named("web-second")
                .obj(),
        ],
    );
    assert_eq!(
        bandwidths(&snap, EIP),
        [
            ("n1", Some(Some(125_000))),
            ("n2", Some(Some(375_000))),
            ("n3", None)
        ],
        "1:3, and the node without a ready endpoint is not announced (never a weight of 0)"
    );
    // everything else is the pool's
    let n2 = plan(&snap, "n2");
    assert_eq!(
        *n2.bgp.prefixes[&ip(EIP)],
        RouteAttrs {
            link_bandwidth: bandwidth(375_000),
            ..RouteAttrs::default()
        }
    );
    assert_eq!(texts(&n2.problems), Vec::<String>::new());
}

#[test]
fn weighting_changes_nothing_for_a_cluster_policy_service() {
    let endpoints = || {
        slice_ready(
            "default",
            "web",
            &[("n1", true), ("n2", true), ("n2", true)],
        )
    };
    // every node forwards to every pod: the nodes stay equal, with the static bandwidth if any
    let snap = weighted(
        Some("10G"),
        [web().traffic_policy("Cluster").obj(), endpoints()],
    );
    assert_eq!(
        bandwidths(&snap, EIP),
        [
            ("n1", Some(Some(1_250_000_000))),
            ("n2", Some(Some(1_250_000_000))),
            ("n3", Some(Some(1_250_000_000)))
        ]
    );
    let snap = weighted(None, [web().traffic_policy("Cluster").obj(), endpoints()]);
    assert_eq!(
        bandwidths(&snap, EIP),
        [("n1", Some(None)), ("n2", Some(None)), ("n3", Some(None))]
    );
}

#[test]
fn the_most_specific_link_bandwidth_setting_wins() {
    let endpoints = || slice_ready("default", "web", &[("n1", true), ("n1", true)]);
    let n1 = |svc: Obj<k8s_openapi::api::core::v1::Service>, pool_static: Option<&str>| {
        let snap = weighted(
            pool_static,
            [svc.traffic_policy("Local").obj(), endpoints()],
        );
        let p = plan(&snap, "n1");
        (
            p.bgp.prefixes[&ip(EIP)]
                .link_bandwidth
                .map(|b| b.bytes_per_second),
            texts(&p.problems),
        )
    };
    // the Service's own unit beats its pool's: 8M = 1 000 000 bytes/s per endpoint
    assert_eq!(
        n1(web().annotate(PER_ENDPOINT, "8M"), Some("10G")),
        (Some(2_000_000), vec![])
    );
    // a Service's static bandwidth beats its pool's unit: the Service opts out of weighting
    assert_eq!(
        n1(web().annotate(LINK_BANDWIDTH, "1G"), None),
        (Some(125_000_000), vec![])
    );
    // and the Service's unit beats its own static bandwidth under Local
    assert_eq!(
        n1(
            web()
                .annotate(LINK_BANDWIDTH, "1G")
                .annotate(PER_ENDPOINT, "8M"),
            None
        ),
        (Some(2_000_000), vec![])
    );
    // a malformed unit: the pool's attributes, the unit included, and the problem named
    assert_eq!(
        n1(web().annotate(PER_ENDPOINT, "two"), None),
        (
            Some(250_000),
            vec![
                "Service default/web: metadata.annotations[bgp.porter.kubesphere.io/link-bandwidth-per-endpoint]: \"two\" is not a bandwidth: expected bits per second with an optional K, M, G or T suffix, e.g. 10G, 2.5G, 100M or 1250000000 (announced with its Eip's BGP attributes only)".to_owned()
            ]
        )
    );
    // a Service opting in on a pool that does not weight
    let snap = cluster([
        web()
            .traffic_policy("Local")
            .annotate(PER_ENDPOINT, "1M")
            .obj(),
        slice_ready(
            "default",
            "web",
            &[("n1", true), ("n2", true), ("n2", true)],
        ),
    ]);
    assert_eq!(
        bandwidths(&snap, EIP),
        [
            ("n1", Some(Some(125_000))),
            ("n2", Some(Some(250_000))),
            ("n3", None)
        ]
    );
}

#[test]
fn weighted_services_sharing_an_address_send_the_highest_weight() {
    let svc = |ns: &str, name: &str| {
        service(ns, name)
            .ingress(&[EIP])
            .traffic_policy("Local")
            .annotate(PER_ENDPOINT, "1M")
            .obj()
    };
    // n1: a×1 + b×2; n2: a×3; n3: b×1
    let snap = cluster([
        svc("default", "a"),
        svc("other", "b"),
        slice_ready(
            "default",
            "a",
            &[("n1", true), ("n2", true), ("n2", true), ("n2", true)],
        ),
        slice_ready("other", "b", &[("n1", true), ("n1", true), ("n3", true)]),
    ]);
    assert_eq!(
        bandwidths(&snap, EIP),
        [
            ("n1", Some(Some(250_000))),
            ("n2", Some(Some(375_000))),
            ("n3", Some(Some(125_000)))
        ]
    );
}

#[test]
fn an_invalid_per_endpoint_unit_makes_the_pool_invalid() {
    let pool = eip("pool", "203.0.113.0/28")
        .default_pool()
        .route_attrs(json!({"linkBandwidthPerEndpoint": "1 per pod"}));
    let snap = cluster([
        pool.obj(),
        web().traffic_policy("Local").obj(),
        slice_ready("default", "web", &[("n1", true)]),
    ]);
    assert_eq!(announcers(&snap, EIP), Vec::<&str>::new());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Whatever the endpoints (spread over slices, ready or not), each node announces a
    /// weighted Local Service exactly when it runs a ready endpoint of it, with the unit times
    /// their count; a Cluster one from every node, all alike.
    #[test]
    fn weights_follow_the_ready_endpoints_per_node(
        endpoints in proptest::collection::vec((0usize..3, proptest::bool::ANY, 0usize..3), 0..24),
        unit in 1u32..1_000_000,
        local in proptest::bool::ANY,
    ) {
        let mut slices: Vec<Vec<(&str, Cond)>> = vec![Vec::new(); 3];
        let mut want = [0u32; 3];
        for &(node, ready, slice) in &endpoints {
            slices[slice].push((NODES[node].0, if ready { READY } else { NOT_READY }));
            want[node] += u32::from(ready);
        }
        let pool = eip("pool", "203.0.113.0/28")
            .default_pool()
            .route_attrs(json!({"linkBandwidthPerEndpoint": (u64::from(unit) * 8).to_string()}));
        let mut objects = vec![
            pool.obj(),
            web().traffic_policy(if local { "Local" } else { "Cluster" }).obj(),
        ];
        for (i, eps) in slices.iter().enumerate() {
            objects.push(endpoint_slice("default", "web", eps).named(&format!("web-{i}")).obj());
        }
        let snap = cluster(objects);
        let any_ready = want.iter().any(|&n| n > 0);
        for (i, (_, bw)) in bandwidths(&snap, EIP).into_iter().enumerate() {
            let expected = if local {
                (want[i] > 0).then(|| Some(unit * want[i]))
            } else {
                any_ready.then_some(None)
            };
            proptest::prop_assert_eq!(bw, expected, "node {} of {:?}", i, endpoints);
        }
    }
}
