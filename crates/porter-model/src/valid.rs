//! Validation: raw OpenELB objects in, checked values (`ValidEip`, `ValidPeer`, `ValidConf`) or field errors out.
//!
//! Consumers (IPAM, the speaker) take only the `Valid*` types, so a malformed object can never reach them, and
//! every problem is reported at once with the path of the field to fix: OpenELB either accepted bad values
//! silently or crashed on them (a BgpPeer without `conf`).
//!
//! The checked values hold the cores' types (`porter_ipam::IpRange`, `porter_bgp::RouteAttrs`), so validation
//! lives here, where the API meets the cores, and porter-api stays free of protocol crates. [`Validate`] gives
//! each kind its `validate()` method back: `use porter_model::valid::Validate;` and `eip.validate()`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use porter_api::annotations::is_default_eip;
use porter_api::{
    Bfd, BgpConf, BgpPeer, Eip, EipBgp, FieldError, GracefulRestart, ProtoUint, Protocol,
    SecretKeyRef,
};
use porter_bgp::{LinkBandwidth, RouteAttrs};
use porter_ipam::IpRange;

use crate::route_attrs::{communities, large_communities, parse_link_bandwidth};

/// Checking a raw API object into the value its consumers take: every problem at once, each naming its field.
pub trait Validate {
    /// The checked value, with defaults applied.
    type Valid;

    /// The checked value, or every problem found.
    fn validate(&self) -> Result<Self::Valid, Vec<FieldError>>;
}

/// A checked [`Eip`]: what IPAM and the announcers need, with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEip {
    /// Name of the Eip (the pool name).
    pub name: String,
    /// The pool's addresses.
    pub range: IpRange,
    /// How the addresses are announced (`bgp` when unset).
    pub protocol: Protocol,
    /// Interface for `layer2`/`vip`; `None` (unset or blank): the one whose subnet holds the
    /// address, found by each speaker on its node.
    pub interface: Option<String>,
    /// No new assignments from this pool.
    pub disabled: bool,
    /// Never hand out an IPv4 address ending in `.0` or `.255` (`spec.avoidBuggyIPs`).
    pub avoid_buggy_ips: bool,
    /// Lower = preferred among the pools a namespace may use.
    pub priority: i64,
    /// Namespaces that may use the pool without naming it.
    pub namespaces: Vec<String>,
    /// Namespace labels (all must match) that may use the pool without naming it.
    pub namespace_selector: BTreeMap<String, String>,
    /// The cluster's default pool (annotation `eip.openelb.kubesphere.io/is-default-eip: "true"`).
    pub is_default: bool,
    /// BGP path attributes of the pool's announcements (`spec.bgp`; default = none beyond the mandatory ones).
    pub route_attrs: RouteAttrs,
    /// Weighted ECMP (`spec.bgp.linkBandwidthPerEndpoint`): the link bandwidth per local endpoint, which
    /// replaces `route_attrs.link_bandwidth` for `externalTrafficPolicy: Local` Services (see
    /// [`crate::announce`]). Not in `route_attrs`: porter-bgp sends a bandwidth, this decides which.
    pub link_bandwidth_per_endpoint: Option<LinkBandwidth>,
}

