//! The CRDs' CEL rules (`x-kubernetes-validations`, porter-api's CRDs) compared with the controller's own
//! validation (`porter_model::valid`), both on the address fields: Eip `spec.address`, BgpPeer
//! `spec.conf.neighborAddress` and `spec.transport.localAddress`, BgpConf `spec.routerId`.
//!
//! kube-cel stands in for the API server, as in porter-api's `cel_rules` tests (which check that every rule
//! compiles, names only Kubernetes functions and runs): it evaluates each rule with its port of Kubernetes'
//! CEL libraries. Go's parsing of addresses is not proven: kube-cel's `isIP`/`isCIDR` use Rust's parser (std
//! and `ipnet`), which agrees with Go's `netip` on the forms tested here except where a table entry says
//! otherwise.
//!
//! The property that matters most: **the rules never refuse an address the controller accepts**, except the
//! documented forms no OpenELB user plausibly has (IPv4-mapped IPv6, a prefix length with a leading zero, a
//! string over `maxLength`). The converse holds except for a reversed range (`first > last`), which CEL cannot
//! see (it cannot order addresses) and the controller reports in the Eip's status.

use std::cell::RefCell;
use std::net::IpAddr;

use kube_cel::{CompiledSchema, ErrorKind, ValidationError, Validator, compile_schema};
use porter_api::{BgpConf, BgpPeer, Eip, crds};
use porter_ipam::{IpRange, RangeError};
use porter_model::valid::Validate;
use proptest::prelude::*;
use serde_json::{Value, json};

// The four helpers below (`schema_of`, `with_cel`, `compiled`, `cel_errors`) are also in porter-api's
// `tests/main/cel_rules.rs`: test binaries of two crates cannot share a module without a test-support
// crate, which ~70 lines do not justify. A change to how rules are compiled belongs in both.

/// The served (v1alpha2) schema of `kind`, as `porter crds` prints it.
fn schema_of(kind: &str) -> Value {
    let crd = crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .expect("kind exists");
    let version = crd
        .spec
        .versions
        .into_iter()
        .find(|v| v.name == "v1alpha2")
        .expect("v1alpha2 is served");
    let schema = version
        .schema
        .and_then(|s| s.open_api_v3_schema)
        .expect("the version has a schema");
    serde_json::to_value(schema).expect("a schema is JSON")
}

/// kube-cel's validator with the three served schemas compiled once (per test thread).
struct Cel {
    validator: Validator,
    eip: CompiledSchema,
    conf: CompiledSchema,
    peer: CompiledSchema,
    /// `maxLength` of Eip `spec.address`: the API server refuses longer strings before any rule runs.
    address_max: usize,
}

thread_local! {
    static CEL: RefCell<Option<Cel>> = const { RefCell::new(None) };
}

/// Runs `f` with the thread's [`Cel`].
fn with_cel<T>(f: impl FnOnce(&Cel) -> T) -> T {
    CEL.with(|cell| {
        let mut cell = cell.borrow_mut();
        let cel = cell.get_or_insert_with(|| {
            let eip = schema_of("Eip");
            let address_max = eip["properties"]["spec"]["properties"]["address"]["maxLength"]
                .as_u64()
                .expect("spec.address has a maxLength") as usize;
            Cel {
                validator: Validator::new(),
                eip: compile_schema(&eip),
                conf: compile_schema(&schema_of("BgpConf")),
                peer: compile_schema(&schema_of("BgpPeer")),
                address_max,
            }
        });
        f(cel)
    })
}

/// The compiled schema of `kind` in `cel`.
fn compiled<'a>(cel: &'a Cel, kind: &str) -> &'a CompiledSchema {
    match kind {
        "Eip" => &cel.eip,
        "BgpConf" => &cel.conf,
        "BgpPeer" => &cel.peer,
        other => panic!("no CRD {other}"),
    }
}

/// kube-cel's errors for `object`. Panics on anything but a rule evaluating to false: a runtime error or an
/// unknown function means a broken rule, not a refused object.
fn cel_errors(kind: &str, object: &Value) -> Vec<ValidationError> {
    with_cel(|cel| {
        match cel
            .validator
            .validate_compiled(compiled(cel, kind), object, None)
        {
            Ok(()) => Vec::new(),
            Err(errors) => {
                let errors = errors.into_vec();
                for e in &errors {
                    assert_eq!(
                        e.kind,
                        ErrorKind::ValidationFailure,
                        "{kind} {object}: rule {:?} did not evaluate: {}",
                        e.rule,
                        e.message
                    );
                }
                errors
            }
        }
    })
}

