//! A speaker's own line in every BgpPeer's status: `status.nodesPeerStatus[<node>]`.
//!
//! Every speaker writes only its own key, with a JSON merge patch on the status subresource
//! (`{"status":{"nodesPeerStatus":{"<node>":{...}}}}`): a merge patch merges maps key by key,
//! so the other nodes' entries are never read, rewritten or clobbered, and no speaker needs
//! a read-modify-write cycle. The entry holds the session state (gobgp's spelling, as OpenELB
//! wrote it) and when the session came up; never the password (OpenELB copied the whole peer
//! configuration, `authPassword` included).
//!
//! A BgpPeer this node has a problem with (a plan problem `Problem::BgpPeer`, e.g. a
//! missing `spec.conf.authPasswordSecretRef` Secret) and no session for gets an `IDLE` entry
//! whose `lastError` is that text, naming the field.
//!
//! Not every change is written: a session retrying an unreachable peer changes its state and
//! last error every few seconds. [`crate::write_policy`] decides what is worth a write (entering
//! or leaving ESTABLISHED at once, other changes once they lasted, a hard bound per peer; its
//! docs have the arithmetic), and a lost entry is rewritten when the watched BgpPeer shows it
//! missing, not by rewriting every entry periodically. A peer this node no longer peers with
//! has its entry removed (`null`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use porter_api::{BgpPeer, NodePeerStatus, PeerState, TimersState};
use porter_bgp::State;
use porter_model::SpeakerSnapshot;
use porter_model::announce::Problem;
use porter_speaker::{PeerStatus, StatusBoard};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Error;
use crate::write_policy::{Observed, WritePolicy, WritePolicyConfig};

/// Field manager of the speaker's writes.
pub const FIELD_MANAGER: &str = "porter-speaker";

/// gobgp's spelling of a session state, as OpenELB's status showed it.
pub fn session_state(state: State) -> &'static str {
    match state {
        State::Idle => "IDLE",
        State::Connect => "CONNECT",
        State::Active => "ACTIVE",
        State::OpenSent => "OPENSENT",
        State::OpenConfirm => "OPENCONFIRM",
        State::Established => "ESTABLISHED",
    }
}

/// This node's entry for one peer. `uptime` is when the session came up (RFC 3339).
pub fn node_status(peer: &PeerStatus, uptime: Option<String>) -> NodePeerStatus {
    NodePeerStatus {
        peer_state: Some(PeerState {
            neighbor_address: Some(peer.address.to_string()),
            peer_as: Some(peer.peer_as),
            session_state: Some(session_state(peer.state).to_owned()),
            last_error: peer.last_error.clone(),
            bfd_state: peer.bfd.map(|s| s.to_string()),
            ..Default::default()
        }),
        timers_state: Some(TimersState {
            negotiated_hold_time: peer.timers.map(|t| t.hold_time.to_string()),
            keepalive_interval: peer.timers.map(|t| t.keepalive.to_string()),
            uptime,
            ..Default::default()
        }),
    }
}

/// This node's entry for a peer it does not run because of `problem` (the `why` of a plan's
/// `Problem::BgpPeer`).
pub fn problem_status(problem: String) -> NodePeerStatus {
    NodePeerStatus {
        peer_state: Some(PeerState {
            session_state: Some(session_state(State::Idle).to_owned()),
            last_error: Some(problem),
            ..Default::default()
        }),
        timers_state: None,
    }
}

/// The plan problems about BgpPeers, by peer name (several problems joined with `; `).
pub fn peer_problems(problems: &[Problem]) -> BTreeMap<String, String> {
    let mut by_peer: BTreeMap<String, String> = BTreeMap::new();
    for problem in problems {
        let Problem::BgpPeer { name, why: text } = problem else {
            continue;
        };
        by_peer
            .entry(name.to_owned())
            .and_modify(|all| {
                all.push_str("; ");
                all.push_str(text);
            })
            .or_insert_with(|| text.to_owned());
    }
    by_peer
}

