//! Layer 2's part of a speaker's plan: which addresses of `layer2` (and `vip`) Eips this node
//! answers ARP and Neighbor Solicitation for, and which speakers it must hear.
//!
//! One node answers for each address: its [`owner`](crate::owner) among the *candidates*, the
//! nodes that may take its traffic (eligible: known, Ready, not cordoned unless the operator
//! allows it, not excluded; with `externalTrafficPolicy: Local` running a ready endpoint of the
//! Service, or a draining one while none is ready; with `Cluster`, any node once an endpoint
//! is usable) that the membership counts alive. Every speaker computes every owner from the
//! same objects and, once the speakers hear each other, the same alive set, so they agree
//! without talking; rendezvous hashing moves only the addresses of a node that comes or goes.
//!
//! The *members* are the speakers whose heartbeats count (porter-member): every node with an
//! InternalIP that is Ready and not excluded (`node.kubernetes.io/exclude-from-external-load-
//! balancers`, which kubeadm sets on control-plane nodes, where a DaemonSet may not run). A
//! cordoned node's speaker still runs and is heard; it only takes no address. A NotReady node
//! leaves the members once Kubernetes says so, so a node that died for good stops counting
//! against the quorum after the node monitor grace period.
//!
//! The speakers authenticate their heartbeats with the key in Secret [`MEMBER_SECRET`] of the
//! speaker's namespace (`key`, and `previous` during a rotation). Without a usable key the plan
//! carries none and reports why ([`Problem::Layer2`]): no speaker answers without hearing the
//! others.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;
use porter_api::Protocol;

use crate::announce::{Options, Problem, eligibility, node_ip};
use crate::projection::{LbService, SliceNodes, SpeakerSnapshot};
use crate::{ObjectKey, owner};

/// Layer 2's part of a [`SpeakerPlan`](crate::announce::SpeakerPlan).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layer2Plan {
    /// The speakers that must hear each other, by node name, each with the address its
    /// speaker is reached at (the node's first InternalIP). Empty while no Service holds an address of a layer 2 pool: no heartbeats then.
    pub members: BTreeMap<String, IpAddr>,
    /// Every layer 2 address held by a Service, with its owner among the candidates (`None`:
    /// no candidate: nobody answers), for status and for showing who answers.
    pub owners: BTreeMap<IpAddr, Layer2Address>,
    /// The membership key, while layer 2 addresses exist and Secret [`MEMBER_SECRET`] holds a
    /// usable one; `None` otherwise (no heartbeats, no answers).
    pub keys: Option<MemberKeys>,
}

/// The Secret, in the speaker's namespace, holding the membership key.
pub const MEMBER_SECRET: &str = "porter-member";

/// The membership keys read from Secret [`MEMBER_SECRET`]: `key` (sent with and accepted) and
/// `previous` (still accepted while a rotation reaches every speaker).
#[derive(Clone, PartialEq, Eq)]
pub struct MemberKeys {
    /// Data `key`: at least [`porter_member::MIN_KEY`] bytes.
    pub key: Vec<u8>,
    /// Data `previous`, when present and long enough.
    pub previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for MemberKeys {
    /// Never the bytes: plans are logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberKeys")
            .field("key", &format_args!("{} bytes", self.key.len()))
            .field("previous", &self.previous.as_ref().map(Vec::len))
            .finish()
    }
}

/// The keys in Secret [`MEMBER_SECRET`] of `namespace`, or why there are none usable. A
/// `previous` too short is left out (a rotation's old key is only accepted, never needed).
fn member_keys(snapshot: &SpeakerSnapshot, namespace: &str) -> Result<MemberKeys, String> {
    let key = snapshot
        .secret_value(namespace, MEMBER_SECRET, "key")
        .map_err(|e| format!("the membership key: {e}"))?;
    if key.len() < porter_member::MIN_KEY {
        return Err(format!(
            "the membership key: Secret {namespace}/{MEMBER_SECRET} key \"key\" has {} bytes, at least {} are needed (32 random bytes: `head -c 32 /dev/urandom`)",
            key.len(),
            porter_member::MIN_KEY
        ));
    }
    let previous = snapshot
        .secret_value(namespace, MEMBER_SECRET, "previous")
        .ok()
        .filter(|p| p.len() >= porter_member::MIN_KEY)
        .map(<[u8]>::to_vec);
    Ok(MemberKeys {
        key: key.to_vec(),
        previous,
    })
}

impl Layer2Plan {
    /// The addresses `node` answers for, with what it needs to answer them.
    pub fn owned_by<'a>(
        &'a self,
        node: &'a str,
    ) -> impl Iterator<Item = (&'a IpAddr, &'a Layer2Address)> + 'a {
        self.owners
            .iter()
            .filter(move |(_, a)| a.owner.as_deref() == Some(node))
    }
}

