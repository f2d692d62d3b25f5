//! Every validation rule (`porter_model::valid`): the field it names and the text it says.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use porter_api::annotations::DEFAULT_EIP_ANNOTATION;
use porter_api::{
    Bfd, BgpConf, BgpConfSpec, BgpPeer, BgpPeerSpec, EbgpMultihop, Eip, EipBgp, EipSpec,
    FieldError, GracefulRestart, PeerConf, ProtoUint, Protocol, SecretKeyRef, Timers, TimersConfig,
    Transport, format_errors,
};
use porter_bgp::{LinkBandwidth, RouteAttrs};
use porter_model::valid::{ValidBfd, ValidConf, ValidEip, Validate};

fn eip(address: &str) -> Eip {
    Eip::new(
        "pool",
        EipSpec {
            address: address.into(),
            ..EipSpec::default()
        },
    )
}

fn peer(conf: PeerConf) -> BgpPeer {
    BgpPeer::new(
        "tor",
        BgpPeerSpec {
            conf: Some(conf),
            ..BgpPeerSpec::default()
        },
    )
}

fn good_conf() -> PeerConf {
    PeerConf {
        neighbor_address: Some("192.168.0.5".into()),
        peer_as: Some(65000),
        ..PeerConf::default()
    }
}

fn timers(hold: Option<&str>, keepalive: Option<&str>, retry: Option<&str>) -> Option<Timers> {
    let s = |v: Option<&str>| v.map(|v| ProtoUint::String(v.into()));
    Some(Timers {
        config: Some(TimersConfig {
            hold_time: s(hold),
            keepalive_interval: s(keepalive),
            connect_retry: s(retry),
            connect_retry_max: None,
            minimum_advertisement_interval: None,
        }),
    })
}

fn conf(spec: BgpConfSpec) -> BgpConf {
    BgpConf::new("default", spec)
}

fn conf_as(asn: u32) -> BgpConfSpec {
    BgpConfSpec {
        as_number: Some(asn),
        ..BgpConfSpec::default()
    }
}

/// The single error of a failed validation, as (field, message).
fn one_error<T: std::fmt::Debug>(r: Result<T, Vec<FieldError>>) -> (String, String) {
    let errors = r.expect_err("validation should fail");
    assert_eq!(errors.len(), 1, "{errors:?}");
    (errors[0].field.clone(), errors[0].message.clone())
}

fn err(field: &str, message: &str) -> (String, String) {
    (field.to_owned(), message.to_owned())
}

// ---- Eip ----

#[test]
fn eip_accepts_openelb_address_forms_and_applies_defaults() {
    for (addr, size) in [
        ("192.168.0.100", 1),
        ("192.168.0.0/24", 256),
        ("192.168.0.91-192.168.0.100", 10),
        ("2001:db8::/120", 256),
    ] {
        let v = eip(addr).validate().unwrap();
        assert_eq!(v.range.size(), size, "{addr}");
        assert_eq!(v.protocol, Protocol::Bgp);
        assert!(!v.disabled && !v.is_default);
        assert_eq!(v.priority, 0);
        assert!(v.namespaces.is_empty() && v.namespace_selector.is_empty());
        assert_eq!(v.name, "pool");
        assert_eq!(v.route_attrs, RouteAttrs::default());
    }
}

#[test]
fn eip_carries_every_setting() {
    let mut e = eip("10.0.0.0/30");
    e.spec.protocol = Some(Protocol::Layer2);
    e.spec.interface = Some("eth1".into());
    e.spec.disable = Some(true);
    e.spec.priority = Some(-5);
    e.spec.namespaces = Some(vec!["a".into()]);
    e.spec.namespace_selector = Some(BTreeMap::from([("k".into(), "v".into())]));
    e.metadata.annotations = Some(BTreeMap::from([(
        DEFAULT_EIP_ANNOTATION.into(),
        "True".into(),
    )]));
    let v = e.validate().unwrap();
    assert_eq!(v.protocol, Protocol::Layer2);
    assert_eq!(v.interface.as_deref(), Some("eth1"));
    assert!(v.disabled && v.is_default);
    assert_eq!(v.priority, -5);
    assert_eq!(v.namespaces, ["a"]);
    assert_eq!(v.namespace_selector["k"], "v");
}

#[test]
fn eip_address_errors_quote_the_input() {
    assert_eq!(
        one_error(eip("10.0.0.5/24").validate()),
        err(
            "spec.address",
            "\"10.0.0.5/24\" has host bits set; did you mean \"10.0.0.0/24\"?"
        )
    );
    assert_eq!(
        one_error(eip("not-an-ip").validate()),
        err(
            "spec.address",
            "\"not-an-ip\" is not an IP address, a CIDR or a first-last range"
        )
    );
    assert_eq!(
        one_error(eip("10.0.0.9-10.0.0.1").validate()),
        err(
            "spec.address",
            "\"10.0.0.9-10.0.0.1\" has its first address greater than its last"
        )
    );
    assert_eq!(
        one_error(eip("10.0.0.1-2001:db8::1").validate()),
        err(
            "spec.address",
            "\"10.0.0.1-2001:db8::1\" mixes IPv4 and IPv6 addresses"
        )
    );
    let (field, _) = one_error(eip("").validate());
    assert_eq!(field, "spec.address");
}

