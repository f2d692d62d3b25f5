//! Simulated API server outages: requests fail (or stall in kube's retry layer), watches are cut, and
//! kube's watcher resumes (or relists) once the server is back.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use porter_fake_api::{FakeApiServer, Outage};
use serde_json::json;

use super::{next, service_json};

fn name(svc: &Service) -> &str {
    svc.metadata.name.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn connection_drop_fails_fast_then_recovers() {
    let server = FakeApiServer::start().await;
    server.insert(service_json("a", json!({}))).unwrap();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    server.set_unavailable(true);
    let err = tokio::time::timeout(Duration::from_secs(5), api.get("a"))
        .await
        .expect("a dropped connection fails at once")
        .unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "not an API status: {err:?}"
    );
    server.set_unavailable(false);
    assert_eq!(name(&api.get("a").await.unwrap()), "a");
}

#[tokio::test]
async fn service_unavailable_is_retried_by_kube() {
    let server = FakeApiServer::start().await;
    server.insert(service_json("a", json!({}))).unwrap();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    server.set_outage(Outage::ServiceUnavailable);
    let pending = tokio::spawn(async move { api.get("a").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "kube keeps retrying a 503");
    server.set_outage(Outage::None);
    let svc = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(name(&svc), "a");
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count()
            > 2
    );
}

#[tokio::test]
async fn watcher_resumes_after_outage_and_relists_if_history_was_lost() {
    let server = FakeApiServer::start().await;
    server.insert(service_json("a", json!({}))).unwrap();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    assert!(matches!(next(&mut events).await.unwrap(), Event::Init));
    assert!(matches!(
        next(&mut events).await.unwrap(),
        Event::InitApply(_)
    ));
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitDone));

    // Down: the watch is cut and re-watches fail; meanwhile the cluster changes.
    server.set_unavailable(true);
    assert!(next(&mut events).await.is_err());
    server.insert(service_json("b", json!({}))).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.set_unavailable(false);
    // Back: the watcher resumes from its resourceVersion and sees the missed change, without a relist.
    server.clear_requests();
    let ev = loop {
        if let Ok(ev) = next(&mut events).await {
            break ev;
        }
    };
    assert!(
        matches!(ev, Event::Apply(ref s) if name(s) == "b"),
        "{ev:?}"
    );
    assert!(
        server.requests().iter().all(|r| r.is_watch()),
        "resumed by watch only"
    );

    // Down again, and the history is compacted meanwhile: the resume gets 410 and the watcher relists.
    server.set_unavailable(true);
    assert!(next(&mut events).await.is_err());
    server.delete("services", Some("default"), "a").unwrap();
    server.compact_history();
    server.set_unavailable(false);
    let mut relisted = Vec::new();
    loop {
        match next(&mut events).await {
            Ok(Event::InitApply(s)) => relisted.push(name(&s).to_string()),
            Ok(Event::InitDone) => break,
            Ok(Event::Init) | Err(_) => {}
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(relisted, vec!["b"]);
}
