//! What the speaker keeps of Services, EndpointSlices and Nodes.
//!
//! A speaker on a cluster with 10 000 LoadBalancer Services would hold about 7 KiB of
//! `k8s-openapi` objects per Service and EndpointSlice, of which announcing reads a handful of
//! fields. [`LbService`] and [`SliceNodes`] are those fields, read once when an object
//! arrives (the Kubernetes source keeps only these), so a speaker's memory grows by a few
//! hundred bytes per Service rather than kilobytes. A [`SpeakerSnapshot`] is a [`Snapshot`]
//! holding them; [`Snapshot::for_speaker`] derives one from whole objects (manifests mode,
//! the controller's coverage report, tests), so there is one announce code path.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Node, NodeCondition, NodeSpec, NodeStatus, Service, ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use porter_api::FieldError;
use porter_api::annotations::{self, EIP_POOL_LABEL, SERVICE_FINALIZER};

use crate::assign::{Addresses, ingress_ips};
use crate::health::{HealthCheck, PortRef};
use crate::route_attrs::{self, RouteAttrsDelta};
use crate::snapshot::SERVICE_NAME_LABEL;
use crate::status::conditions::HeldCondition;
use crate::status::{ADDRESS_IN_POOL, ANNOUNCED, SERVICE_CONDITIONS};
use crate::{Snapshot, Uid};

/// A [`Snapshot`] as the speaker keeps it: Services and EndpointSlices reduced to what
/// announcing reads. Held in the maps' nodes, not behind an `Arc` each: a speaker plans from
/// its one snapshot in place and never clones it, and an `Arc` cost an allocation and 64
/// bytes more per object (about 8 MB at 100k Services).
pub type SpeakerSnapshot = Snapshot<LbService, SliceNodes>;

/// What announcing needs of a Service that asks Porter for an address and holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbService {
    /// The addresses in `status.loadBalancer.ingress` (never empty); read with [`Self::ingress`].
    ingress: LbAddresses,
    /// `externalTrafficPolicy: Local`: traffic may only enter where an endpoint runs.
    pub local_traffic: bool,
    /// What the `bgp.porter.kubesphere.io/*` and `health.porter.kubesphere.io/*` annotations
    /// say; `None` when they ask for nothing (the common case: one pointer per Service). Read
    /// with [`Self::attrs`], [`Self::attr_errors`], [`Self::health`] and
    /// [`Self::health_errors`].
    extras: Option<Box<Extras>>,
}

/// What a Service's optional annotations ask of the speaker, when they ask anything.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extras {
    bgp: Option<BgpAnnotations>,
    /// The health probe asked for, or the malformed annotations, each naming its key.
    health: Option<Result<HealthCheck, Box<[String]>>>,
}

/// A Service's `bgp.porter.kubesphere.io/*` annotations, when they say anything.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BgpAnnotations {
    /// Well-formed, changing the pool's path attributes.
    Delta(RouteAttrsDelta),
    /// Malformed, each error naming the annotation.
    Malformed(Box<[String]>),
}

impl LbService {
    /// The announce-relevant part of `svc`; `None` when Porter would not announce it
    /// whatever the other objects say (not opted in, or no address in its status).
    pub fn of(svc: &Service) -> Option<Self> {
        Self::holding(svc, &ingress_ips(svc))
    }

    /// [`Self::of`] with the Service holding `ingress` instead of what its status says (the
    /// controller's view of a plan it has not written yet).
    pub fn holding(svc: &Service, ingress: &[IpAddr]) -> Option<Self> {
        if !annotations::opted_in(svc) || ingress.is_empty() {
            return None;
        }
        let local_traffic = svc
            .spec
            .as_ref()
            .and_then(|s| s.external_traffic_policy.as_deref())
            == Some("Local");
        let bgp = match route_attrs::from_annotations(svc) {
            Ok(delta) if delta == RouteAttrsDelta::default() => None,
            Ok(delta) => Some(BgpAnnotations::Delta(delta)),
            Err(errors) => Some(BgpAnnotations::Malformed(
                errors.iter().map(ToString::to_string).collect(),
            )),
        };
        let health = HealthCheck::of(svc)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
            .transpose();
        let extras = (bgp.is_some() || health.is_some()).then(|| Box::new(Extras { bgp, health }));
        Some(Self {
            ingress: match ingress {
                [one] => LbAddresses::One(*one),
                many => LbAddresses::Many(many.into()),
            },
            local_traffic,
            extras,
        })
    }

    /// What the `bgp.porter.kubesphere.io/*` annotations change in the pool's path
    /// attributes; `None` when they change nothing or are malformed.
    pub fn attrs(&self) -> Option<&RouteAttrsDelta> {
        match self.extras.as_ref().and_then(|e| e.bgp.as_ref()) {
            Some(BgpAnnotations::Delta(delta)) => Some(delta),
            _ => None,
        }
    }

