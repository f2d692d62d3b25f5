//! What the controller writes back: every Service's and Eip's status, and the Events.
//!
//! [`decide`] is the one answer for both controllers, on the Kubernetes API (`porter-kube`,
//! which turns it into patches and `events.k8s.io` Events) and on a manifests folder (the
//! `porter` binary, which writes `status/` files and logs the Events), so a Service says the
//! same thing in the lab as in a cluster. It reads the snapshot (what objects hold now), the
//! assignment [`Plan`], the [`Coverage`] of the plan (which nodes announce each address and
//! whether their sessions are Established) and the warnings already reported; the time comes in
//! as `now`, which stamps new condition transitions.
//!
//! What is decided, as OpenELB does (§4.3–4.4 of its controller):
//!
//! * a Service that gets an address: `status.loadBalancer.ingress`, the finalizer
//!   `finalizer.lb.kubesphere.io/v1alpha1` and the label
//!   `eip.openelb.kubesphere.io/v1alpha2=<pool>` ([`Marks`]); one that gives its address back
//!   (it opted out, asks for something else, or is being deleted) loses all three;
//! * a Service holding an address: one condition [`ANNOUNCED`]
//!   (`porter.kubesphere.io/Announced`), `True` when some node announces one of its addresses
//!   over an Established BGP session, or answers ARP/NDP for one from a `layer2`/`vip` Eip,
//!   reason `Announced` / `NoEstablishedSession` / `NotAnnounced` and a message naming the
//!   announcing nodes and those without an Established session, or the node answering ARP/NDP
//!   (the address's layer 2 owner). Its transition time moves only with its status; it is
//!   removed when the Service gives its address back;
//! * a Service holding an address (likewise): a second condition [`ADDRESS_IN_POOL`]
//!   (`porter.kubesphere.io/AddressInPool`), `True`/`InPool` naming the Eip ("203.0.113.10 is
//!   in Eip lab-pool"), or `False`/`Orphaned` with the plan's reason when the address fell out
//!   of every pool (it is kept, not moved; see `IPOrphaned`);
//! * an Eip: the plan's status fields (`poolSize`, `used`, `usage`, `firstIP`, `lastIP`, `v4`,
//!   `occupied`, `ready`) plus a `Ready` condition, `True`/`Valid` or `False`/`Invalid` with
//!   every field error in the message.
//!
//! Condition and Event messages are cut to what the API server accepts
//! ([`CONDITION_MESSAGE_MAX`], [`EVENT_NOTE_MAX`]).
//!
//! ## Events
//!
//! On the Service (or the Eip):
//!
//! | Porter | type | OpenELB (v0.6) | when |
//! | --- | --- | --- | --- |
//! | `IPAllocated` | Normal | `AssignIP` | an address was assigned: "assigned 203.0.113.10 from Eip lab-pool" |
//! | `AllocationFailed` | Warning | `AssignIPFailed` | no address could be assigned; the message is the plan's reason |
//! | `IPReleased` | Normal | `ReleaseIP` | an address was given back |
//! | `IPOrphaned` | Warning | — | the held address is in no Eip any more; it is kept, not moved |
//! | `EipInvalid` | Warning | — | an Eip cannot be used (on the Eip); the `Ready` condition says why |
//! | `Announced` | Normal | — | the [`ANNOUNCED`] condition became reason `Announced`; the message names the nodes (or the layer 2 owner) |
//! | `NoEstablishedSession` | Warning | — | nodes announce the address, none over an Established session |
//! | `NotAnnounced` | Warning | — | no node announces the address (no eligible node with a ready endpoint) |
//!
//! Porter's names are kept rather than OpenELB's: they name the outcome (as Kubernetes'
//! own `Scheduled`, `Pulled`), and OpenELB's set mixes outcomes with function names
//! (`ConstructRequest`, `UpdateServiceStatus`). Alerts keyed on OpenELB's reasons must be
//! renamed on migration. `AllocationFailed` and `IPOrphaned` are reported once per distinct
//! reason, not on every snapshot (the caller hands back [`ServiceDecision::reported`]); the
//! announcement Events once per change of the condition's reason (a message change alone,
//! e.g. one more node's session up, only updates the condition).

pub mod conditions;
pub mod eip;
pub mod events;
pub mod service;

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use porter_api::Eip;

use crate::announce::Options;
use crate::assign::{Plan, ServicePlan};
use crate::coverage;
pub use crate::coverage::Coverage;
use crate::projection::ControllerService;
use crate::{ControllerView, ObjectKey, Snapshot, SpeakerSnapshot};

pub use conditions::{
    ADDRESS_IN_POOL, ANNOUNCED, ANNOUNCED_REASON, CONDITION_MESSAGE_MAX, ConditionUpdate, Desired,
    HeldCondition, IN_POOL_REASON, INVALID_REASON, NO_ESTABLISHED_SESSION, NOT_ANNOUNCED,
    ORPHANED_REASON, READY, SERVICE_CONDITIONS, VALID_REASON, within,
};
pub use eip::EipDecision;
pub use events::{
    ALLOCATE, ALLOCATION_FAILED, ANNOUNCE, EIP_INVALID, EVENT_NOTE_MAX, EventType, IP_ALLOCATED,
    IP_ORPHANED, IP_RELEASED, Note, RELEASE, Regarding, VALIDATE,
};
pub use service::{Marks, ServiceDecision, marks_of};

/// The warning last reported per Service (its message), so it is not repeated.
pub type Reported = BTreeMap<ObjectKey, String>;

