//! Checks shared by the fuzz targets and the seed generator (`cargo run --example gen_seeds`).
//!
//! Each `check_*` function panics when an invariant breaks; libFuzzer reports the panic as a
//! crash. Keeping them in a library lets the seed generator replay every seed on stable
//! without libFuzzer.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use porter_bgp::wire::{self, Framer, Message, UpdateContext};
use porter_bgp::{Action, Event, Prefix, Session, SessionConfig, State, StopReason};
use porter_ipam::IpRange;

// ----- bgp_decode -----

/// Every `UpdateContext`: 2-/4-octet AS paths, eBGP/iBGP dispositions.
const CONTEXTS: [UpdateContext; 4] = [
    UpdateContext {
        four_octet_as: false,
        is_ibgp: false,
    },
    UpdateContext {
        four_octet_as: true,
        is_ibgp: false,
    },
    UpdateContext {
        four_octet_as: false,
        is_ibgp: true,
    },
    UpdateContext {
        four_octet_as: true,
        is_ibgp: true,
    },
];

/// Frames produced from a stream delivered in `chunks`, and the header error that stopped it.
fn frames<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<Bytes>, Option<(u8, u8)>) {
    let mut framer = Framer::default();
    let mut out = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => break,
                Err(n) => return (out, Some((n.code, n.subcode))),
            }
        }
    }
    (out, None)
}

/// The wire decoder on arbitrary bytes: no panic, framing independent of TCP chunking, and
/// whatever decodes can be inspected and re-encoded.
pub fn check_decode(data: &[u8]) {
    let all = wire::decode_all(data);

    // The same stream in chunks of `data[0]` bytes must frame identically.
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let whole = frames(std::iter::once(data));
    let chunked = frames(data.chunks(chunk));
    assert_eq!(
        whole, chunked,
        "framing depends on chunking (chunk {chunk})"
    );

    // Decode frame by frame, past messages `decode_all` stops at.
    for frame in whole.0 {
        if let Ok(msg) = wire::decode_frame(frame) {
            check_message(&msg);
        }
    }
    if let Ok(msgs) = all {
        for msg in &msgs {
            check_message(msg);
        }
    }
}

fn check_message(msg: &Message) {
    match msg {
        Message::Update(raw) => {
            for ctx in CONTEXTS {
                if let Ok(update) = raw.parse(ctx) {
                    for p in update.announced.iter().chain(&update.withdrawn) {
                        // Parsed prefixes are canonical (host bits clear).
                        assert_eq!(Prefix::new(p.addr(), p.len()), Ok(*p));
                    }
                }
            }
        }
        Message::Open(open) => {
            let _ = (open.asn(), open.effective_families());
            // What Porter understood of an OPEN survives a re-encode.
            let bytes = wire::encode_open(open).expect("a decoded OPEN re-encodes");
            let again = match wire::decode_all(&bytes).as_deref() {
                Ok([Message::Open(o)]) => o.clone(),
                other => panic!("re-encoded OPEN does not decode: {other:?}"),
            };
            assert_eq!(
                (
                    again.my_as,
                    again.hold_time,
                    again.router_id,
                    again.four_octet_as,
                    &again.families,
                    again.route_refresh
                ),
                (
                    open.my_as,
                    open.hold_time,
                    open.router_id,
                    open.four_octet_as,
                    &open.families,
                    open.route_refresh
                )
            );
        }
        Message::Notification(n) => {
            let _ = n.to_string();
            let bytes = wire::encode_notification(n);
            match wire::decode_all(&bytes).as_deref() {
                Ok([Message::Notification(m)]) => {
                    assert_eq!((m.code, m.subcode, &m.data), (n.code, n.subcode, &n.data));
                }
                other => panic!("re-encoded NOTIFICATION does not decode: {other:?}"),
            }
        }
        _ => {}
    }
}

// ----- bgp_session -----

