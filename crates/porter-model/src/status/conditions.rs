//! Porter's status conditions: their names on the wire, and how one moves from what an object
//! holds to what it should hold (`metav1.Condition` semantics: the transition time moves only
//! with the status).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The Service condition type saying which nodes announce its address, and whether their BGP
/// sessions are Established. Its reasons are also the Events reported when it changes.
pub const ANNOUNCED: &str = "porter.kubesphere.io/Announced";
/// Condition reason and Event reason (Normal): a node announces the address over an
/// Established session, or answers ARP/NDP for it.
pub const ANNOUNCED_REASON: &str = "Announced";
/// Condition reason and Event reason (Warning): nodes announce the address, but none of them
/// has an Established session.
pub const NO_ESTABLISHED_SESSION: &str = "NoEstablishedSession";
/// Condition reason and Event reason (Warning): no node announces the address.
pub const NOT_ANNOUNCED: &str = "NotAnnounced";

/// The Service condition type saying whether its address is in an Eip: `True`/[`IN_POOL_REASON`]
/// or, when the address fell out of every pool, `False`/[`ORPHANED_REASON`].
pub const ADDRESS_IN_POOL: &str = "porter.kubesphere.io/AddressInPool";
/// Condition reason: the held address is in an Eip.
pub const IN_POOL_REASON: &str = "InPool";
/// Condition reason: the held address is in no Eip any more (kept, not moved).
pub const ORPHANED_REASON: &str = "Orphaned";

/// The Eip condition type Porter maintains.
pub const READY: &str = "Ready";
/// Eip `Ready` reason: the pool can be used.
pub const VALID_REASON: &str = "Valid";
/// Eip `Ready` reason (status `False`): the pool cannot be used; the message names each field.
pub const INVALID_REASON: &str = "Invalid";

/// The Service condition types Porter owns (and removes when a Service gives its address back).
pub const SERVICE_CONDITIONS: [&str; 2] = [ANNOUNCED, ADDRESS_IN_POOL];

/// The longest condition `message` the API server accepts (`metav1.Condition`).
pub const CONDITION_MESSAGE_MAX: usize = 32768;

/// `message` cut to at most `max` bytes at a character boundary, ending in `…` when cut: a
/// message naming every announcing node of a large cluster must still be accepted.
pub fn within(mut message: String, max: usize) -> String {
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

/// What a condition should say, before it is stamped with a transition time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// `True` or `False`.
    pub status: bool,
    /// The reason, e.g. [`ANNOUNCED_REASON`].
    pub reason: &'static str,
    /// The human-readable message (cut to [`CONDITION_MESSAGE_MAX`] when stamped).
    pub message: String,
}

impl Desired {
    /// A condition with status `True`.
    pub fn yes(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: true,
            reason,
            message: message.into(),
        }
    }

    /// A condition with status `False`.
    pub fn no(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: false,
            reason,
            message: message.into(),
        }
    }
}

/// How one of Porter's conditions on an object must change.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionUpdate {
    /// The object already holds what it should (the transition time is not compared: it only
    /// moves with the status), or holds no such condition and should not.
    Unchanged,
    /// Write this condition (replacing the one of the same type).
    Set(Condition),
    /// Remove the condition of this type.
    Remove,
}

impl ConditionUpdate {
    /// Whether anything is to be written.
    pub fn is_unchanged(&self) -> bool {
        matches!(self, Self::Unchanged)
    }
}

fn status_word(status: bool) -> &'static str {
    if status { "True" } else { "False" }
}

/// The reasons Porter writes in conditions: a held condition keeps its reason only when it is
/// one of these ([`HeldCondition::reason`]), as no other can equal what Porter decides.
const REASONS: [&str; 7] = [
    ANNOUNCED_REASON,
    NO_ESTABLISHED_SESSION,
    NOT_ANNOUNCED,
    IN_POOL_REASON,
    ORPHANED_REASON,
    VALID_REASON,
    INVALID_REASON,
];

