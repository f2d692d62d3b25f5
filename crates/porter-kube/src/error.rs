//! Errors of the Kubernetes shells.

/// What went wrong talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig and not in a cluster, or a broken kubeconfig.
    #[error("cannot configure a Kubernetes client")]
    Config(#[source] kube::Error),
    /// A request failed.
    #[error("{action} {object}")]
    Api {
        /// What was being done (`patch status of`, `get`, ...).
        action: &'static str,
        /// The object, as `Kind namespace/name` or `Kind name`.
        object: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A value could not be turned into JSON.
    #[error("cannot encode {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn api(
        action: &'static str,
        object: impl Into<String>,
        source: kube::Error,
    ) -> Self {
        Self::Api {
            action,
            object: object.into(),
            source,
        }
    }

    /// The HTTP status code the API server answered with, if it answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }

    /// A fixed, bounded name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Encode { .. } => "encode",
            Self::Api { source, .. } => match source {
                kube::Error::Api(status) => kind_of_status(status.code),
                _ => "unreachable",
            },
        }
    }

    /// Whether retrying later can help (the API server was unreachable, busy, or the object
    /// changed under us), as opposed to a request that will fail the same way again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            "conflict" | "throttled" | "server" | "unreachable" | "not_found"
        )
    }
}

/// The kind of an error the API server answered with HTTP status `code` (as [`Error::kind`]
/// names it), for requests seen below the client too (`porter_kube_api_errors_total`).
pub(crate) fn kind_of_status(code: u16) -> &'static str {
    match code {
        404 => "not_found",
        409 => "conflict",
        410 => "expired",
        401 | 403 => "forbidden",
        400 | 422 => "invalid",
        429 => "throttled",
        500..=599 => "server",
        _ => "api",
    }
}
