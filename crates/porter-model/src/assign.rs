//! The controller's decision: which Service holds which address.
//!
//! [`plan`] recomputes every assignment from a [`Snapshot`] and is deliberately stateless:
//! after a restart, a resync or a missed event the same objects give the same answer.
//! It never reshuffles: addresses Services already hold (their `status.loadBalancer`) are
//! restored into the allocator *before* anything new is handed out, and are only given up
//! when the Service's own intent changes (a different requested IP or pool) or it stops
//! asking Porter.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use porter_api::{Eip, EipStatus, annotations};
use porter_ipam::{AllocError, Allocator, Family, PoolOptions, Request};

use crate::valid::{ValidEip, Validate};
use crate::{ObjectKey, Snapshot, selector};

/// Every Service's and every Eip's desired state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Opted-in Services, and Services that must give an address back.
    pub services: BTreeMap<ObjectKey, ServicePlan>,
    /// Desired status of every Eip.
    pub eips: BTreeMap<String, EipPlan>,
}

/// What a Service should hold, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// The addresses for `status.loadBalancer.ingress`, empty when none could be assigned.
    pub ingress: Vec<IpAddr>,
    /// The Eip the address came from (OpenELB writes it as a label on the Service).
    pub pool: Option<String>,
    /// How this plan relates to what the Service held.
    pub outcome: Outcome,
}

/// How a Service's plan relates to its current status: what events to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It keeps the address it holds.
    Kept,
    /// It gets a new address.
    Assigned,
    /// No address could be assigned; the message is meant for an `AllocationFailed` event.
    Failed(Failure),
    /// It no longer asks Porter for an address; what it held is released.
    Released,
    /// It holds an address that is in no Eip any more: kept, never silently moved, but the
    /// operator is warned (the reason says what to do).
    Orphaned(String),
}

/// Why a Service got no address: a bounded kind (metrics labels, alerts) and the message for
/// its `AllocationFailed` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure it is.
    pub reason: FailureReason,
    /// What happened, naming the objects and fields involved.
    pub message: String,
}

impl Failure {
    fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The kinds of allocation failure, derived from where the plan stopped (the Service's
/// annotations, the Eip it names, the allocator's [`AllocError`]), never from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureReason {
    /// The Service asks for something malformed (a requested address that is not an IP).
    InvalidRequest,
    /// The Eip the Service names does not exist.
    UnknownEip,
    /// The Eip the Service names is invalid (see its status).
    InvalidEip,
    /// No Eip serves the Service: none named, none bound to its namespace, no default.
    NoPool,
    /// Every Eip that may serve it is full (or disabled).
    PoolExhausted,
    /// The requested address is held by another Service.
    Conflict,
    /// The requested address is in no Eip, or not in the one(s) allowed.
    NotInPool,
    /// The requested address is in a disabled Eip.
    PoolDisabled,
    /// No allowed Eip provides the Service's address family.
    FamilyMismatch,
    /// The requested address ends in .0 or .255 and its Eip sets `avoidBuggyIPs`.
    AvoidedAddress,
}

impl FailureReason {
    /// Every kind, in a fixed order.
    pub const ALL: [FailureReason; 10] = [
        Self::InvalidRequest,
        Self::UnknownEip,
        Self::InvalidEip,
        Self::NoPool,
        Self::PoolExhausted,
        Self::Conflict,
        Self::NotInPool,
        Self::PoolDisabled,
        Self::FamilyMismatch,
        Self::AvoidedAddress,
    ];

    /// A fixed snake_case name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnknownEip => "unknown_eip",
            Self::InvalidEip => "invalid_eip",
            Self::NoPool => "no_pool",
            Self::PoolExhausted => "pool_exhausted",
            Self::Conflict => "conflict",
            Self::NotInPool => "not_in_pool",
            Self::PoolDisabled => "pool_disabled",
            Self::FamilyMismatch => "family_mismatch",
            Self::AvoidedAddress => "avoided_address",
        }
    }
}

