//! The speaker shell over real TCP on loopback: announcements and plan changes, and the RFCs'
//! answers to a misbehaving peer, the listener and the connections peers open.

mod bad_peer;
mod incoming;
mod layer2;
mod loopback;
mod support;
