//! Health probes, the speaker's part in health-driven withdrawal: one task per endpoint the
//! plan asks to probe (`plan.health`), each tallying its results and posting its endpoint to
//! the failing set when the verdict turns ([`porter_model::health::Tally`]).
//!
//! The probes decide nothing: the failing set goes back into planning
//! ([`porter_model::announce::plan_checked`]), which withdraws a Service from this node when
//! its endpoints here all fail. So what a node announces stays one pure function of the
//! objects and of these verdicts.

mod probe;
mod status;

use std::collections::BTreeMap;
use std::time::Duration;

use porter_model::announce::HealthPlan;
use porter_model::health::{Failing, ProbeKey, ProbeSpec};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::status::{Protocol, StatusBoard};
use crate::supervisor::{Stop, Supervisor};
use probe::Command;

pub use status::ProbeStatus;

/// How long a removed probe may take to end: one in flight is abandoned, not awaited.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// What one probe task does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    key: ProbeKey,
    spec: ProbeSpec,
}

/// The probes a plan asks for, by name (`namespace/name address:port`).
pub(crate) struct Wanted {
    probes: BTreeMap<String, Probe>,
}

impl Wanted {
    /// The probes of `plan`.
    pub(crate) fn of(plan: &HealthPlan) -> Wanted {
        Wanted {
            probes: plan
                .probes
                .iter()
                .map(|(key, spec)| {
                    (
                        key.to_string(),
                        Probe {
                            key: key.clone(),
                            spec: spec.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The speaker's health probes, in step with the plan, and the endpoints they find failing.
pub(crate) struct Health {
    board: StatusBoard,
    probes: Supervisor<Probe, Command>,
    failing: watch::Sender<Failing>,
}

impl Health {
    /// No probes; they post to `board`.
    pub(crate) fn new(board: StatusBoard) -> Self {
        Self {
            probes: Supervisor::new(Protocol::Health, board.clone(), STOP_GRACE),
            board,
            failing: watch::Sender::new(Failing::new()),
        }
    }

    /// The endpoints whose probes fail, updated as verdicts change: what the plan reads.
    pub(crate) fn failing(&self) -> watch::Receiver<Failing> {
        self.failing.subscribe()
    }

    /// Brings the probes in line with `wanted`: a probe of an endpoint that stays keeps its
    /// tally; a removed one takes its endpoint out of the failing set.
    pub(crate) async fn apply(&mut self, wanted: Wanted) {
        let (board, failing) = (&self.board, &self.failing);
        self.probes
            .sync(wanted.probes, |name, probe, commands| {
                probe::spawn(
                    name.to_owned(),
                    probe.clone(),
                    failing.clone(),
                    board.clone(),
                    commands,
                )
            })
            .await;
    }

    /// Stops every probe by `deadline`.
    pub(crate) async fn stop(&mut self, why: Stop, deadline: Instant) {
        self.probes.stop_all(why, deadline).await;
    }
}