/// How often the board is read, and when an entry is worth a write ([`WritePolicy`]).
#[derive(Debug, Clone)]
pub struct SpeakerStatusConfig {
    /// How often the status board is checked for changes (default 1 s).
    pub poll: Duration,
    /// Which changes are written, and how many writes a peer may make.
    pub policy: WritePolicyConfig,
}

impl Default for SpeakerStatusConfig {
    /// The board read every second, [`WritePolicyConfig::default`].
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            policy: WritePolicyConfig::default(),
        }
    }
}

/// What the watched BgpPeers hold as `node`'s entry, per BgpPeer: compared with what was
/// written, so a removed entry is rewritten (and a stale one removed) without rewriting every
/// entry periodically.
pub fn observed_entries<'a>(
    peers: impl IntoIterator<Item = (&'a String, &'a BgpPeer)>,
    node: &str,
) -> BTreeMap<String, Observed> {
    peers
        .into_iter()
        .map(|(name, peer)| {
            let entry = peer
                .status
                .as_ref()
                .and_then(|s| s.nodes_peer_status.as_ref())
                .and_then(|m| m.get(node));
            (name.clone(), Observed::of(entry))
        })
        .collect()
}

/// Writes `node`'s entries from the speaker's status board, and from the plan's `problems`
/// for peers without a session, until the task is dropped; `snapshots` (the speaker's source)
/// shows what the BgpPeers hold, so a lost entry is rewritten.
pub async fn run_speaker_status(
    client: Client,
    node: String,
    board: StatusBoard,
    problems: watch::Receiver<Vec<Problem>>,
    snapshots: watch::Receiver<SpeakerSnapshot>,
    config: SpeakerStatusConfig,
) {
    let observer = node.clone();
    run_observing(
        client,
        node,
        move || board.bgp_sessions(),
        move || problems.borrow().clone(),
        move || observed_entries(&snapshots.borrow().bgp_peers, &observer),
        config,
    )
    .await;
}

/// Like [`run_speaker_status`], reading the sessions' status from `sessions` (what
/// [`StatusBoard::bgp_sessions`] returns: BgpPeer name → status), without problems or
/// observation.
pub async fn run_with(
    client: Client,
    node: String,
    sessions: impl Fn() -> BTreeMap<String, PeerStatus>,
    config: SpeakerStatusConfig,
) {
    run_with_problems(client, node, sessions, Vec::new, config).await;
}

/// Like [`run_with`], also writing an `IDLE` entry with `lastError` for every peer that
/// `problems` (the plan's problems) has a `Problem::BgpPeer` about and no session.
pub async fn run_with_problems(
    client: Client,
    node: String,
    sessions: impl Fn() -> BTreeMap<String, PeerStatus>,
    problems: impl Fn() -> Vec<Problem>,
    config: SpeakerStatusConfig,
) {
    run_observing(client, node, sessions, problems, BTreeMap::new, config).await;
}

/// Like [`run_with_problems`], with `observed` saying what the watched BgpPeers hold as this
/// node's entry ([`observed_entries`]).
pub async fn run_observing(
    client: Client,
    node: String,
    sessions: impl Fn() -> BTreeMap<String, PeerStatus>,
    problems: impl Fn() -> Vec<Problem>,
    observed: impl Fn() -> BTreeMap<String, Observed>,
    config: SpeakerStatusConfig,
) {
    let api: Api<BgpPeer> = Api::all(client);
    let mut writer = StatusWriter {
        api,
        node,
        policy: WritePolicy::new(config.policy),
        uptimes: BTreeMap::new(),
    };
    let mut ticks = tokio::time::interval(config.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = tokio::time::Instant::now().into_std();
        writer
            .sync(now, &sessions(), &problems(), &observed())
            .await;
    }
}

struct StatusWriter {
    api: Api<BgpPeer>,
    node: String,
    /// What was written per peer, and which changes are worth a write.
    policy: WritePolicy,
    /// Wall-clock time a session came up, per peer and monotonic instant, so the same
    /// session always reports the same uptime.
    uptimes: BTreeMap<String, (Instant, String)>,
}

