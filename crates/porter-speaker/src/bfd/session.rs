//! One BFD session: a tokio task that moves packets and time in and out of the porter-bfd
//! core, and posts its verdict for the BGP session it protects.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use porter_bfd::{Change, Config, Jitter, SINGLE_HOP_TTL, Session, State};
use socket2::{Domain, Protocol as IpProtocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::path::{Path, Paths};
use super::receive::{Demux, Kind};
use super::spec::BfdSpec;
use super::status::BfdStatus;
use crate::status::{Protocol, Status, StatusBoard};
use crate::supervisor::Stop;

/// How long to wait before trying again to open a session's socket.
const RETRY: Duration = Duration::from_secs(5);

/// What the BFD part tells a session task.
pub(crate) enum Command {
    /// End the session, whatever the reason: the peer is told AdminDown, so it does not take
    /// its BGP session down (RFC 5882 §3.2) for what is a choice, not a failure.
    Stop,
}

impl From<Stop> for Command {
    fn from(_: Stop) -> Self {
        Command::Stop
    }
}

/// What a session task shares with the rest of the BFD part.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) demux: Demux,
    pub(crate) paths: Paths,
    pub(crate) board: StatusBoard,
}

/// Starts a session task with `discriminator` (registered by the task; unique on the node).
pub(crate) fn spawn(
    spec: BfdSpec,
    discriminator: u32,
    shared: Shared,
    commands: mpsc::Receiver<Command>,
) -> tokio::task::JoinHandle<()> {
    let span = tracing::info_span!("bfd", peer = %spec.peer);
    tokio::spawn(tracing::Instrument::instrument(
        run(spec, discriminator, shared, commands),
        span,
    ))
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn run(
    spec: BfdSpec,
    discriminator: u32,
    shared: Shared,
    mut commands: mpsc::Receiver<Command>,
) {
    let (packets_tx, mut packets) = mpsc::channel(64);
    if !shared
        .demux
        .register(discriminator, spec.peer, spec.multihop, packets_tx)
    {
        tracing::error!(
            discriminator,
            "BFD discriminator already in use; session not started"
        );
        return;
    }
    shared.paths.set(&spec.name, Path::Unproven);
    let socket = loop {
        match open(&spec) {
            Ok(socket) => break Some(socket),
            Err(error) => {
                tracing::warn!(%error, "cannot open the BFD socket; retrying");
                shared
                    .board
                    .set(&spec.name, Status::Bfd(failed(&spec, &error)));
                tokio::select! {
                    _ = commands.recv() => break None,
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        }
    };
    if let Some(socket) = socket {
        let config = Config {
            local_discriminator: discriminator,
            desired_min_tx: spec.desired_min_tx,
            required_min_rx: spec.required_min_rx,
            detect_mult: spec.detect_mult,
            passive: spec.passive,
        };
        let mut core = Session::new(config, Jitter::seeded(crate::seed()), now());
        let mut last_status = None;
        loop {
            flush(&mut core, &socket).await;
            while let Some(change) = core.poll_change() {
                report(&spec, &shared.paths, &core, change);
            }
            let status = status_of(&spec, &core);
            if last_status.as_ref() != Some(&status) {
                shared.board.set(&spec.name, Status::Bfd(status.clone()));
                last_status = Some(status);
            }
            let deadline = core.poll_timeout().map(Instant::from_std);
            tokio::select! {
                _ = commands.recv() => {
                    core.admin_down(now());
                    flush(&mut core, &socket).await;
                    break;
                }
                Some(packet) = packets.recv() => core.handle_packet(now(), &packet),
                () = sleep_until(deadline), if deadline.is_some() => core.handle_timeout(now()),
            }
        }
    }
    shared.demux.unregister(discriminator);
    shared.paths.set(&spec.name, Path::Unmonitored);
    shared.board.remove(Protocol::Bfd, &spec.name);
}

/// Sends every packet the core has for the peer. A failed send is a lost packet, which BFD
/// tolerates (the detection time covers it).
async fn flush(core: &mut Session, socket: &UdpSocket) {
    while let Some(packet) = core.poll_transmit() {
        if let Err(error) = socket.send(&packet.encode()).await {
            tracing::trace!(%error, "BFD send failed");
        }
    }
}

/// Logs a state change and posts the verdict the BGP session reads.
fn report(spec: &BfdSpec, paths: &Paths, core: &Session, change: Change) {
    let Change { from, to, diag } = change;
    let path = verdict(
        paths.get(&spec.name),
        change,
        core.remote().state == State::AdminDown,
    );
    match (from, to) {
        (_, State::Up) => tracing::info!(%from, %to, "BFD session up"),
        (State::Up, _) if path == Path::Failed => {
            tracing::warn!(%from, %to, %diag, "BFD session down: the path to the peer failed");
        }
        _ => tracing::debug!(%from, %to, %diag, "BFD state changed"),
    }
    paths.set(&spec.name, path);
}

/// The path after `change`, given the path before: Up when BFD is; Failed when it leaves Up,
/// and still Failed until it is Up again (Down → Init after a failure is no recovery); the
/// peer's AdminDown is no failure (RFC 5882 §3.2), nor is our own.
fn verdict(before: Path, change: Change, peer_admin_down: bool) -> Path {
    match change.to {
        State::Up => Path::Up,
        State::Down if change.from == State::Up && !peer_admin_down => Path::Failed,
        State::Down | State::Init if before == Path::Failed && !peer_admin_down => Path::Failed,
        _ => Path::Unproven,
    }
}

/// The session's socket: bound to a source port of RFC 5881 §4's range (the kernel's
/// ephemeral range is not it), connected to the peer's BFD port, sending with TTL 255
/// (single hop requires it; multihop peers count hops down from it).
fn open(spec: &BfdSpec) -> io::Result<UdpSocket> {
    let kind = Kind::of(spec.peer, spec.multihop);
    let (domain, any) = if spec.peer.is_ipv6() {
        (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    } else {
        (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    };
    let local = spec.local.unwrap_or(any);
    let socket = Socket::new(domain, Type::DGRAM, Some(IpProtocol::UDP))?;
    socket.set_nonblocking(true)?;
    if spec.peer.is_ipv6() {
        socket.set_unicast_hops_v6(u32::from(SINGLE_HOP_TTL))?;
    } else {
        socket.set_ttl_v4(u32::from(SINGLE_HOP_TTL))?;
    }
    let ports = porter_bfd::packet::SOURCE_PORTS;
    let span = u32::from(ports.end() - ports.start()) + 1;
    let start = (crate::seed() % u64::from(span)) as u32;
    let mut last = io::Error::other("no source port free");
    for i in 0..span {
        let port = ports.start() + ((start + i) % span) as u16;
        match socket.bind(&SocketAddr::new(local, port).into()) {
            Ok(()) => {
                socket.connect(&SocketAddr::new(spec.peer, kind.port()).into())?;
                return UdpSocket::from_std(socket.into());
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn status_of(spec: &BfdSpec, core: &Session) -> BfdStatus {
    BfdStatus {
        address: spec.peer,
        state: core.state(),
        diag: core.diag(),
        remote_state: core.remote().state,
        detection_time: if core.remote().detect_mult == 0 {
            Duration::ZERO
        } else {
            core.detection_time()
        },
        flaps: core.stats().flaps,
        error: None,
    }
}

fn failed(spec: &BfdSpec, error: &io::Error) -> BfdStatus {
    BfdStatus {
        address: spec.peer,
        state: State::Down,
        diag: porter_bfd::Diag::None,
        remote_state: State::Down,
        detection_time: Duration::ZERO,
        flaps: 0,
        error: Some(format!("cannot open the BFD socket: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use porter_bfd::Diag;

    use super::*;

    fn change(from: State, to: State) -> Change {
        Change {
            from,
            to,
            diag: Diag::None,
        }
    }

    #[test]
    fn only_leaving_up_fails_the_path_and_only_up_clears_it() {
        use Path::*;
        use State::{AdminDown as AD, Down, Init, Up as U};
        let cases = [
            // (before, from, to, peer AdminDown) -> after
            (Unproven, Down, Init, false, Unproven),
            (Unproven, Init, U, false, Up),
            (Up, U, Down, false, Failed),
            (Failed, Down, Init, false, Failed),
            (Failed, Init, U, false, Up),
            // the peer's AdminDown, and ours, are choices, not failures
            (Up, U, Down, true, Unproven),
            (Failed, Down, Init, true, Unproven),
            (Up, U, AD, false, Unproven),
            (Failed, Down, AD, false, Unproven),
            // never up: a session still coming up has failed nothing
            (Unproven, Init, Down, false, Unproven),
        ];
        for (before, from, to, admin, after) in cases {
            assert_eq!(
                verdict(before, change(from, to), admin),
                after,
                "{before:?}: {from} -> {to}, peer AdminDown {admin}"
            );
        }
    }
}
