//! The session's named timers (RFC 4271 §10), as deadlines in a small table.
//!
//! The core never reads a clock: deadlines are computed from the `now` passed into each call, and
//! the shell asks for the earliest one (`Session::poll_timeout`), like quinn-proto's `TimerTable`.

use std::time::Instant;

/// The RFC 4271 timers Porter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// ConnectRetryTimer: next dial attempt, and the delayed restart after an error.
    ConnectRetry,
    /// HoldTimer: the peer must send a KEEPALIVE or UPDATE before it fires.
    Hold,
    /// KeepaliveTimer: when we send our next KEEPALIVE.
    Keepalive,
}

impl Timer {
    /// All timers, in the order they are fired when several expire at once (deterministic).
    pub const ALL: [Timer; 3] = [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive];

    fn index(self) -> usize {
        match self {
            Timer::ConnectRetry => 0,
            Timer::Hold => 1,
            Timer::Keepalive => 2,
        }
    }
}

/// Deadlines for each [`Timer`]; `None` means stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 3],
}

impl TimerTable {
    /// Arms (or re-arms) a timer.
    pub fn set(&mut self, timer: Timer, deadline: Instant) {
        self.deadlines[timer.index()] = Some(deadline);
    }

    /// Stops a timer.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Stops every timer (on entering Idle).
    pub fn stop_all(&mut self) {
        self.deadlines = [None; 3];
    }

    /// The deadline of a timer, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest armed deadline: what the shell sleeps until.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Timers whose deadline is at or before `now`, in [`Timer::ALL`] order.
    pub fn expired(&self, now: Instant) -> Vec<Timer> {
        Timer::ALL
            .into_iter()
            .filter(|t| self.get(*t).is_some_and(|d| d <= now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "a test needs some origin instant"
    )]
    fn earliest_and_expired() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_deadline(), None);
        t.set(Timer::Hold, t0 + Duration::from_secs(90));
        t.set(Timer::Keepalive, t0 + Duration::from_secs(30));
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(30)));
        assert!(t.expired(t0).is_empty());
        assert_eq!(
            t.expired(t0 + Duration::from_secs(30)),
            vec![Timer::Keepalive]
        );
        assert_eq!(
            t.expired(t0 + Duration::from_secs(100)),
            vec![Timer::Hold, Timer::Keepalive]
        );
        t.stop(Timer::Keepalive);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(90)));
        t.stop_all();
        assert_eq!(t.next_deadline(), None);
    }
}
