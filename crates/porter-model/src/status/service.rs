//! A Service's status as the controller decides it: the addresses it holds, Porter's two
//! conditions, the finalizer and Eip label that go with an address, and the Events of the
//! change.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus};
use k8s_openapi::jiff::Timestamp;
use porter_api::Protocol;
use porter_api::annotations::{EIP_POOL_LABEL, SERVICE_FINALIZER};

use crate::ObjectKey;
use crate::assign::{Outcome, ServicePlan};
use crate::coverage;
use crate::projection::ControllerService;

use super::Coverage;
use super::conditions::{
    self, ADDRESS_IN_POOL, ANNOUNCED, ConditionUpdate, Desired, HeldCondition, IN_POOL_REASON,
    ORPHANED_REASON,
};
use super::events::{
    ALLOCATE, ALLOCATION_FAILED, ANNOUNCE, IP_ALLOCATED, IP_ORPHANED, IP_RELEASED, Note, RELEASE,
};

/// What one Service must hold and which Events its change reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDecision {
    /// The Service.
    pub key: ObjectKey,
    /// The addresses `status.loadBalancer.ingress` must hold, when they differ from what it
    /// holds (empty: clear it); `None` leaves them as they are.
    pub ingress: Option<Vec<IpAddr>>,
    /// The finalizer and Eip label it must carry; `None` leaves its metadata alone.
    pub marks: Option<Marks>,
    /// Porter's conditions ([`conditions::SERVICE_CONDITIONS`]), each with how it changes.
    pub conditions: Vec<(&'static str, ConditionUpdate)>,
    /// Events to report once what changed is written.
    pub notes: Vec<Note>,
    /// The warning now reported for it (`AllocationFailed`, `IPOrphaned`: its message), to be
    /// handed back to the next decision as `reported` so it is not repeated; `None`: none.
    pub reported: Option<String>,
}

/// The marks of a Service holding an address from Porter: its release is guaranteed by the
/// finalizer, and the label names the Eip (as OpenELB writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marks {
    /// Whether it carries the finalizer `finalizer.lb.kubesphere.io/v1alpha1`.
    pub finalizer: bool,
    /// The value of the label `eip.openelb.kubesphere.io/v1alpha2`, or `None` for no label.
    pub pool_label: Option<String>,
}

impl ServiceDecision {
    /// Whether the Service holds (or keeps) an address: then its finalizer is written before
    /// its status; otherwise its address is released first and the finalizer goes after.
    pub fn holds(&self) -> bool {
        self.marks.as_ref().is_some_and(|m| m.finalizer)
    }

    /// Whether its status (addresses or conditions) must be written.
    pub fn status_changes(&self) -> bool {
        self.ingress.is_some() || self.conditions.iter().any(|(_, u)| !u.is_unchanged())
    }

