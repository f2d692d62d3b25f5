//! The screen's decisions, one "why" per case.
#![allow(clippy::unwrap_used)]

use k8s_openapi::jiff::Timestamp;
use porter_model::{ObjectKey, Snapshot};
use serde_json::{Value, json};

use super::view::{self, ControllerLease, Inputs, Screen, ServiceRow, Session};
use super::{answering_from_reports, parse_timeout, sessions_from_reports};
use crate::session_report::{Layer2Line, SessionLine, SpeakerReport};

const NOW: i64 = 1_800_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

fn node(name: &str, ready: bool, labels: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                   "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
}

fn service(name: &str, ip: Option<&str>, extra: Value) -> Value {
    let mut svc = json!({
        "metadata": {"name": name, "namespace": "default",
            "creationTimestamp": format!("2026-01-01T00:00:{:02}Z", name.len()),
            "annotations": {"lb.kubesphere.io/v1alpha1": "porter"}},
        "spec": {"type": "LoadBalancer"},
    });
    if let Some(ip) = ip {
        svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
    }
    merge(&mut svc, extra);
    svc
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn slice(service: &str, nodes: &[&str]) -> Value {
    let endpoints: Vec<Value> = nodes
        .iter()
        .map(|n| json!({"addresses": ["10.1.0.1"], "nodeName": n, "conditions": {"ready": true}}))
        .collect();
    json!({"metadata": {"name": format!("{service}-x"), "namespace": "default",
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "endpoints": endpoints})
}

/// Nodes n1, n2 (label `edge`) peering with BgpPeer `tor` (which selects `edge` nodes), n3
/// without the label; pool `pool` of two addresses, the default.
fn base() -> Snapshot {
    let mut s = Snapshot::default();
    s.eips.insert(
        "pool".into(),
        serde_json::from_value(json!({"metadata": {"name": "pool",
            "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
            "spec": {"address": "203.0.113.10-203.0.113.11"}}))
        .unwrap(),
    );
    s.bgp_confs.insert(
        "default".into(),
        serde_json::from_value(json!({"metadata": {"name": "default"},
            "spec": {"as": 64513, "listenPort": -1}}))
        .unwrap(),
    );
    s.bgp_peers.insert(
        "tor".into(),
        serde_json::from_value(json!({"metadata": {"name": "tor"},
            "spec": {"conf": {"neighborAddress": "10.0.0.254", "peerAs": 64512},
                     "nodeSelector": {"matchLabels": {"edge": "true"}}}}))
        .unwrap(),
    );
    for (name, labels) in [
        ("n1", json!({"edge": "true"})),
        ("n2", json!({"edge": "true"})),
        ("n3", json!({})),
    ] {
        s.nodes.insert(
            name.into(),
            serde_json::from_value(node(name, true, labels)).unwrap(),
        );
    }
    s
}

fn add_service(s: &mut Snapshot, svc: Value) {
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(svc).unwrap();
    s.services
        .insert(ObjectKey::of(&svc.metadata).unwrap(), svc);
}

/// `web` holding 203.0.113.10 with `externalTrafficPolicy: Local` and its one endpoint on `node`.
fn add_local_web(s: &mut Snapshot, node: &str) {
    add_service(
        s,
        service(
            "web",
            Some("203.0.113.10"),
            json!({"spec": {"externalTrafficPolicy": "Local"}}),
        ),
    );
    add_slice(s, slice("web", &[node]));
}

/// `pool` turned `layer2`, answered on eth0.
fn layer2_pool(s: &mut Snapshot) {
    let pool = s.eips.get_mut("pool").unwrap();
    pool.spec.protocol = Some(porter_api::Protocol::Layer2);
    pool.spec.interface = Some("eth0".into());
}

fn add_slice(s: &mut Snapshot, slice: Value) {
    let slice: k8s_openapi::api::discovery::v1::EndpointSlice =
        serde_json::from_value(slice).unwrap();
    s.endpoint_slices
        .insert(ObjectKey::of(&slice.metadata).unwrap(), slice);
}

fn session(node: &str, state: &str, error: Option<&str>) -> Session {
    Session {
        node: node.into(),
        peer: "tor".into(),
        neighbor: Some("10.0.0.254".into()),
        peer_as: Some(64512),
        state: state.into(),
        up_since: (state == "ESTABLISHED").then(|| Timestamp::from_second(NOW - 90_000).unwrap()),
        advertised: None,
        last_error: error.map(Into::into),
        stale: None,
        bfd: None,
    }
}

fn up(nodes: &[&str]) -> Vec<Session> {
    nodes
        .iter()
        .map(|n| session(n, "ESTABLISHED", None))
        .collect()
}

fn screen_of(s: &Snapshot, sessions: &[Session], lease: Option<&ControllerLease>) -> Screen {
    view::screen(&Inputs {
        snapshot: s,
        sessions,
        answering: None,
        controller: lease.map(|l| ("porter-system/porter-controller", l)),
        only: None,
        now: now(),
    })
}

fn row(screen: &Screen, name: &str) -> ServiceRow {
    screen
        .services
        .iter()
        .find(|r| r.service == format!("default/{name}"))
        .cloned()
        .unwrap_or_else(|| panic!("no row for {name}: {screen:#?}"))
}

fn live() -> ControllerLease {
    ControllerLease::Found {
        holder: Some("porter-controller-0".into()),
        renewed: Some(now()),
        duration_secs: Some(15),
    }
}

/// Each case: the objects, the sessions, the controller; the Service `web`'s row.
#[test]
fn every_why_has_its_note() {
    struct Case {
        what: &'static str,
        build: fn(&mut Snapshot),
        sessions: Vec<Session>,
        lease: Option<ControllerLease>,
        eip: &'static str,
        announced_by: &'static str,
        note: &'static str,
    }
    let cases = vec![
        Case {
            what: "announced by two nodes, both up",
            build: |s| {
                add_service(s, service("web", Some("203.0.113.10"), json!({})));
                add_slice(s, slice("web", &["n1"]));
            },
            sessions: up(&["n1", "n2"]),
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "n1,n2",
            note: "",
        },
        Case {
            what: "one announcing node's session is down",
            build: |s| {
                add_service(s, service("web", Some("203.0.113.10"), json!({})));
                add_slice(s, slice("web", &["n1"]));
            },
            sessions: vec![
                session("n1", "ESTABLISHED", None),
                session("n2", "ACTIVE", Some("connect: connection refused")),
            ],
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "n1,n2",
            note: "no Established BGP session on n2",
        },
        Case {
            what: "pool exhausted",
            build: |s| {
                add_service(s, service("a", Some("203.0.113.10"), json!({})));
                add_service(s, service("bb", Some("203.0.113.11"), json!({})));
                add_service(s, service("web", None, json!({})));
            },
            sessions: up(&["n1", "n2"]),
            lease: Some(live()),
            eip: "<pending>",
            announced_by: "-",
            note: "no IP: no free address in Eip \"pool\" (all full or disabled)",
        },
        Case {
            what: "no Eip serves the namespace",
            build: |s| {
                s.eips.get_mut("pool").unwrap().metadata.annotations = None;
                add_service(s, service("web", None, json!({})));
            },
            sessions: vec![],
            lease: None,
            eip: "<pending>",
            announced_by: "-",
            note: "no IP: no Eip serves namespace \"default\": name one with annotation eip.openelb.kubesphere.io/v1alpha2, list the namespace in an Eip's spec.namespaces, or mark an Eip with eip.openelb.kubesphere.io/is-default-eip: \"true\"",
        },
        Case {
            what: "requested address held by another Service",
            build: |s| {
                add_service(s, service("a", Some("203.0.113.10"), json!({})));
                add_service(
                    s,
                    service(
                        "web",
                        None,
                        json!({"metadata": {"annotations":
                        {"eip.openelb.kubesphere.io/v1alpha1": "203.0.113.10"}}}),
                    ),
                );
            },
            sessions: vec![],
            lease: Some(live()),
            eip: "<pending>",
            announced_by: "-",
            note: "no IP: address 203.0.113.10 is already assigned to default/a",
        },
        Case {
            what: "an address is free but no controller runs",
            build: |s| add_service(s, service("web", None, json!({}))),
            sessions: vec![],
            lease: Some(ControllerLease::Found {
                holder: Some("porter-controller-0".into()),
                renewed: Some(Timestamp::from_second(NOW - 600).unwrap()),
                duration_secs: Some(15),
            }),
            eip: "<pending>",
            announced_by: "-",
            note: "no IP: no controller is running (see CONTROLLER); it would assign 203.0.113.10 from Eip pool",
        },
        Case {
            what: "an address is free and the controller is live",
            build: |s| add_service(s, service("web", None, json!({}))),
            sessions: vec![],
            lease: Some(live()),
            eip: "<pending>",
            announced_by: "-",
            note: "no IP yet: the controller is assigning 203.0.113.10 from Eip pool",
        },
        Case {
            what: "an address is free, and whether a controller runs is unknown (a folder)",
            build: |s| add_service(s, service("web", None, json!({}))),
            sessions: vec![],
            lease: None,
            eip: "<pending>",
            announced_by: "-",
            note: "no IP yet: the controller would assign 203.0.113.10 from Eip pool (is it running?)",
        },
        Case {
            what: "no ready endpoint",
            build: |s| add_service(s, service("web", Some("203.0.113.10"), json!({}))),
            sessions: up(&["n1", "n2"]),
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "-",
            note: "no traffic: no ready endpoint, so no node announces it",
        },
        Case {
            what: "ETP=Local, the only endpoint on a node no BgpPeer selects",
            build: |s| {
                add_local_web(s, "n3");
            },
            sessions: up(&["n1", "n2"]),
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "-",
            note: "no traffic: externalTrafficPolicy is Local and no node with a ready endpoint has an Established BGP session (n3: no BgpPeer selects this node (spec.nodeSelector))",
        },
        Case {
            what: "ETP=Local, the only endpoint on a NotReady node",
            build: |s| {
                add_service(
                    s,
                    service(
                        "web",
                        Some("203.0.113.10"),
                        json!({"spec": {"externalTrafficPolicy": "Local"}}),
                    ),
                );
                add_slice(s, slice("web", &["n2"]));
                s.nodes.insert(
                    "n2".into(),
                    serde_json::from_value(node("n2", false, json!({"edge": "true"}))).unwrap(),
                );
            },
            sessions: up(&["n1", "n2"]),
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "-",
            note: "no traffic: externalTrafficPolicy is Local and no node with a ready endpoint may announce (node n2 is not Ready)",
        },
        Case {
            what: "announced, but no session Established",
            build: |s| {
                add_service(s, service("web", Some("203.0.113.10"), json!({})));
                add_slice(s, slice("web", &["n1"]));
            },
            sessions: vec![
                session("n1", "ACTIVE", Some("connect: connection refused")),
                session("n2", "IDLE", None),
            ],
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "n1,n2",
            note: "no traffic: no announcing node has an Established BGP session (n1: its sessions are not Established (see the sessions below); n2: its sessions are not Established (see the sessions below))",
        },
        Case {
            what: "no BgpConf",
            build: |s| {
                s.bgp_confs.clear();
                add_service(s, service("web", Some("203.0.113.10"), json!({})));
                add_slice(s, slice("web", &["n1"]));
            },
            sessions: vec![],
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "n1,n2",
            note: "no traffic: no announcing node has an Established BGP session (n1: no BgpConf named \"default\": BGP is not configured; n2: no BgpConf named \"default\": BGP is not configured)",
        },
        Case {
            what: "a layer2 pool",
            build: |s| {
                layer2_pool(s);
                add_local_web(s, "n3");
            },
            // no BGP session matters, nor a BgpPeer selecting n3
            sessions: vec![],
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "n3",
            note: "",
        },
        Case {
            what: "a layer2 pool without a ready endpoint",
            build: |s| {
                layer2_pool(s);
                add_service(s, service("web", Some("203.0.113.10"), json!({})));
            },
            sessions: vec![],
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "-",
            note: "no traffic: no ready endpoint, so no node announces it",
        },
        Case {
            what: "the address fell out of every pool",
            build: |s| {
                add_service(s, service("web", Some("198.51.100.7"), json!({})));
                add_slice(s, slice("web", &["n1"]));
            },
            sessions: up(&["n1", "n2"]),
            lease: Some(live()),
            eip: "198.51.100.7",
            announced_by: "-",
            note: "not announced: address 198.51.100.7 is in no Eip pool any more; it is kept, not moved: restore its pool, or clear the Service's status to get a new address",
        },
        Case {
            what: "opted out while holding an address",
            build: |s| {
                add_service(
                    s,
                    service(
                        "web",
                        Some("203.0.113.10"),
                        json!({"metadata": {"annotations": {"lb.kubesphere.io/v1alpha1": "other"}}}),
                    ),
                );
            },
            sessions: vec![],
            lease: Some(live()),
            eip: "203.0.113.10",
            announced_by: "-",
            note: "released: it no longer asks Porter for an address",
        },
    ];
    for case in cases {
        let mut s = base();
        (case.build)(&mut s);
        let screen = screen_of(&s, &case.sessions, case.lease.as_ref());
        let r = row(&screen, "web");
        assert_eq!(
            (r.eip.as_str(), r.announced_by.as_str(), r.note.as_str()),
            (case.eip, case.announced_by, case.note),
            "{}",
            case.what
        );
    }
}

#[test]
fn the_announced_verdict_is_the_controllers_condition() {
    // The view's "announced" must agree with the condition the controller writes.
    let mut s = base();
    add_service(&mut s, service("web", Some("203.0.113.10"), json!({})));
    add_slice(&mut s, slice("web", &["n1"]));
    for (sessions, announced) in [
        (up(&["n1", "n2"]), true),
        (vec![session("n1", "ACTIVE", None)], false),
    ] {
        let screen = screen_of(&s, &sessions, None);
        let laid = {
            let mut with = s.clone();
            for sess in &sessions {
                let peer = with.bgp_peers.get_mut("tor").unwrap();
                let status = peer.status.get_or_insert_with(Default::default);
                status
                    .nodes_peer_status
                    .get_or_insert_with(Default::default)
                    .insert(
                        sess.node.clone(),
                        porter_api::NodePeerStatus {
                            peer_state: Some(porter_api::PeerState {
                                session_state: Some(sess.state.clone()),
                                ..Default::default()
                            }),
                            timers_state: None,
                        },
                    );
            }
            with
        };
        let plan = porter_model::assign::plan(&laid);
        let cover = porter_model::status::planned_coverage(&laid, &plan);
        let key = ObjectKey::new("default", "web");
        let verdict = porter_model::coverage::announcement(
            &key,
            &["203.0.113.10".parse().unwrap()],
            Some(("pool", porter_api::Protocol::Bgp)),
            &cover,
        );
        assert_eq!(verdict.announced, announced);
        assert_eq!(row(&screen, "web").note.is_empty(), announced);
    }
}

#[test]
fn a_named_service_that_is_not_porters_says_why() {
    let mut s = base();
    add_service(
        &mut s,
        service("web", None, json!({"metadata": {"annotations": null}})),
    );
    add_service(
        &mut s,
        service("db", None, json!({"spec": {"type": "ClusterIP"}})),
    );
    for (name, note) in [
        (
            "web",
            "not Porter's: set annotation lb.kubesphere.io/v1alpha1: porter (or spec.loadBalancerClass: porter.kubesphere.io/bgp)",
        ),
        (
            "db",
            "not Porter's: spec.type is ClusterIP, not LoadBalancer",
        ),
        ("nope", "no such Service"),
    ] {
        let key = ObjectKey::new("default", name);
        let screen = view::screen(&Inputs {
            snapshot: &s,
            sessions: &[],
            answering: None,
            controller: None,
            only: Some(&key),
            now: now(),
        });
        assert_eq!(screen.services.len(), 1);
        assert_eq!(screen.services[0].note, note, "{name}");
        assert_eq!(screen.sessions, None, "only the Service is shown");
        assert_eq!(screen.eips, None);
    }
}

#[test]
fn the_controller_line_says_whether_one_is_live() {
    let name = "porter-system/porter-controller";
    let renewed = |ago| ControllerLease::Found {
        holder: Some("c-0".into()),
        renewed: Some(Timestamp::from_second(NOW - ago).unwrap()),
        duration_secs: Some(15),
    };
    let cases = [
        (
            renewed(3),
            Some(true),
            "c-0 (holds Lease porter-system/porter-controller)",
        ),
        (
            renewed(600),
            Some(false),
            "none live: c-0 stopped renewing Lease porter-system/porter-controller 10m ago (is the porter-controller Deployment running?)",
        ),
        (
            ControllerLease::Found {
                holder: None,
                renewed: None,
                duration_secs: Some(1),
            },
            Some(false),
            "none: Lease porter-system/porter-controller is held by nobody (the last controller stopped)",
        ),
        (
            ControllerLease::Missing,
            Some(false),
            "none: Lease porter-system/porter-controller does not exist (has porter controller ever run in this namespace?)",
        ),
        (
            ControllerLease::Unreadable("forbidden (403)".into()),
            None,
            "unknown: cannot read Lease porter-system/porter-controller: forbidden (403)",
        ),
    ];
    for (lease, live, text) in cases {
        let line = view::controller_line(name, &lease, now());
        assert_eq!((line.live, line.text.as_str()), (live, text));
    }
}

#[test]
fn a_session_whose_bfd_is_down_shows_it_and_is_not_counted_up() {
    let mut s = base();
    add_service(&mut s, service("web", Some("203.0.113.10"), json!({})));
    add_slice(&mut s, slice("web", &["n1"]));
    let sessions = vec![
        Session {
            bfd: Some("Up".into()),
            ..session("n1", "ESTABLISHED", None)
        },
        Session {
            bfd: Some("Down".into()),
            ..session("n2", "ESTABLISHED", None)
        },
    ];
    let screen = screen_of(&s, &sessions, None);
    let rows: Vec<(&str, &str, &str)> = screen
        .sessions
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| (r.node.as_str(), r.state.as_str(), r.up.as_str()))
        .collect();
    assert_eq!(rows[0], ("n1", "ESTABLISHED BFD:UP", "25h"));
    assert_eq!(rows[1], ("n2", "ESTABLISHED BFD:DOWN", "-"));
}

#[test]
fn sessions_show_state_uptime_prefixes_and_errors_and_missing_reports() {
    let mut s = base();
    add_service(&mut s, service("web", Some("203.0.113.10"), json!({})));
    add_slice(&mut s, slice("web", &["n1"]));
    // n2 never reported: its speaker is not running
    let sessions = vec![
        session("n1", "ESTABLISHED", None),
        Session {
            node: "n3".into(),
            ..session("n3", "ACTIVE", Some("connect: connection refused"))
        },
    ];
    let screen = screen_of(&s, &sessions, None);
    let rows: Vec<[&str; 7]> = screen
        .sessions
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| {
            [
                r.node.as_str(),
                r.peer.as_str(),
                r.neighbor.as_str(),
                r.state.as_str(),
                r.up.as_str(),
                r.prefixes.as_str(),
                r.last_error.as_str(),
            ]
        })
        .collect();
    assert_eq!(
        rows,
        [
            [
                "n1",
                "tor",
                "10.0.0.254 AS64512",
                "ESTABLISHED",
                "25h",
                "1",
                "-"
            ],
            [
                "n2",
                "tor",
                "10.0.0.254 AS64512",
                "-",
                "-",
                "-",
                "no report from this node's speaker (not running?)"
            ],
            [
                "n3",
                "tor",
                "10.0.0.254 AS64512",
                "ACTIVE",
                "-",
                "0",
                "connect: connection refused"
            ],
        ]
    );
}

#[test]
fn eips_show_usage_protocol_and_problems() {
    let mut s = base();
    s.eips.insert(
        "newer".into(),
        serde_json::from_value(json!({"metadata": {"name": "newer",
            "creationTimestamp": "2030-01-01T00:00:00Z"},
            "spec": {"address": "203.0.113.11/32", "disable": true}}))
        .unwrap(),
    );
    add_service(&mut s, service("web", Some("203.0.113.10"), json!({})));
    let screen = screen_of(&s, &[], None);
    let eips = screen.eips.unwrap();
    assert_eq!(eips.len(), 2);
    assert_eq!(
        (
            eips[1].name.as_str(),
            eips[1].protocol.as_str(),
            eips[1].used.as_str()
        ),
        ("pool", "bgp", "1/2")
    );
    assert_eq!(eips[1].problems, "-");
    assert_eq!(eips[0].name, "newer");
    assert_eq!(eips[0].used, "-");
    assert!(
        eips[0]
            .problems
            .starts_with("spec.address: range 203.0.113.11")
            && eips[0].problems.contains("overlaps")
            && eips[0].problems.ends_with("; disabled (spec.disable)"),
        "{}",
        eips[0].problems
    );
}

/// `pool` turned `layer2` on `eth0`, `web` (Cluster) holding its first address with an
/// endpoint on n1: every node is a candidate.
fn layer2_cluster() -> (Snapshot, String) {
    let mut s = base();
    layer2_pool(&mut s);
    add_service(&mut s, service("web", Some("203.0.113.10"), json!({})));
    add_slice(&mut s, slice("web", &["n1"]));
    let owner = porter_model::owner::owner("203.0.113.10".parse().unwrap(), ["n1", "n2", "n3"])
        .unwrap()
        .to_owned();
    (s, owner)
}

/// A report of `node` answering `ips` on eth0, written `age` seconds before [`NOW`].
fn answering_report(node: &str, ips: &[&str], age: i64) -> SpeakerReport {
    SpeakerReport {
        node: node.into(),
        written_at: u64::try_from(NOW - age).unwrap(),
        sessions: vec![],
        layer2: Some(Layer2Line {
            ready: true,
            alive: vec!["n1".into(), "n2".into(), "n3".into()],
            answering: [(
                "eth0".to_owned(),
                ips.iter().map(|i| i.parse().unwrap()).collect(),
            )]
            .into(),
            errors: vec![],
        }),
    }
}

#[test]
fn the_layer2_table_shows_each_address_s_owner_and_who_answers() {
    let (s, owner) = layer2_cluster();
    let other = if owner == "n1" { "n2" } else { "n1" };
    let screen_with = |reports: Option<&[SpeakerReport]>| {
        let answering = reports.map(|r| answering_from_reports(r, NOW));
        view::screen(&Inputs {
            snapshot: &s,
            sessions: &[],
            answering: answering.as_deref(),
            controller: None,
            only: None,
            now: now(),
        })
    };
    // a cluster: the owner only, and no column for reports
    let screen = screen_with(None);
    let rows = screen.layer2.as_ref().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].address.as_str(), rows[0].service.as_str()),
        ("203.0.113.10", "default/web")
    );
    assert_eq!(
        (rows[0].interface.as_str(), rows[0].owner.as_str()),
        ("eth0", owner.as_str())
    );
    assert_eq!(rows[0].answered_by, None);
    let text = view::render(&screen);
    assert!(
        text.contains("LAYER 2 ADDRESS   SERVICE       INTERFACE   OWNER   NOTE\n"),
        "{text}"
    );
    assert_eq!(row(&screen, "web").announced_by, owner);

    let cases: [(&str, Vec<SpeakerReport>, String, String); 5] = [
        (
            "the owner answers",
            vec![answering_report(&owner, &["203.0.113.10"], 5)],
            owner.clone(),
            String::new(),
        ),
        (
            "another answers: the owner is not heard",
            vec![
                answering_report(&owner, &[], 5),
                answering_report(other, &["203.0.113.10"], 5),
            ],
            other.to_owned(),
            format!("{other} answers: the speakers do not hear {owner}'s (down or cut off?)"),
        ),
        (
            "nobody reports it",
            vec![answering_report(other, &[], 5)],
            "-".to_owned(),
            format!("no speaker reports answering it (is {owner}'s running?)"),
        ),
        (
            "a report older than 5 s counts for nothing (a live one is rewritten every second)",
            vec![answering_report(&owner, &["203.0.113.10"], 6)],
            "-".to_owned(),
            format!("no speaker reports answering it (is {owner}'s running?)"),
        ),
        (
            "two answer: split",
            vec![
                answering_report("n1", &["203.0.113.10"], 5),
                answering_report("n3", &["203.0.113.10"], 5),
            ],
            "n1,n3".to_owned(),
            "n1, n3 answer at once: their speakers do not hear each other".to_owned(),
        ),
    ];
    for (what, reports, answered_by, note) in cases {
        let screen = screen_with(Some(&reports));
        let rows = screen.layer2.as_ref().unwrap();
        assert_eq!(
            rows[0].answered_by.as_deref(),
            Some(answered_by.as_str()),
            "{what}"
        );
        assert_eq!(rows[0].note, note, "{what}");
        assert!(view::render(&screen).contains("ANSWERED BY"), "{what}");
    }
    // a report of a speaker not ready (no quorum) answers nothing
    let mut alone = answering_report(&owner, &["203.0.113.10"], 5);
    alone.layer2.as_mut().unwrap().ready = false;
    let rows = screen_with(Some(&[alone])).layer2.unwrap();
    assert_eq!(rows[0].answered_by.as_deref(), Some("-"));
}

