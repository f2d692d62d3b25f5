//! The TTL (hop limit) of each received datagram: single-hop BFD (RFC 5881 §5) accepts only
//! packets that arrive with TTL 255, proof that the sender is on the link. `IP_MINTTL` does this
//! for TCP in the kernel, but Linux applies it to TCP only, so the check is made per datagram
//! from the `IP_TTL` / `IPV6_HOPLIMIT` control message, read with nix (no `unsafe` here).

use std::io;
use std::io::IoSliceMut;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};

/// Asks the kernel to attach the TTL (IPv4) or hop limit (IPv6) to every datagram `socket`
/// receives, for [`recv_with_ttl`].
pub fn report_ttl<S: AsFd>(socket: &S, ipv6: bool) -> io::Result<()> {
    let done = if ipv6 {
        setsockopt(socket, sockopt::Ipv6RecvHopLimit, &true)
    } else {
        setsockopt(socket, sockopt::Ipv4RecvTtl, &true)
    };
    done.map_err(io::Error::from)
}

/// One datagram: its length in `buf`, its source, and the TTL it arrived with (`None` when
/// the kernel attached none: [`report_ttl`] was not set). Non-blocking sockets give
/// `WouldBlock` as usual.
pub fn recv_with_ttl<S: AsFd>(
    socket: &S,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut control = nix::cmsg_space!(libc::c_int);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let mut ttl = None;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        match cmsg {
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                ttl = u8::try_from(t).ok();
            }
            _ => {}
        }
    }
    let source = msg
        .address
        .as_ref()
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::V4(SocketAddrV4::from(*v4)))
                .or_else(|| {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
                })
        })
        .ok_or_else(|| io::Error::other("datagram without an IP source address"))?;
    Ok((msg.bytes, source, ttl))
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    #[test]
    fn the_ttl_a_datagram_was_sent_with_is_reported() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        report_ttl(&rx, false).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for ttl in [255u8, 7] {
            tx.set_ttl(u32::from(ttl)).unwrap();
            tx.send_to(b"bfd", rx.local_addr().unwrap()).unwrap();
            let mut buf = [0u8; 64];
            let (n, from, got) = loop {
                match recv_with_ttl(&rx, &mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    other => break other.unwrap(),
                }
            };
            assert_eq!(
                (&buf[..n], from, got),
                (&b"bfd"[..], tx.local_addr().unwrap(), Some(ttl))
            );
        }
    }

    #[test]
    fn the_hop_limit_of_ipv6_too() {
        let Ok(rx) = UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 loopback here
        };
        report_ttl(&rx, true).unwrap();
        let tx = UdpSocket::bind("[::1]:0").unwrap();
        socket2::SockRef::from(&tx)
            .set_unicast_hops_v6(255)
            .unwrap();
        tx.send_to(b"bfd", rx.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        let got = loop {
            match recv_with_ttl(&rx, &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                other => break other.unwrap(),
            }
        };
        assert_eq!(got.2, Some(255));
    }
}