    /// The malformed `bgp.porter.kubesphere.io/*` annotations, each naming the annotation.
    /// When there are any, [`Self::attrs`] is `None`: the Service is announced with its Eip's
    /// attributes alone (see [`crate::announce`]).
    pub fn attr_errors(&self) -> &[String] {
        match self.extras.as_ref().and_then(|e| e.bgp.as_ref()) {
            Some(BgpAnnotations::Malformed(errors)) => errors,
            _ => &[],
        }
    }

    /// The health probe the `health.porter.kubesphere.io/*` annotations ask for; `None` when
    /// they ask for none or are malformed.
    pub fn health(&self) -> Option<&HealthCheck> {
        self.extras.as_ref()?.health.as_ref()?.as_ref().ok()
    }

    /// The malformed `health.porter.kubesphere.io/*` annotations, each naming the annotation.
    /// When there are any, [`Self::health`] is `None`: the Service is announced unprobed.
    pub fn health_errors(&self) -> &[String] {
        match self.extras.as_ref().and_then(|e| e.health.as_ref()) {
            Some(Err(errors)) => errors,
            _ => &[],
        }
    }
}

impl LbService {
    /// The addresses in `status.loadBalancer.ingress` (never empty).
    pub fn ingress(&self) -> &[IpAddr] {
        match &self.ingress {
            LbAddresses::One(ip) => std::slice::from_ref(ip),
            LbAddresses::Many(ips) => ips,
        }
    }
}

/// A Service's addresses: nearly every Service holds one, kept inline, which spares an
/// allocation of 32 bytes per Service (3 MB at 100k).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LbAddresses {
    One(IpAddr),
    /// Two or more.
    Many(Box<[IpAddr]>),
}

/// Where the endpoints of one EndpointSlice that take traffic run, as kube-proxy reads them
/// (KEP-1669), and how many ready ones on each node (weighted ECMP announces in proportion):
/// an endpoint is *ready* when Ready and not terminating (it takes new connections),
/// *draining* when terminating but still serving (kube-proxy sends it traffic only while its
/// Service has no ready endpoint in scope: on the node for `externalTrafficPolicy: Local`,
/// anywhere for `Cluster`). A terminating endpoint is never ready here, whatever its Ready
/// condition says (`publishNotReadyAddresses` keeps it true), so a node withdraws as soon as
/// its last local endpoint starts terminating, while the Pod still serves what the router sent
/// before the withdrawal reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceNodes {
    /// The Service it belongs to (label `kubernetes.io/service-name`, in the slice's
    /// namespace), then the nodes running a ready endpoint, sorted, without duplicates, each
    /// name followed by `\n` (which neither contains), or by `\t`, its count of ready endpoints
    /// and `\n` when it runs more than one; then, only when some node runs draining endpoints
    /// and no ready one, an empty line and those nodes the same way (without counts). One
    /// allocation per slice instead of one per endpoint and one for the Service (1.8 MiB of a
    /// speaker's 14.6 at 10k Services, then 3 MB at 100k), and no byte more for the common
    /// node with one endpoint of the Service. Read with [`Self::service`], [`Self::nodes`],
    /// [`Self::endpoints_on`] and [`Self::draining_nodes`].
    names: Box<str>,
    /// A ready or draining endpoint without `nodeName` exists: it serves an
    /// `externalTrafficPolicy: Cluster` Service, but no node can claim it as local.
    pub usable_off_node: bool,
    /// Of a slice read for one node ([`Self::of_on`]) with ready endpoints there: their
    /// addresses and the slice's ports, what the node's health probes connect to. Only the
    /// node's own endpoints, so a speaker keeps addresses of its few local Pods, not of the
    /// cluster's.
    local: Option<Box<LocalEndpoints>>,
}

/// The ready endpoints of one EndpointSlice on one node, and the slice's ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEndpoints {
    /// The first address of each ready endpoint on the node (the one consumers use, by the
    /// EndpointSlice API), in the slice's order.
    pub addresses: Box<[IpAddr]>,
    /// The slice's TCP ports: name (empty when unnamed) and number, in the slice's order.
    pub ports: Box<[(Box<str>, u16)]>,
}

impl LocalEndpoints {
    /// The port `port` refers to, if the slice has it (a number is taken as it is).
    pub fn port(&self, port: &PortRef) -> Option<u16> {
        match port {
            PortRef::First => self.ports.first().map(|&(_, n)| n),
            PortRef::Number(n) => Some(*n),
            PortRef::Name(name) => self.ports.iter().find(|(n, _)| n == name).map(|&(_, n)| n),
        }
    }
}

/// What an endpoint takes, from its conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// New connections: Ready and not terminating.
    New,
    /// Only what kube-proxy sends it while no ready endpoint is in scope: terminating, still
    /// serving.
    Draining,
    /// Nothing.
    Nothing,
}

impl SliceNodes {
    /// The announce-relevant part of `slice`; `None` when it names no Service or has no ready
    /// or draining endpoint (it then changes no decision: not keeping it saves memory on
    /// Services scaled to zero, and its changes wake nobody).
    pub fn of(slice: &EndpointSlice) -> Option<Self> {
        Self::of_on(slice, None)
    }