#[test]
fn layer2_and_vip_without_an_interface_leave_it_to_each_node() {
    // OpenELB required spec.interface; Porter finds the interface whose subnet holds the address
    for p in [Protocol::Layer2, Protocol::Vip] {
        for interface in [None, Some("  ")] {
            let mut e = eip("10.0.0.1");
            e.spec.protocol = Some(p);
            e.spec.interface = interface.map(Into::into);
            assert_eq!(e.validate().unwrap().interface, None, "{p} {interface:?}");
        }
    }
}

#[test]
fn eip_reports_every_error_at_once() {
    let mut e = eip("bad");
    e.metadata.name = None;
    e.spec.protocol = Some(Protocol::Vip);
    e.spec.namespaces = Some(vec!["ok".into(), "".into()]);
    let errors = e.validate().unwrap_err();
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["metadata.name", "spec.address", "spec.namespaces[1]"]
    );
    assert_eq!(
        format_errors(&errors[..2]),
        "metadata.name: must be set; spec.address: \"bad\" is not an IP address, a CIDR or a first-last range"
    );
}

// ---- BgpConf ----

#[test]
fn bgpconf_defaults() {
    let v = conf(conf_as(50001)).validate().unwrap();
    assert_eq!(
        v,
        ValidConf {
            local_as: 50001,
            router_id: None,
            listen_port: Some(179),
            listen_addresses: vec![],
            graceful_restart: None,
        }
    );
}

#[test]
fn bgpconf_listen_port_forms() {
    for (port, want) in [
        (0, Some(179)),
        (17900, Some(17900)),
        (-1, None),
        (65535, Some(65535)),
    ] {
        let mut s = conf_as(1);
        s.listen_port = Some(port);
        assert_eq!(conf(s).validate().unwrap().listen_port, want, "{port}");
    }
    for port in [-2, 65536] {
        let mut s = conf_as(1);
        s.listen_port = Some(port);
        assert_eq!(
            one_error(conf(s).validate()),
            err(
                "spec.listenPort",
                &format!("{port} is out of range (-1 = do not listen, 0 = 179, or 1-65535)")
            )
        );
    }
}

#[test]
fn bgpconf_as_must_be_set() {
    for s in [BgpConfSpec::default(), conf_as(0)] {
        assert_eq!(
            one_error(conf(s).validate()),
            err("spec.as", "must be set (1-4294967295)")
        );
    }
}

#[test]
fn bgpconf_router_id_must_be_ipv4() {
    let with = |id: &str| {
        let mut s = conf_as(1);
        s.router_id = Some(id.into());
        conf(s).validate()
    };
    assert_eq!(
        with("10.0.0.1").unwrap().router_id,
        Some("10.0.0.1".parse().unwrap())
    );
    assert_eq!(with("").unwrap().router_id, None);
    assert_eq!(
        one_error(with("router1")),
        err("spec.routerId", "\"router1\" is not an IPv4 address")
    );
    assert_eq!(
        one_error(with("2001:db8::1")),
        err(
            "spec.routerId",
            "\"2001:db8::1\" is not an IPv4 address (a BGP identifier is 32 bits, even for IPv6)"
        )
    );
    assert_eq!(
        one_error(with("0.0.0.0")),
        err("spec.routerId", "0.0.0.0 is not a valid BGP identifier")
    );
}

#[test]
fn bgpconf_listen_addresses_must_be_ips() {
    let mut s = conf_as(1);
    s.listen_addresses = Some(vec!["0.0.0.0".into(), "::".into(), "eth0".into()]);
    assert_eq!(
        one_error(conf(s.clone()).validate()),
        err("spec.listenAddresses[2]", "\"eth0\" is not an IP address")
    );
    s.listen_addresses = Some(vec!["0.0.0.0".into(), "::".into()]);
    let want: Vec<IpAddr> = vec!["0.0.0.0".parse().unwrap(), "::".parse().unwrap()];
    assert_eq!(conf(s).validate().unwrap().listen_addresses, want);
}

// ---- BgpPeer ----

