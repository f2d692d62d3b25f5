//! The speaker's decision: what one node announces, and to whom.
//!
//! [`plan`] is a pure function of the cluster's objects and the node's name. Every speaker
//! computes its own plan; no speaker needs to know what the others decided, so a node that
//! dies simply stops announcing and the router drops it from its ECMP route. The plan has one
//! part per protocol the speaker runs (today [`BgpPlan`]), beside what holds for all of them
//! (eligibility, problems).
//!
//! Each announced address carries BGP path attributes ([`RouteAttrs`]): those of its Eip
//! (`spec.bgp`) with the Service's `bgp.porter.kubesphere.io/*` annotations applied
//! (communities added, MED / LOCAL_PREF / link bandwidth replaced). Decisions on the edges:
//!
//! * Weighted ECMP (opt-in: Eip `spec.bgp.linkBandwidthPerEndpoint`, Service annotation
//!   `bgp.porter.kubesphere.io/link-bandwidth-per-endpoint`): a Service with
//!   `externalTrafficPolicy: Local` is announced by each node with a link bandwidth of the unit
//!   times its usable endpoints of the Service there (all its EndpointSlices summed), so a
//!   router weighting its multipath route by link bandwidth sends each node its share of the
//!   pods. A node without one does not announce the Service at all, so no weight is ever 0.
//!   With `Cluster` every node forwards to every pod, so the nodes are equal and the setting
//!   changes nothing (the static link bandwidth, if any, is sent). The most specific setting
//!   wins: the Service's per-endpoint unit, its static `link-bandwidth`, the Eip's per-endpoint
//!   unit, the Eip's static `linkBandwidth`.
//! * A Service whose annotations are malformed is still announced, with its Eip's attributes
//!   alone, and every malformed value is reported in [`SpeakerPlan::problems`]: withdrawing a
//!   working Service over a typo in an optional setting would be an outage, and applying only
//!   the well-formed half could combine attributes in a way nobody asked for.
//! * Two Services sharing one address (only possible through hand edits of their status) are
//!   merged so that the result does not depend on their order: communities and large
//!   communities are unioned, and of the values set, the lowest MED, the highest LOCAL_PREF
//!   and the highest link bandwidth win (the most attractive route, since either Service wants
//!   the traffic; for weighted Services, the one with the most weight on this node: the router
//!   sees one route per node whatever the port, so no split can be right for both).
//! * Health-driven withdrawal (opt-in: `health.porter.kubesphere.io/probe`, [`crate::health`]):
//!   a `Local` Service's ready endpoints on the node are probed ([`HealthPlan`]); those whose
//!   probes fail ([`Failing`], the plan's one input from the probes) do not count, so a node
//!   whose endpoints all fail withdraws, and under weighted ECMP a failing endpoint leaves the
//!   node's weight. Malformed health annotations, like malformed BGP ones, are reported and
//!   leave the Service announced, unprobed.
//! * A BgpPeer whose password is in a Secret gets it from [`Snapshot::secrets`]; while the
//!   Secret or its key is missing (or unusable as a TCP-MD5 key) the peer is left out of
//!   [`BgpPlan::peers`] and reported, so no session ever starts without its password.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use porter_api::{BGP_CONF_NAME, Protocol, annotations};
use porter_bgp::RouteAttrs;

use crate::health::{Failing, ProbeKey, ProbeSpec};
use crate::layer2::{self, Layer2Plan};
use crate::packed::MapBuilder;
use crate::projection::{LbService, SliceNodes, SpeakerSnapshot};
use crate::route_attrs::per_endpoint;
use crate::valid::{MAX_MD5_KEY_LEN, ValidPeer, Validate};
use crate::{ObjectKey, Snapshot, selector};