/// Whether the API server (as far as kube-cel models it) accepts `object`, looking only at rules on `path`;
/// errors elsewhere fail the test.
fn cel_accepts_at(kind: &str, object: &Value, path: &str) -> bool {
    let errors = cel_errors(kind, object);
    for e in &errors {
        assert_eq!(e.field_path, path, "{kind} {object}: unexpected error {e}");
    }
    errors.is_empty()
}

// ---------------------------------------------------------------------------------------------------------
// Eip spec.address
// ---------------------------------------------------------------------------------------------------------

/// An Eip with `address` (layer2 with an interface would also do; bgp keeps the other rule quiet).
fn eip(address: &str) -> Value {
    json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": "pool"},
        "spec": {"address": address}
    })
}

/// kube-cel's verdict on `address`, with the API server's `maxLength` check first.
fn kube_cel_accepts_address(address: &str) -> bool {
    let max = with_cel(|c| c.address_max);
    address.chars().count() <= max && cel_accepts_at("Eip", &eip(address), "spec.address")
}

/// The API server's verdict on `address`: kube-cel's, corrected where its CIDR parser is more lenient than
/// Kubernetes' (see `kube_cel_parses_cidrs_more_leniently_than_kubernetes`).
fn api_accepts_address(address: &str) -> bool {
    kube_cel_accepts_address(address) && !go_refuses_this_cidr(address)
}

/// The controller's verdict: `Eip`'s `validate()` reports nothing on `spec.address`.
fn controller_accepts_address(address: &str) -> bool {
    let eip: Eip = serde_json::from_value(eip(address)).expect("an Eip");
    match eip.validate() {
        Ok(_) => true,
        Err(errors) => errors.iter().all(|e| e.field != "spec.address"),
    }
}

/// Why the API server refuses an address the controller accepts, if it is one of the documented forms.
fn stricter_than_controller(address: &str) -> Option<&'static str> {
    let max = with_cel(|c| c.address_max);
    if address.chars().count() > max {
        return Some("longer than maxLength");
    }
    let t = address.trim();
    let parts: Vec<&str> = if let Some((a, b)) = t.split_once('-') {
        vec![a.trim(), b.trim()]
    } else if let Some((a, prefix)) = t.split_once('/') {
        if prefix.len() > 1 && prefix.starts_with('0') {
            return Some("prefix length with a leading zero");
        }
        vec![a]
    } else {
        vec![t]
    };
    let mapped =
        |p: &&str| matches!(p.parse::<IpAddr>(), Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_some());
    parts
        .iter()
        .any(mapped)
        .then_some("IPv4-mapped IPv6 address")
}

/// Whether the controller refuses `address` only because the range is reversed (CEL cannot order addresses).
fn reversed(address: &str) -> bool {
    matches!(IpRange::parse(address), Err(RangeError::Reversed { .. }))
}

/// Checks the property for one address and returns both verdicts `(api, controller)`.
fn check_address(address: &str) -> (bool, bool) {
    let api = api_accepts_address(address);
    let controller = controller_accepts_address(address);
    if api && !controller {
        assert!(
            reversed(address),
            "{address:?}: the API server accepts what the controller refuses, and it is not a reversed range"
        );
    }
    if controller && !api {
        assert!(
            stricter_than_controller(address).is_some(),
            "{address:?}: the API server refuses an address the controller accepts"
        );
    }
    (api, controller)
}

/// How the API server's verdict relates to the controller's for a table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Both accept.
    Valid,
    /// Both refuse.
    Invalid,
    /// The API server accepts, the controller refuses: a reversed range (CEL cannot order addresses).
    OnlyController,
    /// The controller accepts, the API server refuses: a documented form no OpenELB user plausibly has.
    OnlyApiServer,
}