#[test]
fn bgppeer_defaults() {
    let v = peer(good_conf()).validate().unwrap();
    assert_eq!(v.name, "tor");
    assert_eq!(v.address, "192.168.0.5".parse::<IpAddr>().unwrap());
    assert_eq!(
        (v.peer_as, v.local_as, v.port, v.passive),
        (65000, None, 179, false)
    );
    assert_eq!(
        (v.hold_time, v.keepalive, v.connect_retry, v.multihop_ttl),
        (None, None, None, None)
    );
    assert_eq!((v.password.as_deref(), v.admin_down), (None, false));
    assert!(v.node_selector.is_none());
    assert_eq!(
        (
            &v.password_secret,
            v.local_address,
            v.ttl_security,
            v.graceful_restart,
            v.graceful_restart_off
        ),
        (&None, None, false, None, false)
    );
}

#[test]
fn bgppeer_carries_every_setting() {
    let mut p = peer(PeerConf {
        local_as: Some(65010),
        auth_password: Some("pw".into()),
        admin_down: Some(true),
        neighbor_address: Some("2001:db8::2".into()),
        ..good_conf()
    });
    p.spec.transport = Some(Transport {
        passive_mode: Some(true),
        remote_port: Some(1790),
        ..Transport::default()
    });
    p.spec.timers = timers(Some("9"), Some("3"), Some("5"));
    p.spec.ebgp_multihop = Some(EbgpMultihop {
        enabled: Some(true),
        multihop_ttl: Some(4),
    });
    p.spec.node_selector = Some(LabelSelector {
        match_labels: Some(BTreeMap::from([("rack".into(), "a".into())])),
        ..LabelSelector::default()
    });
    let v = p.validate().unwrap();
    assert_eq!(v.address, "2001:db8::2".parse::<IpAddr>().unwrap());
    assert_eq!(
        (v.local_as, v.port, v.passive, v.admin_down),
        (Some(65010), 1790, true, true)
    );
    assert_eq!(
        (v.hold_time, v.keepalive, v.connect_retry),
        (Some(9), Some(3), Some(5))
    );
    assert_eq!(v.multihop_ttl, Some(4));
    assert_eq!(v.password.as_deref(), Some("pw"));
    assert!(v.node_selector.is_some());
}

#[test]
fn bgppeer_without_conf_is_an_error_not_a_crash() {
    let p = BgpPeer::new("tor", BgpPeerSpec::default());
    assert_eq!(
        one_error(p.validate()),
        err(
            "spec.conf",
            "must be set (with at least neighborAddress and peerAs)"
        )
    );
}

#[test]
fn bgppeer_neighbor_address_and_as() {
    let p = peer(PeerConf {
        neighbor_address: None,
        ..good_conf()
    });
    assert_eq!(
        one_error(p.validate()),
        err("spec.conf.neighborAddress", "must be set")
    );
    let p = peer(PeerConf {
        neighbor_address: Some("tor1.example".into()),
        ..good_conf()
    });
    assert_eq!(
        one_error(p.validate()),
        err(
            "spec.conf.neighborAddress",
            "\"tor1.example\" is not an IP address"
        )
    );
    for asn in [None, Some(0)] {
        let p = peer(PeerConf {
            peer_as: asn,
            ..good_conf()
        });
        assert_eq!(
            one_error(p.validate()),
            err("spec.conf.peerAs", "must be set (1-4294967295)")
        );
    }
    let p = peer(PeerConf {
        peer_as: Some(u32::MAX),
        local_as: Some(0),
        ..good_conf()
    });
    let v = p.validate().unwrap();
    assert_eq!((v.peer_as, v.local_as), (u32::MAX, None));
}

#[test]
fn bgppeer_password_limit_does_not_echo_the_password() {
    let secret = "x".repeat(81);
    let p = peer(PeerConf {
        auth_password: Some(secret.clone()),
        ..good_conf()
    });
    let (field, message) = one_error(p.validate());
    assert_eq!(field, "spec.conf.authPassword");
    assert_eq!(message, "is longer than 80 bytes (the TCP-MD5 key limit)");
    assert!(!message.contains(&secret));
    let p = peer(PeerConf {
        auth_password: Some("x".repeat(80)),
        ..good_conf()
    });
    assert!(p.validate().is_ok());
}

#[test]
fn bgppeer_remote_port() {
    let with = |port| {
        let mut p = peer(good_conf());
        p.spec.transport = Some(Transport {
            remote_port: Some(port),
            ..Transport::default()
        });
        p.validate()
    };
    // Exactly the range the message states (the CRD schema allows 0-65535 too).
    assert_eq!(with(0).unwrap().port, 179);
    assert_eq!(with(1).unwrap().port, 1);
    assert_eq!(with(65535).unwrap().port, 65535);
    for port in [65536, 70000] {
        assert_eq!(
            one_error(with(port)),
            err(
                "spec.transport.remotePort",
                &format!("{port} is out of range (0 = 179, or 1-65535)")
            )
        );
    }
}

