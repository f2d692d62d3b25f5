//! `Responder`: one interface's answers and announcements for the addresses this node owns
//! there.
//!
//! The verbs are porter-bfd's: feed input ([`Responder::handle_frame`], answered at once; and
//! [`Responder::acquire`] / [`Responder::release`] when ownership changes), pass time in
//! ([`Responder::handle_timeout`]), drain output ([`Responder::poll_transmit`]) and ask when to
//! wake ([`Responder::poll_timeout`]). Who owns an address is decided elsewhere (porter-model's
//! announce core); this decides what goes on the wire for it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::addr::{ALL_NODES, Mac};
use crate::build::{self, Gratuitous};
use crate::frame::{self, Advertisement, Arp, ArpOp, Invalid, Packet, Skip, Solicitation};

/// When the announcements of a newly acquired address go out, after [`Responder::acquire`].
///
/// At once, because a graceful takeover should move clients within 200 ms; then three repeats
/// so that one lost frame (or a host that ignored one, such as a Linux entry updated less than
/// its 1 s `locktime` ago by a non-gratuitous reply) is made up within a second, and the last
/// by 2 s, the takeover target for a dead owner. RFC 5227 §2.3 sends 2 announcements 2 s apart
/// and RFC 4861 §7.2.6 up to 3 NAs 1 s apart; four in 2 s is denser than both, for speed,
/// and still only 8 small frames per IPv4 address. MetalLB repeats every 1.1 s for 5 s;
/// OpenELB sends once.
pub const ANNOUNCE_AT: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// What a sent frame is, for counting and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Answer to an ARP request.
    ArpReply,
    /// Neighbor Advertisement answering a solicitation (to all nodes, S = 0, for DAD).
    NdpReply,
    /// Gratuitous ARP, request form.
    GratuitousRequest,
    /// Gratuitous ARP, reply form.
    GratuitousReply,
    /// Unsolicited Neighbor Advertisement.
    UnsolicitedNa,
}

impl FrameKind {
    /// An announcement (gratuitous ARP or unsolicited NA), not an answer.
    pub fn is_gratuitous(self) -> bool {
        !matches!(self, FrameKind::ArpReply | FrameKind::NdpReply)
    }
}

/// A whole Ethernet frame to send on the interface.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it is.
    pub kind: FrameKind,
    /// The owned address it speaks for.
    pub addr: IpAddr,
    /// Ethernet header onwards, ready for an AF_PACKET SOCK_RAW socket.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}({}, {} bytes)",
            self.kind,
            self.addr,
            self.bytes.len()
        )
    }
}

/// Why a valid frame got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// Not ARP nor Neighbor Discovery.
    Unrelated,
    /// Sent from our own MAC: our frames seen again (AF_PACKET shows outgoing ones too).
    FromUs,
    /// Not a question: an ARP reply, a gratuitous ARP, or a Neighbor Advertisement, about an
    /// address we do not own.
    NotRequest,
    /// A request whose Ethernet destination is neither broadcast/multicast nor our MAC (a
    /// unicast refresh meant for another host, seen in promiscuous mode).
    NotForUs,
    /// A request for an address this node does not own here.
    NotOwned,
}

/// Another station claims an address we own: an ARP packet with it as sender address, or a
/// Neighbor Advertisement for it, from another MAC. Not answered nor defended (RFC 5227 §2.4
/// allows a defence); ownership is the announce core's decision, and during a takeover the
/// claimant is usually the rightful new owner while we have not yet heard so. The shell counts
/// and logs it: outside takeovers it means a duplicate address on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conflict {
    /// The owned address claimed.
    pub addr: IpAddr,
    /// The claimant's MAC.
    pub mac: Mac,
}

/// What became of a received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Answered: send this frame now.
    Reply(Frame),
    /// Valid, and nothing to say.
    Ignored(Ignored),
    /// Someone else claims an owned address.
    Conflict(Conflict),
    /// Invalid ARP or ND frame, dropped.
    Dropped(Invalid),
}

impl Verdict {
    /// The frame to send, if any.
    pub fn reply(self) -> Option<Frame> {
        match self {
            Verdict::Reply(frame) => Some(frame),
            _ => None,
        }
    }
}

/// An address [`Responder::acquire`] refuses: no host may answer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotUnicast(pub IpAddr);

impl fmt::Display for NotUnicast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a unicast host address", self.0)
    }
}

impl std::error::Error for NotUnicast {}

/// Counters of one interface, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Valid ARP requests and Neighbor Solicitations addressed to us (owned target or not).
    pub requests: u64,
    /// Answers returned by [`Responder::handle_frame`].
    pub replies: u64,
    /// Gratuitous ARPs and unsolicited NAs handed out by [`Responder::poll_transmit`].
    pub gratuitous: u64,
    /// [`Conflict`]s seen.
    pub conflicts: u64,
    /// Invalid frames, by [`Invalid::index`].
    pub dropped: [u64; Invalid::ALL.len()],
}

impl Counters {
    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: Invalid) -> u64 {
        self.dropped[reason.index()]
    }
}

