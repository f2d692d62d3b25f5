//! One interface's responder task: an AF_PACKET socket on the interface (porter-sys), every
//! frame handed to porter-l2's [`Responder`], its answers and announcements sent, the owned
//! addresses kept in step with the plan.
//!
//! AF_PACKET through socket2 and porter-sys rather than pnet_datalink: socket2 is already the
//! speaker's socket crate, it attaches the BPF filter (only ARP and Neighbor Discovery reach
//! the speaker), and the two calls it lacks (`sockaddr_ll`, `PACKET_ADD_MEMBERSHIP`) are a few
//! lines in the one crate allowed `unsafe`; pnet_datalink would bring its own socket, a
//! blocking channel per interface and no filter.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant as StdInstant};

use porter_l2::{Mac, Responder, Verdict, solicited_node};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::ResponderStatus;
use super::link::{self, Link};
use crate::status::{Protocol, Status, StatusBoard};
use crate::supervisor::Stop;

/// How often an interface that cannot be opened is tried again (it may come up later), and
/// how often an open one is checked for a change of index or MAC.
const RETRY: Duration = Duration::from_secs(5);

/// How often the counters are posted while frames arrive: a flood of requests is not a flood
/// of board updates.
const POST_EVERY: Duration = Duration::from_secs(1);

/// What a responder task is told.
#[derive(Debug)]
pub(crate) enum Command {
    /// The addresses to answer for now.
    Own(BTreeSet<IpAddr>),
    /// End (the interface is no longer wanted, or the speaker stops).
    Stop,
}

impl From<Stop> for Command {
    fn from(_: Stop) -> Self {
        Command::Stop
    }
}

/// The socket, its interface and the Ethernet groups joined (by how many owned addresses
/// need each: two IPv6 addresses may share a solicited-node group).
struct Open {
    link: Link,
    socket: AsyncFd<socket2::Socket>,
    groups: BTreeMap<Mac, usize>,
}

impl Open {
    #[allow(
        deprecated,
        reason = "AsyncFd::new is deprecated for types that may hand out a borrowed fd; socket2::Socket owns its fd for the AsyncFd's life, and AsyncFd::register is unsafe, which only porter-sys may use"
    )]
    fn new(link: Link) -> Result<Open, String> {
        let socket = porter_sys::packet_socket(link.index)
            .map_err(|e| format!("cannot open a packet socket on {}: {e}", link.name))?;
        let socket = AsyncFd::new(socket).map_err(|e| format!("{}: {e}", link.name))?;
        Ok(Open {
            link,
            socket,
            groups: BTreeMap::new(),
        })
    }

    fn send(&self, frame: &[u8]) {
        if let Err(e) = porter_sys::send_frame(self.socket.get_ref(), self.link.index, frame) {
            tracing::debug!(interface = %self.link.name, error = %e, "layer 2: send failed");
        }
    }

    /// Joins (`+1`) or leaves (`-1`) the solicited-node group of IPv6 address `addr`.
    fn group(&mut self, addr: IpAddr, join: bool) {
        let IpAddr::V6(v6) = addr else { return };
        let mac = Mac::ipv6_multicast(solicited_node(v6));
        let count = self.groups.entry(mac).or_default();
        let before = *count;
        *count = if join {
            before + 1
        } else {
            before.saturating_sub(1)
        };
        let after = *count;
        if after == 0 {
            self.groups.remove(&mac);
        }
        if (before == 0) != (after == 0) {
            let socket = self.socket.get_ref();
            if let Err(e) = porter_sys::multicast_membership(socket, self.link.index, mac.0, join) {
                tracing::warn!(interface = %self.link.name, %addr, error = %e, "layer 2: cannot change the solicited-node group membership");
            }
        }
    }
}

/// Starts answering on the interface `spec` names (an Eip's `spec.interface`), posting to
/// `board` under `spec`. The interface is resolved again every [`RETRY`]: one that went away,
/// came back with another index or MAC, or (`can_reach:`) moved is opened anew.
pub(super) fn spawn(
    spec: String,
    board: StatusBoard,
    mut commands: mpsc::Receiver<Command>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut task = Task {
            spec,
            board,
            status: ResponderStatus::default(),
            wanted: BTreeSet::new(),
        };
        while let Some(open) = task.open(&mut commands).await {
            match task.answer(open, &mut commands).await {
                Ended::Stopped => break,
                Ended::Reopen(why) => {
                    tracing::warn!(interface = %task.spec, "layer 2: {why}; opening it again");
                    task.status.last_error = Some(why);
                }
            }
        }
        task.board.remove(Protocol::Layer2, &task.spec);
    })
}

/// Why [`Task::answer`] returned.
enum Ended {
    /// Told to stop.
    Stopped,
    /// The socket failed or the interface changed.
    Reopen(String),
}

/// One responder task's state across reopenings of its interface.
struct Task {
    spec: String,
    board: StatusBoard,
    status: ResponderStatus,
    /// The addresses the plan gives this interface, kept while it cannot be opened.
    wanted: BTreeSet<IpAddr>,
}

