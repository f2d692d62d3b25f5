//! Error handling of the real speaker shell (RFC 4271 §6, RFC 5492, RFC 7606) against a
//! scripted test peer over TCP on 127.0.0.1.
//!
//! The test peer listens, accepts the speaker's connection, reads and decodes the speaker's
//! OPEN, then sends crafted bytes and checks what comes back: the exact NOTIFICATION code and
//! subcode (decoded with `porter_bgp::wire::decode_all`) followed by the speaker closing the
//! connection, or, where the RFCs say the error is not fatal, a session that stays up.
//!
//! The same test peer checks the speaker's goodbyes at shutdown: graceful shutdown (RFC 8326)
//! and graceful restart (RFC 4724).
//!
//! Each case runs its own `Speaker`, so the core's connect-retry backoff after one case's
//! failure never delays another. Reads are bounded by `WAIT` as a safety net only; nothing
//! asserts on elapsed time.

use std::net::Ipv4Addr;
use std::time::Duration;

use porter_bgp::wire::crafted::{self, Answer, Case, Params, When};
use porter_bgp::wire::{self, Message, Open, UpdateContext};
use porter_bgp::{Family, NotificationError, Prefix, State};
use porter_speaker::PeerStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

const MARKER: [u8; 16] = [0xff; 16];
const TEST_PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
/// What the speaker announces in every case.
const ANNOUNCED: &str = "203.0.113.10";

// ----- crafted messages (as in porter-bgp's tests/main/bad_input.rs) -----

/// A message with a correct header around `body`.
fn msg(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut v = MARKER.to_vec();
    v.extend_from_slice(&u16::try_from(19 + body.len()).expect("small").to_be_bytes());
    v.push(msg_type);
    v.extend_from_slice(body);
    v
}

fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = |b: &[u8]| u16::try_from(b.len()).expect("small").to_be_bytes();
    let mut body = len(withdrawn).to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&len(attrs));
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    msg(2, &body)
}

/// ORIGIN IGP, AS_PATH [64512] (4-octet ASNs: both sides send the capability), NEXT_HOP
/// 10.0.0.2.
const GOOD_ATTRS: &[u8] = &[
    0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x00, 0x40, 3, 4, 10, 0, 0, 2,
];
/// The same, but the AS_SEQUENCE segment claims 2 ASNs and carries 1 (RFC 7606 §7.2).
const BAD_AS_PATH_ATTRS: &[u8] = &[
    0x40, 1, 1, 0, 0x40, 2, 6, 2, 2, 0, 0, 0xfc, 0x00, 0x40, 3, 4, 10, 0, 0, 2,
];
/// 198.51.100.1/32, announced by the test peer.
const NLRI_198_51_100_1: &[u8] = &[32, 198, 51, 100, 1];

/// The test peer's OPEN: AS 64512 (unless told otherwise), IPv4 and IPv6 unicast, 4-octet AS,
/// route refresh.
fn open(asn: u32, hold_time: u16) -> Vec<u8> {
    wire::encode_open(&Open::local(asn, TEST_PEER_ID, hold_time))
        .expect("OPEN encodes")
        .to_vec()
}

/// `open` with one more optional parameter (type 2, Capabilities) carrying `capability`
/// (code, length, value). The length fields of the header and the OPEN grow to match.
fn with_capability(mut open: Vec<u8>, capability: &[u8]) -> Vec<u8> {
    let param_len = u8::try_from(capability.len()).expect("small");
    open.extend_from_slice(&[2, param_len]);
    open.extend_from_slice(capability);
    let grown = capability.len() + 2;
    let total = u16::from_be_bytes([open[16], open[17]]) + u16::try_from(grown).expect("small");
    open[16..18].copy_from_slice(&total.to_be_bytes());
    // Optional Parameters Length: after marker, length, type, version, My AS, hold, BGP Id.
    open[28] += u8::try_from(grown).expect("small");
    open
}

// ----- the test peer -----

/// One connection from the speaker, as the test peer sees it.
struct Wire {
    stream: TcpStream,
    /// Bytes read and not yet returned as a message.
    buf: Vec<u8>,
}

