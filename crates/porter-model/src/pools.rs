//! Which Eips are usable pools: one verdict for the controller and the speaker.
//!
//! An Eip is a pool when its spec is valid and its range overlaps no Eip that comes before it
//! (the oldest Eip wins an overlap, then the first by name). The controller hands out addresses
//! only from these pools and reports the rest in their status; the speaker announces only
//! addresses of these pools. Both read the verdict from [`Pools::of`], so an Eip the controller
//! rejects is never announced, and the speaker needs no allocator to know it.

use std::collections::BTreeMap;

use porter_api::{Eip, FieldError};
use porter_ipam::{Allocator, IpRange, PoolOptions};

use crate::valid::{ValidEip, Validate};

/// The verdict on every Eip: the valid pools, and why each other Eip is not one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pools {
    /// The usable pools, by Eip name.
    pub valid: BTreeMap<String, ValidEip>,
    /// Why each Eip that is not a pool is not one (never empty for an Eip listed here).
    pub errors: BTreeMap<String, Vec<EipError>>,
}

/// Why an Eip is not a usable pool. `Display` gives the message for its status and Events,
/// naming the field at fault (`spec.address: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EipError {
    /// A field of its spec is invalid.
    #[error(transparent)]
    Field(FieldError),
    /// Its range shares addresses with the range of an Eip that comes before it.
    #[error(
        "spec.address: range {range} of Eip {eip:?} overlaps range {other_range} of Eip {other:?}"
    )]
    Overlap {
        /// The Eip at fault.
        eip: String,
        /// Its range.
        range: IpRange,
        /// The Eip that keeps the addresses: older, or as old and first by name.
        other: String,
        /// That Eip's range.
        other_range: IpRange,
    },
    /// It has no name (a manifest without `metadata.name`), so no Service could name it.
    #[error("metadata.name: must be set")]
    Unnamed,
}

impl Pools {
    /// The verdict on `eips` (by name).
    pub fn of(eips: &BTreeMap<String, Eip>) -> Self {
        let mut pools = Self::default();
        let mut order: Vec<_> = eips.iter().collect();
        order.sort_by_key(|(name, eip)| {
            (
                eip.metadata.creation_timestamp.as_ref().map(|t| t.0),
                (*name).clone(),
            )
        });
        for (name, eip) in order {
            let verdict = if name.is_empty() {
                Err(vec![EipError::Unnamed])
            } else {
                eip.validate()
                    .map_err(|errors| errors.into_iter().map(EipError::Field).collect())
                    .and_then(|pool| {
                        let overlapped = pools
                            .valid
                            .iter()
                            .find(|(_, other)| other.range.overlaps(&pool.range));
                        match overlapped {
                            Some((other, other_pool)) => Err(vec![EipError::Overlap {
                                eip: name.clone(),
                                range: pool.range,
                                other: other.clone(),
                                other_range: other_pool.range,
                            }]),
                            None => Ok(pool),
                        }
                    })
            };
            match verdict {
                Ok(pool) => {
                    pools.valid.insert(name.clone(), pool);
                }
                Err(errors) => {
                    pools.errors.insert(name.clone(), errors);
                }
            }
        }
        pools
    }

    /// An allocator holding every valid pool and no assignment yet.
    pub fn allocator(&self) -> Allocator {
        let mut allocator = Allocator::new();
        for (name, pool) in &self.valid {
            let added = allocator.set_pool_with(
                name,
                pool.range,
                PoolOptions {
                    disabled: pool.disabled,
                    avoid_buggy_ips: pool.avoid_buggy_ips,
                },
            );
            // The verdict admits only named pools that overlap no other: the allocator's own
            // checks cannot fail.
            debug_assert!(added.is_ok(), "{added:?}");
        }
        allocator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eip(name: &str, address: &str, created: &str) -> Eip {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"address": address}
        }))
        .unwrap()
    }

    #[test]
    fn the_verdict_is_what_the_allocator_accepts() {
        let eips = BTreeMap::from([
            (
                "".to_owned(),
                eip("", "10.9.0.0/30", "2026-01-01T00:00:00Z"),
            ),
            (
                "b".to_owned(),
                eip("b", "10.0.0.0/29", "2026-01-01T00:00:01Z"),
            ),
            (
                "a".to_owned(),
                eip("a", "10.0.0.8/29", "2026-01-01T00:00:01Z"),
            ),
            // Newest, overlapping both: named after the first valid one by name.
            (
                "c".to_owned(),
                eip("c", "10.0.0.6-10.0.0.9", "2026-01-01T00:00:09Z"),
            ),
        ]);
        let pools = Pools::of(&eips);
        assert_eq!(pools.valid.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(pools.errors[""], [EipError::Unnamed]);
        assert_eq!(
            pools.errors["c"]
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "spec.address: range 10.0.0.6-10.0.0.9 of Eip \"c\" overlaps range 10.0.0.8-10.0.0.15 of Eip \"a\""
            ]
        );
        let allocator = pools.allocator();
        let held: Vec<(&str, String)> = allocator
            .pools()
            .map(|(name, range)| (name, range.to_string()))
            .collect();
        assert_eq!(
            held,
            [
                ("a", "10.0.0.8-10.0.0.15".to_owned()),
                ("b", "10.0.0.0-10.0.0.7".to_owned())
            ]
        );
    }
}
