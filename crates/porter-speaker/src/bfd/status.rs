//! What one BFD session posts on the status board.

use std::net::IpAddr;
use std::time::Duration;

use porter_bfd::{Diag, State};

/// One peer's BFD session as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdStatus {
    /// The peer's address.
    pub address: IpAddr,
    /// Our state of the session.
    pub state: State,
    /// Why the session last went down (our diagnostic).
    pub diag: Diag,
    /// The state the peer reports.
    pub remote_state: State,
    /// How long the peer may be silent before the session goes down (0 until heard).
    pub detection_time: Duration,
    /// Times the session left Up since the speaker started.
    pub flaps: u64,
    /// Why the session cannot run (its socket could not be opened), if so.
    pub error: Option<String>,
}
