//! One speaker's view of the others: who is alive, whether it is cut off itself, and the
//! heartbeats that tell the others about it.
//!
//! Every speaker sends every other member a heartbeat each [`Config::interval`] and counts a
//! member alive while it has accepted a fresh message from it within [`Config::dead_after`] and
//! that message said "I hear you" (so both directions work: a one-way link counts as dead on
//! both sides). A member that says it is leaving is dead at once.
//!
//! A node that hears fewer than a quorum of the members within [`Config::isolated_after`]
//! (shorter than `dead_after` by two intervals) calls itself isolated and stops answering, so
//! a node cut off stops before any other takes its addresses over. After starting or
//! reconnecting, it answers again once it has heard every member, or once a silent member
//! would be counted dead anyway; until then its heartbeats say "not ready" and the others
//! keep its addresses.
//!
//! Freshness without clocks shared between nodes: a message counts only when its sequence
//! number is higher than the last one seen from its sender's boot, and a sender's new boot is
//! believed only when the message echoes the receiver's own boot id, which is random per start,
//! so no message recorded before it can carry it. Boots a sender has left behind are
//! remembered and refused.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use crate::message::{DecodeError, Key, Kind, Message};

/// Timers and the isolation rule; the same on every node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Between two heartbeats to each member.
    pub interval: Duration,
    /// A member not heard for this long is dead.
    pub dead_after: Duration,
    /// A member not heard for this long does not count towards this node's quorum; shorter than
    /// `dead_after` by at least one interval, so a node cut off stops answering before the
    /// others count it dead.
    pub isolated_after: Duration,
    /// How many members a node must hear to go on answering.
    pub quorum: Quorum,
}

impl Default for Config {
    /// 200 ms heartbeats; dead after 1.5 s (detection 1.3–1.5 s after the last heartbeat);
    /// isolated after 1.1 s; a majority.
    fn default() -> Config {
        Config {
            interval: Duration::from_millis(200),
            dead_after: Duration::from_millis(1500),
            isolated_after: Duration::from_millis(1100),
            quorum: Quorum::Majority,
        }
    }
}

impl Config {
    /// Whether the timers keep the split-brain rule: a node cut off stops (after
    /// `isolated_after` without its quorum) before the others count it dead. Its last heartbeat
    /// may have left up to one interval before the cut, so `isolated_after + interval` must
    /// stay below `dead_after`.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.interval.is_zero() {
            return Err(ConfigError::ZeroInterval);
        }
        if self.isolated_after + self.interval >= self.dead_after {
            return Err(ConfigError::IsolationTooLate);
        }
        Ok(())
    }
}

/// Timers that break the rules of [`Config::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No interval between heartbeats.
    #[error("the heartbeat interval must not be zero")]
    ZeroInterval,
    /// A cut-off node would stop after the others count it dead.
    #[error("isolated_after + interval must be less than dead_after")]
    IsolationTooLate,
}

/// The rule by which a node decides it is cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quorum {
    /// It and the members it hears are more than half of all members, or exactly half with the
    /// member whose name sorts first among them; a member that said it is leaving is not
    /// counted until heard from again. At most one side of a partition answers; when more than
    /// half the members die at once (rather than leave) the others stop too, until the plan
    /// (Node NotReady) drops the dead ones.
    Majority,
    /// It hears at least one other member (or is the only one). Every side of a partition
    /// answers for its own side, which on one layer 2 segment is harmless: a client that can
    /// reach both sides means the sides can reach each other.
    AnyPeer,
}

/// A datagram to send to a member, at its address, on the membership port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The member's address.
    pub to: IpAddr,
    /// The member's node name.
    pub node: String,
    /// The datagram.
    pub payload: Vec<u8>,
}

/// A change of who may answer: a member counted in or out, or this node itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The member's node name (this node's own name for its own readiness).
    pub node: String,
    /// Whether it is now among [`Membership::alive`].
    pub alive: bool,
    /// Why.
    pub why: Why,
}