/// A checked [`BgpPeer`]: one neighbor as the speaker needs it, with OpenELB's defaults applied.
/// `Debug` never prints the password (plans and peers end up in logs and test output).
#[derive(Clone, PartialEq)]
pub struct ValidPeer {
    /// Name of the BgpPeer.
    pub name: String,
    /// The neighbor's address.
    pub address: IpAddr,
    /// The neighbor's AS (non-zero).
    pub peer_as: u32,
    /// Local AS for this session; `None` = the BgpConf's AS.
    pub local_as: Option<u32>,
    /// TCP port to dial (179 unless `transport.remotePort` says otherwise).
    pub port: u16,
    /// Never dial; only accept the neighbor's connection.
    pub passive: bool,
    /// Hold time to propose (3-65535); `None` = the default (90 s, as in gobgp).
    pub hold_time: Option<u16>,
    /// Keepalive interval, below the hold time; `None` = the default (hold time / 3).
    pub keepalive: Option<u16>,
    /// Seconds between connection attempts; `None` = the default (120 s, as in gobgp).
    pub connect_retry: Option<u32>,
    /// Ceiling of the connection-retry backoff in seconds (`spec.timers.config.connectRetryMax`, a
    /// Porter addition), never below `connect_retry`; `None` = the default (60 s).
    pub connect_retry_max: Option<u32>,
    /// IP TTL for eBGP multihop (1-255); `None` = multihop off (TTL 1 for eBGP).
    pub multihop_ttl: Option<u8>,
    /// TCP-MD5 password; `None` = no authentication. Never log it. From `spec.conf.authPassword`; when the
    /// password is in a Secret (`password_secret`) it is `None` here and filled in by whoever reads Secrets
    /// ([`crate::announce::plan`]).
    pub password: Option<String>,
    /// Where the TCP-MD5 password is (`spec.conf.authPasswordSecretRef`); never set together with a
    /// plain-text `spec.conf.authPassword`.
    pub password_secret: Option<SecretKeyRef>,
    /// Source address of the session (`spec.transport.localAddress`), of the neighbor's family; `None` = the
    /// kernel's choice.
    pub local_address: Option<IpAddr>,
    /// GTSM (RFC 5082, `spec.transport.ttlSecurity`): send with TTL 255 and accept only TTL 255 (directly
    /// connected neighbor). Never set together with `multihop_ttl`.
    pub ttl_security: bool,
    /// Graceful restart (RFC 4724): the restart time in seconds (1-4095) to advertise, or `None` = off. From
    /// `spec.gracefulRestart` (`enabled: true`, `restartTime` unset/0 = 120). Straight from `validate()`,
    /// `None` means "not set on this BgpPeer" (see `graceful_restart_off`); in a speaker plan
    /// ([`crate::announce`]) the BgpConf's setting has been inherited and `None` means off.
    pub graceful_restart: Option<u16>,
    /// `spec.gracefulRestart.enabled: false` on the BgpPeer: no graceful restart with this neighbor, even when
    /// the BgpConf enables it (so the BgpConf's setting is not inherited).
    pub graceful_restart_off: bool,
    /// Only nodes matching this selector peer with the neighbor; `None` = every node.
    pub node_selector: Option<LabelSelector>,
    /// Configured but administratively down: do not connect.
    pub admin_down: bool,
    /// BFD with the neighbor (`spec.bfd`, enabled); `None` = no BFD.
    pub bfd: Option<ValidBfd>,
}

/// BFD settings of one peer (`spec.bfd`), defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValidBfd {
    /// The shortest interval between packets we accept from the neighbor.
    pub receive_interval: Duration,
    /// The interval we would like to send at once the session is up.
    pub transmit_interval: Duration,
    /// Packets the neighbor may miss before the path is down.
    pub detect_multiplier: u8,
    /// Wait for the neighbor's first packet before sending.
    pub passive: bool,
    /// RFC 5883 multihop (port 4784) rather than RFC 5881 single hop (port 3784, TTL 255).
    pub multihop: bool,
}

impl ValidBfd {
    /// The interval both ways when `spec.bfd` does not say (what FRR and BIRD default to).
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(300);
    /// The detect multiplier when `spec.bfd` does not say.
    pub const DEFAULT_MULTIPLIER: u8 = 3;
}

