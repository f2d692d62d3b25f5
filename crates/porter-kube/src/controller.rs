//! The controller on the Kubernetes API: plans from every snapshot, writes what differs.
//!
//! Deciding is pure: [`assign::plan`] says what every Service and Eip should hold, and
//! [`changes`] turns the difference between the snapshot and the plan into a list of writes
//! and Events. The shell ([`run_controller`]) only performs them, and only while this
//! controller holds the leader Lease. A full resync (a restart, a new leader, a relist) of a
//! cluster that is already as planned therefore writes nothing.
//!
//! What is written, as OpenELB does (§4.3–4.4 of its controller):
//!
//! * a Service that gets an address: first its metadata — the finalizer
//!   `finalizer.lb.kubesphere.io/v1alpha1` and the label
//!   `eip.openelb.kubesphere.io/v1alpha2=<pool>` — then `status.loadBalancer.ingress`, so a
//!   Service never holds an address without the finalizer that guarantees its release;
//! * a Service that gives its address back (it opted out, asks for something else, or is
//!   being deleted): first the status is cleared, then the label and finalizer are removed,
//!   so a deleted Service disappears only once its address is free;
//! * a Service holding an address (on the API only, not in manifests mode): one condition
//!   [`ANNOUNCED`] (`porter.kubesphere.io/Announced`) in `status.conditions`, `True` when some
//!   node announces one of its addresses over an Established BGP session,
//!   reason `Announced` / `NoEstablishedSession` / `NotAnnounced` and a message naming the
//!   announcing nodes and those without an Established session, or `Layer2NotSupported` for
//!   an address from a `layer2`/`vip` Eip, which this version assigns but does not announce
//!   yet ([`coverage`]: every node's
//!   `announce::plan` with the Service at its planned address, sessions as the speakers report
//!   them in BgpPeer `status.nodesPeerStatus`). Its transition time moves only with its status;
//!   it is removed when the Service gives its address back;
//! * a Service holding an address (likewise): a second condition [`ADDRESS_IN_POOL`]
//!   (`porter.kubesphere.io/AddressInPool`), `True`/`InPool` naming the Eip ("203.0.113.10 is
//!   in Eip lab-pool"), or `False`/`Orphaned` with the plan's reason when the address fell out
//!   of every pool (it is kept, not moved; see `IPOrphaned`). Same rules: transition time moves
//!   only with the status, removed when the address is given back;
//! * an Eip: its status subresource (`poolSize`, `used`, `usage`, `firstIP`, `lastIP`, `v4`,
//!   `occupied`, `ready`) plus a `Ready` condition, `True`/`Valid` or `False`/`Invalid` with
//!   every field error in the message; a valid `layer2`/`vip` Eip is `True`/`Layer2NotSupported`,
//!   saying its addresses are assigned but not announced yet.
//!
//! Writes are JSON merge patches holding only the fields that change ([`merge::diff`]), but a
//! Service's `/status`, which is a strategic merge patch so that `conditions` merge by `type`
//! and other controllers' conditions are kept; the address and the conditions go in one write.
//! The metadata patch carries the `resourceVersion` it was computed from, so the finalizer list
//! is never overwritten with a stale copy.
//!
//! ## Events
//!
//! Reported with reporter `porter-controller` on the Service (or the Eip):
//!
//! | Porter | type | OpenELB (v0.6) | when |
//! | --- | --- | --- | --- |
//! | `IPAllocated` | Normal | `AssignIP` | an address was assigned: "assigned 203.0.113.10 from Eip lab-pool" |
//! | `AllocationFailed` | Warning | `AssignIPFailed` | no address could be assigned; the message is the plan's reason |
//! | `IPReleased` | Normal | `ReleaseIP` | an address was given back |
//! | `IPOrphaned` | Warning | — | the held address is in no Eip any more; it is kept, not moved |
//! | `EipInvalid` | Warning | — | an Eip cannot be used (on the Eip); the `Ready` condition says why |
//! | `Announced` | Normal | — | the [`ANNOUNCED`] condition became reason `Announced`; the message names the nodes |
//! | `NoEstablishedSession` | Warning | — | nodes announce the address, none over an Established session |
//! | `NotAnnounced` | Warning | — | no node announces the address (no eligible node with a ready endpoint) |
//! | `Layer2NotSupported` | Warning | — | the address is from a `layer2`/`vip` Eip: assigned, not announced yet (on the Service, and once on the Eip, also logged) |
//!
//! Porter's names are kept rather than OpenELB's: they name the outcome (as Kubernetes'
//! own `Scheduled`, `Pulled`), they are the words the manifests-mode controller already logs,
//! and OpenELB's set mixes outcomes with function names (`ConstructRequest`,
//! `UpdateServiceStatus`). Alerts keyed on OpenELB's reasons must be renamed on migration.
//! `AllocationFailed` and `IPOrphaned` are reported once per distinct reason, not on every
//! snapshot; the announcement Events once per change of the condition's reason (a message
//! change alone, e.g. one more node's session up, only updates the condition).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use porter_api::annotations::{EIP_POOL_LABEL, SERVICE_FINALIZER};
use porter_api::{Eip, EipStatus, Protocol};
use porter_metrics::{ControllerMetrics, Health};
use porter_model::announce::Options;
use porter_model::assign::{self, Outcome, Plan};
use porter_model::coverage::{self, NodeSessions};
use porter_model::projection::LbService;
use porter_model::{ObjectKey, Snapshot};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::lease::{Leadership, LeaseConfig};
use crate::source::{KubeSource, SourceConfig};
use crate::{Error, merge};

