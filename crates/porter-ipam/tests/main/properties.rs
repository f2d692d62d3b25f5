//! Property tests: random operation sequences over small IPv4/IPv6 pools, checked against a brute-force model.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use porter_ipam::{AllocError, Allocator, Family, IpRange, PoolOptions, Request, is_buggy_ip};
use proptest::prelude::*;

const OWNERS: [&str; 5] = ["ns/o0", "ns/o1", "ns/o2", "ns/o3", "ns/o4"];
/// Pools the operations manage; `px` never exists.
const POOLS: [&str; 5] = ["p0", "p1", "p2", "p3", "px"];

/// An address of the small test universe, n < 16: 10.0.0.248 + n (10.0.0.248 to 10.0.1.7, so
/// across a .255 and a .0) or fd00::f8 + n (across fd00::ff and fd00::100, which are not
/// avoided: IPv6 has no "buggy" addresses).
fn addr(v6: bool, n: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xf8 + u16::from(n)))
    } else {
        IpAddr::V4(Ipv4Addr::from(
            u32::from(Ipv4Addr::new(10, 0, 0, 248)) + u32::from(n),
        ))
    }
}

fn family(v6: bool) -> Family {
    if v6 { Family::V6 } else { Family::V4 }
}

#[derive(Debug, Clone)]
enum Op {
    Assign {
        owner: usize,
        pools: Vec<usize>,
        ip: Option<(bool, u8)>,
        v6: bool,
    },
    Release {
        owner: usize,
    },
    Restore {
        owner: usize,
        v6: bool,
        n: u8,
    },
    SetPool {
        pool: usize,
        v6: bool,
        lo: u8,
        len: u8,
        disabled: bool,
        avoid: bool,
    },
    RemovePool {
        pool: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let owner = 0..OWNERS.len();
    prop_oneof![
        6 => (
            owner.clone(),
            prop::collection::vec(prop_oneof![8 => 0..4usize, 1 => Just(4usize)], 0..4),
            prop::option::weighted(0.3, (any::<bool>(), 0..16u8)),
            any::<bool>()
        )
            .prop_map(|(owner, pools, ip, v6)| Op::Assign { owner, pools, ip, v6 }),
        2 => owner.clone().prop_map(|owner| Op::Release { owner }),
        2 => (owner, any::<bool>(), 0..16u8).prop_map(|(owner, v6, n)| Op::Restore { owner, v6, n }),
        1 => (0..4usize, any::<bool>(), 0..16u8, 0..6u8, prop::bool::weighted(0.2), any::<bool>())
            .prop_map(|(pool, v6, lo, len, disabled, avoid)| Op::SetPool { pool, v6, lo, len, disabled, avoid }),
        1 => (0..5usize).prop_map(|pool| Op::RemovePool { pool }),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..80)
}

/// Small pools, including a disabled one and one avoiding .0/.255 (across 10.0.0.255 and
/// 10.0.1.0), so exhaustion and fall-through happen often.
fn seeded() -> Allocator {
    let mut a = Allocator::new();
    let pools = [
        ("p0", addr(false, 0), addr(false, 3), false, false),
        ("p1", addr(false, 5), addr(false, 9), false, true),
        ("p2", addr(true, 6), addr(true, 9), false, true),
        ("p3", addr(false, 11), addr(false, 14), true, false),
    ];
    for (name, first, last, disabled, avoid_buggy_ips) in pools {
        let range = IpRange::new(first, last).unwrap_or_else(|e| panic!("{e}"));
        let options = PoolOptions {
            disabled,
            avoid_buggy_ips,
        };
        a.set_pool_with(name, range, options)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    a
}

/// Whether `pool` may hand out `ip` as a new assignment.
fn assignable(a: &Allocator, pool: &str, ip: IpAddr) -> bool {
    a.options(pool)
        .is_some_and(|o| !(o.avoid_buggy_ips && is_buggy_ip(ip)))
}

/// `a` with no pool avoiding anything (same ranges, same assignments).
fn without_avoiding(a: &Allocator) -> Allocator {
    let mut plain = a.clone();
    let pools: Vec<(String, IpRange)> = a.pools().map(|(n, r)| (n.to_owned(), *r)).collect();
    for (name, range) in pools {
        let options = PoolOptions {
            avoid_buggy_ips: false,
            ..a.options(&name).unwrap_or_default()
        };
        plain
            .set_pool_with(&name, range, options)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    plain
}

/// Every (owner, address) pair, read through the public API.
fn all(a: &Allocator) -> BTreeSet<(String, IpAddr)> {
    OWNERS
        .iter()
        .flat_map(|o| a.assignments_of(o))
        .map(|x| (x.owner, x.ip))
        .collect()
}

fn range_of(a: &Allocator, pool: &str) -> Option<IpRange> {
    a.pools().find(|(n, _)| *n == pool).map(|(_, r)| *r)
}

/// Brute force: the lowest free address of the first enabled pool of `family` with room that
/// the pool may hand out (without `avoid_buggy_ips`, simply the lowest free one).
fn model_lowest_free(a: &Allocator, pools: &[String], family: Family) -> Option<(String, IpAddr)> {
    for p in pools {
        let range = range_of(a, p)?;
        let disabled = a.usage(p).is_none_or(|u| u.disabled);
        if range.family() != family || disabled {
            continue;
        }
        for off in 0..range.size() {
            let ip = range.nth(off)?;
            if a.holder_of(ip).is_none() && assignable(a, p, ip) {
                return Some((p.clone(), ip));
            }
        }
    }
    None
}

/// Checks invariants that hold after every operation.
fn check_invariants(a: &Allocator) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    let mut orphans = Vec::new();
    for owner in OWNERS {
        let held = a.assignments_of(owner);
        let families: BTreeSet<Family> = held.iter().map(|x| Family::of(x.ip)).collect();
        prop_assert_eq!(families.len(), held.len(), "one address per family");
        for x in held {
            // (a) no address is held by two owners.
            prop_assert!(seen.insert(x.ip), "{} held twice", x.ip);
            prop_assert_eq!(a.holder_of(x.ip), Some(owner));
            if x.is_orphan() {
                prop_assert_eq!(a.pool_of(x.ip), None);
                orphans.push((x.owner.clone(), x.ip));
            } else {
                // (c) an address is inside the pool it is recorded in.
                let range =
                    range_of(a, &x.pool).ok_or_else(|| TestCaseError::fail("pool missing"))?;
                prop_assert!(range.contains(x.ip));
                prop_assert_eq!(a.pool_of(x.ip), Some(x.pool.as_str()));
                prop_assert_eq!(a.used(&x.pool).get(&x.ip).cloned(), Some(x.owner.clone()));
            }
        }
    }
    orphans.sort();
    prop_assert_eq!(a.orphans(), orphans);
    for (name, range) in a.pools() {
        let used = a.used(name);
        prop_assert!(used.keys().all(|ip| range.contains(*ip)));
        // size and use count only what the pool may hand out (a held .0 from before the option
        // is listed in `used` but not counted)
        let counted = used.keys().filter(|ip| assignable(a, name, **ip)).count();
        prop_assert_eq!(a.usage(name).map(|u| u.used), Some(counted as u128));
        let size = (0..range.size())
            .filter_map(|o| range.nth(o))
            .filter(|ip| assignable(a, name, *ip))
            .count();
        prop_assert_eq!(a.usage(name).map(|u| u.size), Some(size as u128));
    }
    Ok(())
}

/// Applies one operation, checking its specific properties; returns a printable outcome for determinism checks.
fn apply(a: &mut Allocator, op: &Op) -> Result<String, TestCaseError> {
    let before = a.clone();
    let all_before = all(a);
    let outcome = match op {
        Op::Assign {
            owner,
            pools,
            ip,
            v6,
        } => {
            let owner = OWNERS[*owner];
            let req = Request {
                pools: pools.iter().map(|&i| POOLS[i].to_owned()).collect(),
                ip: ip.map(|(v6, n)| addr(v6, n)),
                family: family(*v6),
            };
            let fam = req.ip.map_or(req.family, Family::of);
            let held = before
                .assignments_of(owner)
                .into_iter()
                .find(|x| Family::of(x.ip) == fam);
            let res = a.assign(owner, &req);
            match &res {
                // (e) a failed assign leaves the state identical.
                Err(_) => prop_assert_eq!(&*a, &before),
                Ok(x) => {
                    prop_assert_eq!(&x.owner, owner);
                    // (c) inside a pool, and inside one of the requested pools.
                    let range =
                        range_of(a, &x.pool).ok_or_else(|| TestCaseError::fail("no pool"))?;
                    prop_assert!(range.contains(x.ip));
                    prop_assert!(req.pools.is_empty() || req.pools.contains(&x.pool));
                    if let Some(want) = req.ip {
                        prop_assert_eq!(x.ip, want);
                    }
                    if let Some(h) = &held {
                        // sticky, even for an address the pool now avoids
                        prop_assert_eq!(x, h, "sticky");
                        prop_assert_eq!(&*a, &before);
                    } else {
                        prop_assert_eq!(before.holder_of(x.ip), None);
                        // (g) a new assignment is never an address its pool avoids
                        prop_assert!(assignable(a, &x.pool, x.ip), "{} from {}", x.ip, x.pool);
                        let mut expect = all_before.clone();
                        expect.insert((owner.to_owned(), x.ip));
                        prop_assert_eq!(all(a), expect);
                    }
                }
            }
            // Without a requested address, the result is exactly the brute-force choice.
            // A requested address the pool avoids is refused as such.
            if let (Some(want), None) = (req.ip, &held)
                && let Some(pool) = before.pool_of(want)
                && !assignable(&before, pool, want)
            {
                // refused; by an earlier rule (unknown, other or disabled pool) or as avoided
                let refused = matches!(
                    res,
                    Err(AllocError::BuggyIpAvoided { .. }
                        | AllocError::UnknownPool { .. }
                        | AllocError::NotInRequestedPools { .. }
                        | AllocError::PoolDisabled { .. })
                );
                prop_assert!(refused, "{:?}", res);
            }
            let all_known = req.pools.iter().all(|p| range_of(&before, p).is_some());
            if req.ip.is_none() && !req.pools.is_empty() && all_known && held.is_none() {
                match model_lowest_free(&before, &req.pools, fam) {
                    Some((pool, ip)) => {
                        let got = res.as_ref().map(|x| (x.pool.clone(), x.ip));
                        prop_assert_eq!(got, Ok((pool, ip)));
                    }
                    None => {
                        let exhausted = matches!(
                            res,
                            Err(AllocError::PoolsExhausted { .. }
                                | AllocError::FamilyMismatch { .. })
                        );
                        prop_assert!(exhausted, "{:?}", res);
                    }
                }
            }
            format!("{res:?}")
        }
        Op::Release { owner } => {
            let owner = OWNERS[*owner];
            let expected = before.assignments_of(owner);
            let released = a.release(owner);
            // (b) release returns exactly the owner's addresses...
            prop_assert_eq!(&released, &expected);
            prop_assert!(a.assignments_of(owner).is_empty());
            let mut expect = all_before.clone();
            for x in &released {
                expect.remove(&(x.owner.clone(), x.ip));
                prop_assert_eq!(a.holder_of(x.ip), None);
                // ...and they become allocatable again.
                if !x.is_orphan() {
                    let mut probe = a.clone();
                    prop_assert!(probe.restore("probe", x.ip).is_ok());
                    let enabled = a.usage(&x.pool).is_some_and(|u| !u.disabled);
                    if enabled && assignable(a, &x.pool, x.ip) {
                        let mut probe = a.clone();
                        let req = Request {
                            pools: vec![x.pool.clone()],
                            ip: Some(x.ip),
                            family: Family::V4,
                        };
                        prop_assert!(probe.assign("probe", &req).is_ok());
                    }
                }
            }
            prop_assert_eq!(all(a), expect);
            format!("{released:?}")
        }
        Op::Restore { owner, v6, n } => {
            let owner = OWNERS[*owner];
            let ip = addr(*v6, *n);
            // (h) restoring does not care what the pool avoids: a held .0 stays held
            let plain = without_avoiding(&before).restore(owner, ip);
            let res = a.restore(owner, ip);
            prop_assert_eq!(&res, &plain);
            match &res {
                // (e) a failed restore leaves the state identical.
                Err(_) => prop_assert_eq!(&*a, &before),
                Ok(x) => {
                    prop_assert_eq!((x.owner.as_str(), x.ip), (owner, ip));
                    prop_assert_eq!(a.holder_of(ip), Some(owner));
                    let mut expect = all_before.clone();
                    expect.insert((owner.to_owned(), ip));
                    prop_assert_eq!(all(a), expect);
                }
            }
            format!("{res:?}")
        }
        Op::SetPool {
            pool,
            v6,
            lo,
            len,
            disabled,
            avoid,
        } => {
            let first = addr(*v6, *lo);
            let last = addr(*v6, lo.saturating_add(*len).min(15));
            let range =
                IpRange::new(first, last).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let options = PoolOptions {
                disabled: *disabled,
                avoid_buggy_ips: *avoid,
            };
            let res = a.set_pool_with(POOLS[*pool], range, options);
            if res.is_err() {
                prop_assert_eq!(&*a, &before);
            }
            // (f) reconfiguring pools never loses an assignment (it may become an orphan), nor
            // moves one when the pool starts avoiding its address.
            prop_assert_eq!(all(a), all_before);
            format!("{res:?}")
        }
        Op::RemovePool { pool } => {
            let existed = a.remove_pool(POOLS[*pool]);
            prop_assert_eq!(existed, range_of(&before, POOLS[*pool]).is_some());
            prop_assert_eq!(all(a), all_before);
            format!("{existed}")
        }
    };
    check_invariants(a)?;
    Ok(outcome)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Properties (a), (b), (c), (e), (f), (g), (h) hold after every operation of a random sequence.
    #[test]
    fn random_operations_keep_invariants(ops in ops()) {
        let mut a = seeded();
        for op in &ops {
            apply(&mut a, op)?;
        }
    }

    /// (d) The same sequence on two fresh allocators yields identical results and state.
    #[test]
    fn operations_are_deterministic(ops in ops()) {
        let (mut a, mut b) = (seeded(), seeded());
        for op in &ops {
            let ra = apply(&mut a, op)?;
            let rb = apply(&mut b, op)?;
            prop_assert_eq!(ra, rb);
        }
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        prop_assert_eq!(a, b);
    }

    /// Display is canonical: it parses back to the same range.
    #[test]
    fn display_round_trips(a in any::<u128>(), b in any::<u128>(), v6 in any::<bool>()) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (first, last) = if v6 {
            (IpAddr::V6(lo.into()), IpAddr::V6(hi.into()))
        } else {
            (IpAddr::V4((lo as u32).min(hi as u32).into()), IpAddr::V4((lo as u32).max(hi as u32).into()))
        };
        let r = IpRange::new(first, last).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(IpRange::parse(&r.to_string()), Ok(r));
        prop_assert_eq!(r.nth(0), Some(first));
        prop_assert_eq!(r.offset_of(last).map(|o| o.saturating_add(1)), Some(r.size()));
    }

    /// A CIDR of prefix p has 2^(bits-p) addresses; host bits are rejected with the right suggestion.
    #[test]
    fn cidr_sizes(v in any::<u128>(), p in 0..=128u8, v6 in any::<bool>()) {
        let (bits, text) = if v6 {
            (128u32, format!("{}/{p}", Ipv6Addr::from(v)))
        } else {
            (32, format!("{}/{}", Ipv4Addr::from(v as u32), p % 33))
        };
        let p = if v6 { p } else { p % 33 };
        let host = bits - u32::from(p);
        let host_mask: u128 = if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
        let value = if v6 { v } else { u128::from(v as u32) };
        match IpRange::parse(&text) {
            Ok(r) => {
                prop_assert_eq!(value & host_mask, 0);
                prop_assert_eq!(r.size(), host_mask.saturating_add(1));
                prop_assert!(r.contains(r.first()) && r.contains(r.last()));
                prop_assert_eq!(r.nth(host_mask), Some(r.last()));
            }
            Err(e) => {
                prop_assert_ne!(value & host_mask, 0);
                let suggestion = format!("{}/{p}", network(v6, value & !host_mask));
                prop_assert!(IpRange::parse(&suggestion).is_ok());
                prop_assert_eq!(e.to_string(), format!("{text:?} has host bits set; did you mean {suggestion:?}?"));
            }
        }
    }

    /// Two ranges overlap exactly when they share an address (checked by brute force on small ranges).
    #[test]
    fn overlaps_matches_brute_force(a in 0..16u8, al in 0..5u8, b in 0..16u8, bl in 0..5u8, av6 in any::<bool>(), bv6 in any::<bool>()) {
        let ra = IpRange::new(addr(av6, a), addr(av6, a.saturating_add(al).min(15))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rb = IpRange::new(addr(bv6, b), addr(bv6, b.saturating_add(bl).min(15))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let shared = (0..ra.size()).filter_map(|o| ra.nth(o)).any(|ip| rb.contains(ip));
        prop_assert_eq!(ra.overlaps(&rb), shared);
        prop_assert_eq!(rb.overlaps(&ra), shared);
    }
}

fn network(v6: bool, value: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(value.into())
    } else {
        IpAddr::V4((value as u32).into())
    }
}
