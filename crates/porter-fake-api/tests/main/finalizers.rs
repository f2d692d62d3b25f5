//! Deletion with finalizers: the object stays with a deletionTimestamp until its finalizers are gone.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use porter_api::{Eip, EipSpec};
use porter_fake_api::FakeApiServer;
use serde_json::json;

use super::{code, next, service};

const FINALIZER: &str = "network.kubesphere.io/finalizer";

#[tokio::test]
async fn delete_waits_for_finalizers_and_watchers_see_the_delete() {
    let server = FakeApiServer::start().await;
    let api: Api<Eip> = Api::all(server.client());
    let mut eip = Eip::new(
        "pool",
        EipSpec {
            address: "192.0.2.0/28".into(),
            ..EipSpec::default()
        },
    );
    eip.metadata.finalizers = Some(vec![FINALIZER.into()]);
    api.create(&PostParams::default(), &eip).await.unwrap();

    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(next(&mut events).await.unwrap(), Event::Init));
    assert!(matches!(
        next(&mut events).await.unwrap(),
        Event::InitApply(_)
    ));
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitDone));

    let deleted = api.delete("pool", &DeleteParams::default()).await.unwrap();
    let pending = deleted
        .left()
        .expect("the object is returned while finalizers remain");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let still = api.get("pool").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    assert!(
        matches!(next(&mut events).await.unwrap(), Event::Apply(e) if e.metadata.deletion_timestamp.is_some())
    );

    // No new finalizers on a deleting object.
    let add = json!({"metadata": {"finalizers": [FINALIZER, "other/finalizer"]}});
    let err = api
        .patch("pool", &PatchParams::default(), &Patch::Merge(&add))
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);

    // Removing the finalizer (as kube's `finalizer()` does, by JSON patch test+remove) deletes it.
    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]))
    .unwrap();
    api.patch("pool", &PatchParams::default(), &Patch::Json::<()>(remove))
        .await
        .unwrap();
    assert_eq!(code(&api.get("pool").await.unwrap_err()), 404);
    assert!(
        matches!(next(&mut events).await.unwrap(), Event::Delete(e) if e.metadata.name.as_deref() == Some("pool"))
    );
}

#[tokio::test]
async fn kube_finalizer_helper_patches_apply() {
    // The JSON patches kube::runtime::finalizer sends to add a finalizer to an object that has none.
    let server = FakeApiServer::start().await;
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    let add: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
    ]))
    .unwrap();
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json::<()>(add.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.finalizers,
        Some(vec![FINALIZER.to_string()])
    );
    // The same patch again fails its `test`: 422, as kube's finalizer() expects.
    let err = api
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(add))
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);

    // Deleting through the test controls and then emptying finalizers by merge patch removes it.
    server.delete("services", Some("default"), "web").unwrap();
    assert!(
        server.get("services", Some("default"), "web").unwrap()["metadata"]["deletionTimestamp"]
            .is_string()
    );
    let clear = json!({"metadata": {"finalizers": null}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&clear))
        .await
        .unwrap();
    assert!(server.get("services", Some("default"), "web").is_none());
}
