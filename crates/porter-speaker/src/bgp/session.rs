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
    /// End the session and the task. At [`Stop::Shutdown`] with graceful restart configured,
    /// close without NOTIFICATION so the peer keeps our routes while Porter restarts;
    /// otherwise say goodbye with NOTIFICATION Cease so the peer withdraws them at once.
    Stop(Stop),
}

impl From<Stop> for Command {
    fn from(why: Stop) -> Self {
        Command::Stop(why)
    }
}

/// Starts a session task; it runs until it is told to stop or `commands` closes. `path` is
/// BFD's verdict on the path to the peer ([`Path::Unmonitored`] for ever without BFD).
pub(crate) fn spawn(
    spec: SessionSpec,
    routes: Arc<Routes>,
    board: StatusBoard,
    commands: mpsc::Receiver<Command>,
    path: watch::Receiver<Path>,
) -> tokio::task::JoinHandle<()> {
    let span = tracing::info_span!("session", peer = %spec.config.peer_addr, peer_asn = spec.config.peer_as);
    tokio::spawn(tracing::Instrument::instrument(
        run(spec, routes, commands, board, path),
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
) {
    let mut core = Session::with_jitter(spec.config.clone(), Jitter::seeded(crate::seed()));
    core.handle(now(), Event::SetRoutes(routes));
    // Held down while BFD says the path failed: no session over a path proven dead, until
    // BFD is up again, or for one hold time at most, so a router whose BFD went away without
    // a word (no AdminDown) cannot keep the session down for ever. A path not yet proven does
    // not hold the session, since some routers start BFD only once BGP is up.
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
    let mut last_status = None;
    loop {
        drain(&mut core, &mut io, &spec, stopping).await;
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
                Some(Command::Stop(why)) => {
                    core.handle(now(), stop_event(why, spec.graceful_restart()));
                    stopping = true;
                }
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
            changed = path.changed(), if path_open => {
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
            () = sleep_until(held_until), if held_until.is_some() => {
                tracing::warn!(held = ?hold, "BFD still down after a hold time; starting the session without it");
                core.handle(now(), Event::Start);
                held_until = None;
            },
        }
    }
    board.remove(Protocol::Bgp, &spec.name);
}

/// What the session is told when its task is told to stop: a restart under graceful restart
/// closes without a word (the peer keeps our routes); anything else says why, with the Cease
/// subcode RFC 4486 gives it.
fn stop_event(why: Stop, graceful_restart: bool) -> Event {
    match why {
        Stop::Shutdown if graceful_restart => Event::StopForRestart,
        Stop::Shutdown => Event::Stop(StopReason::AdministrativeShutdown),
        Stop::Removed => Event::Stop(StopReason::PeerDeconfigured),
        Stop::Changed => Event::Stop(StopReason::AdministrativeReset),
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
async fn drain(core: &mut Session, io: &mut Io, spec: &SessionSpec, stopping: bool) {
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
