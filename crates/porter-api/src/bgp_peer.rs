//! `BgpPeer`: one BGP neighbor of the speakers (OpenELB `network.kubesphere.io/v1alpha2`).
//!
//! OpenELB converted this spec to gobgp's `Peer` message through JSON, so the names are gobgp's proto JSON
//! names and the timers are strings. They are kept as they are so an OpenELB BgpPeer loads into Porter unchanged.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bgp_conf::GracefulRestart;
use crate::proto_uint::ProtoUint;

/// Desired BGP session(s) with one neighbor: every speaker whose node matches `nodeSelector` peers with it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "network.kubesphere.io",
    version = "v1alpha2",
    kind = "BgpPeer",
    status = "BgpPeerStatus",
    category = "networking",
    derive = "Default",
    derive = "PartialEq",
    doc = "A BGP neighbor of Porter's speakers (OpenELB-compatible); one object per neighbor.",
    printcolumn = r#"{"name": "peerAddress", "type": "string", "jsonPath": ".spec.conf.neighborAddress"}"#,
    printcolumn = r#"{"name": "peerAs", "type": "integer", "jsonPath": ".spec.conf.peerAs"}"#,
    printcolumn = r#"{"name": "passive", "type": "boolean", "jsonPath": ".spec.transport.passiveMode", "priority": 1}"#,
    printcolumn = r#"{"name": "age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerSpec {
    /// The neighbor: its address and AS, and session options. Required (OpenELB crashed without it; Porter
    /// reports `spec.conf` as missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<PeerConf>,

    /// eBGP multihop: allow a neighbor that is more than one IP hop away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multihop: Option<EbgpMultihop>,

    /// Session timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<Timers>,

    /// TCP transport options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,

    /// Graceful restart (RFC 4724) with this neighbor. Porter implements `enabled` and `restartTime`
    /// (1-4095 s, default 120); the other fields are accepted and reported as ignored. Unset = the BgpConf's
    /// setting; `enabled: false` turns it off for this neighbor even when the BgpConf enables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestart>,

    /// Porter addition; OpenELB has no BFD. Bidirectional Forwarding Detection (RFC 5880) with this
    /// neighbor: a path that dies without closing the TCP connection (a cut link, a hung node) takes the BGP
    /// session down within `detectMultiplier` × the interval instead of the hold time, so the router drops this
    /// node's next hop in under a second with the defaults (300 ms × 3). The neighbor must run BFD for
    /// this node's address too (FRR: `neighbor X bfd`; BIRD: `bfd on`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<Bfd>,

    /// Address families to negotiate. OpenELB's default (empty list) was unicast of the neighbor address's
    /// family with ADD-PATH send-max 10. Porter negotiates unicast of the neighbor's family and does not
    /// implement this list yet: it is accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub afi_safis: Option<Vec<AfiSafi>>,

    /// Only speakers on nodes matching this selector peer with the neighbor (for example one rack's nodes with
    /// its top-of-rack switch). Unset = every speaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
}

/// The neighbor and its session options (gobgp's `PeerConf`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerConf {
    /// TCP-MD5 (RFC 2385) password for the session, in plain text. Never copied into the status (OpenELB did
    /// copy it). Prefer `authPasswordSecretRef`; setting both is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,

    /// Porter addition; OpenELB ignores it. TCP-MD5 (RFC 2385) password for the session, read from a key of a
    /// Secret instead of the plain-text `authPassword` (setting both is an error). The session is not
    /// started while the Secret or its key is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password_secret_ref: Option<SecretKeyRef>,

    /// Free text describing the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Local AS number for this session; unset or 0 = the BgpConf's `as`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_as: Option<u32>,

    /// IPv4 or IPv6 address of the neighbor. Required: it identifies the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        // As `validate()`: surrounding whitespace is ignored. Kubernetes' isIP also refuses IPv4-mapped IPv6
        // (`::ffff:1.2.3.4`), which the controller would read as an IPv6 neighbor (tests/main/cel_rules.rs).
        "rule": "isIP(self.trim())",
        "message": "spec.conf.neighborAddress must be an IP address"
    }]))]
    pub neighbor_address: Option<String>,

    /// AS number of the neighbor (1-4294967295). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub peer_as: Option<u32>,

    /// gobgp peer group. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_group: Option<String>,

    /// gobgp peer type (internal/external). Porter derives it from the AS numbers; accepted and reported as
    /// ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_type: Option<u32>,

    /// Private-AS removal (`NONE`, `ALL`, `REPLACE`). Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_private_as: Option<String>,

    /// Route-flap damping. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_flap_damping: Option<bool>,

    /// gobgp community-sending flags. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_community: Option<u32>,

    /// Interface for BGP unnumbered. Not implemented by Porter: accepted and reported as ignored;
    /// `neighborAddress` is still required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_interface: Option<String>,

    /// gobgp VRF. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,

    /// How many times the local AS may appear in a received AS path. Not implemented by Porter (it ignores
    /// received routes): accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_own_as: Option<u32>,

    /// Replace the neighbor's AS with the local AS in sent paths. Not implemented by Porter: accepted and
    /// reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_peer_as: Option<bool>,

    /// Keep the session administratively down (configured but never connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_down: Option<bool>,
}

