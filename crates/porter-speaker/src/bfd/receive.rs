//! The receiving side of BFD: one UDP socket per family and kind (single hop on port 3784,
//! multihop on 4784), shared by every session, and the table that hands each packet to its
//! session (RFC 5880 §6.8.6: by Your Discriminator, or by source address while the peer does
//! not know ours yet).
//!
//! Receiving runs in tasks of its own, never behind the speaker's plan handling: a BFD packet
//! held up for a Detection Time would take a healthy session down.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use porter_bfd::{MULTIHOP_PORT, Packet, SINGLE_HOP_PORT, SINGLE_HOP_TTL};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Which receiving socket: the family and single hop or multihop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Kind {
    pub(crate) ipv6: bool,
    pub(crate) multihop: bool,
}

impl Kind {
    pub(crate) fn of(peer: IpAddr, multihop: bool) -> Kind {
        Kind {
            ipv6: peer.is_ipv6(),
            multihop,
        }
    }

    /// The UDP port peers send this kind of packet to.
    pub(crate) fn port(self) -> u16 {
        if self.multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        }
    }
}

struct Registered {
    peer: IpAddr,
    multihop: bool,
    packets: mpsc::Sender<Packet>,
}

#[derive(Default)]
struct Table {
    by_discriminator: HashMap<u32, Registered>,
    by_peer: HashMap<(IpAddr, bool), u32>,
}

/// Where received packets go: each session registers its discriminator and peer.
#[derive(Clone, Default)]
pub(crate) struct Demux(Arc<Mutex<Table>>);

impl Demux {
    /// Registers a session; `false` when the discriminator is taken (pick another).
    pub(crate) fn register(
        &self,
        discriminator: u32,
        peer: IpAddr,
        multihop: bool,
        packets: mpsc::Sender<Packet>,
    ) -> bool {
        let mut table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if discriminator == 0 || table.by_discriminator.contains_key(&discriminator) {
            return false;
        }
        table.by_peer.insert((peer, multihop), discriminator);
        table.by_discriminator.insert(
            discriminator,
            Registered {
                peer,
                multihop,
                packets,
            },
        );
        true
    }

    /// Forgets a session.
    pub(crate) fn unregister(&self, discriminator: u32) {
        let mut table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gone) = table.by_discriminator.remove(&discriminator) {
            let key = (gone.peer, gone.multihop);
            if table.by_peer.get(&key) == Some(&discriminator) {
                table.by_peer.remove(&key);
            }
        }
    }

    /// Hands `packet` from `source` to its session; a packet for no session, or from another
    /// address than its session's peer, is dropped (RFC 5881 §4 ties a session to its
    /// addresses). A full queue drops too: BFD is built to lose packets.
    fn route(&self, source: IpAddr, multihop: bool, packet: Packet) -> bool {
        let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let discriminator = if packet.your_discriminator != 0 {
            packet.your_discriminator
        } else {
            match table.by_peer.get(&(source, multihop)) {
                Some(d) => *d,
                None => return false,
            }
        };
        match table.by_discriminator.get(&discriminator) {
            Some(r) if r.peer == source && r.multihop == multihop => {
                r.packets.try_send(packet).is_ok()
            }
            _ => false,
        }
    }
}

/// The receiving sockets opened so far (one per [`Kind`]), kept for the speaker's lifetime.
#[derive(Default)]
pub(crate) struct Receivers {
    open: BTreeSet<Kind>,
    tasks: Vec<JoinHandle<()>>,
}

impl Receivers {
    /// Opens the socket of `kind` unless it is open. An error (the port is taken, e.g. by a
    /// routing daemon's BFD on the same host) is returned for the sessions to report; the
    /// next plan tries again.
    pub(crate) fn ensure(&mut self, kind: Kind, demux: &Demux) -> io::Result<()> {
        if self.open.contains(&kind) {
            return Ok(());
        }
        let socket = bind(kind)?;
        tracing::info!(port = kind.port(), ipv6 = kind.ipv6, "BFD listening");
        self.open.insert(kind);
        self.tasks
            .push(tokio::spawn(receive(socket, kind, demux.clone())));
        Ok(())
    }

    /// Closes every receiving socket.
    pub(crate) fn close(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.open.clear();
    }
}

fn bind(kind: Kind) -> io::Result<UdpSocket> {
    let (domain, any) = if kind.ipv6 {
        (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    } else {
        (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if kind.ipv6 {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(any, kind.port()).into())?;
    porter_sys::report_ttl(&socket, kind.ipv6)?;
    UdpSocket::from_std(socket.into())
}

async fn receive(socket: UdpSocket, kind: Kind, demux: Demux) {
    let mut buf = [0u8; 512];
    loop {
        let got = socket
            .async_io(Interest::READABLE, || {
                porter_sys::recv_with_ttl(&socket, &mut buf)
            })
            .await;
        let (n, source, ttl) = match got {
            Ok(got) => got,
            Err(error) => {
                // Transient on an unconnected socket; the pause keeps a lasting one from
                // spinning a core.
                tracing::debug!(%error, "BFD receive error");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // RFC 5881 §5: a single-hop packet must arrive with TTL 255, so it was sent on this
        // link and not forged from afar.
        if !kind.multihop && ttl != Some(SINGLE_HOP_TTL) {
            tracing::debug!(%source, ?ttl, "BFD packet with a TTL below 255 dropped");
            continue;
        }
        match Packet::decode(&buf[..n]) {
            Ok(packet) => {
                if !demux.route(source.ip().to_canonical(), kind.multihop, packet) {
                    tracing::trace!(%source, "BFD packet for no session dropped");
                }
            }
            Err(error) => tracing::debug!(%source, %error, "malformed BFD packet dropped"),
        }
    }
}
