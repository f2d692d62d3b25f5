//! Per-session counters for metrics and `porter status`.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::prefix::Family;

/// Counters and facts about one session. Counters are cumulative over reconnects; the
/// prefix gauges describe the current connection. The state is `Session::state` and the
/// negotiated capabilities `Session::negotiated`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// BGP messages sent (every message, not every `Send` action).
    pub messages_sent: u64,
    /// BGP messages received and framed.
    pub messages_received: u64,
    /// UPDATE messages sent (End-of-RIB markers included).
    pub updates_sent: u64,
    /// UPDATE messages received.
    pub updates_received: u64,
    /// NOTIFICATIONs sent.
    pub notifications_sent: u64,
    /// NOTIFICATIONs received.
    pub notifications_received: u64,
    /// Prefixes currently advertised to the peer (the Adj-RIB-Out size).
    pub prefixes_advertised: usize,
    /// `prefixes_advertised` per family (families with none are absent).
    pub prefixes_advertised_by_family: BTreeMap<Family, usize>,
    /// Prefixes the peer currently announces to us (announced minus withdrawn).
    pub prefixes_received: usize,
    /// When the session last reached Established; `None` while it is not Established.
    pub established_since: Option<Instant>,
    /// Why the session last went down (a `StateChanged` reason).
    pub last_error: Option<String>,
    /// How many times the session left Established.
    pub flaps: u64,
}
