//! Each role's metrics and health endpoint: bound before anything else starts, served in the
//! background for the life of the process.
//!
//! Default ports, one per role so both can run in one network namespace (a lab, a laptop)
//! without flags: the controller 7578, the speaker 7579. The speaker runs with the node's
//! network (hostNetwork), so its port is taken on every node: both stay clear of the
//! Prometheus exporters' range 9100-9999 (node-exporter, Calico's and Cilium's agents live
//! there), of Kubernetes' own 10248-10260, of MetalLB's and FRR-k8s's 7472/7473 and 7572/7573
//! (a cluster migrating may still run them) and of the 6800-7568 range Ceph daemons (Rook on
//! the host network) take ports from.

use porter_metrics::{Health, ListenAddress, Registry, Server};

/// `porter controller`'s default `--metrics-address`.
pub(crate) const CONTROLLER_ADDRESS: &str = "0.0.0.0:7578";
/// `porter speaker`'s default `--metrics-address`.
pub(crate) const SPEAKER_ADDRESS: &str = "0.0.0.0:7579";

/// A registry for this binary, holding `porter_build_info`.
pub(crate) fn registry() -> Registry {
    porter_metrics::build_info(env!("CARGO_PKG_VERSION"))
}

/// Serves `registry` and `health` on `address` in the background (nothing when it is `off`).
/// An address that cannot be bound is an error naming it: the probes would fail otherwise.
pub(crate) async fn serve(
    address: ListenAddress,
    registry: Registry,
    health: Health,
) -> anyhow::Result<()> {
    let Some(address) = address.0 else {
        tracing::info!("metrics and health endpoint off (--metrics-address off)");
        return Ok(());
    };
    let server = Server::bind(address, registry, health).await?;
    let bound = server.local_addr()?;
    tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    tokio::spawn(server.run());
    Ok(())
}