/// One key of a Secret (the BgpPeer is cluster-scoped, so the Secret's namespace is spelled out).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub name: String,
    /// Key in the Secret's `data` whose value is the password.
    pub key: String,
}

impl std::fmt::Display for SecretKeyRef {
    /// `namespace/name` and the key, for messages: `Secret kube-system/bgp key "password"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secret {}/{} key {:?}",
            self.namespace, self.name, self.key
        )
    }
}

/// BFD with the neighbor (`spec.bfd`, a Porter addition). The interval names are MetalLB's BFDProfile's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bfd {
    /// Run BFD with this neighbor. Unset or false: no BFD (the other fields are then ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The shortest interval, in milliseconds, between BFD packets this node accepts from the neighbor
    /// (10-60000; default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub receive_interval: Option<u32>,
    /// The interval, in milliseconds, at which this node would like to send BFD packets (10-60000; default
    /// 300). The neighbor may ask for a slower one; until the session is up, packets go once a second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub transmit_interval: Option<u32>,
    /// Packets the neighbor may miss before the path is declared down (2-255; default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 255))]
    pub detect_multiplier: Option<u32>,
    /// Send nothing until the neighbor's first BFD packet arrives (the passive role of RFC 5880 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    /// Multihop BFD (RFC 5883, UDP port 4784, any TTL) instead of single hop (RFC 5881, port 3784, TTL 255
    /// required). Unset = multihop exactly when `ebgpMultihop.enabled` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multihop: Option<bool>,
}

/// eBGP multihop settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EbgpMultihop {
    /// Allow a neighbor more than one hop away. Without it, eBGP packets carry TTL 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// IP TTL of the session's packets when `enabled` (1-255; unset or 0 = 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 255))]
    pub multihop_ttl: Option<u32>,
}

/// Session timers (gobgp's `Timers`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timers {
    /// Configured timer values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<TimersConfig>,
}

/// Timer values in seconds. OpenELB writes them as strings of digits (gobgp proto `uint64`); integers are
/// accepted too. Unset or 0 means the default, as in gobgp.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimersConfig {
    /// Seconds between connection attempts (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_retry: Option<ProtoUint>,
    /// Porter addition; OpenELB ignores it. Ceiling of the connection-retry backoff, in seconds (1-86400,
    /// default 60, never below `connectRetry`): the delay between attempts doubles after each failed session
    /// up to this value. Only Porter's own dials wait for it: a connection the neighbor opens is served at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_retry_max: Option<ProtoUint>,
    /// Hold time proposed in OPEN, 3-65535 (default 90). As in gobgp, 0 means the default, not "no hold timer".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<ProtoUint>,
    /// Seconds between KEEPALIVEs; must be below the hold time (default: hold time / 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_interval: Option<ProtoUint>,
    /// Minimum seconds between UPDATEs for one prefix. Not implemented by Porter: accepted and reported as
    /// ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_advertisement_interval: Option<ProtoUint>,
}

/// TCP transport options (gobgp's `Transport`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transport {
    /// Path MTU discovery on the session socket. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu_discovery: Option<bool>,
    /// Never dial the neighbor; only accept its connections (on the BgpConf `listenPort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    /// gobgp transport remote address. Not implemented by Porter (it dials `conf.neighborAddress`): accepted
    /// and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    /// TCP port to dial on the neighbor, 1-65535 (unset or 0 = 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 65535))]
    pub remote_port: Option<u32>,
    /// TCP maximum segment size. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_mss: Option<u32>,
    /// Porter addition; OpenELB ignores it. Source address of the session (an address of the node, of the
    /// same family as `conf.neighborAddress`). Unset = chosen by the kernel's route to the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        // As `validate()`: empty means unset. The family check against neighborAddress stays in the
        // controller (a rule on `spec` would have to repeat both fields' parsing).
        "rule": "self.trim() == '' || isIP(self.trim())",
        "message": "spec.transport.localAddress must be an IP address"
    }]))]
    pub local_address: Option<String>,
    /// Porter addition; OpenELB ignores it. GTSM (RFC 5082) for a directly connected neighbor: send with IP
    /// TTL 255 and drop packets that arrive with a lower TTL, so only the neighbor itself can reach the
    /// session. Cannot be combined with `ebgpMultihop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_security: Option<bool>,
}

