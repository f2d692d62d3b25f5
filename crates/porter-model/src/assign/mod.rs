//! The controller's decision: which Service holds which address.
//!
//! [`plan`] recomputes every assignment from a [`Snapshot`] and is deliberately stateless:
//! after a restart, a resync or a missed event the same objects give the same answer.
//! It never reshuffles: addresses Services already hold (their `status.loadBalancer`) are
//! restored into the allocator *before* anything new is handed out, and are only given up
//! when the Service's own intent changes (a different requested IP or pool) or it stops
//! asking Porter.
//!
//! Its parts: what a Service asks for (`intent`), what it already holds (`restore`, and
//! [`Orphan`]), why it got nothing ([`Failure`]) and each Eip's status ([`EipPlan`]). Which
//! Eips are pools at all is [`crate::pools`]' verdict, shared with the speaker.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use porter_api::annotations;

use crate::pools::Pools;
use crate::projection::ControllerService;
use crate::{ControllerView, ObjectKey, Snapshot};

mod eip_status;
mod failure;
mod intent;
mod restore;

pub use eip_status::EipPlan;
pub use failure::{Failure, FailureReason};
pub use restore::Orphan;

use eip_status::eip_status;
use intent::Intent;
use restore::{Restored, restore};

/// Every Service's and every Eip's desired state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Opted-in Services, and Services that must give an address back.
    pub services: ServicePlans,
    /// Desired status of every Eip.
    pub eips: BTreeMap<String, EipPlan>,
}

/// Every Service's plan, sorted by key: a map held as one sorted `Vec`, built once per plan
/// and read by key or in order. At 100k Services a `BTreeMap` cost its node slack (nodes
/// about two thirds full) and, while it was built, a second copy of every entry; a round
/// takes the entries as they are ([`IntoIterator`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicePlans(Vec<(ObjectKey, ServicePlan)>);

impl ServicePlans {
    /// `entries` (one per key) sorted in place: no second buffer, which a stable sort of
    /// 100k entries would take.
    fn sorted(mut entries: Vec<(ObjectKey, ServicePlan)>) -> Self {
        entries.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        debug_assert!(
            entries.windows(2).all(|w| w[0].0 != w[1].0),
            "one plan per key"
        );
        Self(entries)
    }

    fn position(&self, key: &ObjectKey) -> Option<usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key)).ok()
    }

    /// The plan of `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<&ServicePlan> {
        Some(&self.0[self.position(key)?].1)
    }

    /// The plan of `key`, to change it (a caller's own what-if).
    pub fn get_mut(&mut self, key: &ObjectKey) -> Option<&mut ServicePlan> {
        let i = self.position(key)?;
        Some(&mut self.0[i].1)
    }

    /// Whether `key` is planned.
    pub fn contains_key(&self, key: &ObjectKey) -> bool {
        self.position(key).is_some()
    }

    /// Number of Services planned.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no Service is planned.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every plan with its key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &ServicePlan)> {
        self.0.iter().map(|(k, p)| (k, p))
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.0.iter().map(|(k, _)| k)
    }

    /// Every plan, in key order.
    pub fn values(&self) -> impl Iterator<Item = &ServicePlan> {
        self.0.iter().map(|(_, p)| p)
    }
}

impl IntoIterator for ServicePlans {
    type Item = (ObjectKey, ServicePlan);
    type IntoIter = std::vec::IntoIter<(ObjectKey, ServicePlan)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ServicePlans {
    type Item = (&'a ObjectKey, &'a ServicePlan);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (ObjectKey, ServicePlan)>,
        fn(&'a (ObjectKey, ServicePlan)) -> (&'a ObjectKey, &'a ServicePlan),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, p)| (k, p))
    }
}

impl std::ops::Index<&ObjectKey> for ServicePlans {
    type Output = ServicePlan;

    /// The plan of `key`; panics when it is not planned, as a map's index does.
    fn index(&self, key: &ObjectKey) -> &ServicePlan {
        self.get(key).expect("no plan for this Service")
    }
}

/// What a Service should hold, and why. Kept small (an address inline, the Eip's name
/// shared, a failure boxed): a controller holds one per Service, 100k of them in a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// The addresses for `status.loadBalancer.ingress`, empty when none could be assigned.
    pub ingress: Ingress,
    /// The Eip the address came from (OpenELB writes it as a label on the Service); one
    /// allocation per Eip, shared by the plans of its Services.
    pub pool: Option<Arc<str>>,
    /// How this plan relates to what the Service held.
    pub outcome: Outcome,
}