/// The reporter of the controller's Events and its field manager.
pub const REPORTER: &str = "porter-controller";

/// Event reason: an address was assigned (OpenELB: `AssignIP`).
pub const IP_ALLOCATED: &str = "IPAllocated";
/// Event reason: no address could be assigned (OpenELB: `AssignIPFailed`).
pub const ALLOCATION_FAILED: &str = "AllocationFailed";
/// Event reason: an address was given back (OpenELB: `ReleaseIP`).
pub const IP_RELEASED: &str = "IPReleased";
/// Event reason: a held address is in no Eip any more.
pub const IP_ORPHANED: &str = "IPOrphaned";
/// Event reason: an Eip cannot be used.
pub const EIP_INVALID: &str = "EipInvalid";
/// The Eip condition type Porter maintains.
pub const READY: &str = "Ready";
/// The Service condition type saying which nodes announce its address, and whether their BGP
/// sessions are Established. Its reasons are also the Events reported when it changes.
pub const ANNOUNCED: &str = "porter.kubesphere.io/Announced";
/// Condition reason and Event reason (Normal): a node announces the address over an
/// Established session.
pub const ANNOUNCED_REASON: &str = "Announced";
/// Condition reason and Event reason (Warning): nodes announce the address, but none of them
/// has an Established session.
pub const NO_ESTABLISHED_SESSION: &str = "NoEstablishedSession";
/// Condition reason and Event reason (Warning): no node announces the address.
pub const NOT_ANNOUNCED: &str = "NotAnnounced";
/// Condition reason and Event reason (Warning), on a Service and on its Eip: the address is from
/// a `layer2` or `vip` Eip, which this version of Porter assigns but does not announce yet.
pub const LAYER2_NOT_SUPPORTED: &str = coverage::LAYER2_NOT_SUPPORTED;

/// The Service condition type saying whether its address is in an Eip: `True`/[`IN_POOL_REASON`]
/// or, when the address fell out of every pool, `False`/[`ORPHANED_REASON`].
pub const ADDRESS_IN_POOL: &str = "porter.kubesphere.io/AddressInPool";
/// Condition reason: the held address is in an Eip.
pub const IN_POOL_REASON: &str = "InPool";
/// Condition reason: the held address is in no Eip any more (kept, not moved).
pub const ORPHANED_REASON: &str = "Orphaned";

/// Announcing nodes and their sessions per address ([`coverage::by_address`]).
pub type Coverage = BTreeMap<IpAddr, BTreeMap<String, NodeSessions>>;

/// An Event to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Warning (true) or Normal.
    pub warning: bool,
    /// The reason, e.g. [`IP_ALLOCATED`].
    pub reason: &'static str,
    /// The action, e.g. `Allocate`.
    pub action: &'static str,
    /// The human-readable message.
    pub message: String,
}

impl Note {
    fn normal(reason: &'static str, action: &'static str, message: String) -> Self {
        Self {
            warning: false,
            reason,
            action,
            message,
        }
    }

    fn warning(reason: &'static str, action: &'static str, message: String) -> Self {
        Self {
            warning: true,
            reason,
            action,
            message,
        }
    }
}

/// The writes and Events for one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceChange {
    /// The Service.
    pub key: ObjectKey,
    /// Merge patch of the Service itself (labels, finalizers); the shell adds the
    /// `resourceVersion` precondition.
    pub metadata: Option<Value>,
    /// Strategic merge patch of its `/status` (`status.conditions` merge by `type`, so other
    /// controllers' conditions are kept; every other field as in a JSON merge patch).
    pub status: Option<Value>,
    /// A release: the status is cleared before the finalizer goes. Otherwise the metadata
    /// (finalizer) is written first.
    pub status_first: bool,
    /// Events to report once the writes succeeded.
    pub notes: Vec<Note>,
    /// The warning reason to remember as reported (so it is not repeated), or `None`.
    pub reported: Option<String>,
}

/// The write and Events for one Eip.
#[derive(Debug, Clone, PartialEq)]
pub struct EipChange {
    /// The Eip's name.
    pub name: String,
    /// Merge patch of its `/status`.
    pub status: Value,
    /// Events to report once the write succeeded.
    pub notes: Vec<Note>,
}

/// Everything to do to bring the cluster in line with a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Service changes, releases first (so a released address is free before it is reused).
    pub services: Vec<ServiceChange>,
    /// Eip status changes.
    pub eips: Vec<EipChange>,
}

impl Changes {
    /// Number of API writes (patches) these changes take.
    pub fn writes(&self) -> usize {
        self.services
            .iter()
            .map(|c| usize::from(c.metadata.is_some()) + usize::from(c.status.is_some()))
            .sum::<usize>()
            + self.eips.len()
    }
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn ingress_patch(ips: &[IpAddr]) -> Value {
    if ips.is_empty() {
        json!({"status": {"loadBalancer": {"ingress": null}}})
    } else {
        let ingress: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
        json!({"status": {"loadBalancer": {"ingress": ingress}}})
    }
}

/// The metadata patch giving `svc` the finalizer and label wanted, if anything differs.
fn metadata_patch(svc: &Service, finalizer: bool, label: Option<&str>) -> Option<Value> {
    let finalizers = svc.metadata.finalizers.clone().unwrap_or_default();
    let has = finalizers.iter().any(|f| f == SERVICE_FINALIZER);
    let current_label = svc
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(EIP_POOL_LABEL))
        .map(String::as_str);
    let mut meta = serde_json::Map::new();
    if has != finalizer {
        let list: Vec<String> = if finalizer {
            finalizers
                .into_iter()
                .chain([SERVICE_FINALIZER.to_owned()])
                .collect()
        } else {
            finalizers
                .into_iter()
                .filter(|f| f != SERVICE_FINALIZER)
                .collect()
        };
        meta.insert("finalizers".into(), json!(list));
    }
    if current_label != label {
        meta.insert("labels".into(), json!({ EIP_POOL_LABEL: label }));
    }
    (!meta.is_empty()).then(|| json!({ "metadata": meta }))
}