#[test]
fn address_table() {
    use Verdict::*;
    let cases: &[(&str, Verdict)] = &[
        // OpenELB's documented forms, and what its users have
        ("192.168.0.100", Valid),
        ("192.168.0.0/24", Valid),
        ("192.168.0.91-192.168.0.100", Valid),
        ("172.22.0.188-172.22.0.200", Valid),
        ("10.10.0.0/24", Valid),
        ("2001:db8::1", Valid),
        ("2001:db8::/120", Valid),
        ("2001:db8::10-2001:db8::20", Valid),
        ("2001:DB8::A-2001:db8::b", Valid),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", Valid),
        ("fd00::1-fd00::ffff", Valid),
        ("0.0.0.0/0", Valid),
        ("::/0", Valid),
        ("10.0.0.1/32", Valid),
        ("10.0.0.1-10.0.0.1", Valid),
        ("::1.2.3.4", Valid), // IPv4-compatible (deprecated) IPv6 is plain IPv6
        // whitespace is ignored by both (OpenELB refused it)
        (" 192.168.0.100 ", Valid),
        ("\t192.168.0.0/24\n", Valid),
        ("192.168.0.91 - 192.168.0.100", Valid),
        // garbage
        ("", Invalid),
        ("   ", Invalid),
        ("abc", Invalid),
        ("300.1.1.1", Invalid),
        ("1.2.3", Invalid),
        ("1.2.3.4.5", Invalid),
        ("010.0.0.1", Invalid), // leading zero: octal in some parsers, refused by Rust and Go
        ("010.0.0.0/8", Invalid),
        ("10.0.0.0/33", Invalid),
        ("2001:db8::/129", Invalid),
        ("10.0.0.0/", Invalid),
        ("10.0.0.0/-1", Invalid),
        ("10.0.0.0/+8", Invalid),
        ("10.0.0.0/ 24", Invalid),
        ("10.0.0.0 /24", Invalid),
        ("10.0.0.0/24/24", Invalid),
        ("10.0.0.5/24", Invalid), // host bits set: OpenELB normalised, Porter refuses
        ("2001:db8::1/64", Invalid),
        ("10.0.0.1-2001:db8::1", Invalid),
        ("1.2.3.4-", Invalid),
        ("-1.2.3.4", Invalid),
        ("1.2.3.4--1.2.3.5", Invalid),
        ("1.2.3.4-1.2.3.5-1.2.3.6", Invalid),
        ("10.0.0.0/24-10.0.1.0/24", Invalid),
        ("fe80::1%eth0", Invalid), // zones: refused by both
        ("1::2::3", Invalid),
        ("192.168.0.1,192.168.0.2", Invalid),
        // the API server accepts, the controller refuses (reported in the Eip's status)
        ("192.168.0.100-192.168.0.91", OnlyController),
        ("2001:db8::20-2001:db8::10", OnlyController),
        // the controller accepts, the API server refuses
        ("::ffff:192.168.0.1", OnlyApiServer),
        ("::ffff:10.0.0.1-::ffff:10.0.0.9", OnlyApiServer),
        ("::ffff:0:0/96", OnlyApiServer),
        ("10.0.0.0/024", OnlyApiServer), // Go's netip.ParsePrefix refuses a leading zero
        ("10.0.0.0/08", OnlyApiServer),
    ];
    let padded = format!("{}10.0.0.1", " ".repeat(100));
    for &(address, expected) in cases
        .iter()
        .chain([(padded.as_str(), OnlyApiServer)].iter())
    {
        let got = match check_address(address) {
            (true, true) => Valid,
            (false, false) => Invalid,
            (true, false) => OnlyController,
            (false, true) => OnlyApiServer,
        };
        assert_eq!(got, expected, "{address:?}");
    }
}

/// kube-cel's `isCIDR` parses with `ipnet`, whose parser is older and laxer than Rust's std one (which
/// kube-cel's `isIP` uses): it accepts an IPv4 octet with a leading zero (`010.0.0.0/8`), a `::` that stands
/// for no group at all (`1:2:3:4::5:6:7:8/128`) and a two-digit prefix length with a leading zero (`/08`).
/// Kubernetes' `isCIDR` (Go's `netip.ParsePrefix`) refuses all three, as does the controller except for the
/// prefix length. On a real API server the address rule refuses these forms, so [`api_accepts_address`]
/// corrects kube-cel's verdict for exactly them. Pinned here, so a kube-cel that agrees with Kubernetes shows.
#[test]
fn kube_cel_parses_cidrs_more_leniently_than_kubernetes() {
    for address in [
        "010.0.0.0/8",
        "100.092.0.0/14",
        "1:2:3:4::5:6:7:8/128",
        "::1:2:3:4:5:6:7:8/128",
        "10.0.0.0/08",
    ] {
        assert!(go_refuses_this_cidr(address), "{address}");
        assert!(
            kube_cel_accepts_address(address),
            "{address}: kube-cel changed"
        );
        assert!(!api_accepts_address(address), "{address}");
    }
    assert!(!controller_accepts_address("010.0.0.0/8"));
    assert!(!controller_accepts_address("1:2:3:4::5:6:7:8/128"));
    assert!(controller_accepts_address("10.0.0.0/08"));
    // a three-digit prefix length, and the same forms outside a CIDR (kube-cel's isIP is Rust's std parser),
    // are refused by kube-cel as by Go
    for address in [
        "10.0.0.0/024",
        "010.0.0.1",
        "10.0.0.1-10.0.0.010",
        "1:2:3:4::5:6:7:8",
    ] {
        assert!(!kube_cel_accepts_address(address), "{address}");
    }
}

