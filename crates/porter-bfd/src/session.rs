//! `Session`: one BFD session in asynchronous mode (RFC 5880 §6), driven by received packets
//! and time, producing packets to send and state changes.
//!
//! The verbs are porter-bgp's: feed input ([`Session::handle_packet`]), pass time in
//! ([`Session::handle_timeout`]), drain output ([`Session::poll_transmit`],
//! [`Session::poll_change`]) and ask when to wake ([`Session::poll_timeout`]). Finding the
//! session a packet belongs to (by Your Discriminator, or the source address) and checking its
//! TTL are the shell's part; [`Packet::decode`] has already made the packet-level checks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::jitter::Jitter;
use crate::packet::{Diag, Packet, State, micros, to_micros};

/// The slowest a session may send while it is not Up (RFC 5880 §6.8.3: "not less than one
/// second"), so sessions that are not up cost little.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// A session's settings. Two sessions with equal settings behave the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    /// This session's discriminator: unique on this system, never 0 (the shell picks it).
    pub local_discriminator: u32,
    /// How often we would like to send once Up (bfd.DesiredMinTxInterval).
    pub desired_min_tx: Duration,
    /// The shortest interval between received packets we accept (bfd.RequiredMinRxInterval);
    /// with `detect_mult`, how fast the peer's silence is noticed.
    pub required_min_rx: Duration,
    /// Packets the peer may miss before we declare it down (bfd.DetectMult).
    pub detect_mult: u8,
    /// Passive role (§6.1): send nothing until the peer has been heard.
    pub passive: bool,
}

impl Config {
    /// Settings with the common defaults of routers (300 ms × 3) and `discriminator`.
    pub fn new(local_discriminator: u32) -> Config {
        Config {
            local_discriminator,
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
        }
    }
}

/// A state change, for the shell to act on (a BGP session to tear down) and report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The previous state.
    pub from: State,
    /// The new state.
    pub to: State,
    /// Why (the local diagnostic after the change).
    pub diag: Diag,
}

/// What the peer last told us (the bfd.Remote* variables of §6.8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    /// bfd.RemoteDiscr: 0 while unknown, and again once a Detection Time passes in silence.
    pub discriminator: u32,
    /// bfd.RemoteSessionState.
    pub state: State,
    /// bfd.RemoteDemandMode.
    pub demand: bool,
    /// bfd.RemoteMinRxInterval (1 µs until the peer says, §6.8.1).
    pub min_rx: Duration,
    /// The peer's Desired Min TX Interval, for the detection time.
    pub desired_min_tx: Duration,
    /// The peer's Detect Mult.
    pub detect_mult: u8,
    /// The peer's diagnostic.
    pub diag: Diag,
}

/// Counters, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets handed to the session.
    pub received: u64,
    /// Packets the session asked to send.
    pub sent: u64,
    /// Times the session left Up.
    pub flaps: u64,
}

/// One BFD session (asynchronous mode; no Demand mode or Echo function of its own).
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    diag: Diag,
    remote: Remote,
    /// A Poll Sequence of ours awaits the peer's Final (§6.5).
    polling: bool,
    /// The next packet answers the peer's Poll (Final set).
    owe_final: bool,
    /// The DesiredMinTx we advertise now (at least [`SLOW_TX`] while not Up).
    advertised_tx: Duration,
    next_tx: Option<Instant>,
    /// The interval `next_tx` was computed for.
    scheduled_for: Option<Duration>,
    last_tx: Option<Instant>,
    detect_at: Option<Instant>,
    out: VecDeque<Packet>,
    changes: VecDeque<Change>,
    jitter: Jitter,
    stats: Stats,
}

impl Session {
    /// A session in state Down, sending at once unless passive.
    pub fn new(config: Config, jitter: Jitter, now: Instant) -> Session {
        let advertised_tx = config.desired_min_tx.max(SLOW_TX);
        let mut session = Session {
            state: State::Down,
            diag: Diag::None,
            remote: Remote {
                discriminator: 0,
                state: State::Down,
                demand: false,
                min_rx: Duration::from_micros(1),
                desired_min_tx: Duration::ZERO,
                detect_mult: 0,
                diag: Diag::None,
            },
            polling: false,
            owe_final: false,
            advertised_tx,
            next_tx: None,
            scheduled_for: None,
            last_tx: None,
            detect_at: None,
            out: VecDeque::new(),
            changes: VecDeque::new(),
            jitter,
            stats: Stats::default(),
            config,
        };
        session.schedule(now);
        session
    }

    /// The session's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.LocalDiag: why the session last went down.
    pub fn diag(&self) -> Diag {
        self.diag
    }