/// Everything one node's speaker should be doing: one part per protocol it speaks, and what
/// concerns the node whatever the protocol.
///
/// A protocol's part holds what that protocol's shell in porter-speaker needs and nothing
/// else, so the speaker hands each part to its protocol, and a protocol added to the speaker
/// is a part added here, next to [`BgpPlan`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerPlan {
    /// What BGP announces from this node, and to whom.
    pub bgp: BgpPlan,
    /// The health probes this node runs for the Services that ask for them.
    pub health: HealthPlan,
    /// The layer 2 addresses and who answers each, and the speakers to hear.
    pub layer2: Layer2Plan,
    /// Why this node announces nothing, when it is not eligible (NotReady, excluded, unknown);
    /// it holds for every protocol.
    pub ineligible: Option<String>,
    /// Problems with individual objects (invalid BgpPeer, ...), each naming the object and field.
    pub problems: Vec<Problem>,
}

/// A problem with one object that the plan works around, kept typed so that each reader finds
/// the object it is about without parsing text (the BgpPeer status writer reports a peer's
/// problems in that peer's entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Problem {
    /// A BgpPeer this node would peer with gets no session: it is invalid, or its password
    /// cannot be read.
    BgpPeer {
        /// The BgpPeer's name.
        name: String,
        /// What is wrong, naming the field or the Secret.
        why: String,
    },
    /// The BgpConf or a BgpPeer of this node sets fields Porter accepts (OpenELB has them) but
    /// does not implement: they have no effect, and the speaker says so (a WARN line) instead of
    /// ignoring a setting the user relies on. The object is used otherwise.
    Unsupported {
        /// `BgpConf default` or `BgpPeer <name>`.
        object: String,
        /// The fields, as `unsupported_fields()` lists them.
        fields: Vec<&'static str>,
    },
    /// A Service's `bgp.porter.kubesphere.io/*` annotation is malformed: its address is announced
    /// with its Eip's attributes only.
    ServiceAnnotation {
        /// The Service.
        service: ObjectKey,
        /// What is wrong, naming the annotation.
        why: String,
    },
    /// A Service's health probe cannot run as asked (a malformed
    /// `health.porter.kubesphere.io/*` annotation, a port its EndpointSlice does not have, a
    /// traffic policy it does not apply to): its endpoints count as healthy, unprobed.
    HealthCheck {
        /// The Service.
        service: ObjectKey,
        /// What is wrong, naming the annotation.
        why: String,
    },
    /// Layer 2 addresses cannot be answered by this node: the membership key is missing or
    /// unusable, so no speaker can hear the others.
    Layer2 {
        /// What is wrong, naming the Secret.
        why: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BgpPeer { name, why } => write!(f, "BgpPeer {name}: {why}"),
            Self::Unsupported { object, fields } => write!(
                f,
                "{object}: {} accepted for OpenELB compatibility but not implemented by Porter; no effect",
                fields.join(", ")
            ),
            Self::ServiceAnnotation { service, why } => write!(
                f,
                "Service {service}: {why} (announced with its Eip's BGP attributes only)"
            ),
            Self::HealthCheck { service, why } => write!(
                f,
                "Service {service}: {why} (its endpoints are not probed and count as healthy)"
            ),
            Self::Layer2 { why } => write!(f, "layer 2: {why}; this node answers no ARP or NDP"),
        }
    }
}

/// BGP's part of a [`SpeakerPlan`]: the node's identity, its neighbours, its routes.
#[derive(Debug, Clone, PartialEq)]
pub struct BgpPlan {
    /// The node's own BGP identity, or why BGP cannot run (no/invalid BgpConf `default`).
    pub local: Result<LocalBgp, String>,
    /// The BGP neighbours this node peers with, by BgpPeer name, ready to use: a password kept
    /// in a Secret is in `password`, and `graceful_restart` is the effective setting (the
    /// BgpPeer's own, else the BgpConf's; `None` = off).
    pub peers: BTreeMap<String, ValidPeer>,
    /// The addresses this node announces (each as a host route), with their path attributes.
    /// Prefixes with the same attributes share one allocation (most prefixes of a pool do):
    /// a speaker may hold 100k of them, and the sessions keep these `Arc`s too.
    pub prefixes: BTreeMap<IpAddr, Arc<RouteAttrs>>,
}

