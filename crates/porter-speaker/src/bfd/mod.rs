//! BFD, the speaker's second protocol: one session per BgpPeer that enables `spec.bfd`,
//! driving the porter-bfd core over UDP, and the verdict each posts for its BGP session.
//!
//! BFD's sessions are BGP's peers (it protects those sessions), so its part of the plan is
//! read from BGP's: [`Wanted::of`] takes the peers with BFD enabled. The receiving sockets are
//! shared (one per family and kind, [`receive`]); each session sends from a socket of its own,
//! as RFC 5881 §4 asks (a source port per session). The BGP session of a peer reads the
//! peer's [`Path`]: on a failure it goes down at once (NOTIFICATION Cease / BFD Down) and
//! stays down until BFD is up again.

mod path;
mod receive;
mod session;
mod spec;
mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use porter_model::announce::BgpPlan;
use tokio::time::Instant;

use crate::status::{Protocol, StatusBoard};
use crate::supervisor::{Stop, Supervisor};
use receive::{Demux, Kind, Receivers};
use session::{Command, Shared};
use spec::{BfdSpec, specs};

pub(crate) use path::{Path, Paths};
pub use status::BfdStatus;

/// How long a removed session may take to tell its peer AdminDown.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The BFD sessions a plan asks for.
pub(crate) struct Wanted {
    sessions: BTreeMap<String, BfdSpec>,
}

impl Wanted {
    /// The sessions of BGP's peers that enable BFD (none when BGP itself cannot run).
    pub(crate) fn of(plan: &BgpPlan) -> Wanted {
        Wanted {
            sessions: if plan.local.is_ok() {
                specs(&plan.peers)
            } else {
                BTreeMap::new()
            },
        }
    }
}

/// The speaker's BFD part: its sessions and receiving sockets, in step with the plan.
pub(crate) struct Bfd {
    shared: Shared,
    sessions: Supervisor<BfdSpec, Command>,
    receivers: Receivers,
    /// The next discriminator to hand out; starting from a random value makes a restarted
    /// speaker's sessions unlikely to be confused with its previous ones by the peer.
    next_discriminator: Arc<AtomicU32>,
}

impl Bfd {
    /// No sessions; they post to `board` and their verdicts to `paths`.
    pub(crate) fn new(board: StatusBoard, paths: Paths) -> Self {
        let seed = crate::seed() as u32;
        Self {
            sessions: Supervisor::new(Protocol::Bfd, board.clone(), STOP_GRACE),
            shared: Shared {
                demux: Demux::default(),
                paths,
                board,
            },
            receivers: Receivers::default(),
            next_discriminator: Arc::new(AtomicU32::new(seed.max(1))),
        }
    }

    /// Brings the sessions in line with `wanted`, opening the receiving sockets they need.
    pub(crate) async fn apply(&mut self, wanted: Wanted) {
        for spec in wanted.sessions.values() {
            let kind = Kind::of(spec.peer, spec.multihop);
            if let Err(error) = self.receivers.ensure(kind, &self.shared.demux) {
                tracing::warn!(port = kind.port(), %error, "cannot listen for BFD packets; BFD sessions of this kind will not come up");
            }
        }
        let (shared, next) = (&self.shared, &self.next_discriminator);
        self.sessions
            .sync(wanted.sessions, |_, spec, commands| {
                tracing::info!(peer = %spec.peer, multihop = spec.multihop, "starting BFD session");
                let discriminator = loop {
                    let d = next.fetch_add(1, Ordering::Relaxed);
                    if d != 0 {
                        break d;
                    }
                };
                session::spawn(spec.clone(), discriminator, shared.clone(), commands)
            })
            .await;
    }

    /// Stops every session (each tells its peer AdminDown) by `deadline`, then the sockets.
    pub(crate) async fn stop(&mut self, why: Stop, deadline: Instant) {
        self.sessions.stop_all(why, deadline).await;
        self.receivers.close();
    }
}