#[test]
fn report_files_read_as_bgppeer_status_does() {
    let report = |written_at| SpeakerReport {
        node: "n1".into(),
        written_at,
        sessions: vec![SessionLine {
            peer: "tor".into(),
            address: "10.0.0.254".into(),
            peer_as: 64512,
            state: "Established".into(),
            established_at: Some(u64::try_from(NOW - 30).unwrap()),
            advertised: 4,
            received: 0,
            flaps: 1,
            last_error: None,
            hold_time: Some(90),
            keepalive: Some(30),
            bfd: None,
        }],
        layer2: None,
    };
    let fresh = sessions_from_reports(&[report(u64::try_from(NOW - 5).unwrap())], NOW);
    assert_eq!(fresh[0].state, "ESTABLISHED");
    assert_eq!(fresh[0].advertised, Some(4));
    assert_eq!(
        fresh[0].up_since,
        Some(Timestamp::from_second(NOW - 30).unwrap())
    );
    assert_eq!(fresh[0].stale, None);
    let old = sessions_from_reports(&[report(u64::try_from(NOW - 600).unwrap())], NOW);
    assert_eq!(
        old[0].stale.as_deref(),
        Some("report 10m old: speaker down?")
    );

    // the same session from a cluster's BgpPeer status: the same row
    let mut s = base();
    let mut laid = s.clone();
    laid.bgp_peers.get_mut("tor").unwrap().status = Some(
        serde_json::from_value(json!({"nodesPeerStatus": {"n1": {
            "peerState": {"neighborAddress": "10.0.0.254", "peerAs": 64512, "sessionState": "ESTABLISHED"},
            "timersState": {"uptime": Timestamp::from_second(NOW - 30).unwrap().to_string()}}}}))
        .unwrap(),
    );
    let from_cluster = view::sessions_from_peers(&laid);
    assert_eq!(
        from_cluster,
        vec![Session {
            advertised: None,
            ..fresh[0].clone()
        }]
    );
    // an entry of a node that is gone, or NotReady, may be stale
    let mut gone = laid.clone();
    gone.nodes.remove("n1");
    assert_eq!(
        view::sessions_from_peers(&gone)[0].stale.as_deref(),
        Some("no Node object: a stale entry")
    );
    gone.nodes.insert(
        "n1".into(),
        serde_json::from_value(node("n1", false, json!({}))).unwrap(),
    );
    assert_eq!(
        view::sessions_from_peers(&gone)[0].stale.as_deref(),
        Some("node not Ready: may be stale")
    );

    add_service(&mut s, service("web", Some("203.0.113.10"), json!({})));
    add_slice(&mut s, slice("web", &["n1"]));
    let a = screen_of(&s, &fresh, None);
    let b = screen_of(&s, &from_cluster, None);
    assert_eq!(a.services, b.services);
}