impl StatusWriter {
    fn uptime(&mut self, peer: &str, since: Option<Instant>) -> Option<String> {
        let Some(since) = since else {
            self.uptimes.remove(peer);
            return None;
        };
        if let Some((at, text)) = self.uptimes.get(peer)
            && *at == since
        {
            return Some(text.clone());
        }
        let ago = SignedDuration::try_from(since.elapsed()).unwrap_or(SignedDuration::ZERO);
        let up = Timestamp::now()
            .checked_sub(ago)
            .unwrap_or_else(|_| Timestamp::now());
        let text = Timestamp::from_second(up.as_second())
            .unwrap_or(up)
            .to_string();
        self.uptimes.insert(peer.to_owned(), (since, text.clone()));
        Some(text)
    }

    async fn sync(
        &mut self,
        now: Instant,
        board: &BTreeMap<String, PeerStatus>,
        problems: &[Problem],
        observed: &BTreeMap<String, Observed>,
    ) {
        let mut desired = BTreeMap::new();
        for (peer, status) in board {
            let uptime = self.uptime(peer, status.established_since);
            desired.insert(peer.clone(), node_status(status, uptime));
        }
        for (peer, problem) in peer_problems(problems) {
            desired
                .entry(peer)
                .or_insert_with(|| problem_status(problem));
        }
        for write in self.policy.decide(now, &desired, observed) {
            let peer = write.peer.as_str();
            match self.patch(peer, write.entry.as_ref()).await {
                Ok(()) => self.policy.written(peer, write.entry),
                // the BgpPeer is gone; the plan will drop the session
                Err(error) if error.code() == Some(404) => self.policy.forget(peer),
                Err(error) => {
                    tracing::warn!(%error, kind = error.kind(), peer, "cannot write BgpPeer status")
                }
            }
        }
    }

    /// Sets (or with `None` removes) this node's entry in `peer`'s status.
    async fn patch(&self, peer: &str, entry: Option<&NodePeerStatus>) -> Result<(), Error> {
        let patch =
            json!({"status": {"nodesPeerStatus": {self.node.as_str(): entry.map(entry_patch)}}});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        self.api
            .patch_status(peer, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::api("patch status of", format!("BgpPeer {peer}"), e))?;
        Ok(())
    }
}

/// The merge patch of one entry. A merge patch keeps what it does not mention, so every field
/// the speaker writes is named, `null` when unset: a `lastError` (say "Secret ... forbidden")
/// must not outlive the problem it reported.
pub fn entry_patch(entry: &NodePeerStatus) -> Value {
    const WRITTEN: [(&str, &[&str]); 2] = [
        (
            "peerState",
            &["neighborAddress", "peerAs", "sessionState", "lastError"],
        ),
        ("timersState", &["uptime"]),
    ];
    let mut value = serde_json::to_value(entry).unwrap_or_else(|_| json!({}));
    if let Some(object) = value.as_object_mut() {
        for (part, fields) in WRITTEN {
            match object.get_mut(part).and_then(Value::as_object_mut) {
                Some(part) => {
                    for field in fields {
                        part.entry(*field).or_insert(Value::Null);
                    }
                }
                None => {
                    object.insert(part.to_owned(), Value::Null);
                }
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use porter_speaker::Timers;

    use super::*;

    #[test]
    fn the_entry_never_holds_a_password_and_uses_gobgp_spelling() {
        let peer = PeerStatus {
            address: "10.99.0.1".parse().unwrap(),
            peer_as: 64512,
            state: State::Established,
            established_since: None,
            advertised: 3,
            received: 0,
            flaps: 0,
            last_error: None,
            timers: Some(Timers {
                hold_time: 90,
                keepalive: 30,
            }),
            bfd: None,
        };
        let v =
            serde_json::to_value(node_status(&peer, Some("2026-01-01T00:00:00Z".into()))).unwrap();
        assert_eq!(
            v,
            json!({
                "peerState": {"neighborAddress": "10.99.0.1", "peerAs": 64512, "sessionState": "ESTABLISHED"},
                "timersState": {"negotiatedHoldTime": "90", "keepaliveInterval": "30",
                                "uptime": "2026-01-01T00:00:00Z"}
            })
        );
    }
}