/// The addresses a plan gives a Service: none or one (Porter assigns one address per
/// Service), held inline rather than in a `Vec` of its own; read it as a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ingress(Option<IpAddr>);

impl Ingress {
    /// No address.
    pub const NONE: Ingress = Ingress(None);

    /// The one address `ip`.
    pub fn one(ip: IpAddr) -> Self {
        Self(Some(ip))
    }
}

impl Deref for Ingress {
    type Target = [IpAddr];

    fn deref(&self) -> &[IpAddr] {
        self.0.as_slice()
    }
}

impl<'a> IntoIterator for &'a Ingress {
    type Item = &'a IpAddr;
    type IntoIter = std::slice::Iter<'a, IpAddr>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq<Ingress> for Vec<IpAddr> {
    fn eq(&self, other: &Ingress) -> bool {
        **self == **other
    }
}

/// The addresses a Service holds (its `status.loadBalancer.ingress`): one inline, the common
/// case, or any number (a hand edit) in a slice of their own; read it as a slice. The
/// controller keeps one per Service: no allocation for 100k single addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Addresses {
    /// None.
    #[default]
    None,
    /// One address.
    One(IpAddr),
    /// Two or more.
    Many(Box<[IpAddr]>),
}

impl From<Vec<IpAddr>> for Addresses {
    fn from(ips: Vec<IpAddr>) -> Self {
        match ips.as_slice() {
            [] => Self::None,
            [ip] => Self::One(*ip),
            _ => Self::Many(ips.into()),
        }
    }
}

impl Deref for Addresses {
    type Target = [IpAddr];

    fn deref(&self) -> &[IpAddr] {
        match self {
            Self::None => &[],
            Self::One(ip) => std::slice::from_ref(ip),
            Self::Many(ips) => ips,
        }
    }
}

impl<const N: usize> PartialEq<[IpAddr; N]> for Ingress {
    fn eq(&self, other: &[IpAddr; N]) -> bool {
        **self == *other
    }
}

/// How a Service's plan relates to its current status: what events to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It keeps the address it holds.
    Kept,
    /// It gets a new address.
    Assigned,
    /// No address could be assigned; its `Display` is the `AllocationFailed` event's message
    /// (boxed: the rare case need not size every plan).
    Failed(Box<Failure>),
    /// It no longer asks Porter for an address; what it held is released.
    Released,
    /// It holds an address that is in no Eip any more: kept, never silently moved, but the
    /// operator is warned (its `Display` says what to do).
    Orphaned(Orphan),
}

/// Computes every Service's assignment and every Eip's status from `snapshot`.
pub fn plan(snapshot: &Snapshot) -> Plan {
    plan_view(&ControllerView::of(&snapshot.for_controller()))
}

