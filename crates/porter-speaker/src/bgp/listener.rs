//! Accepting sessions that peers open towards this node: listening sockets on the configured
//! port, one per BgpConf `listenAddresses` entry (one wildcard socket when there is none), each
//! carrying every peer's TCP MD5 key.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// An accepted connection, handed to the BGP part to route to the session of that peer.
pub(crate) struct Incoming {
    pub(crate) stream: TcpStream,
    pub(crate) remote: SocketAddr,
}

/// One listening socket and the task accepting on it. The socket is shared so that TCP MD5
/// keys of passive (or any) peers can be installed on it: the kernel checks them on the SYN.
struct Listener {
    socket: std::sync::Arc<TcpListener>,
    task: tokio::task::JoinHandle<()>,
}

/// The listeners as the plan wants them: on the configured port (none: not listening), on each
/// configured address (none: the wildcard), each with the MD5 key of every peer that has one.
pub(crate) struct Listening {
    port: Option<u16>,
    /// BgpConf `listenAddresses` as last applied; empty = the wildcard.
    addresses: Vec<IpAddr>,
    /// One socket per bound address (one for the wildcard); an address that failed to bind is
    /// missing and retried on the next sync.
    listeners: BTreeMap<Option<IpAddr>, Listener>,
    /// Peers whose TCP MD5 key is installed on every listening socket, with the key.
    keys: BTreeMap<IpAddr, Vec<u8>>,
    /// Where accepted connections go.
    incoming: mpsc::Sender<Incoming>,
}

impl Listening {
    /// Not listening yet; accepted connections will be sent to `incoming`.
    pub(crate) fn new(incoming: mpsc::Sender<Incoming>) -> Self {
        Self {
            port: None,
            addresses: Vec::new(),
            listeners: BTreeMap::new(),
            keys: BTreeMap::new(),
            incoming,
        }
    }

    /// Listens on `port` at each of `addresses` (the wildcard when empty), re-binding when
    /// either changed and retrying binds that failed before, and installs exactly `keys`, the
    /// MD5 key of every peer that has one, on every socket.
    pub(crate) async fn sync(
        &mut self,
        port: Option<u16>,
        addresses: Vec<IpAddr>,
        keys: BTreeMap<IpAddr, Vec<u8>>,
    ) {
        self.sync_sockets(port, addresses).await;
        self.sync_keys(keys);
    }

    /// Stops listening.
    pub(crate) fn close(&mut self) {
        for listener in std::mem::take(&mut self.listeners).into_values() {
            listener.task.abort();
        }
    }

    /// The addresses the sockets should be bound to (`None` = the wildcard).
    fn wanted(&self) -> Vec<Option<IpAddr>> {
        if self.addresses.is_empty() {
            vec![None]
        } else {
            self.addresses.iter().copied().map(Some).collect()
        }
    }

    async fn sync_sockets(&mut self, port: Option<u16>, mut addresses: Vec<IpAddr>) {
        addresses.sort();
        addresses.dedup();
        if port != self.port || addresses != self.addresses {
            // Wait until the old sockets are closed: a new socket on the same port would
            // otherwise collide with them (a wildcard bind fails while 127.0.0.1:port listens).
            for listener in std::mem::take(&mut self.listeners).into_values() {
                listener.task.abort();
                let _ = listener.task.await;
            }
            self.keys.clear();
            self.port = port;
            self.addresses = addresses;
        }
        let Some(port) = port else { return };
        for address in self.wanted() {
            if self.listeners.contains_key(&address) {
                continue;
            }
            match spawn(address, port, self.incoming.clone()).await {
                Ok(listener) => {
                    // Keys installed on the other sockets must be on this one too.
                    for (peer, key) in &self.keys {
                        install_key(address, &listener, *peer, Some(key));
                    }
                    self.listeners.insert(address, listener);
                }
                Err(error) => {
                    let address = address.map_or_else(|| "*".to_owned(), |a| a.to_string());
                    tracing::error!(%address, port, %error, "cannot listen for BGP sessions there; only outgoing sessions will work for peers that reach this node on that address")
                }
            }
        }
    }

    /// Installs the TCP MD5 key of every peer that has one on every listening socket (the
    /// kernel drops unsigned SYNs from those peers) and removes keys of peers that no
    /// longer have one.
    fn sync_keys(&mut self, keys: BTreeMap<IpAddr, Vec<u8>>) {
        for (address, listener) in &self.listeners {
            for (peer, key) in &keys {
                if self.keys.get(peer) != Some(key) {
                    install_key(*address, listener, *peer, Some(key));
                }
            }
            for peer in self.keys.keys().filter(|p| !keys.contains_key(*p)) {
                install_key(*address, listener, *peer, None);
            }
        }
        self.keys = keys;
    }
}

/// Sets (or with `None` removes) one peer's TCP MD5 key on the listening socket bound to
/// `address` (`None`: the wildcard). A socket bound to an address of the other family never
/// sees that peer, so it gets no key.
fn install_key(address: Option<IpAddr>, listener: &Listener, peer: IpAddr, key: Option<&Vec<u8>>) {
    if address.is_some_and(|a| a.is_ipv4() != peer.is_ipv4()) {
        return;
    }
    let result = porter_sys::set_tcp_md5(listener.socket.as_ref(), peer, key.map(Vec::as_slice));
    if let Err(error) = result
        && key.is_some()
    {
        tracing::error!(%peer, %error, "cannot install the TCP MD5 key on the listener; the peer cannot connect to us");
    }
}

/// Binds the BGP port on `address`, or on every address when `None` (dual-stack where the kernel
/// allows it), and forwards accepted connections. Returns the bind error so the caller can report
/// it.
async fn spawn(
    address: Option<IpAddr>,
    port: u16,
    tx: mpsc::Sender<Incoming>,
) -> std::io::Result<Listener> {
    let listener = match address {
        Some(address) => TcpListener::bind(SocketAddr::new(address, port)).await?,
        None => match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
            .await
        {
            Ok(l) => l,
            // No IPv6 on this host: fall back to IPv4 only.
            Err(_) => {
                TcpListener::bind(SocketAddr::new(
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    port,
                ))
                .await?
            }
        },
    };
    let local = listener.local_addr()?;
    tracing::info!(%local, "listening for BGP sessions");
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
