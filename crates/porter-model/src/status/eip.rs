//! An Eip's status as the controller decides it: the plan's fields (OpenELB's `poolSize`,
//! `used`, `usage`, ...) and a `Ready` condition, with the Event of a change of readiness.

use k8s_openapi::jiff::Timestamp;
use porter_api::{Eip, EipStatus};

use crate::assign::EipPlan;

use super::conditions::{self, Desired, INVALID_REASON, READY, VALID_REASON};
use super::events::{EIP_INVALID, Note, VALIDATE};

/// What one Eip must hold and which Events its change reports.
#[derive(Debug, Clone, PartialEq)]
pub struct EipDecision {
    /// The Eip's name.
    pub name: String,
    /// The whole status it must hold (compare with what it holds to know what to write).
    pub status: EipStatus,
    /// Events to report once the status is written: one when its `Ready` condition changes
    /// and it is invalid.
    pub notes: Vec<Note>,
}

impl EipDecision {
    /// Whether `eip` already holds this status.
    pub fn is_held_by(&self, eip: &Eip) -> bool {
        eip.status.as_ref() == Some(&self.status)
    }
}

fn errors_of(planned: &EipPlan) -> Vec<String> {
    planned.errors.iter().map(ToString::to_string).collect()
}

/// The `Ready` condition as it should say: `False`/`Invalid` naming every field error, or
/// `True`/`Valid`.
fn ready(eip: &Eip, errors: &[String]) -> Desired {
    if !errors.is_empty() {
        return Desired::no(INVALID_REASON, errors.join("; "));
    }
    let unsupported = eip.unsupported_fields();
    if unsupported.is_empty() {
        return Desired::yes(VALID_REASON, "the pool is valid");
    }
    // Set but not implemented: said where the user looks, as the speaker says it of BgpConf
    // and BgpPeer fields.
    Desired::yes(
        VALID_REASON,
        format!(
            "the pool is valid; {} accepted for OpenELB compatibility but not implemented by Porter (no effect)",
            unsupported.join(", ")
        ),
    )
}

/// The Eip status to hold: the plan's fields and a `Ready` condition whose transition time
/// only moves when its status does; other conditions are kept, sorted by type.
pub fn desired_status(eip: &Eip, planned: &EipPlan, now: Timestamp) -> EipStatus {
    let current = eip.status.as_ref();
    let previous = current
        .and_then(|s| conditions::find(&s.conditions, READY))
        .map(conditions::HeldCondition::of);
    let condition = conditions::stamp(
        READY,
        previous.as_ref(),
        ready(eip, &errors_of(planned)),
        eip.metadata.generation,
        now,
    );
    let mut list: Vec<_> = current
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != READY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    list.push(condition);
    list.sort_by(|a, b| a.type_.cmp(&b.type_));
    EipStatus {
        conditions: list,
        ..planned.status.clone()
    }
}

/// The decision for the Eip `name`.
pub(super) fn decide(name: &str, eip: &Eip, planned: &EipPlan, now: Timestamp) -> EipDecision {
    let status = desired_status(eip, planned, now);
    let readiness = |s: Option<&EipStatus>| {
        s.and_then(|s| conditions::find(&s.conditions, READY))
            .map(|c| (c.status.clone(), c.message.clone()))
    };
    let mut notes = Vec::new();
    if readiness(eip.status.as_ref()) != readiness(Some(&status)) {
        let errors = errors_of(planned);
        if !errors.is_empty() {
            notes.push(Note::warning(EIP_INVALID, VALIDATE, errors.join("; ")));
        }
    }
    EipDecision {
        name: name.to_owned(),
        status,
        notes,
    }
}