/// A CIDR that Kubernetes' `isCIDR` refuses and kube-cel's accepts: Go's `netip.ParsePrefix` refuses a prefix
/// length with a leading zero, and parses the address as strictly as Rust's std parser (no leading zeros in
/// IPv4 octets, `::` stands for at least one group), which this test takes as the stand-in for Go's.
fn go_refuses_this_cidr(address: &str) -> bool {
    let t = address.trim();
    let Some((ip, prefix)) = t.split_once('/') else {
        return false;
    };
    let leading_zero = prefix.len() > 1 && prefix.starts_with('0');
    !t.contains('-') && (leading_zero || ip.parse::<IpAddr>().is_err())
}

/// Address texts: an IP in one of its spellings.
fn ip_text() -> impl Strategy<Value = String> {
    let v4 = any::<[u8; 4]>().prop_map(|o| IpAddr::from(o).to_string());
    let v6 = prop_oneof![
        any::<u128>(),
        // mostly zeros, so `::` compression shows up
        (any::<u16>(), any::<u16>(), 0..8usize)
            .prop_map(|(a, b, at)| (u128::from(a) << 112) | (u128::from(b) << (16 * at))),
        Just(0u128),
    ]
    .prop_flat_map(|v| {
        let a = std::net::Ipv6Addr::from(v);
        let segments = a.segments();
        prop_oneof![
            Just(a.to_string()),
            Just(a.to_string().to_uppercase()),
            Just(
                segments
                    .iter()
                    .map(|s| format!("{s:04x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            ),
        ]
    });
    let mapped = any::<[u8; 4]>().prop_map(|o| format!("::ffff:{}", std::net::Ipv4Addr::from(o)));
    prop_oneof![4 => v4, 4 => v6, 1 => mapped]
}

/// Whitespace the parser and `trim()` both ignore.
fn space() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\t"), 1 => Just("  ")]
}

/// Well-formed addresses (IPs, CIDRs with and without host bits, ranges of one or two families), then
/// mutated: characters inserted, deleted or replaced.
fn address_text() -> impl Strategy<Value = String> {
    let cidr = (ip_text(), 0..=130u8, any::<bool>()).prop_map(|(ip, prefix, mask)| {
        match (ip.parse::<IpAddr>(), mask) {
            (Ok(a), true) => {
                let bits = if a.is_ipv4() { 32 } else { 128 };
                let prefix = prefix % (bits + 1);
                let net = match a {
                    IpAddr::V4(v) => {
                        let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                        IpAddr::from(std::net::Ipv4Addr::from(u32::from(v) & m))
                    }
                    IpAddr::V6(v) => {
                        let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                        IpAddr::from(std::net::Ipv6Addr::from(u128::from(v) & m))
                    }
                };
                format!("{net}/{prefix}")
            }
            _ => format!("{ip}/{prefix}"),
        }
    });
    let range = (ip_text(), space(), space(), ip_text())
        .prop_map(|(a, s1, s2, b)| format!("{a}{s1}-{s2}{b}"));
    let well_formed = prop_oneof![ip_text(), cidr, range];
    let edit = (
        0..3u8,
        any::<prop::sample::Index>(),
        prop::sample::select("0123456789abcdefABCDEF:.-/ %gx".chars().collect::<Vec<_>>()),
    );
    (
        space(),
        well_formed,
        space(),
        prop::collection::vec(edit, 0..3),
    )
        .prop_map(|(pre, s, post, edits)| {
            let mut chars: Vec<char> = format!("{pre}{s}{post}").chars().collect();
            for (op, at, c) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ if i < chars.len() => chars[i] = c,
                    _ => {}
                }
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The API server never refuses an address the controller accepts (except the documented forms), and
    /// accepts nothing the controller refuses except a reversed range.
    #[test]
    fn address_rule_agrees_with_the_controller(address in address_text()) {
        check_address(&address);
    }
}

// ---------------------------------------------------------------------------------------------------------
// BgpPeer spec.conf.neighborAddress, spec.transport.localAddress; BgpConf spec.routerId
// ---------------------------------------------------------------------------------------------------------

/// The three single-address fields: `(kind, path, object with the value, controller's verdict)`.
struct Field {
    kind: &'static str,
    path: &'static str,
    object: fn(&str) -> Value,
    controller: fn(&str) -> bool,
}

const NEIGHBOR: Field = Field {
    kind: "BgpPeer",
    path: "spec.conf.neighborAddress",
    object: |s| {
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "tor"},
               "spec": {"conf": {"neighborAddress": s, "peerAs": 65001}}})
    },
    controller: |s| {
        let peer: BgpPeer = serde_json::from_value((NEIGHBOR.object)(s)).expect("a BgpPeer");
        peer.validate()
            .map_or_else(|e| e.iter().all(|e| e.field != NEIGHBOR.path), |_| true)
    },
};

