//! Malformed and unsupported requests get `Status` answers with the real API server's codes, never a panic.

use http::{Method, Request};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use porter_fake_api::FakeApiServer;
use serde_json::json;

use super::{code, service, service_json};

async fn send(
    server: &FakeApiServer,
    method: Method,
    uri: &str,
    content_type: &str,
    body: &str,
) -> u16 {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .expect("a valid request");
    match server.client().request_text(req).await {
        Ok(_) => 200,
        Err(e) => code(&e),
    }
}

#[tokio::test]
async fn malformed_requests() {
    let server = FakeApiServer::start().await;
    server.insert(service_json("web", json!({}))).unwrap();
    let svc = "/api/v1/namespaces/default/services";
    let json = "application/json";
    for (method, uri, ct, body, want) in [
        (Method::POST, svc, json, "{not json", 400),
        (Method::POST, svc, json, "[1,2]", 400),
        (Method::POST, svc, json, r#"{"metadata": 5}"#, 400),
        (
            Method::POST,
            svc,
            json,
            r#"{"kind": "Service", "metadata": {}}"#,
            422,
        ),
        (
            Method::POST,
            svc,
            json,
            r#"{"kind": "Pod", "metadata": {"name": "x"}}"#,
            400,
        ),
        (
            Method::POST,
            svc,
            json,
            r#"{"metadata": {"name": "x", "namespace": "other"}}"#,
            400,
        ),
        (
            Method::PUT,
            &format!("{svc}/web"),
            json,
            r#"{"metadata": {"name": "other"}}"#,
            400,
        ),
        (
            Method::PATCH,
            &format!("{svc}/web"),
            "text/plain",
            "{}",
            415,
        ),
        (
            Method::PATCH,
            &format!("{svc}/web"),
            "application/merge-patch+json",
            "nope",
            400,
        ),
        (
            Method::PATCH,
            &format!("{svc}/web"),
            "application/json-patch+json",
            "{}",
            400,
        ),
        (
            Method::PATCH,
            &format!("{svc}/web"),
            "application/json-patch+json",
            r#"[{"op": "explode", "path": "/a"}]"#,
            422,
        ),
        (
            Method::PATCH,
            &format!("{svc}/web"),
            "application/apply-patch+yaml",
            "kind: Service",
            422,
        ),
        (
            Method::PATCH,
            &format!("{svc}/web?fieldManager=x"),
            "application/apply-patch+yaml",
            "{",
            400,
        ),
        (
            Method::PATCH,
            &format!("{svc}/web?fieldManager=x"),
            "application/apply-patch+yaml",
            "metadata: {}",
            400,
        ),
        (Method::GET, "/api/v1/widgets", json, "", 404),
        (Method::GET, "/nothing/here", json, "", 404),
        (
            Method::GET,
            &format!("{svc}?labelSelector=a%20in%20b"),
            json,
            "",
            400,
        ),
        (Method::GET, &format!("{svc}?limit=many"), json, "", 400),
        (
            Method::GET,
            &format!("{svc}?continue=garbage"),
            json,
            "",
            400,
        ),
        (
            Method::GET,
            &format!("{svc}?watch=true&resourceVersion=abc"),
            json,
            "",
            400,
        ),
        (Method::DELETE, &format!("{svc}/web"), json, "{oops", 400),
        (Method::POST, &format!("{svc}/web"), json, "{}", 405),
        (Method::POST, "/api/v1/services", json, "{}", 405),
        (
            Method::GET,
            "/api/v1/namespaces/default/leases/x",
            json,
            "",
            404,
        ),
        (
            Method::GET,
            "/apis/coordination.k8s.io/v1/namespaces/d/leases/x/status",
            json,
            "",
            404,
        ),
    ] {
        assert_eq!(
            send(&server, method.clone(), uri, ct, body).await,
            want,
            "{method} {uri} {body}"
        );
    }
    // Still serving, object untouched.
    assert_eq!(
        server.get("services", Some("default"), "web").unwrap()["metadata"]["name"],
        "web"
    );
}

#[tokio::test]
async fn status_objects_carry_reason_and_details() {
    let server = FakeApiServer::start().await;
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let kube::Error::Api(status) = api.get("missing").await.unwrap_err() else {
        panic!("not an API error")
    };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "services \"missing\" not found");
    let details = status.details.unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("missing", "services")
    );

    api.create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    let kube::Error::Api(status) = api
        .create(&PostParams::default(), &service("web"))
        .await
        .unwrap_err()
    else {
        panic!("not an API error")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );

    // Dry runs change nothing.
    let rv = server.resource_version();
    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let out = api
        .patch(
            "web",
            &dry,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(out.metadata.labels.unwrap()["x"], "y");
    assert_eq!(server.resource_version(), rv);
    let labels = api.list(&ListParams::default()).await.unwrap().items[0]
        .metadata
        .labels
        .clone();
    assert!(!labels.unwrap_or_default().contains_key("x"));
}

#[tokio::test]
async fn an_event_note_over_1024_bytes_is_refused_as_by_the_api_server() {
    let server = FakeApiServer::start().await;
    let uri = "/apis/events.k8s.io/v1/namespaces/default/events";
    let event = |note: &str| {
        json!({"metadata": {"name": "web.1"}, "eventTime": "2026-11-26T00:00:00.000000Z",
            "reportingController": "porter-controller", "reportingInstance": "p-0",
            "action": "Announce", "reason": "Announced", "type": "Normal", "note": note})
        .to_string()
    };
    let json = "application/json";
    let long = "x".repeat(1025);
    assert_eq!(
        send(&server, Method::POST, uri, json, &event(&long)).await,
        422
    );
    assert_eq!(
        send(&server, Method::POST, uri, json, &event(&long[..1024])).await,
        200
    );
}

#[tokio::test]
async fn a_forbidden_object_gets_403_as_rbac_words_it_until_allowed() {
    use k8s_openapi::api::core::v1::Secret;
    let server = FakeApiServer::start().await;
    for name in ["bgp", "other"] {
        server
            .insert(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": "porter-system"},
                "data": {"password": "czNjcmV0"}}))
            .unwrap();
    }
    server.forbid("secrets", Some("porter-system"), "bgp");
    let api: Api<Secret> = Api::namespaced(server.client(), "porter-system");
    let Err(kube::Error::Api(status)) = api.get_opt("bgp").await else {
        panic!("a forbidden Secret must be refused");
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        "secrets \"bgp\" is forbidden: User \"system:anonymous\" cannot get resource \"secrets\" in API group \"\" in the namespace \"porter-system\""
    );
    // only that object: another Secret, and the same name elsewhere, are served
    assert!(api.get("other").await.is_ok());
    let elsewhere: Api<Secret> = Api::namespaced(server.client(), "default");
    assert_eq!(code(&elsewhere.get("bgp").await.unwrap_err()), 404);
    let patch = Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}));
    assert_eq!(
        code(
            &api.patch("bgp", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        ),
        403
    );

    server.allow("secrets", Some("porter-system"), "bgp");
    assert!(api.get("bgp").await.is_ok());
}