/// A fuzzer-chosen peer and what happens to the session.
#[derive(Debug, Arbitrary)]
pub struct Script {
    local_as: AsChoice,
    peer_as: AsChoice,
    passive: bool,
    hold_time: u16,
    /// Our end of the TCP connection is IPv6 (announces IPv6 prefixes instead of IPv4).
    ipv6_local: bool,
    ops: Vec<Op>,
}

/// ASNs from a small set, so that OPENs often match (2-octet, 4-octet, equal = iBGP).
#[derive(Debug, Clone, Copy, Arbitrary)]
enum AsChoice {
    A,
    B,
    Big,
    Any(u32),
}

impl AsChoice {
    fn asn(self) -> u32 {
        match self {
            AsChoice::A => 64512,
            AsChoice::B => 64513,
            AsChoice::Big => 4_200_000_000,
            AsChoice::Any(a) => a,
        }
    }
}

/// One step of the script.
#[derive(Debug, Arbitrary)]
enum Op {
    /// Raw bytes from the peer.
    Received(Vec<u8>),
    /// A well-formed message from the peer, delivered in chunks of `split` bytes.
    Peer {
        msg: PeerMsg,
        split: u8,
    },
    /// Time passes (milliseconds, up to ~18 minutes with the multiplier).
    Advance {
        ms: u16,
        times_64: bool,
    },
    /// Time jumps to the session's next timer deadline.
    AdvanceToDeadline,
    /// New desired routes: /32s (or /128s) from a small space.
    SetRoutes(Vec<u8>),
    TcpConnected,
    TcpConnectFailed,
    TcpClosed,
    Stop,
    /// BFD declared the path down (Cease/10), the session waits for a Start.
    StopBfdDown,
    /// Graceful shutdown (RFC 8326): every route re-announced with GRACEFUL_SHUTDOWN.
    GracefulShutdown,
    Start,
    /// The peer opens a connection to us (accepted, replacing, or refused with a Cease).
    Incoming,
}

#[derive(Debug, Arbitrary)]
enum PeerMsg {
    Open {
        asn: AsChoice,
        hold_time: u16,
        four_octet: bool,
        ipv4: bool,
        ipv6: bool,
        route_refresh: bool,
        router_id: u32,
        extra_caps: Vec<(Cap, Vec<u8>)>,
    },
    Keepalive,
    Update {
        withdrawn: Vec<u8>,
        announced: Vec<u8>,
        ipv6: bool,
        as_path: Vec<u32>,
        four_octet: bool,
        extra_attrs: Vec<(u8, u8, Vec<u8>)>,
    },
    EndOfRib {
        ipv6: bool,
    },
    Notification {
        code: u8,
        subcode: u8,
        data: Vec<u8>,
    },
    RouteRefresh {
        afi: u16,
        safi: u8,
    },
}

/// Capability codes worth steering the fuzzer towards; the value bytes stay arbitrary.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Cap {
    ExtendedNextHop,
    ExtendedMessage,
    GracefulRestart,
    AddPath,
    EnhancedRouteRefresh,
    Other(u8),
}

impl Cap {
    fn code(self) -> u8 {
        match self {
            Cap::ExtendedNextHop => 5,
            Cap::ExtendedMessage => 6,
            Cap::GracefulRestart => 64,
            Cap::AddPath => 69,
            Cap::EnhancedRouteRefresh => 70,
            Cap::Other(c) => c,
        }
    }
}

/// Hand-written encoders for peer messages: independent of porter-bgp's encoder API, and free
/// to send what Porter itself never would (any capability, any attribute).
pub mod msg {
    use std::net::IpAddr;

    use porter_bgp::Prefix;