#[test]
fn bgppeer_timers() {
    let with = |hold, ka, retry| {
        let mut p = peer(good_conf());
        p.spec.timers = timers(hold, ka, retry);
        p.validate()
    };
    let f = "spec.timers.config";
    // 0 means "default", as in gobgp.
    let v = with(Some("0"), Some("0"), Some("0")).unwrap();
    assert_eq!(
        (v.hold_time, v.keepalive, v.connect_retry),
        (None, None, None)
    );
    assert_eq!(with(Some("3"), Some("1"), None).unwrap().hold_time, Some(3));
    assert_eq!(
        one_error(with(Some("2"), None, None)),
        err(
            &format!("{f}.holdTime"),
            "2 is out of range (0 = default, or 3-65535)"
        )
    );
    assert_eq!(
        one_error(with(Some("65536"), None, None)),
        err(
            &format!("{f}.holdTime"),
            "65536 is out of range (0 = default, or 3-65535)"
        )
    );
    assert_eq!(
        one_error(with(Some("ninety"), None, None)),
        err(&format!("{f}.holdTime"), "\"ninety\" is not an integer")
    );
    assert_eq!(
        one_error(with(None, None, Some("-1"))),
        err(&format!("{f}.connectRetry"), "\"-1\" is negative")
    );
    assert_eq!(
        one_error(with(Some("30"), Some("30"), None)),
        err(
            &format!("{f}.keepaliveInterval"),
            "30 must be less than the hold time (30)"
        )
    );
    assert_eq!(
        one_error(with(None, Some("90"), None)),
        err(
            &format!("{f}.keepaliveInterval"),
            "90 must be less than the hold time (default) (90)"
        )
    );
    assert_eq!(
        one_error(with(None, None, Some("4294967296"))),
        err(
            &format!("{f}.connectRetry"),
            "4294967296 is out of range (0 = default, or 1-4294967295)"
        )
    );
}

/// Timers as integers or as strings (OpenELB's Go types take both; porter-api's `compat` tests check that both
/// load and round-trip) validate to the same numbers. The peer is porter-api's OpenELB fixture `bgppeer.yaml`.
#[test]
fn integer_timers_validate_as_numbers() {
    let mut raw: serde_json::Value = serde_saphyr::from_str(
        "
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata:
  name: openelb-bgp-peer-leaf1
spec:
  conf:
    peerAs: 50000
    neighborAddress: 192.168.0.5
  afiSafis:
  - config:
      family:
        afi: AFI_IP
        safi: SAFI_UNICAST
      enabled: true
    addPaths:
      config:
        sendMax: 10
  nodeSelector:
    matchLabels:
      openelb.kubesphere.io/rack: leaf1
",
    )
    .unwrap();
    raw["spec"]["timers"] =
        serde_json::json!({"config": {"holdTime": 90, "keepaliveInterval": "30"}});
    let peer: BgpPeer = serde_json::from_value(raw).unwrap();
    let valid = peer.validate().unwrap();
    assert_eq!((valid.hold_time, valid.keepalive), (Some(90), Some(30)));
}

/// Each timer accepts exactly the range its message states: its bounds pass, the values just outside fail.
#[test]
fn bgppeer_hold_time_range() {
    let with = |hold: &str| {
        let mut p = peer(good_conf());
        p.spec.timers = timers(Some(hold), None, None);
        p.validate()
    };
    assert_eq!(with("0").unwrap().hold_time, None);
    assert_eq!(with("3").unwrap().hold_time, Some(3));
    assert_eq!(with("65535").unwrap().hold_time, Some(65535));
    for hold in ["1", "2", "65536"] {
        assert_eq!(
            one_error(with(hold)),
            err(
                "spec.timers.config.holdTime",
                &format!("{hold} is out of range (0 = default, or 3-65535)")
            )
        );
    }
}

#[test]
fn bgppeer_keepalive_interval_range() {
    let with = |hold: &str, keepalive: &str| {
        let mut p = peer(good_conf());
        p.spec.timers = timers(Some(hold), Some(keepalive), None);
        p.validate()
    };
    assert_eq!(with("90", "0").unwrap().keepalive, None);
    assert_eq!(with("90", "1").unwrap().keepalive, Some(1));
    // 65534 is the largest keepalive below a hold time (at most 65535).
    assert_eq!(with("65535", "65534").unwrap().keepalive, Some(65534));
    for keepalive in ["65535", "65536"] {
        assert_eq!(
            one_error(with("65535", keepalive)),
            err(
                "spec.timers.config.keepaliveInterval",
                &format!("{keepalive} is out of range (0 = default, or 1-65534)")
            )
        );
    }
}

#[test]
fn bgppeer_connect_retry_range() {
    let with = |retry: &str| {
        let mut p = peer(good_conf());
        p.spec.timers = timers(None, None, Some(retry));
        p.validate()
    };
    assert_eq!(with("0").unwrap().connect_retry, None);
    assert_eq!(with("1").unwrap().connect_retry, Some(1));
    assert_eq!(with("4294967295").unwrap().connect_retry, Some(u32::MAX));
    assert_eq!(
        one_error(with("4294967296")),
        err(
            "spec.timers.config.connectRetry",
            "4294967296 is out of range (0 = default, or 1-4294967295)"
        )
    );
}

