//! porter-bgp: the sans-IO BGP speaker core of Porter.
//!
//! Each Porter node peers with its top-of-rack routers and announces the Service IPs it serves
//! with itself as next hop, so the routers build an ECMP route over the nodes. This crate is the
//! protocol part of that speaker: the RFC 4271 session state machine, the Adj-RIB-Out diff, UPDATE
//! packing, and the wire codec wrapper.
//!
//! # Why sans-IO
//!
//! Like quinn-proto, the crate has no async runtime, no sockets and no clock. The shell (Porter's
//! speaker, on tokio) feeds [`Event`]s and the current time into a [`Session`], drains
//! [`Action`]s, and sleeps until [`Session::poll_timeout`]. The same events always give the same
//! actions, which makes the protocol testable on a virtual clock, replayable and fuzzable.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Instant;
//! use porter_bgp::{Action, Event, Session, SessionConfig, State};
//!
//! let config = SessionConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1), 65000,
//!     IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)));
//! let mut session = Session::new(config);
//! session.handle(Instant::now(), Event::Start);
//! assert_eq!(session.state(), State::Connect);
//! assert!(matches!(session.poll_action(), Some(Action::StateChanged { .. })));
//! assert!(matches!(session.poll_action(), Some(Action::Connect)));
//! ```
//!
//! # What it speaks
//!
//! RFC 4271 sessions with RFC 7606 error handling; MP-BGP for IPv4/IPv6 unicast (RFC 4760), IPv4
//! routes with an IPv6 next hop (RFC 8950); 4-octet AS (RFC 6793); route refresh (RFC 2918);
//! graceful restart capability and End-of-RIB (RFC 4724); graceful shutdown (RFC 8326,
//! [`Event::GracefulShutdown`]); ADD-PATH send (RFC 7911); extended
//! messages (RFC 8654); per-route MED, LOCAL_PREF, communities (RFC 1997), large communities
//! (RFC 8092) and the link-bandwidth extended community ([`RouteAttrs`]). What was negotiated is
//! visible in [`Session::negotiated`].
//!
//! The codec (`rustbgpd-wire`, pinned) is used only by [`wire`], so swapping it touches one
//! module.
#![warn(missing_docs, unreachable_pub)]

pub mod attrs;
pub mod config;
pub mod error;
pub mod fsm;
pub mod incoming;
pub mod jitter;
pub mod negotiate;
pub mod prefix;
pub mod rib_out;
pub mod session;
pub mod stats;
pub mod timers;
pub mod wire;

pub use attrs::{
    CommunityError, GSHUT_LOCAL_PREF, LinkBandwidth, RouteAttrs, format_community, parse_community,
    parse_large_community,
};
pub use config::{GracefulRestart, SessionConfig};
pub use error::NotificationError;
pub use fsm::State;
pub use jitter::Jitter;
pub use negotiate::Negotiated;
pub use prefix::{Family, Prefix, PrefixError};
pub use rib_out::{Routes, routes};
pub use session::{Action, Event, Session, StopReason};
pub use stats::SessionStats;