const LOCAL: Field = Field {
    kind: "BgpPeer",
    path: "spec.transport.localAddress",
    // without a neighbor, so the controller's family check (neighbor vs local) does not interfere
    object: |s| {
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer", "metadata": {"name": "tor"},
               "spec": {"conf": {"peerAs": 65001}, "transport": {"localAddress": s}}})
    },
    controller: |s| {
        let peer: BgpPeer = serde_json::from_value((LOCAL.object)(s)).expect("a BgpPeer");
        peer.validate()
            .map_or_else(|e| e.iter().all(|e| e.field != LOCAL.path), |_| true)
    },
};

const ROUTER_ID: Field = Field {
    kind: "BgpConf",
    path: "spec.routerId",
    object: |s| {
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf", "metadata": {"name": "default"},
               "spec": {"as": 65000, "routerId": s}})
    },
    controller: |s| {
        let conf: BgpConf = serde_json::from_value((ROUTER_ID.object)(s)).expect("a BgpConf");
        conf.validate()
            .map_or_else(|e| e.iter().all(|e| e.field != ROUTER_ID.path), |_| true)
    },
};

/// Checks the property for one value of `field` and returns `(api, controller)`: the two agree, except that
/// the API server refuses IPv4-mapped IPv6 (which the controller reads as IPv6) and strings over `maxLength`.
fn check_field(field: &Field, value: &str) -> (bool, bool) {
    let max = with_cel(|cel| {
        let mut node = &compiled(cel, field.kind).properties;
        let mut max = None;
        for part in field.path.split('.') {
            let c = &node[part];
            max = c.max_length;
            node = &c.properties;
        }
        max.expect("the field has a maxLength") as usize
    });
    let api = value.chars().count() <= max
        && cel_accepts_at(field.kind, &(field.object)(value), field.path);
    let controller = (field.controller)(value);
    if controller && !api {
        let mapped = matches!(value.trim().parse::<IpAddr>(), Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_some());
        assert!(
            mapped || value.chars().count() > max,
            "{}: the API server refuses {value:?}, which the controller accepts",
            field.path
        );
    }
    assert!(
        !api || controller,
        "{}: the API server accepts {value:?}, which the controller refuses",
        field.path
    );
    (api, controller)
}

#[test]
fn single_address_tables() {
    // (value, neighborAddress, localAddress, routerId): the API server's verdicts
    let cases: &[(&str, bool, bool, bool)] = &[
        ("192.168.0.5", true, true, true),
        (" 192.168.0.5 ", true, true, true),
        ("2001:db8::1", true, true, false),
        ("fe80::1", true, true, false),
        ("0.0.0.0", true, true, false),
        ("", false, true, true), // neighborAddress is required; the others: empty = unset
        ("  ", false, true, true),
        ("300.1.1.1", false, false, false),
        ("10.0.0.1/32", false, false, false),
        ("fe80::1%eth0", false, false, false),
        ("tor.example.com", false, false, false),
        ("::ffff:10.0.0.1", false, false, false), // the controller: an IPv6 neighbor/local address
    ];
    for &(value, neighbor, local, router_id) in cases {
        for (field, expected) in [
            (&NEIGHBOR, neighbor),
            (&LOCAL, local),
            (&ROUTER_ID, router_id),
        ] {
            let (api, _) = check_field(field, value);
            assert_eq!(api, expected, "{} = {value:?}", field.path);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn single_address_rules_agree_with_the_controller(value in prop_oneof![ip_text(), address_text()]) {
        for field in [&NEIGHBOR, &LOCAL, &ROUTER_ID] {
            check_field(field, &value);
        }
    }
}
