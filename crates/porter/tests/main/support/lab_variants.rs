//! The lab variants the end-to-end tests run, as `LAB_*` knobs of lab/lib.sh. Shared by
//! `e2e_lab.rs`, which runs them against real routers, and `routers_doc.rs`, which checks that
//! docs/routers.md shows exactly the router configuration and Porter objects of each: the doc
//! cannot drift from what the tests run.

/// eBGP over IPv4 with a standard community on the Eip.
pub const EBGP_COMMUNITY: &[(&str, &str)] = &[("LAB_COMMUNITY", "64513:100")];

/// iBGP over IPv6 sessions with TCP MD5 (Porter reads the password from a Secret).
pub const IBGP_IPV6_MD5: &[(&str, &str)] = &[
    ("LAB_IBGP", "1"),
    ("LAB_FAMILY", "6"),
    ("LAB_MD5", "porter-md5-s3cret"),
];

/// An IPv6 EIP over IPv4 sessions (MP-BGP), Porter passive: the router dials the nodes.
pub const IPV6_OVER_IPV4_PASSIVE: &[(&str, &str)] = &[("LAB_FAMILY", "dual"), ("LAB_PASSIVE", "1")];

/// eBGP over IPv4 with graceful restart on Porter's sessions (the router is a helper).
pub const GRACEFUL_RESTART: &[(&str, &str)] = &[("LAB_GR", "1")];

/// eBGP over IPv4 with BFD (300 ms x 3) on every session: FRR's bfdd, BIRD's protocol bfd.
pub const BFD: &[(&str, &str)] = &[("LAB_BFD", "1")];

/// eBGP multihop sessions with multihop BFD (RFC 5883, port 4784, no TTL check).
pub const BFD_MULTIHOP: &[(&str, &str)] = &[("LAB_BFD", "multihop")];

/// BFD over IPv6 sessions, iBGP (single-hop BFD checks the hop limit, not the TTL).
pub const BFD_IPV6_IBGP: &[(&str, &str)] =
    &[("LAB_BFD", "1"), ("LAB_FAMILY", "6"), ("LAB_IBGP", "1")];

/// Weighted ECMP: eBGP over IPv4, the Service (`externalTrafficPolicy: Local`) weighted by
/// `1M` per ready endpoint (lab/lib.sh `lab_write_weighted_service`).
pub const WEIGHTED_ECMP: &[(&str, &str)] = &[("LAB_WECMP_UNIT", "1M")];

/// eBGP over IPv4, the router honouring RFC 8326 (LOCAL_PREF 0 for GRACEFUL_SHUTDOWN routes:
/// FRR by itself, BIRD by an import filter) and the speakers draining for 3 s on SIGTERM.
pub const GRACEFUL_SHUTDOWN: &[(&str, &str)] = &[("LAB_GSHUT", "1"), ("LAB_DRAIN", "3")];