impl Wire {
    async fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("write to the speaker");
    }

    /// Reads more bytes; false at EOF. A reset connection fails the test: the speaker must
    /// close after its NOTIFICATION, not abort.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("speaker silent (buffered: {:?})", self.buf));
        match read.expect("read from the speaker (no reset)") {
            0 => false,
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The speaker's next message, or `None` when it closed the connection.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if self.buf.len() >= wire::HEADER_LEN {
                let len = usize::from(u16::from_be_bytes([self.buf[16], self.buf[17]]));
                if self.buf.len() >= len {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    let mut msgs = wire::decode_all(&frame).expect("the speaker sends valid BGP");
                    assert_eq!(msgs.len(), 1);
                    return msgs.pop();
                }
            }
            if !self.fill().await {
                assert!(self.buf.is_empty(), "EOF inside a message: {:?}", self.buf);
                return None;
            }
        }
    }

    /// Everything the speaker sends until it closes the connection, decoded in one go.
    async fn until_eof(&mut self) -> Vec<Message> {
        while self.fill().await {}
        let bytes = std::mem::take(&mut self.buf);
        wire::decode_all(&bytes).expect("the speaker sends valid BGP")
    }

    /// The next message, which must be a KEEPALIVE.
    async fn expect_keepalive(&mut self) {
        match self.next().await {
            Some(Message::Keepalive) => {}
            other => panic!("expected KEEPALIVE, got {other:?}"),
        }
    }
}

/// The test peer's listening socket; the speaker dials it.
struct TestPeer {
    listener: TcpListener,
    port: u16,
}

impl TestPeer {
    async fn bind() -> TestPeer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        TestPeer { listener, port }
    }

    /// Accepts the speaker's next connection and reads its OPEN.
    async fn accept(&self) -> Wire {
        let (stream, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("the speaker connects")
            .expect("accept");
        let mut wire = Wire {
            stream,
            buf: Vec::new(),
        };
        match wire.next().await {
            Some(Message::Open(open)) => {
                assert_eq!(open.asn(), SPEAKER_AS);
                assert!(open.four_octet_as.is_some());
            }
            other => panic!("expected the speaker's OPEN, got {other:?}"),
        }
        wire
    }
}

/// A peer of the speaker at the test peer's port, redialled 1 s after a failure.
fn quick_peer(port: u16) -> porter_model::valid::ValidPeer {
    let mut peer = peer(port, ROUTER_AS);
    peer.connect_retry = Some(1);
    peer
}

/// A speaker with the single peer [`PEER`] (the test peer), connected and past its OPEN.
async fn connected() -> (Speaker, TestPeer, Wire) {
    let test_peer = TestPeer::bind().await;
    let speaker = Speaker::start(plan_of(
        vec![(PEER, quick_peer(test_peer.port))],
        &[ANNOUNCED],
    ));
    let wire = test_peer.accept().await;
    (speaker, test_peer, wire)
}

/// Sends `our_open`, answers the speaker's KEEPALIVE and waits until the
/// speaker reports Established.
async fn establish(speaker: &Speaker, wire: &mut Wire, our_open: &[u8]) -> PeerStatus {
    wire.send(our_open).await;
    wire.expect_keepalive().await;
    wire.send(&wire::encode_keepalive()).await;
    speaker
        .wait_status("Established", |s| s.state == State::Established)
        .await
}

/// Reads until the speaker announces `prefix`, answering its KEEPALIVEs; fails on a
/// NOTIFICATION or EOF.
async fn until_announced(wire: &mut Wire, prefix: Prefix) {
    loop {
        match wire.next().await {
            Some(Message::Update(raw)) => {
                let ctx = UpdateContext {
                    four_octet_as: true,
                    is_ibgp: false,
                };
                let update = raw.parse(ctx).expect("the speaker's UPDATEs parse");
                if update.announced.contains(&prefix) {
                    return;
                }
            }
            Some(Message::Keepalive) => {
                wire.send(&wire::encode_keepalive()).await;
            }
            Some(Message::Notification(n)) => panic!("unexpected NOTIFICATION {n}"),
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("the speaker closed the connection"),
        }
    }
}

/// The speaker's answer to an error: exactly one NOTIFICATION `code`/`subcode`, the last
/// message before it closes the connection; the status board shows it as the last error.
async fn assert_notified(
    speaker: &Speaker,
    wire: &mut Wire,
    code: u8,
    subcode: u8,
) -> NotificationError {
    let msgs = wire.until_eof().await;
    let notifications: Vec<&NotificationError> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Notification(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(notifications.len(), 1, "one NOTIFICATION in {msgs:?}");
    let Some(Message::Notification(n)) = msgs.last() else {
        panic!("the NOTIFICATION is the last message: {msgs:?}")
    };
    assert_eq!((n.code, n.subcode), (code, subcode), "{n}");
    let sent = format!("sent NOTIFICATION {code}/{subcode}");
    speaker
        .wait_status(&sent, |s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with(&sent))
        })
        .await;
    n.clone()
}