#[test]
fn bgppeer_connect_retry_max_range_and_order() {
    let with = |retry: Option<&str>, max: &str| {
        let mut p = peer(good_conf());
        p.spec.timers = timers(None, None, retry);
        if let Some(c) = p.spec.timers.as_mut().and_then(|t| t.config.as_mut()) {
            c.connect_retry_max = Some(ProtoUint::String(max.into()));
        }
        p.validate()
    };
    let f = "spec.timers.config.connectRetryMax";
    assert_eq!(with(None, "0").unwrap().connect_retry_max, None);
    assert_eq!(with(None, "1").unwrap().connect_retry_max, Some(1));
    assert_eq!(with(Some("5"), "5").unwrap().connect_retry_max, Some(5));
    assert_eq!(with(None, "86400").unwrap().connect_retry_max, Some(86_400));
    assert_eq!(
        one_error(with(None, "86401")),
        err(
            f,
            "86401 is out of range (0 = default (60), or 1-86400 seconds)"
        )
    );
    assert_eq!(
        one_error(with(None, "soon")),
        err(f, "\"soon\" is not an integer")
    );
    assert_eq!(
        one_error(with(Some("30"), "10")),
        err(
            f,
            "10 must not be below spec.timers.config.connectRetry (30): it is the ceiling the retry delay grows to"
        )
    );
}

#[test]
fn bgppeer_minimum_advertisement_interval_must_still_be_an_integer() {
    let mut p = peer(good_conf());
    p.spec.timers = Some(Timers {
        config: Some(TimersConfig {
            minimum_advertisement_interval: Some(ProtoUint::String("soon".into())),
            ..TimersConfig::default()
        }),
    });
    assert_eq!(
        one_error(p.validate()),
        err(
            "spec.timers.config.minimumAdvertisementInterval",
            "\"soon\" is not an integer"
        )
    );
}

#[test]
fn bgppeer_multihop_ttl() {
    let with = |enabled, ttl| {
        let mut p = peer(good_conf());
        p.spec.ebgp_multihop = Some(EbgpMultihop {
            enabled,
            multihop_ttl: ttl,
        });
        p.validate()
    };
    assert_eq!(with(Some(true), None).unwrap().multihop_ttl, Some(255));
    assert_eq!(with(Some(true), Some(0)).unwrap().multihop_ttl, Some(255));
    assert_eq!(with(Some(true), Some(1)).unwrap().multihop_ttl, Some(1));
    assert_eq!(with(Some(true), Some(255)).unwrap().multihop_ttl, Some(255));
    assert_eq!(with(Some(false), Some(5)).unwrap().multihop_ttl, None);
    // Exactly the range the message states (the CRD schema allows 0-255 too).
    assert_eq!(
        one_error(with(Some(true), Some(256))),
        err(
            "spec.ebgpMultihop.multihopTtl",
            "256 is out of range (0 = 255, or 1-255)"
        )
    );
}

#[test]
fn bgppeer_node_selector_expressions() {
    let with = |op: &str, values: Option<Vec<String>>| {
        let mut p = peer(good_conf());
        p.spec.node_selector = Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "rack".into(),
                operator: op.into(),
                values,
            }]),
            match_labels: None,
        });
        p.validate()
    };
    let some = || Some(vec!["a".to_string()]);
    assert!(with("In", some()).is_ok());
    assert!(with("Exists", None).is_ok());
    let f = "spec.nodeSelector.matchExpressions[0]";
    assert_eq!(
        one_error(with("In", Some(vec![]))),
        err(&format!("{f}.values"), "must not be empty for operator In")
    );
    assert_eq!(
        one_error(with("DoesNotExist", some())),
        err(
            &format!("{f}.values"),
            "must be empty for operator DoesNotExist"
        )
    );
    assert_eq!(
        one_error(with("Equals", some())),
        err(
            &format!("{f}.operator"),
            "\"Equals\" is not one of In, NotIn, Exists, DoesNotExist"
        )
    );
}

// ---- Porter additions: Eip spec.bgp ----

const WELL_KNOWN: &str = "no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr";

fn eip_bgp(bgp: EipBgp) -> Result<ValidEip, Vec<FieldError>> {
    let mut e = eip("10.0.0.0/24");
    e.spec.bgp = Some(bgp);
    e.validate()
}