    /// A whole message: marker, length, type, body (the body is cut to fit 4096 bytes).
    pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let body = &body[..body.len().min(4096 - 19)];
        let mut out = vec![0xff; 16];
        out.extend_from_slice(&u16::try_from(19 + body.len()).unwrap_or(4096).to_be_bytes());
        out.push(kind);
        out.extend_from_slice(body);
        out
    }

    /// OPEN with one capabilities parameter holding `caps` (code, value).
    pub fn open(my_as: u16, hold_time: u16, router_id: u32, caps: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut param = Vec::new();
        for (code, value) in caps {
            let value = &value[..value.len().min(255)];
            // The optional parameters length (this parameter + 2) must fit one octet.
            if param.len() + 2 + value.len() > 253 {
                break;
            }
            param.push(*code);
            param.push(value.len() as u8);
            param.extend_from_slice(value);
        }
        let mut body = vec![4];
        body.extend_from_slice(&my_as.to_be_bytes());
        body.extend_from_slice(&hold_time.to_be_bytes());
        body.extend_from_slice(&router_id.to_be_bytes());
        if param.is_empty() {
            body.push(0);
        } else {
            body.push((param.len() + 2) as u8);
            body.push(2);
            body.push(param.len() as u8);
            body.extend_from_slice(&param);
        }
        message(1, &body)
    }

    /// Multiprotocol capability value.
    pub fn cap_mp(afi: u16, safi: u8) -> (u8, Vec<u8>) {
        let mut v = afi.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, safi]);
        (1, v)
    }

    /// NLRI encoding of a prefix (length, then the significant octets).
    pub fn nlri(p: &Prefix) -> Vec<u8> {
        let octets: Vec<u8> = match p.addr() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mut out = vec![p.len()];
        out.extend_from_slice(&octets[..usize::from(p.len()).div_ceil(8)]);
        out
    }

    /// A path attribute, with the extended-length flag when needed.
    pub fn attr(flags: u8, kind: u8, value: &[u8]) -> Vec<u8> {
        let value = &value[..value.len().min(4000)];
        if value.len() > 255 || flags & 0x10 != 0 {
            let mut out = vec![flags | 0x10, kind];
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value);
            out
        } else {
            let mut out = vec![flags, kind, value.len() as u8];
            out.extend_from_slice(value);
            out
        }
    }

    /// AS_PATH as one AS_SEQUENCE (empty when `asns` is).
    pub fn as_path(asns: &[u32], four_octet: bool) -> Vec<u8> {
        let mut v = Vec::new();
        if !asns.is_empty() {
            v.extend_from_slice(&[2, asns.len().min(255) as u8]);
            for a in asns.iter().take(255) {
                if four_octet {
                    v.extend_from_slice(&a.to_be_bytes());
                } else {
                    v.extend_from_slice(&(u16::try_from(*a).unwrap_or(23456)).to_be_bytes());
                }
            }
        }
        attr(0x40, 2, &v)
    }

    /// UPDATE body from its three parts.
    pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
        body.extend_from_slice(withdrawn);
        body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        body.extend_from_slice(attrs);
        body.extend_from_slice(nlri);
        message(2, &body)
    }

    /// MP_REACH_NLRI (IPv6 unicast) value.
    pub fn mp_reach_v6(next_hop: [u8; 16], prefixes: &[Prefix]) -> Vec<u8> {
        let mut v = vec![0, 2, 1, 16];
        v.extend_from_slice(&next_hop);
        v.push(0);
        for p in prefixes {
            v.extend_from_slice(&nlri(p));
        }
        attr(0x80, 14, &v)
    }

    /// MP_UNREACH_NLRI (IPv6 unicast) value.
    pub fn mp_unreach_v6(prefixes: &[Prefix]) -> Vec<u8> {
        let mut v = vec![0, 2, 1];
        for p in prefixes {
            v.extend_from_slice(&nlri(p));
        }
        attr(0x80, 15, &v)
    }

    /// NOTIFICATION.
    pub fn notification(code: u8, subcode: u8, data: &[u8]) -> Vec<u8> {
        let mut body = vec![code, subcode];
        body.extend_from_slice(data);
        message(3, &body)
    }

    /// ROUTE-REFRESH.
    pub fn route_refresh(afi: u16, safi: u8) -> Vec<u8> {
        let mut body = afi.to_be_bytes().to_vec();
        body.extend_from_slice(&[0, safi]);
        message(5, &body)
    }
}