/// Why a [`Change`] happened: for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// A member is heard both ways and says it is ready.
    Ready,
    /// A member says it is not ready (starting, reconnecting, cut off).
    NotReady,
    /// A member was not heard for `dead_after`, or stopped hearing this node.
    Silent,
    /// A member said it is leaving.
    Left,
    /// A member started again (a new boot), not yet ready.
    Restarted,
    /// This node hears fewer than a quorum.
    Isolated,
    /// This node is stopping ([`Membership::leave`]).
    Leaving,
}

/// A datagram that taught nothing; each is a counter for the shell's metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// Malformed, another version, or not authenticated.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Addressed to another node.
    #[error("addressed to another node")]
    NotForMe,
    /// From a node that is not a member (not in the plan, or this node itself).
    #[error("from a node that is not a member")]
    Stranger,
    /// A sequence number already seen from this boot, or a boot the sender has left behind.
    #[error("replayed or reordered")]
    Replay,
    /// A boot not yet proven fresh: its echo is not this node's boot id. Normal while two
    /// nodes meet (the reply will carry it), so no alarm.
    #[error("new boot, not yet proven")]
    Unproven,
}

/// Urgent heartbeats to one member between two regular ones; a handshake needs three (our
/// boot, "I hear you", "ready").
const URGENT_PER_INTERVAL: u8 = 4;

/// Boots a member has left behind, kept to refuse their replays: a member restarting more
/// often than this during one boot of ours could have the oldest replayed.
const RETIRED: usize = 8;

#[derive(Debug)]
struct Peer {
    addr: IpAddr,
    /// The boot proven fresh, and the highest sequence number accepted from it.
    boot: Option<(u64, u64)>,
    retired: VecDeque<u64>,
    /// What to echo to it: its newest boot heard, proven or not.
    echo: u64,
    /// When a fresh message was last accepted.
    heard: Option<Instant>,
    /// From its last fresh message.
    hears_me: bool,
    ready: bool,
    left: bool,
    /// A new boot replaced one we knew, and it has not been counted since.
    restarted: bool,
    /// Whether it is counted in [`Membership::alive`], as last reported.
    counted: bool,
    /// The next regular heartbeat.
    regular: Instant,
    /// Something it should learn at once (our boot, that we hear it, our readiness).
    urgent: bool,
    /// Urgent heartbeats left until the next regular one: a flood of (authenticated)
    /// triggers cannot make this node flood back.
    urgent_left: u8,
}

impl Peer {
    fn new(addr: IpAddr, now: Instant) -> Peer {
        Peer {
            addr,
            boot: None,
            retired: VecDeque::new(),
            echo: 0,
            heard: None,
            hears_me: false,
            ready: false,
            left: false,
            restarted: false,
            counted: false,
            regular: now,
            urgent: false,
            urgent_left: URGENT_PER_INTERVAL,
        }
    }

    fn due(&self, now: Instant) -> bool {
        now >= self.regular || (self.urgent && self.urgent_left > 0)
    }

    fn heard_within(&self, now: Instant, window: Duration) -> bool {
        self.heard.is_some_and(|at| now < at + window)
    }

    /// Heard both ways within `window`.
    fn mutual(&self, now: Instant, window: Duration) -> bool {
        !self.left && self.hears_me && self.heard_within(now, window)
    }
}

/// The membership core of one speaker (sans-IO; see the module documentation).
#[derive(Debug)]
pub struct Membership {
    config: Config,
    me: String,
    boot: u64,
    seq: u64,
    keys: Vec<Key>,
    peers: BTreeMap<String, Peer>,
    leaving: bool,
    isolated: bool,
    /// Since when it has had its quorum (None while isolated).
    connected: Option<Instant>,
    ready: bool,
    now: Instant,
    /// [`Membership::poll_timeout`]: at or before the next deadline.
    wake: Option<Instant>,
    transmits: VecDeque<Transmit>,
    changes: VecDeque<Change>,
}

