//! `porter speaker`: this node's BGP sessions, fed with the node's plan on every change.

use std::path::PathBuf;
use std::time::Duration;

use porter_model::announce::{self, SpeakerPlan};
use porter_speaker::{PeerManager, StatusBoard};
use tokio::sync::watch;

use crate::manifest_dir::{ManifestDir, Watcher};

/// Runs until SIGTERM/Ctrl-C, then closes every session with a NOTIFICATION (Cease) so the
/// routers drop this node from their ECMP routes at once instead of after the hold time.
pub(crate) async fn run(manifests: PathBuf, node: String, poll: Duration) -> anyhow::Result<()> {
    let mut watcher = Watcher::new(ManifestDir::new(manifests), poll);
    let first = announce::plan(&watcher.next().await, &node);
    log_plan(None, &first);
    let (tx, rx) = watch::channel(first);
    let board = StatusBoard::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let manager = tokio::spawn(PeerManager::new(board).run(rx, async {
        let _ = stop_rx.await;
    }));
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            snapshot = watcher.next() => {
                let plan = announce::plan(&snapshot, &node);
                tx.send_if_modified(|current| {
                    if *current == plan { return false; }
                    log_plan(Some(current), &plan);
                    *current = plan;
                    true
                });
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!("stopping: closing BGP sessions");
    let _ = stop_tx.send(());
    manager.await?;
    Ok(())
}

/// Logs what changed in the node's plan, in the words an operator looks for.
fn log_plan(old: Option<&SpeakerPlan>, new: &SpeakerPlan) {
    if let Some(reason) = &new.ineligible
        && old.map(|o| &o.ineligible) != Some(&new.ineligible)
    {
        tracing::warn!(%reason, "this node announces nothing");
    }
    if let Err(reason) = &new.local
        && old.map(|o| &o.local) != Some(&new.local)
    {
        tracing::warn!(%reason, "BGP is not configured");
    }
    for problem in &new.problems {
        if !old.is_some_and(|o| o.problems.contains(problem)) {
            tracing::warn!("{problem}");
        }
    }
    let before = old.map(|o| o.prefixes.clone()).unwrap_or_default();
    for ip in new.prefixes.difference(&before) {
        tracing::info!(%ip, "announcing");
    }
    for ip in before.difference(&new.prefixes) {
        tracing::info!(%ip, "withdrawing");
    }
}