/// Which nodes announce each address once `plan` is written, as the speakers will decide
/// it: [`coverage::by_address`] on the snapshot with every planned Service holding its planned
/// addresses. The controller reads no Secrets, so a BgpPeer keeping its password in one counts
/// as configured (whether its sessions are up is what their status says).
pub fn coverage(snapshot: &Snapshot, plan: &Plan) -> Coverage {
    // The speakers' view (projections, not copies of the Services), with every planned
    // Service at its planned addresses.
    let mut projected = snapshot.for_speaker();
    for (key, planned) in &plan.services {
        match snapshot
            .services
            .get(key)
            .and_then(|svc| LbService::holding(svc, &planned.ingress))
        {
            Some(lb) => {
                projected.services.insert(key.clone(), Arc::new(lb));
            }
            None => {
                projected.services.remove(key);
            }
        }
    }
    for peer in projected.bgp_peers.values_mut() {
        if let Some(conf) = peer.spec.conf.as_mut() {
            conf.auth_password_secret_ref = None;
        }
    }
    coverage::by_address_projected(&projected, &Options::default())
}

/// The longest Event `note` the API server accepts (`events.k8s.io/v1`): a longer one is
/// refused and the Event lost.
pub const EVENT_NOTE_MAX: usize = 1024;

/// The longest condition `message` the API server accepts (`metav1.Condition`).
pub const CONDITION_MESSAGE_MAX: usize = 32768;

/// `message` cut to at most `max` bytes at a character boundary, ending in `…` when cut: a
/// message naming every announcing node of a large cluster must still be accepted.
fn within(mut message: String, max: usize) -> String {
    const MORE: &str = "…";
    if message.len() <= max {
        return message;
    }
    let mut end = max.saturating_sub(MORE.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str(MORE);
    message
}

/// The Event reporting `note`.
fn kube_event(note: &Note) -> KubeEvent {
    KubeEvent {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.to_owned(),
        note: Some(within(note.message.clone(), EVENT_NOTE_MAX)),
        action: note.action.to_owned(),
        secondary: None,
    }
}

fn service_condition<'a>(svc: &'a Service, type_: &str) -> Option<&'a Condition> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The condition `type_` to write (`Some(None)`: remove it) so the Service holds `desired`
/// (status, reason, message; `None`: no such condition), or `None` when it already does (the
/// transition time is not compared: it only moves with the status).
fn condition_change(
    svc: &Service,
    type_: &str,
    desired: Option<(&str, &str, String)>,
    now: Timestamp,
) -> Option<Option<Condition>> {
    let previous = service_condition(svc, type_);
    let Some((status, reason, message)) = desired else {
        return previous.map(|_| None);
    };
    let condition = Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: within(message, CONDITION_MESSAGE_MAX),
        observed_generation: svc.metadata.generation,
        last_transition_time: previous
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now)),
    };
    let same = |c: &&Condition| {
        c.status == condition.status
            && c.reason == condition.reason
            && c.message == condition.message
            && c.observed_generation == condition.observed_generation
    };
    if previous.filter(same).is_some() {
        return None;
    }
    Some(Some(condition))
}

/// The `porter.kubesphere.io/Announced` condition to write (`Some(None)`: remove it), or `None`
/// when the Service holds what it should, and the Event its new reason calls for.
fn announced_change(
    key: &ObjectKey,
    svc: &Service,
    ingress: &[IpAddr],
    pool: Option<(&str, Protocol)>,
    coverage: &Coverage,
    now: Timestamp,
) -> (Option<Option<Condition>>, Option<Note>) {
    if ingress.is_empty() {
        return (condition_change(svc, ANNOUNCED, None, now), None);
    }
    let a = coverage::announcement(key, ingress, pool, coverage);
    let status = if a.announced { "True" } else { "False" };
    let desired = Some((status, a.reason, a.message.clone()));
    let Some(change) = condition_change(svc, ANNOUNCED, desired, now) else {
        return (None, None);
    };
    let previous = service_condition(svc, ANNOUNCED).map(|c| c.reason.as_str());
    let note = (previous != Some(a.reason)).then(|| {
        if a.announced {
            Note::normal(a.reason, "Announce", a.message)
        } else {
            Note::warning(a.reason, "Announce", a.message)
        }
    });
    (Some(change), note)
}

/// The `porter.kubesphere.io/AddressInPool` condition to write (`Some(None)`: remove it), or
/// `None` when the Service holds what it should: `False`/`Orphaned` with the plan's reason
/// when its address is in no Eip, `True`/`InPool` naming the Eip otherwise.
fn in_pool_change(
    svc: &Service,
    planned: &assign::ServicePlan,
    now: Timestamp,
) -> Option<Option<Condition>> {
    let desired = (!planned.ingress.is_empty()).then(|| match &planned.outcome {
        Outcome::Orphaned(orphan) => ("False", ORPHANED_REASON, orphan.to_string()),
        _ => (
            "True",
            IN_POOL_REASON,
            format!(
                "{} is in Eip {}",
                join(&planned.ingress),
                planned.pool.as_deref().unwrap_or("-")
            ),
        ),
    });
    condition_change(svc, ADDRESS_IN_POOL, desired, now)
}

