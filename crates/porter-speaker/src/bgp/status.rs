//! What one BGP session posts on the status board.

use std::net::IpAddr;
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
    /// The hold time and keepalive interval in use (seconds), from the peer's OPEN until the
    /// session goes down: what BgpPeer status calls `timersState` (OpenELB showed gobgp's).
    pub timers: Option<Timers>,
    /// The state of the peer's BFD session, when its BgpPeer enables BFD (filled in by
    /// [`StatusBoard::bgp_sessions`](crate::StatusBoard::bgp_sessions) from BFD's entry).
    pub bfd: Option<porter_bfd::State>,
}

/// A session's timers as negotiated (RFC 4271 §4.2, §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// The smaller of both sides' hold times; 0: no hold timer, no KEEPALIVEs.
    pub hold_time: u16,
    /// Seconds between our KEEPALIVEs (before jitter).
    pub keepalive: u16,
}
