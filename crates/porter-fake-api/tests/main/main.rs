//! Drives the fake API server with real kube-rs clients: `Api<K>` verbs, `kube::runtime::watcher`, and the
//! test controls. One test binary; one module per area.

//! Test scenarios, one file per area, plus shared helpers.

mod crd;
mod errors;
mod finalizers;
mod lease;
mod log;
mod outage;
mod service;
mod watcher;

use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

/// A LoadBalancer Service as kubectl would create it.
pub(crate) fn service_json(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    })
}

pub(crate) fn service(name: &str) -> Service {
    serde_json::from_value(service_json(name, json!({}))).expect("a valid Service")
}

/// The next item of a stream, failing the test after 10 s.
pub(crate) async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no stream item within 10 s")
        .expect("stream ended")
}

/// The API error code of a kube error.
pub(crate) fn code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}