/// What deciding reads of a condition an object holds, in 48 bytes rather than a `Condition`'s
/// five strings: the controller keeps one per Porter condition of each Service (two per
/// Service, 100k Services). The message is only ever compared with the one decided, so a
/// fingerprint of it stands for it ([`fingerprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldCondition {
    /// `Some(true)` for `True`, `Some(false)` for `False`, `None` for anything else.
    pub status: Option<bool>,
    /// Index in `REASONS` of the reason when it is one Porter writes ([`Self::reason`]): a
    /// byte, not a `&str`, so two conditions per Service cost 32 bytes less.
    reason: Option<u8>,
    /// [`fingerprint`] of the message.
    pub message: u64,
    /// `observedGeneration`.
    pub observed_generation: Option<i64>,
    /// `lastTransitionTime`.
    pub last_transition_time: Timestamp,
}

impl HeldCondition {
    /// What deciding reads of `condition`.
    pub fn of(condition: &Condition) -> Self {
        Self {
            status: match condition.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            },
            reason: REASONS
                .iter()
                .position(|r| *r == condition.reason)
                .and_then(|i| u8::try_from(i).ok()),
            message: fingerprint(&condition.message),
            observed_generation: condition.observed_generation,
            last_transition_time: condition.last_transition_time.0,
        }
    }

    /// The reason when it is one Porter writes; `None` for any other (it equals no decision).
    pub fn reason(&self) -> Option<&'static str> {
        REASONS.get(usize::from(self.reason?)).copied()
    }
}

/// A 64-bit fingerprint of a condition message (SipHash with fixed keys: the same in every
/// process). Two different messages share one with a chance of 2⁻⁶⁴, which would leave a
/// condition's message unrewritten until its next change.
pub fn fingerprint(message: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    message.hash(&mut hasher);
    hasher.finish()
}

/// The condition `type_` as it should be: `desired`, with the transition time of `previous`
/// when the status did not change, `now` otherwise.
pub fn stamp(
    type_: &str,
    previous: Option<&HeldCondition>,
    desired: Desired,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = status_word(desired.status);
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: desired.reason.to_owned(),
        message: within(desired.message, CONDITION_MESSAGE_MAX),
        observed_generation: generation,
        last_transition_time: Time(
            previous
                .filter(|c| c.status == Some(desired.status))
                .map_or(now, |c| c.last_transition_time),
        ),
    }
}

/// The change of the condition `type_` so that an object holding `previous` (at `generation`)
/// holds `desired` (`None`: no such condition).
pub fn update(
    type_: &str,
    previous: Option<&HeldCondition>,
    desired: Option<Desired>,
    generation: Option<i64>,
    now: Timestamp,
) -> ConditionUpdate {
    let Some(desired) = desired else {
        return match previous {
            Some(_) => ConditionUpdate::Remove,
            None => ConditionUpdate::Unchanged,
        };
    };
    let (status, reason) = (desired.status, desired.reason);
    let condition = stamp(type_, previous, desired, generation, now);
    let same = |c: &&HeldCondition| {
        c.status == Some(status)
            && c.reason() == Some(reason)
            && c.message == fingerprint(&condition.message)
            && c.observed_generation == condition.observed_generation
    };
    if previous.filter(same).is_some() {
        return ConditionUpdate::Unchanged;
    }
    ConditionUpdate::Set(condition)
}

/// The condition of type `type_` in `conditions`.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Applies `update` of the condition `type_` to a list of conditions, keeping every other
/// type (other controllers' conditions) where it is, as a merge by `type` does.
pub fn apply(conditions: &mut Vec<Condition>, type_: &str, update: &ConditionUpdate) {
    match update {
        ConditionUpdate::Unchanged => {}
        ConditionUpdate::Remove => conditions.retain(|c| c.type_ != type_),
        ConditionUpdate::Set(condition) => match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(held) => *held = condition.clone(),
            None => conditions.push(condition.clone()),
        },
    }
}
