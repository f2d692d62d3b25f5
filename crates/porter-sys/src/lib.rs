//! Socket options for BGP transport security that neither the standard library, socket2 nor
//! nix expose: TCP MD5 signatures (RFC 2385, `TCP_MD5SIG`) and the Generalized TTL Security
//! Mechanism (RFC 5082, `IP_MINTTL` / `IPV6_MINHOPCOUNT`).
//!
//! libc has the constants but not `struct tcp_md5sig`, so this crate declares it and calls
//! `setsockopt` itself. It is the only crate of Porter allowed to use `unsafe`; each block
//! says why it is sound. Plain TTL / hop limit (eBGP multihop) needs no unsafe: socket2 has it.
//! Beside them, one allocator setting ([`fix_mmap_threshold`]), which only libc's `mallopt`
//! reaches, and the TTL of received datagrams for single-hop BFD ([`recv_with_ttl`], through
//! nix's safe `recvmsg`), and the AF_PACKET sockets of the layer 2 responder ([`packet_socket`],
//! [`send_frame`], [`multicast_membership`]).
#![warn(missing_docs, unreachable_pub)]

mod malloc;
mod packet;
mod ttl;

pub use malloc::{fix_mmap_threshold, limit_arenas};
pub use packet::{multicast_membership, packet_socket, send_frame};
pub use ttl::{recv_with_ttl, report_ttl};

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use socket2::SockRef;

/// Longest key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `linux/tcp.h` (libc does not declare it).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

/// Installs (or, with `None`, removes) the TCP MD5 key used with `peer` on `socket`.
///
/// On a listening socket it applies to connections accepted from `peer`; on a connecting
/// socket it must be set before `connect`. An IPv4 peer on an IPv6 (dual-stack) socket is
/// keyed by its v4-mapped address, which is how the kernel sees it there.
#[allow(
    unsafe_code,
    reason = "setsockopt(TCP_MD5SIG) with a struct libc does not declare"
)]
pub fn set_tcp_md5<S: AsFd>(socket: &S, peer: IpAddr, key: Option<&[u8]>) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP MD5 key is {} bytes; Linux accepts at most {MD5_MAX_KEY_LEN}",
                key.len()
            ),
        ));
    }
    let sock = SockRef::from(socket);
    let socket_is_v6 = sock.local_addr()?.is_ipv6();
    let peer = match peer {
        IpAddr::V4(v4) if socket_is_v6 => IpAddr::V6(v4.to_ipv6_mapped()),
        other => other,
    };
    let peer = socket2::SockAddr::from(SocketAddr::new(peer, 0));

    // SAFETY: TcpMd5Sig is plain old data; all-zero is a valid value (empty key, AF_UNSPEC).
    let mut sig: TcpMd5Sig = unsafe { zeroed() };
    let addr_len = (peer.len() as usize).min(size_of::<libc::sockaddr_storage>());
    // SAFETY: both pointers are valid for `addr_len` bytes (bounded by the size of
    // sockaddr_storage, which SockAddr's storage also is) and do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            peer.as_ptr().cast::<u8>(),
            (&raw mut sig.addr).cast::<u8>(),
            addr_len,
        );
    }
    sig.key_len = key.len() as u16; // <= 80, checked above
    sig.key[..key.len()].copy_from_slice(key);

    // SAFETY: TCP_MD5SIG takes a struct tcp_md5sig, which TcpMd5Sig mirrors, fully initialised.
    unsafe { set_option(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig) }
}

/// GTSM (RFC 5082): drop packets that arrive with a TTL (hop limit) below `min_ttl`.
/// With `min_ttl = 255` only a directly connected peer sending with TTL 255 gets through.
pub fn set_min_ttl<S: AsFd>(socket: &S, min_ttl: u8) -> io::Result<()> {
    let sock = SockRef::from(socket);
    let (level, name) = if sock.local_addr()?.is_ipv6() {
        (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MINTTL)
    };
    set_int_option(socket, level, name, libc::c_int::from(min_ttl))
}

/// setsockopt of an `int` option socket2 does not wrap (`IP_MINTTL`, `IPV6_MINHOPCOUNT`,
/// `PACKET_IGNORE_OUTGOING`).
#[allow(unsafe_code, reason = "set_option with the c_int these options take")]
pub(crate) fn set_int_option<S: AsFd>(
    socket: &S,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: each of these options takes a c_int.
    unsafe { set_option(socket, level, name, &value) }
}

/// setsockopt(`level`, `name`) with `value` and its size: the one call behind every option
/// this crate sets.
///
/// # Safety
/// `T` must be the C type the option expects, fully initialised (the kernel reads
/// `size_of::<T>()` bytes of it).
#[allow(
    unsafe_code,
    reason = "setsockopt, which no safe crate wraps for these options"
)]
pub(crate) unsafe fn set_option<S: AsFd, T>(
    socket: &S,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: the fd is a live socket borrowed for the call; `value` is valid for
    // size_of::<T>() bytes, and the caller vouches that T is what the option takes.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast::<libc::c_void>(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The TTL (IPv4) or hop limit (IPv6) of packets this socket sends: 1 for a directly
/// connected eBGP peer, more for eBGP multihop, 255 for GTSM.
pub fn set_ttl<S: AsFd>(socket: &S, ttl: u8) -> io::Result<()> {
    let sock = SockRef::from(socket);
    if sock.local_addr()?.is_ipv6() {
        sock.set_unicast_hops_v6(u32::from(ttl))
    } else {
        sock.set_ttl_v4(u32::from(ttl))
    }
}
