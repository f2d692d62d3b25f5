//! Frames to send, whole Ethernet frames for an AF_PACKET socket, written with etherparse's
//! `PacketBuilder` (which also computes the ICMPv6 checksum over the pseudo-header). Frames are
//! not padded to Ethernet's 60-byte minimum: drivers pad on the wire, as for the kernel's own
//! ARP and arping's.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::icmpv6::{NdpOptionType, NeighborAdvertisementHeader};
use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv6Type, PacketBuilder};

use crate::addr::{ALL_NODES, Mac};
use crate::frame::ND_HOP_LIMIT;

/// Bytes of an ARP frame: Ethernet header and the 28-byte Ethernet/IPv4 ARP packet.
pub const ARP_FRAME_LEN: usize = 14 + 28;
/// Bytes of an NA frame: Ethernet, IPv6, ICMPv6 NA (24) and the Target Link-Layer option (8).
pub const NA_FRAME_LEN: usize = 14 + 40 + 24 + 8;

fn arp(
    eth_dst: Mac,
    op: ArpOperation,
    sender: (Mac, Ipv4Addr),
    target: (Mac, Ipv4Addr),
) -> Vec<u8> {
    let packet = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        op,
        &sender.0.0,
        &sender.1.octets(),
        &target.0.0,
        &target.1.octets(),
    );
    let mut out = Vec::with_capacity(ARP_FRAME_LEN);
    // Both can only fail on lengths, which are fixed here (6 and 4 bytes, writing to a Vec).
    if let Ok(packet) = packet {
        let _ = PacketBuilder::ethernet2(sender.0.0, eth_dst.0)
            .arp(packet)
            .write_to_vec(&mut out);
    }
    debug_assert_eq!(out.len(), ARP_FRAME_LEN);
    out
}

/// The answer to an ARP request for `addr`: `addr` is at `mac`, sent to the asker's hardware
/// address (RFC 826). For an RFC 5227 probe `to_ip` is 0.0.0.0, as the probe's sender address
/// was, and the prober learns the address is taken (Linux answers probes the same way).
pub fn arp_reply(mac: Mac, addr: Ipv4Addr, to_mac: Mac, to_ip: Ipv4Addr) -> Vec<u8> {
    arp(to_mac, ArpOperation::REPLY, (mac, addr), (to_mac, to_ip))
}

/// Which form of gratuitous ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gratuitous {
    /// An ARP Announcement (RFC 5227 §2.3, `arping -U`): a broadcast request, sender and
    /// target address both `addr`, target hardware address zero.
    Request,
    /// An unsolicited broadcast reply (`arping -A`, RFC 5944 §4.6) whose target hardware
    /// address is the sender's own.
    Reply,
}

/// A gratuitous ARP for `addr` at `mac`, broadcast. Both forms are sent, as `arping -U` and
/// `-A` do (and MetalLB, OpenELB, keepalived): some hosts and switches update their caches only
/// from requests, others only from replies. Linux takes either as gratuitous, and so updates an
/// entry even within its 1 s `locktime`, when sender and target address are equal and, for
/// a reply, target and sender hardware addresses too (`arp_process`, `is_garp`); hence the
/// reply's target hardware address is ours, not zero or broadcast.
pub fn gratuitous_arp(mac: Mac, addr: Ipv4Addr, form: Gratuitous) -> Vec<u8> {
    match form {
        Gratuitous::Request => arp(
            Mac::BROADCAST,
            ArpOperation::REQUEST,
            (mac, addr),
            (Mac::ZERO, addr),
        ),
        Gratuitous::Reply => arp(
            Mac::BROADCAST,
            ArpOperation::REPLY,
            (mac, addr),
            (mac, addr),
        ),
    }
}

/// A Neighbor Advertisement for `target` at `mac` with the Target Link-Layer Address option,
/// hop limit 255 and flags R = 0 (a Service address is a host's, not a router's), O = 1 (a
/// takeover must replace the old owner's entry: with O = 0 a host keeps a cached address, RFC
/// 4861 §7.2.5) and S as given. The IPv6 source is `target` itself, as Linux's `ndisc_send_na`
/// uses the solicited address it owns: the node holds no other address of the Service's subnet
/// for sure, and receivers check no source (§7.1.2).
pub fn neighbor_advertisement(
    mac: Mac,
    target: Ipv6Addr,
    to_mac: Mac,
    to_ip: Ipv6Addr,
    solicited: bool,
) -> Vec<u8> {
    let flags = NeighborAdvertisementHeader {
        router: false,
        solicited,
        r#override: true,
    };
    // The NA body after the ICMPv6 header: the target, then the Target Link-Layer Address
    // option (type 2, length 1 unit of 8 bytes, the address).
    let mut body = [0u8; 24];
    body[..16].copy_from_slice(&target.octets());
    body[16] = NdpOptionType::TARGET_LINK_LAYER_ADDRESS.0;
    body[17] = 1;
    body[18..].copy_from_slice(&mac.0);
    let mut out = Vec::with_capacity(NA_FRAME_LEN);
    // Cannot fail: a Vec grows, and 32 bytes of ICMPv6 fit any length field.
    let _ = PacketBuilder::ethernet2(mac.0, to_mac.0)
        .ipv6(target.octets(), to_ip.octets(), ND_HOP_LIMIT)
        .icmpv6(Icmpv6Type::NeighborAdvertisement(flags))
        .write(&mut out, &body);
    debug_assert_eq!(out.len(), NA_FRAME_LEN);
    out
}

/// An unsolicited Neighbor Advertisement (RFC 4861 §7.2.6) for `target` at `mac`, to all nodes
/// (ff02::1, 33:33:00:00:00:01), S = 0, O = 1.
pub fn unsolicited_na(mac: Mac, target: Ipv6Addr) -> Vec<u8> {
    neighbor_advertisement(mac, target, Mac::ALL_NODES, ALL_NODES, false)
}

/// A client's broadcast ARP request: who has `target_ip`, tell `sender_ip` at `mac` (0.0.0.0
/// for an RFC 5227 probe). Porter never asks; tests, seeds and the lab do.
pub fn arp_request(mac: Mac, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    arp(
        Mac::BROADCAST,
        ArpOperation::REQUEST,
        (mac, sender_ip),
        (Mac::ZERO, target_ip),
    )
}

/// A client's multicast Neighbor Solicitation for `target` from `src` at `mac`, to the
/// target's solicited-node group, with the Source Link-Layer Address option unless `src` is
/// :: (duplicate address detection, RFC 4861 §4.3). For tests, seeds and the lab.
pub fn neighbor_solicitation(mac: Mac, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let group = crate::addr::solicited_node(target);
    let mut body = Vec::with_capacity(24);
    body.extend_from_slice(&target.octets());
    if !src.is_unspecified() {
        body.extend_from_slice(&[NdpOptionType::SOURCE_LINK_LAYER_ADDRESS.0, 1]);
        body.extend_from_slice(&mac.0);
    }
    let mut out = Vec::with_capacity(14 + 40 + 8 + body.len());
    // Cannot fail: a Vec grows, and the lengths are small.
    let _ = PacketBuilder::ethernet2(mac.0, Mac::ipv6_multicast(group).0)
        .ipv6(src.octets(), group.octets(), ND_HOP_LIMIT)
        .icmpv6(Icmpv6Type::NeighborSolicitation)
        .write(&mut out, &body);
    out
}
