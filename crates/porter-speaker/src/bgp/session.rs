//! One BGP session: a tokio task that moves bytes and time in and out of the sans-IO core.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use porter_bgp::{Action, Event, Jitter, Routes, Session, State, StopReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::spec::SessionSpec;
use super::status::{PeerStatus, Timers};
use crate::bfd::Path;
use crate::status::{Protocol, StatusBoard};
use crate::supervisor::Stop;

/// How long a write may block (peer not reading) before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the BGP part tells a session task.
pub(crate) enum Command {
    /// Replace the set of announced prefixes (the BGP part's map, shared by every session).
    SetRoutes(Arc<Routes>),
    /// The peer opened a connection to us.
    Incoming(TcpStream, SocketAddr),
    /// End the session and the task, as [`goodbye`] says: at [`Stop::Shutdown`] with graceful
    /// restart negotiated, close without NOTIFICATION so the peer keeps our routes while
    /// Porter restarts; otherwise drain first (RFC 8326) when Established, then withdraw and
    /// say goodbye with NOTIFICATION Cease.
    Stop(Stop),
}

impl From<Stop> for Command {
    fn from(why: Stop) -> Self {
        Command::Stop(why)
    }
}

/// Starts a session task; it runs until it is told to stop or `commands` closes. `path` is
/// BFD's verdict on the path to the peer ([`Path::Unmonitored`] for ever without BFD). At the
/// speaker's shutdown it drains for `drain` (see [`goodbye`]).
pub(crate) fn spawn(
    spec: SessionSpec,
    routes: Arc<Routes>,
    board: StatusBoard,
    commands: mpsc::Receiver<Command>,
    path: watch::Receiver<Path>,
    drain: Duration,
) -> tokio::task::JoinHandle<()> {
    let span = tracing::info_span!("session", peer = %spec.config.peer_addr, peer_asn = spec.config.peer_as);
    tokio::spawn(tracing::Instrument::instrument(
        run(spec, routes, commands, board, path, drain),
        span,
    ))
}

type Connecting = Pin<Box<dyn Future<Output = std::io::Result<TcpStream>> + Send>>;