/// [`plan`] from what the controller keeps ([`ControllerView`]).
pub fn plan_view(view: &ControllerView<'_>) -> Plan {
    let pools = Pools::of(view.eips());
    let mut allocator = pools.allocator();
    let Pools { valid, mut errors } = pools;
    // each pool's name once, shared by the plans of the Services it serves
    let names: BTreeMap<&str, Arc<str>> = valid
        .keys()
        .map(|name| (name.as_str(), Arc::from(name.as_str())))
        .collect();
    let shared = |pool: &str| names.get(pool).map_or_else(|| Arc::from(pool), Arc::clone);

    // Opted-in Services, oldest first, so that on a conflict the older claim wins.
    let mut wanted: Vec<(&ObjectKey, &ControllerService)> = view
        .services()
        .filter(|(_, svc)| svc.wants_address())
        .map(|(key, svc)| (key, &**svc))
        .collect();
    wanted.sort_by_key(|(key, svc)| (svc.created, *key));

    // Services giving an address back: counted first, so the entries are allocated once.
    let releasing: Vec<&ObjectKey> = view
        .services()
        .filter(|(_, svc)| !svc.wants_address())
        .filter(|(_, svc)| {
            svc.ingress
                .iter()
                .any(|ip| allocator.pool_of(*ip).is_some())
        })
        .map(|(key, _)| key)
        .collect();
    let mut services = Vec::with_capacity(wanted.len() + releasing.len());

    // Phase 1: restore what Services hold, so nothing new can take it.
    let mut pending = Vec::new();
    for &(key, svc) in &wanted {
        let intent = match Intent::of(svc) {
            Ok(intent) => intent,
            Err(failure) => {
                services.push((key.clone(), failed(failure)));
                continue;
            }
        };
        match restore(&mut allocator, key, &svc.ingress, &intent) {
            Restored::Kept(ip, pool) => {
                // Only the restored address is recorded; any other one listed (a hand edit:
                // Porter writes one) is dropped rather than left free for another Service.
                services.push((
                    key.clone(),
                    ServicePlan {
                        ingress: Ingress::one(ip),
                        pool: Some(shared(&pool)),
                        outcome: Outcome::Kept,
                    },
                ));
            }
            Restored::Orphaned(orphan) => {
                services.push((
                    key.clone(),
                    ServicePlan {
                        ingress: Ingress::one(orphan.ip),
                        pool: None,
                        outcome: Outcome::Orphaned(orphan),
                    },
                ));
            }
            Restored::Nothing => pending.push((key, svc, intent)),
        }
    }

    // not held through the rest of the plan, at the controller's peak of memory
    drop(wanted);

    // Phase 2: assign to everybody else, in the same deterministic order.
    for (key, svc, intent) in pending {
        let owner = key.to_string();
        let plan = match intent.request(view, key, svc, &valid) {
            Err(failure) => failed(failure),
            Ok(request) => match allocator.assign(&owner, &request) {
                Ok(a) => ServicePlan {
                    ingress: Ingress::one(a.ip),
                    pool: Some(shared(&a.pool)),
                    outcome: Outcome::Assigned,
                },
                Err(e) => failed(Failure::Alloc(e)),
            },
        };
        services.push((key.clone(), plan));
    }

    // Services that stopped asking Porter give back what they held from Porter's pools.
    for key in releasing {
        services.push((
            key.clone(),
            ServicePlan {
                ingress: Ingress::NONE,
                pool: None,
                outcome: Outcome::Released,
            },
        ));
    }
    // Sorted in place: the plan's entries are held once.
    let services = ServicePlans::sorted(services);

    let eips = view
        .eips()
        .keys()
        .map(|name| {
            let plan = EipPlan {
                status: eip_status(&allocator, name, valid.get(name)),
                errors: errors.remove(name).unwrap_or_default(),
            };
            (name.clone(), plan)
        })
        .collect();
    Plan { services, eips }
}

/// Whether a Service asks Porter for an address: it opted in and is not being deleted. A
/// Service with a `deletionTimestamp` (held back by Porter's finalizer) gives its address
/// back, so it is released before it disappears, as in OpenELB's `needRelease`.
pub fn wants_address(svc: &Service) -> bool {
    annotations::opted_in(svc) && svc.metadata.deletion_timestamp.is_none()
}

fn failed(failure: Failure) -> ServicePlan {
    ServicePlan {
        ingress: Ingress::NONE,
        pool: None,
        outcome: Outcome::Failed(Box::new(failure)),
    }
}

/// The addresses in a Service's `status.loadBalancer.ingress`.
pub fn ingress_ips(svc: &Service) -> Vec<IpAddr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|ingress| {
            ingress
                .iter()
                .filter_map(|i| i.ip.as_deref()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod deletion_tests {
    use super::*;

    fn snapshot(deleting: bool) -> Snapshot {
        let eip: porter_api::Eip = serde_json::from_value(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": "pool"},
            "spec": {"address": "203.0.113.10-203.0.113.12"}
        }))
        .unwrap();
        let mut meta = serde_json::json!({
            "name": "web", "namespace": "default",
            "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"},
            "finalizers": ["finalizer.lb.kubesphere.io/v1alpha1"]
        });
        if deleting {
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        }
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": meta,
            "spec": {"type": "LoadBalancer"},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
        }))
        .unwrap();
        let mut s = Snapshot::default();
        s.eips.insert("pool".into(), eip);
        s.services.insert(ObjectKey::new("default", "web"), svc);
        s
    }

    #[test]
    fn a_service_being_deleted_releases_its_address() {
        let key = ObjectKey::new("default", "web");
        let live = plan(&snapshot(false));
        assert_eq!(live.services[&key].outcome, Outcome::Kept);
        assert_eq!(live.eips["pool"].status.usage, Some(1));

        let deleting = plan(&snapshot(true));
        let svc = &deleting.services[&key];
        assert_eq!(svc.outcome, Outcome::Released);
        assert!(svc.ingress.is_empty());
        assert_eq!(deleting.eips["pool"].status.usage, Some(0));
    }
}