    /// [`Self::of`], keeping also the addresses of the ready endpoints on `node` (the
    /// [`LocalEndpoints`] its speaker probes) when one is given.
    pub fn of_on(slice: &EndpointSlice, node: Option<&str>) -> Option<Self> {
        let service = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
        if service.contains('\n') {
            // Not a Service's name (a corrupt object): it could own no Service.
            return None;
        }
        let mut ready = Vec::new();
        let mut draining = Vec::new();
        let mut usable_off_node = false;
        let mut local = Vec::new();
        for ep in &slice.endpoints {
            let took = takes(ep);
            if took == Takes::New
                && node.is_some()
                && ep.node_name.as_deref() == node
                && let Some(ip) = ep.addresses.first().and_then(|a| a.parse().ok())
            {
                local.push(ip);
            }
            let list = match took {
                Takes::New => &mut ready,
                Takes::Draining => &mut draining,
                Takes::Nothing => continue,
            };
            match ep.node_name.as_deref() {
                // Not a node name (a corrupt object): usable, but it can match no node and
                // must not break the encoding of `names`.
                Some(node) if node.is_empty() || node.contains(['\n', '\t']) => {
                    usable_off_node = true;
                }
                Some(node) => list.push(node),
                None => usable_off_node = true,
            }
        }
        if ready.is_empty() && draining.is_empty() && !usable_off_node {
            return None;
        }
        ready.sort_unstable();
        draining.sort_unstable();
        draining.dedup();
        draining.retain(|n| ready.binary_search(n).is_err());
        let mut names = String::with_capacity(
            service.len()
                + 1
                + ready
                    .iter()
                    .chain(&draining)
                    .map(|n| n.len() + 1)
                    .sum::<usize>()
                + usize::from(!draining.is_empty()),
        );
        names.push_str(service);
        names.push('\n');
        for run in ready.chunk_by(|a, b| a == b) {
            names.push_str(run[0]);
            if run.len() > 1 {
                names.push('\t');
                names.push_str(&run.len().to_string());
            }
            names.push('\n');
        }
        if !draining.is_empty() {
            names.push('\n');
            for n in draining {
                names.push_str(n);
                names.push('\n');
            }
        }
        let local = (!local.is_empty()).then(|| {
            Box::new(LocalEndpoints {
                addresses: local.into(),
                ports: slice
                    .ports
                    .iter()
                    .flatten()
                    .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
                    .filter_map(|p| {
                        let number = u16::try_from(p.port?).ok().filter(|&n| n > 0)?;
                        Some((p.name.as_deref().unwrap_or("").into(), number))
                    })
                    .collect(),
            })
        });
        Some(Self {
            names: names.into_boxed_str(),
            usable_off_node,
            local,
        })
    }

    /// The Service it belongs to (label `kubernetes.io/service-name`), in the slice's namespace.
    pub fn service(&self) -> &str {
        self.names
            .split_once('\n')
            .map_or("", |(service, _)| service)
    }

    /// The nodes running a ready endpoint, sorted, each with its count of ready endpoints.
    pub fn node_endpoints(&self) -> impl Iterator<Item = (&str, u32)> {
        self.names
            .split_terminator('\n')
            .skip(1)
            .take_while(|n| !n.is_empty())
            .map(|entry| match entry.split_once('\t') {
                // written by `of` from a `usize`: beyond u32 only on a corrupt slice
                Some((node, count)) => (node, count.parse().unwrap_or(u32::MAX)),
                None => (entry, 1),
            })
    }

    /// The nodes running a ready endpoint, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.node_endpoints().map(|(node, _)| node)
    }

    /// How many ready endpoints of this slice run on `node`.
    pub fn endpoints_on(&self, node: &str) -> u32 {
        self.node_endpoints()
            .find(|&(n, _)| n == node)
            .map_or(0, |(_, count)| count)
    }

    /// The nodes running draining endpoints and no ready one, sorted.
    pub fn draining_nodes(&self) -> impl Iterator<Item = &str> {
        self.names
            .split_terminator('\n')
            .skip(1)
            .skip_while(|n| !n.is_empty())
            .skip(1)
    }

    /// Whether any endpoint of this slice takes traffic (ready, or draining: what an
    /// `externalTrafficPolicy: Cluster` Service needs to be announced).
    pub fn any_usable(&self) -> bool {
        self.usable_off_node || self.names.len() > self.service().len() + 1
    }

    /// Whether a ready endpoint runs on some node.
    pub fn any_ready_node(&self) -> bool {
        self.nodes().next().is_some()
    }

    /// Whether a ready endpoint runs on `node`.
    pub fn on_node(&self, node: &str) -> bool {
        self.endpoints_on(node) > 0
    }

    /// The ready endpoints on the node this slice was read for ([`Self::of_on`]), if any.
    pub fn local(&self) -> Option<&LocalEndpoints> {
        self.local.as_deref()
    }

    /// Whether draining endpoints, and no ready one, run on `node`.
    pub fn draining_on_node(&self, node: &str) -> bool {
        self.draining_nodes().any(|n| n == node)
    }
}

