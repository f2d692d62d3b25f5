//! The API source against the fake API server: what is seeded shows up, nothing is published
//! before every initial list, changes propagate, outages keep the last snapshot, a 410
//! relist recovers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use porter_fake_api::FakeApiServer;
use porter_kube::{KubeSource, SourceConfig};
use porter_model::{ObjectKey, Snapshot};
use tokio::sync::watch;

fn seed(server: &FakeApiServer) {
    for obj in [
        eip("pool", "203.0.113.10-203.0.113.12"),
        bgp_conf(),
        bgp_peer("rtr"),
        service("web", "pool"),
        endpoint_slice("web"),
        node("n1"),
        namespace("default"),
    ] {
        server.insert(obj).unwrap();
    }
}

fn complete(s: &Snapshot) -> bool {
    s.eips.contains_key("pool")
        && s.bgp_confs.contains_key("default")
        && s.bgp_peers.contains_key("rtr")
        && s.services.contains_key(&ObjectKey::new("default", "web"))
        && s.endpoint_slices
            .contains_key(&ObjectKey::new("default", "web-abc"))
        && s.nodes.contains_key("n1")
        && s.namespaces.contains_key("default")
}

async fn next(rx: &mut watch::Receiver<Snapshot>) -> Snapshot {
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("a snapshot within 10 s")
        .unwrap();
    rx.borrow_and_update().clone()
}

/// Waits until the published snapshot satisfies `f`.
async fn until(rx: &mut watch::Receiver<Snapshot>, what: &str, f: impl Fn(&Snapshot) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if f(&rx.borrow_and_update()) {
            return;
        }
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap();
    }
}

#[tokio::test]
async fn the_first_snapshot_holds_every_kind_seeded() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    let first = next(&mut rx).await;
    assert!(complete(&first), "first snapshot is partial: {first:?}");
    // managedFields are dropped, the rest is the object as served
    let web = &first.services[&ObjectKey::new("default", "web")];
    assert!(web.metadata.managed_fields.is_none());
    assert!(web.metadata.resource_version.is_some());
}

#[tokio::test]
async fn nothing_is_published_before_the_initial_lists_succeed() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.set_unavailable(true);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !rx.has_changed().unwrap(),
        "a snapshot was published without any list succeeding"
    );
    server.set_unavailable(false);
    let first = next(&mut rx).await;
    assert!(complete(&first), "first snapshot is partial: {first:?}");
}

#[tokio::test]
async fn changes_propagate_and_bursts_are_debounced() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    next(&mut rx).await;

    server.insert(service("api", "pool")).unwrap();
    until(&mut rx, "the new Service", |s| {
        s.services.contains_key(&ObjectKey::new("default", "api"))
    })
    .await;

    server.delete("services", Some("default"), "web").unwrap();
    until(&mut rx, "the deleted Service to go", |s| {
        !s.services.contains_key(&ObjectKey::new("default", "web"))
    })
    .await;

    // 20 changes in a burst give far fewer snapshots than changes
    rx.borrow_and_update();
    let mut seen = 0;
    for i in 0..20 {
        server
            .insert(service(&format!("burst-{i}"), "pool"))
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .expect("burst published")
            .unwrap();
        seen += 1;
        if rx.borrow_and_update().services.len() == 21 {
            break;
        }
    }
    assert!(seen < 20, "{seen} snapshots for 20 changes");
}

#[tokio::test]
async fn an_outage_keeps_the_last_snapshot_and_recovery_resumes() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    next(&mut rx).await;

    server.set_unavailable(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // whatever was published during the outage, it still holds everything
    assert!(complete(&rx.borrow_and_update()));
    server.set_unavailable(false);

    server.insert(service("after", "pool")).unwrap();
    until(&mut rx, "a change made after the outage", |s| {
        s.services.contains_key(&ObjectKey::new("default", "after"))
    })
    .await;
    assert!(complete(&rx.borrow()));
}

#[tokio::test]
async fn a_compacted_history_relists_and_catches_up() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    next(&mut rx).await;
    let lists_before = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/api/v1/services" && !r.is_watch())
        .count();

    server.compact_history();
    server.delete("services", Some("default"), "web").unwrap();
    server.insert(service("new", "pool")).unwrap();
    until(&mut rx, "the changes made around the compaction", |s| {
        s.services.contains_key(&ObjectKey::new("default", "new"))
            && !s.services.contains_key(&ObjectKey::new("default", "web"))
    })
    .await;
    let lists_after = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/api/v1/services" && !r.is_watch())
        .count();
    assert!(lists_after > lists_before, "no relist after 410");
    assert!(rx.borrow().eips.contains_key("pool"));
}

#[tokio::test]
async fn a_speaker_can_watch_only_its_own_node() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.insert(node("n2")).unwrap();
    let config = SourceConfig {
        only_node: Some("n1".into()),
        ..Default::default()
    };
    let source = KubeSource::start(server.client(), config);
    let mut rx = source.subscribe();
    let first = next(&mut rx).await;
    assert!(first.nodes.contains_key("n1"));
    assert!(!first.nodes.contains_key("n2"));
}
