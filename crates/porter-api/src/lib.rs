//! Porter's Kubernetes API: OpenELB-compatible CRD types, Service annotations and the CRDs.
//!
//! Porter replaces OpenELB v0.6 in place, so its API *is* OpenELB's: the custom resources `Eip`, `BgpConf` and
//! `BgpPeer` in `network.kubesphere.io/v1alpha2` (cluster-scoped, with a status subresource) and the same
//! Service annotations. An OpenELB user's YAML loads unchanged; where Porter does not (yet) implement a field it
//! says so, as a warning, instead of dropping it silently:
//!
//! - [`unknown_fields`] lists fields Porter does not know at all (a typo, or a field from a newer OpenELB);
//! - `unsupported_fields()` on each kind lists fields Porter knows but does not implement;
//! - a problem in an object is a [`FieldError`] naming the field to fix; turning a raw object into a checked
//!   value (`ValidEip`, `ValidPeer`, `ValidConf`) is `porter_model::valid`'s, which joins these types to the
//!   cores' (addresses, BGP attributes), so this crate depends on no protocol crate.
//!
//! Porter's additions to OpenELB's API (each CRD description says "Porter addition; OpenELB ignores it"): BGP
//! path attributes per pool (Eip `spec.bgp`) and per Service (`bgp.porter.kubesphere.io/*` annotations, parsed
//! by `porter_model::route_attrs`), and BgpPeer `spec.conf.authPasswordSecretRef`, `spec.transport.localAddress`,
//! `spec.transport.ttlSecurity` and `spec.timers.config.connectRetryMax`. OpenELB's `gracefulRestart.enabled`/`restartTime`
//! are implemented.
//!
//! This crate is pure data: kube is used with `derive` only (no client), so it builds and tests without a
//! cluster. [`crds_yaml`] prints the CustomResourceDefinitions (`porter crds`).
#![warn(missing_docs, unreachable_pub)]

pub mod annotations;
mod bgp_conf;
mod bgp_peer;
mod crd;
mod eip;
mod field_error;
mod proto_uint;
mod unknown_fields;
mod unsupported;

pub use bgp_conf::{
    BGP_CONF_NAME, BgpConf, BgpConfSpec, BgpConfStatus, GracefulRestart, NodeConfStatus,
};
pub use bgp_peer::{
    AddPaths, AddPathsConfig, AfiSafi, AfiSafiConfig, Bfd, BgpPeer, BgpPeerSpec, BgpPeerStatus,
    EbgpMultihop, Family, MpGracefulRestart, MpGracefulRestartConfig, NodePeerStatus, PeerConf,
    PeerState, SecretKeyRef, Timers, TimersConfig, TimersState, Transport, is_bfd_up,
    is_established,
};
pub use crd::{crds, crds_yaml};
pub use eip::{Eip, EipBgp, EipSpec, EipStatus, Protocol};
pub use field_error::{FieldError, format_errors};
pub use proto_uint::ProtoUint;
pub use unknown_fields::{unknown_field_message, unknown_fields};
