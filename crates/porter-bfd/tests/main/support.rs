//! Two sessions joined by a wire on a virtual clock, with a switch per direction to lose
//! packets (a link that died, one way or both).

use std::time::{Duration, Instant};

use porter_bfd::{Change, Config, Jitter, Packet, Session};

/// One sent packet, when and by whom.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub at: Instant,
    pub by_a: bool,
    pub packet: Packet,
}

pub struct Pair {
    pub now: Instant,
    pub a: Session,
    pub b: Session,
    /// Packets from a to b get through.
    pub a_to_b: bool,
    /// Packets from b to a get through.
    pub b_to_a: bool,
    pub sent: Vec<Sent>,
    pub changes_a: Vec<(Instant, Change)>,
    pub changes_b: Vec<(Instant, Change)>,
}

impl Pair {
    pub fn new(a: Config, b: Config, seed: Option<u64>) -> Pair {
        let t0 = Instant::now();
        let jitter = |n: u64| seed.map_or_else(Jitter::none, |s| Jitter::seeded(s + n));
        Pair {
            now: t0,
            a: Session::new(a, jitter(0), t0),
            b: Session::new(b, jitter(1), t0),
            a_to_b: true,
            b_to_a: true,
            sent: Vec::new(),
            changes_a: Vec::new(),
            changes_b: Vec::new(),
        }
    }

    pub fn defaults() -> Pair {
        Pair::new(Config::new(1), Config::new(2), None)
    }

    /// Runs the clock to `until`, waking each session at its own deadlines and delivering
    /// packets at once (a LAN).
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.exchange();
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Delivers everything both sides want to send, until neither has more.
    pub fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(p) = self.a.poll_transmit() {
                moved = true;
                self.sent.push(Sent {
                    at: self.now,
                    by_a: true,
                    packet: p,
                });
                let p = Packet::decode(&p.encode()).expect("a sends valid packets");
                if self.a_to_b {
                    self.b.handle_packet(self.now, &p);
                }
            }
            while let Some(p) = self.b.poll_transmit() {
                moved = true;
                self.sent.push(Sent {
                    at: self.now,
                    by_a: false,
                    packet: p,
                });
                let p = Packet::decode(&p.encode()).expect("b sends valid packets");
                if self.b_to_a {
                    self.a.handle_packet(self.now, &p);
                }
            }
            while let Some(c) = self.a.poll_change() {
                moved = true;
                self.changes_a.push((self.now, c));
            }
            while let Some(c) = self.b.poll_change() {
                moved = true;
                self.changes_b.push((self.now, c));
            }
            if !moved {
                break;
            }
        }
    }
}
