//! Which nodes announce each Service's address, and whether their BGP sessions are up, or
//! which node answers ARP/NDP for it: the answer to "why does traffic (not) arrive?", computed
//! purely from the same objects the speakers decide from, so the controller can report it
//! without asking any speaker.
//!
//! A layer 2 owner is the one every speaker computes while all the members hear each other
//! (`layer2::plan` with every member alive): the controller cannot hear the heartbeats, so
//! for the moment between a speaker's death and its Node turning NotReady it still names
//! that node, while the others have taken over (their log and `porter_layer2_owned_addresses`
//! say so).

use std::collections::BTreeMap;
use std::net::IpAddr;

use porter_api::{NodePeerStatus, Protocol};

use crate::announce::{self, Options};
use crate::{ObjectKey, Snapshot, SpeakerSnapshot, layer2};

/// How one announcing node is connected: its sessions as its speaker last reported them
/// (BgpPeer `status.nodesPeerStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSessions {
    /// BgpPeers this node peers with.
    pub peers: usize,
    /// Of those, sessions its speaker reports Established.
    pub established: usize,
}

/// Who carries each address a Service holds: the BGP announcers and their sessions, and
/// the layer 2 owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Announcing nodes per address (`node -> sessions`), for every address some node
    /// announces over BGP.
    pub bgp: BTreeMap<IpAddr, BTreeMap<String, NodeSessions>>,
    /// Every address of a `layer2` or `vip` Eip held by a Service, with the node that answers
    /// ARP/NDP for it (`None`: no node may).
    pub layer2: BTreeMap<IpAddr, Option<String>>,
}

/// Who carries each address (see [`Coverage`]).
pub fn by_address(snapshot: &Snapshot, options: &Options) -> Coverage {
    by_address_projected(&snapshot.for_speaker(), options)
}

/// [`by_address`] from the speakers' view of the objects (what `announce::plan_projected`
/// decides from), e.g. with Services moved to addresses not written yet.
pub fn by_address_projected(snapshot: &SpeakerSnapshot, options: &Options) -> Coverage {
    let mut bgp: BTreeMap<IpAddr, BTreeMap<String, NodeSessions>> = BTreeMap::new();
    for node in snapshot.nodes.keys() {
        let plan = announce::bgp_only(snapshot, node, options);
        if plan.prefixes.is_empty() {
            continue;
        }
        let established = plan
            .peers
            .keys()
            .filter(|peer| session_established(snapshot, peer, node))
            .count();
        let sessions = NodeSessions {
            peers: plan.peers.len(),
            established,
        };
        for ip in plan.prefixes.keys() {
            bgp.entry(*ip).or_default().insert(node.clone(), sessions);
        }
    }
    // The owners do not depend on the node planning; a missing membership key is the
    // speakers' to report (the controller reads no Secret).
    let layer2 = layer2::plan(snapshot, options, None, &mut Vec::new())
        .owners
        .into_iter()
        .map(|(ip, address)| (ip, address.owner))
        .collect();
    Coverage { bgp, layer2 }
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
    /// True when at least one node announces it over at least one Established session, or
    /// answers ARP/NDP for it.
    pub announced: bool,
    /// `Announced`, `NoEstablishedSession` or `NotAnnounced`.
    pub reason: &'static str,
    /// Names the nodes and how many of their sessions are up.
    pub message: String,
}

/// The announcement state of a Service holding `ips` from `pool` (the Eip and its protocol;
/// `None` when the address is in no Eip): over BGP, or by layer 2 for a `layer2` or `vip` Eip.
pub fn announcement(
    service: &ObjectKey,
    ips: &[IpAddr],
    pool: Option<(&str, Protocol)>,
    coverage: &Coverage,
) -> Announcement {
    if ips.is_empty() {
        return Announcement {
            announced: false,
            reason: "NotAnnounced",
            message: format!("{service} holds no address"),
        };
    }
    match pool {
        Some((_, protocol)) if protocol != Protocol::Bgp => layer2_announcement(ips, coverage),
        _ => bgp_announcement(ips, coverage),
    }
}

/// Who answers ARP/NDP for each of `ips`.
fn layer2_announcement(ips: &[IpAddr], coverage: &Coverage) -> Announcement {
    let mut parts = Vec::new();
    let mut any = false;
    for ip in ips {
        let how = if ip.is_ipv4() { "ARP" } else { "NDP" };
        match coverage.layer2.get(ip).and_then(Option::as_deref) {
            Some(owner) => {
                any = true;
                parts.push(format!("{ip}: answered by {owner} (layer 2, {how})"));
            }
            None => parts.push(format!(
                "{ip}: no node answers {how} for it (no eligible node with a ready endpoint)"
            )),
        }
    }
    Announcement {
        announced: any,
        reason: if any { "Announced" } else { "NotAnnounced" },
        message: parts.join("; "),
    }
}

/// Which nodes announce each of `ips` over BGP, and whether their sessions are up.
fn bgp_announcement(ips: &[IpAddr], coverage: &Coverage) -> Announcement {
    let mut parts = Vec::new();
    let mut any_node = false;
    let mut any_up = false;
    for ip in ips {
        let Some(nodes) = coverage.bgp.get(ip).filter(|n| !n.is_empty()) else {
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
    Announcement {
        announced,
        reason,
        message: parts.join("; "),
    }
}