/// Connects, sends `bad` right after the speaker's OPEN (state OpenSent) and checks the answer.
async fn open_sent_error(bad: &[u8], code: u8, subcode: u8) -> NotificationError {
    let (speaker, _test_peer, mut wire) = connected().await;
    wire.send(bad).await;
    let n = assert_notified(&speaker, &mut wire, code, subcode).await;
    speaker.shutdown().await;
    n
}

// ----- message header errors (RFC 4271 §6.1) -----

#[tokio::test]
async fn bad_marker_is_1_1_and_the_speaker_closes() {
    let mut keepalive = wire::encode_keepalive().to_vec();
    keepalive[3] = 0;
    // `open_sent_error` reads until EOF: the speaker closed after the NOTIFICATION.
    open_sent_error(&keepalive, 1, 1).await;
}

#[tokio::test]
async fn bad_length_is_1_2_with_the_length_as_data() {
    // 18: shorter than a header; 4097: over 4096 while no extended messages were negotiated
    // (nothing is negotiated before the OPENs are exchanged).
    for len in [18u16, 4097] {
        let mut keepalive = wire::encode_keepalive().to_vec();
        keepalive[16..18].copy_from_slice(&len.to_be_bytes());
        let n = open_sent_error(&keepalive, 1, 2).await;
        assert_eq!(n.data.as_ref(), len.to_be_bytes(), "data = the bad length");
    }
}

#[tokio::test]
async fn update_over_4096_without_extended_messages_is_1_2() {
    // The speaker offers RFC 8654 extended messages, the test peer does not: the session's
    // limit stays 4096, so a 4097-octet UPDATE header is a length error.
    let (speaker, _test_peer, mut wire) = connected().await;
    establish(&speaker, &mut wire, &open(ROUTER_AS, 90)).await;
    let mut header = msg(2, &[]);
    header[16..18].copy_from_slice(&4097u16.to_be_bytes());
    wire.send(&header).await;
    let n = assert_notified(&speaker, &mut wire, 1, 2).await;
    assert_eq!(n.data.as_ref(), 4097u16.to_be_bytes());
    speaker.shutdown().await;
}

#[tokio::test]
async fn unknown_message_type_is_1_3_with_the_type_as_data() {
    let n = open_sent_error(&msg(9, &[]), 1, 3).await;
    assert_eq!(n.data.as_ref(), [9]);
}

// ----- OPEN errors (RFC 4271 §6.2) -----

#[tokio::test]
async fn hold_time_1_or_2_is_2_6() {
    for hold in [1, 2] {
        open_sent_error(&open(ROUTER_AS, hold), 2, 6).await;
    }
}

#[tokio::test]
async fn wrong_peer_as_is_2_2() {
    open_sent_error(&open(64999, 90), 2, 2).await;
}

#[tokio::test]
async fn unknown_capability_is_ignored() {
    let (speaker, _test_peer, mut wire) = connected().await;
    // Capability code 200 (unassigned) with three octets of value: RFC 5492 §3 says a
    // speaker that does not support a capability ignores it; no NOTIFICATION 2/7.
    let our_open = with_capability(open(ROUTER_AS, 90), &[200, 3, 0xde, 0xad, 0xbe]);
    let status = establish(&speaker, &mut wire, &our_open).await;
    assert_eq!(status.last_error, None);
    // Both sides said 90 s: a third of it between KEEPALIVEs (RFC 4271 §4.4).
    assert_eq!(
        status.timers,
        Some(porter_speaker::Timers {
            hold_time: 90,
            keepalive: 30
        })
    );
    until_announced(&mut wire, host(ANNOUNCED)).await;
    speaker
        .wait_status("Established, 1 advertised", established_with(1))
        .await;
    speaker.shutdown().await;
    // The goodbye is a Cease, not an OPEN error.
    assert_notified_on_shutdown(&mut wire).await;
}

