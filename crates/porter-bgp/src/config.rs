//! Per-peer session configuration.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::prefix::Family;

/// RFC 4271 §10 suggested hold time; also what FRR, BIRD and GoBGP use, so defaults interoperate.
pub const DEFAULT_HOLD_TIME: u16 = 90;

/// How long to wait between connection attempts (and before restarting after an error).
///
/// Shorter than the RFC's 120 s suggestion: a load balancer node that just lost its session wants
/// its Service IPs back quickly, and the peer is a router we control.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(5);
/// Default ceiling of the connect-retry backoff: a peer that comes back is found within a
/// minute by our dials (a peer that dials us is served at once, whatever the backoff).
pub const DEFAULT_CONNECT_RETRY_MAX: Duration = Duration::from_secs(60);

/// Everything one session needs to know about itself and its peer.
///
/// Plain data with public fields: the shell builds it from the BgpPeer/BgpConf resources, and the
/// core never needs to validate it beyond what the RFC requires (see [`SessionConfig::hold_time`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS. Values above 65535 are supported (RFC 6793): the OPEN then carries `AS_TRANS`
    /// (23456) in My AS and the real value in the 4-octet AS capability.
    pub local_as: u32,
    /// Our BGP identifier, sent in the OPEN.
    pub router_id: Ipv4Addr,
    /// The AS the peer must claim in its OPEN (the 4-octet capability value when present);
    /// a mismatch is answered with NOTIFICATION 2/2 (Bad Peer AS).
    pub peer_as: u32,
    /// The peer's address. Informational: the shell dials it, the core uses it for logs.
    pub peer_addr: IpAddr,
    /// Hold time we propose, in seconds; the session uses `min(ours, theirs)`. 0 disables
    /// keepalives and hold checks. 1 and 2 are illegal per RFC 4271 and are raised to 3.
    pub hold_time: u16,
    /// Seconds between our KEEPALIVEs; `None` (or 0) = a third of the negotiated hold time.
    /// Capped at that third either way (see `Session::negotiated_keepalive`).
    pub keepalive: Option<u16>,
    /// ConnectRetryTimer: delay between dial attempts and before restarting after an error.
    /// It doubles after every attempt that does not reach Established, up to
    /// `connect_retry_max`, so an unreachable or misconfigured peer is not hammered; it
    /// starts over once a session is Established.
    pub connect_retry: Duration,
    /// Ceiling of the connect-retry backoff (never below `connect_retry`).
    pub connect_retry_max: Duration,
    /// When true the session never asks the shell to dial; it waits for the shell to hand it an
    /// accepted connection (RFC 4271 "passive TCP establishment").
    pub passive: bool,
    /// Families we offer in multiprotocol capabilities (RFC 4760); the session carries the
    /// intersection with the peer's. Default: IPv4 and IPv6 unicast. Empty means no capability,
    /// which peers read as IPv4 unicast only.
    pub families: BTreeSet<Family>,
    /// IPv4 next hop for IPv4 routes, instead of our end of the TCP connection
    /// ("next-hop-self" is the default). On an IPv6 session it is also how IPv4 routes get a
    /// plain `NEXT_HOP` when the peer did not negotiate RFC 8950 extended next hop; with
    /// neither, IPv4 routes stay unsent there.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// IPv6 next hop for IPv6 routes, instead of our end of the TCP connection. On an IPv4
    /// session this is the only way to announce IPv6 routes (there is no IPv6 address to
    /// default to): when `None` there, IPv6 routes stay unsent.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Advertise RFC 4724 graceful restart. Porter only ever acts as a helper-free restarting
    /// speaker: its routes point at the node itself, whose forwarding survives a Porter restart.
    pub graceful_restart: Option<GracefulRestart>,
    /// Advertise ADD-PATH send (RFC 7911) for every family; when the peer can receive, NLRI
    /// carry path identifier 1 (one path per prefix per node). Off by default: it only helps
    /// route reflectors that must keep every node's path.
    pub add_path_send: bool,
    /// Advertise ADD-PATH receive. Porter installs no routes, so this only exists to let two
    /// Porter sessions (tests) or a route server exercise the send side.
    pub add_path_receive: bool,
    /// Advertise RFC 8654 extended messages; when both sides do, UPDATEs are packed up to 65535
    /// bytes (fewer messages for large tables). On by default: it is harmless when unsupported.
    pub extended_messages: bool,
}

/// Graceful restart settings (RFC 4724), sent in the capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Seconds the peer should keep our routes after the session drops (12 bits on the wire:
    /// values above 4095 are sent as 4095).
    pub restart_time: u16,
    /// The Restart State (R) bit: set while Porter is coming back after a restart, so the peer
    /// does not wait for its own End-of-RIB before selecting routes.
    pub restarting: bool,
}

impl GracefulRestart {
    /// Largest restart time the 12-bit field can carry.
    pub const MAX_RESTART_TIME: u16 = 4095;
}

impl SessionConfig {
    /// A configuration with RFC/industry defaults (hold 90 s, retry 5 s, active), so callers only
    /// spell out what differs.
    pub fn new(local_as: u32, router_id: Ipv4Addr, peer_as: u32, peer_addr: IpAddr) -> Self {
        SessionConfig {
            local_as,
            router_id,
            peer_as,
            peer_addr,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive: None,
            connect_retry: DEFAULT_CONNECT_RETRY,
            connect_retry_max: DEFAULT_CONNECT_RETRY_MAX,
            passive: false,
            families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
            next_hop_v4: None,
            next_hop_v6: None,
            graceful_restart: None,
            add_path_send: false,
            add_path_receive: false,
            extended_messages: true,
        }
    }

    /// True when both ends are in the same AS (iBGP): decides the AS_PATH contents, LOCAL_PREF and
    /// the RFC 7606 dispositions for a few attributes.
    pub fn is_ibgp(&self) -> bool {
        self.local_as == self.peer_as
    }

    /// The hold time actually proposed: `hold_time`, with the illegal values 1 and 2 raised to 3.
    pub fn effective_hold_time(&self) -> u16 {
        match self.hold_time {
            1 | 2 => 3,
            h => h,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_hold_clamp() {
        let mut c = SessionConfig::new(
            65001,
            Ipv4Addr::new(10, 0, 0, 1),
            65000,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        assert_eq!(c.hold_time, 90);
        assert_eq!(c.connect_retry, Duration::from_secs(5));
        assert!(!c.passive);
        assert!(!c.is_ibgp());
        c.hold_time = 2;
        assert_eq!(c.effective_hold_time(), 3);
        c.hold_time = 0;
        assert_eq!(c.effective_hold_time(), 0);
    }
}