/// Adds the condition changes (by type) to a `/status` patch.
fn with_conditions(
    status: Option<Value>,
    conditions: &[(&str, Option<Option<Condition>>)],
) -> Option<Value> {
    let entries: Vec<Value> = conditions
        .iter()
        .filter_map(|(type_, change)| {
            Some(match change.as_ref()? {
                Some(c) => serde_json::to_value(c).unwrap_or(Value::Null),
                None => json!({"type": type_, "$patch": "delete"}),
            })
        })
        .collect();
    if entries.is_empty() {
        return status;
    }
    let mut patch = status.unwrap_or_else(|| json!({"status": {}}));
    patch["status"]["conditions"] = Value::Array(entries);
    Some(patch)
}

/// What to write and report so the cluster matches `plan`, given the warnings already
/// reported (`reported`: Service → last reason). `now` stamps new condition transitions.
pub fn changes(
    snapshot: &Snapshot,
    plan: &Plan,
    reported: &BTreeMap<ObjectKey, String>,
    now: Timestamp,
) -> Changes {
    let coverage = coverage(snapshot, plan);
    let mut services = Vec::new();
    for (key, planned) in &plan.services {
        let Some(svc) = snapshot.services.get(key) else {
            continue;
        };
        let current = assign::ingress_ips(svc);
        let holds = !planned.ingress.is_empty();
        let moves = current != planned.ingress;
        let pool = planned.pool.as_deref().and_then(|name| {
            let eip = snapshot.eips.get(name)?;
            Some((name, eip.spec.effective_protocol()))
        });
        let (condition, announced_note) =
            announced_change(key, svc, &planned.ingress, pool, &coverage, now);
        let in_pool = in_pool_change(svc, planned, now);
        let status = with_conditions(
            moves.then(|| ingress_patch(&planned.ingress)),
            &[(ANNOUNCED, condition), (ADDRESS_IN_POOL, in_pool)],
        );
        let current_label = svc
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(EIP_POOL_LABEL))
            .map(String::as_str);
        let label = if holds {
            // an orphaned address has no pool: the label keeps naming where it came from
            planned.pool.as_deref().or(current_label)
        } else {
            None
        };
        let metadata = metadata_patch(svc, holds, label);
        let mut notes = Vec::new();
        let mut remember = None;
        match &planned.outcome {
            Outcome::Assigned if moves => notes.push(Note::normal(
                IP_ALLOCATED,
                "Allocate",
                format!(
                    "assigned {} from Eip {}",
                    join(&planned.ingress),
                    planned.pool.as_deref().unwrap_or("-")
                ),
            )),
            Outcome::Released if moves => {
                let why = if svc.metadata.deletion_timestamp.is_some() {
                    "the Service is being deleted"
                } else {
                    "the Service no longer asks Porter for an address"
                };
                notes.push(Note::normal(
                    IP_RELEASED,
                    "Release",
                    format!("released {} ({why})", join(&current)),
                ));
            }
            Outcome::Failed(failure) => {
                let reason = failure.to_string();
                if moves && !current.is_empty() {
                    notes.push(Note::normal(
                        IP_RELEASED,
                        "Release",
                        format!(
                            "released {} (the Service asks for another address)",
                            join(&current)
                        ),
                    ));
                }
                if reported.get(key) != Some(&reason) {
                    notes.push(Note::warning(ALLOCATION_FAILED, "Allocate", reason.clone()));
                }
                remember = Some(reason);
            }
            Outcome::Orphaned(orphan) => {
                let reason = orphan.to_string();
                if reported.get(key) != Some(&reason) {
                    notes.push(Note::warning(IP_ORPHANED, "Allocate", reason.clone()));
                }
                remember = Some(reason);
            }
            _ => {}
        }
        notes.extend(announced_note);
        let memory_changes = reported.get(key) != remember.as_ref();
        if status.is_some() || metadata.is_some() || !notes.is_empty() || memory_changes {
            services.push(ServiceChange {
                key: key.clone(),
                status_first: !holds,
                metadata,
                status,
                notes,
                reported: remember,
            });
        }
    }
    // Services Porter no longer plans for that still carry its finalizer (not opted in and
    // holding nothing from a pool, e.g. deleted before an address was assigned): let go.
    for (key, svc) in &snapshot.services {
        if plan.services.contains_key(key) {
            continue;
        }
        let has_finalizer = svc
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == SERVICE_FINALIZER));
        let metadata = if has_finalizer {
            metadata_patch(svc, false, None)
        } else {
            None
        };
        let (condition, _) = announced_change(key, svc, &[], None, &coverage, now);
        let in_pool = condition_change(svc, ADDRESS_IN_POOL, None, now);
        let status = with_conditions(None, &[(ANNOUNCED, condition), (ADDRESS_IN_POOL, in_pool)]);
        if metadata.is_some() || status.is_some() || reported.contains_key(key) {
            services.push(ServiceChange {
                key: key.clone(),
                metadata,
                status,
                status_first: true,
                notes: vec![],
                reported: None,
            });
        }
    }
    services.sort_by_key(|c| !c.status_first);

    let mut eips = Vec::new();
    for (name, planned) in &plan.eips {
        let Some(eip) = snapshot.eips.get(name) else {
            continue;
        };
        let current = eip.status.clone().unwrap_or_default();
        let errors: Vec<String> = planned.errors.iter().map(ToString::to_string).collect();
        let desired = desired_eip_status(eip, &planned.status, &errors, now);
        let (Ok(cur_v), Ok(want_v)) = (
            serde_json::to_value(&current),
            serde_json::to_value(&desired),
        ) else {
            continue;
        };
        let Some(patch) = merge::diff(&cur_v, &want_v) else {
            continue;
        };
        let mut notes = Vec::new();
        let ready = |s: &EipStatus| {
            s.conditions
                .iter()
                .find(|c| c.type_ == READY)
                .map(|c| (c.status.clone(), c.message.clone()))
        };
        if ready(&current) != ready(&desired) {
            if !planned.errors.is_empty() {
                notes.push(Note::warning(EIP_INVALID, "Validate", errors.join("; ")));
            } else if let Some(why) =
                coverage::unsupported_protocol(name, eip.spec.effective_protocol())
            {
                notes.push(Note::warning(LAYER2_NOT_SUPPORTED, "Validate", why));
            }
        }
        eips.push(EipChange {
            name: name.clone(),
            status: json!({ "status": patch }),
            notes,
        });
    }
    Changes { services, eips }
}

