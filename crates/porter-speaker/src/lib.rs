//! The speaker's I/O shell: TCP sessions for the porter-bgp core, one task per peer.
//!
//! Decisions live elsewhere: porter-model says *what* this node announces and to whom (a
//! [`SpeakerPlan`](porter_model::announce::SpeakerPlan)), porter-bgp says *what bytes* a
//! session exchanges. This crate only connects, accepts, reads, writes and waits:
//!
//! ```text
//!  plans (watch) ──► PeerManager ──► one SessionTask per BgpPeer ──► TcpStream
//!                       │  ▲                 │ Session (sans-IO core)
//!        TcpListener ───┘  └── status ◄──────┘ state changes, counters
//! ```
//!
//! Changing one peer touches only that peer's task; changing the announced prefixes sends
//! the new set to every task, whose core sends the minimal UPDATEs.
#![warn(missing_docs, unreachable_pub)]

mod listener;
mod manager;
mod session_task;
mod spec;
mod status;
mod transport;

pub use manager::PeerManager;
pub use status::{PeerStatus, StatusBoard};
