//! The Events the controller reports, as values: a shell publishes them (`events.k8s.io/v1` on
//! the API) or logs them (a manifests folder), with the same reasons and words.

use std::fmt;

use crate::ObjectKey;

use super::conditions::within;

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

/// Event action: an address was (or could not be) assigned, or is held outside every Eip.
pub const ALLOCATE: &str = "Allocate";
/// Event action: an address was given back.
pub const RELEASE: &str = "Release";
/// Event action: the announcement of an address changed.
pub const ANNOUNCE: &str = "Announce";
/// Event action: an Eip was checked.
pub const VALIDATE: &str = "Validate";

/// The longest Event `note` the API server accepts (`events.k8s.io/v1`): a longer one is
/// refused and the Event lost.
pub const EVENT_NOTE_MAX: usize = 1024;

/// An Event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something went as it should.
    Normal,
    /// Something an operator should look at.
    Warning,
}

/// An Event to report about the object it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Normal or Warning.
    pub type_: EventType,
    /// The reason, e.g. [`IP_ALLOCATED`].
    pub reason: &'static str,
    /// The action, e.g. [`ALLOCATE`].
    pub action: &'static str,
    /// The human-readable message, at most [`EVENT_NOTE_MAX`] bytes.
    pub message: String,
}

impl Note {
    /// A Normal Event; `message` is cut to [`EVENT_NOTE_MAX`].
    pub fn normal(reason: &'static str, action: &'static str, message: String) -> Self {
        Self::new(EventType::Normal, reason, action, message)
    }

    /// A Warning Event; `message` is cut to [`EVENT_NOTE_MAX`].
    pub fn warning(reason: &'static str, action: &'static str, message: String) -> Self {
        Self::new(EventType::Warning, reason, action, message)
    }

    fn new(type_: EventType, reason: &'static str, action: &'static str, message: String) -> Self {
        Self {
            type_,
            reason,
            action,
            message: within(message, EVENT_NOTE_MAX),
        }
    }

    /// Whether it is a Warning.
    pub fn is_warning(&self) -> bool {
        self.type_ == EventType::Warning
    }
}

/// The object an Event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regarding<'a> {
    /// A Service.
    Service(&'a ObjectKey),
    /// An Eip, by name.
    Eip(&'a str),
}

impl fmt::Display for Regarding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service(key) => write!(f, "Service {key}"),
            Self::Eip(name) => write!(f, "Eip {name}"),
        }
    }
}
