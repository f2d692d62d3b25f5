//! What BFD says of the path to each BGP peer, read by the BGP session it protects.
//!
//! A watch channel per BgpPeer name: the BFD session posts, the BGP session waits on it. Either
//! side may come first, and a BGP session of a peer without BFD simply never hears anything
//! but [`Path::Unmonitored`], so turning BFD on or off never restarts a BGP session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// BFD's verdict on the path to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// No BFD session for this peer (not configured, or stopped on purpose).
    Unmonitored,
    /// A BFD session runs but has not come up yet, or the peer holds it administratively
    /// down (RFC 5882 §3.2: not a failure).
    Unproven,
    /// BFD is up: the path works both ways.
    Up,
    /// BFD went down from Up: the path failed. The BGP session goes down and stays down
    /// until BFD is up again.
    Failed,
}

/// Every peer's path, by BgpPeer name; shared by the BFD and BGP parts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths(Arc<Mutex<HashMap<String, watch::Sender<Path>>>>);

impl Paths {
    /// The path to `peer`, as it changes.
    pub(crate) fn watch(&self, peer: &str) -> watch::Receiver<Path> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(peer.to_owned())
            .or_insert_with(|| watch::Sender::new(Path::Unmonitored))
            .subscribe()
    }

    /// The path to `peer` now.
    pub(crate) fn get(&self, peer: &str) -> Path {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(peer).map_or(Path::Unmonitored, |s| *s.borrow())
    }

    /// Posts the path to `peer`.
    pub(crate) fn set(&self, peer: &str, path: Path) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(peer.to_owned())
            .or_insert_with(|| watch::Sender::new(Path::Unmonitored))
            .send_if_modified(|now| std::mem::replace(now, path) != path);
    }
}
