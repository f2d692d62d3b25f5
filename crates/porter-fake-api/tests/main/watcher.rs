//! `kube::runtime::watcher` against the fake: list-then-watch, streaming lists, selectors, 410 relists,
//! bookmarks and timeouts.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use porter_fake_api::FakeApiServer;
use serde_json::json;

use super::{next, service_json};

fn name(svc: &Service) -> &str {
    svc.metadata.name.as_deref().unwrap_or_default()
}

/// The next event, skipping the errors a watcher reports while it recovers.
async fn next_ok<S>(stream: &mut S) -> Event<Service>
where
    S: futures::Stream<Item = Result<Event<Service>, watcher::Error>> + Unpin,
{
    loop {
        if let Ok(ev) = next(stream).await {
            return ev;
        }
    }
}

async fn expect_initial<S>(stream: &mut S, want: &[&str])
where
    S: futures::Stream<Item = Result<Event<Service>, watcher::Error>> + Unpin,
{
    assert!(matches!(next_ok(stream).await, Event::Init));
    let mut got = Vec::new();
    loop {
        match next_ok(stream).await {
            Event::InitApply(s) => got.push(name(&s).to_string()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, want);
}

#[tokio::test]
async fn list_then_watch_and_relist_after_410() {
    let server = FakeApiServer::start().await;
    server.insert(service_json("a", json!({}))).unwrap();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    expect_initial(&mut events, &["a"]).await;

    server.insert(service_json("b", json!({}))).unwrap();
    assert!(matches!(next_ok(&mut events).await, Event::Apply(s) if name(&s) == "b"));
    server
        .update("services", Some("default"), "a", |o| {
            o["spec"]["loadBalancerIP"] = json!("192.0.2.1")
        })
        .unwrap();
    assert!(matches!(next_ok(&mut events).await, Event::Apply(s) if name(&s) == "a"));
    server.delete("services", Some("default"), "a").unwrap();
    assert!(matches!(next_ok(&mut events).await, Event::Delete(s) if name(&s) == "a"));

    // Compaction: the open watch gets a 410 ERROR event, and the watcher relists.
    server.clear_requests();
    server.compact_history();
    let err = next(&mut events)
        .await
        .expect_err("the watcher reports the 410");
    assert!(
        matches!(err, watcher::Error::WatchError(ref s) if s.code == 410),
        "{err:?}"
    );
    expect_initial(&mut events, &["b"]).await;
    let lists = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && !r.is_watch())
        .count();
    assert_eq!(lists, 1, "exactly one relist");

    server.insert(service_json("c", json!({}))).unwrap();
    assert!(matches!(next_ok(&mut events).await, Event::Apply(s) if name(&s) == "c"));
}

#[tokio::test]
async fn watcher_request_shape() {
    let server = FakeApiServer::start().await;
    let api: Api<Service> = Api::all(server.client());
    let mut events = watcher::watcher(api, watcher::Config::default().labels("app=web")).boxed();
    expect_initial(&mut events, &[]).await;
    server
        .insert(service_json("w", json!({"app": "web"})))
        .unwrap();
    assert!(matches!(next_ok(&mut events).await, Event::Apply(s) if name(&s) == "w"));

    let reqs = server.requests();
    assert_eq!(reqs[0].path(), "/api/v1/services");
    assert_eq!(reqs[0].query("labelSelector").as_deref(), Some("app=web"));
    assert_eq!(reqs[0].query("limit").as_deref(), Some("500"));
    assert!(reqs[1].is_watch());
    assert_eq!(
        reqs[1].query("allowWatchBookmarks").as_deref(),
        Some("true")
    );
    assert_eq!(reqs[1].query("timeoutSeconds").as_deref(), Some("290"));
    assert_eq!(
        reqs[0].query("resourceVersion"),
        None,
        "the default list semantic is MostRecent"
    );
    assert_eq!(
        reqs[1].query("resourceVersion").as_deref(),
        Some("1"),
        "the watch resumes from the list's RV"
    );

    // Leaving the selector is a delete for this watch; entering it again an add.
    server
        .update("services", Some("default"), "w", |o| {
            o["metadata"]["labels"]["app"] = json!("db")
        })
        .unwrap();
    assert!(matches!(next_ok(&mut events).await, Event::Delete(s) if name(&s) == "w"));
    server
        .update("services", Some("default"), "w", |o| {
            o["metadata"]["labels"]["app"] = json!("web")
        })
        .unwrap();
    assert!(matches!(next_ok(&mut events).await, Event::Apply(s) if name(&s) == "w"));
}

#[tokio::test]
async fn streaming_list_and_pages() {
    let server = FakeApiServer::start().await;
    for n in ["a", "b", "c"] {
        server.insert(service_json(n, json!({}))).unwrap();
    }
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let mut streaming =
        watcher::watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    expect_initial(&mut streaming, &["a", "b", "c"]).await;
    server.insert(service_json("d", json!({}))).unwrap();
    assert!(matches!(next_ok(&mut streaming).await, Event::Apply(s) if name(&s) == "d"));

    let mut paged = watcher::watcher(api, watcher::Config::default().page_size(2)).boxed();
    expect_initial(&mut paged, &["a", "b", "c", "d"]).await;
}

#[tokio::test]
async fn raw_watch_timeout_and_bookmarks() {
    let server = FakeApiServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await;
    server.insert(service_json("a", json!({}))).unwrap();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let rv = server.resource_version().to_string();

    // From "0": synthetic ADDED for the current state, then bookmarks; the stream ends after the timeout.
    let wp = WatchParams::default().timeout(1);
    let started = std::time::Instant::now();
    let events: Vec<_> = api
        .watch(&wp, "0")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(matches!(&events[0], WatchEvent::Added(s) if name(s) == "a"));
    assert!(
        events[1..]
            .iter()
            .all(|e| matches!(e, WatchEvent::Bookmark(b) if b.metadata.resource_version == rv))
    );
    assert!(
        events.len() >= 3,
        "periodic bookmarks plus the final one: {events:?}"
    );

    // From the current RV: only new changes.
    let mut stream = api
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    server.insert(service_json("b", json!({}))).unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Added(s) if name(&s) == "b"));

    // A too-old RV: HTTP 200 and a 410 ERROR event.
    server.compact_history();
    let events: Vec<_> = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        matches!(&events[..], [WatchEvent::Error(e)] if e.code == 410 && e.reason == "Expired")
    );
}