#[test]
fn eip_bgp_attributes_become_route_attrs() {
    let v = eip_bgp(EipBgp {
        communities: Some(vec![
            "65000:100".into(),
            "no-export".into(),
            "65000:100".into(),
        ]),
        large_communities: Some(vec!["65000:1:2".into()]),
        med: Some(10),
        local_pref: Some(200),
        link_bandwidth: Some("10G".into()),
        link_bandwidth_per_endpoint: Some("1M".into()),
    })
    .unwrap();
    assert_eq!(
        v.route_attrs,
        RouteAttrs {
            med: Some(10),
            local_pref: Some(200),
            communities: [65000 << 16 | 100, 0xFFFF_FF01].into(),
            large_communities: [[65000, 1, 2]].into(),
            link_bandwidth: Some(LinkBandwidth {
                bytes_per_second: 1_250_000_000
            }),
        }
    );
    assert_eq!(
        v.link_bandwidth_per_endpoint,
        Some(LinkBandwidth {
            bytes_per_second: 125_000
        })
    );
    // Empty lists and an empty bandwidth are no attributes.
    let v = eip_bgp(EipBgp {
        communities: Some(vec![]),
        link_bandwidth: Some(" ".into()),
        link_bandwidth_per_endpoint: Some("".into()),
        ..EipBgp::default()
    })
    .unwrap();
    assert_eq!(v.route_attrs, RouteAttrs::default());
    assert_eq!(v.link_bandwidth_per_endpoint, None);
}

#[test]
fn eip_bgp_errors_name_the_entry() {
    assert_eq!(
        one_error(eip_bgp(EipBgp {
            communities: Some(vec!["no-export".into(), "65000:abc".into()]),
            ..EipBgp::default()
        })),
        err(
            "spec.bgp.communities[1]",
            &format!(
                "invalid community \"65000:abc\": \"abc\" is not a decimal number; expected ASN:VALUE (each 0..=65535) or one of {WELL_KNOWN}"
            )
        )
    );
    assert_eq!(
        one_error(eip_bgp(EipBgp {
            communities: Some(vec!["no-exprot".into()]),
            ..EipBgp::default()
        })),
        err(
            "spec.bgp.communities[0]",
            &format!(
                "invalid community \"no-exprot\": 1 colon-separated parts, not 2; expected ASN:VALUE (each 0..=65535) or one of {WELL_KNOWN}"
            )
        )
    );
    assert_eq!(
        one_error(eip_bgp(EipBgp {
            large_communities: Some(vec!["65000:1:2".into(), "65000:1:4294967296".into()]),
            ..EipBgp::default()
        })),
        err(
            "spec.bgp.largeCommunities[1]",
            "invalid large community \"65000:1:4294967296\": 4294967296 is out of range; expected GLOBAL:LOCAL1:LOCAL2 (each 0..=4294967295)"
        )
    );
    assert_eq!(
        one_error(eip_bgp(EipBgp {
            link_bandwidth: Some("10Gbps".into()),
            ..EipBgp::default()
        })),
        err(
            "spec.bgp.linkBandwidth",
            "\"10Gbps\" is not a bandwidth: expected bits per second with an optional K, M, G or T suffix, e.g. 10G, 2.5G, 100M or 1250000000"
        )
    );
    assert_eq!(
        one_error(eip_bgp(EipBgp {
            link_bandwidth: Some("100G".into()),
            ..EipBgp::default()
        })),
        err(
            "spec.bgp.linkBandwidth",
            "\"100G\" is more than the largest link bandwidth Porter can send (34359738360 bits per second, 2^32-1 bytes per second)"
        )
    );
    assert_eq!(
        one_error(eip_bgp(EipBgp {
            link_bandwidth: Some("4".into()),
            ..EipBgp::default()
        })),
        err(
            "spec.bgp.linkBandwidth",
            "\"4\" is less than 8 bits per second, the smallest link bandwidth (1 byte per second)"
        )
    );
    assert_eq!(
        one_error(eip_bgp(EipBgp {
            link_bandwidth_per_endpoint: Some("1 per pod".into()),
            ..EipBgp::default()
        })),
        err(
            "spec.bgp.linkBandwidthPerEndpoint",
            "\"1 per pod\" is not a bandwidth: expected bits per second with an optional K, M, G or T suffix, e.g. 10G, 2.5G, 100M or 1250000000"
        )
    );
    // Every bad entry at once, with the other errors of the Eip.
    let mut e = eip("bad");
    e.spec.bgp = Some(EipBgp {
        communities: Some(vec!["x".into(), "1:1".into(), "y".into()]),
        large_communities: Some(vec!["z".into()]),
        link_bandwidth: Some("fast".into()),
        link_bandwidth_per_endpoint: Some("0".into()),
        ..EipBgp::default()
    });
    let fields: Vec<String> = e
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "spec.address",
            "spec.bgp.communities[0]",
            "spec.bgp.communities[2]",
            "spec.bgp.largeCommunities[0]",
            "spec.bgp.linkBandwidth",
            "spec.bgp.linkBandwidthPerEndpoint"
        ]
    );
}

// ---- graceful restart ----

