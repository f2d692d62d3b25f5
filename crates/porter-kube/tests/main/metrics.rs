//! What the Kubernetes shells report to porter-metrics, against the fake API server: the
//! controller's Eip gauges, allocation failures, leadership and readiness; failed API requests
//! counted below the client.
#![allow(clippy::unwrap_used)]

use crate::support::*;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use porter_fake_api::{FakeApiServer, Outage};
use porter_metrics::{ApiErrors, ControllerMetrics, Health, Registry};

/// The sample `series` (name and labels, as exposed) in `registry`'s exposition, if present.
fn sample(registry: &Registry, series: &str) -> Option<f64> {
    porter_metrics::encode(registry)
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn observed() -> (Registry, ControllerMetrics, Health) {
    let mut registry = Registry::default();
    let metrics = ControllerMetrics::register(&mut registry);
    (registry, metrics, Health::starting("waiting"))
}

#[tokio::test]
async fn the_controller_exports_eip_usage_failures_by_reason_and_leadership() {
    let server = FakeApiServer::start().await;
    server.insert(namespace("default")).unwrap();
    server
        .insert(eip("lab-pool", "203.0.113.10-203.0.113.12"))
        .unwrap();
    server.insert(service("web", "lab-pool")).unwrap();
    // names an Eip that does not exist
    server.insert(service("lost", "no-such-pool")).unwrap();

    let (registry, metrics, health) = observed();
    assert!(health.readiness().is_err());
    let leader = Controller::start_observed(&server, "a", metrics, health.clone());
    eventually(10, "web's address", || ingress_ip(&server, "web")).await;
    eventually(5, "1 of 3 addresses in use", || {
        (sample(&registry, r#"porter_ipam_addresses_in_use{eip="lab-pool"}"#) == Some(1.0))
            .then_some(())
    })
    .await;
    assert_eq!(
        sample(&registry, r#"porter_ipam_pool_size{eip="lab-pool"}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &registry,
            r#"porter_ipam_allocation_failures_total{reason="unknown_eip"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &registry,
            r#"porter_ipam_allocation_failures_total{reason="pool_exhausted"}"#
        ),
        Some(0.0)
    );
    assert_eq!(sample(&registry, "porter_controller_leader"), Some(1.0));
    assert_eq!(health.readiness(), Ok(()));

    // Three more Services for the two free addresses: the pool fills, the last one fails.
    for name in ["a", "b", "c"] {
        server.insert(service(name, "lab-pool")).unwrap();
    }
    eventually(10, "3 of 3 addresses in use", || {
        (sample(&registry, r#"porter_ipam_addresses_in_use{eip="lab-pool"}"#) == Some(3.0))
            .then_some(())
    })
    .await;
    eventually(5, "a pool_exhausted failure", || {
        (sample(
            &registry,
            r#"porter_ipam_allocation_failures_total{reason="pool_exhausted"}"#,
        ) == Some(1.0))
        .then_some(())
    })
    .await;
    // Re-planning (new snapshots keep coming) counts no failure twice.
    server.insert(service("d", "lab-pool")).unwrap();
    eventually(5, "d's failure", || {
        (sample(
            &registry,
            r#"porter_ipam_allocation_failures_total{reason="pool_exhausted"}"#,
        ) == Some(2.0))
        .then_some(())
    })
    .await;
    settle().await;
    assert_eq!(
        sample(
            &registry,
            r#"porter_ipam_allocation_failures_total{reason="unknown_eip"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &registry,
            r#"porter_ipam_allocation_failures_total{reason="pool_exhausted"}"#
        ),
        Some(2.0)
    );

    // A second replica: synced, so ready, but not leading.
    let (standby_registry, standby_metrics, standby_health) = observed();
    let standby = Controller::start_observed(&server, "b", standby_metrics, standby_health.clone());
    eventually(10, "the standby to be ready", || {
        standby_health.readiness().ok()
    })
    .await;
    assert_eq!(
        sample(&standby_registry, "porter_controller_leader"),
        Some(0.0)
    );
    // it plans nothing while it does not lead
    assert_eq!(
        sample(
            &standby_registry,
            r#"porter_ipam_addresses_in_use{eip="lab-pool"}"#
        ),
        None
    );
    // the leader stops (releasing the Lease): the standby takes over
    leader.stop().await;
    eventually(10, "the standby to lead", || {
        (sample(&standby_registry, "porter_controller_leader") == Some(1.0)).then_some(())
    })
    .await;
    eventually(5, "the standby's Eip gauges", || {
        (sample(
            &standby_registry,
            r#"porter_ipam_addresses_in_use{eip="lab-pool"}"#,
        ) == Some(3.0))
        .then_some(())
    })
    .await;
    standby.stop().await;
}

#[tokio::test]
async fn failed_api_requests_are_counted_by_operation_resource_and_kind() {
    let server = FakeApiServer::start().await;
    server.insert(namespace("default")).unwrap();
    server.insert(service("web", "pool")).unwrap();
    let mut registry = Registry::default();
    let errors = ApiErrors::register(&mut registry);
    let config = kube::Config::new(server.url().parse().unwrap());
    let client = porter_kube::counting(config, errors.clone()).unwrap();
    let services: Api<Service> = Api::namespaced(client, "default");

    // successes count nothing
    services.get("web").await.unwrap();
    services.list(&Default::default()).await.unwrap();
    assert!(
        !porter_metrics::encode(&registry).contains("porter_kube_api_errors_total{"),
        "{}",
        porter_metrics::encode(&registry)
    );

    assert!(services.get("missing").await.is_err());
    assert_eq!(errors.get("get", "services", "not_found"), 1);
    assert_eq!(
        sample(
            &registry,
            r#"porter_kube_api_errors_total{operation="get",resource="services",error="not_found"}"#
        ),
        Some(1.0)
    );

    server.set_outage(Outage::ConnectionDrop);
    assert!(services.list(&Default::default()).await.is_err());
    assert_eq!(errors.get("list", "services", "unreachable"), 1);
    assert_eq!(errors.get("get", "services", "not_found"), 1);
}