/// An owned address and where its announcements stand.
#[derive(Debug, Clone, Copy)]
struct Owned {
    /// When the current series of announcements started ([`ANNOUNCE_AT`] counts from here).
    since: Instant,
    /// The next round's deadline; `None` once the series is over.
    next: Option<Instant>,
    /// Which acquisition this is, so that announcements queued for an earlier one (released
    /// since) are skipped when polled rather than searched for on release.
    generation: u64,
}

/// An announcement due, built into a frame when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announcement {
    GratuitousRequest(Ipv4Addr),
    GratuitousReply(Ipv4Addr),
    UnsolicitedNa(Ipv6Addr),
}

impl Announcement {
    fn addr(self) -> IpAddr {
        match self {
            Announcement::GratuitousRequest(a) | Announcement::GratuitousReply(a) => a.into(),
            Announcement::UnsolicitedNa(a) => a.into(),
        }
    }
}

/// The layer 2 responder of one interface.
#[derive(Debug, Clone)]
pub struct Responder {
    mac: Mac,
    owned: BTreeMap<IpAddr, Owned>,
    timers: BTreeSet<(Instant, IpAddr)>,
    /// Announcements due, built when polled (a few bytes each, not a frame: with thousands of
    /// addresses acquired at once the queue would otherwise hold every first round's frames).
    transmit: VecDeque<(Announcement, u64)>,
    /// The last acquisition's generation.
    generation: u64,
    counters: Counters,
}

impl Responder {
    /// A responder answering with `mac`, the interface's own address (never another node's:
    /// OpenELB's earlier spoofing of one was rejected by switches, its issue #359).
    pub fn new(mac: Mac) -> Responder {
        Responder {
            mac,
            owned: BTreeMap::new(),
            timers: BTreeSet::new(),
            transmit: VecDeque::new(),
            generation: 0,
            counters: Counters::default(),
        }
    }

    /// The MAC answered with.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// This node answers for `addr` here.
    pub fn owns(&self, addr: IpAddr) -> bool {
        self.owned.contains_key(&addr)
    }

