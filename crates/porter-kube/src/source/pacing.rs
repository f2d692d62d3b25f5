//! When the source tells its receivers about a change.
//!
//! A trailing debounce (wait `window` after the first change, then publish) put its whole
//! window on every single change: a Service applied on its own waited 50 ms in the
//! controller's source, then 50 ms more in each speaker's, before anything moved. A leading
//! edge alone is not enough either: one Service applied is a few events close together (the
//! Service, the EndpointSlice the endpoint controller makes, Porter's status write), and the
//! one that matters to a speaker, the address, often comes second and would wait out the
//! window the first one opened.
//!
//! So the pacer lets a small burst through at once and paces what follows: at most `burst`
//! publications in any span of `burst` windows. A lone change, or the few events of one
//! Service, are published as they come; a long burst (an initial list, a rollout of many
//! Services) still averages one publication per window.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Decides when a change is published, given when the last publications were.
#[derive(Debug)]
pub(crate) struct Pacer {
    window: Duration,
    burst: usize,
    /// The last `burst` publications, oldest first.
    recent: VecDeque<Instant>,
}

impl Pacer {
    /// Publications go out at once while fewer than `BURST` went out in the last `BURST`
    /// windows; after that, one per `window` on average.
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            burst: Self::BURST,
            recent: VecDeque::with_capacity(Self::BURST),
        }
    }

    /// The events of one Service applied (the Service, its EndpointSlice, the status written
    /// for it, the slice's endpoints turning ready), with room to spare.
    const BURST: usize = 4;

    /// When to publish a change seen at `now`, none being pending.
    pub(crate) fn due(&self, now: Instant) -> Instant {
        if self.recent.len() < self.burst {
            return now;
        }
        let span = self.window * u32::try_from(self.burst).unwrap_or(u32::MAX);
        now.max(self.recent[0] + span)
    }

    /// A publication went out at `at`.
    pub(crate) fn published(&mut self, at: Instant) {
        if self.recent.len() == self.burst {
            self.recent.pop_front();
        }
        self.recent.push_back(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(50);
    const SPAN: Duration = Duration::from_millis(50 * Pacer::BURST as u64);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_few_changes_close_together_are_each_published_at_once() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(WINDOW);
        for i in 0..Pacer::BURST as u64 {
            let now = t0 + ms(i);
            assert_eq!(pacer.due(now), now, "change {i}");
            pacer.published(now);
        }
    }

    #[test]
    fn a_change_past_the_burst_waits_until_the_oldest_leaves_the_span() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(WINDOW);
        for i in 0..Pacer::BURST as u64 {
            pacer.published(t0 + ms(i));
        }
        assert_eq!(pacer.due(t0 + ms(10)), t0 + SPAN);
        // once the span has passed, at once again
        assert_eq!(pacer.due(t0 + SPAN + ms(7)), t0 + SPAN + ms(7));
    }

    #[test]
    fn changes_after_a_quiet_spell_are_published_at_once() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(WINDOW);
        for i in 0..10u64 {
            pacer.published(t0 + ms(i));
        }
        let later = t0 + ms(9) + SPAN;
        assert_eq!(pacer.due(later), later);
    }

    /// A change every millisecond for a second: the pacer's promise, never more than the burst
    /// in any span of the burst's windows, and on average one publication per window.
    #[test]
    fn a_steady_stream_averages_one_publication_per_window() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(WINDOW);
        let mut pending: Option<Instant> = None;
        let mut publications = Vec::new();
        for n in 0..1000u64 {
            let now = t0 + ms(n);
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
        for (i, at) in publications.iter().enumerate() {
            let in_span = publications[i..]
                .iter()
                .filter(|p| **p < *at + SPAN)
                .count();
            assert!(
                in_span <= Pacer::BURST,
                "{in_span} publications in the span from {at:?}"
            );
        }
        // 1 s of changes, 4 per 200 ms span
        assert_eq!(publications.len(), 20, "{publications:?}");
    }
}