fn gr(enabled: Option<bool>, restart_time: Option<u32>) -> Option<GracefulRestart> {
    Some(GracefulRestart {
        enabled,
        restart_time,
        ..GracefulRestart::default()
    })
}

#[test]
fn bgpconf_graceful_restart() {
    let with = |g| {
        let mut s = conf_as(1);
        s.graceful_restart = g;
        conf(s).validate()
    };
    assert_eq!(with(None).unwrap().graceful_restart, None);
    assert_eq!(
        with(gr(Some(true), None)).unwrap().graceful_restart,
        Some(120)
    );
    assert_eq!(
        with(gr(Some(true), Some(0))).unwrap().graceful_restart,
        Some(120)
    );
    assert_eq!(
        with(gr(Some(true), Some(1))).unwrap().graceful_restart,
        Some(1)
    );
    assert_eq!(
        with(gr(Some(true), Some(4095))).unwrap().graceful_restart,
        Some(4095)
    );
    // Not enabled: off, and the restart time is not checked (it means nothing).
    assert_eq!(with(gr(None, Some(300))).unwrap().graceful_restart, None);
    assert_eq!(
        with(gr(Some(false), Some(99999))).unwrap().graceful_restart,
        None
    );
    for t in [4096, 70000] {
        assert_eq!(
            one_error(with(gr(Some(true), Some(t)))),
            err(
                "spec.gracefulRestart.restartTime",
                &format!("{t} is out of range (1-4095 seconds, or 0/unset = 120)")
            )
        );
    }
}

#[test]
fn bgppeer_graceful_restart_on_off_or_inherited() {
    let with = |g| {
        let mut p = peer(good_conf());
        p.spec.graceful_restart = g;
        p.validate()
    };
    let v = with(None).unwrap();
    assert_eq!((v.graceful_restart, v.graceful_restart_off), (None, false));
    let v = with(gr(Some(true), Some(300))).unwrap();
    assert_eq!(
        (v.graceful_restart, v.graceful_restart_off),
        (Some(300), false)
    );
    let v = with(gr(Some(true), None)).unwrap();
    assert_eq!(v.graceful_restart, Some(120));
    let v = with(gr(Some(false), Some(300))).unwrap();
    assert_eq!((v.graceful_restart, v.graceful_restart_off), (None, true));
    // `restartTime` without `enabled`: not a decision, so the BgpConf's setting is inherited.
    let v = with(gr(None, Some(300))).unwrap();
    assert_eq!((v.graceful_restart, v.graceful_restart_off), (None, false));
    assert_eq!(
        one_error(with(gr(Some(true), Some(5000)))),
        err(
            "spec.gracefulRestart.restartTime",
            "5000 is out of range (1-4095 seconds, or 0/unset = 120)"
        )
    );
}

// ---- BgpPeer password Secret, local address, TTL security ----

fn secret_ref(namespace: &str, name: &str, key: &str) -> SecretKeyRef {
    SecretKeyRef {
        namespace: namespace.into(),
        name: name.into(),
        key: key.into(),
    }
}

#[test]
fn bgppeer_password_from_a_secret() {
    let r = secret_ref("kube-system", "bgp", "password");
    let v = peer(PeerConf {
        auth_password_secret_ref: Some(r.clone()),
        ..good_conf()
    })
    .validate()
    .unwrap();
    assert_eq!((v.password_secret, v.password), (Some(r.clone()), None));
    // An empty plain-text password counts as unset, as before.
    let v = peer(PeerConf {
        auth_password: Some(String::new()),
        auth_password_secret_ref: Some(r.clone()),
        ..good_conf()
    })
    .validate()
    .unwrap();
    assert_eq!(v.password_secret, Some(r.clone()));
    let (field, message) = one_error(
        peer(PeerConf {
            auth_password: Some("s3cret".into()),
            auth_password_secret_ref: Some(r),
            ..good_conf()
        })
        .validate(),
    );
    assert_eq!(field, "spec.conf.authPasswordSecretRef");
    assert_eq!(
        message,
        "conflicts with spec.conf.authPassword: set only one (authPasswordSecretRef keeps the password out of the BgpPeer)"
    );
    assert!(!message.contains("s3cret"));
    let errors = peer(PeerConf {
        auth_password_secret_ref: Some(secret_ref("", " ", "")),
        ..good_conf()
    })
    .validate()
    .unwrap_err();
    assert_eq!(
        format_errors(&errors),
        "spec.conf.authPasswordSecretRef.namespace: must be set; spec.conf.authPasswordSecretRef.name: must be set; spec.conf.authPasswordSecretRef.key: must be set"
    );
}

fn transport(local: Option<&str>, ttl_security: Option<bool>) -> Option<Transport> {
    Some(Transport {
        local_address: local.map(Into::into),
        ttl_security,
        ..Transport::default()
    })
}

