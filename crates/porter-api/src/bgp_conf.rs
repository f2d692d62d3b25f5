//! `BgpConf`: the cluster's global BGP settings (OpenELB `network.kubesphere.io/v1alpha2`).
//!
//! OpenELB fed this spec to gobgp's `Global` message through JSON, so the field names are gobgp's proto JSON
//! names; they are kept byte for byte so an OpenELB BgpConf loads into Porter unchanged.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Name of the only `BgpConf` that is used. Like OpenELB, Porter ignores BgpConf objects with any other name,
/// because one cluster has one BGP speaker configuration.
pub const BGP_CONF_NAME: &str = "default";

/// Global BGP settings shared by every speaker. Only the object named `default` is used.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "network.kubesphere.io",
    version = "v1alpha2",
    kind = "BgpConf",
    status = "BgpConfStatus",
    category = "networking",
    derive = "Default",
    derive = "PartialEq",
    doc = "Global BGP settings for Porter's speakers (OpenELB-compatible); only the object named `default` is used.",
    printcolumn = r#"{"name": "as", "type": "integer", "jsonPath": ".spec.as"}"#,
    printcolumn = r#"{"name": "routerId", "type": "string", "jsonPath": ".spec.routerId"}"#,
    printcolumn = r#"{"name": "listenPort", "type": "integer", "jsonPath": ".spec.listenPort"}"#,
    printcolumn = r#"{"name": "age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfSpec {
    /// The local AS number of every speaker (1-4294967295). Required in practice: OpenELB treats 0 as "BGP not
    /// ready" and Porter reports `spec.as` as invalid.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub as_number: Option<u32>,

    /// Rack name (the node label `openelb.kubesphere.io/rack`) -> AS number of the speakers in that rack.
    /// Not implemented by Porter yet: it is accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_per_rack: Option<BTreeMap<String, u32>>,

    /// BGP identifier (an IPv4 address). When empty each speaker uses its node's first InternalIP. Setting it
    /// gives every node the same identifier, as in OpenELB; leave it empty with more than one speaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        // As `validate()`: empty means unset, and 0.0.0.0 is not a BGP identifier.
        "rule": "self.trim() == '' || (isIP(self.trim()) && ip(self.trim()).family() == 4 && !ip(self.trim()).isUnspecified())",
        "message": "spec.routerId must be a non-zero IPv4 address"
    }]))]
    pub router_id: Option<String>,

    /// TCP port the speakers accept BGP sessions on: 0 or unset = 179, -1 = do not listen (only dial out).
    /// OpenELB's docs use 17900 to coexist with Calico, which already binds 179 on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1, max = 65535))]
    pub listen_port: Option<i32>,

    /// Local addresses to listen on. Unset = all addresses (`0.0.0.0` and `::`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_addresses: Option<Vec<String>>,

    /// gobgp route-family codes to enable globally. Not implemented by Porter: it negotiates IPv4 or IPv6
    /// unicast from each peer's address family. Accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<u32>>,

    /// gobgp's multipath best-path selection for received routes. Not implemented by Porter (it installs no
    /// received routes). Accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_multiple_paths: Option<bool>,

    /// Graceful restart (RFC 4724) for every neighbor (a BgpPeer's own `gracefulRestart` takes precedence).
    /// Porter implements `enabled` and `restartTime` (1-4095 s, default 120): the routers keep the node's
    /// routes for that long while its speaker restarts. The other fields are accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestart>,

    /// Name of a ConfigMap in OpenELB's namespace holding a gobgp policy (`gobgp.conf`). Not implemented by
    /// Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// Graceful-restart settings, gobgp's `GracefulRestart` message as OpenELB exposes it (used by BgpConf and
/// BgpPeer). Porter implements `enabled` and `restartTime`; the other fields are kept so OpenELB YAML loads
/// unchanged, and reported as ignored when set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestart {
    /// Advertise the graceful-restart capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Restart time advertised to peers, in seconds: how long they keep the routes while the speaker restarts
    /// (1-4095; unset or 0 = 120). Used only with `enabled: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_time: Option<u32>,
    /// Act only as a graceful-restart helper for restarting peers. Not implemented by Porter: accepted and
    /// reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_only: Option<bool>,
    /// Deferral time (seconds) for route selection after a restart. Not implemented by Porter: accepted and
    /// reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferral_time: Option<u32>,
    /// Graceful restart for NOTIFICATION messages (RFC 8538). Not implemented by Porter: accepted and reported
    /// as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_enabled: Option<bool>,
    /// Long-lived graceful restart. Not implemented by Porter: accepted and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longlived_enabled: Option<bool>,
    /// How long (seconds) stale routes are kept. Not implemented by Porter: accepted and reported as
    /// ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_routes_time: Option<u32>,
    /// Restart time the peer advertised (state in gobgp; accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_restart_time: Option<u32>,
    /// Whether the peer is restarting (state in gobgp; accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_restarting: Option<bool>,
    /// Whether the local speaker is restarting (state in gobgp; accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_restarting: Option<bool>,
    /// gobgp graceful-restart mode string (accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Observed state of the BgpConf, written by the speakers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfStatus {
    /// Node name -> the identity that node's speaker uses, so operators can see effective router IDs and AS
    /// numbers (they differ per node when `routerId` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_conf_status: Option<BTreeMap<String, NodeConfStatus>>,
}

/// The BGP identity one node's speaker uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfStatus {
    /// BGP identifier in use on that node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Local AS number in use on that node.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_number: Option<u32>,
}

impl BgpConf {
    /// Whether this is the BgpConf Porter uses (named [`BGP_CONF_NAME`]); others are ignored, as in OpenELB.
    pub fn is_used(&self) -> bool {
        self.metadata.name.as_deref() == Some(BGP_CONF_NAME)
    }
}