/// RFC 4486 §4: the Cease subcode tells the peer why Porter ended the session. A BgpPeer
/// changed: 6/4 Administrative Reset, then the session comes back with the new settings; a
/// BgpPeer gone: 6/3 Peer De-configured.
#[tokio::test]
async fn a_changed_peer_gets_administrative_reset_and_a_removed_one_peer_deconfigured() {
    let (speaker, test_peer, mut wire) = connected().await;
    establish(&speaker, &mut wire, &open(ROUTER_AS, 90)).await;
    until_announced(&mut wire, host(ANNOUNCED)).await;

    let mut changed = quick_peer(test_peer.port);
    changed.hold_time = Some(60);
    speaker.apply(plan_of(vec![(PEER, changed)], &[ANNOUNCED]));
    assert_last_cease(&mut wire, 4, "Administrative Reset").await;

    let mut wire = test_peer.accept().await;
    establish(&speaker, &mut wire, &open(ROUTER_AS, 90)).await;
    until_announced(&mut wire, host(ANNOUNCED)).await;
    speaker.apply(plan_of(Vec::new(), &[ANNOUNCED]));
    assert_last_cease(&mut wire, 3, "Peer De-configured").await;
    speaker.shutdown().await;
}

/// The speaker's last words before closing are NOTIFICATION Cease / `subcode`.
async fn assert_last_cease(wire: &mut Wire, subcode: u8, name: &str) {
    let msgs = wire.until_eof().await;
    assert!(
        matches!(msgs.last(), Some(Message::Notification(n)) if (n.code, n.subcode) == (6, subcode)),
        "Cease / {name} (RFC 4486): {msgs:?}"
    );
}

async fn assert_notified_on_shutdown(wire: &mut Wire) {
    let msgs = wire.until_eof().await;
    assert!(
        matches!(msgs.last(), Some(Message::Notification(n)) if (n.code, n.subcode) == (6, 2)),
        "Cease / Administrative Shutdown (RFC 4486) on shutdown: {msgs:?}"
    );
}

// ----- shutdown: graceful shutdown (RFC 8326) and graceful restart (RFC 4724) -----

/// The test peer's graceful restart capability (RFC 4724): code 64, restart time 120 s, no
/// families preserved.
const GR_CAPABILITY: [u8; 4] = [64, 2, 0, 120];

/// Every UPDATE in `msgs` but the End-of-RIB markers, parsed (eBGP).
fn updates(msgs: &[Message]) -> Vec<porter_bgp::wire::Update> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Update(raw) => Some(
                raw.parse(UpdateContext {
                    four_octet_as: true,
                    is_ibgp: false,
                })
                .expect("the speaker's UPDATEs parse"),
            ),
            _ => None,
        })
        .filter(|u| u.end_of_rib.is_none())
        .collect()
}

/// A speaker draining for `drain`, Established with the test peer (which sends `our_open`)
/// and announcing [`ANNOUNCED`]; the peer is configured with graceful restart when `gr`.
async fn established_draining(drain: Duration, gr: bool, our_open: &[u8]) -> (Speaker, Wire) {
    let test_peer = TestPeer::bind().await;
    let mut peer = quick_peer(test_peer.port);
    peer.graceful_restart = gr.then_some(120);
    let speaker = Speaker::start_with_drain(plan_of(vec![(PEER, peer)], &[ANNOUNCED]), drain);
    let mut wire = test_peer.accept().await;
    establish(&speaker, &mut wire, our_open).await;
    until_announced(&mut wire, host(ANNOUNCED)).await;
    (speaker, wire)
}

/// SIGTERM without graceful restart: the route comes again with GRACEFUL_SHUTDOWN, the
/// session stays up for the drain time, then the route is withdrawn and the session ends
/// with Cease 6/2. Also when graceful restart is configured but the peer did not offer it.
#[tokio::test]
async fn shutdown_drains_with_graceful_shutdown_then_withdraws_and_ceases() {
    for gr_configured in [false, true] {
        let (mut speaker, mut wire) = established_draining(
            Duration::from_millis(300),
            gr_configured,
            &open(ROUTER_AS, 90),
        )
        .await;
        speaker.begin_shutdown();
        let msgs = wire.until_eof().await;
        let ups = updates(&msgs);
        assert_eq!(ups.len(), 2, "re-announce, then withdraw: {msgs:?}");
        assert_eq!(ups[0].announced, vec![host(ANNOUNCED)]);
        assert!(
            ups[0]
                .route_attrs()
                .communities
                .contains(&porter_bgp::attrs::well_known::GRACEFUL_SHUTDOWN),
            "{:?}",
            ups[0]
        );
        assert_eq!(ups[1].withdrawn, vec![host(ANNOUNCED)]);
        assert!(
            matches!(msgs.last(), Some(Message::Notification(n)) if (n.code, n.subcode) == (6, 2)),
            "Cease / Administrative Shutdown last: {msgs:?}"
        );
        speaker.shutdown().await;
    }
}