/// The health probes of a [`SpeakerPlan`]: one per ready endpoint on this node of each
/// Service with `externalTrafficPolicy: Local` that asks for them, announced from a pool of
/// this node's protocols.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthPlan {
    /// Each probe, by Service and endpoint.
    pub probes: BTreeMap<ProbeKey, ProbeSpec>,
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
    /// Addresses to listen on (BgpConf `listenAddresses`); empty = every address.
    pub listen_addresses: Vec<IpAddr>,
    /// The node's first IPv4 InternalIP: the next hop of IPv4 routes on sessions that are not
    /// IPv4 (on an IPv4 session the session's own local address is used).
    pub next_hop_v4: Option<Ipv4Addr>,
    /// The node's first IPv6 InternalIP: the next hop of IPv6 routes on sessions that are not
    /// IPv6 (e.g. IPv6 EIPs over an IPv4 session, which cannot be announced without it).
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Graceful restart from BgpConf `spec.gracefulRestart`: restart time in seconds, `None` =
    /// off. Already applied to every peer in [`BgpPlan::peers`] that does not set its own.
    pub graceful_restart: Option<u16>,
}

/// Computes what `node` should announce and to whom.
pub fn plan(snapshot: &Snapshot, node: &str) -> SpeakerPlan {
    plan_with(snapshot, node, &Options::default())
}

/// Operator choices that change which nodes announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Keep announcing from a cordoned node (`spec.unschedulable`). Off by default: a node
    /// is usually cordoned before maintenance, so traffic should leave it first; on for
    /// clusters that cordon nodes for other reasons while their workloads keep serving.
    pub announce_from_cordoned: bool,
    /// The speaker's namespace, where Secret [`layer2::MEMBER_SECRET`] holds the layer 2
    /// membership key.
    pub namespace: String,
}

