//! The speaker's I/O shell: the protocols a node speaks, side by side, each a set of tokio
//! tasks around a sans-IO core: BGP (TCP sessions for the porter-bgp core, one task per peer)
//! and BFD (UDP sessions for the porter-bfd core, one per peer that enables it, whose verdict
//! takes a BGP session down when its path fails).
//!
//! Decisions live elsewhere: porter-model says *what* this node announces and to whom (a
//! [`SpeakerPlan`](porter_model::announce::SpeakerPlan), one part per protocol), porter-bgp
//! says *what bytes* a session exchanges. This crate only connects, accepts, reads, writes and
//! waits:
//!
//! ```text
//!  plans (watch) ──► Speaker ─┬─ plan.bgp ──► BGP part (bgp/)
//!  shutdown ───────►          │                ├─ Supervisor: a session task per BgpPeer ─► TCP
//!                             │                │    └─ porter_bgp::Session (sans-IO core)
//!                             │                └─ TcpListener (+ MD5 keys) ── accepted ──► its
//!                             │                                              peer's task
//!                             └─ plan.<part> ─► the next protocol's part, beside BGP's
//!                                                (its own Supervisor, tasks and sockets)
//!
//!  every task ──► StatusBoard: (Protocol, name) → Status::Bgp(PeerStatus) | …
//!                   └─► BgpPeer status writer, metrics, `porter status`
//! ```
//!
//! The [`Speaker`] hands each protocol's part its part of every plan, and stops them all at
//! shutdown with one deadline. A part keeps its tasks with the generic supervisor: one task
//! per name, kept while its spec is unchanged, stopped with grace (a stop command, a deadline,
//! then abort) when it changes or goes away. Changing one BGP peer touches only that peer's
//! task; changing the announced prefixes sends the new set (one shared map) to every session,
//! whose core sends the minimal UPDATEs.
//!
//! Adding a protocol is adding a part: its part of the plan (porter-model), a module beside
//! `bgp/` with its tasks (kept by a supervisor of their own, `supervisor.rs`), a field of
//! [`Speaker`] given that part, and a [`Protocol`] with its [`Status`] for the board.
#![warn(missing_docs, unreachable_pub)]

mod bfd;
mod bgp;
mod health;
mod layer2;
mod speaker;
mod status;
mod supervisor;

pub use bfd::BfdStatus;
pub use bgp::{PeerStatus, Timers};
pub use health::ProbeStatus;
pub use layer2::{MemberSocket, MemberView, MembershipStatus, ResponderStatus};
pub use porter_bfd::{Diag as BfdDiag, State as BfdState};
pub use speaker::{SHUTDOWN_GRACE, Speaker};
pub use status::{Protocol, Status, StatusBoard};

/// A seed for timer jitter, discriminators and source ports, different in every process and
/// call: std's randomly keyed hasher is OS entropy enough for spreading timers, without a
/// dependency.
pub(crate) fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
