//! `coordination.k8s.io/v1` Leases: how leader election writes them (create/replace, or server-side apply).

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use porter_fake_api::FakeApiServer;
use serde_json::json;

use super::code;

#[tokio::test]
async fn create_and_replace() {
    let server = FakeApiServer::start().await;
    let api: Api<Lease> = Api::namespaced(server.client(), "porter-system");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "porter-controller"},
        "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 15},
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("porter-system"));

    let mut taken = created.clone();
    taken.spec.as_mut().unwrap().holder_identity = Some("node-b".into());
    let replaced = api
        .replace("porter-controller", &PostParams::default(), &taken)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.unwrap().holder_identity.as_deref(),
        Some("node-b")
    );

    // A second candidate racing with the stale copy loses.
    let mut racing = created;
    racing.spec.as_mut().unwrap().holder_identity = Some("node-c".into());
    let err = api
        .replace("porter-controller", &PostParams::default(), &racing)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 409);
    let stored = server
        .get("leases", Some("porter-system"), "porter-controller")
        .unwrap();
    assert_eq!(stored["spec"]["holderIdentity"], "node-b");
}

#[tokio::test]
async fn server_side_apply_creates_then_updates() {
    let server = FakeApiServer::start().await;
    let api: Api<Lease> = Api::namespaced(server.client(), "default");
    let pp = PatchParams::apply("lease-manager").force();
    let applied = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "porter"},
        "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 15},
    });
    let created = api
        .patch("porter", &pp, &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(
        created.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("node-a")
    );
    let fields = created.metadata.managed_fields.unwrap();
    assert_eq!(fields[0].manager.as_deref(), Some("lease-manager"));
    assert_eq!(fields[0].operation.as_deref(), Some("Apply"));

    let applied = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "porter"},
        "spec": {"holderIdentity": "node-b"},
    });
    let updated = api
        .patch("porter", &pp, &Patch::Apply(&applied))
        .await
        .unwrap();
    let spec = updated.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("node-b"));
    assert_eq!(
        spec.lease_duration_seconds, None,
        "a field the manager stopped applying is removed"
    );
}
