//! Accepting sessions that peers open towards this node: the listening socket on the
//! configured port, carrying every peer's TCP MD5 key.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// An accepted connection, handed to the BGP part to route to the session of that peer.
pub(crate) struct Incoming {
    pub(crate) stream: TcpStream,
    pub(crate) remote: SocketAddr,
}

/// The listening socket and the task accepting on it. The socket is shared so that TCP MD5
/// keys of passive (or any) peers can be installed on it: the kernel checks them on the SYN.
struct Listener {
    socket: std::sync::Arc<TcpListener>,
    task: tokio::task::JoinHandle<()>,
}

/// The listener as the plan wants it: on the configured port (none: not listening), with the
/// MD5 key of every peer that has one.
pub(crate) struct Listening {
    port: Option<u16>,
    listener: Option<Listener>,
    /// Peers whose TCP MD5 key is installed on the listening socket, with the key.
    keys: BTreeMap<IpAddr, Vec<u8>>,
    /// Where accepted connections go.
    incoming: mpsc::Sender<Incoming>,
}

impl Listening {
    /// Not listening yet; accepted connections will be sent to `incoming`.
    pub(crate) fn new(incoming: mpsc::Sender<Incoming>) -> Self {
        Self {
            port: None,
            listener: None,
            keys: BTreeMap::new(),
            incoming,
        }
    }

    /// Listens on `port` (re-binding when it changed, retrying a bind that failed before),
    /// and installs exactly `keys`, the MD5 key of every peer that has one.
    pub(crate) async fn sync(&mut self, port: Option<u16>, keys: BTreeMap<IpAddr, Vec<u8>>) {
        self.sync_port(port).await;
        self.sync_keys(keys);
    }

    /// Stops listening.
    pub(crate) fn close(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.task.abort();
        }
    }

    async fn sync_port(&mut self, port: Option<u16>) {
        if port == self.port && (port.is_none() || self.listener.is_some()) {
            return;
        }
        self.close();
        self.keys.clear();
        self.port = port;
        if let Some(port) = port {
            match spawn(port, self.incoming.clone()).await {
                Ok(listener) => self.listener = Some(listener),
                Err(error) => {
                    tracing::error!(port, %error, "cannot listen for BGP sessions; only outgoing sessions will work")
                }
            }
        }
    }

    /// Installs the TCP MD5 key of every peer that has one on the listening socket (the
    /// kernel drops unsigned SYNs from those peers) and removes keys of peers that no
    /// longer have one.
    fn sync_keys(&mut self, keys: BTreeMap<IpAddr, Vec<u8>>) {
        let Some(listener) = &self.listener else {
            return;
        };
        for (peer, key) in &keys {
            if self.keys.get(peer) != Some(key)
                && let Err(error) =
                    porter_sys::set_tcp_md5(listener.socket.as_ref(), *peer, Some(key))
            {
                tracing::error!(%peer, %error, "cannot install the TCP MD5 key on the listener; the peer cannot connect to us");
            }
        }
        for peer in self.keys.keys().filter(|p| !keys.contains_key(*p)) {
            let _ = porter_sys::set_tcp_md5(listener.socket.as_ref(), *peer, None);
        }
        self.keys = keys;
    }
}

/// Binds the BGP port on every address (dual-stack where the kernel allows it) and forwards
/// accepted connections. Returns the bind error so the caller can report it.
async fn spawn(port: u16, tx: mpsc::Sender<Incoming>) -> std::io::Result<Listener> {
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
