//! Example-based tests of the allocator's rules and user-facing messages.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use porter_ipam::{
    AllocError, Allocator, Assignment, Family, IpRange, PoolError, PoolOptions, PoolUsage, Request,
    is_buggy_ip,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn r(s: &str) -> IpRange {
    IpRange::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn pools(names: &[&str]) -> Request {
    Request {
        pools: names.iter().map(|s| s.to_string()).collect(),
        ..Request::default()
    }
}

fn v6(names: &[&str]) -> Request {
    Request {
        family: Family::V6,
        ..pools(names)
    }
}

fn at(addr: &str, names: &[&str]) -> Request {
    Request {
        ip: Some(ip(addr)),
        ..pools(names)
    }
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn setup() -> Allocator {
    let mut a = Allocator::new();
    ok(a.set_pool("a", r("10.0.0.0-10.0.0.3"), false));
    ok(a.set_pool("b", r("10.0.1.0/30"), false));
    ok(a.set_pool("off", r("10.0.2.0/30"), true));
    ok(a.set_pool("six", r("fd00::/64"), false));
    a
}

fn asg(owner: &str, pool: &str, addr: &str) -> Assignment {
    Assignment {
        owner: owner.into(),
        pool: pool.into(),
        ip: ip(addr),
    }
}

#[test]
fn allocates_lowest_free_in_first_pool_with_room() {
    let mut a = setup();
    for i in 0..4 {
        let got = ok(a.assign(&format!("ns/s{i}"), &pools(&["a", "b"])));
        assert_eq!(got, asg(&format!("ns/s{i}"), "a", &format!("10.0.0.{i}")));
    }
    assert_eq!(
        ok(a.assign("ns/s4", &pools(&["a", "b"]))).ip,
        ip("10.0.1.0")
    );
    // Pool order is the caller's preference.
    assert_eq!(
        ok(a.assign("ns/s5", &pools(&["b", "a"]))).ip,
        ip("10.0.1.1")
    );
    // A released hole is refilled first.
    assert_eq!(a.release("ns/s1"), vec![asg("ns/s1", "a", "10.0.0.1")]);
    assert_eq!(
        ok(a.assign("ns/s6", &pools(&["a", "b"]))).ip,
        ip("10.0.0.1")
    );
}

#[test]
fn skips_disabled_and_other_family_pools() {
    let mut a = setup();
    assert_eq!(
        ok(a.assign("x", &pools(&["off", "six", "b"]))),
        asg("x", "b", "10.0.1.0")
    );
    assert_eq!(
        ok(a.assign("x", &v6(&["off", "a", "six"]))),
        asg("x", "six", "fd00::")
    );
    // Dual-stack: one address per family.
    assert_eq!(
        a.assignments_of("x"),
        vec![asg("x", "b", "10.0.1.0"), asg("x", "six", "fd00::")]
    );
}

#[test]
fn assign_is_sticky() {
    let mut a = setup();
    let first = ok(a.assign("ns/svc", &pools(&["a"])));
    let snapshot = a.clone();
    assert_eq!(ok(a.assign("ns/svc", &pools(&["a"]))), first);
    assert_eq!(ok(a.assign("ns/svc", &pools(&["b", "a"]))), first);
    assert_eq!(ok(a.assign("ns/svc", &at("10.0.0.0", &[]))), first);
    // Still returned when its pool has since been disabled.
    ok(a.set_pool("a", r("10.0.0.0-10.0.0.3"), true));
    assert_eq!(ok(a.assign("ns/svc", &pools(&["a"]))), first);
    ok(a.set_pool("a", r("10.0.0.0-10.0.0.3"), false));
    assert_eq!(a, snapshot);
}

#[test]
fn owner_holding_an_unsuitable_address_must_release_first() {
    let mut a = setup();
    ok(a.assign("ns/svc", &pools(&["a"])));
    let snapshot = a.clone();
    let e = a.assign("ns/svc", &pools(&["b"])).unwrap_err();
    assert_eq!(
        e,
        AllocError::AlreadyAssigned {
            owner: "ns/svc".into(),
            ip: ip("10.0.0.0")
        }
    );
    assert_eq!(
        e.to_string(),
        "ns/svc already holds address 10.0.0.0; release it before asking for another"
    );
    assert!(matches!(
        a.assign("ns/svc", &at("10.0.0.1", &[])),
        Err(AllocError::AlreadyAssigned { .. })
    ));
    assert_eq!(a, snapshot);
}

#[test]
fn requested_ip_rules_and_messages() {
    let mut a = setup();
    assert_eq!(
        ok(a.assign("ns/a", &at("10.0.0.2", &["a"]))),
        asg("ns/a", "a", "10.0.0.2")
    );
    assert_eq!(
        ok(a.assign("ns/b", &at("10.0.1.3", &[]))),
        asg("ns/b", "b", "10.0.1.3")
    );
    let snapshot = a.clone();
    let cases: Vec<(Request, &str)> = vec![
        (
            at("10.0.0.2", &["a"]),
            "address 10.0.0.2 is already assigned to ns/a",
        ),
        (
            at("192.168.1.1", &[]),
            "address 192.168.1.1 is not in any Eip",
        ),
        (
            at("10.0.0.1", &["b", "six"]),
            r#"address 10.0.0.1 is not in the requested Eips "b", "six""#,
        ),
        (
            at("10.0.2.1", &[]),
            r#"Eip "off" is disabled and hands out no new addresses"#,
        ),
        (
            at("10.0.0.1", &["a", "nope"]),
            r#"Eip "nope" does not exist"#,
        ),
    ];
    for (req, msg) in cases {
        let e = a.assign("ns/c", &req).unwrap_err();
        assert_eq!(e.to_string(), msg, "{req:?}");
        assert_eq!(a, snapshot, "{req:?}");
    }
    // Family of a requested ip wins over `family`.
    let req = Request {
        family: Family::V4,
        ..at("fd00::5", &[])
    };
    assert_eq!(ok(a.assign("ns/c", &req)), asg("ns/c", "six", "fd00::5"));
}

#[test]
fn a_conflicting_ip_request_leaves_existing_assignments_intact() {
    let mut a = setup();
    ok(a.assign("ns/a", &pools(&["a"])));
    ok(a.assign("ns/b", &pools(&["a"])));
    let snapshot = a.clone();
    assert_eq!(
        a.assign("ns/b", &at("10.0.0.0", &[])),
        Err(AllocError::AlreadyAssigned {
            owner: "ns/b".into(),
            ip: ip("10.0.0.1")
        })
    );
    assert_eq!(
        a.assign("ns/c", &at("10.0.0.0", &[])),
        Err(AllocError::Conflict {
            ip: ip("10.0.0.0"),
            holder: "ns/a".into()
        })
    );
    assert_eq!(a, snapshot);
    assert_eq!(a.holder_of(ip("10.0.0.0")), Some("ns/a"));
    assert_eq!(a.holder_of(ip("10.0.0.1")), Some("ns/b"));
}

#[test]
fn pool_list_errors() {
    let mut a = setup();
    assert_eq!(a.assign("x", &pools(&[])), Err(AllocError::NoPool));
    assert_eq!(
        a.assign("x", &pools(&[])).unwrap_err().to_string(),
        "no Eip to allocate from"
    );
    assert_eq!(
        a.assign("x", &v6(&["a", "b"])).unwrap_err().to_string(),
        r#"no IPv6 addresses in Eips "a", "b""#
    );
    assert_eq!(
        a.assign("x", &pools(&["off"])).unwrap_err().to_string(),
        r#"no free address in Eip "off" (all full or disabled)"#
    );
    for i in 0..4 {
        ok(a.assign(&format!("o{i}"), &pools(&["b"])));
    }
    let snapshot = a.clone();
    assert_eq!(
        a.assign("x", &pools(&["b", "off"])),
        Err(AllocError::PoolsExhausted {
            pools: vec!["b".into(), "off".into()]
        })
    );
    assert_eq!(a, snapshot);
}

#[test]
fn restore_rules() {
    let mut a = setup();
    let got = ok(a.restore("ns/a", ip("10.0.2.1")));
    assert_eq!(
        got,
        asg("ns/a", "off", "10.0.2.1"),
        "works in a disabled pool"
    );
    let snapshot = a.clone();
    assert_eq!(ok(a.restore("ns/a", ip("10.0.2.1"))), got, "idempotent");
    assert_eq!(a, snapshot);
    let e = a.restore("ns/b", ip("10.0.2.1")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "address 10.0.2.1 is already assigned to ns/a"
    );
    let e = a.restore("ns/a", ip("10.0.0.1")).unwrap_err();
    assert_eq!(
        e,
        AllocError::AlreadyAssigned {
            owner: "ns/a".into(),
            ip: ip("10.0.2.1")
        }
    );
    assert_eq!(
        a.restore("ns/a", ip("1.1.1.1")),
        Err(AllocError::NotInAnyPool { ip: ip("1.1.1.1") })
    );
    assert_eq!(a, snapshot);
    // A restored address is never handed out again.
    ok(a.restore("ns/c", ip("10.0.0.0")));
    assert_eq!(ok(a.assign("ns/d", &pools(&["a"]))).ip, ip("10.0.0.1"));
}

#[test]
fn set_pool_overlap_and_updates() {
    let mut a = setup();
    let e = a.set_pool("c", r("10.0.0.3-10.0.1.0"), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"range 10.0.0.3-10.0.1.0 of Eip "c" overlaps range 10.0.0.0-10.0.0.3 of Eip "a""#
    );
    assert!(matches!(e, PoolError::Overlap { ref other, .. } if other == "a"));
    assert_eq!(
        a.set_pool("", r("1.1.1.1"), false),
        Err(PoolError::EmptyName)
    );
    // Updating a pool does not collide with its own old range; v4 and v4-mapped v6 do not collide.
    ok(a.set_pool("a", r("10.0.0.0/29"), false));
    ok(a.set_pool("mapped", r("::ffff:10.0.0.0/120"), false));
    assert_eq!(a.pool_of(ip("10.0.0.7")), Some("a"));
    assert_eq!(a.pool_of(ip("::ffff:10.0.0.7")), Some("mapped"));
    assert_eq!(a.pool_of(ip("10.0.0.8")), None);
    let names: Vec<_> = a.pools().map(|(n, r)| format!("{n}={r}")).collect();
    assert_eq!(
        names,
        [
            "a=10.0.0.0-10.0.0.7",
            "b=10.0.1.0-10.0.1.3",
            "mapped=::ffff:10.0.0.0-::ffff:10.0.0.255",
            "off=10.0.2.0-10.0.2.3",
            "six=fd00::-fd00::ffff:ffff:ffff:ffff"
        ]
    );
}

#[test]
fn shrinking_or_removing_a_pool_keeps_assignments_as_orphans() {
    let mut a = setup();
    for i in 0..4 {
        ok(a.assign(&format!("o{i}"), &pools(&["a"])));
    }
    ok(a.set_pool("a", r("10.0.0.0-10.0.0.1"), false));
    assert_eq!(
        a.orphans(),
        vec![("o2".into(), ip("10.0.0.2")), ("o3".into(), ip("10.0.0.3"))]
    );
    let orphan = a.assignments_of("o2");
    assert_eq!(orphan, vec![asg("o2", "", "10.0.0.2")]);
    assert!(orphan[0].is_orphan());
    assert_eq!(
        a.usage("a"),
        Some(PoolUsage {
            size: 2,
            used: 2,
            disabled: false
        })
    );
    // The orphaned address is still held: a pool growing back cannot hand it out.
    ok(a.set_pool("a", r("10.0.0.0/29"), false));
    assert!(a.orphans().is_empty());
    assert_eq!(ok(a.assign("new", &pools(&["a"]))).ip, ip("10.0.0.4"));
    assert!(a.remove_pool("a"));
    assert!(!a.remove_pool("a"));
    assert_eq!(a.orphans().len(), 5);
    assert_eq!(a.usage("a"), None);
    assert!(a.used("a").is_empty());
    // Releasing an orphan works and returns it.
    assert_eq!(a.release("o3"), vec![asg("o3", "", "10.0.0.3")]);
    assert_eq!(a.holder_of(ip("10.0.0.3")), None);
}

#[test]
fn usage_and_used() {
    let mut a = setup();
    ok(a.assign("ns/x", &pools(&["b"])));
    ok(a.restore("ns/y", ip("10.0.1.2")));
    ok(a.assign("ns/y", &v6(&["six"])));
    assert_eq!(
        a.usage("b"),
        Some(PoolUsage {
            size: 4,
            used: 2,
            disabled: false
        })
    );
    assert_eq!(
        a.usage("off"),
        Some(PoolUsage {
            size: 4,
            used: 0,
            disabled: true
        })
    );
    assert_eq!(a.usage("six").map(|u| (u.size, u.used)), Some((1 << 64, 1)));
    let used: Vec<_> = a.used("b").into_iter().collect();
    assert_eq!(
        used,
        vec![
            (ip("10.0.1.0"), "ns/x".into()),
            (ip("10.0.1.2"), "ns/y".into())
        ]
    );
    assert_eq!(a.pool_of(ip("fd00::")), Some("six"));
    assert_eq!(
        a.release("ns/y"),
        vec![asg("ns/y", "b", "10.0.1.2"), asg("ns/y", "six", "fd00::")]
    );
    assert_eq!(a.release("ns/y"), vec![]);
    assert_eq!(a.usage("b").map(|u| u.used), Some(1));
}

#[test]
fn a_cidr_pool_hands_out_its_network_address_first_unless_it_avoids_buggy_ips() {
    let mut a = Allocator::new();
    ok(a.set_pool("plain", r("203.0.113.0/24"), false));
    assert_eq!(
        ok(a.assign("ns/first", &pools(&["plain"]))).ip,
        ip("203.0.113.0")
    );

    let avoid = PoolOptions {
        avoid_buggy_ips: true,
        ..PoolOptions::default()
    };
    let mut a = Allocator::new();
    ok(a.set_pool_with("pool", r("203.0.113.0/24"), avoid));
    assert_eq!(
        ok(a.assign("ns/first", &pools(&["pool"]))).ip,
        ip("203.0.113.1")
    );
    assert_eq!(
        a.usage("pool"),
        Some(PoolUsage {
            size: 254,
            used: 1,
            disabled: false
        })
    );
    // a requested .0 or .255 is refused, saying why
    for asked in ["203.0.113.0", "203.0.113.255"] {
        let err = a.assign("ns/asks", &at(asked, &["pool"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "address {asked} ends in .0 or .255, which Eip \"pool\" does not hand out (avoidBuggyIPs)"
            )
        );
    }
    // the whole pool: 254 addresses, never a .0 or .255
    for i in 2..=254 {
        let got = ok(a.assign(&format!("ns/s{i}"), &pools(&["pool"])));
        assert!(!is_buggy_ip(got.ip), "{}", got.ip);
    }
    assert!(matches!(
        a.assign("ns/more", &pools(&["pool"])),
        Err(AllocError::PoolsExhausted { .. })
    ));
}

#[test]
fn avoiding_buggy_ips_applies_to_ranges_and_single_addresses_and_not_to_ipv6() {
    let avoid = PoolOptions {
        avoid_buggy_ips: true,
        ..PoolOptions::default()
    };
    let mut a = Allocator::new();
    // a range across a /24 boundary: .254, (.255, .0 skipped), .1
    ok(a.set_pool_with("range", r("10.0.0.254-10.0.1.1"), avoid));
    ok(a.set_pool_with("single", r("10.0.2.0"), avoid));
    ok(a.set_pool_with("six", r("fd00::ff-fd00::100"), avoid));
    let got: Vec<IpAddr> = (0..2)
        .map(|i| ok(a.assign(&format!("ns/r{i}"), &pools(&["range"]))).ip)
        .collect();
    assert_eq!(got, [ip("10.0.0.254"), ip("10.0.1.1")]);
    assert!(matches!(
        a.assign("ns/r2", &pools(&["range"])),
        Err(AllocError::PoolsExhausted { .. })
    ));
    assert_eq!(a.usage("range").map(|u| u.size), Some(2));
    assert_eq!(a.usage("single").map(|u| u.size), Some(0));
    assert!(matches!(
        a.assign("ns/s", &pools(&["single"])),
        Err(AllocError::PoolsExhausted { .. })
    ));
    // IPv6 addresses ending in ff or 00 are ordinary addresses
    assert_eq!(ok(a.assign("ns/v6", &v6(&["six"]))).ip, ip("fd00::ff"));
    assert_eq!(a.usage("six").map(|u| u.size), Some(2));
}

#[test]
fn a_held_buggy_ip_is_kept_when_the_option_is_turned_on_later() {
    let mut a = Allocator::new();
    ok(a.set_pool("pool", r("203.0.113.0/30"), false));
    let first = ok(a.assign("ns/old", &pools(&["pool"])));
    assert_eq!(first.ip, ip("203.0.113.0"));
    let on = PoolOptions {
        avoid_buggy_ips: true,
        ..PoolOptions::default()
    };
    ok(a.set_pool_with("pool", r("203.0.113.0/30"), on));
    // still held; the same request returns it (sticky), nothing moves
    assert_eq!(ok(a.assign("ns/old", &pools(&["pool"]))), first);
    assert_eq!(a.holder_of(ip("203.0.113.0")), Some("ns/old"));
    // it is not counted: size and use are of the assignable addresses
    assert_eq!(a.usage("pool").map(|u| (u.size, u.used)), Some((3, 0)));
    assert_eq!(a.used("pool").len(), 1);
    // after a restart it is restored as well
    let mut restarted = Allocator::new();
    ok(restarted.set_pool_with("pool", r("203.0.113.0/30"), on));
    assert_eq!(ok(restarted.restore("ns/old", ip("203.0.113.0"))), first);
    assert_eq!(
        ok(restarted.assign("ns/new", &pools(&["pool"]))).ip,
        ip("203.0.113.1")
    );
    // released, it is not handed out again
    restarted.release("ns/old");
    for i in 0..2 {
        let got = restarted.assign(&format!("ns/n{i}"), &pools(&["pool"]));
        assert_ne!(got.map(|g| g.ip), Ok(ip("203.0.113.0")));
    }
}

#[test]
fn buggy_counts_match_brute_force() {
    for (text, buggy) in [
        ("10.0.0.0/24", 2),
        ("10.0.0.0/23", 4),
        ("10.0.0.1-10.0.0.254", 0),
        ("10.0.0.255-10.0.1.0", 2),
        ("0.0.0.0/31", 1),
        ("255.255.255.254/31", 1),
        ("0.0.0.0/0", 2 << 24),
        ("fd00::/120", 0),
    ] {
        let range = r(text);
        assert_eq!(range.buggy_count(), buggy, "{text}");
        if range.size() <= 1024 {
            let brute = (0..range.size())
                .filter(|&o| range.nth(o).is_some_and(is_buggy_ip))
                .count() as u128;
            assert_eq!(brute, buggy, "{text}");
        }
    }
}

#[test]
fn edges_of_the_address_spaces() {
    let mut a = Allocator::new();
    ok(a.set_pool("top4", r("255.255.255.254/31"), false));
    ok(a.set_pool("all6", r("::/0"), false));
    ok(a.set_pool("low4", r("0.0.0.0/31"), false));
    assert_eq!(
        ok(a.assign("a", &pools(&["top4"]))).ip,
        ip("255.255.255.254")
    );
    assert_eq!(
        ok(a.assign("b", &pools(&["top4"]))).ip,
        ip("255.255.255.255")
    );
    assert!(matches!(
        a.assign("c", &pools(&["top4"])),
        Err(AllocError::PoolsExhausted { .. })
    ));
    assert_eq!(
        ok(a.assign("c", &pools(&["top4", "low4"]))).ip,
        ip("0.0.0.0")
    );
    assert_eq!(a.usage("all6").map(|u| u.size), Some(u128::MAX));
    ok(a.restore("z", ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert_eq!(ok(a.assign("a", &v6(&["all6"]))).ip, ip("::"));
    assert_eq!(ok(a.assign("b", &v6(&["all6"]))).ip, ip("::1"));
    assert_eq!(a.release("a").len(), 2);
    assert_eq!(
        ok(a.assign("d", &pools(&["top4"]))).ip,
        ip("255.255.255.254")
    );
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "the test times the allocator with the wall clock; the ban is for the crate's code"
)]
fn ten_thousand_owners_across_fifty_pools() {
    let mut a = Allocator::new();
    let names: Vec<String> = (0..50).map(|i| format!("pool-{i:02}")).collect();
    for (i, n) in names.iter().enumerate() {
        let range = if i % 2 == 0 {
            r(&format!("10.{i}.0.0/16"))
        } else {
            r(&format!("fd00:{i:x}::/64"))
        };
        ok(a.set_pool(n, range, false));
    }
    // One small pool that fills up, so later requests fall through to a big one.
    ok(a.set_pool("tiny", r("192.168.0.0/30"), false));
    let start = Instant::now();
    for i in 0..10_000u32 {
        let req = Request {
            pools: vec![
                "tiny".into(),
                names[(i % 50) as usize].clone(),
                names[0].clone(),
            ],
            ip: None,
            family: if i % 2 == 0 { Family::V4 } else { Family::V6 },
        };
        ok(a.assign(&format!("ns/svc-{i}"), &req));
    }
    let elapsed = start.elapsed();
    assert_eq!(a.usage("tiny").map(|u| u.used), Some(4));
    // The first four IPv4 requests (pools 0, 2, 4, 6) went to "tiny".
    assert_eq!(a.usage("pool-00").map(|u| u.used), Some(199));
    assert_eq!(a.usage("pool-06").map(|u| u.used), Some(199));
    assert_eq!(a.usage("pool-08").map(|u| u.used), Some(200));
    assert_eq!(a.usage("pool-01").map(|u| u.used), Some(200));
    // Generous bound: debug builds on a loaded CI machine; release builds take a few milliseconds.
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "the test times the allocator with the wall clock; the ban is for the crate's code"
)]
fn one_big_pool_stays_fast_with_holes() {
    let mut a = Allocator::new();
    ok(a.set_pool("big", r("10.0.0.0/8"), false));
    let req = pools(&["big"]);
    for i in 0..10_000u32 {
        ok(a.assign(&format!("s{i}"), &req));
    }
    for i in (0..10_000u32).step_by(3) {
        a.release(&format!("s{i}"));
    }
    let start = Instant::now();
    for i in 0..10_000u32 {
        ok(a.assign(&format!("t{i}"), &req));
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(a.holder_of(ip("10.0.0.0")), Some("t0"));
    assert_eq!(a.holder_of(ip("10.0.0.3")), Some("t1"));
    assert_eq!(a.usage("big").map(|u| u.used), Some(10_000 - 3334 + 10_000));
}
