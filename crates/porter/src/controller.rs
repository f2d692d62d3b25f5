//! `porter controller`: keeps Services' addresses and Eips' status in line with the plan.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};
use porter_metrics::{ApiErrors, ControllerMetrics, Health, ListenAddress};
use porter_model::Snapshot;
use porter_model::assign::{self, Outcome, Plan};
use porter_model::pools::EipError;

use crate::manifest_dir::{ManifestDir, Watcher};

/// How often an idle main loop reports that it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Runs until SIGTERM/Ctrl-C: every change of the manifests is re-planned and the status
/// that differs from the plan is written. Ready once the first plan is written; with no
/// election, this controller always leads.
pub(crate) async fn run(
    manifests: PathBuf,
    poll: Duration,
    metrics_address: ListenAddress,
) -> anyhow::Result<()> {
    let mut registry = crate::observe::registry();
    let metrics = ControllerMetrics::register(&mut registry);
    let health = Health::starting("waiting for the first read of the manifests");
    crate::observe::serve(metrics_address, registry, health.clone()).await?;
    metrics.set_leader(true);
    let mut watcher = Watcher::new(ManifestDir::new(manifests), poll);
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut reported: BTreeMap<String, Vec<EipError>> = BTreeMap::new();
    loop {
        let snapshot = tokio::select! {
            s = watcher.next() => s,
            _ = heartbeat.tick() => {
                health.beat();
                continue;
            }
            () = &mut shutdown => return Ok(()),
        };
        let plan = assign::plan(&snapshot);
        metrics.observe(&plan);
        if let Err(error) = write_changes(watcher.dir(), &snapshot, &plan) {
            metrics.reconcile_error("io");
            tracing::error!(error = format!("{error:#}"), "cannot write status");
        }
        health.set_ready();
        report_eip_errors(&plan, &mut reported);
    }
}

/// Runs on the Kubernetes API (kubeconfig or in-cluster) until SIGTERM/Ctrl-C: only the
/// holder of the Lease `porter-controller` in `namespace` writes; the Lease is released on
/// the way out so another replica takes over at once. Ready once the source has listed every
/// kind it watches, leader or not (see `porter_kube::controller::run_controller`).
pub(crate) async fn run_kube(
    namespace: String,
    metrics_address: ListenAddress,
) -> anyhow::Result<()> {
    let mut registry = crate::observe::registry();
    let api_errors = ApiErrors::register(&mut registry);
    let metrics = ControllerMetrics::register(&mut registry);
    let health = Health::starting("waiting for the initial lists from the Kubernetes API");
    crate::observe::serve(metrics_address, registry, health.clone()).await?;
    let client = porter_kube::client_counting(api_errors).await?;
    let config = porter_kube::controller::ControllerConfig {
        namespace,
        identity: crate::identity(),
        lease_duration: Duration::from_secs(15),
        metrics,
        health,
    };
    porter_kube::controller::run(client, config, crate::shutdown_signal()).await;
    Ok(())
}

/// Writes the status of every object whose planned status differs from what it holds, and
/// logs what happened the way Events would tell it.
fn write_changes(dir: &ManifestDir, snapshot: &Snapshot, plan: &Plan) -> anyhow::Result<()> {
    for (key, service) in &plan.services {
        let current = snapshot
            .services
            .get(key)
            .map(assign::ingress_ips)
            .unwrap_or_default();
        if current == service.ingress {
            match &service.outcome {
                Outcome::Failed(failure) => {
                    tracing::debug!(service = %key, reason = %failure, "unchanged")
                }
                Outcome::Orphaned(reason) => tracing::debug!(service = %key, %reason, "unchanged"),
                _ => {}
            }
            continue;
        }
        match &service.outcome {
            Outcome::Assigned => {
                tracing::info!(service = %key, ip = %join(&service.ingress), pool = service.pool.as_deref().unwrap_or("-"), "IPAllocated")
            }
            Outcome::Failed(failure) => {
                tracing::warn!(service = %key, reason = %failure, "AllocationFailed")
            }
            Outcome::Released => tracing::info!(service = %key, ip = %join(&current), "IPReleased"),
            Outcome::Kept | Outcome::Orphaned(_) => {}
        }
        dir.write_service_status(key, status_for(&service.ingress))?;
    }
    // A deleted Service's address is free again; its status file goes with it.
    dir.prune_service_status(snapshot)?;
    for (name, eip) in &plan.eips {
        let current = snapshot.eips.get(name).and_then(|e| e.status.clone());
        if current.as_ref() != Some(&eip.status) {
            dir.write_eip_status(name, eip.status.clone())?;
        }
    }
    Ok(())
}

fn status_for(ips: &[std::net::IpAddr]) -> Option<ServiceStatus> {
    if ips.is_empty() {
        return None;
    }
    let ingress = ips
        .iter()
        .map(|ip| LoadBalancerIngress {
            ip: Some(ip.to_string()),
            ..Default::default()
        })
        .collect();
    Some(ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: Some(ingress),
        }),
        ..Default::default()
    })
}

fn report_eip_errors(plan: &Plan, reported: &mut BTreeMap<String, Vec<EipError>>) {
    for (name, eip) in &plan.eips {
        if reported.get(name) != Some(&eip.errors) {
            for error in &eip.errors {
                tracing::warn!(pool = %name, %error, "Eip is invalid");
            }
            reported.insert(name.clone(), eip.errors.clone());
        }
    }
}

fn join(ips: &[std::net::IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
