//! When a speaker writes its BgpPeer status entry: a pure decision over virtual time.
//!
//! The speaker reads its sessions' status every second; written as it changes, a peer that
//! cannot be reached costs a write on every retry (CONNECT → ACTIVE → IDLE, a new `lastError`
//! each time): 4–7 writes a minute per peer per node, thousands a minute on a large cluster,
//! for a state that does not change in any way an operator acts on. [`WritePolicy`] decides,
//! per peer, whether a write is worth it:
//!
//! * **At once:** the peer appears (first entry) or goes (entry removed), and the session
//!   enters or leaves ESTABLISHED: what `kubectl get bgppeer` and the controller's
//!   `Announced` condition are read for.
//! * **Once it lasted:** any other difference (a `lastError` text, the problem text of a peer
//!   that does not run) is written when it has stayed the same for [`WritePolicyConfig::settle`];
//!   if it keeps changing, the latest value is written once it has been pending for
//!   [`WritePolicyConfig::detail_interval`]. A difference in `sessionState` alone between two
//!   states that are not ESTABLISHED (the retry cycle) is written only if it lasted `settle`.
//!   Either way at most one such write per `detail_interval` per peer.
//! * **Bounded:** every write, of any kind, takes a token from a per-peer bucket of
//!   [`WritePolicyConfig::burst`] tokens refilled one per [`WritePolicyConfig::refill`]; a write
//!   that finds the bucket empty waits for the next token (it is delayed, never dropped), so
//!   a flapping session or a BgpPeer edited in a loop costs a bounded number of writes.
//! * **Lost entries:** an entry is rewritten only when the watched BgpPeer shows this node's
//!   entry missing or in another `sessionState` than written for
//!   [`WritePolicyConfig::lost_after`] (longer than a watch takes to show a write), instead of
//!   rewriting every entry every 30 s "in case someone removed it".
//!
//! ## Defaults and what they cost
//!
//! `settle` 10 s, `detail_interval` 60 s, `burst` 3, `refill` 30 s, `lost_after` 30 s.
//!
//! * Hard bound: at most `burst + ⌈60 s / refill⌉` = 3 + 2 = **5 writes in any minute** per peer
//!   per node, and 2 a minute sustained, whatever the session does: a session flapping on
//!   every node of 500 costs at most 1,000 writes a minute for that peer.
//! * An unreachable peer: one write when it appears or goes down, then one when its
//!   `lastError` changes and that lasts; the retry cycle itself writes nothing. If the error
//!   text changed on every retry, at most 1 a minute. At 500 nodes: 500 writes when a router
//!   becomes unreachable, then at most **500 a minute** in the worst case and usually none,
//!   instead of 2,000–3,500 a minute (4–7 per node, as measured on a real API server).
//! * Reachable, stable peers: no writes at all, where the 30 s resync cost 2 a minute per node,
//!   1,000 a minute per peer at 500 nodes.
//!
//! The policy is sans-IO: the caller passes `now` and what it wants written, performs the
//! writes returned, and reports each success ([`WritePolicy::written`]) or a peer whose
//! BgpPeer is gone ([`WritePolicy::forget`]). A failed write keeps the entry pending, so it is
//! retried when the bucket allows (one token per `refill`: a backoff for free).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use porter_api::NodePeerStatus;

/// The knobs of [`WritePolicy`]; see the module docs for the defaults' arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePolicyConfig {
    /// How long a detail change must stay the same before it is written.
    pub settle: Duration,
    /// The least time between two detail writes of one peer, and the longest a detail change
    /// that never settles waits.
    pub detail_interval: Duration,
    /// Writes one peer may make in a burst (the bucket's size).
    pub burst: u32,
    /// One token back per this long.
    pub refill: Duration,
    /// How long the watched entry may differ from what was written before it is rewritten.
    pub lost_after: Duration,
}

impl Default for WritePolicyConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(10),
            detail_interval: Duration::from_secs(60),
            burst: 3,
            refill: Duration::from_secs(30),
            lost_after: Duration::from_secs(30),
        }
    }
}

impl WritePolicyConfig {
    /// The most writes one peer can make within any `window`: the full bucket plus a token
    /// per `refill` started inside the window.
    pub fn max_writes_within(&self, window: Duration) -> u64 {
        let refill = self.refill.as_nanos().max(1);
        u64::from(self.burst)
            + u64::try_from(window.as_nanos().div_ceil(refill)).unwrap_or(u64::MAX)
    }
}