impl Default for Options {
    /// Cordoned nodes do not announce; the speaker runs in `porter-system`.
    fn default() -> Self {
        Self {
            announce_from_cordoned: false,
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

/// The namespace `deploy/porter.yaml` installs Porter into.
pub const DEFAULT_NAMESPACE: &str = "porter-system";

/// [`plan`] with explicit [`Options`].
pub fn plan_with(snapshot: &Snapshot, node: &str, options: &Options) -> SpeakerPlan {
    plan_projected(&snapshot.for_speaker_on(node), node, options)
}

/// [`plan_with`] from the speaker's own reduced objects (what the Kubernetes source keeps),
/// every endpoint counted healthy and every layer 2 speaker alive.
pub fn plan_projected(snapshot: &SpeakerSnapshot, node: &str, options: &Options) -> SpeakerPlan {
    let failing = Failing::new();
    let observed = Observed {
        failing: &failing,
        alive: None,
    };
    plan_checked(snapshot, node, options, &observed)
}

/// What a speaker observed beside the objects, which its plan reads: verdicts of its own
/// probes and of its membership, so the plan stays a pure function of them.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The endpoints on this node failing their health probes: they do not count as ready.
    pub failing: &'a Failing,
    /// The layer 2 speakers alive, this node included while it may answer (porter-member's
    /// `alive()`); `None`: every member counts as alive (who *would* answer).
    pub alive: Option<&'a BTreeSet<String>>,
}

/// [`plan_projected`] with what this node's speaker observed.
pub fn plan_checked(
    snapshot: &SpeakerSnapshot,
    node: &str,
    options: &Options,
    observed: &Observed<'_>,
) -> SpeakerPlan {
    let failing = observed.failing;
    let mut problems = Vec::new();
    let the_node = snapshot.nodes.get(node);
    let ineligible = eligibility(the_node, node, options);
    let mut health = HealthPlan::default();
    let bgp = bgp_plan(
        snapshot,
        node,
        ineligible.is_none().then_some((failing, &mut health)),
        &mut problems,
    );
    let layer2 = layer2::plan(snapshot, options, observed.alive, &mut problems);
    SpeakerPlan {
        bgp,
        health,
        layer2,
        ineligible,
        problems,
    }
}

/// BGP's part of `node`'s plan alone, every endpoint counted healthy: what coverage reads of
/// each node, without the layer 2 part, which is the same for every node (coverage computes
/// it once).
pub(crate) fn bgp_only(snapshot: &SpeakerSnapshot, node: &str, options: &Options) -> BgpPlan {
    let failing = Failing::new();
    let mut health = HealthPlan::default();
    let eligible = eligibility(snapshot.nodes.get(node), node, options).is_none();
    bgp_plan(
        snapshot,
        node,
        eligible.then_some((&failing, &mut health)),
        &mut Vec::new(),
    )
}

/// BGP's part of `node`'s plan; `eligible` is `None` when the node may not announce at all,
/// else the failing endpoints and where the probes go.
fn bgp_plan(
    snapshot: &SpeakerSnapshot,
    node: &str,
    eligible: Option<(&Failing, &mut HealthPlan)>,
    problems: &mut Vec<Problem>,
) -> BgpPlan {
    let the_node = snapshot.nodes.get(node);
    let labels = the_node
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default();

    let local = local_bgp(snapshot, the_node);
    let conf_gr = local.as_ref().ok().and_then(|l| l.graceful_restart);
    if let Some(conf) = snapshot.bgp_confs.get(BGP_CONF_NAME) {
        unsupported(
            format!("BgpConf {BGP_CONF_NAME}"),
            conf.unsupported_fields(),
            problems,
        );
    }

    let mut peers = BTreeMap::new();
    for (name, peer) in &snapshot.bgp_peers {
        match peer.validate() {
            Ok(mut valid) => {
                if !valid
                    .node_selector
                    .as_ref()
                    .is_none_or(|sel| selector::matches(sel, &labels))
                {
                    continue;
                }
                unsupported(
                    format!("BgpPeer {name}"),
                    peer.unsupported_fields(),
                    problems,
                );
                if let Err(why) = resolve_password(snapshot, &mut valid) {
                    problems.push(Problem::BgpPeer {
                        name: name.clone(),
                        why,
                    });
                    continue;
                }
                if valid.graceful_restart.is_none() && !valid.graceful_restart_off {
                    valid.graceful_restart = conf_gr;
                }
                peers.insert(name.clone(), valid);
            }
            Err(errors) => {
                problems.extend(errors.into_iter().map(|e| Problem::BgpPeer {
                    name: name.clone(),
                    why: e.to_string(),
                }));
            }
        }
    }

    let prefixes = match eligible {
        Some((failing, health)) => announced(snapshot, node, failing, health, problems),
        None => BTreeMap::new(),
    };
    BgpPlan {
        local,
        peers,
        prefixes,
    }
}

/// Reports `fields` (set but not implemented) of `object`, if any.
fn unsupported(object: String, fields: Vec<&'static str>, problems: &mut Vec<Problem>) {
    if !fields.is_empty() {
        problems.push(Problem::Unsupported { object, fields });
    }
}

fn local_bgp(snapshot: &SpeakerSnapshot, node: Option<&Node>) -> Result<LocalBgp, String> {
    let conf = snapshot
        .bgp_confs
        .get(BGP_CONF_NAME)
        .ok_or_else(|| format!("no BgpConf named {BGP_CONF_NAME:?}: BGP is not configured"))?;
    let valid = conf.validate().map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("BgpConf {BGP_CONF_NAME}: {}", all.join("; "))
    })?;
    let next_hop_v4 = node_ip(node);
    let router_id = match valid.router_id {
        Some(id) => id,
        None => next_hop_v4.ok_or_else(|| {
            "BgpConf default has no spec.routerId and this node has no IPv4 InternalIP to use instead".to_owned()
        })?,
    };
    Ok(LocalBgp {
        local_as: valid.local_as,
        router_id,
        listen_port: valid.listen_port,
        listen_addresses: valid.listen_addresses,
        next_hop_v4,
        next_hop_v6: node_ip(node),
        graceful_restart: valid.graceful_restart,
    })
}