/// What `ep` takes. An unset condition counts as the EndpointSlice API defines: Ready as
/// true, Serving as Ready, Terminating as false.
fn takes(ep: &Endpoint) -> Takes {
    let c = ep.conditions.as_ref();
    let ready = c.and_then(|c| c.ready).unwrap_or(true);
    let serving = c.and_then(|c| c.serving).unwrap_or(ready);
    let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
    match (terminating, ready, serving) {
        (false, true, _) => Takes::New,
        (true, _, true) => Takes::Draining,
        // Not ready and not terminating: failing its readiness probe, whatever Serving says
        // (kube-proxy reads Serving only of terminating endpoints).
        _ => Takes::Nothing,
    }
}

/// What planning reads of a Node, for the Kubernetes source to keep: its name and labels
/// (BgpPeer `nodeSelector`, the exclusion label), `spec.unschedulable`, its addresses and the
/// status of its `Ready` condition. Dropped: everything a kubelet rewrites while nothing that
/// matters changes (heartbeat times, images, capacity, the resource version), so a Node's
/// routine status update keeps an equal object and plans nothing anew. Every speaker watches
/// every Node (layer 2 needs them all: the members and the candidates), so this is what a
/// large cluster's Node churn costs it: an equality check.
pub fn planning_node(node: Node) -> Option<Node> {
    let status = node.status.unwrap_or_default();
    let ready = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ == "Ready")
        .map(|c| NodeCondition {
            type_: c.type_,
            status: c.status,
            ..NodeCondition::default()
        })
        .collect();
    Some(Node {
        metadata: ObjectMeta {
            name: node.metadata.name,
            labels: node.metadata.labels,
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            unschedulable: node.spec.and_then(|s| s.unschedulable),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            addresses: status.addresses,
            conditions: Some(ready),
            ..NodeStatus::default()
        }),
    })
}

/// What the controller keeps of a Service: every field it reads or writes, nothing else; `None`
/// when the Service is none of Porter's business (not opted in, and holding no address, no
/// finalizer, no label and no condition of Porter's), so a cluster's other Services cost it
/// nothing. Kept: name, namespace, uid, resourceVersion, generation, creation and deletion
/// time, the finalizers (a patch replaces the whole list), the labels and annotations under
/// `kubesphere.io` (Porter's and OpenELB's), `spec` type, class, `loadBalancerIP`, traffic
/// policy and IP families, `status.loadBalancer` and Porter's conditions. Dropped: ports,
/// selectors, cluster IPs and the rest, most of a Service's size (a controller held 137 MiB
/// for 10k whole Services).
pub fn controller_service(svc: Service) -> Option<Service> {
    let porter_key = |k: &String| k.contains("kubesphere.io");
    let meta = svc.metadata;
    let spec = svc.spec.unwrap_or_default();
    let status = svc.status.unwrap_or_default();
    let conditions: Vec<Condition> = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .filter(|c| SERVICE_CONDITIONS.contains(&c.type_.as_str()))
        .collect();
    let labels: BTreeMap<String, String> = meta
        .labels
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| porter_key(k))
        .collect();
    let annotations: BTreeMap<String, String> = meta
        .annotations
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| porter_key(k))
        .collect();
    let kept = Service {
        metadata: ObjectMeta {
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            generation: meta.generation,
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
            finalizers: meta.finalizers,
            labels: (!labels.is_empty()).then_some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: spec.type_,
            load_balancer_class: spec.load_balancer_class,
            load_balancer_ip: spec.load_balancer_ip,
            external_traffic_policy: spec.external_traffic_policy,
            ip_families: spec.ip_families,
            ..ServiceSpec::default()
        }),
        status: Some(ServiceStatus {
            load_balancer: status.load_balancer,
            conditions: (!conditions.is_empty()).then_some(conditions),
        }),
    };
    let marked = kept
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == SERVICE_FINALIZER))
        || kept
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(EIP_POOL_LABEL));
    let concerned = annotations::opted_in(&kept)
        || marked
        || !ingress_ips(&kept).is_empty()
        || kept.status.as_ref().is_some_and(|s| s.conditions.is_some());
    concerned.then_some(kept)
}

/// A [`Snapshot`] as the controller keeps it: Services reduced to what assigning and deciding
/// their status read ([`ControllerService`]), EndpointSlices to their [`SliceNodes`] (`Arc`s, so
/// a round can keep the objects it writes after letting go of the snapshot).
pub type ControllerSnapshot = Snapshot<Arc<ControllerService>, SliceNodes>;

