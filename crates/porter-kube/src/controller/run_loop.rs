//! The controller's loop: re-plans from every snapshot while this replica holds the leader
//! Lease, and retries failed rounds with backoff.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use porter_metrics::{ControllerMetrics, Health};
use porter_model::{ControllerSnapshot, ControllerView, assign};
use tokio::sync::watch;
use tokio::time::Instant;

use super::REPORTER;
use super::patches::Round;
use super::writer::{Memory, Writer, apply};
use crate::lease::{Leadership, LeaseConfig};
use crate::source::{ControllerSource, SourceConfig};

/// Keeps the cluster in line with the plan of every snapshot while `leader` is true.
///
/// Waits for the first snapshot (the source publishes only after its initial sync), then
/// re-plans on every new snapshot, on becoming leader, and after a failed write (with
/// backoff, 200 ms doubling up to 30 s). Returns when the snapshot channel closes.
///
/// `metrics` follow every plan, failed round and change of leadership. `health` becomes ready
/// with the first snapshot, whether or not this replica leads: a replica that is not leading
/// is a synced standby, able to take over at once, and readiness must not wait for the Lease
/// or a rolling update of two replicas would wait for a new Pod to lead while the old one holds
/// the Lease, forever.
pub async fn run_controller(
    writer: Writer,
    mut snapshots: watch::Receiver<ControllerSnapshot>,
    mut leader: watch::Receiver<bool>,
    metrics: ControllerMetrics,
    health: Health,
) {
    const RETRY_MIN: Duration = Duration::from_millis(200);
    const RETRY_MAX: Duration = Duration::from_secs(30);
    let mut memory = Memory::default();
    let mut have_snapshot = snapshots.has_changed().unwrap_or(false);
    let mut retry_at: Option<Instant> = None;
    let mut backoff = RETRY_MIN;
    let mut heartbeat = tokio::time::interval(Health::HEARTBEAT);
    metrics.set_leader(*leader.borrow());
    if have_snapshot {
        health.set_ready();
    }
    loop {
        let deadline = retry_at;
        health.beat();
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                have_snapshot = true;
                health.set_ready();
            }
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                let leading = *leader.borrow_and_update();
                metrics.set_leader(leading);
                if leading {
                    memory = Memory::default();
                } else {
                    metrics.forget_plan();
                }
            }
            () = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                retry_at = None;
            }
            _ = heartbeat.tick() => continue,
        }
        if !have_snapshot || !*leader.borrow() {
            continue;
        }
        // Planned from the source's snapshot in place, with what this controller wrote and the
        // watches have not shown yet laid beside it; the borrow ends before the first write.
        let round = {
            let snapshot = snapshots.borrow_and_update();
            memory.written.prune(&snapshot);
            let view = ControllerView::new(&snapshot, &memory.written);
            let plan = assign::plan_view(&view);
            metrics.observe(&plan);
            Round::new(&view, plan, &memory.reported, Timestamp::now())
        };
        match apply(&writer, round, &mut memory, &leader, &health).await {
            Ok(writes) => {
                if writes > 0 {
                    tracing::debug!(writes, "plan applied");
                }
                backoff = RETRY_MIN;
                retry_at = None;
            }
            Err(error) => {
                metrics.reconcile_error(error.kind());
                tracing::warn!(%error, kind = error.kind(), retry_in = ?backoff, "cannot write; retrying");
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Everything `porter controller` runs on the Kubernetes API.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The controller's namespace (for its Lease).
    pub namespace: String,
    /// This replica's identity (the Pod name) for the Lease and Events.
    pub identity: String,
    /// Leader term length.
    pub lease_duration: Duration,
    /// Where the controller's metrics go ([`ControllerMetrics::default`]: nowhere).
    pub metrics: ControllerMetrics,
    /// The controller's liveness and readiness (see [`run_controller`]).
    pub health: Health,
}

/// Runs the source, the leader election and the controller until `shutdown` resolves, then
/// releases the Lease so another replica takes over at once.
pub async fn run(client: Client, config: ControllerConfig, shutdown: impl Future<Output = ()>) {
    let source = ControllerSource::start_keeping(client.clone(), SourceConfig::controller());
    let leadership = Leadership::start(
        client.clone(),
        LeaseConfig::with_duration(&config.namespace, &config.identity, config.lease_duration),
    );
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: REPORTER.to_owned(),
            instance: Some(config.identity.clone()),
        },
    );
    let controller = run_controller(
        Writer::new(client, recorder),
        source.subscribe(),
        leadership.subscribe(),
        config.metrics,
        config.health,
    );
    tokio::select! {
        () = controller => {}
        () = shutdown => {}
    }
    leadership.stop().await;
    drop(source);
}
