//! Which nodes announce each Service's address, and whether their BGP sessions are up:
//! the answer to "why does traffic (not) arrive?", computed purely from the same objects
//! the speakers decide from, so the controller can report it without asking any speaker.

use std::collections::BTreeMap;
use std::net::IpAddr;

use porter_api::{NodePeerStatus, Protocol};

use crate::announce::{self, Options};
use crate::{ObjectKey, Snapshot, SpeakerSnapshot};

/// [`Announcement::reason`] for an address from a `layer2` or `vip` Eip: assigned, but this
/// version of Porter announces only `bgp` Eips.
pub const LAYER2_NOT_SUPPORTED: &str = "Layer2NotSupported";

/// Why the addresses of an Eip announced by `protocol` are not announced, or `None` for `bgp`:
/// Porter assigns addresses from `layer2` and `vip` Eips (so OpenELB's objects keep working
/// and nothing is reshuffled when layer 2 arrives) but has no ARP/NDP announcer yet.
pub fn unsupported_protocol(eip: &str, protocol: Protocol) -> Option<String> {
    (protocol != Protocol::Bgp).then(|| {
        format!(
            "addresses of Eip {eip} (protocol {protocol}) are assigned but not announced yet: this version of Porter announces only bgp Eips"
        )
    })
}

/// How one announcing node is connected: its sessions as its speaker last reported them
/// (BgpPeer `status.nodesPeerStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSessions {
    /// BgpPeers this node peers with.
    pub peers: usize,
    /// Of those, sessions its speaker reports Established.
    pub established: usize,
}

/// Announcing nodes per address (`node -> sessions`), for every address some node
/// announces.
pub fn by_address(
    snapshot: &Snapshot,
    options: &Options,
) -> BTreeMap<IpAddr, BTreeMap<String, NodeSessions>> {
    by_address_projected(&snapshot.for_speaker(), options)
}

/// [`by_address`] from the speakers' view of the objects (what `announce::plan_projected`
/// decides from), e.g. with Services moved to addresses not written yet.
pub fn by_address_projected(
    snapshot: &SpeakerSnapshot,
    options: &Options,
) -> BTreeMap<IpAddr, BTreeMap<String, NodeSessions>> {
    let mut out: BTreeMap<IpAddr, BTreeMap<String, NodeSessions>> = BTreeMap::new();
    for node in snapshot.nodes.keys() {
        let plan = announce::plan_projected(snapshot, node, options);
        if plan.bgp.prefixes.is_empty() {
            continue;
        }
        let established = plan
            .bgp
            .peers
            .keys()
            .filter(|peer| session_established(snapshot, peer, node))
            .count();
        let sessions = NodeSessions {
            peers: plan.bgp.peers.len(),
            established,
        };
        for ip in plan.bgp.prefixes.keys() {
            out.entry(*ip).or_default().insert(node.clone(), sessions);
        }
    }
    out
}

/// Whether `node`'s speaker reported its session with `peer` Established.
fn session_established(snapshot: &SpeakerSnapshot, peer: &str, node: &str) -> bool {
    snapshot
        .bgp_peers
        .get(peer)
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.nodes_peer_status.as_ref())
        .and_then(|m| m.get(node))
        .is_some_and(NodePeerStatus::is_established)
}

/// A Service's announcement state, worded for a status condition and an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// True when at least one node announces it over at least one Established session.
    pub announced: bool,
    /// `Announced`, `NoEstablishedSession`, `NotAnnounced` or [`LAYER2_NOT_SUPPORTED`].
    pub reason: &'static str,
    /// Names the nodes and how many of their sessions are up.
    pub message: String,
}

/// The announcement state of a Service holding `ips` from `pool` (the Eip and its protocol;
/// `None` when the address is in no Eip). An address from a `layer2` or `vip` Eip is reported
/// as such ([`LAYER2_NOT_SUPPORTED`]), not as "no eligible node": no node ever announces it.
pub fn announcement(
    service: &ObjectKey,
    ips: &[IpAddr],
    pool: Option<(&str, Protocol)>,
    coverage: &BTreeMap<IpAddr, BTreeMap<String, NodeSessions>>,
) -> Announcement {
    if let Some(why) = pool.and_then(|(eip, protocol)| unsupported_protocol(eip, protocol))
        && !ips.is_empty()
    {
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        return Announcement {
            announced: false,
            reason: LAYER2_NOT_SUPPORTED,
            message: format!("{}: {why}", ips.join(", ")),
        };
    }
    let mut parts = Vec::new();
    let mut any_node = false;
    let mut any_up = false;
    for ip in ips {
        let Some(nodes) = coverage.get(ip).filter(|n| !n.is_empty()) else {
            parts.push(format!(
                "{ip}: no node announces it (no eligible node with a ready endpoint)"
            ));
            continue;
        };
        any_node = true;
        let up: Vec<&str> = nodes
            .iter()
            .filter(|(_, s)| s.established > 0)
            .map(|(n, _)| n.as_str())
            .collect();
        let down: Vec<&str> = nodes
            .iter()
            .filter(|(_, s)| s.established == 0)
            .map(|(n, _)| n.as_str())
            .collect();
        any_up |= !up.is_empty();
        let mut text = format!(
            "{ip}: announced by {}",
            nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        if !down.is_empty() {
            text += &format!("; no Established BGP session on {}", down.join(", "));
        }
        parts.push(text);
    }
    let (announced, reason) = match (any_node, any_up) {
        (_, true) => (true, "Announced"),
        (true, false) => (false, "NoEstablishedSession"),
        (false, false) => (false, "NotAnnounced"),
    };
    let message = if parts.is_empty() {
        format!("{service} holds no address")
    } else {
        parts.join("; ")
    };
    Announcement {
        announced,
        reason,
        message,
    }
}
