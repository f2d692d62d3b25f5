//! porter-l2: the sans-IO core of Porter's layer 2 mode.
//!
//! In layer 2 mode one node per Service address answers ARP (IPv4) and Neighbor Solicitations
//! (IPv6) for it with its own MAC, so clients on the link send the address's traffic there, and
//! when the owner changes the new one announces itself (gratuitous ARP, unsolicited Neighbor
//! Advertisement) so the clients' caches move. This crate decides what goes on the wire: it
//! parses and checks received frames ([`frame::parse`], RFC 826 / RFC 5227 / RFC 4861 §7.1),
//! builds the frames to send ([`build`]) and keeps one interface's owned addresses with their
//! announcement timers ([`Responder`]). Which node owns which address is porter-model's
//! announce core's decision; sockets and clocks are the speaker's.
//!
//! The shell, per interface: an AF_PACKET socket (ARP and IPv6 frames, Ethernet header
//! included) bound to it; for each owned IPv6 address, membership of the Ethernet group
//! `Mac::ipv6_multicast(solicited_node(addr))` (PACKET_ADD_MEMBERSHIP), where clients' Neighbor
//! Solicitations for it arrive; then [`Responder::handle_frame`] for every frame received
//! (sending its [`Verdict::Reply`] at once), [`Responder::acquire`] / [`Responder::release`] as
//! the plan changes, and [`Responder::poll_transmit`] / [`Responder::poll_timeout`] /
//! [`Responder::handle_timeout`] around its sleep. [`Responder::counters`] feed the metrics.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::Instant;
//! use porter_l2::{Mac, Responder, Verdict, build};
//!
//! let now = Instant::now();
//! let mut r = Responder::new(Mac([0x02, 0, 0, 0, 0, 1]));
//! let vip: IpAddr = "192.0.2.10".parse().unwrap();
//! r.acquire(now, vip).unwrap();
//! // Announced at once: a gratuitous ARP request and reply.
//! assert_eq!(std::iter::from_fn(|| r.poll_transmit()).count(), 2);
//! // A client asks who has it; the answer goes to the client's MAC.
//! let client = Mac([0x02, 0, 0, 0, 0, 9]);
//! let ask = build::arp_request(client, "192.0.2.1".parse().unwrap(), "192.0.2.10".parse().unwrap());
//! let Verdict::Reply(answer) = r.handle_frame(&ask) else { panic!("no answer") };
//! assert_eq!(answer.bytes[..6], client.0);
//! // Announced again at +0.5 s, +1 s and +2 s.
//! assert_eq!(r.poll_timeout(), Some(now + porter_l2::ANNOUNCE_AT[1]));
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod addr;
pub mod build;
pub mod frame;
pub mod responder;

pub use addr::{ALL_NODES, Mac, is_solicited_node, solicited_node};
pub use frame::{Advertisement, Arp, ArpOp, Invalid, Packet, Skip, Solicitation, parse};
pub use responder::{
    ANNOUNCE_AT, Conflict, Counters, Frame, FrameKind, Ignored, NotUnicast, Responder, Verdict,
};