/// What the controller reads of a Service, each field read once when the Service arrives: no
/// maps, no `ObjectMeta`, no `Condition` strings. A trimmed Service ([`controller_service`])
/// still cost about 1.2 KiB (its label and annotation maps, conditions, metadata strings);
/// this is a few hundred bytes, so 100k Services fit the controller's memory target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerService {
    /// `metadata.uid`, for the Events' reference.
    pub uid: Option<Uid>,
    /// `metadata.resourceVersion`: the precondition of a metadata patch, and how a write is
    /// told from a stale view of the object.
    pub resource_version: Option<Box<str>>,
    /// `metadata.generation`, for the conditions' `observedGeneration`.
    pub generation: Option<i64>,
    /// `metadata.creationTimestamp`: the older claim wins.
    pub created: Option<Timestamp>,
    /// A `deletionTimestamp` is set.
    pub deleting: bool,
    /// It asks Porter for an address ([`annotations::opted_in`]).
    pub opted_in: bool,
    /// It carries Porter's finalizer.
    pub finalizer: bool,
    /// Its other finalizers, in order (a patch of the finalizers replaces the whole list).
    pub other_finalizers: Box<[Box<str>]>,
    /// `spec.ipFamilies[0]` is `IPv6`.
    pub ipv6_first: bool,
    /// The address it asks for ([`annotations::requested_ip`]).
    pub requested_ip: Result<Option<IpAddr>, Box<FieldError>>,
    /// The Eip it names ([`annotations::requested_pool`]).
    pub requested_pool: Option<Box<str>>,
    /// The label `eip.openelb.kubesphere.io/v1alpha2`, as it is (empty included).
    pub pool_label: Option<Box<str>>,
    /// The addresses in `status.loadBalancer.ingress`.
    pub ingress: Addresses,
    /// `externalTrafficPolicy: Local` ([`LbService::local_traffic`]).
    pub local_traffic: bool,
    /// What its BGP and health annotations say ([`LbService::attrs`], [`LbService::health`]); read
    /// only when it is opted in.
    extras: Option<Box<Extras>>,
    /// Its `porter.kubesphere.io/Announced` condition.
    pub announced: Option<HeldCondition>,
    /// Its `porter.kubesphere.io/AddressInPool` condition.
    pub in_pool: Option<HeldCondition>,
}

impl ControllerService {
    /// What the controller reads of `svc`.
    pub fn of(svc: &Service) -> Self {
        let meta = &svc.metadata;
        let spec = svc.spec.as_ref();
        let finalizers = meta.finalizers.as_deref().unwrap_or_default();
        let opted_in = annotations::opted_in(svc);
        // what announcing reads but the addresses, which the plan decides
        let (local_traffic, extras) = match LbService::holding(svc, &[IpAddr::from([0, 0, 0, 0])]) {
            Some(lb) => (lb.local_traffic, lb.extras),
            None => (false, None),
        };
        let held = |type_: &str| {
            svc.status
                .as_ref()
                .and_then(|s| s.conditions.as_deref())
                .and_then(|list| crate::status::conditions::find(list, type_))
                .map(HeldCondition::of)
        };
        Self {
            uid: meta.uid.as_deref().map(Uid::of),
            resource_version: meta.resource_version.as_deref().map(Into::into),
            generation: meta.generation,
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            deleting: meta.deletion_timestamp.is_some(),
            opted_in,
            finalizer: finalizers.iter().any(|f| f == SERVICE_FINALIZER),
            other_finalizers: finalizers
                .iter()
                .filter(|f| *f != SERVICE_FINALIZER)
                .map(|f| f.as_str().into())
                .collect(),
            ipv6_first: spec
                .and_then(|s| s.ip_families.as_ref())
                .and_then(|f| f.first())
                .is_some_and(|f| f == "IPv6"),
            requested_ip: annotations::requested_ip(svc).map_err(Box::new),
            requested_pool: annotations::requested_pool(svc).map(Into::into),
            pool_label: meta
                .labels
                .as_ref()
                .and_then(|l| l.get(EIP_POOL_LABEL))
                .map(|l| l.as_str().into()),
            ingress: ingress_ips(svc).into(),
            local_traffic,
            extras,
            announced: held(ANNOUNCED),
            in_pool: held(ADDRESS_IN_POOL),
        }
    }

    /// Whether it asks Porter for an address ([`crate::assign::wants_address`]).
    pub fn wants_address(&self) -> bool {
        self.opted_in && !self.deleting
    }

    /// The Eip that served the address it holds (the label, when not empty:
    /// [`annotations::allocated_pool`]).
    pub fn allocated_pool(&self) -> Option<&str> {
        self.pool_label.as_deref().filter(|p| !p.is_empty())
    }

    /// What announcing reads of it once it holds `ingress` ([`LbService::holding`]).
    pub fn lb_holding(&self, ingress: &[IpAddr]) -> Option<LbService> {
        (self.opted_in && !ingress.is_empty()).then(|| LbService {
            ingress: match ingress {
                [one] => LbAddresses::One(*one),
                many => LbAddresses::Many(many.into()),
            },
            local_traffic: self.local_traffic,
            extras: self.extras.clone(),
        })
    }

