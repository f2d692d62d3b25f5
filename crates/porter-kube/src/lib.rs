//! Porter on the Kubernetes API: the shells that connect the pure cores of
//! [`porter_model`] to a cluster, with kube-rs.
//!
//! ```text
//!  API server ──watch──► source::KubeSource ──watch<Snapshot>──┬─► controller (leader only)
//!      ▲                                                       │     assign::plan → status,
//!      │                           lease (coordination/v1) ────┘     status::decide → patches
//!      │                                                             (status, conditions,
//!      │                                                             finalizer, label, Events)
//!      └──────────── writes: Service /status + metadata, Eip /status, Events
//!                    speaker_status: BgpPeer /status nodesPeerStatus[<node>]
//! ```
//!
//! * [`source`]: watchers for the kinds a role reads, one [`porter_model::Snapshot`] per
//!   change, first published only after every initial list; the BgpPeers' password Secrets
//!   read by name (never listed);
//! * [`controller`]: plans from each snapshot and writes only what differs from the status
//!   [`porter_model::status`] decides, including each Service's `porter.kubesphere.io/Announced`
//!   condition (which nodes announce it, whether their BGP sessions are Established);
//! * [`lease`]: leader election on a `coordination.k8s.io/v1` Lease, so only one controller
//!   writes;
//! * [`speaker_status`]: a speaker's own entry in every BgpPeer's status, written when
//!   [`write_policy`] says a change is worth it.
//! * [`list_once`]: one paginated LIST per kind into a snapshot, the Lease by one GET, with
//!   bounded timeouts (`porter status`).
//! * [`api_errors`]: a layer of the client's HTTP stack counting every failed request
//!   (`porter_kube_api_errors_total`), used by [`client_counting`].
//!
//! Decisions stay pure ([`controller::changes`], [`merge::diff`], [`lease::decide`]); the async
//! parts only move objects in and out.
#![warn(missing_docs, unreachable_pub)]

pub mod api_errors;
pub mod controller;
mod error;
pub mod lease;
pub mod list_once;
pub mod merge;
pub mod source;
pub mod speaker_status;
pub mod write_policy;

pub use error::Error;
pub use source::{ControllerSource, Kinds, KubeSource, SourceConfig, SpeakerSource};

/// A client from the kubeconfig (`$KUBECONFIG`, `~/.kube/config`) or, inside a Pod, from the
/// service account.
pub async fn client() -> Result<kube::Client, Error> {
    kube::Client::try_default().await.map_err(Error::Config)
}

/// Like [`client`], counting every request that fails into `errors`, whatever part of the role
/// made it (watches, reads, writes, the Lease, Events).
pub async fn client_counting(errors: porter_metrics::ApiErrors) -> Result<kube::Client, Error> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| Error::Config(kube::Error::InferConfig(e)))?;
    counting(config, errors)
}

/// A client for `config` counting every request that fails into `errors`.
pub fn counting(
    config: kube::Config,
    errors: porter_metrics::ApiErrors,
) -> Result<kube::Client, Error> {
    let builder = kube::client::ClientBuilder::try_from(config).map_err(Error::Config)?;
    Ok(builder.with_layer(&api_errors::CountErrors(errors)).build())
}
