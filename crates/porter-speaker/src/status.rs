//! What the sessions are doing, for logs, `porter status`, BgpPeer status and metrics.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use porter_bgp::State;

/// One peer's session as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's AS.
    pub peer_as: u32,
    /// RFC 4271 session state.
    pub state: State,
    /// When the session last became Established (None while it is not).
    pub established_since: Option<Instant>,
    /// Prefixes currently advertised to the peer.
    pub advertised: usize,
    /// Prefixes the peer currently announces to us (Porter installs none; a router that
    /// sends routes to its nodes shows here).
    pub received: usize,
    /// How many times the session left Established since the speaker started.
    pub flaps: u64,
    /// Why the session last went down, if it did.
    pub last_error: Option<String>,
}

/// Shared board where every session task posts its status; readers take snapshots.
///
/// A mutex-protected map is enough: it is written when a session's status changes (state,
/// prefix counts), not per message.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<Mutex<BTreeMap<String, PeerStatus>>>);

impl StatusBoard {
    /// A copy of every peer's status, by BgpPeer name.
    pub fn snapshot(&self) -> BTreeMap<String, PeerStatus> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Posts `peer`'s status (the session tasks do; public so that readers of the board, such
    /// as the metrics collector, can be tested with a board of their own).
    pub fn set(&self, peer: &str, status: PeerStatus) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(peer.to_owned(), status);
        }
    }

    /// Forgets `peer` (its session was stopped).
    pub fn remove(&self, peer: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(peer);
        }
    }
}
