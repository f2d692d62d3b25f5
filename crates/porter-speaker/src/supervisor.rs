//! Keeps one task per wanted name, whatever the protocol: the part of every protocol that
//! starts, keeps, replaces and stops tasks as the plan changes.
//!
//! A protocol says what each of its tasks should be (a `Spec` per name: a BGP session per
//! BgpPeer) and how to start one; the supervisor does the rest with the least disturbance:
//! a task whose spec did not change keeps running, a task whose spec changed or went away is
//! stopped with grace ([`Stop::Changed`], [`Stop::Removed`], a deadline, then abort), a new one
//! is started. It
//! talks to its tasks only through their typed command channels.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::status::{Protocol, StatusBoard};

/// How many commands may wait for a task before senders wait.
const COMMANDS: usize = 16;

/// Why a task is told to stop; its protocol decides what each means on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Its name is no longer wanted: the task ends for good (a BGP session says goodbye with
    /// NOTIFICATION Cease / Peer De-configured).
    Removed,
    /// Its spec changed: the task ends and a new one starts with the new spec (a BGP session
    /// says NOTIFICATION Cease / Administrative Reset).
    Changed,
    /// The speaker is shutting down and will be back (a BGP session with graceful restart
    /// leaves the peer holding this node's routes).
    Shutdown,
}

/// A running task: the spec it was started with, its command channel, its handle.
struct Running<S, C> {
    spec: S,
    commands: mpsc::Sender<C>,
    task: JoinHandle<()>,
}

/// One task per name, in step with the wanted specs. `C` is the tasks' command; a task
/// receiving `C::from(Stop)` must end soon after (and remove its own status board entry),
/// or it is aborted once the grace period is over.
pub(crate) struct Supervisor<S, C> {
    protocol: Protocol,
    board: StatusBoard,
    grace: Duration,
    running: BTreeMap<String, Running<S, C>>,
}

