//! Every field of the CRDs Porter serves is either read by Porter (the table names the reader) or
//! reported as unsupported when set (`unsupported_fields()`, surfaced by the speaker as a plan
//! problem logged at WARN, and by the controller in the Eip's `Ready` message). A field added to a
//! schema without an entry here fails the test, so a silently ignored field cannot come back.

use porter_api::{BgpConf, BgpPeer, Eip, crds};
use porter_model::announce::{Problem, plan};
use serde_json::{Value, json};

use crate::fixtures::{bgp_conf, bgp_peer, node, snapshot};

/// What Porter does with a field.
#[derive(Debug, Clone, Copy)]
enum Use {
    /// Read by the named code (and checked by `porter_model::valid` where it can be wrong).
    Read(&'static str),
    /// Not implemented: setting it is reported under this path by `unsupported_fields()`.
    Unsupported(&'static str),
}
use Use::{Read, Unsupported};

const EIP: &[(&str, Use)] = &[
    ("spec.address", Read("valid: ValidEip::range -> IPAM pools")),
    (
        "spec.protocol",
        Read("valid: ValidEip::protocol -> layer2::plan (layer2/vip) or announce (bgp)"),
    ),
    (
        "spec.interface",
        Read("valid: ValidEip::interface -> layer2::Layer2Address::interface"),
    ),
    (
        "spec.disable",
        Read("valid: ValidEip::disabled -> PoolOptions::disabled"),
    ),
    ("spec.usingKnownIPs", Unsupported("spec.usingKnownIPs")),
    (
        "spec.avoidBuggyIPs",
        Read("valid: ValidEip::avoid_buggy_ips -> PoolOptions::avoid_buggy_ips"),
    ),
    (
        "spec.priority",
        Read("valid: ValidEip::priority -> assign::intent pool order"),
    ),
    (
        "spec.namespaces",
        Read("valid: ValidEip::namespaces -> assign::intent"),
    ),
    (
        "spec.namespaceSelector",
        Read("valid: ValidEip::namespace_selector -> assign::intent"),
    ),
    (
        "spec.bgp.communities",
        Read("valid: ValidEip::route_attrs -> announce"),
    ),
    (
        "spec.bgp.largeCommunities",
        Read("valid: ValidEip::route_attrs -> announce"),
    ),
    (
        "spec.bgp.med",
        Read("valid: ValidEip::route_attrs -> announce"),
    ),
    (
        "spec.bgp.localPref",
        Read("valid: ValidEip::route_attrs -> announce"),
    ),
    (
        "spec.bgp.linkBandwidth",
        Read("valid: ValidEip::route_attrs -> announce"),
    ),
    (
        "spec.bgp.linkBandwidthPerEndpoint",
        Read("valid: ValidEip::link_bandwidth_per_endpoint -> announce"),
    ),
];

const BGP_CONF: &[(&str, Use)] = &[
    (
        "spec.as",
        Read("valid: ValidConf::local_as -> SessionConfig::local_as"),
    ),
    ("spec.asPerRack", Unsupported("spec.asPerRack")),
    (
        "spec.routerId",
        Read("valid: ValidConf::router_id -> SessionConfig::router_id"),
    ),
    (
        "spec.listenPort",
        Read("valid: ValidConf::listen_port -> speaker listener"),
    ),
    (
        "spec.listenAddresses",
        Read("valid: ValidConf::listen_addresses -> speaker listener, one socket each"),
    ),
    ("spec.families", Unsupported("spec.families")),
    (
        "spec.useMultiplePaths",
        Unsupported("spec.useMultiplePaths"),
    ),
    (
        "spec.gracefulRestart.enabled",
        Read("valid: ValidConf::graceful_restart -> SessionConfig::graceful_restart"),
    ),
    (
        "spec.gracefulRestart.restartTime",
        Read("valid: ValidConf::graceful_restart -> SessionConfig::graceful_restart"),
    ),
    (
        "spec.gracefulRestart.helperOnly",
        Unsupported("spec.gracefulRestart.helperOnly"),
    ),
    (
        "spec.gracefulRestart.deferralTime",
        Unsupported("spec.gracefulRestart.deferralTime"),
    ),
    (
        "spec.gracefulRestart.notificationEnabled",
        Unsupported("spec.gracefulRestart.notificationEnabled"),
    ),
    (
        "spec.gracefulRestart.longlivedEnabled",
        Unsupported("spec.gracefulRestart.longlivedEnabled"),
    ),
    (
        "spec.gracefulRestart.staleRoutesTime",
        Unsupported("spec.gracefulRestart.staleRoutesTime"),
    ),
    (
        "spec.gracefulRestart.peerRestartTime",
        Unsupported("spec.gracefulRestart.peerRestartTime"),
    ),
    (
        "spec.gracefulRestart.peerRestarting",
        Unsupported("spec.gracefulRestart.peerRestarting"),
    ),
    (
        "spec.gracefulRestart.localRestarting",
        Unsupported("spec.gracefulRestart.localRestarting"),
    ),
    (
        "spec.gracefulRestart.mode",
        Unsupported("spec.gracefulRestart.mode"),
    ),
    ("spec.policy", Unsupported("spec.policy")),
];

const BGP_PEER: &[(&str, Use)] = &[
    (
        "spec.conf.authPassword",
        Read("valid: ValidPeer::password -> TCP MD5 key (transport, listener)"),
    ),
    (
        "spec.conf.authPasswordSecretRef.namespace",
        Read("announce::resolve_password"),
    ),
    (
        "spec.conf.authPasswordSecretRef.name",
        Read("announce::resolve_password"),
    ),
    (
        "spec.conf.authPasswordSecretRef.key",
        Read("announce::resolve_password"),
    ),
    (
        "spec.conf.description",
        Read("free text for people: nothing to apply"),
    ),
    (
        "spec.conf.localAs",
        Read("valid: ValidPeer::local_as -> SessionConfig::local_as"),
    ),
    (
        "spec.conf.neighborAddress",
        Read("valid: ValidPeer::address -> SessionConfig::peer_addr"),
    ),
    (
        "spec.conf.peerAs",
        Read("valid: ValidPeer::peer_as -> SessionConfig::peer_as"),
    ),
    ("spec.conf.peerGroup", Unsupported("spec.conf.peerGroup")),
    ("spec.conf.peerType", Unsupported("spec.conf.peerType")),
    (
        "spec.conf.removePrivateAs",
        Unsupported("spec.conf.removePrivateAs"),
    ),
    (
        "spec.conf.routeFlapDamping",
        Unsupported("spec.conf.routeFlapDamping"),
    ),
    (
        "spec.conf.sendCommunity",
        Unsupported("spec.conf.sendCommunity"),
    ),
    (
        "spec.conf.neighborInterface",
        Unsupported("spec.conf.neighborInterface"),
    ),
    ("spec.conf.vrf", Unsupported("spec.conf.vrf")),
    ("spec.conf.allowOwnAs", Unsupported("spec.conf.allowOwnAs")),
    (
        "spec.conf.replacePeerAs",
        Unsupported("spec.conf.replacePeerAs"),
    ),
    (
        "spec.conf.adminDown",
        Read("valid: ValidPeer::admin_down -> no session; connections refused with Cease/5"),
    ),
    (
        "spec.ebgpMultihop.enabled",
        Read("valid: ValidPeer::multihop_ttl -> transport TTL"),
    ),
    (
        "spec.ebgpMultihop.multihopTtl",
        Read("valid: ValidPeer::multihop_ttl -> transport TTL"),
    ),
    (
        "spec.timers.config.connectRetry",
        Read("valid: ValidPeer::connect_retry -> SessionConfig::connect_retry"),
    ),
    (
        "spec.timers.config.connectRetryMax",
        Read("valid: ValidPeer::connect_retry_max -> SessionConfig::connect_retry_max"),
    ),
    (
        "spec.timers.config.holdTime",
        Read("valid: ValidPeer::hold_time -> SessionConfig::hold_time"),
    ),
    (
        "spec.timers.config.keepaliveInterval",
        Read("valid: ValidPeer::keepalive -> SessionConfig::keepalive"),
    ),
    (
        "spec.timers.config.minimumAdvertisementInterval",
        Unsupported("spec.timers.config.minimumAdvertisementInterval"),
    ),
    (
        "spec.transport.mtuDiscovery",
        Unsupported("spec.transport.mtuDiscovery"),
    ),
    (
        "spec.transport.passiveMode",
        Read("valid: ValidPeer::passive -> SessionConfig::passive"),
    ),
    (
        "spec.transport.remoteAddress",
        Unsupported("spec.transport.remoteAddress"),
    ),
    (
        "spec.transport.remotePort",
        Read("valid: ValidPeer::port -> the dialled port"),
    ),
    (
        "spec.transport.tcpMss",
        Unsupported("spec.transport.tcpMss"),
    ),
    (
        "spec.transport.localAddress",
        Read("valid: ValidPeer::local_address -> transport bind"),
    ),
    (
        "spec.transport.ttlSecurity",
        Read("valid: ValidPeer::ttl_security -> transport GTSM"),
    ),
    (
        "spec.gracefulRestart.enabled",
        Read("valid: ValidPeer::graceful_restart -> SessionConfig::graceful_restart"),
    ),
    (
        "spec.gracefulRestart.restartTime",
        Read("valid: ValidPeer::graceful_restart -> SessionConfig::graceful_restart"),
    ),
    (
        "spec.gracefulRestart.helperOnly",
        Unsupported("spec.gracefulRestart.helperOnly"),
    ),
    (
        "spec.gracefulRestart.deferralTime",
        Unsupported("spec.gracefulRestart.deferralTime"),
    ),
    (
        "spec.gracefulRestart.notificationEnabled",
        Unsupported("spec.gracefulRestart.notificationEnabled"),
    ),
    (
        "spec.gracefulRestart.longlivedEnabled",
        Unsupported("spec.gracefulRestart.longlivedEnabled"),
    ),
    (
        "spec.gracefulRestart.staleRoutesTime",
        Unsupported("spec.gracefulRestart.staleRoutesTime"),
    ),
    (
        "spec.gracefulRestart.peerRestartTime",
        Unsupported("spec.gracefulRestart.peerRestartTime"),
    ),
    (
        "spec.gracefulRestart.peerRestarting",
        Unsupported("spec.gracefulRestart.peerRestarting"),
    ),
    (
        "spec.gracefulRestart.localRestarting",
        Unsupported("spec.gracefulRestart.localRestarting"),
    ),
    (
        "spec.gracefulRestart.mode",
        Unsupported("spec.gracefulRestart.mode"),
    ),
    (
        "spec.bfd.enabled",
        Read("valid: ValidPeer::bfd -> speaker bfd/ session, tied to the BGP session"),
    ),
    (
        "spec.bfd.receiveInterval",
        Read("valid: ValidBfd::receive_interval -> porter_bfd::Config::required_min_rx"),
    ),
    (
        "spec.bfd.transmitInterval",
        Read("valid: ValidBfd::transmit_interval -> porter_bfd::Config::desired_min_tx"),
    ),
    (
        "spec.bfd.detectMultiplier",
        Read("valid: ValidBfd::detect_multiplier -> porter_bfd::Config::detect_mult"),
    ),
    (
        "spec.bfd.passiveMode",
        Read("valid: ValidBfd::passive -> porter_bfd::Config::passive"),
    ),
    (
        "spec.bfd.multihop",
        Read("valid: ValidBfd::multihop -> speaker bfd/ port 4784, no TTL check"),
    ),
    (
        "spec.afiSafis[].mpGracefulRestart.config.enabled",
        Unsupported("spec.afiSafis[].mpGracefulRestart"),
    ),
    (
        "spec.afiSafis[].config.family.afi",
        Unsupported("spec.afiSafis[].config"),
    ),
    (
        "spec.afiSafis[].config.family.safi",
        Unsupported("spec.afiSafis[].config"),
    ),
    (
        "spec.afiSafis[].config.enabled",
        Unsupported("spec.afiSafis[].config"),
    ),
    (
        "spec.afiSafis[].addPaths.config.receive",
        Unsupported("spec.afiSafis[].addPaths"),
    ),
    (
        "spec.afiSafis[].addPaths.config.sendMax",
        Unsupported("spec.afiSafis[].addPaths"),
    ),
    (
        "spec.nodeSelector.matchLabels",
        Read("valid: ValidPeer::node_selector -> announce (selector::matches)"),
    ),
    (
        "spec.nodeSelector.matchExpressions[].key",
        Read("valid: ValidPeer::node_selector -> announce (selector::matches)"),
    ),
    (
        "spec.nodeSelector.matchExpressions[].operator",
        Read("valid: ValidPeer::node_selector -> announce (selector::matches)"),
    ),
    (
        "spec.nodeSelector.matchExpressions[].values",
        Read("valid: ValidPeer::node_selector -> announce (selector::matches)"),
    ),
];

/// The leaf fields under `spec` of a CRD schema, as `spec.a.b` paths (`[]` for list items).
fn leaves(path: &str, node: &Value, out: &mut Vec<(String, Value)>) {
    if let Some(Value::Object(props)) = node.get("properties") {
        for (k, v) in props {
            leaves(&format!("{path}.{k}"), v, out);
        }
    } else if node.get("type") == Some(&json!("array")) && node["items"].get("properties").is_some()
    {
        leaves(&format!("{path}[]"), &node["items"], out);
    } else {
        out.push((path.to_owned(), node.clone()));
    }
}

fn spec_leaves(kind: &str) -> Vec<(String, Value)> {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("served kind");
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema"),
    )
    .unwrap();
    let mut out = Vec::new();
    leaves("spec", &schema["properties"]["spec"], &mut out);
    out
}

/// A value that "sets" a field of this schema: not the zero value OpenELB's `omitempty` drops.
fn sample(path: &str, node: &Value) -> Value {
    match path {
        // Unicast of the neighbor's family is what Porter does; disabling it is not.
        "spec.afiSafis[].config.enabled" => return json!(false),
        "spec.conf.removePrivateAs" => return json!("ALL"),
        _ => {}
    }
    if let Some(first) = node["enum"].get(0) {
        return first.clone();
    }
    if node.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
        return json!("7");
    }
    match node["type"].as_str() {
        Some("boolean") => json!(true),
        Some("integer") => json!(7),
        Some("string") => json!("x"),
        Some("array") => json!([sample(path, &node["items"])]),
        _ => match node.get("additionalProperties") {
            Some(ap) => json!({"k": sample(path, ap)}),
            None => json!({}),
        },
    }
}

