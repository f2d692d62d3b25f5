//! `porter status`: one screen that answers "why has my Service no IP?" and "why does traffic
//! not arrive?", from a manifests folder (`--manifests DIR`) or from a cluster (the kubeconfig,
//! as `kubectl` finds it; also run as `kubectl porter status`).
//!
//! The two sources differ only in how they read: [`view`] decides the screen for both.

mod age;
mod cluster;
mod view;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use porter_model::ObjectKey;
use porter_model::assign;

use crate::manifest_dir::ManifestDir;
use crate::session_report::SpeakerReport;

/// `porter status` options.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Folder of Kubernetes YAML manifests to read instead of the cluster.
    #[arg(long, env = "PORTER_MANIFESTS")]
    manifests: Option<PathBuf>,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else the in-cluster service
    /// account).
    #[arg(long, conflicts_with = "manifests")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    #[arg(long, conflicts_with = "manifests")]
    context: Option<String>,
    /// Namespace of the controller's Lease `porter-controller` (the controller's namespace).
    #[arg(long, default_value = "porter-system", conflicts_with = "manifests")]
    controller_namespace: String,
    /// Give up on a request to the API server after this long (`10s`, `500ms`, `1m`; a bare
    /// number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    request_timeout: Duration,
    /// Only this Service (`namespace/name`).
    #[arg(long)]
    service: Option<String>,
    /// Print only the address(es), one per line (for scripts).
    #[arg(long, requires = "service")]
    ip_only: bool,
}

/// Prints the screen (or, with `--ip-only`, just the addresses of one Service: nothing while
/// it has none, so scripts can poll).
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let only = args.service.as_deref().map(ObjectKey::parse);
    // An empty name would turn the one GET of --ip-only into a LIST of the namespace.
    if let Some(key) = only
        .as_ref()
        .filter(|k| k.namespace.is_empty() || k.name.is_empty())
    {
        anyhow::bail!("--service {key}: give it as NAMESPACE/NAME (or NAME in namespace default)");
    }
    match &args.manifests {
        Some(dir) => from_manifests(dir, only.as_ref(), args.ip_only),
        None => cluster::run(&args, only.as_ref()),
    }
}

fn from_manifests(dir: &Path, only: Option<&ObjectKey>, ip_only: bool) -> anyhow::Result<()> {
    let dir = ManifestDir::new(dir.to_path_buf());
    let (snapshot, diagnostics) = dir.load()?;
    if ip_only {
        if let Some(svc) = only.and_then(|k| snapshot.services.get(k)) {
            print_ips(svc);
        }
        return Ok(());
    }
    for d in &diagnostics {
        eprintln!("warning: {d}");
    }
    let now = Timestamp::now();
    let reports = dir.speaker_reports();
    let sessions = sessions_from_reports(&reports, now.as_second());
    let answering = answering_from_reports(&reports, now.as_second());
    let screen = view::screen(&view::Inputs {
        snapshot: &snapshot,
        sessions: &sessions,
        answering: Some(&answering),
        controller: None,
        only,
        now,
    });
    print!("{}", view::render(&screen));
    Ok(())
}

fn print_ips(svc: &k8s_openapi::api::core::v1::Service) {
    for ip in assign::ingress_ips(svc) {
        println!("{ip}");
    }
}

/// A speaker rewrites its report at least every minute: an older one means a dead speaker.
const REPORT_STALE_SECS: i64 = 90;

/// The sessions of the speakers' report files (manifests mode), in BgpPeer status's words.
fn sessions_from_reports(reports: &[SpeakerReport], now: i64) -> Vec<view::Session> {
    let mut out = Vec::new();
    for report in reports {
        let age = now.saturating_sub(i64::try_from(report.written_at).unwrap_or(i64::MAX));
        let stale = (age > REPORT_STALE_SECS)
            .then(|| format!("report {} old: speaker down?", age::human(age)));
        for s in &report.sessions {
            out.push(view::Session {
                node: report.node.clone(),
                peer: s.peer.clone(),
                neighbor: Some(s.address.clone()),
                peer_as: Some(s.peer_as),
                state: s.state.to_ascii_uppercase(),
                up_since: s
                    .established_at
                    .and_then(|t| Timestamp::from_second(i64::try_from(t).ok()?).ok()),
                advertised: Some(s.advertised),
                last_error: s.last_error.clone(),
                stale: stale.clone(),
                bfd: s.bfd.clone(),
            });
        }
    }
    out
}

/// A speaker answering for layer 2 addresses rewrites its report every second: a claim older
/// than this is a dead speaker's.
const LAYER2_REPORT_STALE_SECS: i64 = 5;

/// What each speaker's report file says it answers ARP/NDP for (nothing for a speaker that
/// runs no layer 2, or stopped).
fn answering_from_reports(reports: &[SpeakerReport], now: i64) -> Vec<view::Answering> {
    reports
        .iter()
        .map(|report| {
            let age = now.saturating_sub(i64::try_from(report.written_at).unwrap_or(i64::MAX));
            view::Answering {
                node: report.node.clone(),
                addresses: report
                    .layer2
                    .iter()
                    .filter(|l| l.ready)
                    .flat_map(|l| l.answering.values().flatten().copied())
                    .collect(),
                stale: age > LAYER2_REPORT_STALE_SECS,
            }
        })
        .collect()
}

/// `--request-timeout`: `10s`, `500ms`, `2m`, or a bare number of seconds; at least 1 ms.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s, 500ms or 1m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("{text:?}: unit must be ms, s or m")),
    };
    if d.is_zero() {
        return Err("the timeout must be more than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
