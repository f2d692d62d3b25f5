//! The speaker shell over real TCP on loopback, against a "router" built from the porter-bgp
//! core itself (see `support`): announcements, updates, withdrawals, goodbye, and which plan
//! changes keep or restart a session.

use std::sync::atomic::Ordering;

use porter_bgp::State;

use crate::support::*;

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
        error.contains("received NOTIFICATION 6/4"),
        "old session ended with Cease / Administrative Reset (RFC 4486), got {error:?}"
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
