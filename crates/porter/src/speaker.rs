//! `porter speaker`: this node's BGP sessions, health probes and layer 2 answers, fed with the
//! node's plan on every change.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use porter_kube::speaker_status::{SpeakerStatusConfig, run_speaker_status};
use porter_kube::{SourceConfig, SpeakerSource};
use porter_metrics::{ApiErrors, Health, ListenAddress, SpeakerMetrics};
use porter_model::SpeakerSnapshot;
use porter_model::announce::{self, Problem, SpeakerPlan};
use porter_model::health::Failing;
use porter_speaker::{MemberSocket, Speaker, StatusBoard};
use tokio::sync::watch;

use crate::manifest_dir::{ManifestDir, Watcher};

/// Where the speaker's snapshots come from.
enum Source {
    /// A manifests folder (`--manifests`), and the last snapshot read from it (planned from
    /// again when a health verdict changes).
    Dir(Watcher, Box<SpeakerSnapshot>),
    /// The Kubernetes API; the source stays alive as long as this does.
    Kube {
        _source: SpeakerSource,
        rx: watch::Receiver<SpeakerSnapshot>,
    },
}

impl Source {
    /// Waits for the next snapshot for `node`. While the API is unreachable the last one
    /// stays in force (this waits), so the node keeps announcing what it announced.
    async fn changed(&mut self, node: &str) {
        match self {
            Source::Dir(watcher, last) => **last = watcher.next_projected(node).await,
            Source::Kube { rx, .. } => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// `node`'s plan from the current snapshot, with the endpoints failing their health
    /// probes and the layer 2 speakers the membership counts alive. Planned from the source's
    /// own snapshot, not a copy (the watches wait the few milliseconds this takes).
    fn plan(
        &mut self,
        node: &str,
        options: &announce::Options,
        failing: &Failing,
        alive: &BTreeSet<String>,
    ) -> SpeakerPlan {
        let observed = announce::Observed {
            failing,
            alive: Some(alive),
        };
        match self {
            Source::Dir(_, last) => announce::plan_checked(last, node, options, &observed),
            Source::Kube { rx, .. } => {
                announce::plan_checked(&rx.borrow_and_update(), node, options, &observed)
            }
        }
    }
}

/// Runs until SIGTERM/Ctrl-C, then closes every session: peers with graceful restart negotiated
/// keep this node's routes until it is back (an upgrade disturbs no traffic); the others get the
/// routes again with the GRACEFUL_SHUTDOWN community for `drain` (RFC 8326: routers move traffic
/// to the other nodes while this one still forwards), then the withdrawal and NOTIFICATION
/// Cease, instead of losing this node only after the hold time.
/// Without `manifests` the objects come from the Kubernetes API, and the node's session
/// state is written into each BgpPeer's `status.nodesPeerStatus[<node>]`.
///
/// Ready once the first plan is handed to the sessions, whether or not they come up: a node
/// whose router is down is still doing its job (it keeps trying), and a readiness that waited
/// for a router would stall every rollout of the DaemonSet behind one unreachable peer.
pub(crate) async fn run(
    manifests: Option<PathBuf>,
    node: String,
    poll: Duration,
    options: announce::Options,
    metrics_address: ListenAddress,
    drain: Duration,
) -> anyhow::Result<()> {
    let board = StatusBoard::default();
    let mut registry = crate::observe::registry();
    let api_errors = ApiErrors::register(&mut registry);
    let metrics = SpeakerMetrics::register(&mut registry, board.clone());
    let health = Health::starting(if manifests.is_some() {
        "waiting for the first read of the manifests"
    } else {
        "waiting for the initial lists from the Kubernetes API"
    });
    crate::observe::serve(metrics_address, registry, health.clone()).await?;
    // the plan's problems, for the BgpPeer status writer
    let (problems_tx, problems_rx) = watch::channel(Vec::<Problem>::new());
    let report_dir = manifests.clone().map(ManifestDir::new);
    let status_task;
    let mut source = match manifests {
        Some(dir) => {
            status_task = Some(tokio::spawn(crate::session_report::run(
                ManifestDir::new(dir.clone()),
                node.clone(),
                board.clone(),
            )));
            Source::Dir(Watcher::new(ManifestDir::new(dir), poll), Box::default())
        }
        None => {
            let client = porter_kube::client_counting(api_errors).await?;
            let kube = SpeakerSource::start_keeping(
                client.clone(),
                SourceConfig::speaker(&node, &options.namespace),
            );
            let rx = kube.subscribe();
            status_task = Some(tokio::spawn(run_speaker_status(
                client,
                node.clone(),
                board.clone(),
                problems_rx,
                rx.clone(),
                SpeakerStatusConfig::default(),
            )));
            Source::Kube { _source: kube, rx }
        }
    };
    let speaker = Speaker::with_drain(board.clone(), drain).on_node(&node, MemberSocket::default());
    // the endpoints failing their health probes and the layer 2 speakers alive: a change of
    // either is planned from like a new snapshot
    let mut failing = speaker.failing();
    let mut alive = speaker.alive();
    let mut heartbeat = tokio::time::interval(Health::HEARTBEAT);
    let first = loop {
        tokio::select! {
            () = source.changed(&node) => break source.plan(&node, &options, &failing.borrow_and_update(), &alive.borrow_and_update()),
            _ = heartbeat.tick() => health.beat(),
        }
    };
    log_plan(None, &first);
    metrics.set_announced(first.bgp.prefixes.len());
    problems_tx.send_replace(first.problems.clone());
    let (tx, rx) = watch::channel(first);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut speaker = tokio::spawn(speaker.run(rx, async {
        let _ = stop_rx.await;
    }));
    health.set_ready();
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => health.beat(),
            plan = async {
                tokio::select! {
                    () = source.changed(&node) => {}
                    Ok(()) = failing.changed() => {}
                    Ok(()) = alive.changed() => {}
                }
                let alive = alive.borrow_and_update().clone();
                source.plan(&node, &options, &failing.borrow_and_update(), &alive)
            } => {
                health.beat();
                metrics.set_announced(plan.bgp.prefixes.len());
                problems_tx.send_if_modified(|current| {
                    if *current == plan.problems { return false; }
                    current.clone_from(&plan.problems);
                    true
                });
                tx.send_if_modified(|current| {
                    if *current == plan { return false; }
                    log_plan(Some(current), &plan);
                    *current = plan;
                    true
                });
            }
            () = &mut shutdown => break,
            // The protocols run in the speaker's task: should it end (a panic) before it is
            // told to, this loop's heartbeat would keep a speaker that announces nothing live
            // and ready. Exiting instead lets the kubelet restart the speaker.
            ended = &mut speaker => {
                anyhow::bail!("the speaker's protocols stopped unexpectedly: {ended:?}");
            }
        }
    }
    tracing::info!(
        drain = ?drain,
        "stopping: closing BGP sessions (draining those without graceful restart)"
    );
    let last = board.bgp_sessions();
    let _ = stop_tx.send(());
    speaker.await?;
    if let Some(task) = status_task {
        task.abort();
    }
    if let Some(dir) = report_dir {
        crate::session_report::write_stopped(&dir, &node, &last);
    }
    Ok(())
}

