//! Liveness and readiness of one role, as `/healthz` and `/readyz` report them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A role's health, shared between its main loop (which reports) and the endpoint (which asks).
///
/// * **Live** while the main loop makes progress: it calls [`Health::beat`] on every turn and
///   on a periodic tick while idle, so a loop that stops turning (a deadlock, a write that never
///   returns) is reported after [`Health::STALLED_AFTER`] and the kubelet restarts the process.
///   The HTTP server alone answering would prove only that the runtime is alive.
/// * **Ready** once the role has what it needs to act (the first snapshot of its source, or its
///   first plan handed to its sessions; each role says which). Readiness is never withdrawn
///   afterwards: a role keeps acting on its last snapshot while its source is down, which is
///   what it should do, so there is nothing a Pod restart or rollout pause would improve.
#[derive(Debug, Clone)]
pub struct Health(Arc<Mutex<State>>);

#[derive(Debug)]
struct State {
    last_beat: Instant,
    /// `Ok` when ready, else why not.
    ready: Result<(), String>,
}

impl Health {
    /// How long the main loop may go without a beat before it counts as stalled. Loops beat at
    /// least every few seconds while idle; the margin covers a long write round (each write
    /// beats) on a slow API server.
    pub const STALLED_AFTER: Duration = Duration::from_secs(60);

    /// How often an idle main loop beats: one value for every role, well inside
    /// [`Health::STALLED_AFTER`].
    pub const HEARTBEAT: Duration = Duration::from_secs(5);

    /// A role that is live (it just started) and not ready, for `why` (shown by `/readyz`).
    pub fn starting(why: impl Into<String>) -> Self {
        Self(Arc::new(Mutex::new(State {
            last_beat: Instant::now(),
            ready: Err(why.into()),
        })))
    }

    /// The main loop made progress.
    pub fn beat(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.last_beat = Instant::now();
        }
    }

    /// The role can act (and beats too: becoming ready is progress).
    pub fn set_ready(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.last_beat = Instant::now();
            s.ready = Ok(());
        }
    }

    /// Whether the main loop made progress recently, as of `now`; `Err` says for how long it
    /// has not.
    pub fn liveness_at(&self, now: Instant) -> Result<(), String> {
        let s = self
            .0
            .lock()
            .map_err(|_| "health state poisoned".to_owned())?;
        let quiet = now.saturating_duration_since(s.last_beat);
        if quiet > Self::STALLED_AFTER {
            return Err(format!(
                "main loop stalled: no progress for {} s",
                quiet.as_secs()
            ));
        }
        Ok(())
    }

    /// [`Health::liveness_at`] now.
    pub fn liveness(&self) -> Result<(), String> {
        self.liveness_at(Instant::now())
    }

    /// Whether the role is ready; `Err` says why not.
    pub fn readiness(&self) -> Result<(), String> {
        self.0
            .lock()
            .map_err(|_| "health state poisoned".to_owned())?
            .ready
            .clone()
    }
}

impl Default for Health {
    /// Live and not ready, with no reason given (for tests and callers that do not serve it).
    fn default() -> Self {
        Self::starting("starting")
    }
}
