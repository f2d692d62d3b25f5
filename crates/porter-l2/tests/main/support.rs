//! Addresses, offsets into frames, and an ICMPv6 checksum computed independently of etherparse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use porter_l2::Mac;

/// The responder's interface.
pub const US: Mac = Mac([0x02, 0x00, 0x5e, 0x00, 0x00, 0x01]);
/// A client on the link.
pub const CLIENT: Mac = Mac([0x02, 0x00, 0x5e, 0x00, 0x00, 0x09]);
/// Another node (a previous or rival owner).
pub const OTHER: Mac = Mac([0x02, 0x00, 0x5e, 0x00, 0x00, 0x07]);

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Offsets in an untagged Ethernet frame carrying IPv6 without extension headers.
pub const HOP_LIMIT: usize = 14 + 7;
pub const IP_SRC: usize = 14 + 8;
pub const IP_DST: usize = 14 + 24;
pub const ICMP: usize = 14 + 40;

/// RFC 4443 §2.3: the one's complement sum over the pseudo-header (RFC 8200 §8.1) and the
/// ICMPv6 message, with the checksum field as it is. Valid when this is 0xffff.
fn icmpv6_sum(frame: &[u8]) -> u16 {
    let len = u16::from_be_bytes([frame[14 + 4], frame[14 + 5]]) as usize;
    let msg = &frame[ICMP..ICMP + len];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&frame[IP_SRC..IP_SRC + 32]);
    pseudo.extend_from_slice(&(len as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    let mut sum: u32 = 0;
    for chunk in pseudo.chunks(2).chain(msg.chunks(2)) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

pub fn icmpv6_checksum_ok(frame: &[u8]) -> bool {
    icmpv6_sum(frame) == 0xffff
}

/// Rewrites the ICMPv6 checksum of an IPv6 frame after a test changed its bytes.
pub fn fix_checksum(frame: &mut [u8]) {
    frame[ICMP + 2] = 0;
    frame[ICMP + 3] = 0;
    let sum = !icmpv6_sum(frame);
    frame[ICMP + 2..ICMP + 4].copy_from_slice(&sum.to_be_bytes());
}

/// Appends `bytes` to an IPv6 frame's payload (an ND option), fixing lengths and checksum.
pub fn append(frame: &mut Vec<u8>, bytes: &[u8]) {
    frame.extend_from_slice(bytes);
    let len = u16::from_be_bytes([frame[18], frame[19]]) + bytes.len() as u16;
    frame[18..20].copy_from_slice(&len.to_be_bytes());
    fix_checksum(frame);
}