/// SIGTERM with graceful restart negotiated: no drain, no withdrawal, no NOTIFICATION, so the
/// router keeps the route as stale until the restarted speaker re-announces it.
#[tokio::test]
async fn shutdown_with_graceful_restart_negotiated_closes_without_a_word() {
    let our_open = with_capability(open(ROUTER_AS, 90), &GR_CAPABILITY);
    let (mut speaker, mut wire) =
        established_draining(Duration::from_secs(30), true, &our_open).await;
    speaker.begin_shutdown();
    let msgs = wire.until_eof().await;
    assert!(
        updates(&msgs).is_empty() && !msgs.iter().any(|m| matches!(m, Message::Notification(_))),
        "no UPDATE (but End-of-RIB) and no NOTIFICATION before the close: {msgs:?}"
    );
    speaker.shutdown().await;
}

/// A drain time of 0 is the old goodbye: Cease at once, the router withdraws.
#[tokio::test]
async fn shutdown_without_drain_time_ceases_at_once() {
    let (mut speaker, mut wire) =
        established_draining(Duration::ZERO, false, &open(ROUTER_AS, 90)).await;
    speaker.begin_shutdown();
    let msgs = wire.until_eof().await;
    assert!(updates(&msgs).is_empty(), "{msgs:?}");
    assert!(
        matches!(msgs.last(), Some(Message::Notification(n)) if (n.code, n.subcode) == (6, 2)),
        "{msgs:?}"
    );
    speaker.shutdown().await;
}

// ----- UPDATE errors (RFC 4271 §6.3, RFC 7606) -----

#[tokio::test]
async fn malformed_as_path_is_treat_as_withdraw() {
    let (speaker, _test_peer, mut wire) = connected().await;
    // Hold time 6: the speaker sends a KEEPALIVE every 2 s, which the test peer answers.
    let up = establish(&speaker, &mut wire, &open(ROUTER_AS, 6)).await;
    until_announced(&mut wire, host(ANNOUNCED)).await;

    wire.send(&update(&[], GOOD_ATTRS, NLRI_198_51_100_1)).await;
    speaker.wait_status("1 received", |s| s.received == 1).await;

    // The same prefix again, with an AS_PATH segment overrunning the attribute: the route
    // is withdrawn, the session stays.
    wire.send(&update(&[], BAD_AS_PATH_ATTRS, NLRI_198_51_100_1))
        .await;
    let after = speaker
        .wait_status("treated as withdraw", |s| s.received == 0)
        .await;
    assert_eq!(after.state, State::Established);
    assert_eq!(after.established_since, up.established_since);

    // The speaker still processes what follows: a ROUTE-REFRESH is answered with the
    // announcement (after anything it said about the bad UPDATE: one TCP stream), and its
    // KEEPALIVEs keep coming and are answered. No NOTIFICATION, no EOF on the way.
    let refresh = wire::encode_route_refresh(Family::Ipv4Unicast).expect("encodes");
    wire.send(&refresh).await;
    until_announced(&mut wire, host(ANNOUNCED)).await;
    loop {
        match wire.next().await {
            Some(Message::Keepalive) => break,
            Some(Message::Update(_)) => {} // End-of-RIB after the refresh, if any
            other => panic!("expected a KEEPALIVE, got {other:?}"),
        }
    }
    wire.send(&wire::encode_keepalive()).await;

    let now = speaker
        .wait_status("Established", |s| s.state == State::Established)
        .await;
    assert_eq!(now.established_since, up.established_since);
    assert_eq!(now.flaps, 0);
    assert_eq!(now.last_error, None);
    speaker.shutdown().await;
    assert_notified_on_shutdown(&mut wire).await;
}

