//! The speaker shell over real TCP on loopback: announcements and plan changes, and the RFCs'
//! answers to a misbehaving peer.

mod bad_peer;
mod loopback;
mod support;
