//! Keeps one session task per configured peer, in step with the latest plan.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use porter_bgp::{Prefix, Routes};
use porter_model::announce::SpeakerPlan;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::listener::{self, Incoming, Listener};
use crate::session_task::{self, Command};
use crate::spec::{SessionSpec, specs};
use crate::status::StatusBoard;

/// How long a graceful shutdown waits for sessions to say goodbye.
const STOP_GRACE: Duration = Duration::from_secs(3);

struct Running {
    spec: SessionSpec,
    tx: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

/// What a plan asks of the manager, read out of the plan without copying it: the plan stays in
/// the watch channel, and a copy of 100k routes would cost as much as the routes themselves.
struct Wanted {
    sessions: BTreeMap<String, SessionSpec>,
    listen_port: Option<u16>,
    routes: Routes,
}

impl Wanted {
    fn of(plan: &SpeakerPlan) -> Wanted {
        let sessions = match &plan.local {
            Ok(local) => specs(local, &plan.peers),
            Err(reason) => {
                tracing::warn!(%reason, "BGP not configured; no sessions");
                BTreeMap::new()
            }
        };
        Wanted {
            sessions,
            listen_port: plan.local.as_ref().ok().and_then(|l| l.listen_port),
            // The plan's attribute sets are already shared: the sessions keep the same ones.
            routes: plan
                .prefixes
                .iter()
                .map(|(ip, attrs)| (Prefix::host(*ip), Arc::clone(attrs)))
                .collect(),
        }
    }
}

/// Applies speaker plans to live sessions with the least disturbance: a peer whose settings
/// did not change keeps its session; only the announced set is updated.
pub struct PeerManager {
    board: StatusBoard,
    sessions: BTreeMap<String, Running>,
    /// The announced routes: one map, shared by every session (each session's Adj-RIB-Out
    /// holds this `Arc`, not a copy), whose prefixes share their attribute sets.
    prefixes: Arc<Routes>,
    listen_port: Option<u16>,
    listener: Option<Listener>,
    /// Peers whose TCP MD5 key is installed on the listening socket, with the key.
    listener_keys: BTreeMap<IpAddr, Vec<u8>>,
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
            prefixes: Arc::default(),
            listen_port: None,
            listener: None,
            listener_keys: BTreeMap::new(),
            incoming_tx,
            incoming_rx,
        }
    }

    /// Runs until `shutdown` resolves, applying every new plan; then stops every session as
    /// for a restart: peers with graceful restart keep this node's routes until it is back
    /// (no traffic disturbed by an upgrade); the others get NOTIFICATION Cease and withdraw
    /// this node at once.
    pub async fn run(
        mut self,
        mut plans: watch::Receiver<SpeakerPlan>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        // The plan is read in place (the borrow ends with the statement, before any await),
        // never cloned: it can hold 100k routes.
        let first = Wanted::of(&plans.borrow_and_update());
        self.apply_wanted(first).await;
        loop {
            tokio::select! {
                changed = plans.changed() => {
                    if changed.is_err() { break; }
                    let wanted = Wanted::of(&plans.borrow_and_update());
                    self.apply_wanted(wanted).await;
                }
                Some(incoming) = self.incoming_rx.recv() => self.route_incoming(incoming).await,
                () = &mut shutdown => break,
            }
        }
        self.stop_all(true).await;
    }

    /// Brings sessions in line with `plan`.
    pub async fn apply(&mut self, plan: &SpeakerPlan) {
        self.apply_wanted(Wanted::of(plan)).await;
    }

    async fn apply_wanted(&mut self, wanted: Wanted) {
        let Wanted {
            sessions: wanted,
            listen_port,
            routes,
        } = wanted;
        self.sync_listener(listen_port).await;
        self.sync_listener_keys(&wanted);

        // Unchanged routes keep the map the sessions already share.
        let routes_changed = routes != *self.prefixes;
        if routes_changed {
            self.prefixes = Arc::new(routes);
        }

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
                            .send(Command::SetRoutes(Arc::clone(&self.prefixes)))
                            .await;
                    }
                }
                None => {
                    tracing::info!(peer = %spec.config.peer_addr, peer_asn = spec.config.peer_as, "starting session");
                    let (tx, task) = session_task::spawn(
                        spec.clone(),
                        Arc::clone(&self.prefixes),
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
            old.task.abort();
        }
        self.listener_keys.clear();
        self.listen_port = port;
        if let Some(port) = port {
            match listener::spawn(port, self.incoming_tx.clone()).await {
                Ok(listener) => self.listener = Some(listener),
                Err(error) => {
                    tracing::error!(port, %error, "cannot listen for BGP sessions; only outgoing sessions will work")
                }
            }
        }
    }

    /// Installs the TCP MD5 key of every peer that has one on the listening socket (the
    /// kernel drops unsigned SYNs from those peers) and removes keys of peers that no
    /// longer have one.
    fn sync_listener_keys(&mut self, wanted: &BTreeMap<String, SessionSpec>) {
        let Some(listener) = &self.listener else {
            return;
        };
        let keys: BTreeMap<IpAddr, Vec<u8>> = wanted
            .values()
            .filter_map(|s| Some((s.config.peer_addr, s.transport.md5_key.clone()?)))
            .collect();
        for (peer, key) in &keys {
            if self.listener_keys.get(peer) != Some(key)
                && let Err(error) =
                    porter_sys::set_tcp_md5(listener.socket.as_ref(), *peer, Some(key))
            {
                tracing::error!(%peer, %error, "cannot install the TCP MD5 key on the listener; the peer cannot connect to us");
            }
        }
        for peer in self.listener_keys.keys().filter(|p| !keys.contains_key(*p)) {
            let _ = porter_sys::set_tcp_md5(listener.socket.as_ref(), *peer, None);
        }
        self.listener_keys = keys;
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

    /// Stops every session; `restart` lets graceful-restart peers keep this node's routes.
    async fn stop_all(&mut self, restart: bool) {
        if let Some(listener) = self.listener.take() {
            listener.task.abort();
        }
        // Tell every session first: one stalled peer must not delay the others' Cease.
        let deadline = Instant::now() + STOP_GRACE;
        let sessions = std::mem::take(&mut self.sessions);
        for running in sessions.values() {
            let _ =
                tokio::time::timeout_at(deadline, running.tx.send(Command::Stop { restart })).await;
        }
        for running in sessions.into_values() {
            finish(running, deadline, &self.board).await;
        }
    }
}

/// Stops one session for good (its peer was removed or changed): NOTIFICATION Cease.
async fn stop(running: Running, board: &StatusBoard) {
    let deadline = Instant::now() + STOP_GRACE;
    let _ =
        tokio::time::timeout_at(deadline, running.tx.send(Command::Stop { restart: false })).await;
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