    /// `status` as it is once this decision is written: the addresses replaced, Porter's
    /// conditions set or removed, every other field and condition kept.
    pub fn apply_status(&self, status: &mut ServiceStatus) {
        if let Some(ips) = &self.ingress {
            status.load_balancer = (!ips.is_empty()).then(|| LoadBalancerStatus {
                ingress: Some(
                    ips.iter()
                        .map(|ip| LoadBalancerIngress {
                            ip: Some(ip.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            });
        }
        let mut list = status.conditions.take().unwrap_or_default();
        for (type_, update) in &self.conditions {
            conditions::apply(&mut list, type_, update);
        }
        status.conditions = (!list.is_empty()).then_some(list);
    }

    /// Whether the decision changes nothing: no write, no Event, nothing new to remember
    /// (given what was `reported` before).
    pub fn is_noop(&self, svc: &Service, reported: Option<&String>) -> bool {
        self.is_noop_on(&ControllerService::of(svc), reported)
    }

    /// [`Self::is_noop`] on what the controller keeps of the Service.
    pub fn is_noop_on(&self, svc: &ControllerService, reported: Option<&String>) -> bool {
        !self.status_changes()
            && self.notes.is_empty()
            && self.reported.as_ref() == reported
            && self.marks.as_ref().is_none_or(|m| svc.marks() == *m)
    }
}

impl ControllerService {
    /// The marks it carries ([`marks_of`]).
    pub fn marks(&self) -> Marks {
        Marks {
            finalizer: self.finalizer,
            pool_label: self.pool_label.as_deref().map(str::to_owned),
        }
    }

    fn held(&self, type_: &str) -> Option<&HeldCondition> {
        match type_ {
            ANNOUNCED => self.announced.as_ref(),
            ADDRESS_IN_POOL => self.in_pool.as_ref(),
            _ => None,
        }
    }
}

/// The marks `svc` carries.
pub fn marks_of(svc: &Service) -> Marks {
    Marks {
        finalizer: svc
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == SERVICE_FINALIZER)),
        pool_label: pool_label(svc).map(str::to_owned),
    }
}

fn pool_label(svc: &Service) -> Option<&str> {
    svc.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(EIP_POOL_LABEL))
        .map(String::as_str)
}

fn condition_update(
    svc: &ControllerService,
    type_: &str,
    desired: Option<Desired>,
    now: Timestamp,
) -> ConditionUpdate {
    conditions::update(type_, svc.held(type_), desired, svc.generation, now)
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The [`ANNOUNCED`] condition's change, and the Event its new reason calls for.
fn announced(
    key: &ObjectKey,
    svc: &ControllerService,
    ingress: &[IpAddr],
    pool: Option<(&str, Protocol)>,
    coverage: &Coverage,
    now: Timestamp,
) -> (ConditionUpdate, Option<Note>) {
    if ingress.is_empty() {
        return (condition_update(svc, ANNOUNCED, None, now), None);
    }
    let a = coverage::announcement(key, ingress, pool, coverage);
    let desired = Desired {
        status: a.announced,
        reason: a.reason,
        message: a.message.clone(),
    };
    let update = condition_update(svc, ANNOUNCED, Some(desired), now);
    if update.is_unchanged() {
        return (update, None);
    }
    let previous = svc.held(ANNOUNCED).and_then(HeldCondition::reason);
    let note = (previous != Some(a.reason)).then(|| {
        if a.announced {
            Note::normal(a.reason, ANNOUNCE, a.message)
        } else {
            Note::warning(a.reason, ANNOUNCE, a.message)
        }
    });
    (update, note)
}

/// The [`ADDRESS_IN_POOL`] condition's change: `False`/`Orphaned` with the plan's reason when
/// the address is in no Eip, `True`/`InPool` naming the Eip otherwise, none without address.
fn in_pool(svc: &ControllerService, planned: &ServicePlan, now: Timestamp) -> ConditionUpdate {
    let desired = (!planned.ingress.is_empty()).then(|| match &planned.outcome {
        Outcome::Orphaned(reason) => Desired::no(ORPHANED_REASON, reason.to_string()),
        _ => Desired::yes(
            IN_POOL_REASON,
            format!(
                "{} is in Eip {}",
                join(&planned.ingress),
                planned.pool.as_deref().unwrap_or("-")
            ),
        ),
    });
    condition_update(svc, ADDRESS_IN_POOL, desired, now)
}

/// The decision for a Service the plan covers. `pool` is its Eip and that Eip's protocol.
pub(super) fn planned(
    key: &ObjectKey,
    svc: &ControllerService,
    planned: &ServicePlan,
    pool: Option<(&str, Protocol)>,
    coverage: &Coverage,
    reported: Option<&String>,
    now: Timestamp,
) -> ServiceDecision {
    let current = &svc.ingress;
    let holds = !planned.ingress.is_empty();
    let moves = **current != *planned.ingress;
    let (announced, announced_note) = announced(key, svc, &planned.ingress, pool, coverage, now);
    let label = if holds {
        // an orphaned address has no pool: the label keeps naming where it came from
        planned
            .pool
            .as_deref()
            .or(svc.pool_label.as_deref())
            .map(str::to_owned)
    } else {
        None
    };
    let mut notes = Vec::new();
    let mut remember = None;
    match &planned.outcome {
        Outcome::Assigned if moves => notes.push(Note::normal(
            IP_ALLOCATED,
            ALLOCATE,
            format!(
                "assigned {} from Eip {}",
                join(&planned.ingress),
                planned.pool.as_deref().unwrap_or("-")
            ),
        )),
        Outcome::Released if moves => {
            let why = if svc.deleting {
                "the Service is being deleted"
            } else {
                "the Service no longer asks Porter for an address"
            };
            notes.push(Note::normal(
                IP_RELEASED,
                RELEASE,
                format!("released {} ({why})", join(current)),
            ));
        }
        Outcome::Failed(failure) => {
            let reason = failure.to_string();
            if moves && !current.is_empty() {
                notes.push(Note::normal(
                    IP_RELEASED,
                    RELEASE,
                    format!(
                        "released {} (the Service asks for another address)",
                        join(current)
                    ),
                ));
            }
            if reported != Some(&reason) {
                notes.push(Note::warning(ALLOCATION_FAILED, ALLOCATE, reason.clone()));
            }
            remember = Some(reason);
        }
        Outcome::Orphaned(reason) => {
            let reason = reason.to_string();
            if reported != Some(&reason) {
                notes.push(Note::warning(IP_ORPHANED, ALLOCATE, reason.clone()));
            }
            remember = Some(reason);
        }
        _ => {}
    }
    notes.extend(announced_note);
    ServiceDecision {
        key: key.clone(),
        ingress: moves.then(|| planned.ingress.to_vec()),
        marks: Some(Marks {
            finalizer: holds,
            pool_label: label,
        }),
        conditions: vec![
            (ANNOUNCED, announced),
            (ADDRESS_IN_POOL, in_pool(svc, planned, now)),
        ],
        notes,
        reported: remember,
    }
}

/// The decision for a Service Porter no longer plans for (not opted in and holding nothing
/// from a pool, e.g. deleted before an address was assigned): it lets go of Porter's
/// finalizer and label and loses Porter's conditions; its addresses are not Porter's to touch.
pub(super) fn unplanned(
    key: &ObjectKey,
    svc: &ControllerService,
    now: Timestamp,
) -> ServiceDecision {
    ServiceDecision {
        key: key.clone(),
        ingress: None,
        marks: svc.finalizer.then_some(Marks {
            finalizer: false,
            pool_label: None,
        }),
        conditions: conditions::SERVICE_CONDITIONS
            .iter()
            .map(|type_| (*type_, condition_update(svc, type_, None, now)))
            .collect(),
        notes: Vec::new(),
        reported: None,
    }
}
