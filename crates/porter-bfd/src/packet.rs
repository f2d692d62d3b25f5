//! The BFD Control packet (RFC 5880 §4.1): decoding with every check §6.8.6 asks of a packet
//! before it reaches a session, and encoding.
//!
//! Written by hand: the packet is 24 fixed bytes, and no maintained crate both decodes it and
//! applies §6.8.6's rules (the packet crates found dissect for display only).

use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// Length of a Control packet without authentication, the only kind Porter sends.
pub const PACKET_LEN: usize = 24;

/// UDP port of single-hop control packets (RFC 5881 §4).
pub const SINGLE_HOP_PORT: u16 = 3784;

/// UDP port of multihop control packets (RFC 5883 §3).
pub const MULTIHOP_PORT: u16 = 4784;

/// Source ports a session sends from (RFC 5881 §4: 49152 through 65535).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// The TTL / hop limit single-hop packets carry and must arrive with (RFC 5881 §5, GTSM).
pub const SINGLE_HOP_TTL: u8 = 255;

/// A session's state (RFC 5880 §4.1 "Sta").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Held down administratively; never brought up by the peer.
    AdminDown,
    /// Down: no session, or it failed.
    Down,
    /// The peer is heard but has not yet heard us.
    Init,
    /// Both directions proven.
    Up,
}

impl State {
    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    fn of_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// Why a session last left Up, or why it is down (RFC 5880 §4.1 "Diag"). Codes without a name
/// here (9-31 are unassigned) are kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0: No Diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    DetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdminDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// Any other code (unassigned).
    Other(u8),
}

impl Diag {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::DetectionTimeExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Other(code) => code & 0x1f,
        }
    }

    /// The diagnostic of a wire code (5 bits).
    pub fn of_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::None,
            1 => Diag::DetectionTimeExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            other => Diag::Other(other),
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::None => f.write_str("no diagnostic"),
            Diag::DetectionTimeExpired => f.write_str("control detection time expired"),
            Diag::EchoFailed => f.write_str("echo function failed"),
            Diag::NeighborDown => f.write_str("neighbor signaled session down"),
            Diag::ForwardingPlaneReset => f.write_str("forwarding plane reset"),
            Diag::PathDown => f.write_str("path down"),
            Diag::ConcatenatedPathDown => f.write_str("concatenated path down"),
            Diag::AdminDown => f.write_str("administratively down"),
            Diag::ReverseConcatenatedPathDown => f.write_str("reverse concatenated path down"),
            Diag::Other(code) => write!(f, "diagnostic {code}"),
        }
    }
}

/// One Control packet, its intervals in microseconds as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// The sender's diagnostic.
    pub diag: Diag,
    /// The sender's state.
    pub state: State,
    /// P: the sender asks for a packet with F set (a Poll Sequence).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to run Demand mode.
    pub demand: bool,
    /// Detect Mult: the sender's detection time multiplier (never 0 once decoded).
    pub detect_mult: u8,
    /// The sender's discriminator (never 0 once decoded).
    pub my_discriminator: u32,
    /// The discriminator the sender holds for us, 0 while it does not know it.
    pub your_discriminator: u32,
    /// The interval the sender would like to transmit at, µs.
    pub desired_min_tx: u32,
    /// The shortest interval between received packets the sender can handle, µs (0: send none).
    pub required_min_rx: u32,
    /// The shortest interval between echo packets the sender can handle, µs (0: no echo).
    pub required_min_echo_rx: u32,
}

/// Why a received packet is discarded (RFC 5880 §6.8.6, the checks made before any session
/// is looked up). Discarding is all the RFC asks: BFD has no error message to send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Fewer bytes than the mandatory section.
    #[error("{0} bytes, shorter than a control packet (24)")]
    Short(usize),
    /// Version other than 1.
    #[error("version {0}, not 1")]
    Version(u8),
    /// The Length field is below 24 (26 with authentication) or beyond the datagram.
    #[error("length field {field} does not fit a {datagram}-byte datagram")]
    Length {
        /// The Length field.
        field: u8,
        /// The datagram's size.
        datagram: usize,
    },
    /// Detect Mult is zero.
    #[error("detect multiplier 0")]
    DetectMultZero,
    /// The Multipoint bit is set.
    #[error("multipoint bit set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("my discriminator 0")]
    MyDiscriminatorZero,
    /// Your Discriminator is zero while the sender's state is neither Down nor AdminDown.
    #[error("your discriminator 0 in state {0}")]
    YourDiscriminatorZero(State),
    /// The Authentication bit is set; Porter runs no authentication, so §6.8.6 discards it.
    #[error("authentication present, none configured")]
    Authenticated,
}

