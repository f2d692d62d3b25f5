//! When the source tells its receivers about a change.
//!
//! A trailing debounce (wait `window` after the first change, then publish) put its whole
//! window on every single change: a Service applied on its own waited 50 ms in the
//! controller's source, then 50 ms more in each speaker's, before anything moved. The pacer
//! publishes a change that follows a quiet spell at once, and only the changes that follow a
//! publication within `window` wait, together, for the window's end: one change costs no wait,
//! a burst (an initial list, a rollout of many Services) still gives at most one publication per
//! window.

use std::time::Duration;

use tokio::time::Instant;

/// Decides when a change is published, given when the last publication was.
#[derive(Debug)]
pub(crate) struct Pacer {
    window: Duration,
    last: Option<Instant>,
}

impl Pacer {
    /// At most one publication per `window` (the first of a burst goes out at once).
    pub(crate) fn new(window: Duration) -> Self {
        Self { window, last: None }
    }

    /// When to publish a change seen at `now`, none being pending: now after a quiet spell,
    /// else when the window opened by the last publication ends.
    pub(crate) fn due(&self, now: Instant) -> Instant {
        match self.last {
            Some(last) if now < last + self.window => last + self.window,
            _ => now,
        }
    }

    /// A publication went out at `at`.
    pub(crate) fn published(&mut self, at: Instant) {
        self.last = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(50);

    #[test]
    fn the_first_change_is_published_at_once() {
        let t0 = Instant::now();
        assert_eq!(Pacer::new(WINDOW).due(t0), t0);
    }

    #[test]
    fn a_change_after_a_quiet_window_is_published_at_once() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(WINDOW);
        pacer.published(t0);
        assert_eq!(pacer.due(t0 + WINDOW), t0 + WINDOW);
        assert_eq!(pacer.due(t0 + 3 * WINDOW), t0 + 3 * WINDOW);
    }

    #[test]
    fn changes_within_the_window_wait_for_its_end() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(WINDOW);
        pacer.published(t0);
        for after in [
            Duration::ZERO,
            Duration::from_millis(1),
            WINDOW - Duration::from_nanos(1),
        ] {
            assert_eq!(
                pacer.due(t0 + after),
                t0 + WINDOW,
                "a change {after:?} after"
            );
        }
    }

    #[test]
    fn a_steady_stream_is_published_once_per_window() {
        // A change every millisecond for a second: publications at most every window.
        let t0 = Instant::now();
        let mut pacer = Pacer::new(WINDOW);
        let mut pending: Option<Instant> = None;
        let mut publications = Vec::new();
        for ms in 0..1000u64 {
            let now = t0 + Duration::from_millis(ms);
            if let Some(at) = pending
                && at <= now
            {
                pacer.published(at);
                publications.push(at);
                pending = None;
            }
            pending.get_or_insert_with(|| pacer.due(now));
        }
        assert_eq!(publications[0], t0, "the first change waits for nothing");
        for pair in publications.windows(2) {
            assert!(
                pair[1] - pair[0] >= WINDOW,
                "{pair:?} closer than the window"
            );
        }
        assert_eq!(
            publications.len(),
            20,
            "1 s of changes, 50 ms window: {publications:?}"
        );
    }
}