/// The Eip status to hold: the plan's fields and a `Ready` condition whose transition time
/// only moves when its status does.
fn desired_eip_status(
    eip: &Eip,
    planned: &EipStatus,
    errors: &[String],
    now: Timestamp,
) -> EipStatus {
    let valid = errors.is_empty();
    let current = eip.status.as_ref();
    let previous = current.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    let status = if valid { "True" } else { "False" };
    let unannounced = eip
        .metadata
        .name
        .as_deref()
        .and_then(|name| coverage::unsupported_protocol(name, eip.spec.effective_protocol()));
    let (reason, message) = match (valid, unannounced) {
        (false, _) => ("Invalid", errors.join("; ")),
        // usable for assignment, so Ready; the reason says what it lacks
        (true, Some(why)) => (LAYER2_NOT_SUPPORTED, format!("the pool is valid; {why}")),
        (true, None) => ("Valid", "the pool is valid".to_owned()),
    };
    let condition = Condition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: eip.metadata.generation,
        last_transition_time: previous
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now)),
    };
    let mut conditions: Vec<Condition> = current
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != READY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.push(condition);
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    EipStatus {
        conditions,
        ..planned.clone()
    }
}

/// What the controller remembers between snapshots (reset when it becomes leader).
#[derive(Debug, Default)]
struct Memory {
    /// Warnings reported per Service, so they are not repeated.
    reported: BTreeMap<ObjectKey, String>,
    /// Objects as our last write left them, keyed by the resourceVersion they had before:
    /// until the watch catches up, a snapshot still showing that version is stale and the
    /// written object is planned from instead (no duplicate writes or Events).
    services: BTreeMap<ObjectKey, (Option<String>, Service)>,
    eips: BTreeMap<String, (Option<String>, Eip)>,
}

impl Memory {
    fn overlay(&mut self, snapshot: &mut Snapshot) {
        self.services.retain(
            |key, (before, written)| match snapshot.services.get_mut(key) {
                Some(seen) if seen.metadata.resource_version == *before => {
                    *seen = written.clone();
                    true
                }
                _ => false,
            },
        );
        self.eips.retain(
            |name, (before, written)| match snapshot.eips.get_mut(name) {
                Some(seen) if seen.metadata.resource_version == *before => {
                    *seen = written.clone();
                    true
                }
                _ => false,
            },
        );
    }
}

/// The controller's connection to the API.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    recorder: Recorder,
}

impl Writer {
    /// Writes with `client`, reports Events with `recorder`.
    pub fn new(client: Client, recorder: Recorder) -> Self {
        Self { client, recorder }
    }

    async fn report(&self, reference: &k8s_openapi::api::core::v1::ObjectReference, note: &Note) {
        if let Err(error) = self.recorder.publish(&kube_event(note), reference).await {
            tracing::warn!(%error, reason = note.reason, "cannot report event");
        }
    }

    fn params() -> PatchParams {
        PatchParams {
            field_manager: Some(REPORTER.to_owned()),
            ..Default::default()
        }
    }

    /// Performs one Service's change; returns the Service as the last write left it.
    async fn service(
        &self,
        svc: &Service,
        change: &ServiceChange,
    ) -> Result<Option<Service>, Error> {
        let key = &change.key;
        let api: Api<Service> = Api::namespaced(self.client.clone(), &key.namespace);
        let object = || format!("Service {key}");
        let mut latest: Option<Service> = None;
        let mut steps: Vec<(bool, &Value)> = Vec::new();
        let status = change.status.as_ref().map(|s| (true, s));
        let metadata = change.metadata.as_ref().map(|m| (false, m));
        if change.status_first {
            steps.extend(status.into_iter().chain(metadata));
        } else {
            steps.extend(metadata.into_iter().chain(status));
        }
        for (is_status, patch) in steps {
            let result = if is_status {
                api.patch_status(&key.name, &Self::params(), &Patch::Strategic(patch))
                    .await
            } else {
                let mut patch = patch.clone();
                let rv = latest
                    .as_ref()
                    .unwrap_or(svc)
                    .metadata
                    .resource_version
                    .clone();
                if let Some(meta) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("resourceVersion".into(), json!(rv));
                }
                api.patch(&key.name, &Self::params(), &Patch::Merge(&patch))
                    .await
            };
            match result {
                Ok(written) => latest = Some(written),
                // gone already: nothing left to hold or release
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
                Err(e) => {
                    let action = if is_status {
                        "patch status of"
                    } else {
                        "patch metadata of"
                    };
                    return Err(Error::api(action, object(), e));
                }
            }
        }
        let reference = svc.object_ref(&());
        for note in &change.notes {
            self.report(&reference, note).await;
        }
        Ok(latest)
    }

    async fn eip(&self, eip: &Eip, change: &EipChange) -> Result<Eip, Error> {
        let api: Api<Eip> = Api::all(self.client.clone());
        let written = api
            .patch_status(&change.name, &Self::params(), &Patch::Merge(&change.status))
            .await
            .map_err(|e| Error::api("patch status of", format!("Eip {}", change.name), e))?;
        let reference = eip.object_ref(&());
        for note in &change.notes {
            // Reported once, when the Eip's Ready condition changes: worth the log too.
            tracing::warn!(eip = change.name, reason = note.reason, "{}", note.message);
            self.report(&reference, note).await;
        }
        Ok(written)
    }
}

