//! OpenELB objects load into Porter unchanged: nothing unknown, nothing lost, nothing added.

use porter_api::{BgpConf, BgpPeer, Eip, ProtoUint, Protocol, unknown_fields};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::yaml;

const EIP_BGP: &str = include_str!("../fixtures/openelb/eip-bgp.yaml");
const EIP_LAYER2: &str = include_str!("../fixtures/openelb/eip-layer2.yaml");
const EIP_NAMESPACES: &str = include_str!("../fixtures/openelb/eip-namespaces.yaml");
const BGPCONF: &str = include_str!("../fixtures/openelb/bgpconf.yaml");
const BGPCONF_FULL: &str = include_str!("../fixtures/openelb/bgpconf-full.yaml");
const BGPPEER: &str = include_str!("../fixtures/openelb/bgppeer.yaml");
const BGPPEER_FULL: &str = include_str!("../fixtures/openelb/bgppeer-full.yaml");

/// Loads a fixture, asserts no unknown field, and asserts that writing it back yields the same spec (and
/// the same status when `same_status`).
fn load<K: DeserializeOwned + Serialize>(text: &str, same_status: bool) -> K {
    let raw = yaml(text);
    let (obj, unknown) = unknown_fields::<K>(&raw).expect("fixture deserialises");
    assert!(unknown.is_empty(), "unknown fields: {unknown:?}");
    let back = serde_json::to_value(&obj).expect("serialises");
    assert_eq!(back["spec"], raw["spec"], "spec changed in a round trip");
    assert_eq!(
        back["metadata"], raw["metadata"],
        "metadata changed in a round trip"
    );
    assert_eq!(back["apiVersion"], raw["apiVersion"]);
    assert_eq!(back["kind"], raw["kind"]);
    if same_status {
        assert_eq!(
            back.get("status"),
            raw.get("status"),
            "status changed in a round trip"
        );
    }
    obj
}

#[test]
fn eip_from_openelb_docs_loads_unchanged() {
    let eip: Eip = load(EIP_BGP, true);
    assert_eq!(eip.spec.address, "192.168.0.91-192.168.0.100");
    assert_eq!(eip.spec.protocol, Some(Protocol::Bgp));
    let status = eip.status.unwrap();
    assert_eq!(status.used.unwrap()["192.168.0.92"], "demo/a;demo/b");
    assert_eq!(status.pool_size, Some(10));
    assert_eq!(status.first_ip.as_deref(), Some("192.168.0.91"));
}

#[test]
fn layer2_and_namespace_bound_eips_load_unchanged() {
    let l2: Eip = load(EIP_LAYER2, true);
    assert_eq!(l2.spec.effective_protocol(), Protocol::Layer2);
    let ns: Eip = load(EIP_NAMESPACES, true);
    assert_eq!(ns.spec.priority, Some(10));
    assert_eq!(ns.spec.using_known_ips, Some(false));
    assert_eq!(ns.spec.namespace_selector.unwrap()["tenant"], "a");
}

#[test]
fn bgpconf_from_openelb_docs_loads_unchanged() {
    let conf: BgpConf = load(BGPCONF, true);
    assert!(conf.is_used());
    assert_eq!(conf.spec.as_number, Some(50001));
    assert_eq!(conf.spec.listen_port, Some(17900));
    assert_eq!(conf.spec.router_id.as_deref(), Some("192.168.0.2"));
}

#[test]
fn bgpconf_with_every_field_loads_unchanged() {
    let conf: BgpConf = load(BGPCONF_FULL, true);
    assert_eq!(conf.spec.as_per_rack.unwrap()["leaf2"], 65002);
    assert_eq!(
        conf.spec.graceful_restart.unwrap().mode.as_deref(),
        Some("")
    );
    assert_eq!(
        conf.status.unwrap().nodes_conf_status.unwrap()["node1"].as_number,
        Some(50001)
    );
}

#[test]
fn bgppeer_from_openelb_docs_loads_unchanged() {
    let peer: BgpPeer = load(BGPPEER, true);
    let afi = &peer.spec.afi_safis.as_ref().unwrap()[0];
    assert_eq!(
        afi.add_paths
            .as_ref()
            .unwrap()
            .config
            .as_ref()
            .unwrap()
            .send_max,
        Some(10)
    );
    let sel = peer.spec.node_selector.unwrap();
    assert_eq!(
        sel.match_labels.unwrap()["openelb.kubesphere.io/rack"],
        "leaf1"
    );
}

#[test]
fn bgppeer_with_every_field_loads_unchanged_and_timers_stay_strings() {
    let peer: BgpPeer = load(BGPPEER_FULL, false);
    let timers = peer.spec.timers.as_ref().unwrap().config.as_ref().unwrap();
    assert_eq!(timers.hold_time, Some(ProtoUint::String("9".into())));
    let back = serde_json::to_value(&peer).unwrap();
    assert_eq!(back["spec"]["timers"]["config"]["holdTime"], json!("9"));
}

#[test]
fn openelb_peer_status_loads_but_the_password_is_never_written_back() {
    let peer: BgpPeer = load(BGPPEER_FULL, false);
    let node = &peer
        .status
        .as_ref()
        .unwrap()
        .nodes_peer_status
        .as_ref()
        .unwrap()["node1"];
    let state = node.peer_state.as_ref().unwrap();
    assert_eq!(state.session_state.as_deref(), Some("ESTABLISHED"));
    let status = serde_json::to_string(&peer.status).unwrap();
    assert!(
        !status.contains("s3cret"),
        "password leaked into status: {status}"
    );
    assert!(!status.contains("authPassword"));
}