/// One write to perform: set this node's entry of `peer` (`Some`) or remove it (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The BgpPeer's name.
    pub peer: String,
    /// The entry, or `None` to remove it.
    pub entry: Option<NodePeerStatus>,
}

/// What the caller saw of one peer's entry in the watched BgpPeer: only whether there is one
/// and its `sessionState` are compared with what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The BgpPeer is not in the watched objects (not listed yet, or deleted): nothing to
    /// compare.
    Unknown,
    /// The BgpPeer holds no entry of this node.
    Absent,
    /// The BgpPeer holds an entry of this node, in this `sessionState` (`None`: none set).
    Present(Option<String>),
}

impl Observed {
    /// What `entry` (this node's entry in a watched BgpPeer, if any) shows.
    pub fn of(entry: Option<&NodePeerStatus>) -> Self {
        match entry {
            None => Self::Absent,
            Some(entry) => Self::Present(session_state(entry).map(str::to_owned)),
        }
    }
}

/// Per-peer write decisions; see the module docs.
#[derive(Debug, Clone)]
pub struct WritePolicy {
    config: WritePolicyConfig,
    peers: BTreeMap<String, Peer>,
}

#[derive(Debug, Clone)]
struct Peer {
    /// What the last successful write left (`None`: no entry).
    written: Option<NodePeerStatus>,
    /// The desired entry at the last decision and since when it is so.
    desired: Option<NodePeerStatus>,
    desired_since: Instant,
    /// Since when the desired entry differs (in a way that counts) from the written one.
    pending_since: Option<Instant>,
    /// When the last detail write was attempted.
    last_detail: Option<Instant>,
    /// Since when the watched entry differs from the written one.
    lost_since: Option<Instant>,
    bucket: Bucket,
}

/// A token bucket in integer arithmetic: `tokens` as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    at: Instant,
}

impl Peer {
    fn new(now: Instant, config: &WritePolicyConfig) -> Self {
        Self {
            written: None,
            desired: None,
            desired_since: now,
            pending_since: None,
            last_detail: None,
            lost_since: None,
            bucket: Bucket {
                tokens: config.burst,
                at: now,
            },
        }
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant, config: &WritePolicyConfig) {
        if self.tokens >= config.burst {
            self.tokens = config.burst;
            self.at = now;
            return;
        }
        let refill = config.refill.as_nanos().max(1);
        let earned = now.saturating_duration_since(self.at).as_nanos() / refill;
        let room = u128::from(config.burst - self.tokens);
        if earned >= room {
            self.tokens = config.burst;
            self.at = now;
        } else if earned > 0 {
            // `earned` < `room` <= u32::MAX, and earned × refill fits the elapsed time.
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens += earned;
            self.at += config.refill * earned;
        }
    }

    fn take(&mut self, now: Instant, config: &WritePolicyConfig) -> bool {
        self.refill(now, config);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    fn full(&mut self, now: Instant, config: &WritePolicyConfig) -> bool {
        self.refill(now, config);
        self.tokens >= config.burst
    }
}

/// How a desired entry differs from the written one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    None,
    /// Appears, goes, or enters/leaves ESTABLISHED: written at once.
    Prompt,
    /// Another value than `sessionState` (an error text): written once it lasted, or after
    /// `detail_interval` if it never does.
    Detail,
    /// Only the `sessionState`, between two states that are not ESTABLISHED: written only if
    /// it lasted.
    RetryState,
}

fn session_state(entry: &NodePeerStatus) -> Option<&str> {
    entry.peer_state.as_ref()?.session_state.as_deref()
}

fn without_state(entry: &NodePeerStatus) -> NodePeerStatus {
    let mut copy = entry.clone();
    if let Some(state) = copy.peer_state.as_mut() {
        state.session_state = None;
    }
    copy
}

fn difference(written: Option<&NodePeerStatus>, desired: Option<&NodePeerStatus>) -> Difference {
    match (written, desired) {
        (None, None) => Difference::None,
        (None, Some(_)) | (Some(_), None) => Difference::Prompt,
        (Some(w), Some(d)) if w == d => Difference::None,
        (Some(w), Some(d)) if w.is_established() != d.is_established() => Difference::Prompt,
        (Some(w), Some(d)) if without_state(w) == without_state(d) => Difference::RetryState,
        _ => Difference::Detail,
    }
}

