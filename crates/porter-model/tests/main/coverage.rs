//! Which nodes announce each address, and the Service condition that says so.

use std::collections::BTreeMap;

use porter_api::Protocol;
use porter_model::ObjectKey;
use porter_model::Snapshot;
use porter_model::announce::Options;
use porter_model::coverage::{Announcement, Coverage, NodeSessions, announcement, by_address};
use porter_model::manifests::Object;

use crate::fixtures::*;

const EIP: &str = "203.0.113.1";
/// Where `web`'s address comes from.
const BGP: Option<(&str, Protocol)> = Some(("pool", Protocol::Bgp));

/// Three ready nodes, one peer whose status says which nodes' sessions are up, `default/web`
/// holding EIP with ETP=Local and ready endpoints on `endpoints`.
fn cluster(endpoints: &[&str], established: &[&str]) -> Snapshot {
    let mut objects: Vec<Object> = vec![
        bgp_conf(64513).obj(),
        peer_reporting(&["n1", "n2", "n3"], established),
        eip("pool", "203.0.113.0/28").default_pool().obj(),
        service("default", "web")
            .ingress(&[EIP])
            .traffic_policy("Local")
            .obj(),
    ];
    let ready: Vec<(&str, bool)> = endpoints.iter().map(|n| (*n, true)).collect();
    objects.push(slice_ready("default", "web", &ready));
    for (name, addr) in [("n1", "10.0.0.1"), ("n2", "10.0.0.2"), ("n3", "10.0.0.3")] {
        objects.push(node(name, addr, true).obj());
    }
    snapshot(objects)
}

fn web() -> ObjectKey {
    key("default", "web")
}

#[test]
fn announcing_nodes_and_their_sessions() {
    let snap = cluster(&["n1", "n2"], &["n1", "n3"]);
    let coverage = by_address(&snap, &Options::default());
    assert_eq!(
        coverage.bgp[&ip(EIP)],
        BTreeMap::from([
            (
                "n1".to_owned(),
                NodeSessions {
                    peers: 1,
                    established: 1
                }
            ),
            (
                "n2".to_owned(),
                NodeSessions {
                    peers: 1,
                    established: 0
                }
            ),
        ]),
        "ETP=Local: only n1 and n2 have endpoints; n3's session state does not matter"
    );
    assert_eq!(
        announcement(&web(), &[ip(EIP)], BGP, &coverage),
        Announcement {
            announced: true,
            reason: "Announced",
            message: "203.0.113.1: announced by n1, n2; no Established BGP session on n2".into(),
        }
    );
}

#[test]
fn announced_but_no_session_up() {
    let snap = cluster(&["n1"], &[]);
    let coverage = by_address(&snap, &Options::default());
    let a = announcement(&web(), &[ip(EIP)], BGP, &coverage);
    assert!(!a.announced);
    assert_eq!(a.reason, "NoEstablishedSession");
    assert_eq!(
        a.message,
        "203.0.113.1: announced by n1; no Established BGP session on n1"
    );
}

#[test]
fn nobody_announces_without_ready_endpoints() {
    let snap = cluster(&[], &["n1", "n2", "n3"]);
    let coverage = by_address(&snap, &Options::default());
    assert!(!coverage.bgp.contains_key(&ip(EIP)));
    let a = announcement(&web(), &[ip(EIP)], BGP, &coverage);
    assert_eq!((a.announced, a.reason), (false, "NotAnnounced"));
    assert_eq!(
        a.message,
        "203.0.113.1: no node announces it (no eligible node with a ready endpoint)"
    );
}

#[test]
fn an_address_from_a_layer2_or_vip_eip_is_answered_by_its_owner() {
    // ETP=Local with endpoints on n1 and n2: the owner is one of them, as the speakers rank
    for protocol in [Protocol::Layer2, Protocol::Vip] {
        let mut snap = cluster(&["n1", "n2"], &["n1", "n2", "n3"]);
        let pool = snap.eips.get_mut("pool").unwrap();
        pool.spec.protocol = Some(protocol);
        pool.spec.interface = Some("eth0".into());
        let coverage = by_address(&snap, &Options::default());
        assert!(coverage.bgp.is_empty(), "no BGP announcement");
        let owner = porter_model::owner::owner(ip(EIP), ["n1", "n2"]).unwrap();
        assert_eq!(coverage.layer2[&ip(EIP)].as_deref(), Some(owner));
        let a = announcement(&web(), &[ip(EIP)], Some(("pool", protocol)), &coverage);
        assert_eq!(
            a,
            Announcement {
                announced: true,
                reason: "Announced",
                message: format!("203.0.113.1: answered by {owner} (layer 2, ARP)"),
            }
        );
    }
    // no ready endpoint: held, nobody answers
    let mut snap = cluster(&[], &[]);
    let pool = snap.eips.get_mut("pool").unwrap();
    pool.spec.protocol = Some(Protocol::Layer2);
    pool.spec.interface = Some("eth0".into());
    let coverage = by_address(&snap, &Options::default());
    assert_eq!(coverage.layer2[&ip(EIP)], None);
    let a = announcement(
        &web(),
        &[ip(EIP)],
        Some(("pool", Protocol::Layer2)),
        &coverage,
    );
    assert_eq!((a.announced, a.reason), (false, "NotAnnounced"));
    assert_eq!(
        a.message,
        "203.0.113.1: no node answers ARP for it (no eligible node with a ready endpoint)"
    );
    // an orphaned address (in no Eip) is still "no node announces it"
    let snap = cluster(&[], &[]);
    let coverage = by_address(&snap, &Options::default());
    assert_eq!(
        announcement(&web(), &[ip(EIP)], None, &coverage).reason,
        "NotAnnounced"
    );
}

#[test]
fn an_ipv6_layer2_address_is_answered_over_ndp() {
    let coverage = Coverage {
        layer2: BTreeMap::from([(ip("2001:db8::1"), Some("n2".to_owned()))]),
        ..Coverage::default()
    };
    let a = announcement(
        &web(),
        &[ip("2001:db8::1")],
        Some(("pool", Protocol::Layer2)),
        &coverage,
    );
    assert_eq!(a.message, "2001:db8::1: answered by n2 (layer 2, NDP)");
}
