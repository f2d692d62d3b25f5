//! The controller's metrics follow its plans.

use k8s_openapi::api::core::v1::Service;
use porter_api::Eip;
use porter_metrics::{ControllerMetrics, Registry};
use porter_model::assign::plan;
use porter_model::{ObjectKey, Snapshot};
use serde_json::json;

use crate::sample;

fn eip(name: &str, address: &str) -> Eip {
    serde_json::from_value(json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": name},
        "spec": {"address": address}
    }))
    .unwrap()
}

/// An opted-in Service asking for an address from `pool`.
fn service(name: &str, pool: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default",
            "annotations": {"lb.kubesphere.io/v1alpha1": "openelb",
                            "eip.openelb.kubesphere.io/v1alpha2": pool}},
        "spec": {"type": "LoadBalancer"}
    }))
    .unwrap()
}

fn snapshot(eips: &[(&str, &str)], services: &[(&str, &str)]) -> Snapshot {
    let mut s = Snapshot::default();
    for (name, address) in eips {
        s.eips.insert((*name).to_owned(), eip(name, address));
    }
    for (name, pool) in services {
        let svc = service(name, pool);
        s.services
            .insert(ObjectKey::of(&svc.metadata).unwrap(), svc);
    }
    s
}

fn registered() -> (Registry, ControllerMetrics) {
    let mut registry = porter_metrics::build_info("9.9.9");
    let metrics = ControllerMetrics::register(&mut registry);
    (registry, metrics)
}

#[test]
fn the_exposition_names_every_metric_with_help_and_type() {
    let (registry, metrics) = registered();
    metrics.observe(&plan(&snapshot(
        &[("pool", "203.0.113.10-203.0.113.12")],
        &[("web", "pool")],
    )));
    let text = porter_metrics::encode(&registry);
    for line in [
        "# TYPE porter_build info",
        r#"porter_build_info{version="9.9.9"} 1"#,
        "# TYPE porter_ipam_addresses_in_use gauge",
        r#"porter_ipam_addresses_in_use{eip="pool"} 1"#,
        "# TYPE porter_ipam_pool_size gauge",
        r#"porter_ipam_pool_size{eip="pool"} 3"#,
        "# TYPE porter_ipam_allocation_failures counter",
        "# TYPE porter_controller_leader gauge",
        "porter_controller_leader 0",
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    for name in [
        "porter_ipam_addresses_in_use",
        "porter_ipam_pool_size",
        "porter_ipam_allocation_failures",
        "porter_controller_leader",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# HELP {name} "))),
            "no help for {name} in\n{text}"
        );
    }
    // every failure reason is exposed from 0, so rates and alerts work before the first one
    for reason in porter_model::assign::FailureReason::ALL {
        let series = format!(
            r#"porter_ipam_allocation_failures_total{{reason="{}"}}"#,
            reason.as_str()
        );
        assert_eq!(sample(&registry, &series), Some(0.0), "{series}");
    }
}

#[test]
fn pool_gauges_follow_the_last_plan() {
    let (registry, metrics) = registered();
    let eips = [
        ("pool", "203.0.113.10-203.0.113.12"),
        ("other", "198.51.100.0/28"),
    ];
    metrics.observe(&plan(&snapshot(
        &eips,
        &[("a", "pool"), ("b", "pool"), ("c", "other")],
    )));
    assert_eq!(
        sample(&registry, r#"porter_ipam_addresses_in_use{eip="pool"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&registry, r#"porter_ipam_addresses_in_use{eip="other"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&registry, r#"porter_ipam_pool_size{eip="other"}"#),
        Some(16.0)
    );
    // a Service gone, the other Eip deleted: its series go, the first one follows
    metrics.observe(&plan(&snapshot(&eips[..1], &[("a", "pool")])));
    assert_eq!(
        sample(&registry, r#"porter_ipam_addresses_in_use{eip="pool"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&registry, r#"porter_ipam_pool_size{eip="other"}"#),
        None
    );
    // a controller that stops leading plans no more: its gauges go rather than go stale
    metrics.forget_plan();
    assert_eq!(
        sample(&registry, r#"porter_ipam_addresses_in_use{eip="pool"}"#),
        None
    );
    // an invalid Eip has no usage to report
    metrics.observe(&plan(&snapshot(&[("bad", "10.0.0.5/24")], &[])));
    let text = porter_metrics::encode(&registry);
    assert!(!text.contains(r#"eip="bad""#), "{text}");
}

#[test]
fn each_failure_is_counted_once_by_its_reason() {
    let (registry, metrics) = registered();
    let exhausted = r#"porter_ipam_allocation_failures_total{reason="pool_exhausted"}"#;
    let unknown = r#"porter_ipam_allocation_failures_total{reason="unknown_eip"}"#;
    let full = snapshot(
        &[("tiny", "203.0.113.10/32")],
        &[("a", "tiny"), ("b", "tiny"), ("lost", "nope")],
    );
    metrics.observe(&plan(&full));
    assert_eq!(sample(&registry, exhausted), Some(1.0));
    assert_eq!(sample(&registry, unknown), Some(1.0));
    // the same failures in the next plans are not new
    metrics.observe(&plan(&full));
    metrics.observe(&plan(&full));
    assert_eq!(sample(&registry, exhausted), Some(1.0));
    assert_eq!(sample(&registry, unknown), Some(1.0));
    // "lost" gets its address (the Eip it names appears), then fails again when it goes
    let found = snapshot(
        &[("tiny", "203.0.113.10/32"), ("nope", "203.0.113.20/32")],
        &[("a", "tiny"), ("b", "tiny"), ("lost", "nope")],
    );
    metrics.observe(&plan(&found));
    assert_eq!(sample(&registry, unknown), Some(1.0));
    metrics.observe(&plan(&full));
    assert_eq!(sample(&registry, unknown), Some(2.0));
    assert_eq!(sample(&registry, exhausted), Some(1.0));
}

#[test]
fn reconcile_errors_count_by_kind_and_leadership_is_zero_or_one() {
    let (registry, metrics) = registered();
    metrics.reconcile_error("conflict");
    metrics.reconcile_error("conflict");
    metrics.reconcile_error("unreachable");
    let text = porter_metrics::encode(&registry);
    assert!(
        text.lines()
            .any(|l| l == "# TYPE porter_reconcile_errors counter"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("# HELP porter_reconcile_errors ")),
        "{text}"
    );
    assert_eq!(
        sample(
            &registry,
            r#"porter_reconcile_errors_total{error="conflict"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &registry,
            r#"porter_reconcile_errors_total{error="unreachable"}"#
        ),
        Some(1.0)
    );
    metrics.set_leader(true);
    assert_eq!(sample(&registry, "porter_controller_leader"), Some(1.0));
    metrics.set_leader(false);
    assert_eq!(sample(&registry, "porter_controller_leader"), Some(0.0));
}