fn host(ipv6: bool, last: u8) -> Prefix {
    if ipv6 {
        Prefix::host(IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            0,
            u16::from(last),
        )))
    } else {
        Prefix::host(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
    }
}

fn hosts(ipv6: bool, lasts: &[u8]) -> Vec<Prefix> {
    let set: BTreeSet<Prefix> = lasts.iter().map(|l| host(ipv6, *l)).collect();
    set.into_iter().collect()
}

impl PeerMsg {
    fn encode(&self) -> Vec<u8> {
        match self {
            PeerMsg::Open {
                asn,
                hold_time,
                four_octet,
                ipv4,
                ipv6,
                route_refresh,
                router_id,
                extra_caps,
            } => {
                let asn = asn.asn();
                let mut caps = Vec::new();
                if *ipv4 {
                    caps.push(msg::cap_mp(1, 1));
                }
                if *ipv6 {
                    caps.push(msg::cap_mp(2, 1));
                }
                if *route_refresh {
                    caps.push((2, vec![]));
                }
                if *four_octet {
                    caps.push((65, asn.to_be_bytes().to_vec()));
                }
                caps.extend(extra_caps.iter().map(|(c, v)| (c.code(), v.clone())));
                let my_as = u16::try_from(asn).unwrap_or(wire::AS_TRANS);
                msg::open(my_as, *hold_time, *router_id, &caps)
            }
            PeerMsg::Keepalive => msg::message(4, &[]),
            PeerMsg::Update {
                withdrawn,
                announced,
                ipv6,
                as_path,
                four_octet,
                extra_attrs,
            } => {
                let (withdrawn, announced) = (hosts(*ipv6, withdrawn), hosts(*ipv6, announced));
                let mut attrs = Vec::new();
                if !announced.is_empty() {
                    attrs.extend(msg::attr(0x40, 1, &[0])); // ORIGIN IGP
                    let asns: Vec<u32> = as_path.iter().take(16).copied().collect();
                    attrs.extend(msg::as_path(&asns, *four_octet));
                }
                for (flags, kind, value) in extra_attrs.iter().take(8) {
                    attrs.extend(msg::attr(*flags & 0xf0, *kind, value));
                }
                if *ipv6 {
                    if !announced.is_empty() {
                        let nh = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1).octets();
                        attrs.extend(msg::mp_reach_v6(nh, &announced));
                    }
                    if !withdrawn.is_empty() {
                        attrs.extend(msg::mp_unreach_v6(&withdrawn));
                    }
                    msg::update(&[], &attrs, &[])
                } else {
                    if !announced.is_empty() {
                        attrs.extend(msg::attr(0x40, 3, &[192, 0, 2, 1])); // NEXT_HOP
                    }
                    let w: Vec<u8> = withdrawn.iter().flat_map(msg::nlri).collect();
                    let a: Vec<u8> = announced.iter().flat_map(msg::nlri).collect();
                    msg::update(&w, &attrs, &a)
                }
            }
            PeerMsg::EndOfRib { ipv6: false } => msg::update(&[], &[], &[]),
            PeerMsg::EndOfRib { ipv6: true } => msg::update(&[], &msg::mp_unreach_v6(&[]), &[]),
            PeerMsg::Notification {
                code,
                subcode,
                data,
            } => msg::notification(*code, *subcode, data),
            PeerMsg::RouteRefresh { afi, safi } => msg::route_refresh(*afi % 4, *safi),
        }
    }
}

/// Milestones a script reached (the seed generator keeps the smallest input per milestone).
pub type Milestones = BTreeSet<&'static str>;