impl Membership {
    /// A speaker named `me` (its node name), starting at `now`. `boot` must be random per start
    /// (the shell draws it from the OS): it is what makes old messages recognisable. `key` is
    /// the Secret's key; [`Membership::set_keys`] rotates it. It is not ready before the first
    /// [`Membership::set_members`], which tells it whom to hear.
    pub fn new(config: Config, me: &str, boot: NonZeroU64, key: Key, now: Instant) -> Membership {
        Membership {
            config,
            me: me.to_owned(),
            boot: boot.get(),
            seq: 0,
            keys: vec![key],
            peers: BTreeMap::new(),
            leaving: false,
            isolated: true,
            connected: None,
            ready: false,
            now,
            wake: None,
            transmits: VecDeque::new(),
            changes: VecDeque::new(),
        }
    }

    /// This node's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// This node's boot id.
    pub fn boot(&self) -> u64 {
        self.boot
    }

    /// The members from the plan, each node with the address to reach its speaker (this node
    /// may be among them; it is skipped). Members removed are forgotten; their addresses no
    /// longer count towards the quorum. Membership should follow the nodes that run a speaker
    /// for layer 2: a member that never answers counts against the quorum.
    pub fn set_members<'a, I>(&mut self, now: Instant, members: I)
    where
        I: IntoIterator<Item = (&'a str, IpAddr)>,
    {
        let now = self.advance(now);
        let mut next: BTreeMap<String, Peer> = BTreeMap::new();
        for (name, addr) in members {
            if name == self.me {
                continue;
            }
            let peer = match self.peers.remove(name) {
                Some(mut peer) => {
                    peer.addr = addr;
                    peer
                }
                None => next
                    .remove(name)
                    .map(|mut p| {
                        p.addr = addr;
                        p
                    })
                    .unwrap_or_else(|| Peer::new(addr, now)),
            };
            next.insert(name.to_owned(), peer);
        }
        self.peers = next;
        self.evaluate(now);
        self.send_due(now);
        self.wake = self.next_wake();
    }

    /// The keys to accept, the first one also to send with: during a rotation the Secret holds
    /// the new key and the old one until every speaker has the new one.
    pub fn set_keys(&mut self, keys: Vec<Key>) {
        if !keys.is_empty() {
            self.keys = keys;
        }
    }

    /// A datagram received on the membership port. The sender is known by the authenticated
    /// name inside, not by its source address (a node may send from any of its addresses).
    pub fn handle_packet(&mut self, now: Instant, datagram: &[u8]) -> Result<(), Ignored> {
        let now = self.advance(now);
        let message = Message::decode(datagram, &self.keys)?;
        if message.to != self.me {
            return Err(Ignored::NotForMe);
        }
        let before = self.standing(&message.from, now);
        let peer = self.peers.get_mut(&message.from).ok_or(Ignored::Stranger)?;
        if peer.retired.contains(&message.boot) {
            return Err(Ignored::Replay);
        }
        let mut urgent = false;
        match peer.boot {
            Some((boot, seq)) if boot == message.boot => {
                if message.seq <= seq {
                    return Err(Ignored::Replay);
                }
            }
            _ => {
                if peer.echo != message.boot {
                    // Tell it our boot at once, so it can prove its own.
                    peer.echo = message.boot;
                    urgent = true;
                }
                if message.echo != self.boot {
                    if urgent && !self.leaving {
                        peer.urgent = true;
                        if peer.due(now) {
                            self.send(&message.from, now);
                        }
                    }
                    return Err(Ignored::Unproven);
                }
                if let Some((old, _)) = peer.boot.take() {
                    if peer.retired.len() == RETIRED {
                        peer.retired.pop_front();
                    }
                    peer.retired.push_back(old);
                    peer.left = false;
                    peer.restarted = true;
                }
                peer.ready = false;
            }
        }
        let newly_heard = !peer.heard_within(now, self.config.isolated_after);
        peer.boot = Some((message.boot, message.seq));
        peer.echo = message.boot;
        peer.heard = Some(now);
        peer.hears_me = message.hears_you;
        match message.kind {
            Kind::Heartbeat => peer.ready = message.ready,
            Kind::Leaving => {
                peer.left = true;
                peer.ready = false;
            }
        }
        if message.kind == Kind::Heartbeat && (newly_heard || !message.hears_you) {
            urgent = true;
        }
        if urgent && !self.leaving {
            peer.urgent = true;
        }
        // A heartbeat that changes nothing that counts (the usual case) costs no pass over
        // all members: with a thousand of them, that pass per datagram would be quadratic.
        if self.standing(&message.from, now) != before {
            self.evaluate(now);
            self.send_due(now);
            self.wake = self.next_wake();
        } else if self.peers.get(&message.from).is_some_and(|p| p.due(now)) {
            self.send(&message.from, now);
        }
        Ok(())
    }

    /// Sends what is due and counts out members not heard in time.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.evaluate(now);
        self.send_due(now);
        self.wake = self.next_wake();
    }

