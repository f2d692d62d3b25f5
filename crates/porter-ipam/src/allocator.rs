//! The allocator: pools, who holds which address, and the rules for handing out new ones.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::error::{AllocError, PoolError};
use crate::range::{Family, IpRange, is_buggy_ip, pred, succ};

/// What a caller wants allocated; the caller has already resolved namespace, priority and default-pool policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// Pools to try, in order of preference. Empty means "no candidate pool" ([`AllocError::NoPool`])
    /// unless `ip` is set, in which case the address may be in any pool.
    pub pools: Vec<String>,
    /// A specific address the user asked for (`spec.loadBalancerIP` or an annotation). It must be in
    /// one of `pools` if `pools` is non-empty, else in any pool.
    pub ip: Option<IpAddr>,
    /// Family wanted when `ip` is not given (ignored otherwise); defaults to IPv4.
    pub family: Family,
}

/// One address held by one owner; what callers write back to Service and Eip status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Assignment {
    /// Who holds the address (e.g. `namespace/service`).
    pub owner: String,
    /// The pool whose range currently contains the address; empty if it is an orphan (see [`Allocator::orphans`]).
    pub pool: String,
    /// The address.
    pub ip: IpAddr,
}

impl Assignment {
    /// Whether the address is outside every pool, so callers can decide what to do with it.
    pub fn is_orphan(&self) -> bool {
        self.pool.is_empty()
    }
}

/// Occupancy of one pool, for Eip status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolUsage {
    /// Number of addresses the pool can hand out: the range (saturating at `u128::MAX`), less
    /// the addresses it avoids ([`PoolOptions::avoid_buggy_ips`]).
    pub size: u128,
    /// Number of those addresses currently assigned (an avoided address still held from before
    /// the option was set is not counted: it is not part of `size`).
    pub used: u128,
    /// Whether the pool refuses new allocations.
    pub disabled: bool,
}

/// How a pool hands out its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolOptions {
    /// No new assignments (those held are kept).
    pub disabled: bool,
    /// Never hand out an IPv4 address ending in `.0` or `.255` ([`crate::is_buggy_ip`];
    /// MetalLB's `avoidBuggyIPs`), in every range form; IPv6 is unaffected. Such an address
    /// already held stays held (restore, sticky assign): turning this on moves nothing.
    pub avoid_buggy_ips: bool,
}

/// A named pool: an operator-owned range with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pool {
    range: IpRange,
    options: PoolOptions,
}

impl Pool {
    /// Whether the pool may hand out `ip` (in its range) as a new assignment.
    fn assignable(&self, ip: IpAddr) -> bool {
        !(self.options.avoid_buggy_ips && is_buggy_ip(ip))
    }
}

/// Deterministic, sans-IO address allocator over a set of non-overlapping pools.
///
/// The truth is the set of `(owner, address)` pairs; which pool an address belongs to is always
/// derived from the current pool ranges, so reconfiguring pools never moves or drops an assignment.
/// Every method either succeeds or leaves the allocator exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allocator {
    /// Pool name -> pool.
    pools: BTreeMap<String, Pool>,
    /// First address of each pool's range -> pool name; ranges never overlap, so this finds the pool of an address.
    starts: BTreeMap<IpAddr, String>,
    /// Address -> owner, for every assignment (including orphans). The owner's name is one
    /// allocation shared with `owners`: at 100k Services two copies of every name and a map
    /// per owner were a fifth of a controller's heap.
    holders: BTreeMap<IpAddr, Arc<str>>,
    /// Owner -> the address it holds per family.
    owners: BTreeMap<Arc<str>, Held>,
    /// Maximal runs of consecutive assigned addresses (first -> last), so the lowest free address of
    /// a pool is found in O(log n) instead of by scanning used addresses.
    runs: BTreeMap<IpAddr, IpAddr>,
}

/// The addresses one owner holds: at most one per family, inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Held {
    v4: Option<IpAddr>,
    v6: Option<IpAddr>,
}

