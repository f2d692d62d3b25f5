//! What Porter tells Prometheus and the kubelet: every metric both roles export, each role's
//! health, and the HTTP endpoint serving them.
//!
//! ```text
//!  porter-kube (API errors, reconcile errors, leader) ─┐
//!  porter controller / speaker main loops (beat, ready)┤──► Registry ──► server: /metrics
//!  porter-speaker StatusBoard (read at scrape time) ───┘    Health  ──►         /healthz /readyz
//! ```
//!
//! Metric definitions live in one module per component ([`controller`], [`speaker`],
//! [`kube_api`], plus [`build_info`] here), so every name, help text and label set is in this
//! crate; the shells only call typed methods (`reconcile_error(kind)`, `observe(&plan)`) and
//! never see a metric name. The endpoint ([`server`]) knows nothing about what it serves: it
//! encodes a [`Registry`] and asks a [`Health`].
//!
//! | metric | type | labels | role |
//! | --- | --- | --- | --- |
//! | `porter_build_info` | info | `version` | both |
//! | `porter_kube_api_errors_total` | counter | `operation`, `resource`, `error` | both (Kubernetes API only) |
//! | `porter_controller_leader` | gauge | | controller |
//! | `porter_reconcile_errors_total` | counter | `error` | controller |
//! | `porter_ipam_addresses_in_use` | gauge | `eip` | controller |
//! | `porter_ipam_pool_size` | gauge | `eip` | controller |
//! | `porter_ipam_allocation_failures_total` | counter | `reason` | controller |
//! | `porter_bgp_session_state` | gauge (state set) | `peer`, `address`, `state` | speaker |
//! | `porter_bgp_prefixes_advertised` | gauge | `peer` | speaker |
//! | `porter_bgp_prefixes_received` | gauge | `peer` | speaker |
//! | `porter_bgp_session_flaps_total` | counter | `peer` | speaker |
//! | `porter_speaker_announced_addresses` | gauge | | speaker |
//!
//! Labels are bounded: object names only where the objects are few and operator-made (`eip`,
//! `peer`: Eips and BgpPeers), never a Service or a node (the scrape target is the node); every
//! other label takes values from a fixed list derived from types.
#![warn(missing_docs, unreachable_pub)]

pub mod controller;
mod health;
pub mod kube_api;
pub mod server;
pub mod speaker;

pub use controller::ControllerMetrics;
pub use health::Health;
pub use kube_api::ApiErrors;
pub use prometheus_client::registry::Registry;
pub use server::{ListenAddress, Server};
pub use speaker::SpeakerMetrics;

use prometheus_client::metrics::info::Info;

/// A registry holding `porter_build_info{version}` (always 1), to which each role adds its own
/// metrics. `version` is the binary's, so a dashboard can tell which release a target runs.
pub fn build_info(version: &str) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "porter_build",
        "Which Porter release this process runs (always 1)",
        Info::new(vec![("version".to_owned(), version.to_owned())]),
    );
    registry
}

/// The registry's OpenMetrics text exposition, as `/metrics` serves it.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in a collector.
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::error!(%error, "cannot encode metrics");
    }
    text
}