/// The node's first InternalIP of one family (`Ipv4Addr` or `Ipv6Addr`).
pub(crate) fn node_ip<A: std::str::FromStr>(node: Option<&Node>) -> Option<A> {
    node?
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.trim().parse().ok())
}

/// Fills in `peer.password` from the Secret its `spec.conf.authPasswordSecretRef` names. The
/// error names the field and the Secret, never the value.
fn resolve_password(snapshot: &SpeakerSnapshot, peer: &mut ValidPeer) -> Result<(), String> {
    let Some(r) = peer.password_secret.as_ref() else {
        return Ok(());
    };
    let field = "spec.conf.authPasswordSecretRef";
    let bytes = snapshot
        .secret_value(&r.namespace, &r.name, &r.key)
        .map_err(|e| format!("{field}: {e}; the session is not started without its password"))?;
    let password =
        std::str::from_utf8(bytes).map_err(|_| format!("{field}: {r} is not UTF-8 text"))?;
    if password.is_empty() {
        return Err(format!(
            "{field}: {r} is empty; the session is not started without its password"
        ));
    }
    if password.len() > MAX_MD5_KEY_LEN {
        return Err(format!(
            "{field}: {r} is longer than {MAX_MD5_KEY_LEN} bytes (the TCP-MD5 key limit)"
        ));
    }
    peer.password = Some(password.to_owned());
    Ok(())
}