#[test]
fn integer_timers_are_accepted_and_kept_as_integers() {
    let mut raw = yaml(BGPPEER);
    raw["spec"]["timers"] = json!({"config": {"holdTime": 90, "keepaliveInterval": "30"}});
    let (peer, unknown) = unknown_fields::<BgpPeer>(&raw).unwrap();
    assert!(unknown.is_empty());
    let back = serde_json::to_value(&peer).unwrap();
    assert_eq!(back["spec"]["timers"], raw["spec"]["timers"]);
    // What they validate to: porter-model's tests/main/validation.rs, `integer_timers_validate_as_numbers`.
}

#[test]
fn a_minimal_object_gains_no_fields_in_a_round_trip() {
    let raw = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2",
        "kind": "BgpPeer",
        "metadata": {"name": "p"},
        "spec": {"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65000}}
    });
    let peer: BgpPeer = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(serde_json::to_value(&peer).unwrap(), raw);
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    let mut raw = yaml(BGPPEER_FULL);
    raw["spec"]["conf"]["fooBar"] = json!(1);
    raw["spec"]["afiSafis"][0]["config"]["family"]["typo"] = json!("x");
    raw["spec"]["bfdProfile"] = json!("fast");
    raw["status"]["whatever"] = json!(1);
    raw["metadata"]["unknownMeta"] = json!(1);
    let (_, unknown) = unknown_fields::<BgpPeer>(&raw).unwrap();
    assert_eq!(
        unknown,
        [
            "spec.afiSafis[0].config.family.typo",
            "spec.bfdProfile",
            "spec.conf.fooBar"
        ]
    );
    assert_eq!(
        porter_api::unknown_field_message(&unknown[2]),
        "spec.conf.fooBar is not known to Porter and was ignored"
    );
}

#[test]
fn v1alpha1_field_names_are_reported_not_dropped() {
    // OpenELB serves v1alpha1 without conversion: `port`/`routerID` were silently lost there.
    let raw = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
        "metadata": {"name": "default"},
        "spec": {"as": 65000, "routerID": "10.0.0.1", "port": 17900}
    });
    let (_, unknown) = unknown_fields::<BgpConf>(&raw).unwrap();
    assert_eq!(unknown, ["spec.port", "spec.routerID"]);
}

#[test]
fn nulls_are_treated_as_absent() {
    let raw = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": "e"},
        "spec": {"address": "10.0.0.1", "interface": null, "namespaces": null}
    });
    let (_, unknown): (Eip, _) = unknown_fields(&raw).unwrap();
    assert!(unknown.is_empty());
}

#[test]
fn wrong_types_fail_to_load() {
    let raw = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": "e"}, "spec": {"address": "10.0.0.1", "protocol": "ospf"}
    });
    let err = unknown_fields::<Eip>(&raw).unwrap_err();
    assert!(err.to_string().contains("ospf"), "{err}");
}

#[test]
fn porter_additions_round_trip_without_unknown_fields() {
    let eip = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip", "metadata": {"name": "e"},
        "spec": {
            "address": "10.0.0.0/24",
            "bgp": {
                "communities": ["65000:100", "no-export"],
                "largeCommunities": ["65000:1:2"],
                "med": 10,
                "localPref": 200,
                "linkBandwidth": "10G"
            }
        }
    });
    let (obj, unknown) = unknown_fields::<Eip>(&eip).unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
    assert_eq!(serde_json::to_value(&obj).unwrap(), eip);
    let bgp = obj.spec.bgp.as_ref().unwrap();
    assert_eq!(
        (bgp.med, bgp.local_pref, bgp.link_bandwidth.as_deref()),
        (Some(10), Some(200), Some("10G"))
    );

    let peer = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "p"},
        "spec": {
            "conf": {
                "neighborAddress": "10.0.0.1", "peerAs": 65000,
                "authPasswordSecretRef": {"namespace": "kube-system", "name": "bgp", "key": "password"}
            },
            "transport": {"localAddress": "10.0.0.2", "ttlSecurity": true, "remoteAddress": "10.0.0.1"},
            "gracefulRestart": {"enabled": true, "restartTime": 300}
        }
    });
    let (obj, unknown) = unknown_fields::<BgpPeer>(&peer).unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
    assert_eq!(serde_json::to_value(&obj).unwrap(), peer);
    let r = obj
        .spec
        .conf
        .as_ref()
        .unwrap()
        .auth_password_secret_ref
        .as_ref()
        .unwrap();
    assert_eq!(r.to_string(), "Secret kube-system/bgp key \"password\"");
}

#[test]
fn a_secret_ref_without_its_parts_does_not_load() {
    let raw = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "p"},
        "spec": {"conf": {"neighborAddress": "10.0.0.1", "peerAs": 1, "authPasswordSecretRef": {"name": "bgp"}}}
    });
    let err = unknown_fields::<BgpPeer>(&raw).unwrap_err();
    assert!(err.to_string().contains("namespace"), "{err}");
}

#[test]
fn a_session_counts_as_up_only_while_its_bfd_is_up() {
    use porter_api::{NodePeerStatus, PeerState};
    let entry = |session: &str, bfd: Option<&str>| NodePeerStatus {
        peer_state: Some(PeerState {
            session_state: Some(session.into()),
            bfd_state: bfd.map(Into::into),
            ..PeerState::default()
        }),
        timers_state: None,
    };
    assert!(
        entry("ESTABLISHED", None).is_established(),
        "no BFD: BGP alone"
    );
    assert!(entry("established", Some("Up")).is_established());
    for bfd in ["Down", "Init", "AdminDown"] {
        assert!(
            !entry("ESTABLISHED", Some(bfd)).is_established(),
            "BFD {bfd}"
        );
    }
    assert!(!entry("ACTIVE", Some("Up")).is_established());
}