struct Io {
    reader: Option<OwnedReadHalf>,
    writer: Option<OwnedWriteHalf>,
    connecting: Option<Connecting>,
    /// A connection the peer opened, held while the core decides on it (within one drain).
    offered: Option<TcpStream>,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn run(
    spec: SessionSpec,
    routes: Arc<Routes>,
    mut rx: mpsc::Receiver<Command>,
    board: StatusBoard,
    mut path: watch::Receiver<Path>,
    drain: Duration,
) {
    let mut core = Session::with_jitter(spec.config.clone(), Jitter::seeded(crate::seed()));
    core.handle(now(), Event::SetRoutes(routes));
    // Held down while BFD says the path failed: no session over a path proven dead, until
    // BFD is up again, or for one hold time at most, so a router whose BFD went away without
    // a word (no AdminDown) cannot keep the session down for ever. A path not yet proven does
    // not hold the session: a router without BFD for this node (a configuration slip) would
    // otherwise cost the node its traffic; the session is reported as not up instead.
    let hold = Duration::from_secs(u64::from(spec.config.hold_time.max(3)));
    let mut held_until = None;
    if *path.borrow_and_update() == Path::Failed {
        tracing::warn!("BFD says the path to the peer failed; the session waits for BFD");
        held_until = Some(Instant::now() + hold);
    } else {
        core.handle(now(), Event::Start);
    }
    let mut path_open = true;
    let mut io = Io {
        reader: None,
        writer: None,
        connecting: None,
        offered: None,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut stopping = false;
    // Set while draining (RFC 8326): when the drain time is over.
    let mut drain_until: Option<Instant> = None;
    let mut last_status = None;
    loop {
        carry_out(&mut core, &mut io, &spec, stopping || drain_until.is_some()).await;
        if drain_until.is_some() && core.state() != State::Established {
            // The connection went while draining: the peer dropped the routes already.
            core.handle(now(), Event::Stop(StopReason::AdministrativeShutdown));
            drain_until = None;
            stopping = true;
            carry_out(&mut core, &mut io, &spec, stopping).await;
        }
        let status = status_of(&core);
        if last_status.as_ref() != Some(&status) {
            board.set_bgp(&spec.name, status.clone());
            last_status = Some(status);
        }
        if stopping {
            break;
        }
        let deadline = core.poll_timeout().map(Instant::from_std);
        tokio::select! {
            command = rx.recv() => match command {
                None => {
                    core.handle(now(), Event::Stop(StopReason::AdministrativeShutdown));
                    stopping = true;
                }
                Some(Command::Stop(why)) => match goodbye(why, &core, drain) {
                    Goodbye::Drain => {
                        tracing::info!(drain = ?drain, "graceful shutdown (RFC 8326): draining, then withdrawing");
                        core.handle(now(), Event::GracefulShutdown);
                        drain_until = Some(Instant::now() + drain);
                    }
                    Goodbye::Now(event) => {
                        core.handle(now(), event);
                        stopping = true;
                    }
                },
                Some(Command::SetRoutes(routes)) => core.handle(now(), Event::SetRoutes(routes)),
                Some(Command::Incoming(stream, remote)) => offer(&mut core, &mut io, &spec, stream, remote),
            },
            result = async { io.connecting.as_mut().expect("guarded by the branch condition").await }, if io.connecting.is_some() => {
                io.connecting = None;
                match result {
                    Ok(stream) => attach(&mut core, &mut io, stream),
                    Err(error) => {
                        tracing::debug!(%error, "connect failed");
                        core.handle(now(), Event::TcpConnectFailed);
                    }
                }
            },
            read = async { io.reader.as_mut().expect("guarded by the branch condition").read(&mut buf).await }, if io.reader.is_some() => {
                match read {
                    Ok(0) | Err(_) => {
                        io.reader = None;
                        io.writer = None;
                        core.handle(now(), Event::TcpClosed);
                    }
                    Ok(n) => core.handle(now(), Event::Received(Bytes::copy_from_slice(&buf[..n]))),
                }
            },
            () = sleep_until(deadline), if deadline.is_some() => core.handle_timeout(now()),
            // Not while draining: the session is on its way out.
            changed = path.changed(), if path_open && drain_until.is_none() => {
                if changed.is_err() {
                    path_open = false;
                    continue;
                }
                let verdict = *path.borrow_and_update();
                if verdict == Path::Failed && held_until.is_none() {
                    tracing::warn!("BFD says the path to the peer failed; session down until BFD is up");
                    core.handle(now(), Event::Stop(StopReason::BfdDown));
                    held_until = Some(Instant::now() + hold);
                } else if verdict != Path::Failed && held_until.is_some() {
                    tracing::info!(?verdict, "BFD no longer holds the session; starting it");
                    core.handle(now(), Event::Start);
                    held_until = None;
                }
            },
            () = sleep_until(held_until), if held_until.is_some() && drain_until.is_none() => {
                tracing::warn!(held = ?hold, "BFD still down after a hold time; starting the session without it");
                core.handle(now(), Event::Start);
                held_until = None;
            },
            () = sleep_until(drain_until), if drain_until.is_some() => {
                // Drained: withdraw explicitly, then Cease.
                core.handle(now(), Event::SetRoutes(Arc::default()));
                core.handle(now(), Event::Stop(StopReason::AdministrativeShutdown));
                stopping = true;
            },
        }
    }
    board.remove(Protocol::Bgp, &spec.name);
}

/// How a session ends when its task is told to stop.
#[derive(Debug, PartialEq, Eq)]
enum Goodbye {
    /// Graceful shutdown (RFC 8326) for the drain time, then withdraw and Cease 6/2.
    Drain,
    /// Tell the core this at once.
    Now(Event),
}

/// How a session says goodbye when told to stop.
///
/// At the speaker's shutdown a SIGTERM cannot tell an upgrade from a removal, so the peer's
/// own choice decides: with graceful restart negotiated (RFC 4724) the session closes without
/// a word and the peer keeps our routes, as stale, until the restarted speaker re-announces
/// them (an upgrade moves no traffic); an operator who wants the drain on every stop turns
/// graceful restart off for that peer. Without it, an Established session drains (RFC 8326)
/// for `drain` before withdrawing, so the routers move traffic off this node while its path
/// still works. A removed or changed peer says why at once, with the Cease subcode RFC 4486
/// gives it.
fn goodbye(why: Stop, core: &Session, drain: Duration) -> Goodbye {
    match why {
        Stop::Shutdown if core.graceful_restart_negotiated() => Goodbye::Now(Event::StopForRestart),
        Stop::Shutdown if core.state() == State::Established && !drain.is_zero() => Goodbye::Drain,
        Stop::Shutdown => Goodbye::Now(Event::Stop(StopReason::AdministrativeShutdown)),
        Stop::Removed => Goodbye::Now(Event::Stop(StopReason::PeerDeconfigured)),
        Stop::Changed => Goodbye::Now(Event::Stop(StopReason::AdministrativeReset)),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Offers a connection the peer opened to the core, which answers it (accept or reject with a
/// NOTIFICATION) in the actions the next drain carries out.
fn offer(
    core: &mut Session,
    io: &mut Io,
    spec: &SessionSpec,
    stream: TcpStream,
    remote: SocketAddr,
) {
    if let Err(error) = spec.transport.secure_accepted(&stream) {
        tracing::warn!(%remote, %error, "cannot set the TTL of an accepted connection; refused");
        return;
    }
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let local = SocketAddr::new(local.ip().to_canonical(), local.port());
    io.offered = Some(stream);
    core.handle(now(), Event::Incoming { local, remote });
}

/// Writes `bytes` (a NOTIFICATION) to a connection that will not be served, and closes it,
/// without holding up the caller: a peer that does not read cannot stall the session.
pub(crate) fn refuse(mut stream: TcpStream, bytes: Bytes) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
            stream.write_all(&bytes).await?;
            stream.shutdown().await
        })
        .await;
    });
}