/// Applies `changes` while `leader` says we lead; the first error stops the round (the
/// caller retries from a fresh plan). Every write is progress for `health`.
async fn apply(
    writer: &Writer,
    snapshot: &Snapshot,
    changes: Changes,
    memory: &mut Memory,
    leader: &watch::Receiver<bool>,
    health: &Health,
) -> Result<(), Error> {
    for change in changes.services {
        health.beat();
        if !*leader.borrow() {
            return Ok(());
        }
        let Some(svc) = snapshot.services.get(&change.key) else {
            continue;
        };
        match writer.service(svc, &change).await {
            Ok(written) => {
                if let Some(written) = written {
                    memory.services.insert(
                        change.key.clone(),
                        (svc.metadata.resource_version.clone(), written),
                    );
                }
                match change.reported {
                    Some(reason) => memory.reported.insert(change.key, reason),
                    None => memory.reported.remove(&change.key),
                };
            }
            Err(e) => return Err(e),
        }
    }
    for change in changes.eips {
        health.beat();
        if !*leader.borrow() {
            return Ok(());
        }
        let Some(eip) = snapshot.eips.get(&change.name) else {
            continue;
        };
        let written = writer.eip(eip, &change).await?;
        memory.eips.insert(
            change.name.clone(),
            (eip.metadata.resource_version.clone(), written),
        );
    }
    Ok(())
}

/// How often an idle controller loop reports that it is alive ([`Health::beat`]).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Keeps the cluster in line with the plan of every snapshot while `leader` is true.
///
/// Waits for the first snapshot (the source publishes only after its initial sync), then
/// re-plans on every new snapshot, on becoming leader, and after a failed write (with
/// backoff, 200 ms doubling up to 30 s). Returns when the snapshot channel closes.
///
/// `metrics` follow every plan, failed round and change of leadership. `health` becomes ready
/// with the first snapshot, whether or not this replica leads: a replica that is not leading
/// is a synced standby, able to take over at once, and readiness must not wait for the Lease
/// or a rolling update of two replicas would wait for a new Pod to lead while the old one holds
/// the Lease, forever.
pub async fn run_controller(
    writer: Writer,
    mut snapshots: watch::Receiver<Snapshot>,
    mut leader: watch::Receiver<bool>,
    metrics: ControllerMetrics,
    health: Health,
) {
    const RETRY_MIN: Duration = Duration::from_millis(200);
    const RETRY_MAX: Duration = Duration::from_secs(30);
    let mut memory = Memory::default();
    let mut have_snapshot = snapshots.has_changed().unwrap_or(false);
    let mut retry_at: Option<Instant> = None;
    let mut backoff = RETRY_MIN;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    metrics.set_leader(*leader.borrow());
    if have_snapshot {
        health.set_ready();
    }
    loop {
        let deadline = retry_at;
        health.beat();
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                have_snapshot = true;
                health.set_ready();
            }
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                let leading = *leader.borrow_and_update();
                metrics.set_leader(leading);
                if leading {
                    memory = Memory::default();
                } else {
                    metrics.forget_plan();
                }
            }
            () = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                retry_at = None;
            }
            _ = heartbeat.tick() => continue,
        }
        if !have_snapshot || !*leader.borrow() {
            continue;
        }
        // A copy: `overlay` adds what this controller wrote and the watches have not shown yet.
        let mut snapshot = Snapshot::clone(&snapshots.borrow_and_update());
        memory.overlay(&mut snapshot);
        let plan = assign::plan(&snapshot);
        metrics.observe(&plan);
        let changes = changes(&snapshot, &plan, &memory.reported, Timestamp::now());
        if changes.writes() > 0 {
            tracing::debug!(writes = changes.writes(), "applying the plan");
        }
        match apply(&writer, &snapshot, changes, &mut memory, &leader, &health).await {
            Ok(()) => {
                backoff = RETRY_MIN;
                retry_at = None;
            }
            Err(error) => {
                metrics.reconcile_error(error.kind());
                tracing::warn!(%error, kind = error.kind(), retry_in = ?backoff, "cannot write; retrying");
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Everything `porter controller` runs on the Kubernetes API.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The controller's namespace (for its Lease).
    pub namespace: String,
    /// This replica's identity (the Pod name) for the Lease and Events.
    pub identity: String,
    /// Leader term length.
    pub lease_duration: Duration,
    /// Where the controller's metrics go ([`ControllerMetrics::default`]: nowhere).
    pub metrics: ControllerMetrics,
    /// The controller's liveness and readiness (see [`run_controller`]).
    pub health: Health,
}

/// Runs the source, the leader election and the controller until `shutdown` resolves, then
/// releases the Lease so another replica takes over at once.
pub async fn run(client: Client, config: ControllerConfig, shutdown: impl Future<Output = ()>) {
    let source = KubeSource::start(client.clone(), SourceConfig::controller());
    let leadership = Leadership::start(
        client.clone(),
        LeaseConfig::with_duration(&config.namespace, &config.identity, config.lease_duration),
    );
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: REPORTER.to_owned(),
            instance: Some(config.identity.clone()),
        },
    );
    let controller = run_controller(
        Writer::new(client, recorder),
        source.subscribe(),
        leadership.subscribe(),
        config.metrics,
        config.health,
    );
    tokio::select! {
        () = controller => {}
        () = shutdown => {}
    }
    leadership.stop().await;
    drop(source);
}