    /// What the peer last told us.
    pub fn remote(&self) -> Remote {
        self.remote
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How long the peer may be silent before the session goes Down (§6.8.4, asynchronous
    /// mode): its Detect Mult times the slower of our RequiredMinRx and its DesiredMinTx.
    pub fn detection_time(&self) -> Duration {
        self.config.required_min_rx.max(self.remote.desired_min_tx)
            * u32::from(self.remote.detect_mult)
    }

    /// The interval between our periodic packets before jitter (§6.8.7): the slower of what
    /// we advertise and what the peer can receive. `None` while we must not send periodically:
    /// the peer asked for none (RequiredMinRx 0), the peer runs Demand mode on an Up session,
    /// or we are passive and have not heard it.
    pub fn transmit_interval(&self) -> Option<Duration> {
        if self.remote.min_rx.is_zero()
            || (self.remote.demand && self.state == State::Up && self.remote.state == State::Up)
            || (self.config.passive && self.remote.discriminator == 0)
        {
            return None;
        }
        Some(self.advertised_tx.max(self.remote.min_rx))
    }

    /// A received packet, already decoded and found to be this session's. Packets while
    /// AdminDown are discarded (§6.8.6).
    pub fn handle_packet(&mut self, now: Instant, packet: &Packet) {
        if self.state == State::AdminDown {
            return;
        }
        self.stats.received += 1;
        self.remote = Remote {
            discriminator: packet.my_discriminator,
            state: packet.state,
            demand: packet.demand,
            min_rx: micros(packet.required_min_rx),
            desired_min_tx: micros(packet.desired_min_tx),
            detect_mult: packet.detect_mult,
            diag: packet.diag,
        };
        if packet.final_ && self.polling {
            self.polling = false;
        }
        self.detect_at = Some(now + self.detection_time());

        // The state table of §6.8.6.
        match (self.state, packet.state) {
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => self.set_state(now, State::Down, Diag::NeighborDown),
            (State::Down, State::Down) => self.set_state(now, State::Init, Diag::None),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.set_state(now, State::Up, Diag::None);
            }
            (State::Up, State::Down) => self.set_state(now, State::Down, Diag::NeighborDown),
            _ => {}
        }

        if packet.poll {
            // §6.8.7: answered "as soon as practicable, without respect to the transmission
            // timer".
            self.owe_final = true;
            self.transmit(now);
        } else {
            // The peer may have changed what it can receive, or woken us from Demand mode or
            // from the passive role.
            self.schedule(now);
        }
    }

    /// Time passed: a due packet to send, or the peer silent for a Detection Time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_at.is_some_and(|at| at <= now) {
            self.detect_at = None;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(now, State::Down, Diag::DetectionTimeExpired);
            }
            // §6.8.1: a Detection Time without a packet forgets the peer's discriminator.
            self.remote.discriminator = 0;
            self.remote.state = State::Down;
            self.remote.demand = false;
            self.schedule(now);
        }
        if self.next_tx.is_some_and(|at| at <= now) {
            self.next_tx = None;
            if self.transmit_interval().is_some() {
                self.transmit(now);
            }
        }
    }

    /// Holds the session down administratively (§6.8.16), telling the peer so at once (as
    /// every state change is): the peer then goes Down with diagnostic 3 but, per RFC 5882
    /// §3.2, should keep its BGP session. Used when Porter stops the session on purpose, so
    /// the peer does not see a failure.
    pub fn admin_down(&mut self, now: Instant) {
        if self.state == State::AdminDown {
            return;
        }
        self.detect_at = None;
        self.set_state(now, State::AdminDown, Diag::AdminDown);
    }

    /// The next packet to send now, if any.
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        self.out.pop_front()
    }

    /// The next state change, if any.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn set_state(&mut self, now: Instant, to: State, diag: Diag) {
        let from = self.state;
        if from == to {
            return;
        }
        if from == State::Up {
            self.stats.flaps += 1;
        }
        self.state = to;
        self.diag = diag;
        let advertised = if to == State::Up {
            self.config.desired_min_tx
        } else {
            self.config.desired_min_tx.max(SLOW_TX)
        };
        if advertised != self.advertised_tx {
            self.advertised_tx = advertised;
            // §6.8.3: a change of DesiredMinTx is announced with a Poll Sequence. Only the
            // step to the configured rate on Up needs one: leaving Up ends the sequence.
            self.polling = to == State::Up;
        }
        if to != State::Up {
            self.polling = false;
        }
        self.changes.push_back(Change { from, to, diag });
        // The peer hears of the change at once rather than an interval later (a Down after
        // a detection, a step of the handshake), as FRR's and BIRD's BFD do; the periodic
        // packets then follow one interval after this one. A passive session that has not
        // heard its peer stays silent (§6.8.7).
        if !(self.config.passive && self.remote.discriminator == 0) {
            self.transmit(now);
        }
    }

    /// Sends the due packet and arms the timer for the next.
    fn transmit(&mut self, now: Instant) {
        let final_ = std::mem::take(&mut self.owe_final);
        self.out.push_back(Packet {
            diag: self.diag,
            state: self.state,
            // §6.5: a packet never has both; the Final answers first, our Poll rides the next.
            poll: self.polling && !final_,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.config.detect_mult,
            my_discriminator: self.config.local_discriminator,
            your_discriminator: self.remote.discriminator,
            desired_min_tx: to_micros(self.advertised_tx),
            required_min_rx: to_micros(self.config.required_min_rx),
            required_min_echo_rx: 0,
        });
        self.stats.sent += 1;
        self.last_tx = Some(now);
        self.next_tx = None;
        self.schedule(now);
    }

    /// Arms the transmit timer for the interval in force: one jittered interval after the last
    /// packet sent (at once for the first), re-computed only when the interval changed, so
    /// two periodic packets are never closer than 75% of the interval in force.
    fn schedule(&mut self, now: Instant) {
        let Some(interval) = self.transmit_interval() else {
            self.next_tx = None;
            self.scheduled_for = None;
            return;
        };
        if self.next_tx.is_some() && self.scheduled_for == Some(interval) {
            return;
        }
        let at = match self.last_tx {
            None => now,
            Some(last) => (last + self.jitter.apply(interval, self.config.detect_mult)).max(now),
        };
        self.next_tx = Some(at);
        self.scheduled_for = Some(interval);
    }
}
