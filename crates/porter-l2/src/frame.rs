//! Received frames: Ethernet II carrying ARP (Ethernet/IPv4) or an ICMPv6 Neighbor
//! Solicitation / Advertisement, sliced by etherparse and then checked as RFC 826, RFC 5227 and
//! RFC 4861 §7.1 ask. A frame is either a [`Packet`], [`Skip::Unrelated`] (other traffic, not an
//! error) or [`Skip::Invalid`] with the reason; no input panics.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::icmpv6::{NdpOptionHeader, NdpOptionType};
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacketSlice, EtherType, Ethernet2Slice, Icmpv6Slice, IpNumber,
    Ipv6Slice,
};

use crate::addr::{Mac, is_solicited_node};

/// ICMPv6 type of a Neighbor Solicitation (RFC 4861 §4.3).
pub const NEIGHBOR_SOLICITATION: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement (RFC 4861 §4.4).
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// The hop limit every ND message is sent with and must arrive with (RFC 4861 §7.1): a message
/// that crossed a router has a lower one, so off-link forgeries are rejected.
pub const ND_HOP_LIMIT: u8 = 255;
/// ICMPv6 header (4) + reserved or flags (4) + target (16): the shortest NS or NA.
const ND_MIN_LEN: usize = 24;

/// ARP operation (RFC 826).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    /// Who has `target_ip`?
    Request,
    /// `sender_ip` is at `sender_mac`.
    Reply,
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arp {
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// Ethernet source.
    pub eth_src: Mac,
    /// Request or reply.
    pub op: ArpOp,
    /// Sender hardware address: where a reply goes.
    pub sender_mac: Mac,
    /// Sender protocol address; 0.0.0.0 in an RFC 5227 probe.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (ignored in requests).
    pub target_mac: Mac,
    /// Target protocol address: the address asked for.
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// An RFC 5227 §2.1.1 probe: a host checking that nobody uses `target_ip` before taking it.
    pub fn is_probe(&self) -> bool {
        self.op == ArpOp::Request && self.sender_ip.is_unspecified()
    }
}

/// A Neighbor Solicitation (RFC 4861 §4.3) that passed §7.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Solicitation {
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// Ethernet source.
    pub eth_src: Mac,
    /// IPv6 source; :: in duplicate address detection.
    pub src: Ipv6Addr,
    /// IPv6 destination: the target's solicited-node group, or the target itself.
    pub dst: Ipv6Addr,
    /// The address asked for.
    pub target: Ipv6Addr,
    /// The Source Link-Layer Address option, if present (the first one).
    pub source_mac: Option<Mac>,
}

impl Solicitation {
    /// Duplicate address detection (RFC 4862 §5.4.2): the source is unspecified.
    pub fn is_dad(&self) -> bool {
        self.src.is_unspecified()
    }
}

/// A Neighbor Advertisement (RFC 4861 §4.4) that passed §7.1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// Ethernet source.
    pub eth_src: Mac,
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// The address advertised.
    pub target: Ipv6Addr,
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a solicitation.
    pub solicited: bool,
    /// O: replace a cached link-layer address.
    pub override_: bool,
    /// The Target Link-Layer Address option, if present (the first one).
    pub target_mac: Option<Mac>,
}

/// A received frame the responder has something to decide about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packet {
    /// ARP, IPv4 over Ethernet.
    Arp(Arp),
    /// ICMPv6 Neighbor Solicitation.
    Solicitation(Solicitation),
    /// ICMPv6 Neighbor Advertisement.
    Advertisement(Advertisement),
}

/// Why a frame is not a [`Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// Other traffic: not ARP, not IPv6, another ICMPv6 message, or VLAN-tagged (the shell
    /// listens on the VLAN's own interface, where the tag is gone).
    Unrelated,
    /// ARP or Neighbor Discovery, but invalid: dropped, counted by reason.
    Invalid(Invalid),
}

