//! porter-bfd: the sans-IO BFD core of Porter (RFC 5880 asynchronous mode).
//!
//! A BGP session notices a dead path only when its hold timer expires (90 s by default; a node
//! whose link dies sends no FIN). BFD notices it within a Detection Time (300 ms × 3 here), so
//! the speaker can take the BGP session down and the router drops the node's next hop in under
//! a second. This crate is the protocol: the control packet ([`Packet`], §4.1 and the checks of
//! §6.8.6) and one session's state machine and timers ([`Session`], §6.8). It knows nothing of
//! sockets, BGP or Kubernetes; the speaker's shell moves datagrams and time in and out, checks
//! the TTL (RFC 5881 §5) and finds each packet's session.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use porter_bfd::{Config, Jitter, Session, State};
//!
//! let t0 = Instant::now();
//! let mut a = Session::new(Config::new(1), Jitter::none(), t0);
//! let mut b = Session::new(Config::new(2), Jitter::none(), t0);
//! let mut now = t0;
//! for _ in 0..10 {
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//!     while let Some(p) = a.poll_transmit() { b.handle_packet(now, &p); }
//!     while let Some(p) = b.poll_transmit() { a.handle_packet(now, &p); }
//!     now += Duration::from_millis(500);
//! }
//! assert_eq!((a.state(), b.state()), (State::Up, State::Up));
//! ```
//!
//! What it does not do: Demand mode of its own (it honours a peer's), the Echo function
//! (it advertises Required Min Echo RX 0, so peers send none), and authentication (§6.7:
//! packets with the A bit are discarded, as §6.8.6 asks of a session without authentication).
#![warn(missing_docs, unreachable_pub)]

pub mod jitter;
pub mod packet;
pub mod session;

pub use jitter::Jitter;
pub use packet::{
    Diag, MULTIHOP_PORT, Packet, PacketError, SINGLE_HOP_PORT, SINGLE_HOP_TTL, State,
};
pub use session::{Change, Config, Remote, Session, Stats};
