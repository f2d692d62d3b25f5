//! A speaker's own line in every BgpPeer's status: `status.nodesPeerStatus[<node>]`.
//!
//! Every speaker writes only its own key, with a JSON merge patch on the status subresource
//! (`{"status":{"nodesPeerStatus":{"<node>":{...}}}}`): a merge patch merges maps key by key,
//! so the other nodes' entries are never read, rewritten or clobbered, and no speaker needs
//! a read-modify-write cycle. The entry holds the session state (gobgp's spelling, as OpenELB
//! wrote it) and when the session came up; never the password (OpenELB copied the whole peer
//! configuration, `authPassword` included).
//!
//! A BgpPeer this node has a problem with (a plan problem `BgpPeer <name>: <text>`, e.g. a
//! missing `spec.conf.authPasswordSecretRef` Secret) and no session for gets an `IDLE` entry
//! whose `lastError` is that text, naming the field.
//!
//! An entry is written when it changes, and rewritten every `resync` in case someone removed
//! it. A peer this node no longer peers with has its entry removed (`null`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use porter_api::{BgpPeer, NodePeerStatus, PeerState, TimersState};
use porter_bgp::State;
use porter_speaker::{PeerStatus, StatusBoard};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Error;

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
            ..Default::default()
        }),
        timers_state: Some(TimersState {
            uptime,
            ..Default::default()
        }),
    }
}

/// This node's entry for a peer it does not run because of `problem` (the plan problem's
/// text after `BgpPeer <name>: `).
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
pub fn peer_problems(problems: &[String]) -> BTreeMap<String, String> {
    let mut by_peer: BTreeMap<String, String> = BTreeMap::new();
    for problem in problems {
        let Some((name, text)) = problem
            .strip_prefix("BgpPeer ")
            .and_then(|rest| rest.split_once(": "))
        else {
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

/// How often the board is read and how often entries are rewritten anyway.
#[derive(Debug, Clone)]
pub struct SpeakerStatusConfig {
    /// How often the status board is checked for changes.
    pub poll: Duration,
    /// How often an unchanged entry is rewritten.
    pub resync: Duration,
}

impl Default for SpeakerStatusConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            resync: Duration::from_secs(30),
        }
    }
}

/// Writes `node`'s entries from the speaker's status board, and from the plan's `problems`
/// for peers without a session, until the task is dropped.
pub async fn run_speaker_status(
    client: Client,
    node: String,
    board: StatusBoard,
    problems: watch::Receiver<Vec<String>>,
    config: SpeakerStatusConfig,
) {
    run_with_problems(
        client,
        node,
        move || board.snapshot(),
        move || problems.borrow().clone(),
        config,
    )
    .await;
}

/// Like [`run_speaker_status`], reading the sessions' status from `sessions` (what
/// [`StatusBoard::snapshot`] returns: BgpPeer name → status).
pub async fn run_with(
    client: Client,
    node: String,
    sessions: impl Fn() -> BTreeMap<String, PeerStatus>,
    config: SpeakerStatusConfig,
) {
    run_with_problems(client, node, sessions, Vec::new, config).await;
}

/// Like [`run_with`], also writing an `IDLE` entry with `lastError` for every peer that
/// `problems` (the plan's problems) has a `BgpPeer <name>: ` problem about and no session.
pub async fn run_with_problems(
    client: Client,
    node: String,
    sessions: impl Fn() -> BTreeMap<String, PeerStatus>,
    problems: impl Fn() -> Vec<String>,
    config: SpeakerStatusConfig,
) {
    let api: Api<BgpPeer> = Api::all(client);
    let mut writer = StatusWriter {
        api,
        node,
        written: BTreeMap::new(),
        uptimes: BTreeMap::new(),
    };
    let mut ticks = tokio::time::interval(config.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_resync = Instant::now();
    loop {
        ticks.tick().await;
        let resync = last_resync.elapsed() >= config.resync;
        if resync {
            last_resync = Instant::now();
        }
        writer.sync(&sessions(), &problems(), resync).await;
    }
}

struct StatusWriter {
    api: Api<BgpPeer>,
    node: String,
    /// What was last written per peer.
    written: BTreeMap<String, NodePeerStatus>,
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
        board: &BTreeMap<String, PeerStatus>,
        problems: &[String],
        resync: bool,
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
        for (peer, entry) in &desired {
            if !resync && self.written.get(peer) == Some(entry) {
                continue;
            }
            match self.patch(peer, serde_json::to_value(entry).ok()).await {
                Ok(()) => {
                    self.written.insert(peer.clone(), entry.clone());
                }
                Err(error) if error.code() == Some(404) => {
                    // the BgpPeer is gone; the plan will drop the session
                    self.written.remove(peer);
                }
                Err(error) => {
                    tracing::warn!(%error, kind = error.kind(), peer, "cannot write BgpPeer status")
                }
            }
        }
        let gone: Vec<String> = self
            .written
            .keys()
            .filter(|p| !desired.contains_key(*p))
            .cloned()
            .collect();
        for peer in gone {
            match self.patch(&peer, None).await {
                Ok(()) => {
                    self.written.remove(&peer);
                }
                Err(error) if error.code() == Some(404) => {
                    self.written.remove(&peer);
                }
                Err(error) => {
                    tracing::warn!(%error, kind = error.kind(), peer, "cannot remove BgpPeer status")
                }
            }
        }
    }

    /// Sets (or with `None` removes) this node's entry in `peer`'s status.
    async fn patch(&self, peer: &str, entry: Option<Value>) -> Result<(), Error> {
        let patch = json!({"status": {"nodesPeerStatus": {self.node.as_str(): entry}}});
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

#[cfg(test)]
mod tests {
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
        };
        let v =
            serde_json::to_value(node_status(&peer, Some("2026-01-01T00:00:00Z".into()))).unwrap();
        assert_eq!(
            v,
            json!({
                "peerState": {"neighborAddress": "10.99.0.1", "peerAs": 64512, "sessionState": "ESTABLISHED"},
                "timersState": {"uptime": "2026-01-01T00:00:00Z"}
            })
        );
    }
}