    /// Whether Porter has anything to do with it (see [`controller_service`]).
    pub fn concerned(&self) -> bool {
        self.opted_in
            || self.finalizer
            || self.pool_label.is_some()
            || !self.ingress.is_empty()
            || self.announced.is_some()
            || self.in_pool.is_some()
    }
}

/// What the controller keeps of an EndpointSlice: what [`SliceNodes`] reads (the Service's
/// name label, each endpoint's node and conditions), as an EndpointSlice, for the coverage
/// report (`Announced`); `None` when [`SliceNodes::of`] keeps nothing of it either.
pub fn controller_slice(slice: EndpointSlice) -> Option<EndpointSlice> {
    SliceNodes::of(&slice)?;
    let service = slice.metadata.labels?.remove_entry(SERVICE_NAME_LABEL)?;
    Some(EndpointSlice {
        metadata: ObjectMeta {
            name: slice.metadata.name,
            namespace: slice.metadata.namespace,
            labels: Some(BTreeMap::from([service])),
            ..ObjectMeta::default()
        },
        address_type: slice.address_type,
        endpoints: slice
            .endpoints
            .into_iter()
            .map(|ep| Endpoint {
                node_name: ep.node_name,
                conditions: ep.conditions,
                ..Endpoint::default()
            })
            .collect(),
        ports: None,
    })
}

impl Snapshot {
    /// This snapshot as the controller keeps it (every Service, Porter's or not): the other
    /// kinds are cloned as they are.
    pub fn for_controller(&self) -> ControllerSnapshot {
        self.projected(|svc| Some(Arc::new(ControllerService::of(svc))), None)
    }

    /// This snapshot as a speaker keeps it: the other kinds are cloned as they are.
    pub fn for_speaker(&self) -> SpeakerSnapshot {
        self.projected(LbService::of, None)
    }

    /// [`Self::for_speaker`] as `node`'s speaker keeps it: with the addresses of the node's
    /// own ready endpoints, which its health probes connect to.
    pub fn for_speaker_on(&self, node: &str) -> SpeakerSnapshot {
        self.projected(LbService::of, Some(node))
    }

