//! Why a Service got no address: the typed cause, its bounded kind, and (by `Display`) the
//! message for its `AllocationFailed` event.

use porter_api::{FieldError, annotations};
use porter_ipam::AllocError;

/// Why a Service got no address. Each variant keeps what stopped the plan, so callers match on
/// it or take its [`reason`](Self::reason); `Display` renders the message for the
/// `AllocationFailed` event, naming the objects and fields involved (an Eip as `Eip "x"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The Service asks for a requested address that is not an IP (annotation or
    /// `spec.loadBalancerIP`; the error names the field).
    #[error(transparent)]
    InvalidRequest(FieldError),
    /// The Eip the Service names does not exist.
    #[error(
        "Eip {eip:?} (named by annotation {}) does not exist",
        annotations::EIP_POOL_ANNOTATION
    )]
    UnknownEip {
        /// The Eip named.
        eip: String,
    },
    /// The Eip the Service names is invalid (its status says why).
    #[error(
        "Eip {eip:?} (named by annotation {}) is invalid; see its status",
        annotations::EIP_POOL_ANNOTATION
    )]
    InvalidEip {
        /// The Eip named.
        eip: String,
    },
    /// No Eip serves the Service's namespace: none named, none bound to it, no default.
    #[error(
        "no Eip serves namespace {namespace:?}: name one with annotation {}, list the namespace in an Eip's spec.namespaces, or mark an Eip with {}: \"true\"",
        annotations::EIP_POOL_ANNOTATION,
        annotations::DEFAULT_EIP_ANNOTATION
    )]
    NoEip {
        /// The Service's namespace.
        namespace: String,
    },
    /// The allocator refused the request (its message names pools as Eips).
    #[error(transparent)]
    Alloc(AllocError),
}

impl Failure {
    /// What kind of failure it is (metrics labels, alerts).
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::InvalidRequest(_) => FailureReason::InvalidRequest,
            Self::UnknownEip { .. } => FailureReason::UnknownEip,
            Self::InvalidEip { .. } => FailureReason::InvalidEip,
            Self::NoEip { .. } => FailureReason::NoPool,
            Self::Alloc(error) => FailureReason::from(error),
        }
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