    /// The owned addresses, in order.
    pub fn owned(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.owned.keys().copied()
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// This node now owns `addr`: answer for it, and announce it now and at [`ANNOUNCE_AT`].
    /// `Ok(false)` if it was owned already (its announcements go on as they were).
    pub fn acquire(&mut self, now: Instant, addr: IpAddr) -> Result<bool, NotUnicast> {
        let unicast = match addr {
            IpAddr::V4(a) => {
                !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
            }
            IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
        };
        if !unicast {
            return Err(NotUnicast(addr));
        }
        if self.owned.contains_key(&addr) {
            return Ok(false);
        }
        self.generation += 1;
        self.owned.insert(
            addr,
            Owned {
                since: now,
                next: None,
                generation: self.generation,
            },
        );
        self.announce_round(addr, now);
        Ok(true)
    }

    /// This node no longer owns `addr`: stop answering and announcing it. There is nothing to
    /// send: the new owner's announcements move the clients. `false` if it was not owned.
    pub fn release(&mut self, addr: IpAddr) -> bool {
        let Some(owned) = self.owned.remove(&addr) else {
            return false;
        };
        if let Some(at) = owned.next {
            self.timers.remove(&(at, addr));
        }
        true
    }

    /// Announces every owned address again from the first round, as after [`Self::acquire`]:
    /// for the shell when the link comes back up or the interface's MAC changed (then after
    /// [`Self::set_mac`]).
    pub fn reannounce(&mut self, now: Instant) {
        // Everything queued or armed is an announcement of an owned address: start over.
        self.timers.clear();
        self.transmit.clear();
        let addrs: Vec<IpAddr> = self.owned.keys().copied().collect();
        for addr in addrs {
            if let Some(owned) = self.owned.get_mut(&addr) {
                (owned.since, owned.next) = (now, None);
            }
            self.announce_round(addr, now);
        }
    }

    /// The interface's MAC changed: every frame from now on carries the new one.
    pub fn set_mac(&mut self, mac: Mac) {
        self.mac = mac;
    }

    /// Queues one round of `addr`'s announcements and arms the next one still ahead of `now`:
    /// a shell that wakes late sends one round, not every one it missed at once.
    fn announce_round(&mut self, addr: IpAddr, now: Instant) {
        let Some(owned) = self.owned.get_mut(&addr) else {
            return;
        };
        let (since, generation) = (owned.since, owned.generation);
        owned.next = ANNOUNCE_AT.iter().map(|o| since + *o).find(|at| *at > now);
        if let Some(at) = owned.next {
            self.timers.insert((at, addr));
        }
        match addr {
            IpAddr::V4(a) => self.transmit.extend([
                (Announcement::GratuitousRequest(a), generation),
                (Announcement::GratuitousReply(a), generation),
            ]),
            IpAddr::V6(a) => self
                .transmit
                .push_back((Announcement::UnsolicitedNa(a), generation)),
        }
    }

    /// Time has passed: queue the announcement rounds due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, addr)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let due = self.owned.get(&addr).is_some_and(|o| o.next == Some(at));
            if due {
                self.announce_round(addr, now);
            }
        }
    }

    /// The next frame to send (announcements), oldest first, with the current MAC.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        let next = loop {
            let (next, generation) = self.transmit.pop_front()?;
            let current = self.owned.get(&next.addr()).map(|o| o.generation);
            if current == Some(generation) {
                break next;
            }
        };
        let (kind, bytes) = match next {
            Announcement::GratuitousRequest(a) => (
                FrameKind::GratuitousRequest,
                build::gratuitous_arp(self.mac, a, Gratuitous::Request),
            ),
            Announcement::GratuitousReply(a) => (
                FrameKind::GratuitousReply,
                build::gratuitous_arp(self.mac, a, Gratuitous::Reply),
            ),
            Announcement::UnsolicitedNa(a) => {
                (FrameKind::UnsolicitedNa, build::unsolicited_na(self.mac, a))
            }
        };
        self.counters.gratuitous += 1;
        Some(Frame {
            kind,
            addr: next.addr(),
            bytes,
        })
    }

    /// When [`Self::handle_timeout`] has work, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Parses, checks and answers one received frame.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Verdict {
        let verdict = match frame::parse(frame) {
            Ok(Packet::Arp(arp)) => self.arp(&arp),
            Ok(Packet::Solicitation(ns)) => self.solicitation(&ns),
            Ok(Packet::Advertisement(na)) => self.advertisement(&na),
            Err(Skip::Unrelated) => Verdict::Ignored(Ignored::Unrelated),
            Err(Skip::Invalid(reason)) => Verdict::Dropped(reason),
        };
        match &verdict {
            Verdict::Reply(_) => self.counters.replies += 1,
            Verdict::Conflict(_) => self.counters.conflicts += 1,
            Verdict::Dropped(reason) => self.counters.dropped[reason.index()] += 1,
            Verdict::Ignored(_) => {}
        }
        verdict
    }

    /// RFC 826's receiver, reduced to what a responder for owned addresses needs.
    fn arp(&mut self, arp: &Arp) -> Verdict {
        if arp.sender_mac == self.mac || arp.eth_src == self.mac {
            return Verdict::Ignored(Ignored::FromUs);
        }
        if self.owns(arp.sender_ip.into()) {
            return Verdict::Conflict(Conflict {
                addr: arp.sender_ip.into(),
                mac: arp.sender_mac,
            });
        }
        // A request whose sender and target address are equal is an announcement, no question.
        if arp.op != ArpOp::Request || arp.sender_ip == arp.target_ip {
            return Verdict::Ignored(Ignored::NotRequest);
        }
        if arp.eth_dst != Mac::BROADCAST && arp.eth_dst != self.mac {
            return Verdict::Ignored(Ignored::NotForUs);
        }
        self.counters.requests += 1;
        if !self.owns(arp.target_ip.into()) {
            return Verdict::Ignored(Ignored::NotOwned);
        }
        // Probes (sender 0.0.0.0) are answered too, to 0.0.0.0 at the prober's MAC: RFC 5227
        // §2.1.1 has the prober give the address up.
        Verdict::Reply(Frame {
            kind: FrameKind::ArpReply,
            addr: arp.target_ip.into(),
            bytes: build::arp_reply(self.mac, arp.target_ip, arp.sender_mac, arp.sender_ip),
        })
    }

    /// RFC 4861 §7.2.3–§7.2.4 for a target we own.
    fn solicitation(&mut self, ns: &Solicitation) -> Verdict {
        if ns.eth_src == self.mac || ns.source_mac == Some(self.mac) {
            return Verdict::Ignored(Ignored::FromUs);
        }
        if !ns.eth_dst.is_multicast() && ns.eth_dst != self.mac {
            return Verdict::Ignored(Ignored::NotForUs);
        }
        self.counters.requests += 1;
        if !self.owns(ns.target.into()) {
            return Verdict::Ignored(Ignored::NotOwned);
        }
        let bytes = if ns.is_dad() {
            // §7.2.4: a DAD solicitation's sender has no address yet; answer all nodes, S = 0.
            build::neighbor_advertisement(self.mac, ns.target, Mac::ALL_NODES, ALL_NODES, false)
        } else {
            // To the solicitation's source at its Source Link-Layer Address; a unicast NS
            // (a reachability probe) may omit the option (§7.2.2), then the Ethernet source
            // is the asker, rather than resolving it first as §7.2.4 would.
            let to = ns.source_mac.unwrap_or(ns.eth_src);
            build::neighbor_advertisement(self.mac, ns.target, to, ns.src, true)
        };
        Verdict::Reply(Frame {
            kind: FrameKind::NdpReply,
            addr: ns.target.into(),
            bytes,
        })
    }

    fn advertisement(&mut self, na: &Advertisement) -> Verdict {
        let claimant = na.target_mac.unwrap_or(na.eth_src);
        if na.eth_src == self.mac || claimant == self.mac {
            return Verdict::Ignored(Ignored::FromUs);
        }
        if self.owns(na.target.into()) {
            return Verdict::Conflict(Conflict {
                addr: na.target.into(),
                mac: claimant,
            });
        }
        Verdict::Ignored(Ignored::NotRequest)
    }
}
