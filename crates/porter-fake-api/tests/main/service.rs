//! Core Services through `Api<Service>`: CRUD, selectors, pagination and the status subresource.

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use porter_fake_api::FakeApiServer;
use serde_json::json;

use super::{code, service, service_json};

#[tokio::test]
async fn create_get_list_and_status_patch() {
    let server = FakeApiServer::start().await;
    let api: Api<Service> = Api::namespaced(server.client(), "default");

    let mut svc = service("web");
    svc.status = Some(
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}})).unwrap(),
    );
    let created = api.create(&PostParams::default(), &svc).await.unwrap();
    let meta = &created.metadata;
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();
    // Services have a status subresource: a create cannot set status.
    assert_eq!(
        created
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress),
        None
    );

    let got = api.get("web").await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid);
    assert_eq!(code(&api.get("nope").await.unwrap_err()), 404);
    assert_eq!(
        code(&api.create(&PostParams::default(), &svc).await.unwrap_err()),
        409
    );

    let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}});
    let patched = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let ingress = patched
        .status
        .unwrap()
        .load_balancer
        .unwrap()
        .ingress
        .unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status writes do not bump generation"
    );
    let rv2: u64 = patched
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);

    // The main resource ignores status; spec changes bump generation.
    let patch = json!({"spec": {"loadBalancerIP": "192.0.2.99"}, "status": {"loadBalancer": {}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let stored = server.get("services", Some("default"), "web").unwrap();
    assert_eq!(
        stored["status"]["loadBalancer"]["ingress"][0]["ip"],
        "192.0.2.10"
    );
    assert_eq!(stored["spec"]["loadBalancerIP"], "192.0.2.99");

    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(
        list.metadata.resource_version,
        Some(server.resource_version().to_string())
    );
}

#[tokio::test]
async fn unchanged_writes_are_not_written() {
    let server = FakeApiServer::start().await;
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    let rv = server.resource_version();
    let same = json!({"spec": {"type": "LoadBalancer"}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&same))
        .await
        .unwrap();
    assert_eq!(
        server.resource_version(),
        rv,
        "a no-op patch must not bump the resourceVersion"
    );
}

#[tokio::test]
async fn replace_with_stale_resource_version_conflicts() {
    let server = FakeApiServer::start().await;
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let created = api
        .create(&PostParams::default(), &service("web"))
        .await
        .unwrap();

    // Someone else changes it.
    server
        .update("services", Some("default"), "web", |o| {
            o["metadata"]["labels"] = json!({"touched": "yes"})
        })
        .unwrap();

    let mut stale = created.clone();
    stale.metadata.annotations = Some([("a".to_string(), "b".to_string())].into());
    let err = api
        .replace("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 409);
    let kube::Error::Api(status) = err else {
        unreachable!()
    };
    assert_eq!(status.reason, "Conflict");

    let mut fresh = api.get("web").await.unwrap();
    fresh.metadata.annotations = Some([("a".to_string(), "b".to_string())].into());
    let replaced = api
        .replace("web", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.annotations.unwrap()["a"], "b");
    assert_eq!(replaced.metadata.labels.unwrap()["touched"], "yes");
}

#[tokio::test]
async fn selectors_and_pagination() {
    let server = FakeApiServer::start().await;
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web"})),
        ("c", json!({"app": "db"})),
        ("d", json!({})),
        ("e", json!({"app": "cache"})),
    ] {
        server.insert(service_json(name, labels)).unwrap();
    }
    server
        .insert(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "other"}}))
        .unwrap();
    let names = |list: kube::core::ObjectList<Service>| -> Vec<String> {
        list.items
            .into_iter()
            .map(|s| s.metadata.name.unwrap())
            .collect()
    };
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    for (selector, want) in [
        ("app=web", vec!["a", "b"]),
        ("app=web,tier", vec!["a"]),
        ("app!=web", vec!["c", "d", "e"]),
        ("app in (db,cache)", vec!["c", "e"]),
        ("app notin (web),app", vec!["c", "e"]),
        ("!app", vec!["d"]),
    ] {
        let got = names(
            api.list(&ListParams::default().labels(selector))
                .await
                .unwrap(),
        );
        assert_eq!(got, want, "{selector}");
    }
    let got = names(
        api.list(&ListParams::default().fields("metadata.name=c"))
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["c"]);

    let all: Api<Service> = Api::all(server.client());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        6
    );
    let got = names(
        all.list(&ListParams::default().fields("metadata.namespace=other"))
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["x"]);

    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(2);
    loop {
        let page = api.list(&lp).await.unwrap();
        let token = page.metadata.continue_.clone();
        seen.extend(names(page));
        match token {
            Some(t) if !t.is_empty() => lp = lp.continue_token(&t),
            _ => break,
        }
    }
    assert_eq!(seen, vec!["a", "b", "c", "d", "e"]);
}