#[tokio::test]
async fn bounded_history_expires_old_versions() {
    let server = FakeApiServer::builder().history(3).start().await;
    server.insert(service_json("a", json!({}))).unwrap();
    let old = server.resource_version().to_string();
    for i in 0..5 {
        server
            .update("services", Some("default"), "a", |o| {
                o["metadata"]["labels"] = json!({"i": i.to_string()})
            })
            .unwrap();
    }
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let events: Vec<_> = api
        .watch(&WatchParams::default().timeout(1), &old)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(matches!(&events[..], [WatchEvent::Error(e)] if e.code == 410));
    // Within the retained window the history replays.
    let recent = (server.resource_version() - 2).to_string();
    let events: Vec<_> = api
        .watch(
            &WatchParams::default().timeout(1).disable_bookmarks(),
            &recent,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
}

/// Paging through a large list costs the server about one look per object, whatever the page
/// size: each page seeks to where the last one ended. (It used to scan from the first object
/// for every page: N² / page looks, 34 s for a speaker's initial lists of 100k Services.)
#[tokio::test]
async fn a_paged_list_looks_at_each_object_about_once() {
    const SERVICES: usize = 600;
    let server = FakeApiServer::start().await;
    for i in 0..SERVICES {
        let ns = format!("ns-{}", i % 7);
        let mut svc = service_json(&format!("s{i:04}"), json!({}));
        svc["metadata"]["namespace"] = json!(ns);
        server.insert(svc).unwrap();
        // objects of other resources, around the Services in the store
        server
            .insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("c{i:04}"), "namespace": ns}}))
            .unwrap();
    }
    for (scope, want) in [(None, SERVICES), (Some("ns-3"), SERVICES / 7 + 1)] {
        let api: Api<Service> = match scope {
            Some(ns) => Api::namespaced(server.client(), ns),
            None => Api::all(server.client()),
        };
        let before = server.list_examined();
        let mut paged = watcher::watcher(api, watcher::Config::default().page_size(10)).boxed();
        assert!(matches!(next_ok(&mut paged).await, Event::Init));
        let mut listed = 0;
        loop {
            match next_ok(&mut paged).await {
                Event::InitApply(_) => listed += 1,
                Event::InitDone => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(listed, want, "{scope:?}");
        // a page looks at its objects and the one after it (to know whether another follows)
        let examined = server.list_examined() - before;
        let pages = want.div_ceil(10) as u64;
        assert!(
            examined <= want as u64 + pages,
            "{scope:?}: {examined} objects examined to list {want} in {pages} pages"
        );
    }
}
