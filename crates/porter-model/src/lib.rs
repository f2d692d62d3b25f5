//! Porter's pure decision cores.
//!
//! Both Porter roles reduce to a function of what the cluster holds:
//!
//! * the **controller** ([`assign`]) turns Services and Eip pools into IP assignments
//!   (`status.loadBalancer.ingress`) and Eip usage, sticking to what Services already hold;
//! * the **speaker** ([`announce`]) turns the same objects, seen from one node, into the BGP
//!   configuration and the set of prefixes that node must announce;
//! * the controller's **status** ([`status`]) turns the plan and who announces what
//!   ([`coverage`]) into every Service's and Eip's status, conditions and Events, the same for
//!   the Kubernetes API and a manifests folder.
//!
//! Both start from the same verdict on which Eips are usable pools ([`pools`]), so an Eip the
//! controller rejects is never announced.
//!
//! The input is a [`Snapshot`]: plain Kubernetes objects, whether they came from YAML files
//! ([`manifests`]) or from the API server. [`valid`] checks each object into the value the cores take
//! (`porter_ipam` ranges, `porter_bgp` attributes) and [`route_attrs`] reads the BGP annotations: this crate
//! joins porter-api's types to the cores', so porter-api itself depends on none of them. Nothing here does
//! I/O, reads a clock or depends on iteration order of a hash map, so every decision is reproducible from a
//! snapshot.
#![warn(missing_docs, unreachable_pub)]

pub mod announce;
pub mod assign;
pub mod coverage;
pub mod health;
pub mod key;
pub mod layer2;
pub mod manifests;
pub mod owner;
pub mod packed;
pub mod pools;
pub mod projection;
pub mod route_attrs;
pub mod selector;
pub mod snapshot;
pub mod status;
pub mod thin;
pub mod valid;
pub mod view;

pub use key::{ObjectKey, Uid};
pub use projection::{ControllerSnapshot, SpeakerSnapshot};
pub use snapshot::Snapshot;
pub use view::ControllerView;