impl std::fmt::Debug for ValidPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidPeer")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("peer_as", &self.peer_as)
            .field("local_as", &self.local_as)
            .field("port", &self.port)
            .field("passive", &self.passive)
            .field("hold_time", &self.hold_time)
            .field("keepalive", &self.keepalive)
            .field("connect_retry", &self.connect_retry)
            .field("connect_retry_max", &self.connect_retry_max)
            .field("multihop_ttl", &self.multihop_ttl)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_secret", &self.password_secret)
            .field("local_address", &self.local_address)
            .field("ttl_security", &self.ttl_security)
            .field("graceful_restart", &self.graceful_restart)
            .field("graceful_restart_off", &self.graceful_restart_off)
            .field("node_selector", &self.node_selector)
            .field("admin_down", &self.admin_down)
            .finish()
    }
}

impl ValidPeer {
    /// A peer with OpenELB's defaults for everything but its identity (port 179, active, no
    /// password, default timers): what a `BgpPeer` with only `conf.neighborAddress` and
    /// `conf.peerAs` validates to. Callers that build plans by hand (tests, benchmarks)
    /// spell out only what differs.
    pub fn new(name: impl Into<String>, address: IpAddr, peer_as: u32) -> Self {
        ValidPeer {
            name: name.into(),
            address,
            peer_as,
            local_as: None,
            port: BGP_PORT,
            passive: false,
            hold_time: None,
            keepalive: None,
            connect_retry: None,
            connect_retry_max: None,
            multihop_ttl: None,
            password: None,
            password_secret: None,
            local_address: None,
            ttl_security: false,
            graceful_restart: None,
            graceful_restart_off: false,
            node_selector: None,
            admin_down: false,
            bfd: None,
        }
    }
}

/// The checked `default` [`BgpConf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConf {
    /// Local AS of every speaker (non-zero).
    pub local_as: u32,
    /// Fixed BGP identifier; `None` = each node's InternalIP.
    pub router_id: Option<Ipv4Addr>,
    /// Port to accept sessions on; `None` = do not listen (`listenPort: -1`).
    pub listen_port: Option<u16>,
    /// Addresses to listen on; empty = all (`0.0.0.0` and `::`).
    pub listen_addresses: Vec<IpAddr>,
    /// Graceful restart for every neighbor (`spec.gracefulRestart`): the restart time in seconds (1-4095), or
    /// `None` = off. A BgpPeer's own setting takes precedence.
    pub graceful_restart: Option<u16>,
}

/// The default BGP port, used for `listenPort: 0`/unset and an unset `remotePort`.
const BGP_PORT: u16 = 179;
/// The largest `connectRetryMax`: a day. A longer ceiling would leave an active peer unretried
/// for longer than anyone waits on purpose.
pub const MAX_CONNECT_RETRY_MAX: u64 = 86_400;
/// gobgp's default hold time, the reference for checking a keepalive given without a hold time.
const DEFAULT_HOLD_TIME: u16 = 90;
/// Linux's TCP_MD5SIG_MAXKEYLEN: a longer password cannot be installed on the socket.
pub const MAX_MD5_KEY_LEN: usize = 80;
/// Graceful-restart time when `enabled: true` comes without `restartTime` (gobgp's and FRR's default).
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// The largest restart time: the capability carries it in 12 bits.
const MAX_RESTART_TIME: u16 = porter_bgp::GracefulRestart::MAX_RESTART_TIME;

/// Reads `spec.gracefulRestart`: `Some(restart time)` when `enabled: true`, `None` otherwise. The restart time
/// is checked only when enabled (it means nothing otherwise, and OpenELB objects may carry any value there).
fn graceful_restart(gr: Option<&GracefulRestart>, errors: &mut Vec<FieldError>) -> Option<u16> {
    let gr = gr.filter(|g| g.enabled == Some(true))?;
    match gr.restart_time {
        None | Some(0) => Some(DEFAULT_RESTART_TIME),
        Some(t) => match u16::try_from(t) {
            Ok(t) if t <= MAX_RESTART_TIME => Some(t),
            _ => {
                errors.push(FieldError::new(
                    "spec.gracefulRestart.restartTime",
                    format!(
                        "{t} is out of range (1-{MAX_RESTART_TIME} seconds, or 0/unset = {DEFAULT_RESTART_TIME})"
                    ),
                ));
                None
            }
        },
    }
}

