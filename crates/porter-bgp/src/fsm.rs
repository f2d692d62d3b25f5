//! The RFC 4271 §8 states, and which message each state accepts.
//!
//! The transitions themselves are driven by `Session` (it owns the timers and the connection);
//! this module holds the pure, table-like parts so they can be read against the RFC in one place.

use std::fmt;

/// RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// No connection; waiting for Start or for the ConnectRetry timer after an error.
    Idle,
    /// Waiting for the shell's outgoing TCP connection.
    Connect,
    /// Waiting for an incoming TCP connection (passive).
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Session up: routes flow.
    Established,
}

impl State {
    /// True when a TCP connection is open (the shell has a socket for this session).
    pub fn has_connection(self) -> bool {
        matches!(
            self,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }

    /// The RFC 6608 FSM error subcode for an unexpected message received in this state
    /// (0, "unspecified", outside the three states RFC 6608 names).
    pub fn fsm_error_subcode(self) -> u8 {
        match self {
            State::OpenSent => 1,
            State::OpenConfirm => 2,
            State::Established => 3,
            _ => 0,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// The kind of a received message, for the acceptance table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Open,
    Update,
    Notification,
    Keepalive,
    RouteRefresh,
}

/// Whether `kind` is expected in `state` (RFC 4271 §8.2.2); anything else in a connected state is
/// answered with a NOTIFICATION 5/[`State::fsm_error_subcode`]. NOTIFICATION is always accepted
/// (it ends the session either way).
pub(crate) fn accepts(state: State, kind: MessageKind) -> bool {
    use MessageKind as K;
    matches!(
        (state, kind),
        (_, K::Notification)
            | (State::OpenSent, K::Open)
            | (State::OpenConfirm, K::Keepalive)
            | (
                State::Established,
                K::Keepalive | K::Update | K::RouteRefresh
            )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_table() {
        assert!(accepts(State::OpenSent, MessageKind::Open));
        assert!(!accepts(State::OpenSent, MessageKind::Keepalive));
        assert!(!accepts(State::OpenSent, MessageKind::Update));
        assert!(accepts(State::OpenConfirm, MessageKind::Keepalive));
        assert!(!accepts(State::OpenConfirm, MessageKind::Open));
        assert!(accepts(State::Established, MessageKind::Update));
        assert!(!accepts(State::Established, MessageKind::Open));
        assert!(accepts(State::Established, MessageKind::Notification));
    }

    #[test]
    fn rfc6608_subcodes_and_display() {
        assert_eq!(State::OpenSent.fsm_error_subcode(), 1);
        assert_eq!(State::OpenConfirm.fsm_error_subcode(), 2);
        assert_eq!(State::Established.fsm_error_subcode(), 3);
        assert_eq!(State::Established.to_string(), "Established");
        assert!(!State::Connect.has_connection());
        assert!(State::OpenSent.has_connection());
    }
}
