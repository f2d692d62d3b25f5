//! Health-driven withdrawal in `announce::plan_checked`: which endpoints a node probes, and
//! what the failing ones change.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use porter_model::ObjectKey;
use porter_model::announce::{Observed, Options, SpeakerPlan, plan_checked};
use porter_model::health::{Failing, ProbeKey, ProbeKind};
use porter_model::manifests::Object;
use proptest::prelude::*;
use serde_json::json;

use crate::fixtures::*;

const EIP: &str = "203.0.113.1";
const NODES: [(&str, &str); 3] = [("n1", "10.0.0.1"), ("n2", "10.0.0.2"), ("n3", "10.0.0.3")];
const PROBE: &str = "health.porter.kubesphere.io/probe";

fn cluster(extra: impl IntoIterator<Item = Object>) -> porter_model::Snapshot {
    snapshot_with_nodes(
        vec![
            bgp_conf(64513).obj(),
            bgp_peer("tor", "10.99.0.1", 64512).obj(),
            eip("pool", "203.0.113.0/28")
                .default_pool()
                .route_attrs(json!({"linkBandwidthPerEndpoint": "1M"}))
                .obj(),
        ],
        &NODES,
        extra,
    )
}

/// `default/web`, `Local`, probed over TCP unless `annotations` say otherwise.
fn web(annotations: &[(&str, &str)]) -> Object {
    let mut svc = service("default", "web")
        .ingress(&[EIP])
        .traffic_policy("Local")
        .annotate(PROBE, "tcp");
    for (k, v) in annotations {
        svc = svc.annotate(k, v);
    }
    svc.obj()
}

fn plan(snap: &porter_model::Snapshot, node: &str, failing: &Failing) -> SpeakerPlan {
    let observed = Observed {
        failing,
        alive: None,
    };
    plan_checked(
        &snap.for_speaker_on(node),
        node,
        &Options::default(),
        &observed,
    )
}

fn key(endpoint: &str) -> ProbeKey {
    ProbeKey {
        service: ObjectKey::new("default", "web"),
        endpoint: endpoint.parse::<SocketAddr>().unwrap(),
    }
}

fn probes(plan: &SpeakerPlan) -> Vec<String> {
    plan.health
        .probes
        .keys()
        .map(|k| k.endpoint.to_string())
        .collect()
}

/// The link bandwidth (bytes/s) `node` announces the EIP with, `None` if it does not.
fn announced(snap: &porter_model::Snapshot, node: &str, failing: &Failing) -> Option<u32> {
    plan(snap, node, failing)
        .bgp
        .prefixes
        .get(&EIP.parse().unwrap())
        .map(|a| a.link_bandwidth.expect("weighted").bytes_per_second)
}

/// n1 runs 10.244.0.1 and .2, n2 runs .3; .4 on n3 is not ready.
fn endpoints() -> Object {
    slice_ready(
        "default",
        "web",
        &[("n1", true), ("n1", true), ("n2", true), ("n3", false)],
    )
}

#[test]
fn a_node_probes_its_own_ready_endpoints_only() {
    let snap = cluster([web(&[]), endpoints()]);
    let none = Failing::new();
    let n1 = plan(&snap, "n1", &none);
    assert_eq!(probes(&n1), ["10.244.0.1:80", "10.244.0.2:80"]);
    let spec = &n1.health.probes[&key("10.244.0.1:80")];
    assert_eq!(spec.kind, ProbeKind::Tcp);
    assert_eq!((spec.interval.as_secs(), spec.threshold), (2, 3));
    assert_eq!(probes(&plan(&snap, "n2", &none)), ["10.244.0.3:80"]);
    // the not-ready endpoint is the kubelet's business: not probed
    assert_eq!(probes(&plan(&snap, "n3", &none)), Vec::<String>::new());
    // without the annotation, nothing is probed
    let plain = cluster([
        service("default", "web")
            .ingress(&[EIP])
            .traffic_policy("Local")
            .obj(),
        endpoints(),
    ]);
    assert!(plan(&plain, "n1", &none).health.probes.is_empty());
    // an ineligible node probes nothing
    let mut cordoned = cluster([web(&[]), endpoints()]);
    cordoned.insert(
        node("n1", "10.0.0.1", true)
            .set(&["spec", "unschedulable"], json!(true))
            .obj(),
    );
    assert!(plan(&cordoned, "n1", &none).health.probes.is_empty());
}

#[test]
fn failing_endpoints_leave_the_weight_and_the_last_one_withdraws() {
    let snap = cluster([web(&[]), endpoints()]);
    let none = Failing::new();
    assert_eq!(
        announced(&snap, "n1", &none),
        Some(250_000),
        "2 endpoints × 1M"
    );
    let one: Failing = [key("10.244.0.1:80")].into();
    assert_eq!(announced(&snap, "n1", &one), Some(125_000));
    let both: Failing = [key("10.244.0.1:80"), key("10.244.0.2:80")].into();
    assert_eq!(announced(&snap, "n1", &both), None, "n1 withdraws");
    assert_eq!(
        announced(&snap, "n2", &both),
        Some(125_000),
        "n2 is not concerned"
    );
    // the probes stay planned while failing: they must see the endpoint recover
    assert_eq!(probes(&plan(&snap, "n1", &both)).len(), 2);
    // another node's failing endpoints change nothing here
    let elsewhere: Failing = [key("10.244.0.3:80")].into();
    assert_eq!(announced(&snap, "n1", &elsewhere), Some(250_000));
}