/// Reads an Eip's `spec.bgp` into route attributes.
fn eip_route_attrs(bgp: Option<&EipBgp>, errors: &mut Vec<FieldError>) -> RouteAttrs {
    let Some(bgp) = bgp else {
        return RouteAttrs::default();
    };
    let communities = communities(
        bgp.communities.iter().flatten().map(String::as_str),
        |i| format!("spec.bgp.communities[{i}]"),
        errors,
    );
    let large_communities = large_communities(
        bgp.large_communities.iter().flatten().map(String::as_str),
        |i| format!("spec.bgp.largeCommunities[{i}]"),
        errors,
    );
    let link_bandwidth = bandwidth(
        bgp.link_bandwidth.as_deref(),
        "spec.bgp.linkBandwidth",
        errors,
    );
    RouteAttrs {
        med: bgp.med,
        local_pref: bgp.local_pref,
        communities,
        large_communities,
        link_bandwidth,
    }
}

/// Reads an optional bandwidth (empty = unset), reporting a bad one at `field`.
fn bandwidth(
    text: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<LinkBandwidth> {
    match text.map(str::trim) {
        None | Some("") => None,
        Some(text) => parse_link_bandwidth(text)
            .map_err(|e| errors.push(FieldError::new(field, e)))
            .ok(),
    }
}

/// Checks a Secret reference: every part must be set.
fn check_secret_ref(r: &SecretKeyRef, field: &str, errors: &mut Vec<FieldError>) {
    for (part, value) in [
        ("namespace", &r.namespace),
        ("name", &r.name),
        ("key", &r.key),
    ] {
        if value.trim().is_empty() {
            errors.push(FieldError::new(format!("{field}.{part}"), "must be set"));
        }
    }
}

/// The object's name, or an error: objects from the API always have one, hand-built ones might not.
fn name_of(meta: &ObjectMeta, errors: &mut Vec<FieldError>) -> String {
    match meta.name.as_deref() {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => {
            errors.push(FieldError::new("metadata.name", "must be set"));
            String::new()
        }
    }
}

impl Validate for Eip {
    type Valid = ValidEip;

    /// Checks the pool and applies defaults. Errors: `spec.address` not an IP, CIDR or `first-last` range (or a
    /// CIDR with host bits set, or a reversed range); an empty
    /// entry in `spec.namespaces`; a `spec.bgp.communities` / `spec.bgp.largeCommunities` entry that is not a
    /// community; a `spec.bgp.linkBandwidth` or `spec.bgp.linkBandwidthPerEndpoint` that is not a bandwidth.
    fn validate(&self) -> Result<ValidEip, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = name_of(&self.metadata, &mut errors);
        let spec = &self.spec;

        let range = IpRange::parse(&spec.address)
            .map_err(|e| errors.push(FieldError::new("spec.address", e.to_string())))
            .ok();

        let protocol = spec.effective_protocol();
        let interface = spec
            .interface
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned);

        let namespaces = spec.namespaces.clone().unwrap_or_default();
        for (i, ns) in namespaces.iter().enumerate() {
            if ns.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("spec.namespaces[{i}]"),
                    "must not be empty",
                ));
            }
        }

        let route_attrs = eip_route_attrs(spec.bgp.as_ref(), &mut errors);
        let link_bandwidth_per_endpoint = bandwidth(
            spec.bgp
                .as_ref()
                .and_then(|b| b.link_bandwidth_per_endpoint.as_deref()),
            "spec.bgp.linkBandwidthPerEndpoint",
            &mut errors,
        );

        match range {
            Some(range) if errors.is_empty() => Ok(ValidEip {
                name,
                range,
                protocol,
                interface,
                disabled: spec.is_disabled(),
                avoid_buggy_ips: spec.avoid_buggy_ips.unwrap_or(false),
                priority: spec.priority.unwrap_or(0),
                namespaces,
                namespace_selector: spec.namespace_selector.clone().unwrap_or_default(),
                is_default: is_default_eip(self),
                route_attrs,
                link_bandwidth_per_endpoint,
            }),
            _ => Err(errors),
        }
    }
}

