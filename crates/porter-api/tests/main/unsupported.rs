//! Fields accepted for OpenELB compatibility but not implemented are listed, so they can become warnings.

use porter_api::{BgpConf, BgpPeer, Eip, unknown_fields};

use super::yaml;

#[test]
fn documented_samples_only_warn_about_what_is_really_ignored() {
    let conf: BgpConf =
        serde_saphyr::from_str(include_str!("../fixtures/openelb/bgpconf.yaml")).unwrap();
    assert!(conf.unsupported_fields().is_empty());
    let eip: Eip =
        serde_saphyr::from_str(include_str!("../fixtures/openelb/eip-bgp.yaml")).unwrap();
    assert!(eip.unsupported_fields().is_empty());
    // ADD-PATH send-max is not implemented; the IPv4 unicast family entry is what Porter does anyway.
    let peer: BgpPeer =
        serde_saphyr::from_str(include_str!("../fixtures/openelb/bgppeer.yaml")).unwrap();
    assert_eq!(peer.unsupported_fields(), ["spec.afiSafis[].addPaths"]);
}

#[test]
fn every_unimplemented_bgpconf_field_is_listed() {
    let (conf, _) =
        unknown_fields::<BgpConf>(&yaml(include_str!("../fixtures/openelb/bgpconf-full.yaml")))
            .unwrap();
    assert_eq!(
        conf.unsupported_fields(),
        [
            "spec.asPerRack",
            "spec.families",
            "spec.useMultiplePaths",
            "spec.gracefulRestart.deferralTime",
            "spec.gracefulRestart.notificationEnabled",
            "spec.gracefulRestart.staleRoutesTime",
            "spec.gracefulRestart.peerRestartTime",
            "spec.policy"
        ]
    );
}

#[test]
fn every_unimplemented_bgppeer_field_is_listed() {
    let (peer, _) =
        unknown_fields::<BgpPeer>(&yaml(include_str!("../fixtures/openelb/bgppeer-full.yaml")))
            .unwrap();
    assert_eq!(
        peer.unsupported_fields(),
        [
            "spec.conf.peerGroup",
            "spec.conf.peerType",
            "spec.conf.removePrivateAs",
            "spec.conf.routeFlapDamping",
            "spec.conf.sendCommunity",
            "spec.conf.neighborInterface",
            "spec.conf.vrf",
            "spec.conf.allowOwnAs",
            "spec.conf.replacePeerAs",
            "spec.transport.mtuDiscovery",
            "spec.transport.tcpMss",
            "spec.afiSafis[].addPaths",
            "spec.afiSafis[].mpGracefulRestart",
        ]
    );
}

#[test]
fn zero_values_are_not_warnings() {
    let raw = serde_json::json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "p"},
        "spec": {
            "conf": {"neighborAddress": "10.0.0.1", "peerAs": 1, "peerGroup": "", "routeFlapDamping": false,
                     "removePrivateAs": "NONE", "vrf": ""},
            "timers": {"config": {"minimumAdvertisementInterval": "0"}},
            "transport": {"mtuDiscovery": false, "remoteAddress": "10.0.0.1", "tcpMss": 0},
            "gracefulRestart": {"enabled": false, "restartTime": 0},
            "afiSafis": [{"config": {"family": {"afi": "AFI_IP", "safi": "SAFI_UNICAST"}, "enabled": true},
                          "addPaths": {"config": {"receive": false, "sendMax": 0}},
                          "mpGracefulRestart": {"config": {"enabled": false}}}, {}]
        }
    });
    let (peer, unknown) = unknown_fields::<BgpPeer>(&raw).unwrap();
    assert!(unknown.is_empty());
    assert!(
        peer.unsupported_fields().is_empty(),
        "{:?}",
        peer.unsupported_fields()
    );
}

#[test]
fn other_families_and_remote_addresses_are_warnings() {
    let raw = serde_json::json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "p"},
        "spec": {
            "conf": {"neighborAddress": "10.0.0.1", "peerAs": 1},
            "transport": {"remoteAddress": "10.0.0.2"},
            "afiSafis": [{"config": {"family": {"afi": "AFI_IP6", "safi": "SAFI_UNICAST"}, "enabled": true}}]
        }
    });
    let (peer, _) = unknown_fields::<BgpPeer>(&raw).unwrap();
    assert_eq!(
        peer.unsupported_fields(),
        ["spec.transport.remoteAddress", "spec.afiSafis[].config"]
    );
}

#[test]
fn using_known_ips_true_is_a_warning() {
    let mut eip: Eip =
        serde_saphyr::from_str(include_str!("../fixtures/openelb/eip-namespaces.yaml")).unwrap();
    assert!(eip.unsupported_fields().is_empty());
    eip.spec.using_known_ips = Some(true);
    assert_eq!(eip.unsupported_fields(), ["spec.usingKnownIPs"]);
}

#[test]
fn graceful_restart_enabled_and_restart_time_are_implemented_the_rest_is_listed() {
    let with = |gr: serde_json::Value| {
        let raw = serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "p"},
            "spec": {"conf": {"neighborAddress": "10.0.0.1", "peerAs": 1}, "gracefulRestart": gr}
        });
        let (peer, unknown) = unknown_fields::<BgpPeer>(&raw).unwrap();
        assert!(unknown.is_empty());
        let mut conf = BgpConf::new("default", porter_api::BgpConfSpec::default());
        conf.spec.graceful_restart = peer.spec.graceful_restart.clone();
        assert_eq!(conf.unsupported_fields(), peer.unsupported_fields());
        peer.unsupported_fields()
    };
    assert!(with(serde_json::json!({"enabled": true, "restartTime": 300})).is_empty());
    assert_eq!(
        with(serde_json::json!({
            "enabled": true, "helperOnly": true, "deferralTime": 1, "notificationEnabled": true,
            "longlivedEnabled": true, "staleRoutesTime": 1, "peerRestartTime": 1, "peerRestarting": true,
            "localRestarting": true, "mode": "x"
        })),
        [
            "spec.gracefulRestart.helperOnly",
            "spec.gracefulRestart.deferralTime",
            "spec.gracefulRestart.notificationEnabled",
            "spec.gracefulRestart.longlivedEnabled",
            "spec.gracefulRestart.staleRoutesTime",
            "spec.gracefulRestart.peerRestartTime",
            "spec.gracefulRestart.peerRestarting",
            "spec.gracefulRestart.localRestarting",
            "spec.gracefulRestart.mode",
        ]
    );
}

#[test]
fn porter_additions_are_never_unsupported() {
    let raw = serde_json::json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "p"},
        "spec": {
            "conf": {"neighborAddress": "10.0.0.1", "peerAs": 1,
                     "authPasswordSecretRef": {"namespace": "kube-system", "name": "bgp", "key": "password"}},
            "transport": {"localAddress": "10.0.0.2", "ttlSecurity": true}
        }
    });
    let (peer, unknown) = unknown_fields::<BgpPeer>(&raw).unwrap();
    assert!(unknown.is_empty());
    assert!(peer.unsupported_fields().is_empty());
    let mut eip: Eip =
        serde_saphyr::from_str(include_str!("../fixtures/openelb/eip-bgp.yaml")).unwrap();
    eip.spec.bgp = Some(porter_api::EipBgp {
        communities: Some(vec!["no-export".into()]),
        ..porter_api::EipBgp::default()
    });
    assert!(eip.unsupported_fields().is_empty());
}