impl From<&AllocError> for FailureReason {
    fn from(error: &AllocError) -> Self {
        match error {
            AllocError::Conflict { .. } | AllocError::AlreadyAssigned { .. } => Self::Conflict,
            AllocError::NotInAnyPool { .. } | AllocError::NotInRequestedPools { .. } => {
                Self::NotInPool
            }
            AllocError::PoolDisabled { .. } => Self::PoolDisabled,
            AllocError::UnknownPool { .. } => Self::UnknownEip,
            AllocError::PoolsExhausted { .. } => Self::PoolExhausted,
            AllocError::FamilyMismatch { .. } => Self::FamilyMismatch,
            AllocError::NoPool => Self::NoPool,
            AllocError::BuggyIpAvoided { .. } => Self::AvoidedAddress,
        }
    }
}

/// Desired status of one Eip, or why it cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct EipPlan {
    /// The status to write (OpenELB's fields: poolSize, used, usage, ...).
    pub status: EipStatus,
    /// Problems that make the Eip unusable, each naming the field (`spec.address: ...`).
    pub errors: Vec<String>,
}

/// The validated pools, in the order ties are broken: the oldest Eip wins an overlap.
/// The speaker uses the same verdict, so an Eip the controller rejects is never announced.
pub(crate) fn pools(
    eips: &BTreeMap<String, Eip>,
) -> (
    Allocator,
    BTreeMap<String, ValidEip>,
    BTreeMap<String, Vec<String>>,
) {
    let mut allocator = Allocator::new();
    let mut valid = BTreeMap::new();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: Vec<_> = eips.iter().collect();
    order.sort_by_key(|(name, eip)| {
        (
            eip.metadata.creation_timestamp.as_ref().map(|t| t.0),
            (*name).clone(),
        )
    });
    for (name, eip) in order {
        match eip.validate() {
            Ok(pool) => match allocator.set_pool_with(
                name,
                pool.range,
                PoolOptions {
                    disabled: pool.disabled,
                    avoid_buggy_ips: pool.avoid_buggy_ips,
                },
            ) {
                Ok(()) => {
                    valid.insert(name.clone(), pool);
                }
                Err(e) => errors
                    .entry(name.clone())
                    .or_default()
                    .push(format!("spec.address: {e}")),
            },
            Err(field_errors) => {
                errors
                    .entry(name.clone())
                    .or_default()
                    .extend(field_errors.iter().map(ToString::to_string));
            }
        }
    }
    (allocator, valid, errors)
}