impl Packet {
    /// Decodes a datagram's payload, applying §6.8.6's checks on the packet itself.
    pub fn decode(bytes: &[u8]) -> Result<Packet, PacketError> {
        if bytes.len() < PACKET_LEN {
            return Err(PacketError::Short(bytes.len()));
        }
        let version = bytes[0] >> 5;
        if version != 1 {
            return Err(PacketError::Version(version));
        }
        let flags = bytes[1];
        let authenticated = flags & 0x04 != 0;
        let length = bytes[3];
        let least = if authenticated { 26 } else { 24 };
        if usize::from(length) < least || usize::from(length) > bytes.len() {
            return Err(PacketError::Length {
                field: length,
                datagram: bytes.len(),
            });
        }
        let detect_mult = bytes[2];
        if detect_mult == 0 {
            return Err(PacketError::DetectMultZero);
        }
        if flags & 0x01 != 0 {
            return Err(PacketError::Multipoint);
        }
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let my_discriminator = word(4);
        if my_discriminator == 0 {
            return Err(PacketError::MyDiscriminatorZero);
        }
        let state = State::of_bits(flags >> 6);
        let your_discriminator = word(8);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(PacketError::YourDiscriminatorZero(state));
        }
        if authenticated {
            return Err(PacketError::Authenticated);
        }
        Ok(Packet {
            diag: Diag::of_code(bytes[0]),
            state,
            poll: flags & 0x20 != 0,
            final_: flags & 0x10 != 0,
            control_plane_independent: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx: word(12),
            required_min_rx: word(16),
            required_min_echo_rx: word(20),
        })
    }

    /// The packet's bytes (no authentication section).
    pub fn encode(&self) -> [u8; PACKET_LEN] {
        let mut out = [0u8; PACKET_LEN];
        out[0] = (1 << 5) | self.diag.code();
        out[1] = (self.state.bits() << 6)
            | u8::from(self.poll) << 5
            | u8::from(self.final_) << 4
            | u8::from(self.control_plane_independent) << 3
            | u8::from(self.demand) << 1;
        out[2] = self.detect_mult;
        out[3] = PACKET_LEN as u8;
        out[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        out[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        out[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        out[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        out[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
        out
    }
}

/// Microseconds on the wire as a `Duration`.
pub fn micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

/// A `Duration` as wire microseconds, saturating at `u32::MAX` (about 71 minutes).
pub fn to_micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Packet {
        Packet {
            diag: Diag::None,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 7,
            your_discriminator: 9,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
        }
    }

    #[test]
    fn bytes_as_rfc_5880_lays_them_out() {
        let p = Packet {
            poll: true,
            diag: Diag::NeighborDown,
            ..up()
        };
        let bytes = p.encode();
        assert_eq!(bytes[0], 0x23, "version 1 (001), diag 3 (00011)");
        assert_eq!(bytes[1], 0b1110_0000, "state Up (11), P");
        assert_eq!(&bytes[2..4], &[3, 24]);
        assert_eq!(&bytes[4..8], &[0, 0, 0, 7]);
        assert_eq!(&bytes[12..16], &300_000u32.to_be_bytes());
        assert_eq!(Packet::decode(&bytes), Ok(p));
    }

    #[test]
    fn every_check_of_section_6_8_6() {
        let good = up().encode();
        let with = |at: usize, value: u8| {
            let mut b = good;
            b[at] = value;
            b
        };
        assert_eq!(Packet::decode(&good[..23]), Err(PacketError::Short(23)));
        assert_eq!(
            Packet::decode(&with(0, 0b010_00000)),
            Err(PacketError::Version(2))
        );
        assert_eq!(
            Packet::decode(&with(3, 23)),
            Err(PacketError::Length {
                field: 23,
                datagram: 24
            })
        );
        assert_eq!(
            Packet::decode(&with(3, 25)),
            Err(PacketError::Length {
                field: 25,
                datagram: 24
            })
        );
        assert_eq!(
            Packet::decode(&with(2, 0)),
            Err(PacketError::DetectMultZero)
        );
        assert_eq!(
            Packet::decode(&with(1, good[1] | 1)),
            Err(PacketError::Multipoint)
        );
        let mut no_mine = good;
        no_mine[4..8].fill(0);
        assert_eq!(
            Packet::decode(&no_mine),
            Err(PacketError::MyDiscriminatorZero)
        );
        let mut no_yours = good;
        no_yours[8..12].fill(0);
        assert_eq!(
            Packet::decode(&no_yours),
            Err(PacketError::YourDiscriminatorZero(State::Up))
        );
        // Down and AdminDown may not know us yet.
        let down = Packet {
            state: State::Down,
            your_discriminator: 0,
            ..up()
        };
        assert!(Packet::decode(&down.encode()).is_ok());
        // Authentication: Length must cover its section, and then it is refused.
        let mut auth = [0u8; 28];
        auth[..24].copy_from_slice(&good);
        auth[1] |= 0x04;
        auth[3] = 24;
        assert_eq!(
            Packet::decode(&auth),
            Err(PacketError::Length {
                field: 24,
                datagram: 28
            })
        );
        auth[3] = 28;
        assert_eq!(Packet::decode(&auth), Err(PacketError::Authenticated));
        // Bytes beyond Length are ignored (a padded datagram).
        let mut padded = [0u8; 40];
        padded[..24].copy_from_slice(&good);
        assert_eq!(Packet::decode(&padded), Ok(up()));
    }

    #[test]
    fn every_diag_code_survives_a_round_trip() {
        for code in 0..32u8 {
            assert_eq!(Diag::of_code(code).code(), code);
        }
    }
}
