//! `Eip`: a pool of external IP addresses (OpenELB `network.kubesphere.io/v1alpha2`).
//!
//! The field names, types and JSON spellings are OpenELB v0.6's, so an OpenELB Eip loads into Porter unchanged.
//! Every optional field is an `Option` that is skipped when `None`: a round trip through Porter adds nothing to
//! the user's YAML, and an explicit `disable: false` survives it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// CEL rule for `spec.address` (Kubernetes 1.31+: IP/CIDR and extended-strings libraries): the syntax
/// `IpRange::parse` accepts, checked at admission so a typo is refused by `kubectl apply` instead of showing up
/// later as an invalid pool. It mirrors the parser (whitespace around the address and around `-` is ignored,
/// a CIDR must not have host bits set, the two ends of a range must be of one family) with these differences,
/// pinned by `tests/main/cel_rules.rs`:
///
/// - `first <= last` of a range is not checked: CEL has no ordering of IP addresses. The controller reports a
///   reversed range in the Eip's status.
/// - Kubernetes' `isIP`/`isCIDR` refuse IPv4-mapped IPv6 (`::ffff:1.2.3.4`) and a prefix length with a leading
///   zero (`/024`, Go's `netip.ParsePrefix`), which the parser accepts. Neither is plausible in an OpenELB pool:
///   OpenELB read a mapped address as IPv4 (Porter as IPv6, so such a pool changed meaning anyway), and `/024`
///   is a slip of the keyboard. Zones (`fe80::1%eth0`) are refused by both, and were by OpenELB.
///
/// An Eip stored before the rule existed (an OpenELB `10.0.0.5/24`) stays updatable: the address never
/// changes, and validation ratcheting (on by default since Kubernetes 1.30) skips unchanged fields.
///
/// `maxLength: 100` bounds the string for the API server's cost estimate; the longest valid address (a range
/// of two IPv6 addresses in their longest spelling, without spaces) has 91 characters.
const ADDRESS_RULE: &str = concat!(
    "isIP(self.trim())",
    " || (isCIDR(self.trim()) && cidr(self.trim()) == cidr(self.trim()).masked())",
    " || (self.split('-').size() == 2",
    " && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim())",
    " && ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family())"
);

/// Desired state of an Eip: which addresses the pool holds, how they are announced and who may use them.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "network.kubesphere.io",
    version = "v1alpha2",
    kind = "Eip",
    status = "EipStatus",
    category = "networking",
    derive = "Default",
    derive = "PartialEq",
    doc = "A pool of external IP addresses that Porter assigns to LoadBalancer Services (OpenELB-compatible).",
    printcolumn = r#"{"name": "cidr", "type": "string", "jsonPath": ".spec.address"}"#,
    printcolumn = r#"{"name": "usage", "type": "integer", "jsonPath": ".status.usage"}"#,
    printcolumn = r#"{"name": "total", "type": "integer", "jsonPath": ".status.poolSize"}"#,
    printcolumn = r#"{"name": "protocol", "type": "string", "jsonPath": ".spec.protocol", "priority": 1}"#,
    printcolumn = r#"{"name": "disabled", "type": "boolean", "jsonPath": ".spec.disable", "priority": 1}"#,
    printcolumn = r#"{"name": "age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EipSpec {
    /// The addresses of the pool: a single IP (`192.168.0.100`), a CIDR (`192.168.0.0/24`; like OpenELB, the
    /// network and broadcast addresses are part of the pool, and addresses are assigned from the lowest, so
    /// `192.168.0.0` is handed out first unless `avoidBuggyIPs` is set) or an inclusive range `first-last`
    /// (`192.168.0.91-192.168.0.100`). IPv4 or IPv6. It cannot be changed after creation, as in OpenELB.
    /// Porter rejects a CIDR with host bits set (`10.0.0.5/24`), which OpenELB silently normalised.
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == oldSelf",
        "message": "the address field is not allowed to be modified"
    }, {
        "rule": ADDRESS_RULE,
        "message": "spec.address must be an IP, a CIDR without host bits set or a range first-last of one family"
    }]))]
    pub address: String,

    /// How the pool's addresses are announced: `bgp` (the default when empty), `layer2` (ARP/NDP) or `vip`
    /// (keepalived in OpenELB), which Porter answers as `layer2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_protocol_schema")]
    pub protocol: Option<Protocol>,

    /// The node interface that answers for the pool in `layer2`/`vip` mode: a name such as `eth0`, or
    /// `can_reach:<IP>` for the interface of the kernel route to that IP. Unset (OpenELB required it): the
    /// interface whose subnet holds the address, never a bridge, veth or CNI device. Unused in `bgp` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,

    /// When true, no new addresses are assigned from this pool; addresses already assigned are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,

    /// Unused since OpenELB v0.4 (in v0.3 it allowed addresses ending in .0/.255). Accepted and ignored by Porter.
    #[serde(
        default,
        rename = "usingKnownIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub using_known_ips: Option<bool>,

    /// Porter addition; OpenELB ignores it. OpenELB has no such field; this is MetalLB's `avoidBuggyIPs`. When
    /// true, no IPv4 address ending in `.0` or `.255` is handed out, whatever the form of `address` (CIDR,
    /// range or single IP), for clients and routers that take such addresses for network or broadcast
    /// addresses; IPv6 is unaffected. `status.poolSize` and `status.usage` then count only the other
    /// addresses. An address already assigned stays assigned when this is turned on (nothing is reshuffled),
    /// and a Service asking for such an address by annotation is refused. Default false.
    #[serde(
        default,
        rename = "avoidBuggyIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub avoid_buggy_ips: Option<bool>,

    /// Order among the pools a namespace may use (`namespaces`/`namespaceSelector`) when a Service names no
    /// pool: the lowest value is tried first. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,

    /// Namespaces whose Services may get an address from this pool without naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,

    /// Namespace labels (matchLabels semantics: every pair must match) whose Services may get an address from
    /// this pool without naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<BTreeMap<String, String>>,

    /// Porter addition; OpenELB ignores it. BGP path attributes attached to every address of the pool when
    /// it is announced (`protocol: bgp` only). A Service can add communities and override the rest with its
    /// `bgp.porter.kubesphere.io/*` annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<EipBgp>,
}

