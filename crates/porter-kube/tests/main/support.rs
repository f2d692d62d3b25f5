//! Fixtures for the HTTP-level tests: objects as JSON, polling, a controller harness.
#![allow(clippy::unwrap_used, unreachable_pub)]

use std::time::Duration;

use porter_fake_api::FakeApiServer;
use porter_kube::controller::{self, ControllerConfig};
use porter_metrics::{ControllerMetrics, Health};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const NS: &str = "porter-system";
pub const FINALIZER: &str = "finalizer.lb.kubesphere.io/v1alpha1";
pub const POOL_LABEL: &str = "eip.openelb.kubesphere.io/v1alpha2";

pub fn eip(name: &str, address: &str) -> Value {
    json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": name},
        "spec": {"address": address}
    })
}

/// An opted-in LoadBalancer Service in `default` asking for an address from `pool`.
pub fn service(name: &str, pool: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default",
            "annotations": {"lb.kubesphere.io/v1alpha1": "openelb", POOL_LABEL: pool}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}
    })
}

/// The same Service as a controller left it holding `ip`.
pub fn service_holding(name: &str, pool: &str, ip: &str) -> Value {
    let mut s = service(name, pool);
    s["metadata"]["finalizers"] = json!([FINALIZER]);
    s["metadata"]["labels"] = json!({POOL_LABEL: pool});
    s["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
    s
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

pub fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.99.0.11"}],
                   "conditions": [{"type": "Ready", "status": "True"}]}})
}

pub fn bgp_peer(name: &str) -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
        "metadata": {"name": name},
        "spec": {"conf": {"neighborAddress": "10.99.0.1", "peerAs": 64512, "authPassword": "s3cret"}}})
}

pub fn bgp_conf() -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
        "metadata": {"name": "default"}, "spec": {"as": 64513, "listenPort": -1}})
}

pub fn endpoint_slice(service: &str) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-abc"), "namespace": "default",
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.5"], "nodeName": "n1", "conditions": {"ready": true}}]})
}

/// Polls `f` every 20 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn ingress_ip(server: &FakeApiServer, name: &str) -> Option<String> {
    let svc = server.get("services", Some("default"), name)?;
    svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .map(str::to_owned)
}

/// Events (events.k8s.io/v1) with `reason`, as (regarding name, note, reportingInstance).
pub fn events(server: &FakeApiServer, reason: &str) -> Vec<(String, String, String)> {
    server
        .list("events.events.k8s.io")
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| {
            (
                e["regarding"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["note"].as_str().unwrap_or_default().to_owned(),
                e["reportingInstance"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// Writes (non-GET requests) whose path contains `fragment`.
pub fn writes_to(server: &FakeApiServer, fragment: &str) -> Vec<String> {
    server
        .writes()
        .into_iter()
        .filter(|r| r.path().contains(fragment))
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

/// The lease holder's identity.
pub fn lease_holder(server: &FakeApiServer) -> Option<String> {
    let lease = server.get("leases", Some(NS), "porter-controller")?;
    lease["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

/// A running controller (source + lease + writer) that can be stopped like a Pod.
pub struct Controller {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Controller {
    pub fn start(server: &FakeApiServer, identity: &str) -> Self {
        Self::start_observed(
            server,
            identity,
            ControllerMetrics::default(),
            Health::default(),
        )
    }

    /// Like [`Controller::start`], reporting into `metrics` and `health`.
    pub fn start_observed(
        server: &FakeApiServer,
        identity: &str,
        metrics: ControllerMetrics,
        health: Health,
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let client = server.client();
        let config = ControllerConfig {
            namespace: NS.to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(2),
            metrics,
            health,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(controller::run(client, config, async {
            let _ = rx.await;
        }));
        Self {
            stop: Some(tx),
            task,
        }
    }

    /// Stops it gracefully (the Lease is released).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}
