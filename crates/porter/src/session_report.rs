//! A speaker's BGP sessions, published for `porter status` when Porter runs from a
//! manifests folder (in a cluster the same facts go to BgpPeer `status.nodesPeerStatus`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use porter_speaker::{PeerStatus, StatusBoard};
use serde::{Deserialize, Serialize};

use crate::manifest_dir::ManifestDir;

/// How often the report is refreshed (written only when something changed).
const INTERVAL: Duration = Duration::from_secs(1);

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
        let now = board.bgp_sessions();
        // Rewrite at least every minute so that a report's age tells whether its speaker lives.
        let stale = last_write.elapsed().unwrap_or_default() > Duration::from_secs(60);
        if last.as_ref() != Some(&now) || stale {
            let sessions = now.iter().map(|(peer, s)| line(peer, s)).collect();
            let report = SpeakerReport {
                node: node.clone(),
                written_at: unix(SystemTime::now()),
                sessions,
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

/// The last report of a speaker that stops: its sessions are listed as `Stopped`, so
/// `porter status` does not keep showing them Established.
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
    };
    if let Err(error) = dir.write_speaker_report(node, &report) {
        tracing::warn!(
            error = format!("{error:#}"),
            "cannot write the session report"
        );
    }
}