/// Why an ARP or ND frame was dropped. Each is a check of the RFC named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invalid {
    /// Shorter than its headers say, or an IPv6 header or extension chain etherparse rejects.
    Malformed,
    /// The Ethernet source is a group address (IEEE 802: a source is one station).
    EthernetSource,
    /// ARP for another hardware or protocol (RFC 826: hardware 1, protocol 0x0800, lengths 6
    /// and 4); other ARP is no IPv4-over-Ethernet question.
    ArpFormat,
    /// ARP operation other than request (1) or reply (2).
    ArpOperation,
    /// ARP sender or target address is multicast, limited broadcast or loopback, or a request
    /// asks for 0.0.0.0 (Linux drops the same in `arp_process`): no host owns them.
    ArpAddress,
    /// ARP sender hardware address, or a link-layer address option, is a group or all zeros:
    /// an answer there would reach no one or everyone.
    SenderMac,
    /// Neighbor Discovery inside an IPv6 fragment (RFC 6980 §5: such messages are dropped).
    Fragmented,
    /// IPv6 hop limit not 255 (RFC 4861 §7.1.1/§7.1.2): the message crossed a router.
    HopLimit,
    /// Wrong ICMPv6 checksum (§7.1.1).
    Checksum,
    /// ICMPv6 code not 0 (§7.1.1).
    IcmpCode,
    /// ICMPv6 message shorter than 24 bytes (§7.1.1).
    IcmpLength,
    /// The target is a multicast address (§7.1.1).
    MulticastTarget,
    /// The IPv6 source is a multicast address (RFC 4291 §2.7: never a source).
    MulticastSource,
    /// An option of length 0, or one running past the message (§7.1.1).
    OptionLength,
    /// A link-layer address option whose length is not Ethernet's 8 bytes (RFC 2464 §6).
    LinkLayerOption,
    /// Source :: with a destination that is no solicited-node group (§7.1.1).
    DadDestination,
    /// Source :: with a Source Link-Layer Address option (§7.1.1).
    DadSourceLinkLayer,
    /// An advertisement with S = 1 sent to a multicast group (§7.1.2).
    SolicitedToMulticast,
}

impl Invalid {
    /// Every reason, in counter order.
    pub const ALL: [Invalid; 18] = [
        Invalid::Malformed,
        Invalid::EthernetSource,
        Invalid::ArpFormat,
        Invalid::ArpOperation,
        Invalid::ArpAddress,
        Invalid::SenderMac,
        Invalid::Fragmented,
        Invalid::HopLimit,
        Invalid::Checksum,
        Invalid::IcmpCode,
        Invalid::IcmpLength,
        Invalid::MulticastTarget,
        Invalid::MulticastSource,
        Invalid::OptionLength,
        Invalid::LinkLayerOption,
        Invalid::DadDestination,
        Invalid::DadSourceLinkLayer,
        Invalid::SolicitedToMulticast,
    ];