impl WritePolicy {
    /// A policy with nothing written yet.
    pub fn new(config: WritePolicyConfig) -> Self {
        Self {
            config,
            peers: BTreeMap::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &WritePolicyConfig {
        &self.config
    }

    /// The writes to perform now, given the entries wanted (`desired`: peer → entry; a peer
    /// not in it should have no entry) and, per peer, what the watched BgpPeer shows
    /// (`observed`; a peer not in it counts as [`Observed::Unknown`]). Each write returned has
    /// taken a token; report its outcome with [`Self::written`] or [`Self::forget`].
    pub fn decide(
        &mut self,
        now: Instant,
        desired: &BTreeMap<String, NodePeerStatus>,
        observed: &BTreeMap<String, Observed>,
    ) -> Vec<Write> {
        let config = self.config;
        // Peers to write, and peers whose watched object still holds an entry of this node
        // (left by an earlier run of this speaker): that one is removed once it counts as lost.
        let stale = observed
            .iter()
            .filter(|(_, seen)| matches!(seen, Observed::Present(_)))
            .map(|(peer, _)| peer);
        for peer in desired.keys().chain(stale) {
            if !self.peers.contains_key(peer) {
                self.peers.insert(peer.clone(), Peer::new(now, &config));
            }
        }
        let mut writes = Vec::new();
        for (name, peer) in &mut self.peers {
            let want = desired.get(name);
            if peer.desired.as_ref() != want {
                peer.desired = want.cloned();
                peer.desired_since = now;
            }
            let seen = observed.get(name).unwrap_or(&Observed::Unknown);
            let lost = match seen {
                Observed::Unknown => false,
                seen => *seen != Observed::of(peer.written.as_ref()),
            };
            peer.lost_since = if lost {
                Some(peer.lost_since.unwrap_or(now))
            } else {
                None
            };
            let mut kind = difference(peer.written.as_ref(), want);
            if kind == Difference::None {
                peer.pending_since = None;
                let rewrite = peer
                    .lost_since
                    .is_some_and(|since| now.saturating_duration_since(since) >= config.lost_after);
                if !rewrite {
                    continue;
                }
                kind = Difference::Prompt;
            }
            let pending_since = *peer.pending_since.get_or_insert(now);
            let lasted = now.saturating_duration_since(peer.desired_since) >= config.settle;
            let detail_allowed = peer
                .last_detail
                .is_none_or(|at| now.saturating_duration_since(at) >= config.detail_interval);
            let due = match kind {
                Difference::None => false,
                Difference::Prompt => true,
                Difference::Detail => {
                    detail_allowed
                        && (lasted
                            || now.saturating_duration_since(pending_since)
                                >= config.detail_interval)
                }
                Difference::RetryState => detail_allowed && lasted,
            };
            if !due || !peer.bucket.take(now, &config) {
                continue;
            }
            if matches!(kind, Difference::Detail | Difference::RetryState) {
                peer.last_detail = Some(now);
            }
            writes.push(Write {
                peer: name.clone(),
                entry: want.cloned(),
            });
        }
        // A peer with nothing written, wanted or seen, and a full bucket, has nothing left to
        // remember (a peer that comes back starts afresh without getting more than a full
        // bucket).
        self.peers.retain(|name, peer| {
            peer.written.is_some()
                || desired.contains_key(name)
                || peer.lost_since.is_some()
                || !peer.bucket.full(now, &config)
        });
        writes
    }

    /// Records that `peer`'s entry is now `entry` (`None`: removed).
    pub fn written(&mut self, peer: &str, entry: Option<NodePeerStatus>) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.written = entry;
            p.pending_since = None;
            p.lost_since = None;
        }
    }

    /// Records that `peer`'s BgpPeer is gone: there is no entry to keep (its bucket stays, so
    /// a BgpPeer deleted and created in a loop is still bounded).
    pub fn forget(&mut self, peer: &str) {
        self.written(peer, None);
    }