/// Runs the script against one session, checking the action stream after every event.
pub fn check_session(script: &Script) -> Milestones {
    let local_ip = if script.ipv6_local {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
    };
    let peer_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254));
    let mut config = SessionConfig::new(
        script.local_as.asn(),
        Ipv4Addr::new(10, 0, 0, 1),
        script.peer_as.asn(),
        peer_ip,
    );
    config.passive = script.passive;
    config.hold_time = script.hold_time;
    let mut session = Session::new(config);
    let mut checker = Checker::default();
    let mut now = Instant::now();
    let local = SocketAddr::new(local_ip, 40000);
    let remote = SocketAddr::new(peer_ip, 179);

    session.handle(now, Event::Start);
    checker.drain(&mut session);
    session.handle(now, Event::TcpConnected { local, remote });
    checker.drain(&mut session);

    for op in script.ops.iter().take(256) {
        match op {
            Op::Received(bytes) => {
                session.handle(now, Event::Received(Bytes::copy_from_slice(bytes)))
            }
            Op::Peer { msg, split } => {
                for chunk in msg.encode().chunks(usize::from(*split).max(1)) {
                    session.handle(now, Event::Received(Bytes::copy_from_slice(chunk)));
                    checker.drain(&mut session);
                }
            }
            Op::Advance { ms, times_64 } => {
                let ms = u64::from(*ms) * if *times_64 { 64 } else { 1 };
                now += Duration::from_millis(ms);
                session.handle_timeout(now);
            }
            Op::AdvanceToDeadline => {
                if let Some(deadline) = session.poll_timeout() {
                    now = now.max(deadline);
                    session.handle_timeout(now);
                }
            }
            Op::SetRoutes(lasts) => {
                let routes: BTreeSet<Prefix> = lasts
                    .iter()
                    .take(64)
                    .map(|l| host(l & 1 == 1, *l))
                    .collect();
                checker.desired = routes.clone();
                session.handle(now, Event::set_routes(routes));
            }
            Op::TcpConnected => session.handle(now, Event::TcpConnected { local, remote }),
            Op::TcpConnectFailed => session.handle(now, Event::TcpConnectFailed),
            Op::TcpClosed => session.handle(now, Event::TcpClosed),
            Op::Stop => session.handle(now, Event::Stop(StopReason::AdministrativeShutdown)),
            Op::StopBfdDown => session.handle(now, Event::Stop(StopReason::BfdDown)),
            Op::GracefulShutdown => session.handle(now, Event::GracefulShutdown),
            Op::Start => session.handle(now, Event::Start),
            Op::Incoming => session.handle(
                now,
                Event::Incoming {
                    local,
                    remote: SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)),
                },
            ),
        }
        checker.drain(&mut session);
        checker.check_state(&session);
        let m = &mut checker.milestones;
        if session.state() == State::Established {
            m.insert("established");
        }
        if !session.advertised_prefixes().is_empty() {
            m.insert("advertised");
        }
        if !session.received_prefixes().is_empty() {
            m.insert("received");
        }
        if matches!(op, Op::Advance { .. } | Op::AdvanceToDeadline) {
            // Every due timer fired: the shell would otherwise spin.
            assert!(
                session.poll_timeout().is_none_or(|d| d > now),
                "a timer is still due after handle_timeout"
            );
        }
    }
    checker.milestones
}

#[derive(Default)]
struct Checker {
    state: Option<State>,
    desired: BTreeSet<Prefix>,
    milestones: Milestones,
}

