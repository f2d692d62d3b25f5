//! Keeps one session task per configured peer, in step with the latest plan.

use std::collections::BTreeMap;
use std::time::Duration;

use porter_api::ValidPeer;
use porter_bgp::{Prefix, RouteAttrs, SessionConfig};
use porter_model::announce::{LocalBgp, SpeakerPlan};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::listener::{self, Incoming};
use crate::session_task::{self, Command, SessionSpec};
use crate::status::StatusBoard;

/// How long a graceful shutdown waits for sessions to say goodbye.
const STOP_GRACE: Duration = Duration::from_secs(3);

struct Running {
    spec: SessionSpec,
    tx: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

/// Applies speaker plans to live sessions with the least disturbance: a peer whose settings
/// did not change keeps its session; only the announced set is updated.
pub struct PeerManager {
    board: StatusBoard,
    sessions: BTreeMap<String, Running>,
    prefixes: BTreeMap<Prefix, RouteAttrs>,
    listen_port: Option<u16>,
    listener: Option<tokio::task::JoinHandle<()>>,
    incoming_tx: mpsc::Sender<Incoming>,
    incoming_rx: mpsc::Receiver<Incoming>,
}

impl PeerManager {
    /// A manager with no sessions; status is posted to `board`.
    pub fn new(board: StatusBoard) -> Self {
        let (incoming_tx, incoming_rx) = mpsc::channel(16);
        Self {
            board,
            sessions: BTreeMap::new(),
            prefixes: BTreeMap::new(),
            listen_port: None,
            listener: None,
            incoming_tx,
            incoming_rx,
        }
    }

    /// Runs until `shutdown` resolves, applying every new plan; then stops every session
    /// gracefully (NOTIFICATION Cease, so routers withdraw this node at once).
    pub async fn run(
        mut self,
        mut plans: watch::Receiver<SpeakerPlan>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let first = plans.borrow_and_update().clone();
        self.apply(&first).await;
        loop {
            tokio::select! {
                changed = plans.changed() => {
                    if changed.is_err() { break; }
                    let plan = plans.borrow_and_update().clone();
                    self.apply(&plan).await;
                }
                Some(incoming) = self.incoming_rx.recv() => self.route_incoming(incoming).await,
                () = &mut shutdown => break,
            }
        }
        self.stop_all().await;
    }

    /// Brings sessions in line with `plan`.
    pub async fn apply(&mut self, plan: &SpeakerPlan) {
        let wanted = match &plan.local {
            Ok(local) => specs(local, &plan.peers),
            Err(reason) => {
                tracing::warn!(%reason, "BGP not configured; no sessions");
                BTreeMap::new()
            }
        };
        self.sync_listener(plan.local.as_ref().ok().and_then(|l| l.listen_port))
            .await;

        // No per-route attributes in the plan yet: every Service IP gets the defaults.
        let prefixes: BTreeMap<Prefix, RouteAttrs> = plan
            .prefixes
            .iter()
            .map(|ip| (Prefix::host(*ip), RouteAttrs::default()))
            .collect();
        let routes_changed = prefixes != self.prefixes;
        self.prefixes = prefixes;

        // Stop sessions whose peer is gone or whose settings changed.
        let stale: Vec<String> = self
            .sessions
            .iter()
            .filter(|(name, running)| wanted.get(*name) != Some(&running.spec))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(running) = self.sessions.remove(&name) {
                tracing::info!(peer = %running.spec.config.peer_addr, "peer removed or changed; stopping its session");
                stop(running, &self.board).await;
            }
        }
        for (name, spec) in wanted {
            match self.sessions.get(&name) {
                Some(running) => {
                    if routes_changed {
                        let _ = running
                            .tx
                            .send(Command::SetRoutes(self.prefixes.clone()))
                            .await;
                    }
                }
                None => {
                    tracing::info!(peer = %spec.config.peer_addr, peer_asn = spec.config.peer_as, "starting session");
                    let (tx, task) = session_task::spawn(
                        spec.clone(),
                        self.prefixes.clone(),
                        self.board.clone(),
                    );
                    self.sessions.insert(name, Running { spec, tx, task });
                }
            }
        }
    }

    async fn sync_listener(&mut self, port: Option<u16>) {
        if port == self.listen_port && (port.is_none() || self.listener.is_some()) {
            return;
        }
        if let Some(old) = self.listener.take() {
            old.abort();
        }
        self.listen_port = port;
        if let Some(port) = port {
            match listener::spawn(port, self.incoming_tx.clone()).await {
                Ok(task) => self.listener = Some(task),
                Err(error) => {
                    tracing::error!(port, %error, "cannot listen for BGP sessions; only outgoing sessions will work")
                }
            }
        }
    }

    async fn route_incoming(&mut self, incoming: Incoming) {
        let peer = self
            .sessions
            .values()
            .find(|r| r.spec.config.peer_addr == incoming.remote.ip());
        match peer {
            Some(running) => {
                let _ = running
                    .tx
                    .send(Command::Incoming(incoming.stream, incoming.remote))
                    .await;
            }
            None => {
                tracing::debug!(remote = %incoming.remote, "connection from an unknown peer refused")
            }
        }
    }

    async fn stop_all(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
        // Tell every session first: one stalled peer must not delay the others' Cease.
        let deadline = Instant::now() + STOP_GRACE;
        let sessions = std::mem::take(&mut self.sessions);
        for running in sessions.values() {
            let _ = tokio::time::timeout_at(deadline, running.tx.send(Command::Stop)).await;
        }
        for running in sessions.into_values() {
            finish(running, deadline, &self.board).await;
        }
    }
}

async fn stop(running: Running, board: &StatusBoard) {
    let deadline = Instant::now() + STOP_GRACE;
    let _ = tokio::time::timeout_at(deadline, running.tx.send(Command::Stop)).await;
    finish(running, deadline, board).await;
}

/// Waits until `deadline` for a session told to stop, then aborts it. An aborted task never
/// reaches its own `board.remove`, so its status entry is removed here.
async fn finish(running: Running, deadline: Instant, board: &StatusBoard) {
    let mut task = running.task;
    if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
        task.abort();
        let _ = task.await; // returns once cancelled: the task no longer touches the board
        board.remove(&running.spec.name);
    }
}

/// The session each peer should have, given the local BGP identity.
fn specs(local: &LocalBgp, peers: &BTreeMap<String, ValidPeer>) -> BTreeMap<String, SessionSpec> {
    let mut out = BTreeMap::new();
    for (name, peer) in peers {
        if peer.admin_down {
            continue;
        }
        if peer.password.is_some() {
            tracing::error!(peer = %peer.address, "spec.conf.authPassword (TCP MD5) is not supported yet; session not started");
            continue;
        }
        let mut config = SessionConfig::new(
            peer.local_as.unwrap_or(local.local_as),
            local.router_id,
            peer.peer_as,
            peer.address,
        );
        if let Some(hold) = peer.hold_time {
            config.hold_time = hold;
        }
        if let Some(retry) = peer.connect_retry {
            config.connect_retry = Duration::from_secs(u64::from(retry.max(1)));
        }
        config.passive = peer.passive;
        out.insert(
            name.clone(),
            SessionSpec {
                name: name.clone(),
                config,
                port: peer.port,
            },
        );
    }
    out
}