/// One layer 2 address: who answers it, where, for which Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer2Address {
    /// The node answering, if any node may.
    pub owner: Option<String>,
    /// The Eip's `spec.interface`: an interface name, or `can_reach:<IP>` (the interface of the
    /// route to that address), as OpenELB documents it; `None`: the interface whose subnet
    /// holds the address, which each speaker finds on its node.
    pub interface: Option<String>,
    /// The Eip the address is from.
    pub eip: String,
    /// The Service holding it (the first by name when hand edits made two share it).
    pub service: ObjectKey,
}

/// Layer 2's part of the plan; `alive` is the membership's view (`None`: every member counts
/// as alive, the view of who *would* answer that the controller reports). A missing or
/// unusable membership key goes to `problems`.
pub(crate) fn plan(
    snapshot: &SpeakerSnapshot,
    options: &Options,
    alive: Option<&BTreeSet<String>>,
    problems: &mut Vec<Problem>,
) -> Layer2Plan {
    let pools: Vec<crate::valid::ValidEip> = crate::pools::Pools::of(&snapshot.eips)
        .valid
        .into_values()
        .filter(|pool| pool.protocol != Protocol::Bgp)
        .collect();
    if pools.is_empty() {
        return Layer2Plan::default();
    }
    let eligible: BTreeSet<&str> = snapshot
        .nodes
        .iter()
        .filter(|(name, node)| eligibility(Some(node), name, options).is_none())
        .map(|(name, _)| name.as_str())
        .collect();
    // The EndpointSlices sorted by Service once, not scanned per Service.
    let mut slices: Vec<(&ObjectKey, &SliceNodes)> = snapshot.endpoint_slices.iter().collect();
    slices.sort_unstable_by(|a, b| owner_of(a).cmp(&owner_of(b)));
    let mut owners = BTreeMap::new();
    for (key, svc) in &snapshot.services {
        for &ip in svc.ingress() {
            let Some(pool) = pools.iter().find(|p| p.range.contains(ip)) else {
                continue;
            };
            if owners.contains_key(&ip) {
                continue;
            }
            let of_service = (key.namespace.as_str(), key.name.as_str());
            let start = slices.partition_point(|s| owner_of(s) < of_service);
            let own = slices[start..]
                .iter()
                .take_while(|s| owner_of(s) == of_service)
                .map(|&(_, s)| s);
            let candidates = candidates(own, svc, &eligible);
            let owner = owner::owner(
                ip,
                candidates
                    .into_iter()
                    .filter(|n| alive.is_none_or(|alive| alive.contains(*n))),
            );
            owners.insert(
                ip,
                Layer2Address {
                    owner: owner.map(str::to_owned),
                    interface: pool.interface.clone(),
                    eip: pool.name.clone(),
                    service: key.clone(),
                },
            );
        }
    }
    if owners.is_empty() {
        return Layer2Plan::default();
    }
    let keys = member_keys(snapshot, &options.namespace)
        .map_err(|why| problems.push(Problem::Layer2 { why }))
        .ok();
    Layer2Plan {
        members: members(snapshot.nodes.iter()),
        owners,
        keys,
    }
}

/// The Service an EndpointSlice belongs to, as `(namespace, name)`.
fn owner_of<'a>(&(key, slice): &(&'a ObjectKey, &'a SliceNodes)) -> (&'a str, &'a str) {
    (&key.namespace, slice.service())
}

/// The eligible nodes that may take `svc`'s traffic, as BGP's `serves_from` decides per node.
fn candidates<'a>(
    slices: impl Iterator<Item = &'a SliceNodes>,
    svc: &LbService,
    eligible: &BTreeSet<&'a str>,
) -> BTreeSet<&'a str> {
    let slices: Vec<&SliceNodes> = slices.collect();
    if !svc.local_traffic {
        return if slices.iter().any(|s| s.any_usable()) {
            eligible.clone()
        } else {
            BTreeSet::new()
        };
    }
    let ready: BTreeSet<&str> = slices.iter().flat_map(|s| s.nodes()).collect();
    let with = if ready.is_empty() {
        slices.iter().flat_map(|s| s.draining_nodes()).collect()
    } else {
        ready
    };
    with.into_iter().filter(|n| eligible.contains(n)).collect()
}

/// Every node whose speaker counts: Ready (or not saying), not excluded, with an InternalIP.
fn members<'a>(nodes: impl Iterator<Item = (&'a String, &'a Node)>) -> BTreeMap<String, IpAddr> {
    let all = Options {
        announce_from_cordoned: true,
        ..Options::default()
    };
    nodes
        .filter(|(name, node)| eligibility(Some(node), name, &all).is_none())
        .filter_map(|(name, node)| Some((name.clone(), node_ip::<IpAddr>(Some(node))?)))
        .collect()
}
