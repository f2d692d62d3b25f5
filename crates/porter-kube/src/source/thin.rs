//! The speaker's watch events decoded thin ([`ThinService`], [`ThinEndpointSlice`], defined in
//! porter-model so the manifests reader decodes the same way) and turned into their sparse
//! `k8s-openapi` twins for the shared projections.

use kube::runtime::watcher::Event;
pub use porter_model::thin::{ThinEndpointSlice, ThinService};

/// `event` with its object (if any) turned by `f`: a thin object into its sparse twin.
pub(super) fn map_event<A, B>(event: Event<A>, f: fn(A) -> B) -> Event<B> {
    match event {
        Event::Init => Event::Init,
        Event::InitApply(obj) => Event::InitApply(f(obj)),
        Event::InitDone => Event::InitDone,
        Event::Apply(obj) => Event::Apply(f(obj)),
        Event::Delete(obj) => Event::Delete(f(obj)),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_watch_event_of_either_kind_decodes_thin() {
        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "48213",
                         "uid": "6f1f3a52-6c1e-4a43-9b7e-0c1c9d3f2a10"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}
        });
        let event = json!({"type": "MODIFIED", "object": service});
        let parsed: kube::api::WatchEvent<ThinService> = serde_json::from_value(event).unwrap();
        let kube::api::WatchEvent::Modified(svc) = parsed else {
            panic!("not a modification: {parsed:?}");
        };
        assert_eq!(svc.metadata.resource_version.as_deref(), Some("48213"));
        assert_eq!(
            <ThinService as kube::Resource>::url_path(&(), Some("shop")),
            <Service as kube::Resource>::url_path(&(), Some("shop"))
        );
        assert_eq!(
            <ThinEndpointSlice as kube::Resource>::url_path(&(), None),
            <EndpointSlice as kube::Resource>::url_path(&(), None)
        );
    }
}
