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
//! The codec (`rustbgpd-wire`, pinned) is used only by [`wire`], so swapping it touches one file.
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod error;
pub mod fsm;
pub mod prefix;
pub mod rib_out;
pub mod session;
pub mod stats;
pub mod timers;
pub mod wire;

pub use config::SessionConfig;
pub use error::NotificationError;
pub use fsm::State;
pub use prefix::{Family, Prefix, PrefixError};
pub use session::{Action, Event, Session};
pub use stats::SessionStats;
