//! BGP NOTIFICATION errors.
//!
//! One type serves both directions: an error we detect (and send to the peer before closing) and a
//! NOTIFICATION the peer sent us. Both end the session, both end up in `StateChanged.reason` and in
//! `SessionStats::last_error`, and both are identified by code/subcode (RFC 4271 §4.5).

use bytes::Bytes;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 4486, RFC 6608, RFC 7313).
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub const ROUTE_REFRESH: u8 = 7;
}

/// A BGP NOTIFICATION: code, subcode and diagnostic data.
///
/// Carries a human `detail` (never sent on the wire) so logs say *why*, not only the numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NOTIFICATION {code}/{subcode} ({}){}", self.description(), detail_suffix(&self.detail))]
pub struct NotificationError {
    /// Error code (1..=6 for RFC 4271 and extensions).
    pub code: u8,
    /// Error subcode; meaning depends on `code`.
    pub subcode: u8,
    /// Diagnostic data sent on the wire (e.g. the supported version for 2/1).
    pub data: Bytes,
    /// Local explanation for logs; not part of the wire message.
    pub detail: String,
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl NotificationError {
    /// Builds a NOTIFICATION from its parts.
    pub fn new(code: u8, subcode: u8, data: Bytes, detail: impl Into<String>) -> Self {
        NotificationError {
            code,
            subcode,
            data,
            detail: detail.into(),
        }
    }

    /// Hold Timer Expired (4/0): the peer went silent for longer than the negotiated hold time.
    pub fn hold_timer_expired() -> Self {
        Self::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new(), "")
    }

    /// Cease / Administrative Shutdown (6/2): what we send on a manual stop.
    pub fn admin_shutdown() -> Self {
        Self::new(code::CEASE, 2, Bytes::new(), "")
    }

    /// Cease / Peer De-configured (6/3, RFC 4486 §4): the peer is no longer configured.
    pub fn peer_deconfigured() -> Self {
        Self::new(code::CEASE, 3, Bytes::new(), "")
    }

    /// Cease / Administrative Reset (6/4, RFC 4486 §4): the session restarts, for a new
    /// configuration.
    pub fn admin_reset() -> Self {
        Self::new(code::CEASE, 4, Bytes::new(), "")
    }

    /// Cease / BFD Down (6/10, RFC 9384): BFD declared the path to the peer down.
    pub fn bfd_down() -> Self {
        Self::new(code::CEASE, 10, Bytes::new(), "")
    }

    /// FSM error with the RFC 6608 subcode for the state the unexpected message arrived in.
    pub fn fsm(subcode: u8, detail: impl Into<String>) -> Self {
        Self::new(code::FSM, subcode, Bytes::new(), detail)
    }

    /// OPEN Message Error (2/x) with no data.
    pub fn open(subcode: u8, detail: impl Into<String>) -> Self {
        Self::new(code::OPEN_MESSAGE, subcode, Bytes::new(), detail)
    }

    /// "Cease: Administrative Shutdown" style text, for logs and `StateChanged` reasons.
    pub fn description(&self) -> String {
        crate::wire::describe_notification(self.code, self.subcode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_code_description_and_detail() {
        let n = NotificationError::admin_shutdown();
        assert_eq!(
            n.to_string(),
            "NOTIFICATION 6/2 (Cease: Administrative Shutdown)"
        );
        let n = NotificationError::open(2, "peer said AS 1, expected 2");
        assert_eq!(
            n.to_string(),
            "NOTIFICATION 2/2 (OPEN Message Error: Bad Peer AS): peer said AS 1, expected 2"
        );
        let n = NotificationError::hold_timer_expired();
        assert_eq!(n.to_string(), "NOTIFICATION 4/0 (Hold Timer Expired)");
    }
}