/// Why the node must not announce anything, if so.
pub(crate) fn eligibility(node: Option<&Node>, name: &str, options: &Options) -> Option<String> {
    let Some(node) = node else {
        return Some(format!("node {name:?} is not known (no Node object)"));
    };
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    if cordoned && !options.announce_from_cordoned {
        return Some(format!(
            "node {name} is cordoned (spec.unschedulable); start the speaker with --announce-from-cordoned to announce anyway"
        ));
    }
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

/// The EIPs of the Services this node should attract traffic for, with their attributes, and
/// the health probes of those that ask for them (into `health`). Malformed BGP and health
/// annotations of a Service with an address in a `bgp` pool are reported in `problems`
/// whether or not this node announces it, so every speaker reports the same.
fn announced(
    snapshot: &SpeakerSnapshot,
    node: &str,
    failing: &Failing,
    health: &mut HealthPlan,
    problems: &mut Vec<Problem>,
) -> BTreeMap<IpAddr, Arc<RouteAttrs>> {
    // Valid as the controller sees them: an Eip overlapping an older one is not a pool.
    let bgp_pools: Vec<crate::valid::ValidEip> = crate::pools::Pools::of(&snapshot.eips)
        .valid
        .into_values()
        .filter(|pool| pool.protocol == Protocol::Bgp)
        .collect();
    // The EndpointSlices sorted by Service once, not scanned per Service (10k × 10k); a flat
    // sorted list of references rather than a map of lists: one allocation of 16 bytes a
    // slice (the order among a Service's slices does not matter: `serves_from` asks "any").
    let mut slices: Vec<(&ObjectKey, &SliceNodes)> = snapshot.endpoint_slices.iter().collect();
    slices.sort_unstable_by(|a, b| owner(a).cmp(&owner(b)));
    let no_delta = crate::route_attrs::RouteAttrsDelta::default();
    // One allocation per distinct attribute set.
    let mut distinct: BTreeMap<RouteAttrs, Arc<RouteAttrs>> = BTreeMap::new();
    let mut share = |attrs: RouteAttrs| {
        Arc::clone(
            distinct
                .entry(attrs)
                .or_insert_with_key(|a| Arc::new(a.clone())),
        )
    };
    // Collected as a list (sized once: at most every address of every Service) and turned
    // into a map with full nodes (a map grown by inserts in Service order is about a third
    // empty: 4 MiB against 2.7 MiB at 100k addresses, and a speaker holds two plans at a time).
    let mut out: Vec<(IpAddr, Arc<RouteAttrs>)> =
        Vec::with_capacity(snapshot.services.values().map(|s| s.ingress().len()).sum());
    for (key, svc) in &snapshot.services {
        // Pools never overlap (the newer of two overlapping Eips is invalid): one pool per IP.
        let ips: Vec<(IpAddr, &crate::valid::ValidEip)> = svc
            .ingress()
            .iter()
            .filter_map(|&ip| Some((ip, bgp_pools.iter().find(|p| p.range.contains(ip))?)))
            .collect();
        if ips.is_empty() {
            continue;
        }
        problems.extend(
            svc.attr_errors()
                .iter()
                .map(|why| Problem::ServiceAnnotation {
                    service: key.clone(),
                    why: why.clone(),
                }),
        );
        problems.extend(svc.health_errors().iter().map(|why| Problem::HealthCheck {
            service: key.clone(),
            why: why.clone(),
        }));
        let delta = svc.attrs().unwrap_or(&no_delta);
        let of_service = (key.namespace.as_str(), key.name.as_str());
        let start = slices.partition_point(|s| owner(s) < of_service);
        let end = start
            + slices[start..]
                .iter()
                .take_while(|s| owner(s) == of_service)
                .count();
        let own = &slices[start..end];
        let failing_here = probe(key, svc, own, failing, health, problems);
        let own = own.iter().map(|&(_, slice)| slice);
        let Some(entry) = serves_from(own, svc, node, failing_here) else {
            continue;
        };
        for (ip, pool) in ips {
            let mut attrs = delta.apply(&pool.route_attrs);
            // the most specific setting wins: a Service's static bandwidth beats its pool's unit
            let unit = delta.link_bandwidth_per_endpoint.or(delta
                .link_bandwidth
                .is_none()
                .then_some(pool.link_bandwidth_per_endpoint)
                .flatten());
            if let (Some(unit), Entry::Local(count)) = (unit, &entry) {
                attrs.link_bandwidth = per_endpoint(unit, *count);
            }
            out.push((ip, share(attrs)));
        }
    }
    drop(slices);
    // Services sharing an address: their attributes merged, each next one into the first
    // (the merge is independent of order, so an in-place sort, which needs no scratch, will do).
    out.sort_unstable_by_key(|&(ip, _)| ip);
    out.dedup_by(|(ip, attrs), (first_ip, first)| {
        if ip != first_ip {
            return false;
        }
        let mut both = RouteAttrs::clone(first);
        merge_shared(&mut both, RouteAttrs::clone(attrs));
        *first = share(both);
        true
    });
    // Not `collect`: it would hold the list, a sort's scratch and the map at once.
    let mut prefixes = MapBuilder::default();
    for (ip, attrs) in out {
        prefixes.insert(ip, attrs);
    }
    prefixes.finish()
}

/// Plans the health probes of `svc`'s ready endpoints on this node (`own` are its
/// EndpointSlices, read for this node), if it asks for them; returns how many of those
/// endpoints are failing.
fn probe(
    key: &ObjectKey,
    svc: &LbService,
    own: &[(&ObjectKey, &SliceNodes)],
    failing: &Failing,
    health: &mut HealthPlan,
    problems: &mut Vec<Problem>,
) -> u32 {
    let Some(check) = svc.health() else {
        return 0;
    };
    if !svc.local_traffic {
        problems.push(Problem::HealthCheck {
            service: key.clone(),
            why: format!(
                "{} applies to externalTrafficPolicy: Local only (with Cluster every node forwards to every endpoint)",
                porter_api::annotations::HEALTH_PROBE_ANNOTATION
            ),
        });
        return 0;
    }
    let spec = ProbeSpec::of(check);
    let mut failing_here = 0;
    for (slice_key, local) in own.iter().filter_map(|(k, s)| Some((k, s.local()?))) {
        let Some(port) = local.port(&check.port) else {
            problems.push(Problem::HealthCheck {
                service: key.clone(),
                why: format!(
                    "{}: EndpointSlice {} has no such TCP port",
                    porter_api::annotations::annotation_field(
                        porter_api::annotations::HEALTH_PORT_ANNOTATION
                    ),
                    slice_key.name
                ),
            });
            continue;
        };
        for &ip in &local.addresses {
            let probe = ProbeKey {
                service: key.clone(),
                endpoint: std::net::SocketAddr::new(ip, port),
            };
            failing_here += u32::from(failing.contains(&probe));
            health.probes.insert(probe, spec.clone());
        }
    }
    failing_here
}

/// The Service an EndpointSlice belongs to, as `(namespace, name)`.
fn owner<'a>(&(key, slice): &(&'a ObjectKey, &'a SliceNodes)) -> (&'a str, &'a str) {
    (&key.namespace, slice.service())
}