    /// A graceful stop: this node stops answering at once and tells every member, so they take
    /// its addresses over without waiting for `dead_after`. It goes on repeating the message at
    /// each interval (for a lost datagram) until the shell exits.
    pub fn leave(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.leaving {
            return;
        }
        self.leaving = true;
        self.evaluate(now);
        let names: Vec<String> = self.peers.keys().cloned().collect();
        for name in names {
            self.send(&name, now);
        }
        self.wake = self.next_wake();
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next change of who may answer; the shell recomputes the owners on each.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    /// When [`Membership::handle_timeout`] is next due: the next heartbeat, or the moment a
    /// member's silence or this node's settling time changes who counts. It may come early
    /// (a member heard since pushed its deadline later): the call then changes nothing. Cheap,
    /// so the shell can ask after every datagram.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wake
    }

    /// The nodes that may answer, this one included while it is ready: the candidates to
    /// intersect with an address's eligible nodes before `porter_model::owner::owner`.
    pub fn alive(&self) -> impl Iterator<Item = &str> {
        let me = self.ready.then_some(self.me.as_str());
        me.into_iter().chain(
            self.peers
                .iter()
                .filter(|(_, p)| p.counted)
                .map(|(name, _)| name.as_str()),
        )
    }

    /// Whether this node may answer for the addresses it owns: not isolated, not leaving, and
    /// settled after starting or reconnecting.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Whether this node hears fewer than a quorum of the members.
    pub fn isolated(&self) -> bool {
        self.isolated
    }