impl Checker {
    /// Drains the actions, checking each one.
    fn drain(&mut self, session: &mut Session) {
        let mut close_due = false;
        while let Some(action) = session.poll_action() {
            if close_due {
                assert_eq!(
                    action,
                    Action::Close,
                    "a NOTIFICATION must be followed by Close"
                );
                close_due = false;
            }
            match &action {
                Action::Send(bytes) => {
                    let msgs = wire::decode_all(bytes)
                        .unwrap_or_else(|e| panic!("Send does not decode: {e}: {bytes:02x?}"));
                    assert!(!msgs.is_empty(), "empty Send");
                    for msg in &msgs {
                        match msg {
                            Message::Notification(n) => {
                                close_due = true;
                                self.milestones.insert(match n.code {
                                    4 => "sent hold timer expired",
                                    6 => "sent cease",
                                    _ => "sent error",
                                });
                            }
                            // Our own UPDATEs are clean under one of the contexts.
                            Message::Update(raw) => assert!(
                                CONTEXTS.iter().any(|ctx| raw
                                    .parse(*ctx)
                                    .is_ok_and(|u| { u.disposition == wire::Disposition::Clean })),
                                "own UPDATE does not parse cleanly: {raw:?}"
                            ),
                            _ => {}
                        }
                    }
                }
                Action::StateChanged { from, to, .. } => {
                    assert_ne!(from, to, "StateChanged to the same state");
                    if let Some(prev) = self.state {
                        assert_eq!(prev, *from, "StateChanged.from is not the previous state");
                    }
                    self.state = Some(*to);
                }
                _ => {}
            }
        }
        assert!(!close_due, "NOTIFICATION sent without a Close after it");
    }

    fn check_state(&self, session: &Session) {
        if let Some(state) = self.state {
            assert_eq!(
                state,
                session.state(),
                "StateChanged actions disagree with state()"
            );
        }
        let advertised = session.advertised_prefixes();
        assert!(
            advertised.is_subset(&self.desired),
            "advertised {advertised:?} not in desired {:?}",
            self.desired
        );
        if session.state() != State::Established {
            assert!(
                advertised.is_empty(),
                "advertised while {}",
                session.state()
            );
        }
        assert_eq!(session.stats().prefixes_advertised, advertised.len());
        assert_eq!(
            session.stats().prefixes_received,
            session.received_prefixes().len()
        );
    }
}

// ----- eip_range -----

/// `IpRange::parse` on any string: no panic, and a parsed range is sound and round-trips.
pub fn check_range(s: &str) {
    let Ok(range) = IpRange::parse(s) else {
        return;
    };
    assert!(range.first() <= range.last(), "{s:?}: first > last");
    assert!(range.size() >= 1, "{s:?}: empty range");
    assert!(range.contains(range.first()) && range.contains(range.last()));
    assert_eq!(range.nth(0), Some(range.first()));
    if range.size() != u128::MAX {
        // (Only ::/0 saturates the size.)
        assert_eq!(range.offset_of(range.last()), Some(range.size() - 1));
        assert_eq!(range.nth(range.size() - 1), Some(range.last()));
        assert_eq!(range.nth(range.size()), None);
    }
    let shown = range.to_string();
    assert_eq!(
        IpRange::parse(&shown),
        Ok(range),
        "{s:?} displays as {shown:?}"
    );
}

// ----- manifests -----