impl Validate for BgpConf {
    type Valid = ValidConf;

    /// Checks the global BGP settings. Errors: `spec.as` unset or 0; `spec.routerId` not a non-zero IPv4
    /// address; `spec.listenPort` outside -1..=65535; a `spec.listenAddresses` entry that is not an IP address;
    /// `spec.gracefulRestart.restartTime` outside 1-4095 when graceful restart is enabled.
    fn validate(&self) -> Result<ValidConf, Vec<FieldError>> {
        let mut errors = Vec::new();
        let spec = &self.spec;

        let local_as = match spec.as_number {
            Some(n) if n != 0 => n,
            _ => {
                errors.push(FieldError::new("spec.as", "must be set (1-4294967295)"));
                0
            }
        };

        let router_id = match spec.router_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => match text.parse::<IpAddr>() {
                Ok(IpAddr::V4(id)) if !id.is_unspecified() => Some(id),
                Ok(IpAddr::V4(_)) => {
                    errors.push(FieldError::new(
                        "spec.routerId",
                        "0.0.0.0 is not a valid BGP identifier",
                    ));
                    None
                }
                Ok(IpAddr::V6(_)) => {
                    errors.push(FieldError::new(
                        "spec.routerId",
                        format!("{text:?} is not an IPv4 address (a BGP identifier is 32 bits, even for IPv6)"),
                    ));
                    None
                }
                Err(_) => {
                    errors.push(FieldError::new(
                        "spec.routerId",
                        format!("{text:?} is not an IPv4 address"),
                    ));
                    None
                }
            },
        };

        let listen_port = match spec.listen_port {
            None | Some(0) => Some(BGP_PORT),
            Some(-1) => None,
            Some(p) => match u16::try_from(p) {
                Ok(p) => Some(p),
                Err(_) => {
                    errors.push(FieldError::new(
                        "spec.listenPort",
                        format!("{p} is out of range (-1 = do not listen, 0 = 179, or 1-65535)"),
                    ));
                    None
                }
            },
        };

        let mut listen_addresses = Vec::new();
        for (i, text) in spec.listen_addresses.iter().flatten().enumerate() {
            match text.trim().parse::<IpAddr>() {
                Ok(a) => listen_addresses.push(a),
                Err(_) => errors.push(FieldError::new(
                    format!("spec.listenAddresses[{i}]"),
                    format!("{text:?} is not an IP address"),
                )),
            }
        }

        let graceful_restart = graceful_restart(spec.graceful_restart.as_ref(), &mut errors);

        if errors.is_empty() {
            Ok(ValidConf {
                local_as,
                router_id,
                listen_port,
                listen_addresses,
                graceful_restart,
            })
        } else {
            Err(errors)
        }
    }
}

/// Reads an optional timer: `None` when unset or 0 (gobgp's "use the default"), else the value if it fits
/// `max`. `range` is the accepted range as written in messages.
fn timer(
    value: Option<&ProtoUint>,
    field: &str,
    min: u64,
    max: u64,
    range: &str,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    let v = match value.map(ProtoUint::value)? {
        Ok(v) => v,
        Err(msg) => {
            errors.push(FieldError::new(field, msg));
            return None;
        }
    };
    if v == 0 {
        None
    } else if v < min || v > max {
        errors.push(FieldError::new(
            field,
            format!("{v} is out of range ({range})"),
        ));
        None
    } else {
        Some(v)
    }
}

