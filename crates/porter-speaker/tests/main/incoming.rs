//! Connections peers open to the speaker, over real TCP on loopback: served at once even during
//! a long connect-retry backoff, refused with NOTIFICATION Cease / Connection Rejected
//! (RFC 4486) when no session will serve them, closed without a word for strangers, and the
//! listener bound to exactly the BgpConf `listenAddresses`.
//!
//! Timeouts (`WAIT`) only guard against a hang; nothing asserts how long anything took.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use porter_bgp::State;
use porter_bgp::wire::{self, Message, Open};
use porter_model::announce::SpeakerPlan;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::support::*;

/// A free TCP port on loopback (bound and released: the speaker binds it next).
async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    l.local_addr().expect("addr").port()
}

/// A passive peer 127.0.0.1 whose failed sessions back off for a long time.
fn passive_peer(admin_down: bool) -> porter_model::valid::ValidPeer {
    let mut p = peer(179, ROUTER_AS);
    p.passive = true;
    p.connect_retry = Some(600);
    p.connect_retry_max = Some(3600);
    p.admin_down = admin_down;
    p
}

/// A plan listening on `port` at `addresses` (none: the wildcard) with [`PEER`] = `peer`.
fn listening(port: u16, addresses: &[&str], peer: porter_model::valid::ValidPeer) -> SpeakerPlan {
    let mut plan = plan_of(vec![(PEER, peer)], &["10.9.0.1"]);
    if let Ok(local) = &mut plan.bgp.local {
        local.listen_port = Some(port);
        local.listen_addresses = addresses.iter().map(|a| ip(a)).collect();
    }
    plan
}

/// One connection to the speaker, from `from`.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects from `from` to the speaker at `to`, retrying while the listener comes up.
    async fn connect(from: Ipv4Addr, to: SocketAddr) -> Client {
        let attempt = async {
            loop {
                let socket = TcpSocket::new_v4().expect("socket");
                socket
                    .bind(SocketAddr::new(IpAddr::V4(from), 0))
                    .expect("bind source");
                if let Ok(stream) = socket.connect(to).await {
                    return stream;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        let stream = tokio::time::timeout(WAIT, attempt)
            .await
            .expect("the speaker listens");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// The speaker's next message, or `None` when it closed the connection.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if self.buf.len() >= wire::HEADER_LEN {
                let len = usize::from(u16::from_be_bytes([self.buf[16], self.buf[17]]));
                if self.buf.len() >= len {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    let mut msgs = wire::decode_all(&frame).expect("valid BGP");
                    return msgs.pop();
                }
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .expect("the speaker answers or closes");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Expects the speaker's OPEN: the connection is served.
    async fn expect_open(&mut self) {
        match self.next().await {
            Some(Message::Open(open)) => assert_eq!(open.asn(), SPEAKER_AS),
            other => panic!("expected the speaker's OPEN, got {other:?}"),
        }
    }

    /// Expects NOTIFICATION `code/subcode` then the close.
    async fn expect_refused(&mut self, code: u8, subcode: u8) {
        match self.next().await {
            Some(Message::Notification(n)) => {
                assert_eq!((n.code, n.subcode), (code, subcode), "{n}")
            }
            other => panic!("expected NOTIFICATION {code}/{subcode}, got {other:?}"),
        }
        assert!(self.next().await.is_none(), "closed after the NOTIFICATION");
    }

    /// Completes the session: our OPEN, the speaker's KEEPALIVE, our KEEPALIVE.
    async fn establish(&mut self) {
        self.expect_open().await;
        let open = wire::encode_open(&Open::local(ROUTER_AS, Ipv4Addr::new(10, 0, 0, 254), 90))
            .expect("open");
        self.send(&open).await;
        loop {
            match self.next().await {
                Some(Message::Keepalive) => break,
                Some(_) => {}
                None => panic!("closed before KEEPALIVE"),
            }
        }
        self.send(&wire::encode_keepalive()).await;
    }
}

#[tokio::test]
async fn a_passive_peer_reconnecting_during_a_long_backoff_is_served_at_once() {
    let port = free_port().await;
    let speaker = Speaker::start(listening(port, &["127.0.0.1"], passive_peer(false)));
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);

    // A first connection fails in OpenSent: the session backs off (600 s here).
    let mut first = Client::connect(Ipv4Addr::LOCALHOST, to).await;
    first.expect_open().await;
    drop(first);
    speaker
        .wait_status("back in Idle after the failure", |s| {
            s.state == State::Idle && s.last_error.is_some()
        })
        .await;

    // The peer calls again at once: served, and the session comes up.
    let mut again = Client::connect(Ipv4Addr::LOCALHOST, to).await;
    again.establish().await;
    speaker
        .wait_status("Established", |s| s.state == State::Established)
        .await;

    // A second connection while Established: Cease / Connection Rejected, session untouched.
    let mut second = Client::connect(Ipv4Addr::LOCALHOST, to).await;
    second.expect_refused(6, 5).await;
    let status = speaker
        .wait_status("still Established", |s| s.state == State::Established)
        .await;
    assert_eq!(status.flaps, 0);
    speaker.shutdown().await;
}

#[tokio::test]
async fn an_administratively_down_peer_is_refused_and_a_stranger_gets_no_bytes() {
    let port = free_port().await;
    let speaker = Speaker::start(listening(port, &[], passive_peer(true)));
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);

    let mut down = Client::connect(Ipv4Addr::LOCALHOST, to).await;
    down.expect_refused(6, 5).await;

    // 127.0.0.2 is no peer of this speaker: closed without a NOTIFICATION.
    let mut stranger = Client::connect(Ipv4Addr::new(127, 0, 0, 2), to).await;
    assert!(stranger.next().await.is_none(), "closed without a word");
    speaker.shutdown().await;
}

#[tokio::test]
async fn the_listener_binds_exactly_the_listen_addresses() {
    let port = free_port().await;
    let speaker = Speaker::start(listening(port, &["127.0.0.1"], passive_peer(false)));
    let on = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut served = Client::connect(Ipv4Addr::LOCALHOST, on).await;
    served.expect_open().await;
    // Another loopback address of the host, not listed: nobody listens there.
    let off = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), port);
    let refused = TcpStream::connect(off).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "127.0.0.3 is not a listen address"
    );

    // Back to the wildcard (listenAddresses emptied): 127.0.0.3 reaches the speaker too.
    drop(served);
    speaker.apply(listening(port, &[], passive_peer(false)));
    let mut wildcard = Client::connect(Ipv4Addr::LOCALHOST, off).await;
    // The session may still be backing off from the dropped connection: served either way.
    wildcard.expect_open().await;
    speaker.shutdown().await;
}