/// Sets `path` (`spec.a[].b`) in `root` to `value`, creating objects and one-item lists.
fn set(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let (key, list) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (*part, false),
        };
        let obj = node.as_object_mut().expect("an object on the way");
        if last {
            obj.insert(key.to_owned(), value);
            return;
        }
        let entry = obj
            .entry(key)
            .or_insert_with(|| if list { json!([{}]) } else { json!({}) });
        node = if list { &mut entry[0] } else { entry };
    }
}

fn object(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": kind,
           "metadata": {"name": "default"}, "spec": spec})
}

/// The unsupported fields reported for `kind` with `path` set to `value` on a minimal object.
fn reported(kind: &str, path: &str, value: Value) -> Vec<&'static str> {
    let (mut obj, parse): (Value, fn(Value) -> Vec<&'static str>) = match kind {
        "Eip" => (object(kind, json!({"address": "10.0.0.0/24"})), |v| {
            serde_json::from_value::<Eip>(v)
                .unwrap()
                .unsupported_fields()
        }),
        "BgpConf" => (object(kind, json!({"as": 65000})), |v| {
            serde_json::from_value::<BgpConf>(v)
                .unwrap()
                .unsupported_fields()
        }),
        _ => (
            object(
                kind,
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001}}),
            ),
            |v| {
                serde_json::from_value::<BgpPeer>(v)
                    .unwrap()
                    .unsupported_fields()
            },
        ),
    };
    // A Secret reference needs all its parts to parse.
    if path.starts_with("spec.conf.authPasswordSecretRef.") {
        let whole = json!({"namespace": "ns", "name": "n", "key": "k"});
        set(&mut obj, "spec.conf.authPasswordSecretRef", whole);
    }
    set(&mut obj, path, value);
    parse(obj)
}

