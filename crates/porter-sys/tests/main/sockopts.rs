//! The kernel really enforces what the options say: run against loopback.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is the test failing"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn listener(md5: Option<&[u8]>, min_ttl: Option<u8>) -> std::net::TcpListener {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    s.bind(&SocketAddr::new(LOCALHOST, 0).into()).unwrap();
    if let Some(key) = md5 {
        porter_sys::set_tcp_md5(&s, LOCALHOST, Some(key)).unwrap();
    }
    if let Some(ttl) = min_ttl {
        porter_sys::set_min_ttl(&s, ttl).unwrap();
    }
    s.listen(8).unwrap();
    s.into()
}

/// Connects with the given key and TTL; `true` if the handshake completed. A refused
/// handshake is silent (the SYN is dropped), so the timeout is what "refused" looks like.
fn connects(to: SocketAddr, md5: Option<&[u8]>, ttl: Option<u8>) -> bool {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    s.bind(&SocketAddr::new(LOCALHOST, 0).into()).unwrap();
    if let Some(key) = md5 {
        porter_sys::set_tcp_md5(&s, LOCALHOST, Some(key)).unwrap();
    }
    if let Some(ttl) = ttl {
        porter_sys::set_ttl(&s, ttl).unwrap();
    }
    s.connect_timeout(&to.into(), Duration::from_millis(1500))
        .is_ok()
}

#[test]
fn md5_key_must_match() {
    let l = listener(Some(b"s3cret"), None);
    let addr = l.local_addr().unwrap();
    assert!(
        connects(addr, Some(b"s3cret"), None),
        "the right key connects"
    );
    assert!(!connects(addr, None, None), "no key is refused");
    assert!(
        !connects(addr, Some(b"wrong"), None),
        "a wrong key is refused"
    );
}

#[test]
fn gtsm_drops_packets_below_the_minimum_ttl() {
    let l = listener(None, Some(255));
    let addr = l.local_addr().unwrap();
    assert!(connects(addr, None, Some(255)), "TTL 255 passes");
    assert!(!connects(addr, None, Some(254)), "TTL 254 is dropped");
}

#[test]
fn removing_the_key_opens_the_listener_again() {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    s.bind(&SocketAddr::new(LOCALHOST, 0).into()).unwrap();
    porter_sys::set_tcp_md5(&s, LOCALHOST, Some(b"k")).unwrap();
    porter_sys::set_tcp_md5(&s, LOCALHOST, None).unwrap();
    s.listen(8).unwrap();
    let l: std::net::TcpListener = s.into();
    assert!(connects(l.local_addr().unwrap(), None, None));
}

#[test]
fn overlong_key_is_a_clear_error() {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    let err = porter_sys::set_tcp_md5(&s, LOCALHOST, Some(&[b'x'; 81])).unwrap_err();
    assert!(err.to_string().contains("at most 80"), "{err}");
}
