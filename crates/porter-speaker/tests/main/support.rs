//! Shared by the speaker's TCP tests (`loopback.rs`, `bad_peer.rs`): the real speaker shell
//! (`Speaker`) on one side, and on the other a "router" built from the porter-bgp core
//! itself: a passive `Session` (AS 64512) driven by a small tokio loop in this file.
//!
//! The router's own `received_prefixes()` stays empty here, rightly: the speaker announces its
//! end of the connection, 127.0.0.1, as NEXT_HOP, and a loopback next hop is semantically
//! invalid (RFC 4271 §6.3), so the core treats those UPDATEs as withdraw (RFC 7606). The router
//! therefore keeps its Adj-RIB-In from the same bytes, decoded with `porter_bgp::wire`.
//!
//! No root and no fixed ports: routers listen on 127.0.0.1:0 and the plan tells the speaker
//! to dial that port. Every wait is bounded (`WAIT`), but the bound is only a safety net: the
//! assertions are about what happened, never about how long it took.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use porter_bgp::wire::{self, Framer, Message, UpdateContext};
use porter_bgp::{Action, Event, Prefix, Session, SessionConfig, State};
use porter_model::announce::{BgpPlan, LocalBgp, SpeakerPlan};
use porter_model::valid::ValidPeer;
use porter_speaker::{PeerStatus, StatusBoard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Safety net for every wait; a healthy run needs milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);
pub const ROUTER_AS: u32 = 64512;
pub const SPEAKER_AS: u32 = 64513;
/// The BgpPeer name of single-peer plans.
pub const PEER: &str = "tor";

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub fn host(s: &str) -> Prefix {
    Prefix::host(ip(s))
}

// ----- the router side -----

/// What the router saw on one accepted connection.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The router session's state.
    pub state: State,
    /// Adj-RIB-In: each prefix the speaker announces (and has not withdrawn), with its
    /// NEXT_HOP, decoded from the bytes the router session received.
    pub routes: BTreeMap<Prefix, IpAddr>,
    /// The router session's `last_error` (e.g. "received NOTIFICATION 6/2 (...)").
    pub last_error: Option<String>,
    /// The TCP connection is gone.
    pub closed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RouterLog {
    pub conns: Vec<Conn>,
}

impl RouterLog {
    pub fn last(&self) -> Option<&Conn> {
        self.conns.last()
    }
}

pub struct Router {
    pub port: u16,
    /// The AS the router uses for the next accepted connection.
    pub asn: Arc<AtomicU32>,
    pub log: watch::Receiver<RouterLog>,
    pub task: JoinHandle<()>,
}

impl Router {
    pub async fn start() -> Router {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let asn = Arc::new(AtomicU32::new(ROUTER_AS));
        let (tx, log) = watch::channel(RouterLog::default());
        let task = tokio::spawn(accept_loop(listener, asn.clone(), tx));
        Router {
            port,
            asn,
            log,
            task,
        }
    }

    /// Waits (bounded) until the router's log satisfies `pred`.
    pub async fn wait(&mut self, what: &str, pred: impl FnMut(&RouterLog) -> bool) -> RouterLog {
        let found = match tokio::time::timeout(WAIT, self.log.wait_for(pred)).await {
            Ok(Ok(log)) => Some(log.clone()),
            _ => None,
        };
        found.unwrap_or_else(|| panic!("router: {what} (log: {:#?})", *self.log.borrow()))
    }

    /// Waits until the latest connection is Established and has exactly `prefixes`.
    pub async fn wait_received(&mut self, prefixes: &[&str]) -> Conn {
        let want: BTreeSet<Prefix> = prefixes.iter().map(|p| host(p)).collect();
        let log = self
            .wait(&format!("Established with {want:?}"), |log| {
                log.last().is_some_and(|c| {
                    c.state == State::Established && c.routes.keys().eq(want.iter())
                })
            })
            .await;
        log.last().expect("a connection").clone()
    }
}

async fn accept_loop(listener: TcpListener, asn: Arc<AtomicU32>, log: watch::Sender<RouterLog>) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            return;
        };
        let mut index = 0;
        log.send_modify(|l| {
            index = l.conns.len();
            l.conns.push(Conn {
                state: State::Idle,
                routes: BTreeMap::new(),
                last_error: None,
                closed: false,
            });
        });
        tokio::spawn(drive(
            stream,
            remote,
            asn.load(Ordering::SeqCst),
            index,
            log.clone(),
        ));
    }
}