#[test]
fn render_aligns_columns_and_leaves_no_trailing_space() {
    let mut s = base();
    add_service(&mut s, service("web", Some("203.0.113.10"), json!({})));
    add_slice(&mut s, slice("web", &["n1"]));
    let text = view::render(&screen_of(&s, &up(&["n1", "n2"]), Some(&live())));
    assert_eq!(
        text,
        "\
CONTROLLER  porter-controller-0 (holds Lease porter-system/porter-controller)

SERVICE       EIP            POOL   ANNOUNCED BY   NOTE
default/web   203.0.113.10   pool   n1,n2

NODE   PEER   NEIGHBOR             STATE         UP    PREFIXES   LAST ERROR
n1     tor    10.0.0.254 AS64512   ESTABLISHED   25h   1          -
n2     tor    10.0.0.254 AS64512   ESTABLISHED   25h   1          -

EIP    ADDRESS                     PROTOCOL   USED   PROBLEMS
pool   203.0.113.10-203.0.113.11   bgp        1/2    -
"
    );
}

#[test]
fn timeouts_parse_like_kubectls() {
    use std::time::Duration;
    assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_timeout("7"), Ok(Duration::from_secs(7)));
    assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_timeout("0").is_err());
    assert!(parse_timeout("5h").is_err());
    assert!(parse_timeout("soon").is_err());
}