    /// Position in [`Invalid::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::Malformed => "malformed",
            Invalid::EthernetSource => "ethernet_source",
            Invalid::ArpFormat => "arp_format",
            Invalid::ArpOperation => "arp_operation",
            Invalid::ArpAddress => "arp_address",
            Invalid::SenderMac => "sender_mac",
            Invalid::Fragmented => "fragmented",
            Invalid::HopLimit => "hop_limit",
            Invalid::Checksum => "checksum",
            Invalid::IcmpCode => "icmp_code",
            Invalid::IcmpLength => "icmp_length",
            Invalid::MulticastTarget => "multicast_target",
            Invalid::MulticastSource => "multicast_source",
            Invalid::OptionLength => "option_length",
            Invalid::LinkLayerOption => "link_layer_option",
            Invalid::DadDestination => "dad_destination",
            Invalid::DadSourceLinkLayer => "dad_source_link_layer",
            Invalid::SolicitedToMulticast => "solicited_to_multicast",
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Invalid> for Skip {
    fn from(reason: Invalid) -> Skip {
        Skip::Invalid(reason)
    }
}

/// Parses and checks one received Ethernet frame (without FCS, as AF_PACKET hands it over;
/// trailing padding to the 60-byte minimum is fine).
pub fn parse(frame: &[u8]) -> Result<Packet, Skip> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| Invalid::Malformed)?;
    let eth_dst = Mac(eth.destination());
    let eth_src = Mac(eth.source());
    let ether_type = eth.ether_type();
    if ether_type != EtherType::ARP && ether_type != EtherType::IPV6 {
        return Err(Skip::Unrelated);
    }
    if eth_src.is_multicast() {
        return Err(Invalid::EthernetSource.into());
    }
    let payload = eth.payload_slice();
    if ether_type == EtherType::ARP {
        arp(eth_dst, eth_src, payload).map(Packet::Arp)
    } else {
        neighbor_discovery(eth_dst, eth_src, payload)
    }
}

fn arp(eth_dst: Mac, eth_src: Mac, payload: &[u8]) -> Result<Arp, Skip> {
    let a = ArpPacketSlice::from_slice(payload).map_err(|_| Invalid::Malformed)?;
    if a.hw_addr_type() != ArpHardwareId::ETHERNET
        || a.proto_addr_type() != EtherType::IPV4
        || a.hw_addr_size() != 6
        || a.proto_addr_size() != 4
    {
        return Err(Invalid::ArpFormat.into());
    }
    let op = match a.operation() {
        ArpOperation::REQUEST => ArpOp::Request,
        ArpOperation::REPLY => ArpOp::Reply,
        _ => return Err(Invalid::ArpOperation.into()),
    };
    let mac = |b: &[u8]| b.try_into().map(Mac).map_err(|_| Invalid::Malformed);
    let ip = |b: &[u8]| {
        <[u8; 4]>::try_from(b)
            .map(Ipv4Addr::from)
            .map_err(|_| Invalid::Malformed)
    };
    let packet = Arp {
        eth_dst,
        eth_src,
        op,
        sender_mac: mac(a.sender_hw_addr())?,
        sender_ip: ip(a.sender_protocol_addr())?,
        target_mac: mac(a.target_hw_addr())?,
        target_ip: ip(a.target_protocol_addr())?,
    };
    if !packet.sender_mac.is_unicast() {
        return Err(Invalid::SenderMac.into());
    }
    let no_host = |ip: Ipv4Addr| ip.is_multicast() || ip.is_broadcast() || ip.is_loopback();
    // A reply's target is 0.0.0.0 when it answers a probe; a request for 0.0.0.0 asks nothing.
    let asks_nothing = op == ArpOp::Request && packet.target_ip.is_unspecified();
    if no_host(packet.sender_ip) || no_host(packet.target_ip) || asks_nothing {
        return Err(Invalid::ArpAddress.into());
    }
    Ok(packet)
}

