//! `Session`: one BGP peering, driven by events and time, producing actions.
//!
//! The four verbs, as in quinn-proto: feed input ([`Session::handle`]), pass time in
//! ([`Session::handle_timeout`]), drain output ([`Session::poll_action`]), and ask when to wake
//! ([`Session::poll_timeout`]). The shell executes actions in order and reports each outcome back
//! as an [`Event`]; the session never assumes an action succeeded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::attrs::RouteAttrs;
use crate::config::SessionConfig;
use crate::error::NotificationError;
use crate::fsm::{self, MessageKind, State};
use crate::incoming::{self, Origin, Verdict};
use crate::jitter::Jitter;
use crate::negotiate::{self, Negotiated};
use crate::prefix::{Family, Prefix};
use crate::rib_out::{OutContext, RibOut, Routes};
use crate::stats::SessionStats;
use crate::timers::{Timer, TimerTable};
use crate::wire::{self, Message, Open, RawUpdate, UpdateContext};

/// Hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// LOCAL_PREF sent to iBGP peers: the conventional default, so Porter's routes compete evenly.
pub const IBGP_LOCAL_PREF: u32 = 100;

/// Why a session is stopped by its own side, as its NOTIFICATION Cease tells the peer (RFC 4486
/// §4): the peer's log then says why the session went, not just that it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// 6/2 Administrative Shutdown: the speaker stops (and is not restarting gracefully).
    AdministrativeShutdown,
    /// 6/3 Peer De-configured: the peer is no longer configured (its BgpPeer went away, or no
    /// longer selects this node).
    PeerDeconfigured,
    /// 6/4 Administrative Reset: the session restarts to take a new configuration.
    AdministrativeReset,
    /// 6/10 BFD Down (RFC 9384): BFD found the path to the peer dead. The NOTIFICATION
    /// rarely arrives (the path is dead) but says why when it does; the session stays Idle
    /// until the shell starts it again, once BFD is back up.
    BfdDown,
}

impl StopReason {
    /// The NOTIFICATION this reason sends.
    pub fn notification(self) -> NotificationError {
        match self {
            Self::AdministrativeShutdown => NotificationError::admin_shutdown(),
            Self::PeerDeconfigured => NotificationError::peer_deconfigured(),
            Self::AdministrativeReset => NotificationError::admin_reset(),
            Self::BfdDown => NotificationError::bfd_down(),
        }
    }
}

/// Inputs to a session: plain data the shell reports (no sockets or handles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// ManualStart (ManualStart_with_PassiveTcpEstablishment when `passive`).
    Start,
    /// ManualStop: sends NOTIFICATION Cease with the reason's subcode if connected, closes,
    /// stays Idle until the next `Start`. The peer withdraws our routes at once.
    Stop(StopReason),
    /// Stop for a restart under graceful restart (RFC 4724): close the connection *without* a
    /// NOTIFICATION, so a peer that negotiated graceful restart keeps our routes (as stale)
    /// until we are back, and traffic is not disturbed. Stays Idle until the next `Start`.
    StopForRestart,
    /// Graceful shutdown (RFC 8326), before a [`Event::Stop`]: from now on every route, the
    /// announced ones and any set later, carries the GRACEFUL_SHUTDOWN community and, on iBGP,
    /// LOCAL_PREF 0; the changed routes are re-announced at once (when Established), one UPDATE
    /// per attribute set. Routers that honour the community move traffic to other paths while
    /// this one is still up; the shell waits its drain time, then withdraws and stops. Lasts
    /// for the life of the session (it is not undone).
    GracefulShutdown,
    /// A TCP connection is ready: the shell's dial succeeded (a shell may also report an
    /// accepted connection this way; it then counts as ours in collision resolution, see
    /// [`Event::Incoming`]). `local` is our end; its address becomes the announced next hop
    /// ("next-hop-self").
    TcpConnected {
        /// Our address and port on this connection.
        local: SocketAddr,
        /// The peer's address and port.
        remote: SocketAddr,
    },
    /// The peer opened a TCP connection to us, which the shell holds until the session answers
    /// it, at once, with [`Action::AcceptIncoming`] (then it is the session's connection) or
    /// [`Action::RejectIncoming`]. See [`crate::incoming`] for the rules.
    Incoming {
        /// Our address and port on the new connection.
        local: SocketAddr,
        /// The peer's address and port.
        remote: SocketAddr,
    },
    /// The shell's dial failed.
    TcpConnectFailed,
    /// The connection closed (peer FIN/RST or a read/write error).
    TcpClosed,
    /// Bytes read from the socket, in any chunking; the session frames them.
    Received(Bytes),
    /// The full desired Adj-RIB-Out with each prefix's attributes (replacement, not a delta);
    /// accepted in any state. Shared, not copied: one map can serve every session (build it
    /// with [`routes`](crate::routes) so prefixes share their attributes too). See
    /// [`Event::set_routes`] for routes without attributes.
    SetRoutes(Arc<Routes>),
}