/// Logs what changed in the node's plan, in the words an operator looks for.
fn log_plan(old: Option<&SpeakerPlan>, new: &SpeakerPlan) {
    if let Some(reason) = &new.ineligible
        && old.map(|o| &o.ineligible) != Some(&new.ineligible)
    {
        tracing::warn!(%reason, "this node announces nothing");
    }
    if let Err(reason) = &new.bgp.local
        && old.map(|o| &o.bgp.local) != Some(&new.bgp.local)
    {
        tracing::warn!(%reason, "BGP is not configured");
    }
    // A set, not `contains` on the old list: a plan may carry a problem per Service.
    let known: HashSet<&Problem> = old.map(|o| o.problems.iter().collect()).unwrap_or_default();
    for problem in new.problems.iter().filter(|p| !known.contains(p)) {
        tracing::warn!("{problem}");
    }
    let none = BTreeMap::new();
    let before = old.map_or(&none, |o| &o.bgp.prefixes);
    let after = &new.bgp.prefixes;
    let announcing: Vec<IpAddr> = after
        .keys()
        .filter(|ip| !before.contains_key(ip))
        .copied()
        .collect();
    let withdrawing: Vec<IpAddr> = before
        .keys()
        .filter(|ip| !after.contains_key(ip))
        .copied()
        .collect();
    if announcing.is_empty() && withdrawing.is_empty() {
        return;
    }
    // One line per change of the plan, not per address: a speaker may announce 100k addresses,
    // and 100k INFO lines at start would drown everything else. Each address at DEBUG.
    tracing::info!(
        announced = after.len(),
        announcing = %preview(&announcing),
        withdrawing = %preview(&withdrawing),
        "announced addresses changed"
    );
    for ip in &announcing {
        tracing::debug!(%ip, "announcing");
    }
    for ip in &withdrawing {
        tracing::debug!(%ip, "withdrawing");
    }
}

/// How many addresses a log line names before it only counts the rest.
const PREVIEW: usize = 5;

/// `ips` for a log line: all of them when few, else the first few and how many more.
fn preview(ips: &[IpAddr]) -> String {
    let shown: Vec<String> = ips.iter().take(PREVIEW).map(ToString::to_string).collect();
    match ips.len() {
        0 => "none".to_owned(),
        n if n <= PREVIEW => shown.join(", "),
        n => format!("{} and {} more ({n} in all)", shown.join(", "), n - PREVIEW),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(n: u8) -> Vec<IpAddr> {
        (1..=n).map(|i| IpAddr::from([10, 0, 0, i])).collect()
    }

    #[test]
    fn a_preview_names_a_few_addresses_and_counts_the_rest() {
        assert_eq!(preview(&[]), "none");
        assert_eq!(preview(&ips(2)), "10.0.0.1, 10.0.0.2");
        assert_eq!(
            preview(&ips(5)),
            "10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5"
        );
        assert_eq!(
            preview(&ips(7)),
            "10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5 and 2 more (7 in all)"
        );
    }
}