/// Merges the attributes of a second Service on one address into `into`, independently of
/// order: communities unioned; the lowest MED, the highest LOCAL_PREF and the highest link
/// bandwidth among those set.
fn merge_shared(into: &mut RouteAttrs, other: RouteAttrs) {
    fn pick<T: Ord>(a: Option<T>, b: Option<T>, best: fn(T, T) -> T) -> Option<T> {
        match (a, b) {
            (Some(a), Some(b)) => Some(best(a, b)),
            (a, b) => a.or(b),
        }
    }
    into.communities.extend(other.communities);
    into.large_communities.extend(other.large_communities);
    into.med = pick(into.med, other.med, std::cmp::min);
    into.local_pref = pick(into.local_pref, other.local_pref, std::cmp::max);
    into.link_bandwidth = pick(into.link_bandwidth, other.link_bandwidth, std::cmp::max);
}

/// How a Service's traffic may enter at a node.
enum Entry {
    /// `externalTrafficPolicy: Cluster` with a usable endpoint anywhere: every node alike.
    Any,
    /// `externalTrafficPolicy: Local`: to this many ready endpoints on the node (never 0; 1
    /// for a node left with draining endpoints only).
    Local(u32),
}

/// Whether traffic for the Service may enter at `node`: with `externalTrafficPolicy: Local`
/// only where a ready endpoint runs on the node, or, while no node runs a ready one, where a
/// draining endpoint (terminating, still serving) runs; otherwise wherever any endpoint is ready
/// or draining. This follows what kube-proxy forwards (KEP-1669): a node whose last local
/// endpoint starts terminating withdraws at once while the Pod still serves what was already on
/// its way, and a Service whose endpoints are all terminating stays reachable until they stop
/// serving rather than being withdrawn everywhere at once.
fn serves_from<'a>(
    mut slices: impl Iterator<Item = &'a SliceNodes>,
    svc: &LbService,
    node: &str,
    failing_here: u32,
) -> Option<Entry> {
    if !svc.local_traffic {
        return slices.any(SliceNodes::any_usable).then_some(Entry::Any);
    }
    let mut ready_here = 0u32;
    let mut draining_here = false;
    let mut ready_elsewhere = false;
    for s in slices {
        ready_here = ready_here.saturating_add(s.endpoints_on(node));
        ready_elsewhere |= s.any_ready_node();
        draining_here |= s.draining_on_node(node);
    }
    // endpoints failing their health probes are not ready for this node's traffic
    let ready_here = ready_here.saturating_sub(failing_here);
    if ready_here > 0 {
        return Some(Entry::Local(ready_here));
    }
    // Only draining endpoints left, anywhere: the nodes running them keep the Service, with
    // equal weights (they take no new connections worth weighting).
    (draining_here && !ready_elsewhere).then_some(Entry::Local(1))
}
