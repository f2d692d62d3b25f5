//! BGP, the speaker's first protocol: one session task per BgpPeer, driving the porter-bgp
//! core over TCP, and the listener that accepts the sessions peers open.
//!
//! [`Bgp`] is the speaker's BGP part. Given BGP's part of each plan ([`BgpPlan`]) it keeps
//! the listener on the configured port and addresses with every peer's TCP MD5 key, the
//! announced routes as one map shared by every session, and (through the [`Supervisor`]) one
//! session task per peer: a peer whose settings did not change keeps its session; only the
//! announced set is updated.

mod listener;
mod session;
mod spec;
mod status;
mod transport;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use porter_bgp::{Prefix, Routes};
use porter_model::announce::BgpPlan;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::bfd::Paths;
use crate::status::{Protocol, StatusBoard};
use crate::supervisor::{Stop, Supervisor};
use listener::{Incoming, Listening};
use session::Command;
use spec::{SessionSpec, specs};

pub use status::{PeerStatus, Timers};

/// How long a removed or changed peer's session may take to say goodbye.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// What BGP's part of a plan asks for, read out of the plan without copying it: the plan
/// stays in the speaker's watch channel, and a copy of 100k routes would cost as much as the
/// routes themselves.
pub(crate) struct Wanted {
    sessions: BTreeMap<String, SessionSpec>,
    listen_port: Option<u16>,
    /// BgpConf `listenAddresses`; empty = the wildcard.
    listen_addresses: Vec<IpAddr>,
    /// Configured peers that are administratively down: their connections are refused with
    /// NOTIFICATION Cease / Connection Rejected.
    admin_down: BTreeSet<IpAddr>,
    routes: Routes,
}

impl Wanted {
    pub(crate) fn of(plan: &BgpPlan) -> Wanted {
        let sessions = match &plan.local {
            Ok(local) => specs(local, &plan.peers),
            Err(reason) => {
                tracing::warn!(%reason, "BGP not configured; no sessions");
                BTreeMap::new()
            }
        };
        let local = plan.local.as_ref().ok();
        Wanted {
            sessions,
            listen_port: local.and_then(|l| l.listen_port),
            listen_addresses: local
                .map(|l| l.listen_addresses.clone())
                .unwrap_or_default(),
            admin_down: plan
                .peers
                .values()
                .filter(|p| p.admin_down)
                .map(|p| p.address)
                .collect(),
            // The plan's attribute sets are already shared: the sessions keep the same ones.
            routes: plan
                .prefixes
                .iter()
                .map(|(ip, attrs)| (Prefix::host(*ip), Arc::clone(attrs)))
                .collect(),
        }
    }
}

/// The speaker's BGP part: sessions, listener and announced routes, in step with the plan.
pub(crate) struct Bgp {
    board: StatusBoard,
    sessions: Supervisor<SessionSpec, Command>,
    /// The announced routes: one map, shared by every session (each session's Adj-RIB-Out
    /// holds this `Arc`, not a copy), whose prefixes share their attribute sets.
    routes: Arc<Routes>,
    listening: Listening,
    incoming: mpsc::Receiver<Incoming>,
    /// Addresses of configured peers that are administratively down.
    admin_down: BTreeSet<IpAddr>,
    /// BFD's verdict on each peer's path, which a session follows.
    paths: Paths,
    /// How long a session drains (RFC 8326) at the speaker's shutdown.
    drain: Duration,
}

impl Bgp {
    /// No sessions, no listener; the sessions post their status to `board`, follow BFD's
    /// verdicts in `paths` and drain for `drain` at shutdown.
    pub(crate) fn new(board: StatusBoard, paths: Paths, drain: Duration) -> Self {
        let (incoming_tx, incoming) = mpsc::channel(16);
        Self {
            sessions: Supervisor::new(Protocol::Bgp, board.clone(), STOP_GRACE),
            board,
            routes: Arc::default(),
            listening: Listening::new(incoming_tx),
            incoming,
            admin_down: BTreeSet::new(),
            paths,
            drain,
        }
    }

    /// Brings the listener, the routes and the sessions in line with `wanted`.
    pub(crate) async fn apply(&mut self, wanted: Wanted) {
        let Wanted {
            sessions,
            listen_port,
            listen_addresses,
            admin_down,
            routes,
        } = wanted;
        self.admin_down = admin_down;
        let keys = sessions
            .values()
            .filter_map(|s| Some((s.config.peer_addr, s.transport.md5_key.clone()?)))
            .collect();
        self.listening
            .sync(listen_port, listen_addresses, keys)
            .await;

        // Unchanged routes keep the map the sessions already share, and no session is told.
        let routes_changed = routes != *self.routes;
        if routes_changed {
            self.routes = Arc::new(routes);
        }
        for (name, running) in self.sessions.specs() {
            if sessions.get(name) != Some(running) {
                tracing::info!(peer = %running.config.peer_addr, "peer removed or changed; stopping its session");
            }
        }
        let (routes, board, paths, drain) = (&self.routes, &self.board, &self.paths, self.drain);
        let kept = self
            .sessions
            .sync(sessions, |name, spec, commands| {
                tracing::info!(peer = %spec.config.peer_addr, peer_asn = spec.config.peer_as, "starting session");
                session::spawn(
                    spec.clone(),
                    Arc::clone(routes),
                    board.clone(),
                    commands,
                    paths.watch(name),
                    drain,
                )
            })
            .await;
        if routes_changed {
            for name in kept {
                self.sessions
                    .send(&name, Command::SetRoutes(Arc::clone(&self.routes)))
                    .await;
            }
        }
    }

    /// The next connection a peer opened to this node.
    pub(crate) async fn accepted(&mut self) -> Option<Incoming> {
        self.incoming.recv().await
    }

    /// Hands an accepted connection to the session of the peer it comes from. A configured peer
    /// without a session (administratively down) gets NOTIFICATION Cease / Connection Rejected
    /// (RFC 4486). An address that is no peer of this node is closed without a word, as FRR,
    /// BIRD and GoBGP do: a stranger learns nothing, not even that a BGP speaker listens, and a
    /// scanner cannot make the speaker write to it.
    pub(crate) async fn route(&mut self, incoming: Incoming) {
        let remote = incoming.remote;
        let peer = self
            .sessions
            .specs()
            .find(|(_, spec)| spec.config.peer_addr == remote.ip())
            .map(|(name, _)| name.to_owned());
        match peer {
            Some(name) => {
                self.sessions
                    .send(&name, Command::Incoming(incoming.stream, remote))
                    .await;
            }
            None if self.admin_down.contains(&remote.ip()) => {
                tracing::debug!(%remote, "connection from an administratively down peer refused");
                session::refuse(
                    incoming.stream,
                    porter_bgp::incoming::rejection_message("the peer is administratively down"),
                );
            }
            None => tracing::debug!(%remote, "connection from an unknown peer refused"),
        }
    }

    /// Stops listening and stops every session for `why` by `deadline`: at shutdown, peers
    /// with graceful restart keep this node's routes; the others are drained (RFC 8326),
    /// then get the withdrawal and NOTIFICATION Cease. `deadline` leaves room for the drain.
    pub(crate) async fn stop(&mut self, why: Stop, deadline: Instant) {
        self.listening.close();
        self.sessions.stop_all(why, deadline).await;
    }
}
