//! The controller's metrics: Eip usage, allocation failures, reconcile errors, leadership.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use porter_model::ObjectKey;
use porter_model::assign::{Failure, FailureReason, Outcome, Plan};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabel {
    error: &'static str,
}

/// Addresses in use and pool size of one valid Eip, from the last plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PoolUsage {
    in_use: i64,
    size: i64,
}

/// Everything the controller exports. Cheap to clone; clones share their state.
///
/// Built unregistered by [`Default`] (counting, exporting nothing), or registered with
/// [`ControllerMetrics::register`].
#[derive(Debug, Clone, Default)]
pub struct ControllerMetrics {
    /// Read at scrape time by [`Pools`]: the last plan's Eips, so a deleted Eip's series go
    /// with it.
    pools: Arc<Mutex<BTreeMap<String, PoolUsage>>>,
    allocation_failures: Family<ReasonLabel, Counter>,
    /// Each failing Service's failure in the last plan, so a failure is counted once when it
    /// appears, not on every plan.
    failing: Arc<Mutex<BTreeMap<ObjectKey, Failure>>>,
    reconcile_errors: Family<ErrorLabel, Counter>,
    leader: Gauge,
}

impl ControllerMetrics {
    /// The controller's metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register_collector(Box::new(Pools(metrics.pools.clone())));
        registry.register(
            "porter_ipam_allocation_failures",
            "Services that could not get an address, counted once each time a Service's allocation starts failing or fails for a new reason (the moments an AllocationFailed event is reported), by kind of failure",
            metrics.allocation_failures.clone(),
        );
        // Every reason from 0, so a rate or an alert on any of them works before the first one.
        for reason in FailureReason::ALL {
            let _ = metrics.allocation_failures.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            });
        }
        registry.register(
            "porter_reconcile_errors",
            "Rounds of writes to the Kubernetes API that failed and are retried with backoff, by kind of error",
            metrics.reconcile_errors.clone(),
        );
        registry.register(
            "porter_controller_leader",
            "1 while this controller holds the leader Lease and writes, 0 while another replica does (always 1 with --manifests, which has no election)",
            metrics.leader.clone(),
        );
        metrics
    }

    /// Takes in a new plan: the Eips' usage, and the Services whose allocation newly failed.
    pub fn observe(&self, plan: &Plan) {
        let pools = plan
            .eips
            .iter()
            .filter_map(|(name, eip)| {
                let usage = PoolUsage {
                    in_use: eip.status.usage?,
                    size: eip.status.pool_size?,
                };
                Some((name.clone(), usage))
            })
            .collect();
        if let Ok(mut current) = self.pools.lock() {
            *current = pools;
        }
        let Ok(mut failing) = self.failing.lock() else {
            return;
        };
        let mut now = BTreeMap::new();
        for (key, service) in &plan.services {
            if let Outcome::Failed(failure) = &service.outcome {
                if failing.get(key) != Some(failure) {
                    self.allocation_failures
                        .get_or_create(&ReasonLabel {
                            reason: failure.reason().as_str(),
                        })
                        .inc();
                }
                now.insert(key.clone(), (**failure).clone());
            }
        }
        *failing = now;
    }

    /// Forgets the last plan: this controller stopped leading, so it plans no more and its
    /// Eip gauges would go stale; the leader's are the ones to read.
    pub fn forget_plan(&self) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.clear();
        }
        if let Ok(mut failing) = self.failing.lock() {
            failing.clear();
        }
    }

    /// A round of writes failed with an error of `kind` (porter-kube's `Error::kind`).
    pub fn reconcile_error(&self, kind: &'static str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabel { error: kind })
            .inc();
    }

    /// Whether this controller leads (writes).
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

/// A gauge with a series per Eip: its name, its help, and its value from the Eip's usage.
type PoolGauge = (&'static str, &'static str, fn(&PoolUsage) -> i64);

/// Collects `porter_ipam_addresses_in_use` and `porter_ipam_pool_size` from the last plan.
#[derive(Debug)]
struct Pools(Arc<Mutex<BTreeMap<String, PoolUsage>>>);

impl Collector for Pools {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = self.0.lock().map(|p| p.clone()).unwrap_or_default();
        let gauges: [PoolGauge; 2] = [
            (
                "porter_ipam_addresses_in_use",
                "Assignable addresses of a valid Eip held by Services (its status.usage)",
                |u| u.in_use,
            ),
            (
                "porter_ipam_pool_size",
                "Assignable addresses in a valid Eip's range, less .0/.255 with avoidBuggyIPs (its status.poolSize; saturates at 2^63-1 for a huge IPv6 range)",
                |u| u.size,
            ),
        ];
        for (name, help, value) in gauges {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (eip, usage) in &pools {
                let labels = [("eip", eip.as_str())];
                ConstGauge::new(value(usage)).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
