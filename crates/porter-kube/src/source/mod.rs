//! The Kubernetes API as a source of [`Snapshot`]s.
//!
//! [`KubeSource`] runs one watcher per kind Porter reads (Eip, BgpConf, BgpPeer, Service,
//! EndpointSlice, Node, Namespace) and applies their events to one [`Snapshot`], the value of a
//! `tokio::sync::watch` channel: receivers are notified whenever something changed (a few
//! changes at once, a longer burst once per `debounce` on average: `pacing`) and read the snapshot in
//! place. There is a single copy of the objects: a receiver borrows it for as long as it plans
//! (the watches' updates wait meanwhile) or clones it if it needs its own.
//!
//! Three rules make the snapshots safe to plan from:
//!
//! * **Nothing is published before every watcher finished its initial list.** A controller
//!   planning from a partial view would see Services without the pools their addresses came
//!   from, or pools without the Services holding addresses, and could hand a held address to
//!   someone else. Until the first notification the channel's value is a partial view (the
//!   lists are applied to it as they arrive): wait for the first `changed()` before reading.
//! * **A relist replaces a kind atomically.** After a `410 Gone` (or any restart of a watch),
//!   the watcher lists again; the listed objects are buffered ([`Tracker`]) and swapped in on
//!   `InitDone`, so a snapshot never shows half a relist.
//! * **An unreachable API keeps the last snapshot.** Watch errors are retried with
//!   [`WatchStreamExt::default_backoff`]; the snapshot is left as it was, so a speaker keeps
//!   announcing what it announced (no mass withdraw because the API server restarts).
//!
//! Each role watches only the kinds its plan reads ([`Kinds::CONTROLLER`], [`Kinds::SPEAKER`]),
//! so its RBAC needs nothing more (`deploy/porter.yaml`), and keeps only what it reads of
//! them: the controller Services and EndpointSlices trimmed to the fields it reads ([`Trim`],
//! `porter_model::projection::controller_service`), the speaker their [`LbService`] and
//! [`SliceNodes`] projections ([`Keep`], [`SpeakerSource`]), a few hundred bytes instead of
//! kilobytes each. The speaker also decodes them thin ([`ThinService`], [`ThinEndpointSlice`]):
//! only the fields its projections read, the rest of each object skipped unread.
//!
//! ## Secrets
//!
//! Secrets are never listed or watched: that would need read access to every Secret of the
//! cluster. A source configured with [`SourceConfig::secret_refresh`] (the speaker's) reads
//! exactly the Secrets that BgpPeers name in `spec.conf.authPasswordSecretRef`, and those it
//! is configured with ([`SourceConfig::named_secrets`]: the membership key), one `GET` by
//! name each ([`SecretCache`]): the newly referenced ones before publishing a snapshot whose set
//! of references changed, and all of them again every `secret_refresh`, so a rotated password
//! is picked up. A Secret that does not exist (404) is absent from the snapshot, and the model
//! reports the peer ("not found") and does not start it. A Secret the speaker may not read (403)
//! is absent too, and listed in `Snapshot::unreadable_secrets` with the Role to extend
//! ([`forbidden_reason`]), so the peer's problem (the speaker's log, the BgpPeer's `lastError`)
//! says "forbidden" rather than "not found". Any other failure (unreachable, timeout) keeps the
//! last value read. Only `data` is kept: annotations (`kubectl apply` copies the whole Secret
//! into one) and managed fields are dropped.
//!
//! ## Files
//!
//! * `config`: what a source watches ([`Kinds`], [`SourceConfig`]);
//! * `tracker`: the pure part, watch events into a snapshot ([`Tracker`], [`Trackers`], [`Keep`]);
//! * `thin`: Services and EndpointSlices decoded with only what the speaker reads;
//! * `secrets`: the password Secrets ([`SecretCache`], [`forbidden_reason`]);
//! * `pacing`: when a change is published (a small burst at once, then once per window);
//! * `watch_loop`: the task that watches, applies and publishes ([`KubeSource`]).
//!
//! [`Snapshot`]: porter_model::Snapshot
//! [`LbService`]: porter_model::projection::LbService
//! [`SliceNodes`]: porter_model::projection::SliceNodes
//! [`WatchStreamExt::default_backoff`]: kube::runtime::WatchStreamExt::default_backoff

mod config;
mod pacing;
mod secrets;
mod thin;
mod tracker;
mod watch_loop;

pub use config::{Kinds, SourceConfig};
pub use secrets::{
    BGP_PASSWORDS_ROLE, BGP_PASSWORDS_ROLE_NAMESPACE, MEMBER_ROLE, SecretCache, SecretRead,
    forbidden_reason, referenced_secrets,
};
pub use thin::{ThinEndpointSlice, ThinService};
pub use tracker::{Keep, Tracker, Trackers, Trim, Update};
pub use watch_loop::{ControllerSource, KubeSource, SpeakerSource};