impl Held {
    fn get(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    fn slot(&mut self, family: Family) -> &mut Option<IpAddr> {
        match family {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    /// The addresses, IPv4 first.
    fn iter(&self) -> impl Iterator<Item = IpAddr> {
        self.v4.into_iter().chain(self.v6)
    }
}

impl Allocator {
    /// An allocator with no pools and no assignments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or updates a pool (with default [`PoolOptions`] but `disabled`). Fails if the range
    /// overlaps another pool's range.
    ///
    /// Updating a pool's range or disabled flag never drops or moves existing assignments: one
    /// whose address falls outside the new range stays recorded and is reported by [`Allocator::orphans`].
    pub fn set_pool(
        &mut self,
        name: &str,
        range: IpRange,
        disabled: bool,
    ) -> Result<(), PoolError> {
        self.set_pool_with(
            name,
            range,
            PoolOptions {
                disabled,
                ..PoolOptions::default()
            },
        )
    }

    /// Adds or updates a pool with `options`, as [`Self::set_pool`]. Changing the options never
    /// drops or moves an assignment either.
    pub fn set_pool_with(
        &mut self,
        name: &str,
        range: IpRange,
        options: PoolOptions,
    ) -> Result<(), PoolError> {
        if name.is_empty() {
            return Err(PoolError::EmptyName);
        }
        if let Some((other, pool)) = self
            .pools
            .iter()
            .find(|(other, pool)| other.as_str() != name && pool.range.overlaps(&range))
        {
            return Err(PoolError::Overlap {
                pool: name.to_owned(),
                range,
                other: other.clone(),
                other_range: pool.range,
            });
        }
        if let Some(old) = self.pools.insert(name.to_owned(), Pool { range, options }) {
            self.starts.remove(&old.range.first());
        }
        self.starts.insert(range.first(), name.to_owned());
        Ok(())
    }

    /// Removes a pool and returns whether it existed; its assignments are kept as orphans for the caller to handle.
    pub fn remove_pool(&mut self, name: &str) -> bool {
        match self.pools.remove(name) {
            Some(old) => {
                self.starts.remove(&old.range.first());
                true
            }
            None => false,
        }
    }

    /// Records an assignment that already exists (e.g. read back from a Service's status after a
    /// restart) so that it is never reshuffled. Works even if the pool is disabled, or avoids the
    /// address ([`PoolOptions::avoid_buggy_ips`] set after it was assigned); idempotent.
    pub fn restore(&mut self, owner: &str, ip: IpAddr) -> Result<Assignment, AllocError> {
        let pool = self
            .pool_of(ip)
            .ok_or(AllocError::NotInAnyPool { ip })?
            .to_owned();
        match self.holders.get(&ip) {
            Some(holder) if &**holder == owner => return Ok(self.assignment(owner, ip)),
            Some(holder) => {
                return Err(AllocError::Conflict {
                    ip,
                    holder: holder.to_string(),
                });
            }
            None => {}
        }
        if let Some(held) = self.held(owner, Family::of(ip)) {
            return Err(AllocError::AlreadyAssigned {
                owner: owner.to_owned(),
                ip: held,
            });
        }
        self.insert(owner, ip);
        Ok(Assignment {
            owner: owner.to_owned(),
            pool,
            ip,
        })
    }

    /// Allocates one address for `owner` following `request`.
    ///
    /// Idempotent: if the owner already holds an address of the wanted family that satisfies the
    /// request, it is returned unchanged. If it holds one that does not, the call fails with
    /// [`AllocError::AlreadyAssigned`]: moving an address is the caller's decision (release, then assign).
    /// Without a requested address, the lowest free address of the first enabled pool (in
    /// `request.pools` order) of the right family with room is chosen (skipping what the pool
    /// avoids, [`PoolOptions::avoid_buggy_ips`]).
    pub fn assign(&mut self, owner: &str, request: &Request) -> Result<Assignment, AllocError> {
        if let Some(unknown) = request
            .pools
            .iter()
            .find(|p| !self.pools.contains_key(p.as_str()))
        {
            return Err(AllocError::UnknownPool {
                pool: unknown.clone(),
            });
        }
        let family = request.ip.map_or(request.family, Family::of);
        if request.ip.is_none() && request.pools.is_empty() {
            return Err(AllocError::NoPool);
        }
        if let Some(held) = self.held(owner, family) {
            let in_requested = match self.pool_of(held) {
                None => false,
                Some(pool) => request.pools.is_empty() || request.pools.iter().any(|p| p == pool),
            };
            if in_requested && request.ip.is_none_or(|ip| ip == held) {
                return Ok(self.assignment(owner, held));
            }
            return Err(AllocError::AlreadyAssigned {
                owner: owner.to_owned(),
                ip: held,
            });
        }
        let (pool, ip) = match request.ip {
            Some(ip) => (self.check_requested(ip, &request.pools)?, ip),
            None => self.find_free(family, &request.pools)?,
        };
        let pool = pool.to_owned();
        self.insert(owner, ip);
        Ok(Assignment {
            owner: owner.to_owned(),
            pool,
            ip,
        })
    }

    /// Checks that a specific requested address may be given out; returns its pool.
    fn check_requested(&self, ip: IpAddr, pools: &[String]) -> Result<&str, AllocError> {
        let pool = self.pool_of(ip).ok_or(AllocError::NotInAnyPool { ip })?;
        if !pools.is_empty() && !pools.iter().any(|p| p == pool) {
            return Err(AllocError::NotInRequestedPools {
                ip,
                pools: pools.to_vec(),
            });
        }
        if self.pools.get(pool).is_some_and(|p| p.options.disabled) {
            return Err(AllocError::PoolDisabled {
                pool: pool.to_owned(),
            });
        }
        if self.pools.get(pool).is_some_and(|p| !p.assignable(ip)) {
            return Err(AllocError::BuggyIpAvoided {
                ip,
                pool: pool.to_owned(),
            });
        }
        if let Some(holder) = self.holders.get(&ip) {
            return Err(AllocError::Conflict {
                ip,
                holder: holder.to_string(),
            });
        }
        Ok(pool)
    }

    /// Finds the lowest free address of the first usable pool among `names`.
    fn find_free<'a>(
        &'a self,
        family: Family,
        names: &'a [String],
    ) -> Result<(&'a str, IpAddr), AllocError> {
        let mut any_of_family = false;
        for name in names {
            let Some(pool) = self.pools.get(name.as_str()) else {
                continue;
            };
            if pool.range.family() != family {
                continue;
            }
            any_of_family = true;
            if pool.options.disabled {
                continue;
            }
            if let Some(ip) = self.lowest_free(pool) {
                return Ok((name.as_str(), ip));
            }
        }
        if any_of_family {
            Err(AllocError::PoolsExhausted {
                pools: names.to_vec(),
            })
        } else {
            Err(AllocError::FamilyMismatch {
                family,
                pools: names.to_vec(),
            })
        }
    }

    /// Lowest address of `pool` it may hand out that nobody holds: from its first address, skip
    /// the run of assigned addresses covering the candidate (runs are maximal, so the address
    /// after one is free) and the addresses the pool avoids, until neither applies. Each step
    /// skips a whole run or one avoided address, so this is O(log n) per run crossed (with
    /// `avoidBuggyIPs` runs stop at every .255, so a full /16 costs a few hundred steps).
    fn lowest_free(&self, pool: &Pool) -> Option<IpAddr> {
        let range = &pool.range;
        let mut candidate = range.first();
        loop {
            if !range.contains(candidate) {
                return None;
            }
            if !pool.assignable(candidate) {
                candidate = succ(candidate)?;
                continue;
            }
            match self.runs.range(..=candidate).next_back() {
                Some((_, &end)) if end >= candidate && Family::of(end) == range.family() => {
                    candidate = succ(end)?;
                }
                _ => return Some(candidate),
            }
        }
    }

    /// Releases everything the owner holds and returns it, sorted by family.
    pub fn release(&mut self, owner: &str) -> Vec<Assignment> {
        let released = self.assignments_of(owner);
        for a in &released {
            self.remove(a.ip);
        }
        self.owners.remove(owner);
        released
    }

    /// Everything the owner holds, sorted by family (IPv4 first).
    pub fn assignments_of(&self, owner: &str) -> Vec<Assignment> {
        self.owners
            .get(owner)
            .into_iter()
            .flat_map(Held::iter)
            .map(|ip| self.assignment(owner, ip))
            .collect()
    }

    /// Who holds `ip`, if anyone.
    pub fn holder_of(&self, ip: IpAddr) -> Option<&str> {
        self.holders.get(&ip).map(|owner| &**owner)
    }

    /// Which pool's range contains `ip`, if any.
    pub fn pool_of(&self, ip: IpAddr) -> Option<&str> {
        let (_, name) = self.starts.range(..=ip).next_back()?;
        let pool = self.pools.get(name)?;
        pool.range.contains(ip).then_some(name.as_str())
    }

    /// Size and occupancy of a pool, or `None` if it does not exist: both count only the
    /// addresses the pool may hand out.
    pub fn usage(&self, pool: &str) -> Option<PoolUsage> {
        let p = self.pools.get(pool)?;
        let used = self
            .holders
            .range(p.range.first()..=p.range.last())
            .filter(|(ip, _)| p.assignable(**ip))
            .count();
        let avoided = if p.options.avoid_buggy_ips {
            p.range.buggy_count()
        } else {
            0
        };
        Some(PoolUsage {
            size: p.range.size() - avoided,
            used: used as u128,
            disabled: p.options.disabled,
        })
    }

    /// A pool's options, or `None` if it does not exist.
    pub fn options(&self, pool: &str) -> Option<PoolOptions> {
        self.pools.get(pool).map(|p| p.options)
    }

    /// Address -> owner for every assigned address in the pool's range, for Eip `status.used`.
    /// Empty if the pool does not exist.
    pub fn used(&self, pool: &str) -> BTreeMap<IpAddr, String> {
        let Some(p) = self.pools.get(pool) else {
            return BTreeMap::new();
        };
        self.holders
            .range(p.range.first()..=p.range.last())
            .map(|(ip, owner)| (*ip, owner.to_string()))
            .collect()
    }

    /// Assignments whose address is in no pool (after a pool was shrunk or removed), sorted by owner then address.
    pub fn orphans(&self) -> Vec<(String, IpAddr)> {
        let mut out: Vec<(String, IpAddr)> = self
            .holders
            .iter()
            .filter(|(ip, _)| self.pool_of(**ip).is_none())
            .map(|(ip, owner)| (owner.to_string(), *ip))
            .collect();
        out.sort();
        out
    }

    /// All pools with their ranges, sorted by name.
    pub fn pools(&self) -> impl Iterator<Item = (&str, &IpRange)> {
        self.pools.iter().map(|(name, p)| (name.as_str(), &p.range))
    }

    /// The address the owner holds for `family`, if any.
    fn held(&self, owner: &str, family: Family) -> Option<IpAddr> {
        self.owners.get(owner)?.get(family)
    }

    /// Builds the public view of an assignment, deriving its pool from the current ranges.
    fn assignment(&self, owner: &str, ip: IpAddr) -> Assignment {
        Assignment {
            owner: owner.to_owned(),
            pool: self.pool_of(ip).unwrap_or_default().to_owned(),
            ip,
        }
    }

    /// Records `owner -> ip`; callers have checked that `ip` is free and the owner has no address of its family.
    fn insert(&mut self, owner: &str, ip: IpAddr) {
        let name = match self.owners.get_key_value(owner) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(owner),
        };
        self.holders.insert(ip, Arc::clone(&name));
        *self.owners.entry(name).or_default().slot(Family::of(ip)) = Some(ip);
        let left = pred(ip).and_then(|p| {
            self.runs
                .range(..=p)
                .next_back()
                .filter(|(_, end)| **end == p)
                .map(|(start, _)| *start)
        });
        let right = succ(ip).and_then(|s| self.runs.remove(&s));
        let start = left.unwrap_or(ip);
        self.runs.insert(start, right.unwrap_or(ip));
    }

    /// Forgets the assignment of `ip` in the address indexes (not in `owners`).
    fn remove(&mut self, ip: IpAddr) {
        self.holders.remove(&ip);
        let Some((&start, &end)) = self.runs.range(..=ip).next_back() else {
            return;
        };
        if end < ip {
            return;
        }
        self.runs.remove(&start);
        if start < ip
            && let Some(p) = pred(ip)
        {
            self.runs.insert(start, p);
        }
        if ip < end
            && let Some(s) = succ(ip)
        {
            self.runs.insert(s, end);
        }
    }
}