/// One address family to negotiate with the neighbor (gobgp's `AfiSafi`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AfiSafi {
    /// Per-family graceful restart. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp_graceful_restart: Option<MpGracefulRestart>,
    /// The family and whether it is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AfiSafiConfig>,
    /// ADD-PATH (RFC 7911) for this family. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_paths: Option<AddPaths>,
}

/// Per-family graceful restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MpGracefulRestart {
    /// Settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<MpGracefulRestartConfig>,
}

/// Per-family graceful-restart settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MpGracefulRestartConfig {
    /// Enable graceful restart for this family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// An address family and whether it is enabled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AfiSafiConfig {
    /// The family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Negotiate this family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// An AFI/SAFI pair in gobgp's spelling.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Family {
    /// Address family: `AFI_IP` or `AFI_IP6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub afi: Option<String>,
    /// Subsequent address family, e.g. `SAFI_UNICAST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safi: Option<String>,
}

/// ADD-PATH settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddPaths {
    /// Settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AddPathsConfig>,
}

/// ADD-PATH settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddPathsConfig {
    /// Accept several paths per prefix from the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<bool>,
    /// Send up to this many paths per prefix to the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_max: Option<u32>,
}

/// Observed state of a BgpPeer, written by the speakers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerStatus {
    /// Node name -> the session state of that node's speaker with this neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_peer_status: Option<BTreeMap<String, NodePeerStatus>>,
}

/// One speaker's session with the neighbor. A subset of OpenELB's (which copied gobgp's whole peer state,
/// password included); older OpenELB fields still load because unknown status fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePeerStatus {
    /// Session state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_state: Option<PeerState>,
    /// Timer state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers_state: Option<TimersState>,
}

impl NodePeerStatus {
    /// Whether the entry says the session is Established and, where BFD runs, BFD is up: the
    /// one reading of `sessionState` (GoBGP's spelling, any case) and `bfdState` for every
    /// reader, the controller's coverage and the speaker's write policy alike. A session whose
    /// BFD is not up is not counted: its path is not proven.
    pub fn is_established(&self) -> bool {
        self.peer_state.as_ref().is_some_and(|s| {
            s.session_state.as_deref().is_some_and(is_established)
                && s.bfd_state.as_deref().is_none_or(is_bfd_up)
        })
    }
}

/// Whether a `sessionState` value (as a speaker writes it, or a report file holds it) is
/// Established.
pub fn is_established(session_state: &str) -> bool {
    session_state.eq_ignore_ascii_case("established")
}

/// Whether a `bfdState` value says BFD is up.
pub fn is_bfd_up(bfd_state: &str) -> bool {
    bfd_state.eq_ignore_ascii_case("up")
}

/// Session state of one speaker with the neighbor. Never holds the password.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerState {
    /// Neighbor address of the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_address: Option<String>,
    /// Neighbor AS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_as: Option<u32>,
    /// Local AS used for the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_as: Option<u32>,
    /// BGP FSM state in gobgp's spelling: `IDLE`, `CONNECT`, `ACTIVE`, `OPENSENT`, `OPENCONFIRM`, `ESTABLISHED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_state: Option<String>,
    /// `UP` or `DOWN` (administratively, see `conf.adminDown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_state: Option<String>,
    /// The neighbor's BGP identifier, from its OPEN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// How many times the session went down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops: Option<u32>,
    /// Why the session last went down, if it did (Porter's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The BFD session's state (`Up`, `Init`, `Down`, `AdminDown`) when the BgpPeer enables BFD
    /// (Porter's addition). A session is counted as up only while BFD is `Up` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_state: Option<String>,
}

/// Timer state of one speaker's session. Strings, as OpenELB wrote them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimersState {
    /// Hold time negotiated with the neighbor, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated_hold_time: Option<String>,
    /// Keepalive interval in use, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_interval: Option<String>,
    /// When the session was last established (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<String>,
    /// When the session last went down (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime: Option<String>,
}