    /// The members and their state, for `porter status` and metrics.
    pub fn members(&self) -> impl Iterator<Item = MemberState<'_>> {
        let now = self.now;
        let dead_after = self.config.dead_after;
        self.peers.iter().map(move |(name, p)| MemberState {
            node: name,
            addr: p.addr,
            alive: p.counted,
            heard: p.heard_within(now, dead_after),
            hears_me: p.hears_me,
            ready: p.ready,
            left: p.left,
            boot: p.boot.map(|(b, _)| b),
        })
    }

    /// What about a member counts towards `alive()`, the quorum and settling.
    fn standing(&self, name: &str, now: Instant) -> Option<(bool, bool, bool)> {
        let Config {
            dead_after,
            isolated_after,
            ..
        } = self.config;
        self.peers.get(name).map(|p| {
            let mutual = p.mutual(now, dead_after);
            (p.ready && mutual, mutual, p.mutual(now, isolated_after))
        })
    }

    /// The earliest deadline after now, over all members: a pass over all of them, so done
    /// after the calls that make one anyway, not per datagram.
    fn next_wake(&self) -> Option<Instant> {
        let now = self.now;
        let mut next: Option<Instant> = None;
        let mut consider = |at: Instant| {
            if at > now {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        for peer in self.peers.values() {
            consider(peer.regular);
            if let Some(at) = peer.heard {
                consider(at + self.config.isolated_after);
                consider(at + self.config.dead_after);
            }
        }
        if let Some(since) = self.connected.filter(|_| !self.ready) {
            consider(since + self.config.dead_after);
        }
        next
    }

    /// Time never goes back inside the core, whatever the shell passes.
    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// Sends to every member whose heartbeat is due (its interval, or an urgent one).
    fn send_due(&mut self, now: Instant) {
        let due: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| p.due(now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            self.send(&name, now);
        }
    }

    fn send(&mut self, name: &str, now: Instant) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        self.seq += 1;
        let message = Message {
            kind: if self.leaving {
                Kind::Leaving
            } else {
                Kind::Heartbeat
            },
            hears_you: peer.heard_within(now, self.config.isolated_after) && !peer.left,
            ready: self.ready,
            boot: self.boot,
            seq: self.seq,
            echo: peer.echo,
            from: self.me.clone(),
            to: name.to_owned(),
        };
        if now >= peer.regular {
            peer.regular = now + self.config.interval;
            peer.urgent_left = URGENT_PER_INTERVAL;
        } else {
            peer.urgent_left = peer.urgent_left.saturating_sub(1);
        }
        peer.urgent = false;
        self.transmits.push_back(Transmit {
            to: peer.addr,
            node: name.to_owned(),
            payload: message.encode(&self.keys[0]),
        });
    }

    /// Recomputes who counts, the quorum and readiness, queueing changes (and, when this node's
    /// readiness flips, a heartbeat to everyone at once).
    fn evaluate(&mut self, now: Instant) {
        let Config {
            dead_after,
            isolated_after,
            quorum,
            ..
        } = self.config;
        for (name, peer) in &mut self.peers {
            let counted = peer.ready && peer.mutual(now, dead_after);
            if counted != peer.counted {
                peer.counted = counted;
                let why = if counted {
                    peer.restarted = false;
                    Why::Ready
                } else if peer.left {
                    Why::Left
                } else if peer.restarted {
                    Why::Restarted
                } else if !peer.mutual(now, dead_after) {
                    Why::Silent
                } else {
                    Why::NotReady
                };
                self.changes.push_back(Change {
                    node: name.clone(),
                    alive: counted,
                    why,
                });
            }
        }

        let heard = self
            .peers
            .values()
            .filter(|p| p.mutual(now, isolated_after))
            .count();
        // A member that said it is leaving stopped answering before it said so: it is out of
        // the count until it is heard from again (a new boot), so one of two nodes stopping
        // gracefully leaves the other answering rather than cut off.
        let departed = self.peers.values().filter(|p| p.left).count();
        let total = self.peers.len() + 1 - departed;
        let side = heard + 1;
        let isolated = match quorum {
            Quorum::AnyPeer => total > 1 && heard == 0,
            Quorum::Majority => {
                // The tie-breaker: the member whose name sorts first among those counted, this
                // node included.
                let tie_won = match self.peers.iter().find(|(_, p)| !p.left) {
                    Some((first, peer)) if first.as_str() < self.me.as_str() => {
                        peer.mutual(now, isolated_after)
                    }
                    _ => true,
                };
                !(2 * side > total || (2 * side == total && tie_won))
            }
        };
        self.isolated = isolated;
        if isolated {
            self.connected = None;
        } else if self.connected.is_none() {
            self.connected = Some(now);
        }
        // Settled once every member is heard (one that left need not be), or after dead_after.
        let settled = self.connected.is_some_and(|since| {
            now >= since + dead_after
                || self
                    .peers
                    .values()
                    .filter(|p| !p.left)
                    .all(|p| p.mutual(now, dead_after))
        });
        let ready = !self.leaving && !isolated && settled;
        if ready != self.ready {
            self.ready = ready;
            let why = if ready {
                Why::Ready
            } else if self.leaving {
                Why::Leaving
            } else {
                Why::Isolated
            };
            self.changes.push_back(Change {
                node: self.me.clone(),
                alive: ready,
                why,
            });
            for peer in self.peers.values_mut() {
                peer.urgent = true;
            }
        }
    }
}

/// One member as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberState<'a> {
    /// Its node name.
    pub node: &'a str,
    /// Where its heartbeats go.
    pub addr: IpAddr,
    /// Counted among [`Membership::alive`].
    pub alive: bool,
    /// A fresh message from it within `dead_after`.
    pub heard: bool,
    /// Its last message said it hears this node.
    pub hears_me: bool,
    /// Its last message said it is ready.
    pub ready: bool,
    /// It said it is leaving.
    pub left: bool,
    /// Its boot id, once proven.
    pub boot: Option<u64>,
}