impl Event {
    /// `SetRoutes` with default attributes for every prefix: what callers without routing
    /// policy send.
    pub fn set_routes(prefixes: impl IntoIterator<Item = Prefix>) -> Event {
        let attrs = Arc::new(RouteAttrs::default());
        Event::SetRoutes(Arc::new(
            prefixes
                .into_iter()
                .map(|p| (p, Arc::clone(&attrs)))
                .collect(),
        ))
    }
}

/// Outputs for the shell, to execute in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Dial the peer (abandoning any dial still in progress).
    Connect,
    /// Write these bytes to the connection (one or more whole BGP messages).
    Send(Bytes),
    /// Close the connection after flushing earlier sends (or abort a dial in progress).
    Close,
    /// Make the connection of the last [`Event::Incoming`] the session's connection (any earlier
    /// one was closed by a preceding [`Action::Close`]); later sends go to it.
    AcceptIncoming,
    /// Write these bytes (a NOTIFICATION Cease) to the connection of the last
    /// [`Event::Incoming`] and close it; the session's own connection is untouched.
    RejectIncoming(Bytes),
    /// The state changed; for logs and metrics.
    StateChanged {
        /// The previous state.
        from: State,
        /// The new state.
        to: State,
        /// Why, e.g. "hold timer expired" or "received NOTIFICATION 6/2 (...)".
        reason: String,
    },
}

/// One BGP session with one peer.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    state: State,
    timers: TimerTable,
    actions: VecDeque<Action>,
    framer: wire::Framer,
    local_addr: Option<IpAddr>,
    negotiated: Option<Negotiated>,
    rib: RibOut,
    received: BTreeMap<Prefix, RouteAttrs>,
    stats: SessionStats,
    admin_down: bool,
    /// The next connect-retry delay (exponential backoff, see `SessionConfig::connect_retry`).
    retry_delay: Duration,
    /// RFC 4271 §10 jitter on ConnectRetry and Keepalive delays.
    jitter: Jitter,
    /// Who opened the current connection (for collision resolution).
    origin: Option<Origin>,
    /// The peer's BGP identifier from its last OPEN, kept across connections so a later
    /// collision can be resolved before the new OPEN arrives.
    peer_id: Option<Ipv4Addr>,
}

impl Session {
    /// A session in Idle without timer jitter (deterministic deadlines, for tests and
    /// simulations); nothing happens until [`Event::Start`].
    pub fn new(config: SessionConfig) -> Self {
        Self::with_jitter(config, Jitter::none())
    }

    /// A session in Idle whose ConnectRetry and Keepalive delays are scaled by `jitter`'s
    /// factors (RFC 4271 §10): what a real speaker uses, seeded by its shell.
    pub fn with_jitter(config: SessionConfig, jitter: Jitter) -> Self {
        let config_retry = config.connect_retry;
        Session {
            config,
            state: State::Idle,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            framer: wire::Framer::default(),
            local_addr: None,
            negotiated: None,
            rib: RibOut::default(),
            received: BTreeMap::new(),
            stats: SessionStats::default(),
            admin_down: true,
            retry_delay: config_retry,
            jitter,
            origin: None,
            peer_id: None,
        }
    }

