//! Each Eip's desired status (OpenELB's fields), once every Service is planned.

use porter_api::EipStatus;

use crate::valid::ValidEip;
use porter_ipam::{Allocator, Family};

use crate::pools::EipError;

/// Desired status of one Eip, or why it cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct EipPlan {
    /// The status to write (OpenELB's fields: poolSize, used, usage, ...).
    pub status: EipStatus,
    /// Problems that make the Eip unusable; each renders naming the field (`spec.address: ...`).
    pub errors: Vec<EipError>,
}

/// The status of Eip `name`: `pool` is the valid pool it makes (`None`: it is invalid, not
/// ready), `allocator` holds every assignment of the plan.
pub(super) fn eip_status(allocator: &Allocator, name: &str, pool: Option<&ValidEip>) -> EipStatus {
    let Some(pool) = pool else {
        return EipStatus {
            ready: Some(false),
            ..Default::default()
        };
    };
    // Size and use count the addresses the pool may hand out (`avoidBuggyIPs` leaves out .0 and
    // .255; one held from before the option is still listed in `used`).
    let usage = allocator.usage(name);
    let used = allocator.used(name);
    let size = usage.map_or(pool.range.size(), |u| u.size);
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let in_use = usage.map_or(used.len() as u128, |u| u.used);
    let in_use = i64::try_from(in_use).unwrap_or(i64::MAX);
    EipStatus {
        occupied: Some(usage.is_some_and(|u| u.used >= u.size)),
        usage: Some(in_use),
        pool_size: Some(size),
        used: Some(
            used.into_iter()
                .map(|(ip, owner)| (ip.to_string(), owner))
                .collect(),
        ),
        first_ip: Some(pool.range.first().to_string()),
        last_ip: Some(pool.range.last().to_string()),
        ready: Some(true),
        v4: Some(pool.range.family() == Family::V4),
        ..Default::default()
    }
}
