//! Test harness: a scripted single session, and `Pair` — two sessions joined by in-memory byte
//! queues on a virtual clock (quinn-proto's `Pair` idea).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use porter_bgp::wire::{self, Message, Open, UpdateContext};
use porter_bgp::{
    Action, Event, Family, NotificationError, Prefix, RouteAttrs, Routes, Session, SessionConfig,
    State,
};

pub const A_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

pub fn a_config() -> SessionConfig {
    SessionConfig::new(65001, A_ADDR, 65000, IpAddr::V4(B_ADDR))
}

pub fn b_config() -> SessionConfig {
    let mut c = SessionConfig::new(65000, B_ADDR, 65001, IpAddr::V4(A_ADDR));
    c.passive = true;
    c
}

pub fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

pub fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// Decodes every message in every `Send` action; panics if any is not valid BGP. Accepts
/// extended (RFC 8654) sizes: size limits are asserted where they matter.
pub fn sent_messages(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(b) => Some(
                wire::decode_all_with_limit(b, wire::EXTENDED_MAX_MESSAGE_LEN)
                    .expect("every Send decodes"),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Length of every BGP message in a byte stream (walks the headers).
pub fn frame_lengths(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 19 {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        out.push(len);
        rest = &rest[len.min(rest.len())..];
    }
    out
}

/// The `(code, subcode)` of the NOTIFICATIONs in `actions`.
pub fn notifications(actions: &[Action]) -> Vec<NotificationError> {
    sent_messages(actions)
        .into_iter()
        .filter_map(|m| match m {
            Message::Notification(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// Asserts the RFC error sequence: Send(NOTIFICATION code/subcode), Close, StateChanged -> Idle.
pub fn assert_notified_and_closed(actions: &[Action], code: u8, subcode: u8) -> NotificationError {
    let pos = actions
        .iter()
        .position(|a| !notifications(std::slice::from_ref(a)).is_empty())
        .unwrap_or_else(|| panic!("no NOTIFICATION sent in {actions:?}"));
    let n = notifications(&actions[pos..=pos]);
    assert_eq!(n.len(), 1, "{actions:?}");
    assert_eq!((n[0].code, n[0].subcode), (code, subcode), "got {}", n[0]);
    assert_eq!(actions.get(pos + 1), Some(&Action::Close), "{actions:?}");
    assert!(
        matches!(
            actions.get(pos + 2),
            Some(Action::StateChanged {
                to: State::Idle,
                ..
            })
        ),
        "{actions:?}"
    );
    n[0].clone()
}

pub fn peer_open(asn: u32, router_id: Ipv4Addr, hold: u16) -> Bytes {
    wire::encode_open(&Open::local(asn, router_id, hold)).unwrap()
}

pub fn ctx() -> UpdateContext {
    UpdateContext {
        four_octet_as: true,
        is_ibgp: false,
    }
}

/// A session with `config`, connected (OpenSent: its OPEN sent and drained).
pub fn session_with(config: SessionConfig) -> (Session, Instant) {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let now = *BASE.get_or_init(Instant::now);
    let mut s = Session::new(config);
    s.handle(now, Event::Start);
    s.handle(
        now,
        Event::TcpConnected {
            local: sock(A_ADDR, 40000),
            remote: sock(B_ADDR, 179),
        },
    );
    assert_eq!(s.state(), State::OpenSent);
    drain(&mut s);
    (s, now)
}

/// A session (porter = AS 65001) driven to `state` against a scripted peer (AS 65000).
pub fn session_in(state: State) -> (Session, Instant) {
    // One fixed origin so that runs compare equal (stats carry instants).
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let now = *BASE.get_or_init(Instant::now);
    let mut s = Session::new(a_config());
    s.handle(now, Event::Start);
    s.handle(
        now,
        Event::TcpConnected {
            local: sock(A_ADDR, 40000),
            remote: sock(B_ADDR, 179),
        },
    );
    if state >= State::OpenConfirm {
        s.handle(now, Event::Received(peer_open(65000, B_ADDR, 90)));
    }
    if state >= State::Established {
        s.handle(now, Event::Received(wire::encode_keepalive()));
    }
    assert_eq!(s.state(), state);
    drain(&mut s);
    (s, now)
}

/// One in-flight item on a simulated TCP stream.
#[derive(Debug, Clone)]
pub enum Segment {
    Data(Bytes),
    Fin,
}

pub struct Node {
    pub session: Session,
    pub local: SocketAddr,
    /// Segments travelling towards this node.
    pub inbox: VecDeque<Segment>,
    /// Every action this node emitted, in order.
    pub log: Vec<Action>,
    /// A frozen node does nothing (SIGSTOP): no reads, no timers, no actions.
    pub frozen: bool,
}

/// Two sessions joined by in-memory queues: `a` dials (active), `b` listens (passive).
pub struct Pair {
    pub now: Instant,
    pub a: Node,
    pub b: Node,
    pub connected: bool,
}

impl Pair {
    pub fn new(a: SessionConfig, b: SessionConfig) -> Pair {
        Pair::with_addrs(a, b, sock(A_ADDR, 40000), sock(B_ADDR, 179))
    }

    /// Two sessions whose TCP ends have these addresses (e.g. IPv6 for an IPv6 session).
    pub fn with_addrs(
        a: SessionConfig,
        b: SessionConfig,
        a_local: SocketAddr,
        b_local: SocketAddr,
    ) -> Pair {
        let node = |c, local| Node {
            session: Session::new(c),
            local,
            inbox: VecDeque::new(),
            log: Vec::new(),
            frozen: false,
        };
        Pair {
            now: Instant::now(),
            a: node(a, a_local),
            b: node(b, b_local),
            connected: false,
        }
    }

    pub fn ebgp() -> Pair {
        Pair::new(a_config(), b_config())
    }

    pub fn start(&mut self) {
        self.b.session.handle(self.now, Event::Start);
        self.a.session.handle(self.now, Event::Start);
    }

    /// Runs one round: actions, then deliveries. Returns whether anything happened.
    fn step(&mut self) -> bool {
        let mut progress = false;
        for from_a in [true, false] {
            let (me, other) = if from_a {
                (&mut self.a, &mut self.b)
            } else {
                (&mut self.b, &mut self.a)
            };
            if me.frozen {
                continue;
            }
            while let Some(action) = me.session.poll_action() {
                progress = true;
                me.log.push(action.clone());
                match action {
                    Action::Connect => {
                        // Only `a` dials. The passive side accepts only in Active.
                        if !other.frozen
                            && other.session.state() == State::Active
                            && !self.connected
                        {
                            self.connected = true;
                            other.inbox.clear();
                            me.inbox.clear();
                            let (l, r) = (me.local, other.local);
                            me.session.handle(
                                self.now,
                                Event::TcpConnected {
                                    local: l,
                                    remote: r,
                                },
                            );
                            other.session.handle(
                                self.now,
                                Event::TcpConnected {
                                    local: r,
                                    remote: l,
                                },
                            );
                        } else {
                            me.session.handle(self.now, Event::TcpConnectFailed);
                        }
                    }
                    Action::Send(b) if self.connected => other.inbox.push_back(Segment::Data(b)),
                    Action::Send(_) => {}
                    Action::Close if self.connected => {
                        self.connected = false;
                        me.inbox.clear();
                        other.inbox.push_back(Segment::Fin);
                    }
                    // The pair never offers incoming connections (`Event::Incoming`); those
                    // are scripted in incoming.rs.
                    Action::Close
                    | Action::StateChanged { .. }
                    | Action::AcceptIncoming
                    | Action::RejectIncoming(_) => {}
                }
            }
        }
        for node in [&mut self.a, &mut self.b] {
            if node.frozen {
                continue;
            }
            while let Some(seg) = node.inbox.pop_front() {
                progress = true;
                let ev = match seg {
                    Segment::Data(b) => Event::Received(b),
                    Segment::Fin => Event::TcpClosed,
                };
                node.session.handle(self.now, ev);
            }
        }
        progress
    }

    /// Processes everything pending at the current instant, without advancing time.
    pub fn settle(&mut self) {
        let mut rounds = 0;
        while self.step() {
            rounds += 1;
            assert!(rounds < 10_000, "no quiescence");
        }
    }

    /// Advances virtual time to `now + d`, firing timers as their deadlines arrive.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.settle();
            let next = [&self.a, &self.b]
                .iter()
                .filter(|n| !n.frozen)
                .filter_map(|n| n.session.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for n in [&mut self.a, &mut self.b] {
                        if !n.frozen {
                            n.session.handle_timeout(self.now);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = end;
        self.settle();
    }

    pub fn set_routes(&mut self, on_a: bool, routes: BTreeSet<Prefix>) {
        let node = if on_a { &mut self.a } else { &mut self.b };
        node.session.handle(self.now, Event::set_routes(routes));
        self.settle();
    }

    pub fn set_route_attrs(&mut self, on_a: bool, routes: BTreeMap<Prefix, RouteAttrs>) {
        let node = if on_a { &mut self.a } else { &mut self.b };
        let routes = porter_bgp::routes(routes.iter().map(|(p, a)| (*p, a)));
        node.session
            .handle(self.now, Event::SetRoutes(Arc::new(routes)));
        self.settle();
    }

    pub fn both_established(&self) -> bool {
        self.a.session.state() == State::Established && self.b.session.state() == State::Established
    }
}

/// A session's shared routes as plain values, to compare with expectations.
pub fn owned(routes: &Routes) -> BTreeMap<Prefix, RouteAttrs> {
    routes.iter().map(|(p, a)| (*p, (**a).clone())).collect()
}

/// Replays the UPDATEs in a byte log into a set, like the peer's Adj-RIB-In.
pub fn apply_updates(view: &mut BTreeSet<Prefix>, actions: &[Action], max_len: usize) {
    let mut routes: BTreeMap<Prefix, RouteAttrs> =
        view.iter().map(|p| (*p, RouteAttrs::default())).collect();
    apply_routes(
        &mut routes,
        actions,
        &Replay {
            max_len,
            ..Replay::default()
        },
    );
    *view = routes.into_keys().collect();
}

/// How to decode a byte log: the receiving side's negotiated facts.
pub struct Replay {
    pub ctx: UpdateContext,
    pub add_path: BTreeSet<Family>,
    pub max_len: usize,
    /// The path identifier every NLRI must carry (0 without ADD-PATH).
    pub path_id: u32,
}

impl Default for Replay {
    fn default() -> Self {
        Replay {
            ctx: ctx(),
            add_path: BTreeSet::new(),
            max_len: 4096,
            path_id: 0,
        }
    }
}

/// Replays the UPDATEs in a byte log into `prefix -> attributes`, like the peer's Adj-RIB-In,
/// asserting every message's size and path identifiers.
pub fn apply_routes(view: &mut BTreeMap<Prefix, RouteAttrs>, actions: &[Action], r: &Replay) {
    for a in actions {
        if let Action::Send(bytes) = a {
            for len in frame_lengths(bytes) {
                assert!(
                    len <= r.max_len,
                    "message of {len} bytes, limit {}",
                    r.max_len
                );
            }
            for m in wire::decode_all_with_limit(bytes, r.max_len).unwrap() {
                if let Message::Update(raw) = m {
                    let u = raw.parse_add_path(r.ctx, &r.add_path).unwrap();
                    assert!(
                        u.announced_path_ids
                            .iter()
                            .chain(&u.withdrawn_path_ids)
                            .all(|id| *id == r.path_id),
                        "{u:?}"
                    );
                    for p in &u.withdrawn {
                        view.remove(p);
                    }
                    let attrs = u.route_attrs();
                    for p in &u.announced {
                        view.insert(*p, attrs.clone());
                    }
                }
            }
        }
    }
}

/// The prefixes a session currently receives from its peer.
pub fn received(s: &Session) -> BTreeSet<Prefix> {
    s.received_prefixes()
}
