//! Kubernetes API errors, for both roles.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of `porter_kube_api_errors_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiErrorLabels {
    /// `get`, `list`, `watch`, `create`, `patch`, `replace`, `delete`.
    operation: &'static str,
    /// The resource as RBAC names it (`services`, `services/status`, `leases`, ...): Porter
    /// requests a fixed set, never a name.
    resource: String,
    /// The error's kind (porter-kube's `Error::kind`: `not_found`, `conflict`, `forbidden`,
    /// `invalid`, `throttled`, `server`, `unreachable`, ...).
    error: &'static str,
}

/// `porter_kube_api_errors_total{operation, resource, error}`: requests to the API server that
/// did not succeed. Cheap to clone; clones count into the same series.
#[derive(Debug, Clone, Default)]
pub struct ApiErrors(Family<ApiErrorLabels, Counter>);

impl ApiErrors {
    /// The counter, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let errors = Self::default();
        registry.register(
            "porter_kube_api_errors",
            "Kubernetes API requests that failed, by operation, resource and kind of error (every answer that is not a success, including those Porter expects and handles, such as a 404 of a Lease not created yet or a 409 of a concurrent write)",
            errors.0.clone(),
        );
        errors
    }

    /// One failed request.
    pub fn count(&self, operation: &'static str, resource: &str, error: &'static str) {
        self.0
            .get_or_create(&ApiErrorLabels {
                operation,
                resource: resource.to_owned(),
                error,
            })
            .inc();
    }

    /// How many requests failed with exactly these labels so far (for tests and logs).
    pub fn get(&self, operation: &'static str, resource: &str, error: &'static str) -> u64 {
        self.0
            .get(&ApiErrorLabels {
                operation,
                resource: resource.to_owned(),
                error,
            })
            .map_or(0, |c| c.get())
    }
}