impl<S, C> Supervisor<S, C>
where
    S: Eq + Clone,
    C: From<Stop> + Send + 'static,
{
    /// A supervisor of `protocol`'s tasks, giving each told to stop `grace` to end; an
    /// aborted task's entry on `board` is removed for it.
    pub(crate) fn new(protocol: Protocol, board: StatusBoard, grace: Duration) -> Self {
        Self {
            protocol,
            board,
            grace,
            running: BTreeMap::new(),
        }
    }

    /// Brings the tasks in line with `wanted`: stops those whose spec changed or went away
    /// (all at once, with one deadline, before anything starts: a changed task's successor
    /// never overlaps it), then starts a task for every new name with `start`, which gets the
    /// spec and the task's end of its command channel. Returns the names of the tasks that
    /// kept running, unchanged.
    pub(crate) async fn sync(
        &mut self,
        wanted: BTreeMap<String, S>,
        mut start: impl FnMut(&str, &S, mpsc::Receiver<C>) -> JoinHandle<()>,
    ) -> Vec<String> {
        let stale: Vec<(String, Stop)> = self
            .running
            .iter()
            .filter_map(|(name, running)| match wanted.get(name) {
                None => Some((name.clone(), Stop::Removed)),
                Some(spec) if *spec != running.spec => Some((name.clone(), Stop::Changed)),
                Some(_) => None,
            })
            .collect();
        let stale: Vec<(String, Running<S, C>, Stop)> = stale
            .into_iter()
            .filter_map(|(name, why)| Some((name.clone(), self.running.remove(&name)?, why)))
            .collect();
        if !stale.is_empty() {
            self.stop(stale, Instant::now() + self.grace).await;
        }
        let mut kept = Vec::new();
        for (name, spec) in wanted {
            if self.running.contains_key(&name) {
                kept.push(name);
                continue;
            }
            let (commands, rx) = mpsc::channel(COMMANDS);
            let task = start(&name, &spec, rx);
            self.running.insert(
                name,
                Running {
                    spec,
                    commands,
                    task,
                },
            );
        }
        kept
    }

    /// The running tasks' names and specs, in name order.
    pub(crate) fn specs(&self) -> impl Iterator<Item = (&str, &S)> {
        self.running
            .iter()
            .map(|(name, r)| (name.as_str(), &r.spec))
    }

    /// Sends `command` to `name`'s task (waiting while its channel is full); `false` when no
    /// such task runs or it has ended.
    pub(crate) async fn send(&self, name: &str, command: C) -> bool {
        match self.running.get(name) {
            Some(running) => running.commands.send(command).await.is_ok(),
            None => false,
        }
    }

    /// Stops every task for `why`, all waiting for one `deadline`: one stalled task does not
    /// delay the others' goodbye.
    pub(crate) async fn stop_all(&mut self, why: Stop, deadline: Instant) {
        let all = std::mem::take(&mut self.running)
            .into_iter()
            .map(|(name, running)| (name, running, why))
            .collect();
        self.stop(all, deadline).await;
    }

    /// Tells every task in `tasks` to stop for its reason, waits for them until `deadline`,
    /// then aborts the rest. Every task is told before any is waited for, and a task whose
    /// channel is full (it is stuck) is waited on only after the others were told.
    async fn stop(&self, tasks: Vec<(String, Running<S, C>, Stop)>, deadline: Instant) {
        let mut full = Vec::new();
        for (name, running, why) in &tasks {
            if let Err(TrySendError::Full(command)) = running.commands.try_send(C::from(*why)) {
                full.push((name, &running.commands, command));
            }
        }
        for (name, commands, command) in full {
            if tokio::time::timeout_at(deadline, commands.send(command))
                .await
                .is_err()
            {
                tracing::warn!(protocol = ?self.protocol, name, "task not taking commands; it will be aborted");
            }
        }
        for (name, running, _) in tasks {
            let mut task = running.task;
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(protocol = ?self.protocol, name, "task did not stop in time; aborted");
                task.abort();
                // Returns once cancelled: the task no longer touches the board, and it never
                // reached its own removal of its entry.
                let _ = task.await;
                self.board.remove(self.protocol, &name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::PeerStatus;
    use crate::status::Status;

    /// A test task's command.
    #[derive(Debug, PartialEq)]
    enum Command {
        Ping,
        Stop(Stop),
    }

    impl From<Stop> for Command {
        fn from(why: Stop) -> Self {
            Command::Stop(why)
        }
    }

    /// What the test tasks report, in the order it happened.
    #[derive(Debug, Clone, PartialEq)]
    enum Seen {
        Started(String, u32),
        Command(String, String),
        Stopped(String, Stop),
        Aborted(String),
    }

    /// A test task's spec: its version, and whether it ignores its commands (stalls).
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Spec {
        version: u32,
        stalls: bool,
    }

    fn spec(version: u32) -> Spec {
        Spec {
            version,
            stalls: false,
        }
    }

    fn stalled(version: u32) -> Spec {
        Spec {
            version,
            stalls: true,
        }
    }

    fn entry() -> Status {
        Status::Bgp(PeerStatus {
            address: "192.0.2.1".parse().expect("ip"),
            peer_as: 64512,
            state: porter_bgp::State::Idle,
            established_since: None,
            advertised: 0,
            received: 0,
            flaps: 0,
            last_error: None,
            timers: None,
            bfd: None,
        })
    }

    /// Reports `Aborted` when dropped before `finished` (a task's future is dropped on abort).
    struct OnAbort {
        name: String,
        seen: mpsc::UnboundedSender<Seen>,
        finished: bool,
    }

    impl Drop for OnAbort {
        fn drop(&mut self) {
            if !self.finished {
                let _ = self.seen.send(Seen::Aborted(self.name.clone()));
            }
        }
    }

    struct Harness {
        supervisor: Supervisor<Spec, Command>,
        board: StatusBoard,
        seen_tx: mpsc::UnboundedSender<Seen>,
        seen: mpsc::UnboundedReceiver<Seen>,
    }

    impl Harness {
        fn new(grace: Duration) -> Self {
            let board = StatusBoard::default();
            let (seen_tx, seen) = mpsc::unbounded_channel();
            Self {
                supervisor: Supervisor::new(Protocol::Bgp, board.clone(), grace),
                board,
                seen_tx,
                seen,
            }
        }

        async fn sync(&mut self, wanted: &[(&str, Spec)]) -> Vec<String> {
            let wanted = wanted
                .iter()
                .map(|(name, spec)| ((*name).to_owned(), spec.clone()))
                .collect();
            let (seen, board) = (self.seen_tx.clone(), self.board.clone());
            self.supervisor
                .sync(wanted, |name, spec, rx| {
                    tokio::spawn(task(
                        name.to_owned(),
                        spec.clone(),
                        rx,
                        seen.clone(),
                        board.clone(),
                    ))
                })
                .await
        }

        fn seen(&mut self) -> Vec<Seen> {
            let mut out = Vec::new();
            while let Ok(s) = self.seen.try_recv() {
                out.push(s);
            }
            out
        }
    }

    /// Posts an entry, reports what it is told; a stalled one never reads its commands.
    async fn task(
        name: String,
        spec: Spec,
        mut rx: mpsc::Receiver<Command>,
        seen: mpsc::UnboundedSender<Seen>,
        board: StatusBoard,
    ) {
        let mut guard = OnAbort {
            name: name.clone(),
            seen: seen.clone(),
            finished: false,
        };
        board.set(&name, entry());
        let _ = seen.send(Seen::Started(name.clone(), spec.version));
        if spec.stalls {
            std::future::pending::<()>().await;
        }
        while let Some(command) = rx.recv().await {
            match command {
                Command::Stop(why) => {
                    board.remove(Protocol::Bgp, &name);
                    let _ = seen.send(Seen::Stopped(name.clone(), why));
                    guard.finished = true;
                    return;
                }
                other => {
                    let _ = seen.send(Seen::Command(name.clone(), format!("{other:?}")));
                }
            }
        }
    }

    #[tokio::test]
    async fn unchanged_tasks_stay_changed_ones_are_replaced_removed_ones_stopped() {
        let mut h = Harness::new(Duration::from_secs(10));
        let kept = h
            .sync(&[("a", spec(1)), ("b", spec(1)), ("c", spec(1))])
            .await;
        assert!(kept.is_empty());
        tokio::task::yield_now().await;
        let kept = h.sync(&[("a", spec(1)), ("b", spec(2))]).await;
        assert_eq!(kept, ["a"]);
        assert!(h.supervisor.send("a", Command::Ping).await);
        assert!(!h.supervisor.send("c", Command::Ping).await, "c is gone");
        // let the new b start and a read its ping
        tokio::time::sleep(Duration::from_millis(50)).await;
        let seen = h.seen();
        let started: Vec<&Seen> = seen
            .iter()
            .filter(|s| matches!(s, Seen::Started(..)))
            .collect();
        assert_eq!(
            started,
            [
                &Seen::Started("a".into(), 1),
                &Seen::Started("b".into(), 1),
                &Seen::Started("c".into(), 1),
                &Seen::Started("b".into(), 2),
            ],
            "{seen:?}"
        );
        let old_b_stopped = seen
            .iter()
            .position(|s| *s == Seen::Stopped("b".into(), Stop::Changed))
            .expect("the old b was told it changed");
        let new_b_started = seen
            .iter()
            .position(|s| *s == Seen::Started("b".into(), 2))
            .expect("started");
        assert!(old_b_stopped < new_b_started, "{seen:?}");
        assert!(seen.contains(&Seen::Stopped("c".into(), Stop::Removed)));
        assert!(seen.contains(&Seen::Command("a".into(), "Ping".into())));
        assert!(!seen.iter().any(|s| matches!(s, Seen::Aborted(_))));
        assert_eq!(
            h.board.bgp_sessions().keys().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(h.supervisor.specs().count(), 2);
    }

    #[tokio::test]
    async fn a_task_that_does_not_stop_is_aborted_and_its_entry_removed() {
        let mut h = Harness::new(Duration::from_millis(100));
        h.sync(&[("stuck", stalled(1))]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(h.board.bgp_sessions().contains_key("stuck"));
        h.sync(&[]).await;
        assert_eq!(
            h.seen(),
            [
                Seen::Started("stuck".into(), 1),
                Seen::Aborted("stuck".into())
            ]
        );
        assert!(h.board.snapshot().is_empty());
    }

    #[tokio::test]
    async fn at_shutdown_a_stalled_task_does_not_delay_the_others() {
        let mut h = Harness::new(Duration::from_secs(10));
        h.sync(&[("a-stuck", stalled(1)), ("b", spec(1)), ("c", spec(1))])
            .await;
        // fill the stalled task's channel: telling it to stop would wait
        for _ in 0..COMMANDS {
            assert!(h.supervisor.send("a-stuck", Command::Ping).await);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        h.seen();
        let deadline = Instant::now() + Duration::from_millis(300);
        h.supervisor.stop_all(Stop::Shutdown, deadline).await;
        let seen = h.seen();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen[..2].contains(&Seen::Stopped("b".into(), Stop::Shutdown))
                && seen[..2].contains(&Seen::Stopped("c".into(), Stop::Shutdown)),
            "b and c stopped before a-stuck was given up on: {seen:?}"
        );
        assert_eq!(seen[2], Seen::Aborted("a-stuck".into()));
        assert!(h.board.snapshot().is_empty());
        assert_eq!(h.supervisor.specs().count(), 0);
    }
}