/// Checks a label selector the way the API server checks Deployment selectors, so a selector that could never
/// be evaluated is reported instead of silently matching nothing.
fn check_selector(selector: &LabelSelector, errors: &mut Vec<FieldError>) {
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let field = format!("spec.nodeSelector.matchExpressions[{i}]");
        let has_values = req.values.as_ref().is_some_and(|v| !v.is_empty());
        match req.operator.as_str() {
            "In" | "NotIn" if !has_values => errors.push(FieldError::new(
                format!("{field}.values"),
                format!("must not be empty for operator {}", req.operator),
            )),
            "Exists" | "DoesNotExist" if has_values => errors.push(FieldError::new(
                format!("{field}.values"),
                format!("must be empty for operator {}", req.operator),
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push(FieldError::new(
                format!("{field}.operator"),
                format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
            )),
        }
    }
}

/// `spec.bfd` checked, with its defaults; `None` when BFD is not enabled. The CRD's schema holds
/// the same ranges, but the manifests folder has no schema.
fn bfd(
    bfd: Option<&Bfd>,
    multihop_enabled: bool,
    errors: &mut Vec<FieldError>,
) -> Option<ValidBfd> {
    let bfd = bfd.filter(|b| b.enabled == Some(true))?;
    let mut interval = |field: &'static str, value: Option<u32>| match value {
        None => Some(ValidBfd::DEFAULT_INTERVAL),
        Some(ms @ 10..=60_000) => Some(Duration::from_millis(u64::from(ms))),
        Some(ms) => {
            errors.push(FieldError::new(
                field,
                format!("{ms} is out of range (10-60000 milliseconds)"),
            ));
            None
        }
    };
    let receive_interval = interval("spec.bfd.receiveInterval", bfd.receive_interval);
    let transmit_interval = interval("spec.bfd.transmitInterval", bfd.transmit_interval);
    let detect_multiplier = match bfd.detect_multiplier {
        None => Some(ValidBfd::DEFAULT_MULTIPLIER),
        Some(m @ 2..=255) => u8::try_from(m).ok(),
        Some(m) => {
            errors.push(FieldError::new(
                "spec.bfd.detectMultiplier",
                format!("{m} is out of range (2-255)"),
            ));
            None
        }
    };
    Some(ValidBfd {
        receive_interval: receive_interval?,
        transmit_interval: transmit_interval?,
        detect_multiplier: detect_multiplier?,
        passive: bfd.passive_mode == Some(true),
        multihop: bfd.multihop.unwrap_or(multihop_enabled),
    })
}

impl Validate for BgpPeer {
    type Valid = ValidPeer;

    /// Checks the neighbor and applies OpenELB's (gobgp's) defaults. Errors: `spec.conf` missing;
    /// `neighborAddress` missing or not an IP; `peerAs` unset or 0; `authPassword` over 80 bytes, or set
    /// together with `authPasswordSecretRef`; an `authPasswordSecretRef` part empty; `remotePort` outside
    /// 0-65535 (0 = 179); `transport.localAddress` not an IP of the neighbor's family; `transport.ttlSecurity` together
    /// with `ebgpMultihop`; timers that are not integers, `holdTime` outside 3-65535 (or 0), `keepaliveInterval`
    /// outside 1-65534 (or 0) or not below the hold time, `connectRetry` above 4294967295, `connectRetryMax`
    /// outside 1-86400 (or 0) or below `connectRetry`; `multihopTtl` outside
    /// 0-255 (0 = 255) when multihop is enabled; `gracefulRestart.restartTime` outside 1-4095 when
    /// enabled; an invalid `nodeSelector` expression.
    fn validate(&self) -> Result<ValidPeer, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = name_of(&self.metadata, &mut errors);
        let spec = &self.spec;

        let Some(conf) = spec.conf.as_ref() else {
            errors.push(FieldError::new(
                "spec.conf",
                "must be set (with at least neighborAddress and peerAs)",
            ));
            return Err(errors);
        };