fn check(kind: &str, table: &[(&str, Use)]) {
    let schema = spec_leaves(kind);
    let mut problems = Vec::new();
    for (path, node) in &schema {
        let Some((_, use_)) = table.iter().find(|(p, _)| p == path) else {
            problems.push(format!(
                "{kind} {path}: no entry; name the code that reads it, or report it in unsupported_fields()"
            ));
            continue;
        };
        let got = reported(kind, path, sample(path, node));
        match use_ {
            Unsupported(reported_as) if !got.contains(reported_as) => problems.push(format!(
                "{kind} {path}: set but not reported as {reported_as} (reported: {got:?})"
            )),
            Read(reader) if reader.trim().is_empty() => {
                problems.push(format!("{kind} {path}: name the code that reads it"));
            }
            Read(_) if !got.is_empty() => problems.push(format!(
                "{kind} {path}: read by Porter but reported as unsupported: {got:?}"
            )),
            _ => {}
        }
    }
    for (path, _) in table {
        if !schema.iter().any(|(p, _)| p == path) {
            problems.push(format!("{kind} {path}: in the table but not in the schema"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_eip_field_is_read_or_reported() {
    check("Eip", EIP);
}

#[test]
fn every_bgpconf_field_is_read_or_reported() {
    check("BgpConf", BGP_CONF);
}

#[test]
fn every_bgppeer_field_is_read_or_reported() {
    check("BgpPeer", BGP_PEER);
}

#[test]
fn the_check_fails_for_a_field_without_an_entry() {
    let without_vrf: Vec<_> = BGP_PEER
        .iter()
        .copied()
        .filter(|(p, _)| *p != "spec.conf.vrf")
        .collect();
    let caught = std::panic::catch_unwind(|| check("BgpPeer", &without_vrf));
    assert!(caught.is_err(), "a schema field without an entry must fail");
    // And a Read entry for a field that is in fact reported as unsupported.
    let lying: Vec<_> = BGP_PEER
        .iter()
        .map(|(p, u)| match *p {
            "spec.conf.vrf" => (*p, Read("nobody")),
            _ => (*p, *u),
        })
        .collect();
    assert!(std::panic::catch_unwind(|| check("BgpPeer", &lying)).is_err());
}

#[test]
fn set_unsupported_fields_are_plan_problems_and_the_objects_still_work() {
    let snap = snapshot([
        bgp_conf(64513)
            .set(&["spec", "policy"], json!("gobgp-policy"))
            .obj(),
        bgp_peer("tor", "10.99.0.1", 64512)
            .set(&["spec", "conf", "vrf"], json!("blue"))
            .set(&["spec", "transport", "tcpMss"], json!(1400))
            .obj(),
        node("n1", "10.0.0.1", true).obj(),
    ]);
    let p = plan(&snap, "n1");
    let said: Vec<String> = p
        .problems
        .iter()
        .filter(|pr| matches!(pr, Problem::Unsupported { .. }))
        .map(ToString::to_string)
        .collect();
    let suffix = "accepted for OpenELB compatibility but not implemented by Porter; no effect";
    assert_eq!(
        said,
        [
            format!("BgpConf default: spec.policy {suffix}"),
            format!("BgpPeer tor: spec.conf.vrf, spec.transport.tcpMss {suffix}"),
        ]
    );
    assert!(p.bgp.local.is_ok() && p.bgp.peers.contains_key("tor"));
}
