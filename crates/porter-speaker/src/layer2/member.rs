//! The membership task: one UDP socket on the membership port, porter-member's [`Membership`]
//! driven by it, the alive set published for planning and the state posted on the board.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU64;
use std::time::Instant as StdInstant;

use porter_member::{Config, Key, Membership};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{MemberView, MembershipStatus};
use crate::status::{Protocol, Status, StatusBoard};

/// What the membership task is told.
#[derive(Debug)]
pub(super) enum Command {
    /// The plan's members (node name, address).
    Members(BTreeMap<String, IpAddr>),
    /// The Secret's keys, the one to send with first.
    Keys(Vec<Key>),
    /// Say goodbye to every member and end.
    Leave,
}

/// Where the socket listens and where members are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberSocket {
    /// The local address to bind (unspecified: every address, both families when it is `::`).
    pub bind: IpAddr,
    /// The membership port, on this node and every member.
    pub port: u16,
}

impl Default for MemberSocket {
    /// `[::]:7947`, falling back to `0.0.0.0:7947` where IPv6 is off.
    fn default() -> Self {
        Self {
            bind: Ipv6Addr::UNSPECIFIED.into(),
            port: porter_member::PORT,
        }
    }
}

/// A boot id from OS entropy (std's randomly keyed hasher, as [`crate::seed`]): what tells a
/// restarted speaker's messages from its previous life's.
fn boot() -> NonZeroU64 {
    loop {
        if let Some(id) = NonZeroU64::new(crate::seed()) {
            return id;
        }
    }
}

/// Binds the membership socket: dual-stack on `::` (IPv4 members as v4-mapped), or exactly
/// what `at` says.
fn bind(at: MemberSocket) -> std::io::Result<UdpSocket> {
    let address = SocketAddr::new(at.bind, at.port);
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
    if address.is_ipv6() && at.bind.is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    match socket.bind(&address.into()) {
        Err(e) if at.bind == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => {
            // No IPv6 on this node: IPv4 members only.
            let v4 = MemberSocket {
                bind: std::net::Ipv4Addr::UNSPECIFIED.into(),
                port: at.port,
            };
            tracing::debug!(error = %e, "membership: no IPv6 socket, IPv4 only");
            return bind(v4);
        }
        other => other?,
    }
    UdpSocket::from_std(socket.into())
}

/// Starts the membership of node `me` with `key`; the alive set goes to `alive` (emptied when
/// the task ends: a speaker that hears nobody answers for nothing), its state to `board`.
pub(super) fn spawn(
    me: String,
    key: Key,
    at: MemberSocket,
    alive: watch::Sender<BTreeSet<String>>,
    board: StatusBoard,
    mut commands: mpsc::Receiver<Command>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut membership =
            Membership::new(Config::default(), &me, boot(), key, StdInstant::now());
        let mut status = MembershipStatus::default();
        let socket = loop {
            match bind(at) {
                Ok(socket) => break socket,
                Err(e) => {
                    let why = format!("cannot listen on UDP port {}: {e}", at.port);
                    if status.last_error.as_deref() != Some(&why) {
                        tracing::warn!("layer 2 membership: {why}; retrying");
                        status.last_error = Some(why);
                        board.set(&me, Status::Membership(status.clone()));
                    }
                    tokio::select! {
                        command = commands.recv() => match command {
                            Some(Command::Leave) | None => {
                                board.remove(Protocol::Membership, &me);
                                return;
                            }
                            Some(other) => apply(&mut membership, other),
                        },
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        status.last_error = None;
        post(&membership, &mut status, &board, &me);
        let v6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
        let mut buf = vec![0u8; 2048];
        // What changes without a membership change (who is heard, datagrams ignored) is
        // posted once a second.
        let mut refresh = tokio::time::interval(std::time::Duration::from_secs(1));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let wake = membership.poll_timeout().map(Instant::from_std);
            tokio::select! {
                _ = refresh.tick() => post(&membership, &mut status, &board, &me),
                command = commands.recv() => match command {
                    Some(Command::Leave) | None => {
                        membership.leave(StdInstant::now());
                        flush(&socket, &mut membership, at.port, v6).await;
                        break;
                    }
                    Some(other) => apply(&mut membership, other),
                },
                received = socket.recv_from(&mut buf) => match received {
                    Ok((n, _)) => {
                        if let Err(why) = membership.handle_packet(StdInstant::now(), &buf[..n]) {
                            status.ignored += 1;
                            tracing::trace!(%why, "membership datagram ignored");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "membership: receive failed"),
                },
                () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    membership.handle_timeout(StdInstant::now());
                }
            }
            flush(&socket, &mut membership, at.port, v6).await;
            let mut changed = false;
            while let Some(change) = membership.poll_change() {
                changed = true;
                tracing::info!(node = %change.node, alive = change.alive, why = ?change.why, "layer 2 membership changed");
            }
            if changed {
                let now: BTreeSet<String> = membership.alive().map(str::to_owned).collect();
                alive.send_if_modified(|set| {
                    if *set == now {
                        return false;
                    }
                    *set = now;
                    true
                });
                post(&membership, &mut status, &board, &me);
            }
        }
        alive.send_if_modified(|set| {
            let had = !set.is_empty();
            set.clear();
            had
        });
        board.remove(Protocol::Membership, &me);
    })
}

fn apply(membership: &mut Membership, command: Command) {
    match command {
        Command::Members(members) => membership.set_members(
            StdInstant::now(),
            members.iter().map(|(name, ip)| (name.as_str(), *ip)),
        ),
        Command::Keys(keys) => membership.set_keys(keys),
        Command::Leave => {}
    }
}

/// Sends every datagram the membership has for its members.
async fn flush(socket: &UdpSocket, membership: &mut Membership, port: u16, v6: bool) {
    while let Some(transmit) = membership.poll_transmit() {
        let to = match transmit.to {
            IpAddr::V4(v4) if v6 => IpAddr::V6(v4.to_ipv6_mapped()),
            other => other,
        };
        if let Err(e) = socket
            .send_to(&transmit.payload, SocketAddr::new(to, port))
            .await
        {
            tracing::debug!(node = %transmit.node, error = %e, "membership: send failed");
        }
    }
}

fn post(membership: &Membership, status: &mut MembershipStatus, board: &StatusBoard, me: &str) {
    status.ready = membership.ready();
    status.isolated = membership.isolated();
    status.alive = membership.alive().map(str::to_owned).collect();
    status.members = membership
        .members()
        .map(|m| MemberView {
            node: m.node.to_owned(),
            addr: m.addr,
            alive: m.alive,
            heard: m.heard,
            left: m.left,
        })
        .collect();
    board.set(me, Status::Membership(status.clone()));
}
