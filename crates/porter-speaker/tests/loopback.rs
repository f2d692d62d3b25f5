//! The speaker shell over real TCP on loopback, against a "router" built from the porter-bgp
//! core itself: a passive `Session` (AS 64512) driven by a small tokio loop in this file.
//!
//! The router's own `received_prefixes()` stays empty here, rightly: the speaker announces its
//! end of the connection, 127.0.0.1, as NEXT_HOP, and a loopback next hop is semantically
//! invalid (RFC 4271 §6.3), so the core treats those UPDATEs as withdraw (RFC 7606). The router
//! therefore keeps its Adj-RIB-In from the same bytes, decoded with `porter_bgp::wire`.
//!
//! No root and no fixed ports: the router listens on 127.0.0.1:0 and the plan tells the
//! speaker to dial that port. Every wait is bounded (`WAIT`), but the bound is only a safety
//! net: the assertions are about what happened, never about how long it took.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use porter_api::ValidPeer;
use porter_bgp::wire::{self, Framer, Message, UpdateContext};
use porter_bgp::{Action, Event, Prefix, Session, SessionConfig, State};
use porter_model::announce::{LocalBgp, SpeakerPlan};
use porter_speaker::{PeerManager, PeerStatus, StatusBoard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Safety net for every wait; a healthy run needs milliseconds.
const WAIT: Duration = Duration::from_secs(10);
const ROUTER_AS: u32 = 64512;
const SPEAKER_AS: u32 = 64513;
const PEER: &str = "tor";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn host(s: &str) -> Prefix {
    Prefix::host(ip(s))
}

// ----- the router side -----

/// What the router saw on one accepted connection.
#[derive(Debug, Clone)]
struct Conn {
    /// The router session's state.
    state: State,
    /// Adj-RIB-In: each prefix the speaker announces (and has not withdrawn), with its
    /// NEXT_HOP, decoded from the bytes the router session received.
    routes: BTreeMap<Prefix, IpAddr>,
    /// The router session's `last_error` (e.g. "received NOTIFICATION 6/2 (...)").
    last_error: Option<String>,
    /// The TCP connection is gone.
    closed: bool,
}

#[derive(Debug, Clone, Default)]
struct RouterLog {
    conns: Vec<Conn>,
}

impl RouterLog {
    fn last(&self) -> Option<&Conn> {
        self.conns.last()
    }
}

struct Router {
    port: u16,
    /// The AS the router uses for the next accepted connection.
    asn: Arc<AtomicU32>,
    log: watch::Receiver<RouterLog>,
    task: JoinHandle<()>,
}

impl Router {
    async fn start() -> Router {
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
    async fn wait(&mut self, what: &str, pred: impl FnMut(&RouterLog) -> bool) -> RouterLog {
        let found = match tokio::time::timeout(WAIT, self.log.wait_for(pred)).await {
            Ok(Ok(log)) => Some(log.clone()),
            _ => None,
        };
        found.unwrap_or_else(|| panic!("router: {what} (log: {:#?})", *self.log.borrow()))
    }

    /// Waits until the latest connection is Established and has exactly `prefixes`.
    async fn wait_received(&mut self, prefixes: &[&str]) -> Conn {
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

fn plan(router_port: u16, peer_as: u32, prefixes: &[&str]) -> SpeakerPlan {
    let peer = ValidPeer {
        name: PEER.into(),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        peer_as,
        local_as: None,
        port: router_port,
        passive: false,
        hold_time: None,
        keepalive: None,
        connect_retry: None,
        multihop_ttl: None,
        password: None,
        password_secret: None,
        local_address: None,
        ttl_security: false,
        graceful_restart: None,
        graceful_restart_off: false,
        node_selector: None,
        admin_down: false,
    };
    SpeakerPlan {
        local: Ok(LocalBgp {
            local_as: SPEAKER_AS,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            listen_port: None,
            next_hop_v4: None,
            next_hop_v6: None,
            graceful_restart: None,
        }),
        peers: [(PEER.to_string(), peer)].into(),
        prefixes: prefixes
            .iter()
            .map(|p| (ip(p), porter_bgp::RouteAttrs::default()))
            .collect(),
        ineligible: None,
        problems: Vec::new(),
    }
}

struct Speaker {
    board: StatusBoard,
    plans: watch::Sender<SpeakerPlan>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Speaker {
    fn start(first: SpeakerPlan) -> Speaker {
        let board = StatusBoard::default();
        let (plans, plans_rx) = watch::channel(first);
        let (shutdown, shutdown_rx) = oneshot::channel();
        let manager = PeerManager::new(board.clone());
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

    fn apply(&self, plan: SpeakerPlan) {
        self.plans.send_replace(plan);
    }

    async fn wait_status(&self, what: &str, pred: impl FnMut(&PeerStatus) -> bool) -> PeerStatus {
        wait_board(&self.board, what, pred).await
    }

    async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("PeerManager::run returns after shutdown")
            .expect("PeerManager::run does not panic");
    }
}

/// Waits (bounded) until the peer's status on `board` satisfies `pred`.
async fn wait_board(
    board: &StatusBoard,
    what: &str,
    mut pred: impl FnMut(&PeerStatus) -> bool,
) -> PeerStatus {
    let poll = async {
        loop {
            if let Some(s) = board.snapshot().get(PEER).filter(|s| pred(s)) {
                return s.clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    match tokio::time::timeout(WAIT, poll).await {
        Ok(s) => s,
        Err(_) => panic!("speaker status: {what} (board: {:#?})", board.snapshot()),
    }
}

fn established_with(advertised: usize) -> impl FnMut(&PeerStatus) -> bool {
    move |s| s.state == State::Established && s.advertised == advertised
}

// ----- tests -----

#[tokio::test]
async fn announces_updates_withdraws_and_says_goodbye() {
    let mut router = Router::start().await;
    let speaker = Speaker::start(plan(router.port, ROUTER_AS, &["203.0.113.10"]));

    let conn = router.wait_received(&["203.0.113.10"]).await;
    assert_eq!(
        conn.routes.get(&host("203.0.113.10")),
        Some(&ip("127.0.0.1")),
        "next hop is the speaker's end of the connection"
    );
    let status = speaker
        .wait_status("Established, 1 advertised", established_with(1))
        .await;
    assert_eq!(status.address, ip("127.0.0.1"));
    assert_eq!(status.peer_as, ROUTER_AS);
    assert!(status.established_since.is_some());

    speaker.apply(plan(
        router.port,
        ROUTER_AS,
        &["203.0.113.10", "203.0.113.11"],
    ));
    let conn = router
        .wait_received(&["203.0.113.10", "203.0.113.11"])
        .await;
    assert_eq!(
        conn.routes.get(&host("203.0.113.11")),
        Some(&ip("127.0.0.1"))
    );
    speaker
        .wait_status("Established, 2 advertised", established_with(2))
        .await;

    speaker.apply(plan(router.port, ROUTER_AS, &[]));
    router.wait_received(&[]).await;
    speaker
        .wait_status("Established, 0 advertised", established_with(0))
        .await;

    let board = speaker.board.clone();
    speaker.shutdown().await;
    let log = router
        .wait("connection closed after shutdown", |l| {
            l.last().is_some_and(|c| c.closed)
        })
        .await;
    assert_eq!(log.conns.len(), 1, "one connection for the whole test");
    let conn = &log.conns[0];
    assert_eq!(conn.state, State::Idle);
    let error = conn.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("received NOTIFICATION 6/2") && error.contains("Cease"),
        "router saw {error:?}"
    );
    assert!(
        board.snapshot().is_empty(),
        "stopped sessions leave the board"
    );
    router.task.abort();
}

#[tokio::test]
async fn prefix_changes_keep_the_session_but_a_new_peer_as_restarts_it() {
    let mut router = Router::start().await;
    let speaker = Speaker::start(plan(router.port, ROUTER_AS, &["203.0.113.10"]));
    router.wait_received(&["203.0.113.10"]).await;
    let up = speaker
        .wait_status("Established, 1 advertised", established_with(1))
        .await;

    // Only the prefixes change: same connection, same session.
    for prefixes in [
        &["203.0.113.10", "203.0.113.11"][..],
        &["203.0.113.11"][..],
        &["203.0.113.10"][..],
    ] {
        speaker.apply(plan(router.port, ROUTER_AS, prefixes));
        router.wait_received(prefixes).await;
        let now = speaker
            .wait_status("Established", established_with(prefixes.len()))
            .await;
        assert_eq!(
            now.established_since, up.established_since,
            "session restarted"
        );
    }
    assert_eq!(router.log.borrow().conns.len(), 1);

    // The peer's AS changes (the router is renumbered too): the session restarts.
    router.asn.store(64514, Ordering::SeqCst);
    speaker.apply(plan(router.port, 64514, &["203.0.113.10"]));
    let log = router
        .wait("a second connection, Established", |l| {
            l.conns.len() == 2 && l.conns[1].state == State::Established
        })
        .await;
    let old = &log.conns[0];
    assert!(old.closed, "the old connection is closed: {old:?}");
    let error = old.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("received NOTIFICATION 6/2"),
        "old session ended with Cease, got {error:?}"
    );
    router.wait_received(&["203.0.113.10"]).await;
    let restarted = speaker
        .wait_status("Established with AS 64514", |s| {
            s.peer_as == 64514 && s.state == State::Established && s.advertised == 1
        })
        .await;
    assert_ne!(restarted.established_since, up.established_since);

    speaker.shutdown().await;
    router.task.abort();
}
