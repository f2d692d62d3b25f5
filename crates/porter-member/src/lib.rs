//! porter-member: the sans-IO membership core of layer 2 speakers.
//!
//! In layer 2 mode one node answers ARP and Neighbor Solicitation for each address
//! (`porter_model::owner` picks it among the candidates). When that node dies another must take
//! over within two seconds; Kubernetes marks a Node NotReady only after 40–50 s. So speakers
//! watch each other: every speaker sends every other one an authenticated UDP heartbeat each
//! 200 ms at its node address, counts a silent one dead after 1.5 s, counts one that says it is
//! leaving dead at once, and stops answering itself when it hears fewer than a quorum (after
//! 1.1 s, before the others count it dead). docs/architecture.md ("Layer 2: who answers")
//! compares this with gossip (memberlist) and per-node Leases.
//!
//! [`message`] is the datagram (versioned, HMAC-SHA-256 under the Secret's key, decoded
//! defensively); [`member`] the state of one speaker ([`Membership`]) with porter-bfd's verbs.
//! The shell owns the UDP socket, the clock and the randomness (the boot id).
//!
//! ```
//! use std::net::IpAddr;
//! use std::num::NonZeroU64;
//! use std::time::{Duration, Instant};
//! use porter_member::{Config, Key, Membership};
//!
//! let key = Key::new(&[7; 32]).unwrap();
//! let t0 = Instant::now();
//! let addr_a: IpAddr = "10.0.0.1".parse().unwrap();
//! let addr_b: IpAddr = "10.0.0.2".parse().unwrap();
//! let members = [("a", addr_a), ("b", addr_b)];
//! let boot = |n| NonZeroU64::new(n).unwrap();
//! let mut a = Membership::new(Config::default(), "a", boot(11), key.clone(), t0);
//! let mut b = Membership::new(Config::default(), "b", boot(22), key, t0);
//! a.set_members(t0, members);
//! b.set_members(t0, members);
//! let mut now = t0;
//! for _ in 0..5 {
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//!     // Deliver until both are quiet: the shell's sockets, here in memory.
//!     loop {
//!         let mut moved = false;
//!         while let Some(t) = a.poll_transmit() { let _ = b.handle_packet(now, &t.payload); moved = true; }
//!         while let Some(t) = b.poll_transmit() { let _ = a.handle_packet(now, &t.payload); moved = true; }
//!         if !moved { break; }
//!     }
//!     now += Duration::from_millis(200);
//! }
//! assert_eq!(a.alive().collect::<Vec<_>>(), ["a", "b"]);
//! assert_eq!(b.alive().collect::<Vec<_>>(), ["b", "a"]);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod member;
pub mod message;

pub use member::{
    Change, Config, ConfigError, Ignored, MemberState, Membership, Quorum, Transmit, Why,
};
pub use message::{DecodeError, Key, Kind, MIN_KEY, Message, PORT, ShortKey};