/// The router's I/O loop for one connection: bytes in, actions out, timers.
async fn drive(
    stream: TcpStream,
    remote: SocketAddr,
    asn: u32,
    index: usize,
    log: watch::Sender<RouterLog>,
) {
    let mut config = SessionConfig::new(asn, Ipv4Addr::new(10, 0, 0, 254), SPEAKER_AS, remote.ip());
    config.passive = true;
    let mut session = Session::new(config);
    let local = stream.local_addr().expect("local addr");
    let start = std::time::Instant::now();
    session.handle(start, Event::Start);
    session.handle(start, Event::TcpConnected { local, remote });
    let (mut reader, mut writer) = stream.into_split();
    let mut sniffer = Framer::default();
    let mut routes = BTreeMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut closed = false;
    loop {
        while let Some(action) = session.poll_action() {
            match action {
                Action::Send(bytes) if !closed => {
                    closed = writer.write_all(&bytes).await.is_err();
                }
                Action::Close => {
                    let _ = writer.shutdown().await;
                    closed = true;
                }
                _ => {}
            }
        }
        let conn = Conn {
            state: session.state(),
            routes: routes.clone(),
            last_error: session.stats().last_error.clone(),
            closed,
        };
        log.send_modify(|l| l.conns[index] = conn);
        if closed {
            return;
        }
        // (Leaving a connected state always asks for Close, handled above.)
        let deadline = session.poll_timeout().map(Instant::from_std);
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => session.handle(std::time::Instant::now(), Event::TcpClosed),
                Ok(n) => {
                    sniff(&mut sniffer, &buf[..n], &mut routes);
                    session.handle(
                        std::time::Instant::now(),
                        Event::Received(Bytes::copy_from_slice(&buf[..n])),
                    );
                }
            },
            () = sleep_until(deadline) => session.handle_timeout(std::time::Instant::now()),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Applies the UPDATEs in the byte stream the router receives to its Adj-RIB-In.
fn sniff(framer: &mut Framer, bytes: &[u8], routes: &mut BTreeMap<Prefix, IpAddr>) {
    framer.push(bytes);
    while let Ok(Some(frame)) = framer.next_frame() {
        let Ok(Message::Update(raw)) = wire::decode_frame(frame) else {
            continue;
        };
        // Both sides always send the 4-octet AS capability; the peers are in different ASes.
        let ctx = UpdateContext {
            four_octet_as: true,
            is_ibgp: false,
        };
        let update = raw.parse(ctx).expect("the speaker's UPDATEs parse");
        for p in &update.withdrawn {
            routes.remove(p);
        }
        if !update.announced.is_empty() {
            let nh = update.next_hop.expect("announcements carry a NEXT_HOP");
            for p in update.announced {
                routes.insert(p, nh);
            }
        }
    }
}

// ----- the speaker side -----

/// An active peer on 127.0.0.1 at `port`, everything else at its default.
pub fn peer(port: u16, peer_as: u32) -> ValidPeer {
    ValidPeer {
        port,
        ..ValidPeer::new("", IpAddr::V4(Ipv4Addr::LOCALHOST), peer_as)
    }
}

/// A plan with these peers (by BgpPeer name) announcing `prefixes`.
pub fn plan_of(peers: Vec<(&str, ValidPeer)>, prefixes: &[&str]) -> SpeakerPlan {
    SpeakerPlan {
        health: Default::default(),
        layer2: Default::default(),
        bgp: BgpPlan {
            local: Ok(LocalBgp {
                local_as: SPEAKER_AS,
                router_id: Ipv4Addr::new(10, 0, 0, 1),
                listen_port: None,
                listen_addresses: Vec::new(),
                next_hop_v4: None,
                next_hop_v6: None,
                graceful_restart: None,
            }),
            peers: peers
                .into_iter()
                .map(|(name, mut peer)| {
                    peer.name = name.to_string();
                    (name.to_string(), peer)
                })
                .collect(),
            prefixes: prefixes
                .iter()
                .map(|p| {
                    (
                        ip(p),
                        std::sync::Arc::new(porter_bgp::RouteAttrs::default()),
                    )
                })
                .collect(),
        },
        ineligible: None,
        problems: Vec::new(),
    }
}

/// A plan with the single peer [`PEER`].
pub fn plan(router_port: u16, peer_as: u32, prefixes: &[&str]) -> SpeakerPlan {
    plan_of(vec![(PEER, peer(router_port, peer_as))], prefixes)
}

pub struct Speaker {
    pub board: StatusBoard,
    plans: watch::Sender<SpeakerPlan>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Speaker {
    pub fn start(first: SpeakerPlan) -> Speaker {
        Speaker::start_with_drain(first, Duration::ZERO)
    }

    /// A speaker that drains for `drain` at shutdown (RFC 8326).
    pub fn start_with_drain(first: SpeakerPlan, drain: Duration) -> Speaker {
        let board = StatusBoard::default();
        let (plans, plans_rx) = watch::channel(first);
        let (shutdown, shutdown_rx) = oneshot::channel();
        let manager = porter_speaker::Speaker::with_drain(board.clone(), drain);
        let task = tokio::spawn(manager.run(plans_rx, async {
            let _ = shutdown_rx.await;
        }));
        Speaker {
            board,
            plans,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub fn apply(&self, plan: SpeakerPlan) {
        self.plans.send_replace(plan);
    }

    /// Waits (bounded) until [`PEER`]'s status satisfies `pred`.
    pub async fn wait_status(
        &self,
        what: &str,
        pred: impl FnMut(&PeerStatus) -> bool,
    ) -> PeerStatus {
        wait_board(&self.board, PEER, what, pred).await
    }

    /// Waits (bounded) until `peer`'s status satisfies `pred`.
    pub async fn wait_peer(
        &self,
        peer: &str,
        what: &str,
        pred: impl FnMut(&PeerStatus) -> bool,
    ) -> PeerStatus {
        wait_board(&self.board, peer, what, pred).await
    }

    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("Speaker::run returns after shutdown")
            .expect("Speaker::run does not panic");
    }
}

impl Speaker {
    /// Tells the speaker to stop (SIGTERM) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Waits (bounded) until `peer`'s status on `board` satisfies `pred`.
pub async fn wait_board(
    board: &StatusBoard,
    peer: &str,
    what: &str,
    mut pred: impl FnMut(&PeerStatus) -> bool,
) -> PeerStatus {
    let poll = async {
        loop {
            if let Some(s) = board.bgp_sessions().get(peer).filter(|s| pred(s)) {
                return s.clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    match tokio::time::timeout(WAIT, poll).await {
        Ok(s) => s,
        Err(_) => panic!(
            "speaker status of {peer}: {what} (board: {:#?})",
            board.snapshot()
        ),
    }
}

pub fn established_with(advertised: usize) -> impl FnMut(&PeerStatus) -> bool {
    move |s| s.state == State::Established && s.advertised == advertised
}