/// Computes every Service's assignment and every Eip's status from `snapshot`.
pub fn plan(snapshot: &Snapshot) -> Plan {
    let (mut allocator, valid, mut eip_errors) = pools(&snapshot.eips);
    let mut services = BTreeMap::new();

    // Opted-in Services, oldest first, so that on a conflict the older claim wins.
    let mut wanted: Vec<(&ObjectKey, &Service)> = snapshot
        .services
        .iter()
        .filter(|(_, svc)| wants_address(svc))
        .collect();
    wanted.sort_by_key(|(key, svc)| {
        (
            svc.metadata.creation_timestamp.as_ref().map(|t| t.0),
            (*key).clone(),
        )
    });

    // Phase 1: restore what Services hold, so nothing new can take it.
    let mut pending = Vec::new();
    for &(key, svc) in &wanted {
        let intent = match Intent::of(svc) {
            Ok(intent) => intent,
            Err(failure) => {
                services.insert(key.clone(), failed(failure));
                continue;
            }
        };
        let held = ingress_ips(svc);
        match restore(&mut allocator, key, &held, &intent) {
            Restored::Kept(ip, pool) => {
                // Only the restored address is recorded; any other one listed (a hand edit:
                // Porter writes one) is dropped rather than left free for another Service.
                services.insert(
                    key.clone(),
                    ServicePlan {
                        ingress: vec![ip],
                        pool: Some(pool),
                        outcome: Outcome::Kept,
                    },
                );
            }
            Restored::Orphaned(ip) => {
                let reason = format!(
                    "address {ip} is in no Eip pool any more; it is kept, not moved: restore its pool, or clear the Service's status to get a new address"
                );
                services.insert(
                    key.clone(),
                    ServicePlan {
                        ingress: vec![ip],
                        pool: None,
                        outcome: Outcome::Orphaned(reason),
                    },
                );
            }
            Restored::Nothing => pending.push((key, svc, intent)),
        }
    }

    // Phase 2: assign to everybody else, in the same deterministic order.
    for (key, svc, intent) in pending {
        let owner = key.to_string();
        let plan = match intent.request(snapshot, svc, &valid) {
            Err(failure) => failed(failure),
            Ok(request) => match allocator.assign(&owner, &request) {
                Ok(a) => ServicePlan {
                    ingress: vec![a.ip],
                    pool: Some(a.pool),
                    outcome: Outcome::Assigned,
                },
                Err(e) => failed(Failure::new(FailureReason::from(&e), e.to_string())),
            },
        };
        services.insert(key.clone(), plan);
    }

    // Services that stopped asking Porter give back what they held from Porter's pools.
    for (key, svc) in &snapshot.services {
        if wants_address(svc) {
            continue;
        }
        if ingress_ips(svc)
            .iter()
            .any(|ip| allocator.pool_of(*ip).is_some())
        {
            services.insert(
                key.clone(),
                ServicePlan {
                    ingress: vec![],
                    pool: None,
                    outcome: Outcome::Released,
                },
            );
        }
    }

    let mut eips = BTreeMap::new();
    for name in snapshot.eips.keys() {
        let errors = eip_errors.remove(name).unwrap_or_default();
        eips.insert(
            name.clone(),
            EipPlan {
                status: eip_status(&allocator, name, valid.get(name), &errors),
                errors,
            },
        );
    }
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
        ingress: vec![],
        pool: None,
        outcome: Outcome::Failed(failure),
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

/// What a Service asks for.
struct Intent {
    ip: Option<IpAddr>,
    pool: Option<String>,
    /// The pool that served the address the Service holds (the label the controller
    /// writes), to tell "my pool was shrunk" from "I now ask for another pool".
    served_by: Option<String>,
}

impl Intent {
    fn of(svc: &Service) -> Result<Self, Failure> {
        let ip = annotations::requested_ip(svc)
            .map_err(|e| Failure::new(FailureReason::InvalidRequest, e.to_string()))?;
        let pool = annotations::requested_pool(svc).map(str::to_owned);
        let served_by = annotations::allocated_pool(svc).map(str::to_owned);
        Ok(Self {
            ip,
            pool,
            served_by,
        })
    }

    /// The allocator request for this intent: which pools, in which order.
    fn request(
        &self,
        snapshot: &Snapshot,
        svc: &Service,
        valid: &BTreeMap<String, ValidEip>,
    ) -> Result<Request, Failure> {
        let family = self
            .ip
            .map(Family::of)
            .unwrap_or_else(|| service_family(svc));
        if let Some(pool) = &self.pool {
            if !snapshot.eips.contains_key(pool) {
                return Err(Failure::new(
                    FailureReason::UnknownEip,
                    format!(
                        "Eip {pool:?} (named by annotation {}) does not exist",
                        annotations::EIP_POOL_ANNOTATION
                    ),
                ));
            }
            if !valid.contains_key(pool) {
                return Err(Failure::new(
                    FailureReason::InvalidEip,
                    format!(
                        "Eip {pool:?} (named by annotation {}) is invalid; see its status",
                        annotations::EIP_POOL_ANNOTATION
                    ),
                ));
            }
            return Ok(Request {
                pools: vec![pool.clone()],
                ip: self.ip,
                family,
            });
        }
        if self.ip.is_some() {
            return Ok(Request {
                pools: valid.keys().cloned().collect(),
                ip: self.ip,
                family,
            });
        }
        let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
        let labels = snapshot.namespace_labels(namespace);
        let mut bound: Vec<(&String, &ValidEip)> = valid
            .iter()
            .filter(|(_, pool)| {
                pool.namespaces.iter().any(|ns| ns == namespace)
                    || (!pool.namespace_selector.is_empty()
                        && selector::matches(&match_labels(&pool.namespace_selector), &labels))
            })
            .collect();
        bound.sort_by_key(|(name, pool)| (pool.priority, (*name).clone()));
        let mut pools: Vec<String> = bound.into_iter().map(|(name, _)| name.clone()).collect();
        if pools.is_empty() {
            pools = valid
                .iter()
                .filter(|(_, p)| p.is_default)
                .map(|(n, _)| n.clone())
                .collect();
        }
        if pools.is_empty() {
            return Err(Failure::new(
                FailureReason::NoPool,
                format!(
                    "no Eip serves namespace {namespace:?}: name one with annotation {}, list the namespace in an Eip's spec.namespaces, or mark an Eip with {}: \"true\"",
                    annotations::EIP_POOL_ANNOTATION,
                    annotations::DEFAULT_EIP_ANNOTATION
                ),
            ));
        }
        Ok(Request {
            pools,
            ip: None,
            family,
        })
    }

    /// Whether an address the Service holds still satisfies what it asks for.
    fn accepts(&self, ip: IpAddr, pool: &str) -> bool {
        self.ip.is_none_or(|want| want == ip)
            && self.pool.as_deref().is_none_or(|want| want == pool)
    }
}

fn match_labels(
    map: &BTreeMap<String, String>,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
        match_labels: Some(map.clone()),
        ..Default::default()
    }
}

