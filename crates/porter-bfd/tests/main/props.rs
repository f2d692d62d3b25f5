//! Properties over random inputs: whatever arrives, in whatever order, the session keeps the
//! RFC's rules and never panics.

use std::time::{Duration, Instant};

use porter_bfd::{Config, Diag, Jitter, Packet, Session, State};
use proptest::prelude::*;

use crate::support::Pair;

/// A random input: a decodable packet (any field) or time passing.
#[derive(Debug, Clone)]
enum Input {
    Packet([u8; 24]),
    Wait(u16),
    AdminDown,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => any::<[u8; 24]>().prop_map(|mut b| {
            // Mostly packets that pass §6.8.6 so the state machine is reached.
            b[0] = (1 << 5) | (b[0] & 0x1f);
            b[1] &= !0x05;
            b[2] = b[2].max(1);
            b[3] = 24;
            if b[4..8] == [0; 4] { b[7] = 1; }
            b
        }).prop_map(Input::Packet),
        1 => any::<[u8; 24]>().prop_map(Input::Packet),
        4 => (0u16..3000).prop_map(Input::Wait),
        1 => Just(Input::AdminDown),
    ]
}

fn legal(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Down, Init) | (Down, Up) | (Init, Up) | (Init, Down) | (Up, Down) | (_, AdminDown)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_input_keeps_the_rules(inputs in proptest::collection::vec(input(), 1..200), seed: u64, mult in 1u8..5) {
        let t0 = Instant::now();
        let mut config = Config::new(9);
        config.detect_mult = mult;
        let mut s = Session::new(config, Jitter::seeded(seed), t0);
        let mut now = t0;
        let mut state = s.state();
        let mut last_periodic: Option<(Instant, Duration)> = None;
        for input in inputs {
            match input {
                Input::Packet(bytes) => {
                    if let Ok(p) = Packet::decode(&bytes) {
                        s.handle_packet(now, &p);
                        let changed = s.state() != state;
                        while let Some(p) = s.poll_transmit() {
                            prop_assert!(p.final_ || changed, "on receipt only a Poll's answer or a new state goes out");
                            last_periodic = s.transmit_interval().map(|i| (now, i));
                        }
                    }
                }
                Input::Wait(ms) => {
                    let until = now + Duration::from_millis(u64::from(ms));
                    while let Some(at) = s.poll_timeout().filter(|at| *at <= until) {
                        now = now.max(at);
                        let before = s.state();
                        s.handle_timeout(now);
                        if s.state() != before {
                            // A state change goes out at once, outside the periodic rhythm.
                            last_periodic = None;
                        }
                        while let Some(p) = s.poll_transmit() {
                            prop_assert!(!(p.poll && p.final_), "P and F together");
                            prop_assert_eq!(p.my_discriminator, 9);
                            prop_assert_eq!(p.required_min_echo_rx, 0);
                            if p.state != State::Up {
                                prop_assert!(p.desired_min_tx >= 1_000_000, "slow while not Up");
                            }
                            if !p.final_ && p.state != State::AdminDown {
                                // §6.8.7: jitter never brings two periodic packets closer
                                // than 75% of the interval (90% with multiplier 1 lowers
                                // only the top).
                                if let (Some((prev, before)), Some(interval)) = (last_periodic, s.transmit_interval()) {
                                    let least = before.min(interval).mul_f64(0.75);
                                    prop_assert!(now - prev >= least, "{:?} after the last, under {:?}", now - prev, least);
                                }
                                last_periodic = s.transmit_interval().map(|i| (now, i));
                            }
                        }
                        // Woken for nothing due, it would spin: every deadline lies ahead.
                        if let Some(next) = s.poll_timeout() { prop_assert!(next > now); }
                    }
                    now = now.max(until);
                }
                Input::AdminDown => {
                    s.admin_down(now);
                    while let Some(p) = s.poll_transmit() {
                        prop_assert_eq!(p.state, State::AdminDown);
                        last_periodic = s.transmit_interval().map(|i| (now, i));
                    }
                }
            }
            while let Some(c) = s.poll_change() {
                prop_assert_eq!(c.from, state);
                prop_assert!(legal(c.from, c.to), "{:?} → {:?}", c.from, c.to);
                if c.to == State::AdminDown {
                    prop_assert_eq!(c.diag, Diag::AdminDown);
                }
                state = c.to;
            }
            prop_assert_eq!(s.state(), state);
        }
    }

    /// Two sessions on a link that works come Up within a few slow intervals, whatever the
    /// jitter and timers; and a side that stops hearing the other goes Down within one
    /// Detection Time of the last packet it heard.
    #[test]
    fn a_working_link_comes_up_and_a_dead_one_goes_down(
        seed: u64,
        tx_a in 10u64..2000, rx_a in 10u64..2000, mult_a in 1u8..6,
        tx_b in 10u64..2000, rx_b in 10u64..2000, mult_b in 1u8..6,
    ) {
        let config = |d, tx, rx, mult| Config {
            desired_min_tx: Duration::from_millis(tx),
            required_min_rx: Duration::from_millis(rx),
            detect_mult: mult,
            ..Config::new(d)
        };
        let mut pair = Pair::new(config(1, tx_a, rx_a, mult_a), config(2, tx_b, rx_b, mult_b), Some(seed));
        pair.run_for(Duration::from_secs(10));
        prop_assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
        pair.b_to_a = false;
        let detection = pair.a.detection_time();
        let last_heard = pair.sent.iter().rev().find(|s| !s.by_a).map(|s| s.at).unwrap();
        pair.run_for(detection * 2 + Duration::from_secs(1));
        let down = pair.changes_a.iter().find(|(_, c)| c.from == State::Up).copied();
        prop_assert!(down.is_some(), "a never noticed");
        let (at, change) = down.unwrap();
        prop_assert_eq!(change.diag, Diag::DetectionTimeExpired);
        prop_assert!(at - last_heard <= detection);
    }
}
