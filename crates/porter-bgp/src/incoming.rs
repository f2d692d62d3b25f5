//! What a session does with a TCP connection the peer opened to us: serve it, serve it in place
//! of the current one, or refuse it with a NOTIFICATION.
//!
//! RFC 4271 §8.2.2 accepts an incoming connection in Connect and Active. Porter also accepts it
//! in Idle while the ConnectRetry backoff runs: that wait only keeps *us* from hammering an
//! unreachable peer (it plays the part of §8.1.1's IdleHoldTimer), and a peer that calls us
//! is plainly reachable, so the connection is taken as an automatic start followed by the
//! connection (events 5 and 17) instead of being turned away for up to the backoff ceiling.
//!
//! A second connection while one is open is the collision of §6.8, resolved with the BGP
//! identifiers (and, when they are equal, the AS numbers, RFC 6286 §2.3): the connection opened
//! by the speaker with the higher identifier survives. Porter runs one connection per session,
//! so it decides when the second connection arrives, using the peer's identifier from the
//! current connection's OPEN or from an earlier session. Two cases need no identifier: a new
//! connection while the current one was also opened by the peer means the peer started over
//! (it serves the new one), and a connection while Established is refused (§6.8: an
//! Established session wins). When the identifier is still unknown (both sides dialled at once
//! before any session), the new connection is refused; both sides then retry after jittered
//! delays (`jitter`), which is what the RFC's jitter is for.
//!
//! Refusals carry NOTIFICATION Cease (RFC 4486): subcode 5 "Connection Rejected" for a
//! connection the session will not serve at all, subcode 7 "Connection Collision Resolution"
//! for the loser of a collision (the replaced connection gets the same).

use std::net::Ipv4Addr;

use bytes::Bytes;

use crate::error::{NotificationError, code};
use crate::fsm::State;

/// RFC 4486 Cease subcode: Connection Rejected.
pub const CONNECTION_REJECTED: u8 = 5;
/// RFC 4486 Cease subcode: Connection Collision Resolution.
pub const COLLISION_RESOLUTION: u8 = 7;

/// Who opened the session's current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// We dialled the peer.
    Outgoing,
    /// The peer connected to us.
    Incoming,
}

/// The answer to an incoming connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it: the session has no connection (Idle during backoff, Connect, Active).
    Accept,
    /// Serve it, closing the current connection with this NOTIFICATION (it lost the collision).
    Replace(NotificationError),
    /// Refuse it with this NOTIFICATION.
    Reject(NotificationError),
}

/// One side of a connection for collision resolution: BGP identifier and AS.
pub type Speaker = (Ipv4Addr, u32);

/// Decides what a session in `state` does with a new incoming connection. `stopped` is an
/// administratively stopped session; `current` who opened the open connection (if any);
/// `local` and `peer` the two speakers (`peer` with `None` as identifier while unknown).
pub fn decide(
    state: State,
    stopped: bool,
    current: Option<Origin>,
    local: Speaker,
    peer: (Option<Ipv4Addr>, u32),
) -> Verdict {
    match state {
        State::Idle if stopped => Verdict::Reject(connection_rejected("the session is stopped")),
        State::Idle | State::Connect | State::Active => Verdict::Accept,
        State::Established => Verdict::Reject(connection_rejected(
            "a session with this peer is already established",
        )),
        State::OpenSent | State::OpenConfirm => match (current, peer.0) {
            (Some(Origin::Incoming) | None, _) => Verdict::Replace(collision(
                "the peer opened a new connection; the older one is closed",
            )),
            (Some(Origin::Outgoing), Some(peer_id)) => {
                // §6.8: the connection opened by the higher identifier survives; ours is the
                // current one, the peer's the new one.
                if (local.0, local.1) > (peer_id, peer.1) {
                    Verdict::Reject(collision(
                        "collision: our connection wins (higher BGP identifier)",
                    ))
                } else {
                    Verdict::Replace(collision(
                        "collision: the peer's connection wins (higher BGP identifier)",
                    ))
                }
            }
            (Some(Origin::Outgoing), None) => Verdict::Reject(collision(
                "collision before the peer's BGP identifier is known; both sides retry",
            )),
        },
    }
}