/// Every Service's and Eip's status as it should be, and the Events to report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Every Service the plan covers, then every other one still carrying Porter's finalizer,
    /// conditions or a reported warning, each by key.
    pub services: Vec<ServiceDecision>,
    /// Every Eip, by name.
    pub eips: Vec<EipDecision>,
}

impl Decision {
    /// Every Event of the decision with the object it is about, Services first.
    pub fn events(&self) -> impl Iterator<Item = (Regarding<'_>, &Note)> {
        let services = self
            .services
            .iter()
            .flat_map(|d| d.notes.iter().map(|n| (Regarding::Service(&d.key), n)));
        let eips = self
            .eips
            .iter()
            .flat_map(|d| d.notes.iter().map(|n| (Regarding::Eip(d.name.as_str()), n)));
        services.chain(eips)
    }
}

/// Which nodes announce each address once `plan` is written, as the speakers will decide
/// it: [`coverage::by_address`] on the snapshot with every planned Service holding its planned
/// addresses. The controller reads no Secrets, so a BgpPeer keeping its password in one counts
/// as configured (whether its sessions are up is what their status says).
pub fn planned_coverage(snapshot: &Snapshot, plan: &Plan) -> Coverage {
    planned_coverage_view(&ControllerView::of(&snapshot.for_controller()), plan)
}

/// [`planned_coverage`] from what the controller keeps ([`ControllerView`]).
pub fn planned_coverage_view(view: &ControllerView<'_>, plan: &Plan) -> Coverage {
    let snapshot = view.snapshot();
    if snapshot.nodes.is_empty() {
        // no node, nobody announces: spare building the speakers' view
        return Coverage::default();
    }
    // The speakers' view (projections, not copies of the Services), with every planned
    // Service at its planned addresses.
    let services = view
        .services()
        .filter_map(|(key, svc)| {
            let lb = match plan.services.get(key) {
                Some(planned) => svc.lb_holding(&planned.ingress),
                None => svc.lb_holding(&svc.ingress),
            };
            Some((key.clone(), lb?))
        })
        .collect();
    let mut projected = SpeakerSnapshot {
        eips: view.eips().clone(),
        bgp_confs: snapshot.bgp_confs.clone(),
        bgp_peers: snapshot.bgp_peers.clone(),
        services,
        endpoint_slices: snapshot.endpoint_slices.clone(),
        nodes: snapshot.nodes.clone(),
        namespaces: BTreeMap::new(),
        secrets: BTreeMap::new(),
        unreadable_secrets: BTreeMap::new(),
    };
    for peer in projected.bgp_peers.values_mut() {
        if let Some(conf) = peer.spec.conf.as_mut() {
            conf.auth_password_secret_ref = None;
        }
    }
    coverage::by_address_projected(&projected, &Options::default())
}

/// Every Service's and Eip's status as `plan` says, with the conditions `coverage` calls for,
/// given the warnings already `reported` (Service → message). `now` stamps new condition
/// transitions.
pub fn decide(
    snapshot: &Snapshot,
    plan: &Plan,
    coverage: &Coverage,
    reported: &Reported,
    now: Timestamp,
) -> Decision {
    decide_view(
        &ControllerView::of(&snapshot.for_controller()),
        plan,
        coverage,
        reported,
        now,
    )
}

/// [`decide`] from what the controller keeps ([`ControllerView`]): every decision at once.
/// [`decide_service`] decides one Service at a time.
pub fn decide_view(
    view: &ControllerView<'_>,
    plan: &Plan,
    coverage: &Coverage,
    reported: &Reported,
    now: Timestamp,
) -> Decision {
    let eips = view.eips();
    let mut services = Vec::new();
    for (key, planned) in &plan.services {
        let Some(svc) = view.service(key) else {
            continue;
        };
        services.extend(decide_service(
            key,
            svc,
            Some(planned),
            eips,
            coverage,
            reported.get(key),
            now,
        ));
    }
    for (key, svc) in view.services() {
        if plan.services.contains_key(key) {
            continue;
        }
        services.extend(decide_service(
            key,
            svc,
            None,
            eips,
            coverage,
            reported.get(key),
            now,
        ));
    }
    Decision {
        services,
        eips: decide_eips(eips, plan, now),
    }
}

/// The decision for one Service: `planned` is its part of the plan (`None`: the plan does not
/// cover it), `eips` every Eip, `reported` the warning last reported for it. `None` when a
/// Service the plan does not cover has nothing to change, report or remember.
pub fn decide_service(
    key: &ObjectKey,
    svc: &ControllerService,
    planned: Option<&ServicePlan>,
    eips: &BTreeMap<String, Eip>,
    coverage: &Coverage,
    reported: Option<&String>,
    now: Timestamp,
) -> Option<ServiceDecision> {
    let Some(planned) = planned else {
        let decision = service::unplanned(key, svc, now);
        return (!decision.is_noop_on(svc, reported)).then_some(decision);
    };
    let pool = planned.pool.as_deref().and_then(|name| {
        let eip = eips.get(name)?;
        Some((name, eip.spec.effective_protocol()))
    });
    Some(service::planned(
        key, svc, planned, pool, coverage, reported, now,
    ))
}

/// Every Eip's decision, by name.
pub fn decide_eips(eips: &BTreeMap<String, Eip>, plan: &Plan, now: Timestamp) -> Vec<EipDecision> {
    plan.eips
        .iter()
        .filter_map(|(name, planned)| {
            let eip = eips.get(name)?;
            Some(eip::decide(name, eip, planned, now))
        })
        .collect()
}