/// BGP path attributes of a pool's announcements (`spec.bgp`, a Porter addition; OpenELB ignores it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EipBgp {
    /// Porter addition; OpenELB ignores it. RFC 1997 communities: `ASN:VALUE` (each 0-65535, e.g.
    /// `65000:100`) or a well-known name (`no-export`, `no-advertise`, `no-export-subconfed`, `no-peer`,
    /// `blackhole`, `graceful-shutdown`, `accept-own`, `llgr-stale`, `no-llgr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communities: Option<Vec<String>>,

    /// Porter addition; OpenELB ignores it. RFC 8092 large communities: `GLOBAL:LOCAL1:LOCAL2` (each
    /// 0-4294967295, e.g. `65000:1:2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_communities: Option<Vec<String>>,

    /// Porter addition; OpenELB ignores it. MULTI_EXIT_DISC sent with the routes (lower is preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,

    /// Porter addition; OpenELB ignores it. LOCAL_PREF sent with the routes (higher is preferred). Sent to
    /// iBGP peers only (same AS); eBGP peers never receive LOCAL_PREF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,

    /// Porter addition; OpenELB ignores it. Link-bandwidth extended community, so routers can weight their
    /// multipath route by node capacity: bits per second with an optional K, M, G or T suffix (powers of
    /// 1000), e.g. `10G`, `2.5G`, `100M`, `1250000000`. Sent as bytes per second, at most 2^32-1 bytes/s
    /// (about 34.3G).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_bandwidth: Option<String>,

    /// Porter addition; OpenELB ignores it. Weighted ECMP: for a Service with
    /// `externalTrafficPolicy: Local`, each node sends as its link bandwidth this much per ready endpoint
    /// of the Service on the node (syntax as `linkBandwidth`), so a router weighting its multipath route by
    /// link bandwidth (FRR does by default) spreads traffic per pod rather than per node. With
    /// `Cluster` every node reaches every pod, so nodes stay equal and `linkBandwidth` applies. Replaces
    /// `linkBandwidth` for `Local` Services; the product stops at 2^32-1 bytes/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_bandwidth_per_endpoint: Option<String>,
}

/// How the addresses of an [`Eip`] are announced to the network (`spec.protocol`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// BGP: every speaker advertises the address to its BgpPeers.
    #[default]
    Bgp,
    /// Layer 2: one node answers ARP (IPv4) / NDP (IPv6) for the address on `interface`.
    Layer2,
    /// VIP: OpenELB ran keepalived (VRRP) to move the address between nodes.
    Vip,
}

/// Schema of the optional `protocol` field, written out so the field's own description survives: the
/// `Option<enum>` rewrite in kube would replace it with the enum's doc comment.
fn optional_protocol_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["bgp", "layer2", "vip"],
    })
}

impl Protocol {
    /// The spelling used in the CRD and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Bgp => "bgp",
            Protocol::Layer2 => "layer2",
            Protocol::Vip => "vip",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EipSpec {
    /// The effective protocol: an absent `protocol` means `bgp`, as in OpenELB's `Eip.GetProtocol`.
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol.unwrap_or_default()
    }

    /// Whether the pool is closed to new assignments (`disable: true`).
    pub fn is_disabled(&self) -> bool {
        self.disable.unwrap_or(false)
    }
}

/// Observed state of an Eip, written by the controller. The first eight fields are OpenELB's, so tools
/// that read OpenELB's status keep working; `conditions` is Porter's addition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EipStatus {
    /// True when every address of the pool is in use (`usage >= poolSize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupied: Option<bool>,

    /// Number of addresses in use (not Services: Services sharing one address count once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<i64>,

    /// Number of addresses in the pool. Saturates at 2^63-1 for very large IPv6 pools (OpenELB overflowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<i64>,

    /// Address in use -> the Service(s) holding it, as `namespace/name`; Services sharing an address are
    /// joined with `;` (`ns1/a;ns2/b`). This is the allocation record OpenELB's speakers read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<BTreeMap<String, String>>,

    /// First address of the pool.
    #[serde(default, rename = "firstIP", skip_serializing_if = "Option::is_none")]
    pub first_ip: Option<String>,

    /// Last address of the pool.
    #[serde(default, rename = "lastIP", skip_serializing_if = "Option::is_none")]
    pub last_ip: Option<String>,

    /// Never set by OpenELB (a dead field). Porter reports readiness in `conditions` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,

    /// True when the pool is IPv4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v4: Option<bool>,

    /// Porter's conditions for the pool (for example whether its spec is valid), keyed by `type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
