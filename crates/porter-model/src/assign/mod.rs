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
    pub services: BTreeMap<ObjectKey, ServicePlan>,
    /// Desired status of every Eip.
    pub eips: BTreeMap<String, EipPlan>,
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
    let mut services = Vec::new();

    // Opted-in Services, oldest first, so that on a conflict the older claim wins.
    let mut wanted: Vec<(&ObjectKey, &ControllerService)> = view
        .services()
        .filter(|(_, svc)| svc.wants_address())
        .map(|(key, svc)| (key, &**svc))
        .collect();
    wanted.sort_by_key(|(key, svc)| (svc.created, *key));

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
    for (key, svc) in view.services() {
        if svc.wants_address() {
            continue;
        }
        if svc
            .ingress
            .iter()
            .any(|ip| allocator.pool_of(*ip).is_some())
        {
            services.push((
                key.clone(),
                ServicePlan {
                    ingress: Ingress::NONE,
                    pool: None,
                    outcome: Outcome::Released,
                },
            ));
        }
    }
    // Built in one go (sorted in the `Vec`'s own buffer, then bulk-built): a map grown by
    // inserts keeps its nodes about half full, and the plan's map was a sixth of a
    // controller's heap at 100k Services.
    let services: BTreeMap<ObjectKey, ServicePlan> = services.into_iter().collect();

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
