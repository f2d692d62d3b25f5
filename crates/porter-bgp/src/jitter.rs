//! RFC 4271 §10 jitter: "a random factor 0.75–1.0" on ConnectRetry and Keepalive delays, so
//! peers that failed together do not retry (or send KEEPALIVEs) in lockstep.
//!
//! The core must stay deterministic, so the randomness is an input: the shell seeds the
//! generator (from OS entropy), tests seed it with a constant or turn jitter off. The generator
//! is `rand_xorshift` on `rand_core` (no `getrandom`: the pure crates link no OS entropy, see
//! scripts/check-pure-deps.sh); statistical quality hardly matters for spreading timers.

use std::time::Duration;

use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// The lowest factor RFC 4271 §10 allows; the highest is 1.0.
pub const MIN_FACTOR: f64 = 0.75;

/// Where a session's jitter factors come from: nowhere (factor 1.0, the default, so timers are
/// exact in tests) or a seeded generator.
#[derive(Debug, Clone)]
pub struct Jitter {
    rng: Option<XorShiftRng>,
}

impl Jitter {
    /// No jitter: every delay is used as configured.
    pub fn none() -> Self {
        Jitter { rng: None }
    }

    /// Jitter from a generator seeded with `seed`: the same seed always gives the same
    /// sequence of factors.
    pub fn seeded(seed: u64) -> Self {
        Jitter {
            rng: Some(XorShiftRng::seed_from_u64(seed)),
        }
    }

    /// The next factor, in `[0.75, 1.0]` (exactly 1.0 without a generator).
    pub fn factor(&mut self) -> f64 {
        match &mut self.rng {
            None => 1.0,
            Some(rng) => {
                let unit = f64::from(rng.next_u32()) / f64::from(u32::MAX);
                MIN_FACTOR + (1.0 - MIN_FACTOR) * unit
            }
        }
    }

    /// `delay` scaled by the next factor.
    pub fn apply(&mut self, delay: Duration) -> Duration {
        delay.mul_f64(self.factor())
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_jitter_keeps_delays_exact() {
        let mut j = Jitter::none();
        assert_eq!(j.apply(Duration::from_secs(30)), Duration::from_secs(30));
    }

    #[test]
    fn factors_stay_within_the_rfc_range_and_vary() {
        let mut j = Jitter::seeded(7);
        let factors: Vec<f64> = (0..1000).map(|_| j.factor()).collect();
        assert!(factors.iter().all(|f| (MIN_FACTOR..=1.0).contains(f)));
        let (lo, hi) = factors
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), f| (lo.min(*f), hi.max(*f)));
        assert!(lo < 0.76 && hi > 0.99, "spread over the range: {lo}..{hi}");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let d = Duration::from_secs(60);
        let a: Vec<_> = {
            let mut j = Jitter::seeded(42);
            (0..5).map(|_| j.apply(d)).collect()
        };
        let mut j = Jitter::seeded(42);
        let b: Vec<_> = (0..5).map(|_| j.apply(d)).collect();
        assert_eq!(a, b);
        let mut other = Jitter::seeded(43);
        assert_ne!(a, (0..5).map(|_| other.apply(d)).collect::<Vec<_>>());
    }
}