#[tokio::test]
async fn attribute_length_past_the_message_is_3_1() {
    let (speaker, _test_peer, mut wire) = connected().await;
    establish(&speaker, &mut wire, &open(ROUTER_AS, 90)).await;
    // Total Path Attribute Length 200 in a message that holds 20 octets of attributes and 5
    // of NLRI: the attribute section is truncated and the NLRI cannot be located, so
    // RFC 7606 §5.3 / RFC 4271 §6.3 ask for a session reset with Malformed Attribute List.
    let mut truncated = update(&[], GOOD_ATTRS, NLRI_198_51_100_1);
    truncated[21..23].copy_from_slice(&200u16.to_be_bytes());
    wire.send(&truncated).await;
    assert_notified(&speaker, &mut wire, 3, 1).await;
    speaker.shutdown().await;
}

// ----- isolation -----

#[tokio::test]
async fn a_bad_peer_does_not_disturb_the_other_sessions() {
    let mut router = Router::start().await;
    let bad = TestPeer::bind().await;
    let (bad_port, good_port) = (bad.port, router.port);
    let peers = |prefixes: &[&str]| {
        plan_of(
            vec![
                ("a-bad", quick_peer(bad_port)),
                ("b-good", peer(good_port, ROUTER_AS)),
            ],
            prefixes,
        )
    };
    let speaker = Speaker::start(peers(&[ANNOUNCED]));
    router.wait_received(&[ANNOUNCED]).await;
    let b_up = speaker
        .wait_peer("b-good", "Established, 1 advertised", established_with(1))
        .await;

    // Peer A sends a bad marker, twice (the speaker redials it after 1 s).
    let mut keepalive = wire::encode_keepalive().to_vec();
    keepalive[0] = 0xfe;
    for _ in 0..2 {
        let mut wire = bad.accept().await;
        wire.send(&keepalive).await;
        let msgs = wire.until_eof().await;
        assert!(
            matches!(msgs.as_slice(), [Message::Notification(n)] if (n.code, n.subcode) == (1, 1)),
            "A got {msgs:?}"
        );
    }
    speaker
        .wait_peer("a-bad", "A's error on the board", |s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("sent NOTIFICATION 1/1"))
        })
        .await;

    // B was not disturbed and still follows the plan.
    speaker.apply(peers(&[ANNOUNCED, "203.0.113.11"]));
    router.wait_received(&[ANNOUNCED, "203.0.113.11"]).await;
    let b_now = speaker
        .wait_peer("b-good", "Established, 2 advertised", established_with(2))
        .await;
    assert_eq!(b_now.established_since, b_up.established_since);
    assert_eq!(b_now.flaps, 0);
    assert_eq!(b_now.last_error, None);
    let log = router.log.borrow().clone();
    assert_eq!(log.conns.len(), 1, "B kept its one connection: {log:#?}");
    assert!(!log.conns[0].closed);

    speaker.shutdown().await;
    router.task.abort();
}

/// Keeps the crafting honest: the test peer's good messages decode as intended, so the
/// errors above come from the one defect each case introduces.
#[test]
fn crafted_messages_decode_as_intended() {
    let msgs = wire::decode_all(&update(&[], GOOD_ATTRS, NLRI_198_51_100_1)).expect("decodes");
    let [Message::Update(raw)] = msgs.as_slice() else {
        panic!("{msgs:?}")
    };
    let u = raw
        .parse(UpdateContext {
            four_octet_as: true,
            is_ibgp: false,
        })
        .expect("parses");
    assert_eq!(u.as_path, [ROUTER_AS]);
    assert_eq!(u.announced, [host("198.51.100.1")]);
    assert_eq!(u.disposition, wire::Disposition::Clean);

    let with_200 = with_capability(open(ROUTER_AS, 90), &[200, 3, 0xde, 0xad, 0xbe]);
    let msgs = wire::decode_all(&with_200).expect("decodes");
    let [Message::Open(o)] = msgs.as_slice() else {
        panic!("{msgs:?}")
    };
    assert_eq!(o.other_capabilities, [200]);
    assert_eq!((o.asn(), o.hold_time), (ROUTER_AS, 90));
    assert!(o.route_refresh);
}

// ----- every row of docs/rfc-errors.md, over TCP (porter_bgp::wire::crafted) -----

/// The two ends as the rows see them: the speaker (AS 64513, 10.0.0.1, dialling from
/// 127.0.0.1) and the test peer.
fn tcp_params() -> Params {
    Params {
        local_as: SPEAKER_AS,
        local_id: Ipv4Addr::new(10, 0, 0, 1),
        local_addr: Ipv4Addr::LOCALHOST,
        peer_as: ROUTER_AS,
        peer_id: TEST_PEER_ID,
    }
}