    /// Feeds one event at time `now`.
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Start => {
                if self.state == State::Idle {
                    self.retry_delay = self.config.connect_retry;
                }
                self.start(now, "manual start")
            }
            Event::Stop(reason) => self.stop(now, Some(reason)),
            Event::GracefulShutdown => {
                self.rib.graceful_shutdown();
                if self.state == State::Established {
                    self.flush_routes(now, false);
                }
            }
            Event::StopForRestart => self.stop(now, None),
            Event::TcpConnected { local, remote } => self.tcp_connected(now, local, remote),
            Event::Incoming { local, remote } => self.incoming(now, local, remote),
            Event::TcpConnectFailed if self.state == State::Connect => {
                self.go_idle(now, "TCP connect failed".into(), None, true);
            }
            Event::TcpClosed if self.state.has_connection() || self.state == State::Connect => {
                self.go_idle(now, "connection closed by peer".into(), None, true);
            }
            Event::TcpConnectFailed | Event::TcpClosed => {}
            Event::Received(bytes) => self.receive(now, &bytes),
            Event::SetRoutes(routes) => {
                self.rib.set_desired(routes);
                if self.state == State::Established {
                    self.flush_routes(now, false);
                }
            }
        }
    }

    /// Fires every timer whose deadline is at or before `now` (each at most once per call).
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.expired(now) {
            if self.timers.get(timer).is_some_and(|d| d <= now) {
                self.timers.stop(timer);
                self.fire(now, timer);
            }
        }
    }

    /// The next action for the shell, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest armed timer deadline; call [`Session::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The current FSM state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Counters for metrics and status.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The configuration this session was built with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// `min(ours, theirs)` once the peer's OPEN was accepted; `None` before and after.
    pub fn negotiated_hold_time(&self) -> Option<u16> {
        self.negotiated.as_ref().map(|n| n.hold_time)
    }

    /// Seconds between our KEEPALIVEs once the peer's OPEN was accepted: the configured
    /// interval capped at a third of the negotiated hold time (RFC 4271 §4.4, §10), a third of
    /// it when none is configured, 0 when the hold time is 0 (no KEEPALIVEs). Each interval is
    /// then jittered.
    pub fn negotiated_keepalive(&self) -> Option<u16> {
        let hold = self.negotiated_hold_time()?;
        let cap = hold / 3;
        Some(match self.config.keepalive.filter(|k| *k > 0) {
            Some(k) => k.min(cap),
            None => cap,
        })
    }

    /// The capabilities agreed with the peer, from its OPEN until the connection ends.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Routes the peer currently announces, with their attributes (for tests and status;
    /// Porter installs none). With ADD-PATH receive, the last path of a prefix wins.
    pub fn received_routes(&self) -> &BTreeMap<Prefix, RouteAttrs> {
        &self.received
    }

    /// Whether the routes are announced in graceful shutdown ([`Event::GracefulShutdown`]).
    pub fn in_graceful_shutdown(&self) -> bool {
        self.rib.in_graceful_shutdown()
    }

    /// Whether the peer negotiated graceful restart with us (RFC 4724: both sent the
    /// capability), so that [`Event::StopForRestart`] leaves it holding our routes.
    pub fn graceful_restart_negotiated(&self) -> bool {
        self.config.graceful_restart.is_some()
            && self
                .negotiated
                .as_ref()
                .is_some_and(|n| n.peer_graceful_restart.is_some())
    }

    /// Routes currently advertised to the peer on this connection.
    pub fn advertised_routes(&self) -> &Routes {
        self.rib.advertised()
    }

    /// The prefixes of [`Session::received_routes`] (a copy), for callers that ignore
    /// attributes.
    pub fn received_prefixes(&self) -> BTreeSet<Prefix> {
        self.received.keys().copied().collect()
    }

    /// The prefixes of [`Session::advertised_routes`] (a copy), for callers that ignore
    /// attributes.
    pub fn advertised_prefixes(&self) -> BTreeSet<Prefix> {
        self.rib.advertised().keys().copied().collect()
    }

    // ----- transitions -----

    fn transition(&mut self, to: State, reason: String) {
        let from = self.state;
        if from == to {
            return;
        }
        tracing::debug!(peer = %self.config.peer_addr, %from, %to, %reason, "bgp state change");
        self.state = to;
        if to == State::Established {
            // A working session starts the backoff over.
            self.retry_delay = self.config.connect_retry;
        }
        self.actions
            .push_back(Action::StateChanged { from, to, reason });
    }

    fn start(&mut self, now: Instant, reason: &str) {
        if self.state != State::Idle {
            return;
        }
        self.admin_down = false;
        self.timers.stop(Timer::ConnectRetry);
        if self.config.passive {
            self.transition(
                State::Active,
                format!("{reason}, waiting for the peer (passive)"),
            );
        } else {
            self.transition(State::Connect, reason.to_string());
            self.actions.push_back(Action::Connect);
            self.arm_connect_retry(now, false);
        }
    }

    /// ManualStop, with the Cease to send (`None`: none, for a graceful restart).
    fn stop(&mut self, now: Instant, cease: Option<StopReason>) {
        self.admin_down = true;
        if self.state == State::Idle {
            self.timers.stop_all();
            return;
        }
        let notification = cease
            .filter(|_| self.state.has_connection())
            .map(StopReason::notification);
        let reason = match cease {
            Some(StopReason::AdministrativeShutdown) => "manual stop",
            Some(StopReason::PeerDeconfigured) => "manual stop: peer de-configured",
            Some(StopReason::AdministrativeReset) => "manual stop: reset for a new configuration",
            Some(StopReason::BfdDown) => "BFD down: the path to the peer failed",
            None => "stopped for a graceful restart",
        };
        // A failed path is an error of the session (its last error says so); the others are
        // choices.
        let is_error = cease == Some(StopReason::BfdDown);
        self.go_idle(now, reason.into(), notification, is_error);
    }

    /// Arms ConnectRetry with the current backoff delay; after a failed attempt
    /// (`failed`), the delay doubles for the next one, up to the configured ceiling.
    fn arm_connect_retry(&mut self, now: Instant, failed: bool) {
        let delay = self.jitter.apply(self.retry_delay);
        self.timers.set(Timer::ConnectRetry, now + delay);
        if failed {
            let ceiling = self.config.connect_retry_max.max(self.config.connect_retry);
            self.retry_delay = (self.retry_delay * 2).min(ceiling);
        }
    }

    /// Leaves any state for Idle: optional NOTIFICATION, Close, forget the connection, and (unless
    /// stopped) arm the ConnectRetry timer for the automatic restart.
    fn go_idle(
        &mut self,
        now: Instant,
        reason: String,
        n: Option<NotificationError>,
        is_error: bool,
    ) {
        let from = self.state;
        if let Some(n) = n.filter(|_| from.has_connection()) {
            self.stats.notifications_sent += 1;
            self.push_send(wire::encode_notification(&n), 1);
        }
        if from.has_connection() || from == State::Connect {
            self.actions.push_back(Action::Close);
        }
        self.local_addr = None;
        self.origin = None;
        self.negotiated = None;
        self.framer.clear();
        self.rib.reset();
        self.received.clear();
        self.stats.prefixes_advertised = 0;
        self.stats.prefixes_advertised_by_family.clear();
        self.stats.prefixes_received = 0;
        self.timers.stop_all();
        if from == State::Established {
            self.stats.flaps += 1;
            self.stats.established_since = None;
        }
        if is_error {
            self.stats.last_error = Some(reason.clone());
        }
        if !self.admin_down {
            self.arm_connect_retry(now, true);
        }
        self.transition(State::Idle, reason);
    }

    /// Sends `n` and resets the session (the RFC answer to any error we detect).
    fn fail(&mut self, now: Instant, n: NotificationError) {
        let reason = format!("sent {n}");
        self.go_idle(now, reason, Some(n), true);
    }

    fn push_send(&mut self, bytes: Bytes, messages: u64) {
        self.stats.messages_sent += messages;
        self.actions.push_back(Action::Send(bytes));
    }

    fn tcp_connected(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        match self.state {
            State::Connect | State::Active => {}
            State::Idle => {
                // RFC 4271 §8.2.2: Idle refuses connections (a dial that completed after a
                // stop or an error).
                self.actions.push_back(Action::Close);
                return;
            }
            _ => {
                // A dial that completed while a connection is open cannot happen: every
                // transition to a connected state abandons the dial (Action::Close).
                tracing::debug!(peer = %self.config.peer_addr, %remote, "ignoring second connection");
                return;
            }
        }
        self.connected(now, local, remote, Origin::Outgoing);
    }

    /// Answers a connection the peer opened: accept, accept in place of the current one, or
    /// reject (the rules are [`incoming::decide`]'s).
    fn incoming(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        let verdict = incoming::decide(
            self.state,
            self.admin_down,
            self.origin,
            (self.config.router_id, self.config.local_as),
            (self.peer_id, self.config.peer_as),
        );
        match verdict {
            Verdict::Reject(n) => {
                tracing::debug!(peer = %self.config.peer_addr, %remote, state = %self.state, "refusing a connection: {n}");
                self.stats.notifications_sent += 1;
                self.actions
                    .push_back(Action::RejectIncoming(wire::encode_notification(&n)));
            }
            Verdict::Replace(n) => {
                // The old connection loses; the backoff is not its failure, so it stays as it was.
                let retry_delay = self.retry_delay;
                self.go_idle(now, format!("sent {n}"), Some(n), false);
                self.retry_delay = retry_delay;
                self.accept(now, local, remote);
            }
            Verdict::Accept => self.accept(now, local, remote),
        }
    }

    /// Serves an incoming connection from Idle (during backoff), Connect or Active.
    fn accept(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        match self.state {
            State::Idle => {
                // Only reached when not stopped (`incoming::decide`): the backoff wait.
                self.timers.stop(Timer::ConnectRetry);
                self.transition(
                    State::Active,
                    "the peer connected during the connect-retry wait".into(),
                );
            }
            // Our own dial is abandoned: the peer's connection is here already.
            State::Connect => self.actions.push_back(Action::Close),
            _ => {}
        }
        self.actions.push_back(Action::AcceptIncoming);
        self.connected(now, local, remote, Origin::Incoming);
    }

    /// A connection is up (either way): send our OPEN and wait for the peer's.
    fn connected(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, origin: Origin) {
        self.origin = Some(origin);
        self.local_addr = Some(local.ip().to_canonical());
        self.framer.clear();
        self.timers.stop(Timer::ConnectRetry);
        match wire::encode_open(&negotiate::local_open(&self.config)) {
            Ok(b) => self.push_send(b, 1),
            Err(e) => return self.go_idle(now, format!("internal error: {e}"), None, true),
        }
        self.timers.set(Timer::Hold, now + OPEN_HOLD_TIME);
        self.transition(
            State::OpenSent,
            format!("TCP connection established with {remote}"),
        );
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match (timer, self.state) {
            (Timer::ConnectRetry, State::Idle) if !self.admin_down => {
                self.start(now, "connect retry timer expired, restarting");
            }
            (Timer::ConnectRetry, State::Connect) => {
                self.actions.push_back(Action::Connect);
                self.arm_connect_retry(now, true);
            }
            (Timer::Hold, s) if s.has_connection() => {
                let n = NotificationError::hold_timer_expired();
                let reason = format!("hold timer expired; sent {n}");
                self.go_idle(now, reason, Some(n), true);
            }
            (Timer::Keepalive, State::OpenConfirm | State::Established) => {
                self.push_send(wire::encode_keepalive(), 1);
                self.arm_keepalive(now);
            }
            _ => {}
        }
    }

    fn arm_keepalive(&mut self, now: Instant) {
        if let Some(interval) = self.negotiated_keepalive().filter(|k| *k > 0) {
            let delay = self.jitter.apply(Duration::from_secs(u64::from(interval)));
            self.timers.set(Timer::Keepalive, now + delay);
        }
    }

    fn restart_hold(&mut self, now: Instant) {
        match self.negotiated_hold_time() {
            Some(0) => self.timers.stop(Timer::Hold),
            Some(hold) => self
                .timers
                .set(Timer::Hold, now + Duration::from_secs(u64::from(hold))),
            None => {}
        }
    }

    // ----- receive path -----

    fn receive(&mut self, now: Instant, bytes: &[u8]) {
        if !self.state.has_connection() {
            return; // stale bytes from a connection we already dropped
        }
        self.framer.push(bytes);
        while self.state.has_connection() {
            let frame = match self.framer.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(n) => return self.fail(now, n),
            };
            self.stats.messages_received += 1;
            match wire::decode_frame_with_limit(frame, self.framer.max_message_len()) {
                Ok(msg) => self.on_message(now, msg),
                Err(n) => return self.fail(now, n),
            }
        }
    }

    fn on_message(&mut self, now: Instant, msg: Message) {
        let kind = match &msg {
            Message::Open(_) => MessageKind::Open,
            Message::Update(_) => MessageKind::Update,
            Message::Notification(_) => MessageKind::Notification,
            Message::Keepalive => MessageKind::Keepalive,
            Message::RouteRefresh(_) => MessageKind::RouteRefresh,
        };
        if !fsm::accepts(self.state, kind) {
            let detail = format!("unexpected {kind:?} in {}", self.state);
            return self.fail(
                now,
                NotificationError::fsm(self.state.fsm_error_subcode(), detail),
            );
        }
        match msg {
            Message::Notification(n) => {
                self.stats.notifications_received += 1;
                self.go_idle(now, format!("received {n}"), None, true);
            }
            Message::Open(open) => self.on_open(now, &open),
            Message::Keepalive if self.state == State::OpenConfirm => self.on_established(now),
            Message::Keepalive => self.restart_hold(now),
            Message::Update(raw) => self.on_update(now, &raw),
            Message::RouteRefresh(family) => self.on_route_refresh(now, family),
        }
    }

    fn on_open(&mut self, now: Instant, open: &Open) {
        let cfg = &self.config;
        let checks = [
            (
                // RFC 7607 §2: AS 0 in an OPEN is Bad Peer AS. AS_TRANS is only the 2-octet
                // stand-in of RFC 6793, never an AS of its own in the capability (RFC 6793
                // names no error for it; Bad Peer AS, as FRR answers), whatever is configured.
                open.asn() == 0 || open.four_octet_as == Some(u32::from(wire::AS_TRANS)),
                2,
                format!("peer AS {} is not an AS a speaker can have", open.asn()),
            ),
            (
                open.asn() != cfg.peer_as,
                2,
                format!("peer AS {} but expected {}", open.asn(), cfg.peer_as),
            ),
            (
                matches!(open.hold_time, 1 | 2),
                6,
                format!("hold time {}", open.hold_time),
            ),
            (
                open.router_id.is_unspecified()
                    || (cfg.is_ibgp() && open.router_id == cfg.router_id),
                3,
                format!("BGP identifier {}", open.router_id),
            ),
        ];
        if let Some((_, subcode, detail)) = checks.into_iter().find(|c| c.0) {
            return self.fail(now, NotificationError::open(subcode, detail));
        }
        let negotiated = negotiate::negotiate(&negotiate::local_open(cfg), open);
        let reason = format!(
            "OPEN received from AS {} (router id {}), hold time {}",
            open.asn(),
            open.router_id,
            negotiated.hold_time
        );
        self.framer
            .set_max_message_len(negotiated.max_message_len());
        self.negotiated = Some(negotiated);
        self.peer_id = Some(open.router_id);
        self.push_send(wire::encode_keepalive(), 1);
        self.restart_hold(now);
        self.arm_keepalive(now);
        self.transition(State::OpenConfirm, reason);
    }

    fn on_established(&mut self, now: Instant) {
        self.restart_hold(now);
        self.stats.established_since = Some(now);
        self.transition(State::Established, "KEEPALIVE received".into());
        self.flush_routes(now, true);
    }

    fn update_context(&self) -> UpdateContext {
        UpdateContext {
            four_octet_as: self.negotiated.as_ref().is_some_and(|n| n.four_octet_as),
            is_ibgp: self.config.is_ibgp(),
        }
    }

    fn on_update(&mut self, now: Instant, raw: &RawUpdate) {
        self.stats.updates_received += 1;
        self.restart_hold(now);
        let add_path = self
            .negotiated
            .as_ref()
            .map(|n| n.add_path_receive.clone())
            .unwrap_or_default();
        let update = match raw.parse_add_path(self.update_context(), &add_path) {
            Ok(u) => u,
            Err(n) => return self.fail(now, n),
        };
        for p in &update.withdrawn {
            self.received.remove(p);
        }
        // RFC 4271 §6.3: a NEXT_HOP that is our own address is semantically incorrect; the
        // route is ignored, without a NOTIFICATION.
        let own_next_hop = update.next_hop.is_some() && update.next_hop == self.local_addr;
        let withdraw = update.disposition == wire::Disposition::TreatAsWithdraw;
        if own_next_hop && !withdraw {
            tracing::debug!(peer = %self.config.peer_addr, "UPDATE with our own address as NEXT_HOP ignored (RFC 4271 §6.3)");
        }
        if withdraw {
            tracing::debug!(peer = %self.config.peer_addr, "malformed UPDATE treated as withdraw (RFC 7606)");
        }
        if withdraw || own_next_hop {
            for p in &update.announced {
                self.received.remove(p);
            }
        } else {
            let attrs = update.route_attrs();
            for p in &update.announced {
                self.received.insert(*p, attrs.clone());
            }
        }
        self.stats.prefixes_received = self.received.len();
    }

    fn on_route_refresh(&mut self, now: Instant, family: Option<Family>) {
        let Some(family) = family else { return };
        if !self
            .negotiated
            .as_ref()
            .is_some_and(|n| n.families.contains(&family))
        {
            return; // RFC 2918 §4: ignore a refresh for a family we did not negotiate
        }
        match self.rib.refresh(family, &self.out_context()) {
            Ok(msgs) => self.send_updates(msgs),
            Err(e) => self.go_idle(now, format!("internal error: {e}"), None, true),
        }
    }

    // ----- send path -----

    /// How each family is announced on this connection (see `negotiate::out_context`).
    fn out_context(&self) -> OutContext {
        match (self.local_addr, self.negotiated.as_ref()) {
            (Some(local), Some(neg)) => negotiate::out_context(&self.config, local, neg),
            _ => OutContext::default(),
        }
    }

    fn flush_routes(&mut self, now: Instant, end_of_rib: bool) {
        let ctx = self.out_context();
        let mut msgs = match self.rib.flush(&ctx) {
            Ok(m) => m,
            Err(e) => return self.go_idle(now, format!("internal error: {e}"), None, true),
        };
        if end_of_rib {
            let families = self
                .negotiated
                .as_ref()
                .map(|n| n.families.clone())
                .unwrap_or_default();
            for family in families {
                match wire::encode_end_of_rib(family) {
                    Ok(m) => msgs.push(m),
                    Err(e) => return self.go_idle(now, format!("internal error: {e}"), None, true),
                }
            }
        }
        self.stats.prefixes_advertised = self.rib.advertised().len();
        self.stats.prefixes_advertised_by_family = [Family::Ipv4Unicast, Family::Ipv6Unicast]
            .into_iter()
            .map(|f| (f, self.rib.advertised_count(f)))
            .filter(|(_, n)| *n > 0)
            .collect();
        self.send_updates(msgs);
    }

    fn send_updates(&mut self, msgs: Vec<Bytes>) {
        if msgs.is_empty() {
            return;
        }
        let count = msgs.len() as u64;
        self.stats.updates_sent += count;
        let mut buf = BytesMut::with_capacity(msgs.iter().map(Bytes::len).sum());
        for m in msgs {
            buf.extend_from_slice(&m);
        }
        self.push_send(buf.freeze(), count);
    }
}