    /// What the last successful write of `peer` left, if anything.
    pub fn last_written(&self, peer: &str) -> Option<&NodePeerStatus> {
        self.peers.get(peer)?.written.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use porter_api::PeerState;
    use proptest::prelude::*;

    use super::*;

    fn entry(state: &str, error: Option<&str>) -> NodePeerStatus {
        NodePeerStatus {
            peer_state: Some(PeerState {
                neighbor_address: Some("10.99.0.1".into()),
                session_state: Some(state.into()),
                last_error: error.map(str::to_owned),
                ..Default::default()
            }),
            timers_state: None,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Drives one peer: `desired` at `at` (seconds after start), every write succeeding.
    struct Harness {
        policy: WritePolicy,
        start: Instant,
        writes: Vec<(Duration, Option<NodePeerStatus>)>,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                policy: WritePolicy::new(WritePolicyConfig::default()),
                start: Instant::now(),
                writes: Vec::new(),
            }
        }

        fn step(&mut self, at: Duration, desired: Option<&NodePeerStatus>) -> usize {
            self.step_observing(at, desired, Observed::Unknown)
        }

        fn step_observing(
            &mut self,
            at: Duration,
            desired: Option<&NodePeerStatus>,
            seen: Observed,
        ) -> usize {
            let desired: BTreeMap<String, NodePeerStatus> = desired
                .map(|d| ("rtr".to_owned(), d.clone()))
                .into_iter()
                .collect();
            let observed = BTreeMap::from([("rtr".to_owned(), seen)]);
            let writes = self.policy.decide(self.start + at, &desired, &observed);
            for w in &writes {
                self.policy.written(&w.peer, w.entry.clone());
                self.writes.push((at, w.entry.clone()));
            }
            writes.len()
        }
    }

    #[test]
    fn appearing_and_established_transitions_are_written_at_once() {
        let mut h = Harness::new();
        assert_eq!(h.step(secs(0), Some(&entry("ACTIVE", None))), 1);
        assert_eq!(h.step(secs(1), Some(&entry("ESTABLISHED", None))), 1);
        assert_eq!(
            h.step(secs(40), Some(&entry("IDLE", Some("hold timer expired")))),
            1
        );
        assert_eq!(
            h.step(secs(41), None),
            1,
            "the peer goes: its entry is removed"
        );
        assert_eq!(h.writes.last(), Some(&(secs(41), None)));
    }

    #[test]
    fn the_retry_cycle_of_an_unreachable_peer_writes_nothing_more() {
        let mut h = Harness::new();
        let refused = Some("connect: connection refused");
        h.step(secs(0), Some(&entry("CONNECT", refused)));
        // a retry every 4 s for ten minutes, the state cycling, the error the same
        for t in 1..600 {
            let state = ["CONNECT", "ACTIVE", "IDLE", "ACTIVE"][(t / 2) % 4];
            h.step(secs(t as u64), Some(&entry(state, refused)));
        }
        assert_eq!(h.writes.len(), 1, "{:?}", h.writes);
    }

    #[test]
    fn a_new_error_is_written_once_it_lasted_and_a_changing_one_once_a_minute() {
        let mut h = Harness::new();
        h.step(secs(0), Some(&entry("ACTIVE", None)));
        for t in 1..=9 {
            assert_eq!(h.step(secs(t), Some(&entry("ACTIVE", Some("refused")))), 0);
        }
        // lasted settle (10 s) since it appeared at 1 s
        assert_eq!(h.step(secs(11), Some(&entry("ACTIVE", Some("refused")))), 1);
        // an error text that changes every second: written with the latest text, once a
        // minute after the previous detail write
        let mut at = Vec::new();
        for t in 12..250 {
            let text = format!("attempt {t}");
            if h.step(secs(t), Some(&entry("ACTIVE", Some(&text)))) > 0 {
                at.push(t);
            }
        }
        // pending from 12 s, the last detail write at 11 s: due at 72 s; then pending again
        // from 73 s: 133 s, 194 s
        assert_eq!(at, vec![72, 133, 194]);
    }

    #[test]
    fn a_lasting_retry_state_is_written() {
        let mut h = Harness::new();
        h.step(secs(0), Some(&entry("ACTIVE", Some("refused"))));
        for t in 1..=20 {
            h.step(secs(t), Some(&entry("IDLE", Some("refused"))));
        }
        // the first detail write may happen at once (none before), once IDLE lasted 10 s
        assert_eq!(h.writes.len(), 2);
        assert_eq!(h.writes[1].0, secs(11));
    }

    #[test]
    fn a_flapping_session_is_bounded_by_the_bucket() {
        let mut h = Harness::new();
        let config = *h.policy.config();
        for t in 0..120u64 {
            let state = if t % 2 == 0 { "ESTABLISHED" } else { "ACTIVE" };
            h.step(secs(t), Some(&entry(state, None)));
        }
        // burst 3 at once, then a token per 30 s (at 30 s and 90 s the board happens to be
        // as last written, so the write waits for the next change)
        let times: Vec<u64> = h.writes.iter().map(|(t, _)| t.as_secs()).collect();
        assert_eq!(times, vec![0, 1, 2, 31, 60, 91]);
        assert!(h.writes.len() as u64 <= config.max_writes_within(secs(120)));
    }

    #[test]
    fn a_lost_entry_is_rewritten_after_lost_after_and_not_before() {
        let mut h = Harness::new();
        let up = entry("ESTABLISHED", None);
        h.step(secs(0), Some(&up));
        // the watch has not shown the write yet: an old entry, for less than lost_after
        for t in 1..30 {
            let n = h.step_observing(secs(t), Some(&up), Observed::Absent);
            assert_eq!(n, 0);
        }
        // the watch caught up: nothing to do
        h.step_observing(secs(30), Some(&up), Observed::of(Some(&up)));
        // someone removed the entry: rewritten after lost_after
        for t in 31..61 {
            assert_eq!(h.step_observing(secs(t), Some(&up), Observed::Absent), 0);
        }
        assert_eq!(h.step_observing(secs(61), Some(&up), Observed::Absent), 1);
        assert_eq!(h.writes.len(), 2);
    }

    #[test]
    fn an_entry_left_by_an_earlier_run_is_removed_once_it_counts_as_lost() {
        let mut h = Harness::new();
        let old = entry("ACTIVE", None);
        for t in 0..30 {
            let n = h.step_observing(secs(t), None, Observed::of(Some(&old)));
            assert_eq!(n, 0, "at {t} s");
        }
        assert_eq!(
            h.step_observing(secs(30), None, Observed::of(Some(&old))),
            1
        );
        assert_eq!(h.writes, vec![(secs(30), None)]);
        // gone from the watched object: nothing more, and nothing left to remember
        for t in 31..100 {
            assert_eq!(h.step_observing(secs(t), None, Observed::Absent), 0);
        }
        assert!(h.policy.peers.is_empty());
    }

    /// One peer's board over virtual time: (seconds since the previous step, desired entry).
    fn script() -> impl Strategy<Value = Vec<(u64, Option<NodePeerStatus>)>> {
        let state = prop_oneof![
            Just("IDLE"),
            Just("CONNECT"),
            Just("ACTIVE"),
            Just("OPENSENT"),
            Just("ESTABLISHED"),
        ];
        let error = prop::option::of(prop_oneof![Just("refused"), Just("timeout"), Just("hold")]);
        let desired = prop::option::weighted(0.9, (state, error).prop_map(|(s, e)| entry(s, e)));
        prop::collection::vec((0..6u64, desired), 1..300)
    }

    proptest! {
        /// For any board sequence over virtual time, polled as the shell does: at most
        /// `max_writes_within(60 s)` writes in any minute; an ESTABLISHED transition is
        /// written at the first decision after it while the bucket has a token; and once the
        /// board stops changing, its state is written within `settle`, or as soon as the
        /// detail interval and the bucket allow.
        #[test]
        fn writes_are_bounded_and_the_final_state_is_written(steps in script()) {
            let mut h = Harness::new();
            let config = *h.policy.config();
            let mut t = Duration::ZERO;
            for (gap, desired) in &steps {
                t += secs(*gap);
                let before = h.policy.last_written("rtr").cloned();
                let tokens_left = h.policy.peers.get("rtr").map(|p| {
                    let mut b = p.bucket;
                    b.refill(h.start + t, &config);
                    b.tokens
                });
                let n = h.step(t, desired.as_ref());
                let flipped = match (&before, desired) {
                    (Some(w), Some(d)) => w.is_established() != d.is_established(),
                    (None, Some(_)) | (Some(_), None) => true,
                    (None, None) => false,
                };
                if flipped && tokens_left.is_none_or(|left| left > 0) {
                    prop_assert_eq!(n, 1, "an ESTABLISHED transition waits only for the bucket");
                }
            }
            // any minute holds at most the bound
            let times: Vec<Duration> = h.writes.iter().map(|(at, _)| *at).collect();
            for (i, start) in times.iter().enumerate() {
                let within = times[i..].iter().take_while(|at| **at < *start + secs(60)).count();
                prop_assert!(within as u64 <= config.max_writes_within(secs(60)),
                    "{} writes in the minute from {:?}", within, start);
            }
            // the board stays as it ended: its state is written in bounded time
            let last = steps.last().and_then(|(_, d)| d.clone());
            let stable_from = t;
            let deadline = config.settle + config.detail_interval + config.refill;
            let mut written_at = None;
            for s in 1..=deadline.as_secs() {
                h.step(stable_from + secs(s), last.as_ref());
                if h.policy.last_written("rtr") == last.as_ref() {
                    written_at = Some(s);
                    break;
                }
            }
            prop_assert!(written_at.is_some() || h.policy.last_written("rtr") == last.as_ref(),
                "final state not written within {:?}", deadline);
        }
    }
}
