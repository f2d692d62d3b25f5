//! A speaker's BGP sessions and layer 2 answers, published for `porter status` when Porter
//! runs from a manifests folder (in a cluster the sessions go to BgpPeer
//! `status.nodesPeerStatus`; who answers ARP/NDP is in the speaker's metrics and log).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use porter_speaker::{PeerStatus, StatusBoard};
use serde::{Deserialize, Serialize};

use crate::manifest_dir::ManifestDir;

/// How often the report is refreshed (written only when something changed).
const INTERVAL: Duration = Duration::from_secs(1);

/// A report is rewritten at least this often, so that its age tells whether its speaker lives.
const REWRITE: Duration = Duration::from_secs(60);

/// While the speaker answers for layer 2 addresses its report is rewritten every
/// [`INTERVAL`]: a killed speaker's claim to answer must age out in seconds, the time another
/// node takes over in, not in minutes.
const REWRITE_LAYER2: Duration = INTERVAL;

/// One node's sessions at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpeakerReport {
    /// The node the speaker runs on.
    pub(crate) node: String,
    /// When the report was written (Unix seconds): a stale report means a dead speaker.
    pub(crate) written_at: u64,
    /// One line per BgpPeer.
    pub(crate) sessions: Vec<SessionLine>,
    /// What the node answers ARP/NDP for, while it runs layer 2. Absent from reports older
    /// speakers wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) layer2: Option<Layer2Line>,
}

/// A speaker's layer 2 state: the moment's owners as its membership sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Layer2Line {
    /// Whether it may answer (hears a quorum of the speakers).
    pub(crate) ready: bool,
    /// The speakers it hears, itself included while ready.
    pub(crate) alive: Vec<String>,
    /// The addresses it answers for, by interface (an Eip's `spec.interface`).
    pub(crate) answering: BTreeMap<String, Vec<IpAddr>>,
    /// Why an interface cannot answer, or heartbeats cannot be exchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<String>,
}

/// The layer 2 part of the board, or `None` while the speaker runs no layer 2. Counters are
/// left to the metrics: a report is rewritten when what it says changes, not per request.
fn layer2_line(board: &StatusBoard) -> Option<Layer2Line> {
    let membership = board.membership();
    let responders = board.layer2_responders();
    if membership.is_none() && responders.is_empty() {
        return None;
    }
    let mut errors = Vec::new();
    let (ready, alive) = match membership {
        Some((_, m)) => {
            if let Some(e) = m.last_error {
                errors.push(format!("membership: {e}"));
            }
            (m.ready, m.alive)
        }
        None => (false, Vec::new()),
    };
    let answering = responders
        .into_iter()
        .map(|(interface, r)| {
            if let Some(e) = &r.last_error {
                errors.push(format!("{interface}: {e}"));
            }
            (interface, r.owned)
        })
        .collect();
    Some(Layer2Line {
        ready,
        alive,
        answering,
        errors,
    })
}

/// One session, in words an operator reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionLine {
    pub(crate) peer: String,
    pub(crate) address: String,
    pub(crate) peer_as: u32,
    pub(crate) state: String,
    /// When the session became Established (Unix seconds).
    pub(crate) established_at: Option<u64>,
    pub(crate) advertised: usize,
    pub(crate) received: usize,
    pub(crate) flaps: u64,
    pub(crate) last_error: Option<String>,
    /// Negotiated hold time and keepalive interval (seconds), while the session is up. Absent
    /// from reports older speakers wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hold_time: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keepalive: Option<u16>,
    /// The BFD session's state when the BgpPeer enables BFD (`Up`, `Down`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bfd: Option<String>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn line(peer: &str, status: &PeerStatus) -> SessionLine {
    // The board keeps monotonic instants; the report needs wall-clock time.
    let established_at = status.established_since.map(|since| {
        unix(
            SystemTime::now()
                - tokio::time::Instant::now()
                    .into_std()
                    .saturating_duration_since(since),
        )
    });
    SessionLine {
        peer: peer.to_owned(),
        address: status.address.to_string(),
        peer_as: status.peer_as,
        state: status.state.to_string(),
        established_at,
        advertised: status.advertised,
        received: status.received,
        flaps: status.flaps,
        last_error: status.last_error.clone(),
        hold_time: status.timers.map(|t| t.hold_time),
        keepalive: status.timers.map(|t| t.keepalive),
        bfd: status.bfd.map(|s| s.to_string()),
    }
}

/// Writes this node's report whenever the sessions change (checked every second), until
/// the task is dropped.
pub(crate) async fn run(dir: ManifestDir, node: String, board: StatusBoard) {
    let mut last = None;
    let mut last_write = SystemTime::UNIX_EPOCH;
    loop {
        let now = (board.bgp_sessions(), layer2_line(&board));
        let every = if now.1.is_some() {
            REWRITE_LAYER2
        } else {
            REWRITE
        };
        let stale = last_write.elapsed().unwrap_or_default() >= every;
        if last.as_ref() != Some(&now) || stale {
            let sessions = now.0.iter().map(|(peer, s)| line(peer, s)).collect();
            let report = SpeakerReport {
                node: node.clone(),
                written_at: unix(SystemTime::now()),
                sessions,
                layer2: now.1.clone(),
            };
            match dir.write_speaker_report(&node, &report) {
                Ok(()) => {
                    last = Some(now);
                    last_write = SystemTime::now();
                }
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot write the session report"
                ),
            }
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// The last report of a speaker that stops: its sessions are listed as `Stopped` and it
/// answers nothing, so `porter status` does not keep showing them Established or it answering.
pub(crate) fn write_stopped(
    dir: &ManifestDir,
    node: &str,
    last: &std::collections::BTreeMap<String, PeerStatus>,
) {
    let sessions = last
        .iter()
        .map(|(peer, s)| SessionLine {
            state: "Stopped".into(),
            established_at: None,
            ..line(peer, s)
        })
        .collect();
    let report = SpeakerReport {
        node: node.to_owned(),
        written_at: unix(SystemTime::now()),
        sessions,
        layer2: None,
    };
    if let Err(error) = dir.write_speaker_report(node, &report) {
        tracing::warn!(
            error = format!("{error:#}"),
            "cannot write the session report"
        );
    }
}