/// The manifests reader on any text: no panic, no loop, and the counts hold together. The
/// stream is cut into documents the same way whether it comes whole or line by line; each
/// document costs at most one error (a warning per unknown field aside), and every diagnostic
/// names a document of the stream; the snapshot built from the objects holds no more than
/// they are.
pub fn check_manifests(text: &str) {
    use porter_model::Snapshot;
    use porter_model::manifests::{Splitter, documents, parse_documents};

    let whole: Vec<_> = documents(text).collect();
    let mut splitter = Splitter::new();
    // Lines without their line break, as a reader that strips them would feed them.
    let mut fed: Vec<_> = text
        .split_inclusive('\n')
        .filter_map(|line| splitter.push_line(line.strip_suffix('\n').unwrap_or(line)))
        .collect();
    fed.extend(splitter.finish());
    let positions = |docs: &[porter_model::manifests::Document]| -> Vec<(usize, usize)> {
        docs.iter().map(|d| (d.index, d.first_line)).collect()
    };
    assert_eq!(positions(&whole), positions(&fed), "{text:?}");
    let lines = text.split_inclusive('\n').count();
    for (i, d) in whole.iter().enumerate() {
        assert_eq!(d.index, i + 1);
        assert!(d.first_line >= 1 && d.first_line <= lines.max(1), "{d:?}");
        assert!(i == 0 || d.first_line > whole[i - 1].first_line);
    }

    for document in &whole {
        fast_path_agrees::<serde_json::Value>(&document.text);
        fast_path_agrees::<porter_model::thin::ThinService>(&document.text);
        fast_path_agrees::<porter_model::thin::ThinEndpointSlice>(&document.text);
    }
    thin_reads_what_whole_reads(text);

    let (objects, diagnostics) = parse_documents("fuzz.yaml", text);
    let mut errors_per_document = std::collections::BTreeMap::<usize, usize>::new();
    for diagnostic in &diagnostics {
        let index: usize = diagnostic
            .source
            .strip_prefix("fuzz.yaml document ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{diagnostic} names no document"));
        assert!(index >= 1 && index <= whole.len(), "{diagnostic}");
        if !diagnostic
            .message
            .ends_with("is not known to Porter and was ignored")
        {
            *errors_per_document.entry(index).or_default() += 1;
        }
    }
    for (index, count) in &errors_per_document {
        assert_eq!(*count, 1, "document {index}: {diagnostics:?}");
    }
    assert!(objects.len() + errors_per_document.len() <= whole.len());
    let count = objects.len();
    let mut snapshot = Snapshot::default();
    for object in objects {
        snapshot.insert(object);
    }
    let kept = snapshot.eips.len()
        + snapshot.bgp_confs.len()
        + snapshot.bgp_peers.len()
        + snapshot.services.len()
        + snapshot.endpoint_slices.len()
        + snapshot.nodes.len()
        + snapshot.namespaces.len()
        + snapshot.secrets.len();
    assert!(kept <= count);
}

/// Where the manifests fast path takes a document, serde-saphyr reads the same value.
fn fast_path_agrees<'a, T>(text: &'a str)
where
    T: serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    use porter_model::manifests::{fast, yaml};
    if let Some(value) = fast::parse::<T>(text) {
        assert_eq!(yaml::parse::<T>(text, 1).as_ref(), Ok(&value), "{text:?}");
    }
}

/// The speaker's thin reading keeps every Service and EndpointSlice the whole reading keeps,
/// with the same projection (it may keep more: it does not check fields it never reads).
fn thin_reads_what_whole_reads(text: &str) {
    use porter_model::manifests::{Decode, Object, parse_documents_as};
    use porter_model::projection::{LbService, SliceNodes};
    let (whole, _) = parse_documents_as("fuzz.yaml", text, Decode::Whole);
    let (thin, _) = parse_documents_as("fuzz.yaml", text, Decode::Thin);
    let services = |objects: &[Object]| -> Vec<_> {
        objects
            .iter()
            .filter_map(|o| match o {
                Object::Service(s) => Some((s.metadata.name.clone(), LbService::of(s))),
                _ => None,
            })
            .collect()
    };
    let slices = |objects: &[Object]| -> Vec<_> {
        objects
            .iter()
            .filter_map(|o| match o {
                Object::EndpointSlice(s) => Some((s.metadata.name.clone(), SliceNodes::of(s))),
                _ => None,
            })
            .collect()
    };
    let (thin_services, thin_slices) = (services(&thin), slices(&thin));
    for service in services(&whole) {
        assert!(thin_services.contains(&service), "{service:?} in {text:?}");
    }
    for slice in slices(&whole) {
        assert!(thin_slices.contains(&slice), "{slice:?} in {text:?}");
    }
}
