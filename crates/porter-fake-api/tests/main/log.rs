//! The request log: asserting exactly what the code under test sent.

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use porter_fake_api::FakeApiServer;
use serde_json::json;

use super::service_json;

#[tokio::test]
async fn records_method_uri_content_type_and_body() {
    let server = FakeApiServer::start().await;
    server.insert(service_json("web", json!({}))).unwrap();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    api.get("web").await.unwrap();
    let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}});
    api.patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path()),
        ("GET", "/api/v1/namespaces/default/services/web")
    );
    let writes = server.writes();
    assert_eq!(writes.len(), 1, "exactly one write");
    let w = &writes[0];
    assert_eq!(w.method, "PATCH");
    assert_eq!(w.path(), "/api/v1/namespaces/default/services/web/status");
    assert_eq!(
        w.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(w.json(), Some(patch));

    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn wait_until_sees_a_later_write() {
    let server = FakeApiServer::start().await;
    server.insert(service_json("web", json!({}))).unwrap();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let writer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}});
        api.patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    });
    let ip = server
        .wait_until(std::time::Duration::from_secs(5), |s| {
            let svc = s.get("services", Some("default"), "web")?;
            svc.pointer("/status/loadBalancer/ingress/0/ip")?
                .as_str()
                .map(str::to_string)
        })
        .await;
    assert_eq!(ip.as_deref(), Some("192.0.2.10"));
    writer.await.unwrap();
    let none = server
        .wait_until(std::time::Duration::from_millis(50), |s| {
            s.get("services", None, "x")
        })
        .await;
    assert!(none.is_none());
}
