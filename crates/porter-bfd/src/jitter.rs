//! RFC 5880 §6.8.7 jitter: each transmit interval is reduced by a random 0–25% (0–10% off
//! 90% when Detect Mult is 1), so sessions started together do not send in lockstep.
//!
//! The core stays deterministic: the shell seeds the generator, tests seed it or turn it off.
//! `rand_xorshift` on `rand_core`, as porter-bgp: no OS entropy in a pure crate.

use std::time::Duration;

use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// Where a session's jitter comes from: nowhere (the interval as computed, so tests are exact)
/// or a seeded generator.
#[derive(Debug, Clone, Default)]
pub struct Jitter {
    rng: Option<XorShiftRng>,
}

impl Jitter {
    /// No jitter: every interval is used as computed.
    pub fn none() -> Self {
        Jitter { rng: None }
    }

    /// Jitter from a generator seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Jitter {
            rng: Some(XorShiftRng::seed_from_u64(seed)),
        }
    }

    /// `interval` reduced as §6.8.7 asks: to 75–100% of it, or 75–90% when `detect_mult` is 1
    /// (so a single late packet cannot take the session down). Without a generator: 100%, or
    /// 90% when `detect_mult` is 1 (the rule holds even then).
    pub fn apply(&mut self, interval: Duration, detect_mult: u8) -> Duration {
        let high = if detect_mult == 1 { 0.90 } else { 1.0 };
        let factor = match &mut self.rng {
            None => high,
            Some(rng) => {
                let unit = f64::from(rng.next_u32()) / f64::from(u32::MAX);
                0.75 + (high - 0.75) * unit
            }
        };
        interval.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_stay_within_the_rfc_range() {
        let mut j = Jitter::seeded(1);
        let base = Duration::from_millis(300);
        for _ in 0..1000 {
            let d = j.apply(base, 3);
            assert!(d >= base.mul_f64(0.75) && d <= base, "{d:?}");
            let d = j.apply(base, 1);
            assert!(d >= base.mul_f64(0.75) && d <= base.mul_f64(0.90), "{d:?}");
        }
        assert_eq!(Jitter::none().apply(base, 3), base);
        assert_eq!(Jitter::none().apply(base, 1), base.mul_f64(0.9));
    }
}
