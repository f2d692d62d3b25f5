//! What one health probe posts on the status board.

use std::net::SocketAddr;

/// One endpoint's probe as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStatus {
    /// The Service, as `namespace/name`.
    pub service: String,
    /// The endpoint's address and the probed port.
    pub endpoint: SocketAddr,
    /// Whether the endpoint counts as failing (its last `threshold` probes failed).
    pub failing: bool,
    /// Probes run since the probe started.
    pub probes: u64,
    /// Probes failed since the probe started.
    pub failures: u64,
    /// Why the last failed probe failed, if one did.
    pub last_error: Option<String>,
}