        let address = match conf.neighbor_address.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new("spec.conf.neighborAddress", "must be set"));
                None
            }
            Some(text) => match text.parse::<IpAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push(FieldError::new(
                        "spec.conf.neighborAddress",
                        format!("{text:?} is not an IP address"),
                    ));
                    None
                }
            },
        };

        let peer_as = conf.peer_as.unwrap_or(0);
        if peer_as == 0 {
            errors.push(FieldError::new(
                "spec.conf.peerAs",
                "must be set (1-4294967295)",
            ));
        }
        let local_as = conf.local_as.filter(|&a| a != 0);

        let password = conf.auth_password.clone().filter(|p| !p.is_empty());
        if password.as_ref().is_some_and(|p| p.len() > MAX_MD5_KEY_LEN) {
            // Never echo the password itself.
            errors.push(FieldError::new(
                "spec.conf.authPassword",
                format!("is longer than {MAX_MD5_KEY_LEN} bytes (the TCP-MD5 key limit)"),
            ));
        }

        let password_secret = conf.auth_password_secret_ref.clone();
        if let Some(r) = password_secret.as_ref() {
            check_secret_ref(r, "spec.conf.authPasswordSecretRef", &mut errors);
            if password.is_some() {
                errors.push(FieldError::new(
                    "spec.conf.authPasswordSecretRef",
                    "conflicts with spec.conf.authPassword: set only one (authPasswordSecretRef keeps the password out of the BgpPeer)",
                ));
            }
        }

        let transport = spec.transport.as_ref();
        let port = match transport.and_then(|t| t.remote_port) {
            None | Some(0) => BGP_PORT,
            Some(p) => u16::try_from(p).unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "spec.transport.remotePort",
                    format!("{p} is out of range (0 = 179, or 1-65535)"),
                ));
                BGP_PORT
            }),
        };
        let passive = transport.and_then(|t| t.passive_mode).unwrap_or(false);
        let local_address = match transport
            .and_then(|t| t.local_address.as_deref())
            .map(str::trim)
        {
            None | Some("") => None,
            Some(text) => match text.parse::<IpAddr>() {
                Ok(local) => {
                    if let Some(neighbor) = address.filter(|n| n.is_ipv4() != local.is_ipv4()) {
                        let family = |a: IpAddr| if a.is_ipv4() { "IPv4" } else { "IPv6" };
                        errors.push(FieldError::new(
                            "spec.transport.localAddress",
                            format!(
                                "{local} is {} but spec.conf.neighborAddress {neighbor} is {}: the session's two ends must be of one family",
                                family(local),
                                family(neighbor)
                            ),
                        ));
                    }
                    Some(local)
                }
                Err(_) => {
                    errors.push(FieldError::new(
                        "spec.transport.localAddress",
                        format!("{text:?} is not an IP address"),
                    ));
                    None
                }
            },
        };
        let ttl_security = transport.and_then(|t| t.ttl_security).unwrap_or(false);

        let tc = spec.timers.as_ref().and_then(|t| t.config.as_ref());
        let f = "spec.timers.config";
        let hold_time = timer(
            tc.and_then(|t| t.hold_time.as_ref()),
            &format!("{f}.holdTime"),
            3,
            u64::from(u16::MAX),
            "0 = default, or 3-65535",
            &mut errors,
        )
        .and_then(|v| u16::try_from(v).ok());
        // Below a hold time of at most 65535.
        let keepalive = timer(
            tc.and_then(|t| t.keepalive_interval.as_ref()),
            &format!("{f}.keepaliveInterval"),
            1,
            u64::from(u16::MAX - 1),
            "0 = default, or 1-65534",
            &mut errors,
        )
        .and_then(|v| u16::try_from(v).ok());
        let connect_retry = timer(
            tc.and_then(|t| t.connect_retry.as_ref()),
            &format!("{f}.connectRetry"),
            1,
            u64::from(u32::MAX),
            "0 = default, or 1-4294967295",
            &mut errors,
        )
        .and_then(|v| u32::try_from(v).ok());
        let connect_retry_max = timer(
            tc.and_then(|t| t.connect_retry_max.as_ref()),
            &format!("{f}.connectRetryMax"),
            1,
            MAX_CONNECT_RETRY_MAX,
            "0 = default (60), or 1-86400 seconds",
            &mut errors,
        )
        .and_then(|v| u32::try_from(v).ok());
        if let (Some(max), Some(retry)) = (connect_retry_max, connect_retry)
            && max < retry
        {
            errors.push(FieldError::new(
                format!("{f}.connectRetryMax"),
                format!("{max} must not be below {f}.connectRetry ({retry}): it is the ceiling the retry delay grows to"),
            ));
        }
        // Not implemented, but a non-integer is still a mistake worth reporting.
        if let Some(Err(msg)) = tc
            .and_then(|t| t.minimum_advertisement_interval.as_ref())
            .map(ProtoUint::value)
        {
            errors.push(FieldError::new(
                format!("{f}.minimumAdvertisementInterval"),
                msg,
            ));
        }
        if let Some(ka) = keepalive {
            let hold = hold_time.unwrap_or(DEFAULT_HOLD_TIME);
            if ka >= hold {
                let which = if hold_time.is_some() {
                    ""
                } else {
                    " (default)"
                };
                errors.push(FieldError::new(
                    format!("{f}.keepaliveInterval"),
                    format!("{ka} must be less than the hold time{which} ({hold})"),
                ));
            }
        }

        let multihop_ttl = match spec.ebgp_multihop.as_ref() {
            Some(m) if m.enabled == Some(true) => match m.multihop_ttl {
                None | Some(0) => Some(u8::MAX),
                Some(t) => u8::try_from(t).map(Some).unwrap_or_else(|_| {
                    errors.push(FieldError::new(
                        "spec.ebgpMultihop.multihopTtl",
                        format!("{t} is out of range (0 = 255, or 1-255)"),
                    ));
                    None
                }),
            },
            _ => None,
        };

        if ttl_security && spec.ebgp_multihop.as_ref().and_then(|m| m.enabled) == Some(true) {
            errors.push(FieldError::new(
                "spec.transport.ttlSecurity",
                "conflicts with spec.ebgpMultihop.enabled: TTL security (GTSM) accepts only a directly connected neighbor; set only one",
            ));
        }

        let graceful_restart_off = spec
            .graceful_restart
            .as_ref()
            .is_some_and(|g| g.enabled == Some(false));
        let graceful_restart = graceful_restart(spec.graceful_restart.as_ref(), &mut errors);

        if let Some(sel) = spec.node_selector.as_ref() {
            check_selector(sel, &mut errors);
        }
        let multihop_enabled = spec.ebgp_multihop.as_ref().and_then(|m| m.enabled) == Some(true);
        let bfd = bfd(spec.bfd.as_ref(), multihop_enabled, &mut errors);

        match address {
            Some(address) if errors.is_empty() => Ok(ValidPeer {
                name,
                address,
                peer_as,
                local_as,
                port,
                passive,
                hold_time,
                keepalive,
                connect_retry,
                connect_retry_max,
                multihop_ttl,
                password,
                password_secret,
                local_address,
                ttl_security,
                graceful_restart,
                graceful_restart_off,
                node_selector: spec.node_selector.clone(),
                admin_down: conf.admin_down.unwrap_or(false),
                bfd,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_password() {
        let peer = ValidPeer {
            password: Some("s3cret-md5".into()),
            ..ValidPeer::new("tor", IpAddr::from([10, 0, 0, 1]), 64512)
        };
        let shown = format!("{peer:?}");
        assert!(!shown.contains("s3cret-md5"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