/// Hands a connected stream to the core.
fn attach(core: &mut Session, io: &mut Io, stream: TcpStream) {
    let addrs = stream
        .local_addr()
        .and_then(|l| Ok((l, stream.peer_addr()?)));
    let Ok((local, remote)) = addrs else {
        core.handle(now(), Event::TcpConnectFailed);
        return;
    };
    let local = SocketAddr::new(local.ip().to_canonical(), local.port());
    let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
    install(io, stream);
    core.handle(now(), Event::TcpConnected { local, remote });
}

/// Splits a connected stream into the session's halves (no event: the core already knows).
fn install(io: &mut Io, stream: TcpStream) {
    // BGP messages are small and latency matters for convergence: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    io.reader = Some(reader);
    io.writer = Some(writer);
}

/// Carries out every action the core asks for, in order.
async fn carry_out(core: &mut Session, io: &mut Io, spec: &SessionSpec, stopping: bool) {
    while let Some(action) = core.poll_action() {
        match action {
            Action::Connect => {
                let target = SocketAddr::new(spec.config.peer_addr, spec.port);
                let transport = spec.transport.clone();
                io.connecting = Some(Box::pin(async move { transport.dial(target).await }));
            }
            Action::Send(bytes) => {
                let Some(writer) = io.writer.as_mut() else {
                    continue;
                };
                let written = tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&bytes)).await;
                if !matches!(written, Ok(Ok(()))) {
                    io.reader = None;
                    io.writer = None;
                    core.handle(now(), Event::TcpClosed);
                }
            }
            Action::Close => {
                // Close also abandons a dial still in progress.
                io.connecting = None;
                if let Some(mut writer) = io.writer.take() {
                    let _ = writer.shutdown().await;
                }
                io.reader = None;
            }
            Action::AcceptIncoming => {
                if let Some(stream) = io.offered.take() {
                    io.connecting = None;
                    install(io, stream);
                }
            }
            Action::RejectIncoming(bytes) => {
                if let Some(stream) = io.offered.take() {
                    refuse(stream, bytes);
                }
            }
            Action::StateChanged { from, to, reason } => {
                if to == State::Established {
                    tracing::info!(%from, %to, "session established");
                } else if from == State::Established && stopping {
                    tracing::info!(%from, %to, %reason, "session closed");
                } else if from == State::Established {
                    tracing::warn!(%from, %to, %reason, "session down");
                } else {
                    tracing::debug!(%from, %to, %reason, "session state changed");
                }
            }
        }
    }
}