/// The family a Service wants first (`spec.ipFamilies[0]`), IPv4 when unset.
fn service_family(svc: &Service) -> Family {
    let first = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first().cloned());
    match first.as_deref() {
        Some("IPv6") => Family::V6,
        _ => Family::V4,
    }
}

enum Restored {
    Kept(IpAddr, String),
    Orphaned(IpAddr),
    Nothing,
}

/// Re-records the first address the Service holds, if it still satisfies the Service's intent.
fn restore(
    allocator: &mut Allocator,
    key: &ObjectKey,
    held: &[IpAddr],
    intent: &Intent,
) -> Restored {
    let Some(&ip) = held.first() else {
        return Restored::Nothing;
    };
    let Some(pool) = allocator.pool_of(ip).map(str::to_owned) else {
        // Held but in no pool (the pool was shrunk or deleted): keep it, never move it
        // silently, unless the user now asks for something else: another address, or a
        // pool other than the one that served it (asking for the very address held, or
        // naming the pool it came from, is not something else).
        let same_pool = match (&intent.pool, &intent.served_by) {
            (Some(want), Some(served)) => want == served,
            _ => true,
        };
        return if intent.ip.is_none_or(|want| want == ip) && same_pool {
            Restored::Orphaned(ip)
        } else {
            Restored::Nothing
        };
    };
    if !intent.accepts(ip, &pool) {
        return Restored::Nothing;
    }
    match allocator.restore(&key.to_string(), ip) {
        Ok(_) => Restored::Kept(ip, pool),
        // Held by an older Service too (a status edited by hand): the older claim won.
        Err(_) => Restored::Nothing,
    }
}

fn eip_status(
    allocator: &Allocator,
    name: &str,
    pool: Option<&ValidEip>,
    errors: &[String],
) -> EipStatus {
    let Some(pool) = pool else {
        return EipStatus {
            ready: Some(false),
            ..Default::default()
        };
    };
    // Size and use count the addresses the pool may hand out (`avoidBuggyIPs` leaves out .0 and
    // .255; one held from before the option is still listed in `used`).
    let usage = allocator.usage(name);
    let used = allocator.used(name);
    let size = usage.map_or(pool.range.size(), |u| u.size);
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let in_use = usage.map_or(used.len() as u128, |u| u.used);
    let in_use = i64::try_from(in_use).unwrap_or(i64::MAX);
    EipStatus {
        occupied: Some(usage.is_some_and(|u| u.used >= u.size)),
        usage: Some(in_use),
        pool_size: Some(size),
        used: Some(
            used.into_iter()
                .map(|(ip, owner)| (ip.to_string(), owner))
                .collect(),
        ),
        first_ip: Some(pool.range.first().to_string()),
        last_ip: Some(pool.range.last().to_string()),
        ready: Some(errors.is_empty()),
        v4: Some(pool.range.family() == Family::V4),
        ..Default::default()
    }
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
