//! API errors, rendered as `Status` objects with the code and reason the real API server uses.
//!
//! kube-rs turns a `Status` body into `kube::Error::Api(status)`, so callers under test can branch on
//! `status.code` / `status.reason` exactly as they would against a real cluster.

use serde_json::{Value, json};

/// An error the fake API server answers with; each variant maps to one HTTP code and `Status.reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 404 `NotFound`: the object (or the URL's resource) does not exist.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// Resource plural, or the raw URL for an unknown path.
        resource: String,
        /// Object name (may be empty).
        name: String,
    },
    /// 409 `AlreadyExists`: create of an existing name.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// Resource plural.
        resource: String,
        /// Object name.
        name: String,
    },
    /// 409 `Conflict`: a stale `resourceVersion` or failed precondition.
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {message}")]
    Conflict {
        /// Resource plural.
        resource: String,
        /// Object name.
        name: String,
        /// What did not match.
        message: String,
    },
    /// 400 `BadRequest`: an unparseable body or query.
    #[error("{0}")]
    BadRequest(String),
    /// 422 `Invalid`: the request parsed but the resulting object is not acceptable.
    #[error("{kind} \"{name}\" is invalid: {message}")]
    Invalid {
        /// Kind of the object.
        kind: String,
        /// Object name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// 405 `MethodNotAllowed`.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 415 `UnsupportedMediaType`: unknown patch type, or strategic merge on a custom resource.
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    /// 410 `Expired`: a resourceVersion or continue token older than the retained history.
    #[error("{0}")]
    Expired(String),
    /// 403 `Forbidden`: a request the test refused ([`crate::FakeApiServer::forbid`]), worded as RBAC words
    /// a denial.
    #[error(
        "{resource} \"{name}\" is forbidden: User \"system:anonymous\" cannot {verb} resource \"{resource}\" in API group \"{group}\"{scope}"
    )]
    Forbidden {
        /// Resource plural.
        resource: String,
        /// API group (`""` for the core group).
        group: String,
        /// Object name (empty for a collection).
        name: String,
        /// The RBAC verb (`get`, `list`, `patch`, ...).
        verb: String,
        /// ` in the namespace "ns"`, or empty for a cluster-scoped resource.
        scope: String,
    },
    /// 503 `ServiceUnavailable`: the simulated outage.
    #[error("the server is currently unable to handle the request")]
    ServiceUnavailable,
}

impl ApiError {
    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::AlreadyExists { .. } | Self::Conflict { .. } => 409,
            Self::BadRequest(_) => 400,
            Self::Invalid { .. } => 422,
            Self::MethodNotAllowed => 405,
            Self::UnsupportedMediaType(_) => 415,
            Self::Expired(_) => 410,
            Self::Forbidden { .. } => 403,
            Self::ServiceUnavailable => 503,
        }
    }

    /// `Status.reason`, as the real API server spells it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NotFound",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::Conflict { .. } => "Conflict",
            Self::BadRequest(_) => "BadRequest",
            Self::Invalid { .. } => "Invalid",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Self::Expired(_) => "Expired",
            Self::Forbidden { .. } => "Forbidden",
            Self::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The `Status` object sent as the response body (or as a watch `ERROR` event's object).
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            Self::NotFound { resource, name }
            | Self::AlreadyExists { resource, name }
            | Self::Conflict { resource, name, .. } => {
                Some(json!({"name": name, "kind": resource}))
            }
            Self::Invalid { kind, name, .. } => Some(json!({"name": name, "kind": kind})),
            Self::Forbidden {
                resource,
                group,
                name,
                ..
            } => Some(json!({"name": name, "group": group, "kind": resource})),
            _ => None,
        };
        if let Some(details) = details {
            status["details"] = details;
        }
        status
    }

    pub(crate) fn not_found(resource: &str, name: &str) -> Self {
        Self::NotFound {
            resource: resource.to_string(),
            name: name.to_string(),
        }
    }

    pub(crate) fn conflict(resource: &str, name: &str) -> Self {
        Self::Conflict {
            resource: resource.to_string(),
            name: name.to_string(),
            message: "the object has been modified; please apply your changes to the latest version and try again"
                .to_string(),
        }
    }

    pub(crate) fn invalid(kind: &str, name: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            kind: kind.to_string(),
            name: name.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn too_old(requested: u64, oldest: u64) -> Self {
        Self::Expired(format!("too old resource version: {requested} ({oldest})"))
    }
}
