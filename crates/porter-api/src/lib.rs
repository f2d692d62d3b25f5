//! Porter's Kubernetes API: OpenELB-compatible CRD types, Service annotations and object validation.
//!
//! Porter replaces OpenELB v0.6 in place, so its API *is* OpenELB's: the custom resources `Eip`, `BgpConf` and
//! `BgpPeer` in `network.kubesphere.io/v1alpha2` (cluster-scoped, with a status subresource) and the same
//! Service annotations. An OpenELB user's YAML loads unchanged; where Porter does not (yet) implement a field it
//! says so, as a warning, instead of dropping it silently:
//!
//! - [`unknown_fields`] lists fields Porter does not know at all (a typo, or a field from a newer OpenELB);
//! - `unsupported_fields()` on each kind lists fields Porter knows but does not implement;
//! - `validate()` on each kind turns a raw object into a checked value (`ValidEip`, `ValidPeer`, `ValidConf`)
//!   or into [`FieldError`]s that name the field, so consumers never re-check raw strings.
//!
//! Porter's additions to OpenELB's API (each CRD description says "Porter addition; OpenELB ignores it"): BGP
//! path attributes per pool (Eip `spec.bgp`) and per Service (`bgp.porter.kubesphere.io/*` annotations, read by
//! [`annotations::route_attrs`]), and BgpPeer `spec.conf.authPasswordSecretRef`, `spec.transport.localAddress`
//! and `spec.transport.ttlSecurity`. OpenELB's `gracefulRestart.enabled`/`restartTime` are implemented.
//!
//! This crate is pure data: kube is used with `derive` only (no client), so it builds and tests without a
//! cluster. [`crds_yaml`] prints the CustomResourceDefinitions (`porter crds`).
#![warn(missing_docs, unreachable_pub)]

pub mod annotations;
mod bgp_conf;
mod bgp_peer;
mod crd;
mod eip;
mod proto_uint;
mod route_attrs;
mod unknown_fields;
mod unsupported;
mod validation;

pub use bgp_conf::{
    BGP_CONF_NAME, BgpConf, BgpConfSpec, BgpConfStatus, GracefulRestart, NodeConfStatus,
};
pub use bgp_peer::{
    AddPaths, AddPathsConfig, AfiSafi, AfiSafiConfig, BgpPeer, BgpPeerSpec, BgpPeerStatus,
    EbgpMultihop, Family, MpGracefulRestart, MpGracefulRestartConfig, NodePeerStatus, PeerConf,
    PeerState, SecretKeyRef, Timers, TimersConfig, TimersState, Transport,
};
pub use crd::{crds, crds_yaml};
pub use eip::{Eip, EipBgp, EipSpec, EipStatus, Protocol};
pub use proto_uint::ProtoUint;
pub use route_attrs::{RouteAttrsDelta, parse_link_bandwidth};
pub use unknown_fields::{unknown_field_message, unknown_fields};
pub use validation::{
    DEFAULT_RESTART_TIME, FieldError, MAX_MD5_KEY_LEN, ValidConf, ValidEip, ValidPeer,
    format_errors,
};
