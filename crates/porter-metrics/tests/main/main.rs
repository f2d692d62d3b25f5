//! porter-metrics' public API: the exposition of each role's metrics, and the HTTP endpoint.
#![allow(clippy::unwrap_used)]

mod controller;
mod endpoint;
mod speaker;

use porter_metrics::Registry;

/// The value of the sample `series` (name and labels, exactly as exposed), if present.
pub(crate) fn sample(registry: &Registry, series: &str) -> Option<f64> {
    porter_metrics::encode(registry)
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