#[test]
fn the_probed_port_is_the_slice_s_first_a_number_or_a_name() {
    let named = || {
        endpoint_slice("default", "web", &[("n1", READY)])
            .set(
                &["ports"],
                json!([{"name": "dns", "port": 53, "protocol": "UDP"},
                       {"name": "http", "port": 8080, "protocol": "TCP"},
                       {"name": "admin", "port": 9090}]),
            )
            .obj()
    };
    let none = Failing::new();
    for (annotations, expected) in [
        (&[][..], "10.244.0.1:8080"),
        (
            &[("health.porter.kubesphere.io/port", "admin")],
            "10.244.0.1:9090",
        ),
        (
            &[("health.porter.kubesphere.io/port", "7000")],
            "10.244.0.1:7000",
        ),
    ] {
        let snap = cluster([web(annotations), named()]);
        assert_eq!(
            probes(&plan(&snap, "n1", &none)),
            [expected],
            "{annotations:?}"
        );
    }
    // a name the slice lacks: reported, the endpoint counts as healthy, unprobed
    let snap = cluster([
        web(&[("health.porter.kubesphere.io/port", "grpc")]),
        named(),
    ]);
    let p = plan(&snap, "n1", &none);
    assert!(p.health.probes.is_empty());
    assert!(p.bgp.prefixes.contains_key(&EIP.parse().unwrap()));
    assert_eq!(
        crate::announce::texts(&p.problems),
        [
            "Service default/web: metadata.annotations[health.porter.kubesphere.io/port]: EndpointSlice web-abcde has no such TCP port (its endpoints are not probed and count as healthy)"
        ]
    );
}

#[test]
fn a_malformed_or_misplaced_probe_is_reported_and_changes_nothing() {
    let none = Failing::new();
    let snap = cluster([
        web(&[("health.porter.kubesphere.io/interval", "soon")]),
        endpoints(),
    ]);
    let p = plan(&snap, "n1", &none);
    assert!(p.health.probes.is_empty());
    assert_eq!(announced(&snap, "n1", &none), Some(250_000));
    assert_eq!(
        crate::announce::texts(&p.problems),
        [
            "Service default/web: metadata.annotations[health.porter.kubesphere.io/interval]: \"soon\" is not a duration such as 500ms, 2s or 1m (its endpoints are not probed and count as healthy)"
        ]
    );
    // with Cluster, every node forwards to every endpoint: no probe, and the reason says so
    let cluster_policy = cluster([
        service("default", "web")
            .ingress(&[EIP])
            .traffic_policy("Cluster")
            .annotate(PROBE, "http")
            .obj(),
        endpoints(),
    ]);
    let p = plan(&cluster_policy, "n3", &none);
    assert!(p.health.probes.is_empty());
    assert!(p.bgp.prefixes.contains_key(&EIP.parse().unwrap()));
    assert!(
        crate::announce::texts(&p.problems)[0]
            .contains("applies to externalTrafficPolicy: Local only"),
        "{:?}",
        p.problems
    );
}

proptest! {
    /// Over any endpoints and any failing set: a node announces the Service exactly when it
    /// runs a ready endpoint that is not failing (or, with none ready anywhere, a draining
    /// one), with the unit times those endpoints; and it probes exactly its ready endpoints.
    #[test]
    fn a_node_announces_exactly_its_healthy_ready_endpoints(
        eps in prop::collection::vec((0usize..3, 0usize..3), 0..7),
        failing_mask in any::<u8>(),
    ) {
        let conds = [READY, NOT_READY, DRAINING];
        let list: Vec<(&str, Cond)> = eps.iter().map(|&(n, c)| (NODES[n].0, conds[c])).collect();
        // by index into `conds`: 0 ready, 1 not ready, 2 draining
        let is = |i: usize, node: &str, c: usize| NODES[eps[i].0].0 == node && eps[i].1 == c;
        let snap = cluster([web(&[]), endpoint_slice("default", "web", &list).obj()]);
        let failing: Failing = list
            .iter()
            .enumerate()
            .filter(|&(i, _)| failing_mask & (1 << i) != 0)
            .map(|(i, _)| key(&format!("10.244.0.{}:80", i + 1)))
            .collect();
        let ready_anywhere = eps.iter().any(|&(_, c)| c == 0);
        for (node, _) in NODES {
            let ready: Vec<usize> = (0..eps.len()).filter(|&i| is(i, node, 0)).collect();
            let healthy = ready
                .iter()
                .filter(|&&i| failing_mask & (1 << i) == 0)
                .count() as u32;
            let draining_here = (0..eps.len()).any(|i| is(i, node, 2));
            let expected = if healthy > 0 {
                Some(healthy * 125_000)
            } else if draining_here && !ready_anywhere {
                Some(125_000)
            } else {
                None
            };
            prop_assert_eq!(announced(&snap, node, &failing), expected, "{}", node);
            let probed: BTreeSet<String> = probes(&plan(&snap, node, &failing)).into_iter().collect();
            let want: BTreeSet<String> = ready.iter().map(|i| format!("10.244.0.{}:80", i + 1)).collect();
            prop_assert_eq!(probed, want, "{}", node);
        }
    }
}