#[test]
fn bgppeer_local_address() {
    let with = |neighbor: &str, local: &str| {
        let mut p = peer(PeerConf {
            neighbor_address: Some(neighbor.into()),
            ..good_conf()
        });
        p.spec.transport = transport(Some(local), None);
        p.validate()
    };
    assert_eq!(
        with("10.0.0.1", " 10.0.0.2 ").unwrap().local_address,
        Some("10.0.0.2".parse().unwrap())
    );
    assert_eq!(
        with("2001:db8::1", "2001:db8::2").unwrap().local_address,
        Some("2001:db8::2".parse().unwrap())
    );
    assert_eq!(with("10.0.0.1", "").unwrap().local_address, None);
    assert_eq!(
        one_error(with("10.0.0.1", "eth0")),
        err(
            "spec.transport.localAddress",
            "\"eth0\" is not an IP address"
        )
    );
    assert_eq!(
        one_error(with("10.0.0.1", "2001:db8::2")),
        err(
            "spec.transport.localAddress",
            "2001:db8::2 is IPv6 but spec.conf.neighborAddress 10.0.0.1 is IPv4: the session's two ends must be of one family"
        )
    );
    assert_eq!(
        one_error(with("2001:db8::1", "10.0.0.2")),
        err(
            "spec.transport.localAddress",
            "10.0.0.2 is IPv4 but spec.conf.neighborAddress 2001:db8::1 is IPv6: the session's two ends must be of one family"
        )
    );
}

#[test]
fn bgppeer_ttl_security() {
    let with = |ttl: Option<bool>, multihop: Option<bool>| {
        let mut p = peer(good_conf());
        p.spec.transport = transport(None, ttl);
        p.spec.ebgp_multihop = multihop.map(|enabled| EbgpMultihop {
            enabled: Some(enabled),
            multihop_ttl: None,
        });
        p.validate()
    };
    assert!(with(Some(true), None).unwrap().ttl_security);
    assert!(!with(Some(false), Some(true)).unwrap().ttl_security);
    assert!(with(Some(true), Some(false)).unwrap().ttl_security);
    assert_eq!(
        one_error(with(Some(true), Some(true))),
        err(
            "spec.transport.ttlSecurity",
            "conflicts with spec.ebgpMultihop.enabled: TTL security (GTSM) accepts only a directly connected neighbor; set only one"
        )
    );
}

#[test]
fn bgppeer_bfd() {
    let with = |bfd: Bfd, multihop: Option<bool>| {
        let mut p = peer(good_conf());
        p.spec.bfd = Some(bfd);
        p.spec.ebgp_multihop = multihop.map(|enabled| EbgpMultihop {
            enabled: Some(enabled),
            multihop_ttl: None,
        });
        p.validate()
    };
    let on = || Bfd {
        enabled: Some(true),
        ..Bfd::default()
    };
    // Defaults: 300 ms × 3, active, single hop.
    assert_eq!(
        with(on(), None).unwrap().bfd,
        Some(ValidBfd {
            receive_interval: Duration::from_millis(300),
            transmit_interval: Duration::from_millis(300),
            detect_multiplier: 3,
            passive: false,
            multihop: false,
        })
    );
    // Not enabled: none, whatever else is set (even out of range).
    let off = Bfd {
        enabled: Some(false),
        detect_multiplier: Some(0),
        ..Bfd::default()
    };
    assert_eq!(with(off, None).unwrap().bfd, None);
    assert_eq!(with(Bfd::default(), None).unwrap().bfd, None);
    // Multihop follows ebgpMultihop unless set.
    assert!(with(on(), Some(true)).unwrap().bfd.unwrap().multihop);
    let single = Bfd {
        multihop: Some(false),
        ..on()
    };
    assert!(!with(single, Some(true)).unwrap().bfd.unwrap().multihop);
    let custom = Bfd {
        receive_interval: Some(50),
        transmit_interval: Some(100),
        detect_multiplier: Some(5),
        passive_mode: Some(true),
        ..on()
    };
    let valid = with(custom, None).unwrap().bfd.unwrap();
    assert_eq!(
        (
            valid.receive_interval,
            valid.transmit_interval,
            valid.detect_multiplier,
            valid.passive
        ),
        (
            Duration::from_millis(50),
            Duration::from_millis(100),
            5,
            true
        )
    );
    // Out of range: each named.
    let bad = Bfd {
        receive_interval: Some(9),
        transmit_interval: Some(60_001),
        detect_multiplier: Some(1),
        ..on()
    };
    let errors: Vec<String> = with(bad, None)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "spec.bfd.receiveInterval: 9 is out of range (10-60000 milliseconds)",
            "spec.bfd.transmitInterval: 60001 is out of range (10-60000 milliseconds)",
            "spec.bfd.detectMultiplier: 1 is out of range (2-255)",
        ]
    );
}