/// Runs one row against its own speaker: brings the session to the row's state, sends the
/// row's bytes and says what the speaker did, in the terms of [`Answer`].
async fn tcp_answer(case: Case) -> Answer {
    let p = tcp_params();
    let test_peer = TestPeer::bind().await;
    let mut config = peer(test_peer.port, crafted::peer_asn(&p, case.peering));
    config.connect_retry = Some(1);
    let speaker = Speaker::start(plan_of(vec![(PEER, config)], &[ANNOUNCED]));
    let mut wire = test_peer.accept().await;
    if case.when >= When::OpenConfirm {
        wire.send(&crafted::peer_open(&p, case.peering)).await;
        wire.expect_keepalive().await;
    }
    if case.when >= When::Established {
        wire.send(&wire::encode_keepalive()).await;
        speaker
            .wait_status("Established", |s| s.state == State::Established)
            .await;
        let baseline = crafted::good_update(&p, case.peering, &crafted::BASELINE_PREFIX);
        wire.send(&baseline).await;
        speaker
            .wait_status("baseline received", |s| s.received == 1)
            .await;
    }
    wire.send(&case.bytes).await;
    let answer = match case.answer.routes_after_follow_up() {
        // The session must stay up: a clean announcement after the row, then the count of
        // routes the speaker holds tells which of the three answers it gave.
        Some(routes) => {
            let follow_up = crafted::good_update(&p, case.peering, &crafted::FOLLOW_UP_NLRI);
            wire.send(&follow_up).await;
            let what = format!("{}: {} routes, session up", case.id, routes);
            let status = speaker
                .wait_status(&what, |s| {
                    s.state == State::Established && s.received == routes
                })
                .await;
            assert_eq!(status.last_error, None, "{}", case.id);
            case.answer.clone()
        }
        None if case.answer == Answer::Accepted => match wire.next().await {
            Some(Message::Keepalive) => Answer::Accepted,
            Some(Message::Notification(n)) => Answer::Notify {
                code: n.code,
                subcode: n.subcode,
                data: Some(n.data.to_vec()),
            },
            other => panic!("{}: expected KEEPALIVE, got {other:?}", case.id),
        },
        None => {
            let msgs = wire.until_eof().await;
            let notifications: Vec<&NotificationError> = msgs
                .iter()
                .filter_map(|m| match m {
                    Message::Notification(n) => Some(n),
                    _ => None,
                })
                .collect();
            match notifications.as_slice() {
                [] => Answer::CloseQuietly,
                [n] => {
                    assert!(
                        matches!(msgs.last(), Some(Message::Notification(_))),
                        "{}: the NOTIFICATION is the last message: {msgs:?}",
                        case.id
                    );
                    Answer::Notify {
                        code: n.code,
                        subcode: n.subcode,
                        data: Some(n.data.to_vec()),
                    }
                }
                more => panic!("{}: {} NOTIFICATIONs", case.id, more.len()),
            }
        }
    };
    speaker.shutdown().await;
    answer
}

#[tokio::test]
async fn every_row_of_the_rfc_error_table_gets_its_answer_over_tcp() {
    let rows = crafted::cases(&tcp_params());
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for case in rows {
        let (id, expected) = (case.id, case.answer.clone());
        let task = tasks.spawn(async move { (expected, tcp_answer(case).await) });
        names.insert(task.id(), id);
    }
    let mut wrong = Vec::new();
    let mut count = 0;
    while let Some(done) = tasks.join_next_with_id().await {
        count += 1;
        let (task, (expected, got)) = match done {
            Ok(done) => done,
            Err(e) => {
                // A row whose wait ran out (an answer that never came) panics in its task.
                let id = names.get(&e.id()).copied().unwrap_or("?");
                let why = e.try_into_panic().ok().and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                });
                wrong.push(format!("{id}: {}", why.unwrap_or_default()));
                continue;
            }
        };
        let id = names.get(&task).copied().unwrap_or("?");
        let same = match (&expected, &got) {
            (
                Answer::Notify {
                    code,
                    subcode,
                    data,
                },
                Answer::Notify {
                    code: c,
                    subcode: s,
                    data: d,
                },
            ) => (code, subcode) == (c, s) && data.as_ref().is_none_or(|x| Some(x) == d.as_ref()),
            _ => expected == got,
        };
        if !same {
            wrong.push(format!("{id}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(count > 80, "every row ran: {count}");
    assert!(
        wrong.is_empty(),
        "{} rows differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