fn status_of(core: &Session) -> PeerStatus {
    let stats = core.stats();
    PeerStatus {
        address: core.config().peer_addr,
        peer_as: core.config().peer_as,
        state: core.state(),
        established_since: stats.established_since,
        advertised: stats.prefixes_advertised,
        received: stats.prefixes_received,
        flaps: stats.flaps,
        last_error: stats.last_error.clone(),
        timers: match core.state() {
            State::OpenConfirm | State::Established => Some(Timers {
                hold_time: core.negotiated_hold_time().unwrap_or_default(),
                keepalive: core.negotiated_keepalive().unwrap_or_default(),
            }),
            _ => None,
        },
        bfd: None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use porter_bgp::{GracefulRestart, SessionConfig};

    use super::*;

    fn peer_addr() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254))
    }

    /// A session in `state` (Established through a scripted OPEN exchange when asked), with
    /// graceful restart configured when `gr` and offered by the peer when `peer_gr`.
    fn session(established: bool, gr: bool, peer_gr: bool) -> Session {
        let mut config = SessionConfig::new(64513, Ipv4Addr::new(10, 0, 0, 1), 64512, peer_addr());
        config.graceful_restart = gr.then_some(GracefulRestart {
            restart_time: 120,
            restarting: true,
        });
        let mut core = Session::new(config);
        let t = now();
        core.handle(t, Event::Start);
        if established {
            core.handle(
                t,
                Event::TcpConnected {
                    local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
                    remote: SocketAddr::new(peer_addr(), 179),
                },
            );
            let mut open = porter_bgp::wire::Open::local(64512, Ipv4Addr::new(10, 0, 0, 254), 90);
            if peer_gr {
                open.graceful_restart = Some(porter_bgp::wire::GracefulRestartCap {
                    restart_time: 120,
                    restarting: false,
                    families: Default::default(),
                });
            }
            let open = porter_bgp::wire::encode_open(&open).expect("OPEN encodes");
            core.handle(t, Event::Received(open));
            core.handle(t, Event::Received(porter_bgp::wire::encode_keepalive()));
            assert_eq!(core.state(), State::Established);
        }
        core
    }

    #[test]
    fn shutdown_drains_unless_graceful_restart_was_negotiated() {
        let drain = Duration::from_secs(5);
        let cases = [
            // established, GR configured, GR offered by the peer -> goodbye
            (true, false, false, Goodbye::Drain),
            (true, true, false, Goodbye::Drain),
            (true, false, true, Goodbye::Drain),
            (true, true, true, Goodbye::Now(Event::StopForRestart)),
            (
                false,
                false,
                false,
                Goodbye::Now(Event::Stop(StopReason::AdministrativeShutdown)),
            ),
        ];
        for (established, gr, peer_gr, expected) in cases {
            let core = session(established, gr, peer_gr);
            assert_eq!(
                goodbye(Stop::Shutdown, &core, drain),
                expected,
                "established {established}, GR {gr}, peer GR {peer_gr}"
            );
        }
        let core = session(true, false, false);
        assert_eq!(
            goodbye(Stop::Shutdown, &core, Duration::ZERO),
            Goodbye::Now(Event::Stop(StopReason::AdministrativeShutdown)),
            "drain time 0: Cease at once"
        );
        assert_eq!(
            goodbye(Stop::Removed, &core, drain),
            Goodbye::Now(Event::Stop(StopReason::PeerDeconfigured))
        );
        assert_eq!(
            goodbye(Stop::Changed, &core, drain),
            Goodbye::Now(Event::Stop(StopReason::AdministrativeReset))
        );
    }
}
