//! Accepting sessions that peers open towards this node.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// An accepted connection, handed to the manager to route to the session of that peer.
pub(crate) struct Incoming {
    pub(crate) stream: TcpStream,
    pub(crate) remote: SocketAddr,
}

/// The listening socket and the task accepting on it. The socket is shared so that TCP MD5
/// keys of passive (or any) peers can be installed on it: the kernel checks them on the SYN.
pub(crate) struct Listener {
    pub(crate) socket: std::sync::Arc<TcpListener>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// Binds the BGP port on every address (dual-stack where the kernel allows it) and forwards
/// accepted connections. Returns the bind error so the caller can report it.
pub(crate) async fn spawn(port: u16, tx: mpsc::Sender<Incoming>) -> std::io::Result<Listener> {
    let listener =
        match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)).await {
            Ok(l) => l,
            // No IPv6 on this host: fall back to IPv4 only.
            Err(_) => {
                TcpListener::bind(SocketAddr::new(
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    port,
                ))
                .await?
            }
        };
    tracing::info!(port, "listening for BGP sessions");
    let socket = std::sync::Arc::new(listener);
    let listener = socket.clone();
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    // IPv4 peers reach a dual-stack socket as ::ffff:a.b.c.d; peers are configured as a.b.c.d
                    let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
                    if tx.send(Incoming { stream, remote }).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(Listener { socket, task })
}