impl Task {
    /// Resolves and opens the interface, retrying every [`RETRY`] while it cannot; `None`
    /// when told to stop meanwhile.
    async fn open(&mut self, commands: &mut mpsc::Receiver<Command>) -> Option<Open> {
        loop {
            match link::resolve(&self.spec).and_then(Open::new) {
                Ok(open) => return Some(open),
                Err(why) => {
                    if self.status.last_error.as_deref() != Some(&why) {
                        tracing::warn!(interface = %self.spec, "layer 2: {why}; retrying every {RETRY:?}");
                        self.status.last_error = Some(why);
                    }
                    self.status.owned.clear();
                    self.board
                        .set(&self.spec, Status::Layer2(self.status.clone()));
                    tokio::select! {
                        command = commands.recv() => match command {
                            Some(Command::Own(set)) => self.wanted = set,
                            Some(Command::Stop) | None => return None,
                        },
                        () = tokio::time::sleep(RETRY) => {}
                    }
                }
            }
        }
    }

    /// Answers on `open` until told to stop, or until its socket fails or its interface
    /// changes.
    async fn answer(&mut self, mut open: Open, commands: &mut mpsc::Receiver<Command>) -> Ended {
        let spec = self.spec.clone();
        self.status.last_error = None;
        self.status.device = Some(open.link.name.clone());
        self.status.mac = Some(open.link.mac.to_string());
        tracing::info!(interface = %spec, device = %open.link.name, mac = %open.link.mac, "layer 2: answering on this interface");
        let mut responder = Responder::new(open.link.mac);
        own(&mut responder, &mut open, &self.wanted);
        let mut buf = vec![0u8; 2048];
        let mut posted_at = Instant::now();
        let mut checked_at = Instant::now();
        // Frames counted since the last post.
        let mut stale = false;
        // Conflicts already logged: a host claiming an address repeats itself (every gratuitous
        // round), which porter_layer2_conflicts_total counts; the log says it once.
        let mut conflicts_logged: BTreeSet<(IpAddr, Mac)> = BTreeSet::new();
        post(&responder, &mut self.status, &self.board, &spec);
        loop {
            let wake = responder.poll_timeout().map(Instant::from_std);
            let mut owned_changed = false;
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Own(set)) => {
                        own(&mut responder, &mut open, &set);
                        self.wanted = set;
                        owned_changed = true;
                    }
                    Some(Command::Stop) | None => return Ended::Stopped,
                },
                ready = open.socket.readable() => match ready {
                    Ok(mut guard) => {
                        // Every frame queued, then back to waiting.
                        loop {
                            match guard.get_inner().read(&mut buf) {
                                Ok(n) => {
                                    stale = true;
                                    match responder.handle_frame(&buf[..n]) {
                                        Verdict::Reply(frame) => open.send(&frame.bytes),
                                        Verdict::Conflict(c) => {
                                            if conflicts_logged.insert((c.addr, c.mac)) {
                                                tracing::warn!(interface = %spec, addr = %c.addr, mac = %c.mac, "layer 2: another host announces an address this node answers for (logged once per host and address; porter_layer2_conflicts_total counts them)");
                                            }
                                        }
                                        Verdict::Ignored(_) | Verdict::Dropped(_) => {}
                                    }
                                }
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                    guard.clear_ready();
                                    break;
                                }
                                Err(e) => {
                                    // ENETDOWN while the link is down: the socket carries on
                                    // once it is up again.
                                    tracing::debug!(interface = %spec, error = %e, "layer 2: receive failed");
                                    guard.clear_ready();
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => return Ended::Reopen(format!("the socket on {} failed: {e}", open.link.name)),
                },
                () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    responder.handle_timeout(StdInstant::now());
                    stale = true;
                }
                () = tokio::time::sleep_until(posted_at + POST_EVERY), if stale => {}
                () = tokio::time::sleep_until(checked_at + RETRY) => {
                    checked_at = Instant::now();
                    match link::resolve(&spec) {
                        Ok(link) if link == open.link => {}
                        Ok(link) => return Ended::Reopen(format!("{spec:?} is now {} ({}), was {} ({})", link.name, link.mac, open.link.name, open.link.mac)),
                        Err(why) => return Ended::Reopen(why),
                    }
                }
            }
            while let Some(frame) = responder.poll_transmit() {
                open.send(&frame.bytes);
            }
            if owned_changed || (stale && posted_at.elapsed() >= POST_EVERY) {
                post(&responder, &mut self.status, &self.board, &spec);
                posted_at = Instant::now();
                stale = false;
            }
        }
    }
}

/// Acquires the addresses of `wanted` not yet owned (announcing them) and releases the others.
fn own(responder: &mut Responder, open: &mut Open, wanted: &BTreeSet<IpAddr>) {
    let gone: Vec<IpAddr> = responder.owned().filter(|a| !wanted.contains(a)).collect();
    for addr in gone {
        responder.release(addr);
        open.group(addr, false);
        tracing::info!(interface = %open.link.name, %addr, "layer 2: no longer answering");
    }
    let now = StdInstant::now();
    for &addr in wanted {
        match responder.acquire(now, addr) {
            Ok(true) => {
                open.group(addr, true);
                tracing::info!(interface = %open.link.name, %addr, "layer 2: answering");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(interface = %open.link.name, "layer 2: {e}"),
        }
    }
    while let Some(frame) = responder.poll_transmit() {
        open.send(&frame.bytes);
    }
}

fn post(responder: &Responder, status: &mut ResponderStatus, board: &StatusBoard, name: &str) {
    let counters = responder.counters();
    status.owned = responder.owned().collect();
    status.requests = counters.requests;
    status.replies = counters.replies;
    status.gratuitous = counters.gratuitous;
    status.conflicts = counters.conflicts;
    board.set(name, Status::Layer2(status.clone()));
}
