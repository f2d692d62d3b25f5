//! How a session's TCP connection is made and protected: TCP MD5 (RFC 2385), the TTL it
//! sends with (eBGP single hop, multihop, GTSM), the minimum TTL it accepts (GTSM, RFC 5082)
//! and the source address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use porter_model::valid::ValidPeer;
use tokio::net::{TcpSocket, TcpStream};

/// How long one TCP connect attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// TTL every GTSM packet is sent with, and the least a GTSM peer's packets may carry.
const GTSM_TTL: u8 = 255;

/// Socket settings of one peer's sessions.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Transport {
    /// TCP MD5 key (never logged: `Debug` hides it).
    pub(crate) md5_key: Option<Vec<u8>>,
    /// TTL of the packets we send; `None` = the kernel default (iBGP).
    pub(crate) ttl: Option<u8>,
    /// Least TTL accepted from the peer (GTSM); `None` = no check.
    pub(crate) min_ttl: Option<u8>,
    /// Source address of dialled connections; `None` = the kernel's choice.
    pub(crate) local_address: Option<IpAddr>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("md5", &self.md5_key.as_ref().map(|_| "<set>"))
            .field("ttl", &self.ttl)
            .field("min_ttl", &self.min_ttl)
            .field("local_address", &self.local_address)
            .finish()
    }
}

impl Transport {
    /// The settings a peer asks for. eBGP peers are assumed directly connected (TTL 1, as
    /// FRR and most routers do) unless `ebgpMultihop` says otherwise; GTSM sends with TTL
    /// 255 and accepts only 255 (directly connected peers).
    pub(crate) fn of(peer: &ValidPeer, ebgp: bool) -> Self {
        let (ttl, min_ttl) = if peer.ttl_security {
            (Some(GTSM_TTL), Some(GTSM_TTL))
        } else if ebgp {
            (Some(peer.multihop_ttl.unwrap_or(1)), None)
        } else {
            (None, None)
        };
        Self {
            md5_key: peer.password.as_ref().map(|p| p.as_bytes().to_vec()),
            ttl,
            min_ttl,
            local_address: peer.local_address,
        }
    }

    /// Dials `target` with these settings (all set before the SYN leaves).
    pub(crate) async fn dial(&self, target: SocketAddr) -> std::io::Result<TcpStream> {
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(local) = self.local_address {
            socket.bind(SocketAddr::new(local, 0))?;
        }
        if let Some(key) = &self.md5_key {
            porter_sys::set_tcp_md5(&socket, target.ip(), Some(key))?;
        }
        self.apply_ttl(&socket)?;
        tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }

    /// Applies the TTL settings to a connection the peer opened (its MD5 key was checked
    /// by the listener already).
    pub(crate) fn secure_accepted(&self, stream: &TcpStream) -> std::io::Result<()> {
        self.apply_ttl(stream)
    }

    fn apply_ttl<S: std::os::fd::AsFd>(&self, socket: &S) -> std::io::Result<()> {
        if let Some(ttl) = self.ttl {
            porter_sys::set_ttl(socket, ttl)?;
        }
        if let Some(min) = self.min_ttl {
            porter_sys::set_min_ttl(socket, min)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> ValidPeer {
        ValidPeer::new("tor", "127.0.0.1".parse().expect("ip"), 64512)
    }

    #[test]
    fn ttl_follows_session_kind() {
        let ebgp = Transport::of(&peer(), true);
        assert_eq!((ebgp.ttl, ebgp.min_ttl), (Some(1), None), "single-hop eBGP");
        let multihop = Transport::of(
            &ValidPeer {
                multihop_ttl: Some(4),
                ..peer()
            },
            true,
        );
        assert_eq!(
            (multihop.ttl, multihop.min_ttl),
            (Some(4), None),
            "eBGP multihop"
        );
        let gtsm = Transport::of(
            &ValidPeer {
                ttl_security: true,
                ..peer()
            },
            true,
        );
        assert_eq!((gtsm.ttl, gtsm.min_ttl), (Some(255), Some(255)), "GTSM");
        let ibgp = Transport::of(&peer(), false);
        assert_eq!(
            (ibgp.ttl, ibgp.min_ttl),
            (None, None),
            "iBGP: kernel default"
        );
        let md5 = Transport::of(
            &ValidPeer {
                password: Some("k3y".into()),
                ..peer()
            },
            true,
        );
        assert_eq!(md5.md5_key.as_deref(), Some(&b"k3y"[..]));
        assert!(
            !format!("{md5:?}").contains("k3y"),
            "Debug never shows the key"
        );
    }

    #[tokio::test]
    async fn dials_from_the_configured_source_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("addr");
        let source: IpAddr = "127.0.0.2".parse().expect("ip");
        let transport = Transport::of(
            &ValidPeer {
                local_address: Some(source),
                ..peer()
            },
            false,
        );
        let (dialled, accepted) = tokio::join!(transport.dial(target), listener.accept());
        let dialled = dialled.expect("dial");
        let (_, from) = accepted.expect("accept");
        assert_eq!(from.ip(), source);
        assert_eq!(dialled.local_addr().expect("local").ip(), source);
    }
}