#[cfg(test)]
mod tests {
    use porter_model::assign::plan;

    use super::*;

    fn eip(name: &str, address: &str) -> Eip {
        serde_json::from_value(json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": name, "resourceVersion": "1", "generation": 1},
            "spec": {"address": address}
        }))
        .unwrap()
    }

    fn svc(name: &str, status_ip: Option<&str>) -> Service {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "5",
                "annotations": {"lb.kubesphere.io/v1alpha1": "openelb",
                                "eip.openelb.kubesphere.io/v1alpha2": "pool"}},
            "spec": {"type": "LoadBalancer"}
        });
        if let Some(ip) = status_ip {
            v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
            v["metadata"]["finalizers"] = json!([SERVICE_FINALIZER]);
            v["metadata"]["labels"] = json!({EIP_POOL_LABEL: "pool"});
        }
        serde_json::from_value(v).unwrap()
    }

    fn snapshot(services: Vec<Service>) -> Snapshot {
        let mut s = Snapshot::default();
        s.eips
            .insert("pool".into(), eip("pool", "203.0.113.10-203.0.113.12"));
        for svc in services {
            s.services
                .insert(ObjectKey::of(&svc.metadata).unwrap(), svc);
        }
        s
    }

    /// Applies the changes the way the API server would, for replay.
    fn apply_locally(snapshot: &mut Snapshot, changes: &Changes) {
        for c in &changes.services {
            let svc = snapshot.services.get_mut(&c.key).unwrap();
            let mut v = serde_json::to_value(&*svc).unwrap();
            for p in c.metadata.iter().chain(c.status.iter()) {
                merge::apply(&mut v, p);
            }
            *svc = serde_json::from_value(v).unwrap();
        }
        for c in &changes.eips {
            let eip = snapshot.eips.get_mut(&c.name).unwrap();
            let mut v = serde_json::to_value(&*eip).unwrap();
            merge::apply(&mut v, &c.status);
            *eip = serde_json::from_value(v).unwrap();
        }
    }

    #[test]
    fn a_new_service_gets_finalizer_label_status_and_an_event() {
        let s = snapshot(vec![svc("web", None)]);
        let c = changes(&s, &plan(&s), &BTreeMap::new(), Timestamp::now());
        assert_eq!(c.services.len(), 1);
        let web = &c.services[0];
        assert!(!web.status_first);
        assert_eq!(
            web.metadata,
            Some(
                json!({"metadata": {"finalizers": [SERVICE_FINALIZER], "labels": {EIP_POOL_LABEL: "pool"}}})
            )
        );
        let status = web.status.as_ref().unwrap();
        assert_eq!(
            status["status"]["loadBalancer"],
            json!({"ingress": [{"ip": "203.0.113.10"}]})
        );
        // no node in this snapshot: the address is held but not announced
        let announced = &status["status"]["conditions"][0];
        assert_eq!(announced["type"], ANNOUNCED);
        assert_eq!(announced["status"], "False");
        assert_eq!(announced["reason"], NOT_ANNOUNCED);
        assert_eq!(web.notes[0].reason, IP_ALLOCATED);
        assert_eq!(web.notes[0].message, "assigned 203.0.113.10 from Eip pool");
        assert_eq!(web.notes[1].reason, NOT_ANNOUNCED);
        assert!(web.notes[1].warning);
        assert_eq!(c.eips.len(), 1);
        assert_eq!(c.eips[0].status["status"]["usage"], json!(1));
        assert_eq!(
            c.eips[0].status["status"]["conditions"][0]["reason"],
            "Valid"
        );
    }

    #[test]
    fn applying_the_changes_converges_to_no_writes() {
        let mut s = snapshot(vec![svc("web", None), svc("api", None)]);
        let t = Timestamp::now();
        let first = changes(&s, &plan(&s), &BTreeMap::new(), t);
        assert_eq!(first.writes(), 5);
        apply_locally(&mut s, &first);
        let again = changes(&s, &plan(&s), &BTreeMap::new(), t);
        assert_eq!(again, Changes::default());
        // a later clock does not move the condition's transition time
        let later = Timestamp::now() + Duration::from_secs(60);
        assert_eq!(
            changes(&s, &plan(&s), &BTreeMap::new(), later),
            Changes::default()
        );
    }

    #[test]
    fn a_deleted_service_is_released_status_first_then_finalizer() {
        let mut deleting = svc("web", Some("203.0.113.10"));
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        let s = snapshot(vec![deleting]);
        let c = changes(&s, &plan(&s), &BTreeMap::new(), Timestamp::now());
        let web = &c.services[0];
        assert!(web.status_first);
        assert_eq!(
            web.status,
            Some(json!({"status": {"loadBalancer": {"ingress": null}}}))
        );
        assert_eq!(
            web.metadata,
            Some(json!({"metadata": {"finalizers": [], "labels": {EIP_POOL_LABEL: null}}}))
        );
        assert_eq!(web.notes[0].reason, IP_RELEASED);
        // the released address leaves the Eip's record
        assert_eq!(c.eips[0].status["status"]["usage"], json!(0));
    }

    #[test]
    fn failures_are_reported_once_per_reason() {
        let mut other = svc("other", None);
        other.metadata.annotations.as_mut().unwrap().insert(
            "eip.openelb.kubesphere.io/v1alpha2".into(),
            "missing".into(),
        );
        let s = snapshot(vec![other]);
        let p = plan(&s);
        let c = changes(&s, &p, &BTreeMap::new(), Timestamp::now());
        let change = c.services.iter().find(|c| c.key.name == "other").unwrap();
        assert_eq!(change.notes[0].reason, ALLOCATION_FAILED);
        assert!(change.metadata.is_none() && change.status.is_none());
        let reported = BTreeMap::from([(change.key.clone(), change.reported.clone().unwrap())]);
        let again = changes(&s, &p, &reported, Timestamp::now());
        assert!(again.services.iter().all(|c| c.key.name != "other"));
    }

    #[test]
    fn an_invalid_eip_gets_ready_false_naming_the_field() {
        let mut s = snapshot(vec![]);
        let mut newer = eip("newer", "203.0.113.11/32");
        newer.metadata.creation_timestamp = Some(Time(Timestamp::now()));
        s.eips.insert("newer".into(), newer);
        let c = changes(&s, &plan(&s), &BTreeMap::new(), Timestamp::now());
        let bad = c.eips.iter().find(|c| c.name == "newer").unwrap();
        let cond = &bad.status["status"]["conditions"][0];
        assert_eq!(cond["status"], "False");
        assert_eq!(cond["reason"], "Invalid");
        assert!(cond["message"].as_str().unwrap().contains("spec.address"));
        assert_eq!(bad.notes[0].reason, EIP_INVALID);
    }

    #[test]
    fn an_address_from_a_layer2_eip_says_it_is_not_announced_yet_once() {
        let mut s = snapshot(vec![svc("web", None)]);
        let pool = s.eips.get_mut("pool").unwrap();
        pool.spec.protocol = Some(Protocol::Layer2);
        pool.spec.interface = Some("eth0".into());
        let t = Timestamp::now();
        let first = changes(&s, &plan(&s), &BTreeMap::new(), t);
        let web = &first.services[0];
        let announced = &web.status.as_ref().unwrap()["status"]["conditions"][0];
        assert_eq!(announced["type"], ANNOUNCED);
        assert_eq!(announced["status"], "False");
        assert_eq!(announced["reason"], LAYER2_NOT_SUPPORTED);
        let why = "addresses of Eip pool (protocol layer2) are assigned but not announced yet: this version of Porter announces only bgp Eips";
        assert_eq!(announced["message"], format!("203.0.113.10: {why}"));
        // the address is assigned all the same, with its Event, and the warning Event
        assert_eq!(web.notes[0].reason, IP_ALLOCATED);
        assert_eq!(
            web.notes[1],
            Note::warning(
                LAYER2_NOT_SUPPORTED,
                "Announce",
                format!("203.0.113.10: {why}")
            )
        );
        // the Eip: Ready (it assigns), saying what it lacks, with one warning
        let ready = &first.eips[0].status["status"]["conditions"][0];
        assert_eq!(
            (&ready["status"], &ready["reason"]),
            (&json!("True"), &json!(LAYER2_NOT_SUPPORTED))
        );
        assert_eq!(ready["message"], format!("the pool is valid; {why}"));
        assert_eq!(
            first.eips[0].notes,
            [Note::warning(
                LAYER2_NOT_SUPPORTED,
                "Validate",
                why.to_owned()
            )]
        );
        // written: nothing more to write or report
        apply_locally(&mut s, &first);
        assert_eq!(
            changes(&s, &plan(&s), &BTreeMap::new(), t),
            Changes::default()
        );
    }

    #[test]
    fn messages_longer_than_the_api_server_takes_are_cut() {
        let short = "announced by n1".to_owned();
        assert_eq!(within(short.clone(), EVENT_NOTE_MAX), short);
        // 500 nodes of a large cluster, with a multi-byte character at the cut
        let nodes: Vec<String> = (0..500).map(|i| format!("nœud-{i:03}")).collect();
        let long = format!("203.0.113.10: announced by {}", nodes.join(", "));
        assert!(long.len() > EVENT_NOTE_MAX);
        let note = Note::normal(ANNOUNCED_REASON, "Announce", long.clone());
        let event = kube_event(&note).note.unwrap();
        assert!(event.len() <= EVENT_NOTE_MAX, "{}", event.len());
        assert!(event.ends_with('…') && long.starts_with(event.trim_end_matches('…')));

        let svc = svc("web", Some("203.0.113.10"));
        let huge = long.repeat(20);
        assert!(huge.len() > CONDITION_MESSAGE_MAX);
        let written = condition_change(
            &svc,
            ANNOUNCED,
            Some(("True", "Announced", huge)),
            Timestamp::now(),
        )
        .flatten()
        .unwrap();
        assert!(written.message.len() <= CONDITION_MESSAGE_MAX);
    }
}
