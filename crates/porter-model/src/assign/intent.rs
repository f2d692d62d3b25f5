//! What a Service asks for (its annotations and spec), and the allocator request that serves it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::valid::ValidEip;
use porter_ipam::{Family, Request};

use super::Failure;
use crate::projection::ControllerService;
use crate::{ControllerView, ObjectKey, selector};

/// What a Service asks for.
pub(super) struct Intent {
    pub(super) ip: Option<IpAddr>,
    pub(super) pool: Option<String>,
    /// The pool that served the address the Service holds (the label the controller
    /// writes), to tell "my pool was shrunk" from "I now ask for another pool".
    pub(super) served_by: Option<String>,
}

impl Intent {
    pub(super) fn of(svc: &ControllerService) -> Result<Self, Failure> {
        let ip = svc
            .requested_ip
            .clone()
            .map_err(|e| Failure::InvalidRequest(*e))?;
        let pool = svc.requested_pool.as_deref().map(str::to_owned);
        let served_by = svc.allocated_pool().map(str::to_owned);
        Ok(Self {
            ip,
            pool,
            served_by,
        })
    }

    /// The allocator request for this intent: which pools, in which order.
    pub(super) fn request(
        &self,
        view: &ControllerView<'_>,
        key: &ObjectKey,
        svc: &ControllerService,
        valid: &BTreeMap<String, ValidEip>,
    ) -> Result<Request, Failure> {
        let family = self.ip.map(Family::of).unwrap_or(if svc.ipv6_first {
            Family::V6
        } else {
            Family::V4
        });
        if let Some(pool) = &self.pool {
            if !view.eips().contains_key(pool) {
                return Err(Failure::UnknownEip { eip: pool.clone() });
            }
            if !valid.contains_key(pool) {
                return Err(Failure::InvalidEip { eip: pool.clone() });
            }
            return Ok(Request {
                pools: vec![pool.clone()],
                ip: self.ip,
                family,
            });
        }
        if self.ip.is_some() {
            return Ok(Request {
                pools: valid.keys().cloned().collect(),
                ip: self.ip,
                family,
            });
        }
        let namespace = key.namespace.as_str();
        let labels = view.snapshot().namespace_labels(namespace);
        let mut bound: Vec<(&String, &ValidEip)> = valid
            .iter()
            .filter(|(_, pool)| {
                pool.namespaces.iter().any(|ns| ns == namespace)
                    || (!pool.namespace_selector.is_empty()
                        && selector::matches(&match_labels(&pool.namespace_selector), &labels))
            })
            .collect();
        bound.sort_by_key(|(name, pool)| (pool.priority, (*name).clone()));
        let mut pools: Vec<String> = bound.into_iter().map(|(name, _)| name.clone()).collect();
        if pools.is_empty() {
            pools = valid
                .iter()
                .filter(|(_, p)| p.is_default)
                .map(|(n, _)| n.clone())
                .collect();
        }
        if pools.is_empty() {
            return Err(Failure::NoEip {
                namespace: namespace.to_owned(),
            });
        }
        Ok(Request {
            pools,
            ip: None,
            family,
        })
    }

    /// Whether an address the Service holds still satisfies what it asks for.
    pub(super) fn accepts(&self, ip: IpAddr, pool: &str) -> bool {
        self.ip.is_none_or(|want| want == ip)
            && self.pool.as_deref().is_none_or(|want| want == pool)
    }
}

fn match_labels(map: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(map.clone()),
        ..Default::default()
    }
}