fn neighbor_discovery(eth_dst: Mac, eth_src: Mac, payload: &[u8]) -> Result<Packet, Skip> {
    // Ipv6Slice follows the extension headers to the upper layer and cuts the payload at the
    // IPv6 payload length, so Ethernet padding is not read as ND options.
    let ip = Ipv6Slice::from_slice(payload).map_err(|_| Invalid::Malformed)?;
    let upper = ip.payload();
    if upper.ip_number != IpNumber::IPV6_ICMP {
        return Err(Skip::Unrelated);
    }
    let icmp = upper.payload;
    let Some(&kind) = icmp.first() else {
        return Err(Invalid::IcmpLength.into());
    };
    if kind != NEIGHBOR_SOLICITATION && kind != NEIGHBOR_ADVERTISEMENT {
        return Err(Skip::Unrelated);
    }
    if upper.fragmented {
        return Err(Invalid::Fragmented.into());
    }
    let header = ip.header();
    // Payload length 0 is a jumbogram's (RFC 2675), which etherparse reads to the end of the
    // frame, padding included; ND never sends one.
    if header.payload_length() == 0 {
        return Err(Invalid::Malformed.into());
    }
    if header.hop_limit() != ND_HOP_LIMIT {
        return Err(Invalid::HopLimit.into());
    }
    if icmp.len() < ND_MIN_LEN {
        return Err(Invalid::IcmpLength.into());
    }
    let slice = Icmpv6Slice::from_slice(icmp).map_err(|_| Invalid::IcmpLength)?;
    let (src, dst) = (header.source_addr(), header.destination_addr());
    if !slice.is_checksum_valid(src.octets(), dst.octets()) {
        return Err(Invalid::Checksum.into());
    }
    if slice.code_u8() != 0 {
        return Err(Invalid::IcmpCode.into());
    }
    if src.is_multicast() {
        return Err(Invalid::MulticastSource.into());
    }
    let target =
        Ipv6Addr::from(<[u8; 16]>::try_from(&icmp[8..24]).map_err(|_| Invalid::Malformed)?);
    if target.is_multicast() {
        return Err(Invalid::MulticastTarget.into());
    }
    let options = options(&icmp[ND_MIN_LEN..])?;
    if kind == NEIGHBOR_SOLICITATION {
        if src.is_unspecified() {
            if !is_solicited_node(dst) {
                return Err(Invalid::DadDestination.into());
            }
            if options.source.is_some() {
                return Err(Invalid::DadSourceLinkLayer.into());
            }
        }
        Ok(Packet::Solicitation(Solicitation {
            eth_dst,
            eth_src,
            src,
            dst,
            target,
            source_mac: options.source,
        }))
    } else {
        let flags = icmp[4];
        let solicited = flags & 0x40 != 0;
        if solicited && dst.is_multicast() {
            return Err(Invalid::SolicitedToMulticast.into());
        }
        Ok(Packet::Advertisement(Advertisement {
            eth_dst,
            eth_src,
            src,
            dst,
            target,
            router: flags & 0x80 != 0,
            solicited,
            override_: flags & 0x20 != 0,
            target_mac: options.target,
        }))
    }
}

/// The link-layer address options of an NS or NA (the first of each kind, as Linux keeps).
#[derive(Default)]
struct Options {
    source: Option<Mac>,
    target: Option<Mac>,
}

/// Walks the options by their headers. Written here rather than with etherparse's
/// `NdpOptionsIterator` because that iterator stops at the first option it cannot read as its
/// own type (a Prefix Information of another length, say), where RFC 4861 §4.6 has receivers
/// skip options they do not use; the link-layer options are still read through etherparse's
/// header type.
fn options(mut rest: &[u8]) -> Result<Options, Invalid> {
    let mut found = Options::default();
    while !rest.is_empty() {
        let (header, _) = NdpOptionHeader::from_slice(rest).map_err(|_| Invalid::OptionLength)?;
        if header.length_units == 0 {
            return Err(Invalid::OptionLength);
        }
        let (option, tail) = rest
            .split_at_checked(header.byte_len())
            .ok_or(Invalid::OptionLength)?;
        rest = tail;
        let slot = match header.option_type {
            NdpOptionType::SOURCE_LINK_LAYER_ADDRESS => &mut found.source,
            NdpOptionType::TARGET_LINK_LAYER_ADDRESS => &mut found.target,
            _ => continue,
        };
        // Ethernet's link-layer option is exactly 8 bytes: type, length 1, the address.
        let mac = <[u8; 6]>::try_from(&option[2..])
            .map(Mac)
            .map_err(|_| Invalid::LinkLayerOption)?;
        if !mac.is_unicast() {
            return Err(Invalid::SenderMac);
        }
        slot.get_or_insert(mac);
    }
    Ok(found)
}
