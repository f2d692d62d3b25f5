//! AF_PACKET sockets for the layer 2 responder: bound to one interface, receiving only ARP and
//! ICMPv6 Neighbor Solicitations / Advertisements (a classic BPF filter, so a busy node's other
//! traffic is never copied to the speaker), sending whole Ethernet frames, and joining the
//! Ethernet multicast groups where Neighbor Solicitations for an owned IPv6 address arrive.
//!
//! socket2 opens the socket and attaches the filter; what it does not wrap (a `sockaddr_ll` for
//! bind and send, `PACKET_ADD_MEMBERSHIP`) is here, the one crate allowed `unsafe`.

use std::io;
use std::mem::size_of;
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};

const ETH_P_ALL: u16 = 0x0003;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_ICMPV6: u32 = 58;
const NEIGHBOR_SOLICITATION: u32 = 135;
const NEIGHBOR_ADVERTISEMENT: u32 = 136;

/// Frames passed: ARP, and IPv6 whose next header is ICMPv6 (no extension headers, as RFC
/// 4861 traffic is sent) of type 135 or 136. Offsets are from the Ethernet header.
fn filter() -> [SockFilter; 10] {
    const LDH_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LDB_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    [
        SockFilter::new(LDH_ABS, 0, 0, 12),              // 0: ethertype
        SockFilter::new(JEQ_K, 6, 0, ETH_P_ARP as u32),  // 1: ARP -> 8
        SockFilter::new(JEQ_K, 0, 6, ETH_P_IPV6 as u32), // 2: not IPv6 -> 9
        SockFilter::new(LDB_ABS, 0, 0, 14 + 6),          // 3: IPv6 next header
        SockFilter::new(JEQ_K, 0, 4, IPPROTO_ICMPV6),    // 4: not ICMPv6 -> 9
        SockFilter::new(LDB_ABS, 0, 0, 14 + 40),         // 5: ICMPv6 type
        SockFilter::new(JEQ_K, 1, 0, NEIGHBOR_SOLICITATION), // 6: -> 8
        SockFilter::new(JEQ_K, 0, 1, NEIGHBOR_ADVERTISEMENT), // 7: not NA -> 9
        SockFilter::new(RET_K, 0, 0, 0xffff),            // 8: the whole frame
        SockFilter::new(RET_K, 0, 0, 0),                 // 9: drop
    ]
}

/// A `sockaddr_ll` for interface `ifindex` and ethertype `protocol`.
#[allow(
    unsafe_code,
    reason = "socket2 builds no sockaddr_ll; SockAddr::new takes raw storage"
)]
fn link_addr(ifindex: u32, protocol: u16) -> io::Result<SockAddr> {
    let index = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    let mut storage = socket2::SockAddrStorage::zeroed();
    // SAFETY: the storage is larger than and aligned at least as sockaddr_ll, which is plain
    // old data (the all-zero storage is a valid one).
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as libc::c_ushort;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = index;
    // SAFETY: the storage holds an initialised sockaddr_ll of the length given.
    Ok(unsafe { SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as libc::socklen_t) })
}

/// A non-blocking AF_PACKET socket on interface `ifindex` receiving its ARP and Neighbor
/// Discovery frames (Ethernet header included), not those this host sends. Needs CAP_NET_RAW.
pub fn packet_socket(ifindex: u32) -> io::Result<Socket> {
    // Protocol 0: nothing is queued until the bind, which comes after the filter, so no frame
    // of another interface or kind is ever read.
    let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))?;
    socket.attach_filter(&filter())?;
    socket.bind(&link_addr(ifindex, ETH_P_ALL)?)?;
    // Our own replies would only be read to be ignored; kernels before 4.20 lack the option,
    // and then the responder ignores them (they come from its own MAC).
    let _ = crate::set_int_option(&socket, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Sends one Ethernet frame out of interface `ifindex`, addressed as its header says.
pub fn send_frame(socket: &Socket, ifindex: u32, frame: &[u8]) -> io::Result<usize> {
    let ethertype = match frame.get(12..14) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "shorter than an Ethernet header",
            ));
        }
    };
    socket.send_to(frame, &link_addr(ifindex, ethertype)?)
}

/// Starts (`join`) or stops receiving frames sent to Ethernet multicast address `mac` on
/// interface `ifindex` (the NIC's filter is told; the membership ends with the socket).
#[allow(
    unsafe_code,
    reason = "setsockopt(PACKET_ADD_MEMBERSHIP / PACKET_DROP_MEMBERSHIP), which no safe crate wraps"
)]
pub fn multicast_membership<S: AsFd>(
    socket: &S,
    ifindex: u32,
    mac: [u8; 6],
    join: bool,
) -> io::Result<()> {
    let index = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    let mut address = [0u8; 8];
    address[..6].copy_from_slice(&mac);
    let mreq = libc::packet_mreq {
        mr_ifindex: index,
        mr_type: libc::PACKET_MR_MULTICAST as libc::c_ushort,
        mr_alen: 6,
        mr_address: address,
    };
    let option = if join {
        libc::PACKET_ADD_MEMBERSHIP
    } else {
        libc::PACKET_DROP_MEMBERSHIP
    };
    // SAFETY: PACKET_ADD_MEMBERSHIP / PACKET_DROP_MEMBERSHIP take a packet_mreq, fully
    // initialised above.
    unsafe { crate::set_option(socket, libc::SOL_PACKET, option, &mreq) }
}
