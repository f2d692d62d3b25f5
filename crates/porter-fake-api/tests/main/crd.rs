//! Porter's cluster-scoped CRDs (`network.kubesphere.io/v1alpha2`), typed and dynamic, and server-side apply
//! of their status.

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use porter_api::{Eip, EipSpec};
use porter_fake_api::FakeApiServer;
use serde_json::json;

use super::code;

fn eip(name: &str, address: &str) -> Eip {
    Eip::new(
        name,
        EipSpec {
            address: address.into(),
            ..EipSpec::default()
        },
    )
}

#[tokio::test]
async fn typed_eip_crud() {
    let server = FakeApiServer::start().await;
    let api: Api<Eip> = Api::all(server.client());
    let created = api
        .create(&PostParams::default(), &eip("pool-a", "192.0.2.0/28"))
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace, None, "Eips are cluster-scoped");
    assert_eq!(
        api.get("pool-a").await.unwrap().spec.address,
        "192.0.2.0/28"
    );
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    let stored = server.get("eips", None, "pool-a").unwrap();
    assert_eq!(stored["apiVersion"], "network.kubesphere.io/v1alpha2");
    assert_eq!(stored["kind"], "Eip");

    // Strategic merge patch is not available for custom resources.
    let err = api
        .patch(
            "pool-a",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"disable": true}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), 415);
}

#[tokio::test]
async fn dynamic_object_access() {
    let server = FakeApiServer::start().await;
    let gvk = GroupVersionKind::gvk("network.kubesphere.io", "v1alpha2", "Eip");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "eips");
    let api: Api<DynamicObject> = Api::all_with(server.client(), &ar);
    let mut obj = DynamicObject::new("pool-b", &ar);
    obj.data = json!({"spec": {"address": "198.51.100.0/24", "protocol": "bgp"}});
    api.create(&PostParams::default(), &obj).await.unwrap();
    let got = api.get("pool-b").await.unwrap();
    assert_eq!(got.data["spec"]["protocol"], "bgp");
    // The typed view reads the same object.
    let typed: Api<Eip> = Api::all(server.client());
    assert_eq!(
        typed.get("pool-b").await.unwrap().spec.address,
        "198.51.100.0/24"
    );
}

#[tokio::test]
async fn server_side_apply_of_status() {
    let server = FakeApiServer::start().await;
    let api: Api<Eip> = Api::all(server.client());
    api.create(&PostParams::default(), &eip("pool-a", "192.0.2.0/28"))
        .await
        .unwrap();
    let pp = PatchParams::apply("porter").force();
    let status = |body: serde_json::Value| json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip", "status": body});

    server.clear_requests();
    let applied = api
        .patch_status(
            "pool-a",
            &pp,
            &Patch::Apply(status(json!({"usage": 1, "poolSize": 16, "ready": true}))),
        )
        .await
        .unwrap();
    let st = applied.status.clone().unwrap();
    assert_eq!(
        (st.usage, st.pool_size, st.ready),
        (Some(1), Some(16), Some(true))
    );
    assert_eq!(applied.spec.address, "192.0.2.0/28");
    assert_eq!(applied.metadata.generation, Some(1));
    let entry = &applied.metadata.managed_fields.unwrap()[0];
    assert_eq!(entry.manager.as_deref(), Some("porter"));
    assert_eq!(entry.subresource.as_deref(), Some("status"));

    let writes = server.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].path(),
        "/apis/network.kubesphere.io/v1alpha2/eips/pool-a/status"
    );
    assert_eq!(writes[0].query("fieldManager").as_deref(), Some("porter"));
    assert_eq!(writes[0].query("force").as_deref(), Some("true"));
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(writes[0].json().unwrap()["status"]["usage"], 1);

    // Applying the whole status again without `ready` drops it, like a real server.
    let applied = api
        .patch_status(
            "pool-a",
            &pp,
            &Patch::Apply(status(json!({"usage": 2, "poolSize": 16}))),
        )
        .await
        .unwrap();
    let st = applied.status.unwrap();
    assert_eq!((st.usage, st.ready), (Some(2), None));

    // Another manager's fields survive.
    let other = PatchParams::apply("speaker").force();
    api.patch_status(
        "pool-a",
        &other,
        &Patch::Apply(status(json!({"occupied": true}))),
    )
    .await
    .unwrap();
    let applied = api
        .patch_status("pool-a", &pp, &Patch::Apply(status(json!({"usage": 3}))))
        .await
        .unwrap();
    let st = applied.status.unwrap();
    assert_eq!(
        (st.usage, st.pool_size, st.occupied),
        (Some(3), None, Some(true))
    );

    // Status is ignored on the main resource.
    let main = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "spec": {"address": "192.0.2.0/28", "disable": true}, "status": {"usage": 99},
    });
    let applied = api
        .patch("pool-a", &pp, &Patch::Apply(&main))
        .await
        .unwrap();
    assert_eq!(applied.spec.disable, Some(true));
    assert_eq!(applied.status.unwrap().usage, Some(3));
    assert_eq!(applied.metadata.generation, Some(2));

    // Apply to the status of a missing object is a 404, apply without fieldManager is rejected.
    let err = api
        .patch_status("nope", &pp, &Patch::Apply(status(json!({}))))
        .await
        .unwrap_err();
    assert_eq!(code(&err), 404);
}
