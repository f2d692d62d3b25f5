//! The speaker: its protocols side by side, each given its part of every plan.

use std::time::Duration;

use porter_model::announce::SpeakerPlan;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bfd::{self, Bfd, Paths};
use crate::bgp::{self, Bgp};
use crate::health::{self, Health};
use crate::layer2::{self, Layer2, MemberSocket};
use crate::status::StatusBoard;
use crate::supervisor::Stop;

/// How long a shutdown waits, after the drain time, for every protocol's tasks to say goodbye
/// (one deadline for all). A pod's termination grace period must cover the drain time and this.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What a plan asks of each protocol, read out of the plan in place (see [`bgp::Wanted`]).
struct Wanted {
    bgp: bgp::Wanted,
    bfd: bfd::Wanted,
    health: health::Wanted,
    layer2: layer2::Wanted,
}

impl Wanted {
    fn of(plan: &SpeakerPlan, node: Option<&str>) -> Wanted {
        Wanted {
            bgp: bgp::Wanted::of(&plan.bgp),
            bfd: bfd::Wanted::of(&plan.bgp),
            health: health::Wanted::of(&plan.health),
            layer2: layer2::Wanted::of(&plan.layer2, node, layer2::by_subnet()),
        }
    }
}

/// Applies speaker plans to the protocols it runs (BGP, BFD for the BGP sessions that ask
/// for it, health probes, layer 2 answers and membership), each with the least
/// disturbance, and stops them all on shutdown. Every protocol posts its tasks' status to the
/// one [`StatusBoard`], under its own name.
pub struct Speaker {
    bgp: Bgp,
    bfd: Bfd,
    health: Health,
    layer2: Layer2,
    node: Option<String>,
    drain: Duration,
}

impl Speaker {
    /// A speaker doing nothing yet, which stops without draining; status is posted to `board`.
    pub fn new(board: StatusBoard) -> Self {
        Self::with_drain(board, Duration::ZERO)
    }

    /// A speaker whose BGP sessions without graceful restart drain for `drain` at shutdown
    /// (RFC 8326: routes re-announced with GRACEFUL_SHUTDOWN so the routers move traffic
    /// off this node before it withdraws).
    pub fn with_drain(board: StatusBoard, drain: Duration) -> Self {
        let paths = Paths::default();
        Self {
            bgp: Bgp::new(board.clone(), paths.clone(), drain),
            bfd: Bfd::new(board.clone(), paths),
            health: Health::new(board.clone()),
            layer2: Layer2::new(board),
            node: None,
            drain,
        }
    }

    /// This speaker runs on node `node`: it answers ARP/NDP for the layer 2 addresses the plan
    /// gives that node, and hears the other speakers through `member` (the default: UDP 7947
    /// on every address). Without it, no layer 2 part runs.
    pub fn on_node(mut self, node: &str, member: MemberSocket) -> Self {
        self.node = Some(node.to_owned());
        self.layer2.set_node(node.to_owned(), member);
        self
    }

    /// The layer 2 speakers the membership counts alive, this node included while it may
    /// answer: plan with them ([`porter_model::announce::Observed::alive`]) and hand the plan
    /// back to [`Self::run`], so the addresses of a speaker that died move to the others.
    pub fn alive(&self) -> watch::Receiver<std::collections::BTreeSet<String>> {
        self.layer2.alive()
    }

    /// The endpoints whose health probes fail, updated as their verdicts change: plan with
    /// them ([`porter_model::announce::plan_checked`]) and hand the plan back to
    /// [`Self::run`], so a node whose endpoints of a Service all fail withdraws it.
    pub fn failing(&self) -> watch::Receiver<porter_model::health::Failing> {
        self.health.failing()
    }

    /// Runs until `shutdown` resolves (or `plans` closes), applying every new plan; then
    /// stops every protocol: BGP peers with graceful restart negotiated keep this node's
    /// routes until it is back (no traffic disturbed by an upgrade); the others are drained
    /// for the drain time, then get the withdrawal and NOTIFICATION Cease. One deadline,
    /// the drain time plus [`SHUTDOWN_GRACE`], bounds it all.
    pub async fn run(
        mut self,
        mut plans: watch::Receiver<SpeakerPlan>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        // The plan is read in place (the borrow ends with the statement, before any await),
        // never cloned: it can hold 100k routes.
        let first = Wanted::of(&plans.borrow_and_update(), self.node.as_deref());
        self.apply_wanted(first).await;
        loop {
            tokio::select! {
                changed = plans.changed() => {
                    if changed.is_err() { break; }
                    let wanted = Wanted::of(&plans.borrow_and_update(), self.node.as_deref());
                    self.apply_wanted(wanted).await;
                }
                Some(incoming) = self.bgp.accepted() => self.bgp.route(incoming).await,
                () = &mut shutdown => break,
            }
        }
        let deadline = Instant::now() + self.drain + SHUTDOWN_GRACE;
        // Layer 2 first: its goodbye lets the other speakers answer for this node's addresses
        // at once, while BGP drains.
        self.layer2
            .stop(Stop::Shutdown, Instant::now() + SHUTDOWN_GRACE)
            .await;
        // BGP first (its drain included): BFD going down before it would look like a failure
        // to the router, which could drop a draining session early.
        self.bgp.stop(Stop::Shutdown, deadline).await;
        self.bfd.stop(Stop::Shutdown, deadline).await;
        self.health.stop(Stop::Shutdown, deadline).await;
    }

    /// Brings every protocol in line with `plan`.
    pub async fn apply(&mut self, plan: &SpeakerPlan) {
        self.apply_wanted(Wanted::of(plan, self.node.as_deref()))
            .await;
    }

    async fn apply_wanted(&mut self, wanted: Wanted) {
        let Wanted {
            bgp,
            bfd,
            health,
            layer2,
        } = wanted;
        // BFD first, so a new peer's BGP session finds its BFD session started.
        self.bfd.apply(bfd).await;
        self.bgp.apply(bgp).await;
        self.health.apply(health).await;
        self.layer2.apply(layer2).await;
    }
}