    /// Each Service as `service` keeps it, each EndpointSlice as [`SliceNodes`], the other
    /// kinds cloned.
    fn projected<S>(
        &self,
        service: impl Fn(&Service) -> Option<S>,
        node: Option<&str>,
    ) -> Snapshot<S, SliceNodes> {
        Snapshot {
            eips: self.eips.clone(),
            bgp_confs: self.bgp_confs.clone(),
            bgp_peers: self.bgp_peers.clone(),
            services: self
                .services
                .iter()
                .filter_map(|(key, svc)| Some((key.clone(), service(svc)?)))
                .collect(),
            endpoint_slices: self
                .endpoint_slices
                .iter()
                .filter_map(|(key, slice)| Some((key.clone(), SliceNodes::of_on(slice, node)?)))
                .collect(),
            nodes: self.nodes.clone(),
            namespaces: self.namespaces.clone(),
            secrets: self.secrets.clone(),
            unreadable_secrets: self.unreadable_secrets.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectKey;

    fn service(annotations: serde_json::Value, ips: &[&str], etp: &str) -> Service {
        let ingress: Vec<_> = ips.iter().map(|ip| serde_json::json!({"ip": ip})).collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": etp},
            "status": {"loadBalancer": {"ingress": ingress}}
        }))
        .unwrap()
    }

    fn opted_in() -> serde_json::Value {
        serde_json::json!({"lb.kubesphere.io/v1alpha1": "porter"})
    }

    #[test]
    fn a_service_is_kept_only_when_porter_would_announce_it() {
        let none = serde_json::json!({});
        assert_eq!(
            LbService::of(&service(none, &["10.0.0.1"], "Cluster")),
            None
        );
        assert_eq!(LbService::of(&service(opted_in(), &[], "Cluster")), None);
        let kept = LbService::of(&service(opted_in(), &["10.0.0.1"], "Local")).unwrap();
        assert_eq!(kept.ingress(), &["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(kept.local_traffic);
        assert_eq!(kept.attrs(), None, "no BGP annotation: nothing stored");
        assert!(kept.attr_errors().is_empty());
    }

    #[test]
    fn bgp_annotations_are_parsed_once_and_errors_keep_their_field() {
        let mut annotations = opted_in();
        annotations["bgp.porter.kubesphere.io/med"] = "50".into();
        let kept = LbService::of(&service(annotations.clone(), &["10.0.0.1"], "")).unwrap();
        assert_eq!(kept.attrs().and_then(|a| a.med), Some(50));
        assert!(!kept.local_traffic);

        annotations["bgp.porter.kubesphere.io/med"] = "lots".into();
        let kept = LbService::of(&service(annotations, &["10.0.0.1"], "")).unwrap();
        assert_eq!(kept.attrs(), None);
        assert_eq!(kept.attr_errors().len(), 1);
        assert!(kept.attr_errors()[0].contains("bgp.porter.kubesphere.io/med"));
    }

    #[test]
    fn the_controller_keeps_what_it_reads_of_a_service_and_drops_the_others() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1",
                "resourceVersion": "7", "generation": 2,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["other/finalizer", SERVICE_FINALIZER],
                "labels": {"app": "web", EIP_POOL_LABEL: "pool"},
                "annotations": {"lb.kubesphere.io/v1alpha1": "porter",
                    "bgp.porter.kubesphere.io/med": "50",
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "ipFamilies": ["IPv6"], "loadBalancerIP": "2001:db8::1",
                "selector": {"app": "web"}, "clusterIP": "10.96.0.1",
                "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "2001:db8::1"}]},
                "conditions": [
                    {"type": "porter.kubesphere.io/Announced", "status": "True", "reason": "Announced",
                     "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "other.io/Ready", "status": "True", "reason": "Fine",
                     "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        let kept = controller_service(svc.clone()).unwrap();
        let meta = &kept.metadata;
        assert_eq!(ObjectKey::of(meta), ObjectKey::of(&svc.metadata));
        assert_eq!(meta.uid, svc.metadata.uid);
        assert_eq!(meta.resource_version, svc.metadata.resource_version);
        assert_eq!(meta.generation, Some(2));
        assert_eq!(meta.creation_timestamp, svc.metadata.creation_timestamp);
        assert_eq!(
            meta.finalizers, svc.metadata.finalizers,
            "a patch replaces the whole list"
        );
        assert_eq!(
            meta.labels,
            Some(BTreeMap::from([(
                EIP_POOL_LABEL.to_owned(),
                "pool".to_owned()
            )]))
        );
        let annotations = meta.annotations.as_ref().unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["bgp.porter.kubesphere.io/med", "lb.kubesphere.io/v1alpha1"]
        );
        let spec = kept.spec.as_ref().unwrap();
        assert_eq!(spec.selector, None);
        assert_eq!(spec.ports, None);
        assert_eq!(spec.cluster_ip, None);
        assert_eq!(spec.load_balancer_ip.as_deref(), Some("2001:db8::1"));
        assert_eq!(spec.ip_families, Some(vec!["IPv6".to_owned()]));
        let status = kept.status.as_ref().unwrap();
        let types: Vec<&str> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["porter.kubesphere.io/Announced"]);
        // every reading of the model gives the same answer on what is kept
        assert_eq!(
            crate::assign::ingress_ips(&kept),
            crate::assign::ingress_ips(&svc)
        );
        assert_eq!(annotations::opted_in(&kept), annotations::opted_in(&svc));
        assert_eq!(
            annotations::requested_ip(&kept).unwrap(),
            annotations::requested_ip(&svc).unwrap()
        );
        assert_eq!(LbService::of(&kept), LbService::of(&svc));
        assert_eq!(
            crate::status::marks_of(&kept),
            crate::status::marks_of(&svc)
        );

        // a Service Porter has nothing to do with is not kept at all
        let plain: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db", "namespace": "default",
                "annotations": {"lb.kubesphere.io/v1alpha1": "porter"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.2"}
        }))
        .unwrap();
        assert_eq!(controller_service(plain.clone()), None);
        // ... unless it still carries something of Porter's to take back
        let mut released = plain;
        released.metadata.finalizers = Some(vec![SERVICE_FINALIZER.to_owned()]);
        assert!(controller_service(released).is_some());
    }

    fn slice(endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "endpoints": endpoints
        }))
        .unwrap()
    }

    #[test]
    fn a_slice_keeps_the_nodes_of_its_ready_and_of_its_draining_endpoints() {
        let s = SliceNodes::of(&slice(serde_json::json!([
            {"addresses": ["10.1.0.1"], "nodeName": "n2"},
            {"addresses": ["10.1.0.2"], "nodeName": "n1", "conditions": {"ready": true}},
            {"addresses": ["10.1.0.3"], "nodeName": "n2"},
            // not ready, not serving: no traffic
            {"addresses": ["10.1.0.4"], "nodeName": "n3", "conditions": {"ready": false}},
            // not ready and not terminating: kube-proxy ignores Serving, no traffic
            {"addresses": ["10.1.0.5"], "nodeName": "n4",
                "conditions": {"ready": false, "serving": true, "terminating": false}},
            // terminating, still serving: draining
            {"addresses": ["10.1.0.6"], "nodeName": "n5",
                "conditions": {"ready": false, "serving": true, "terminating": true}},
            // terminating with Ready kept true (publishNotReadyAddresses): draining too
            {"addresses": ["10.1.0.7"], "nodeName": "n6",
                "conditions": {"ready": true, "serving": true, "terminating": true}},
            // terminating and no longer serving: nothing
            {"addresses": ["10.1.0.8"], "nodeName": "n7",
                "conditions": {"ready": false, "serving": false, "terminating": true}},
            // draining beside a ready endpoint on the same node: the node is ready
            {"addresses": ["10.1.0.9"], "nodeName": "n1",
                "conditions": {"ready": false, "serving": true, "terminating": true}},
        ])))
        .unwrap();
        assert_eq!(s.service(), "web");
        assert_eq!(s.nodes().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(
            s.node_endpoints().collect::<Vec<_>>(),
            [("n1", 1), ("n2", 2)],
            "counts only ready endpoints"
        );
        assert_eq!(
            [
                s.endpoints_on("n1"),
                s.endpoints_on("n2"),
                s.endpoints_on("n5")
            ],
            [1, 2, 0]
        );
        assert_eq!(s.draining_nodes().collect::<Vec<_>>(), ["n5", "n6"]);
        assert!(s.on_node("n1") && s.on_node("n2"));
        assert!(!s.on_node("n3") && !s.on_node("n4") && !s.on_node("n5"));
        assert!(!s.on_node("n") && !s.on_node(""));
        assert!(s.draining_on_node("n5") && !s.draining_on_node("n1"));
        assert!(s.any_usable() && s.any_ready_node());
        assert!(!s.usable_off_node);
    }

    #[test]
    fn a_slice_whose_endpoints_all_terminate_keeps_the_draining_nodes() {
        let s = SliceNodes::of(&slice(serde_json::json!([
            {"addresses": ["10.1.0.1"], "nodeName": "n3",
                "conditions": {"ready": false, "serving": true, "terminating": true}},
            {"addresses": ["10.1.0.2"], "nodeName": "n1",
                "conditions": {"ready": false, "serving": false, "terminating": true}},
        ])))
        .unwrap();
        assert_eq!(s.service(), "web");
        assert_eq!(s.nodes().count(), 0);
        assert_eq!(s.draining_nodes().collect::<Vec<_>>(), ["n3"]);
        assert!(s.any_usable() && !s.any_ready_node());
        assert!(!s.on_node("n3") && s.draining_on_node("n3"));

        // once it stops serving nothing is kept
        let stopped = serde_json::json!([{"addresses": ["10.1.0.1"], "nodeName": "n3",
            "conditions": {"ready": false, "serving": false, "terminating": true}}]);
        assert_eq!(SliceNodes::of(&slice(stopped)), None);
        // a draining endpoint without a node serves Cluster traffic only
        let off = SliceNodes::of(&slice(serde_json::json!([{"addresses": ["10.1.0.1"],
            "conditions": {"ready": false, "serving": true, "terminating": true}}])))
        .unwrap();
        assert!(off.usable_off_node && off.any_usable() && !off.any_ready_node());
        assert_eq!(off.draining_nodes().count(), 0);
    }

    #[test]
    fn the_controller_keeps_of_a_slice_what_its_nodes_are_read_from() {
        let mut whole = slice(serde_json::json!([
            {"addresses": ["10.1.0.1"], "nodeName": "n2",
                "targetRef": {"kind": "Pod", "name": "web-1"}},
            {"addresses": ["10.1.0.2"], "nodeName": "n1", "conditions": {"ready": false}},
        ]));
        whole
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("other".into(), "x".into());
        let kept = controller_slice(whole.clone()).unwrap();
        assert_eq!(SliceNodes::of(&kept), SliceNodes::of(&whole));
        assert_eq!(kept.metadata.labels.as_ref().unwrap().len(), 1);
        assert!(
            kept.endpoints
                .iter()
                .all(|e| e.addresses.is_empty() && e.target_ref.is_none())
        );
        assert_eq!(controller_slice(slice(serde_json::json!([]))), None);
    }

    #[test]
    fn endpoints_without_a_usable_node_name_serve_cluster_traffic_only() {
        let s = SliceNodes::of(&slice(serde_json::json!([
            {"addresses": ["10.1.0.1"]},
            {"addresses": ["10.1.0.2"], "nodeName": "bad\nname"},
            {"addresses": ["10.1.0.3"], "nodeName": "bad\t2"},
        ])))
        .unwrap();
        assert_eq!(s.nodes().count(), 0);
        assert!(s.usable_off_node && s.any_usable());
        assert!(!s.on_node("bad") && !s.on_node("name"));
        assert_eq!(s.endpoints_on("bad"), 0);

        assert_eq!(SliceNodes::of(&slice(serde_json::json!([]))), None);
        let not_ready = serde_json::json!([{"addresses": ["10.1.0.1"], "nodeName": "n1",
            "conditions": {"ready": false}}]);
        assert_eq!(SliceNodes::of(&slice(not_ready)), None);

        // a label no Service name can equal: nothing of the slice is kept
        let mut corrupt = slice(serde_json::json!([{"addresses": ["10.1.0.1"], "nodeName": "n1"}]));
        corrupt
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(SERVICE_NAME_LABEL.into(), "web\nn1".into());
        assert_eq!(SliceNodes::of(&corrupt), None);

        let mut orphan = slice(serde_json::json!([]));
        orphan.metadata.labels = None;
        assert_eq!(SliceNodes::of(&orphan), None);
    }
}