/// NOTIFICATION Cease / Connection Rejected (6/5) with a reason for our logs.
pub fn connection_rejected(detail: impl Into<String>) -> NotificationError {
    NotificationError::new(code::CEASE, CONNECTION_REJECTED, Bytes::new(), detail)
}

/// NOTIFICATION Cease / Connection Collision Resolution (6/7).
fn collision(detail: impl Into<String>) -> NotificationError {
    NotificationError::new(code::CEASE, COLLISION_RESOLUTION, Bytes::new(), detail)
}

/// The encoded Cease / Connection Rejected message, for a shell refusing a connection that
/// no session owns (a peer that is configured but administratively down).
pub fn rejection_message(detail: impl Into<String>) -> Bytes {
    crate::wire::encode_notification(&connection_rejected(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const HIGH: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn subcode(v: &Verdict) -> Option<(bool, u8)> {
        match v {
            Verdict::Accept => None,
            Verdict::Replace(n) => Some((true, n.subcode)),
            Verdict::Reject(n) => Some((false, n.subcode)),
        }
    }

    #[test]
    fn without_a_connection_the_peer_is_served_unless_stopped() {
        for state in [State::Idle, State::Connect, State::Active] {
            assert_eq!(
                decide(state, false, None, (LOW, 1), (None, 2)),
                Verdict::Accept,
                "{state}"
            );
        }
        let stopped = decide(State::Idle, true, None, (LOW, 1), (None, 2));
        assert_eq!(subcode(&stopped), Some((false, CONNECTION_REJECTED)));
    }

    #[test]
    fn established_wins_over_a_new_connection() {
        for origin in [Origin::Outgoing, Origin::Incoming] {
            let v = decide(
                State::Established,
                false,
                Some(origin),
                (LOW, 1),
                (Some(HIGH), 2),
            );
            assert_eq!(subcode(&v), Some((false, CONNECTION_REJECTED)));
        }
    }

    #[test]
    fn collisions_keep_the_connection_of_the_higher_identifier() {
        for state in [State::OpenSent, State::OpenConfirm] {
            // We dialled and have the higher identifier: ours stays.
            let v = decide(
                state,
                false,
                Some(Origin::Outgoing),
                (HIGH, 1),
                (Some(LOW), 2),
            );
            assert_eq!(subcode(&v), Some((false, COLLISION_RESOLUTION)));
            // We dialled but the peer's identifier is higher: the peer's connection replaces ours.
            let v = decide(
                state,
                false,
                Some(Origin::Outgoing),
                (LOW, 1),
                (Some(HIGH), 2),
            );
            assert_eq!(subcode(&v), Some((true, COLLISION_RESOLUTION)));
            // Equal identifiers (allowed between ASes, RFC 6286): the higher AS wins.
            let v = decide(
                state,
                false,
                Some(Origin::Outgoing),
                (LOW, 9),
                (Some(LOW), 2),
            );
            assert_eq!(subcode(&v), Some((false, COLLISION_RESOLUTION)));
            let v = decide(
                state,
                false,
                Some(Origin::Outgoing),
                (LOW, 1),
                (Some(LOW), 2),
            );
            assert_eq!(subcode(&v), Some((true, COLLISION_RESOLUTION)));
            // The peer opened both: it started over, the new one is served.
            let v = decide(
                state,
                false,
                Some(Origin::Incoming),
                (HIGH, 1),
                (Some(LOW), 2),
            );
            assert_eq!(subcode(&v), Some((true, COLLISION_RESOLUTION)));
            // Identifier unknown and we dialled: refused, both retry.
            let v = decide(state, false, Some(Origin::Outgoing), (HIGH, 1), (None, 2));
            assert_eq!(subcode(&v), Some((false, COLLISION_RESOLUTION)));
        }
    }

    #[test]
    fn the_rejection_message_is_cease_connection_rejected() {
        let bytes = rejection_message("not served");
        // Header (16 marker, 2 length, 1 type) then code and subcode.
        assert_eq!(bytes.len(), 21);
        assert_eq!(bytes[18], 3, "NOTIFICATION");
        assert_eq!((bytes[19], bytes[20]), (6, 5));
    }
}
