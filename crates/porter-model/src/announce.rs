//! The speaker's decision: what one node announces, and to whom.
//!
//! [`plan`] is a pure function of the cluster's objects and the node's name. Every speaker
//! computes its own plan; no speaker needs to know what the others decided, so a node that
//! dies simply stops announcing and the router drops it from its ECMP route.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::Endpoint;
use porter_api::{BGP_CONF_NAME, Protocol, ValidPeer, annotations};

use crate::assign::ingress_ips;
use crate::{ObjectKey, Snapshot, selector};

/// Everything one node's speaker should be doing.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerPlan {
    /// The node's own BGP identity, or why BGP cannot run (no/invalid BgpConf `default`).
    pub local: Result<LocalBgp, String>,
    /// The BGP neighbours this node peers with, by BgpPeer name.
    pub peers: BTreeMap<String, ValidPeer>,
    /// The addresses this node announces (each as a host route).
    pub prefixes: BTreeSet<IpAddr>,
    /// Why this node announces nothing, when it is not eligible (NotReady, excluded, unknown).
    pub ineligible: Option<String>,
    /// Problems with individual objects (invalid BgpPeer, ...), each naming the object and field.
    pub problems: Vec<String>,
}

/// The local side of every session of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBgp {
    /// Local AS number (BgpConf `spec.as`).
    pub local_as: u32,
    /// BGP identifier: BgpConf `spec.routerId`, else the node's first IPv4 InternalIP, so
    /// that every node has its own identifier (OpenELB issue #315).
    pub router_id: Ipv4Addr,
    /// Port to accept sessions on; `None` = do not listen (BgpConf `listenPort: -1`).
    pub listen_port: Option<u16>,
}

/// Computes what `node` should announce and to whom.
pub fn plan(snapshot: &Snapshot, node: &str) -> SpeakerPlan {
    let mut problems = Vec::new();
    let the_node = snapshot.nodes.get(node);
    let labels = the_node
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default();

    let local = local_bgp(snapshot, the_node);

    let mut peers = BTreeMap::new();
    for (name, peer) in &snapshot.bgp_peers {
        match peer.validate() {
            Ok(valid) => {
                if valid
                    .node_selector
                    .as_ref()
                    .is_none_or(|sel| selector::matches(sel, &labels))
                {
                    peers.insert(name.clone(), valid);
                }
            }
            Err(errors) => {
                for e in errors {
                    problems.push(format!("BgpPeer {name}: {e}"));
                }
            }
        }
    }

    let ineligible = eligibility(the_node, node);
    let prefixes = if ineligible.is_some() {
        BTreeSet::new()
    } else {
        announced(snapshot, node)
    };
    SpeakerPlan {
        local,
        peers,
        prefixes,
        ineligible,
        problems,
    }
}

fn local_bgp(snapshot: &Snapshot, node: Option<&Node>) -> Result<LocalBgp, String> {
    let conf = snapshot
        .bgp_confs
        .get(BGP_CONF_NAME)
        .ok_or_else(|| format!("no BgpConf named {BGP_CONF_NAME:?}: BGP is not configured"))?;
    let valid = conf.validate().map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("BgpConf {BGP_CONF_NAME}: {}", all.join("; "))
    })?;
    let router_id = match valid.router_id {
        Some(id) => id,
        None => node_ipv4(node).ok_or_else(|| {
            "BgpConf default has no spec.routerId and this node has no IPv4 InternalIP to use instead".to_owned()
        })?,
    };
    Ok(LocalBgp {
        local_as: valid.local_as,
        router_id,
        listen_port: valid.listen_port,
    })
}

/// The node's first IPv4 InternalIP.
fn node_ipv4(node: Option<&Node>) -> Option<Ipv4Addr> {
    node?
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse().ok())
}

/// Why the node must not announce anything, if so.
fn eligibility(node: Option<&Node>, name: &str) -> Option<String> {
    let Some(node) = node else {
        return Some(format!("node {name:?} is not known (no Node object)"));
    };
    if node
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(annotations::EXCLUDE_FROM_LB_LABEL))
    {
        return Some(format!(
            "node {name} carries label {}",
            annotations::EXCLUDE_FROM_LB_LABEL
        ));
    }
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status == "True");
    match ready {
        Some(false) => Some(format!("node {name} is not Ready")),
        _ => None,
    }
}

/// The EIPs of the Services this node should attract traffic for.
fn announced(snapshot: &Snapshot, node: &str) -> BTreeSet<IpAddr> {
    // Valid as the controller sees them: an Eip overlapping an older one is not a pool.
    let (_, valid, _) = crate::assign::pools(snapshot);
    let bgp_pools: Vec<porter_ipam::IpRange> = valid
        .into_values()
        .filter(|pool| pool.protocol == Protocol::Bgp)
        .map(|pool| pool.range)
        .collect();
    let mut out = BTreeSet::new();
    for (key, svc) in &snapshot.services {
        if !annotations::opted_in(svc) {
            continue;
        }
        let ips: Vec<IpAddr> = ingress_ips(svc)
            .into_iter()
            .filter(|ip| bgp_pools.iter().any(|r| r.contains(*ip)))
            .collect();
        if ips.is_empty() || !serves_from(snapshot, key, svc, node) {
            continue;
        }
        out.extend(ips);
    }
    out
}

/// Whether traffic for the Service may enter at `node`: with `externalTrafficPolicy: Local`
/// only where a ready endpoint runs on the node; otherwise wherever any endpoint is ready.
fn serves_from(snapshot: &Snapshot, key: &ObjectKey, svc: &Service, node: &str) -> bool {
    let local = svc
        .spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
        == Some("Local");
    snapshot
        .slices_of(key)
        .flat_map(|slice| slice.endpoints.iter())
        .filter(|ep| usable(ep))
        .any(|ep| !local || ep.node_name.as_deref() == Some(node))
}

/// An endpoint that should receive new traffic: ready, or (while the Pod shuts down
/// gracefully) serving and not terminating. An unset condition counts as true, as the
/// EndpointSlice API defines.
fn usable(ep: &Endpoint) -> bool {
    let c = ep.conditions.as_ref();
    let ready = c.and_then(|c| c.ready).unwrap_or(true);
    let serving = c.and_then(|c| c.serving).unwrap_or(ready);
    let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
    ready || (serving && !terminating)
}
