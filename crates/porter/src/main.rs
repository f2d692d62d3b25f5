//! `porter`: one binary for every role of Porter, the bare-metal Kubernetes load balancer.
//!
//! * `porter controller` assigns Eip addresses to LoadBalancer Services;
//! * `porter speaker` runs on every node and announces them over BGP;
//! * `porter status` shows what was assigned and why not (also as `kubectl porter status`);
//!   `porter crds` prints the CRDs.
//!
//! Both roles read their objects from a source: the Kubernetes API (kubeconfig or in-cluster
//! service account; see `porter-kube`), or with `--manifests DIR` a folder of Kubernetes-style
//! YAML manifests (no cluster needed). Both feed the same pure cores ([`porter_model`]).

mod controller;
mod kubectl_plugin;
mod manifest_dir;
mod observe;
mod session_report;
mod speaker;
mod status;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// `porter --version`: the release and the commit it was built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PORTER_COMMIT"),
    ")"
);

/// Porter: a load balancer for bare-metal Kubernetes (BGP + ECMP), OpenELB-compatible.
#[derive(Parser)]
#[command(version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assign Eip addresses to LoadBalancer Services that opt in.
    Controller {
        /// Folder of Kubernetes YAML manifests to read objects from (and write status to)
        /// instead of the Kubernetes API.
        #[arg(long, env = "PORTER_MANIFESTS")]
        manifests: Option<PathBuf>,
        /// Namespace of the leader-election Lease (the controller's own namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "porter-system")]
        namespace: String,
        /// How often the folder is checked for changes, in milliseconds.
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
        /// Where to serve /metrics, /healthz and /readyz (`off`: nowhere).
        #[arg(long, env = "PORTER_METRICS_ADDRESS", default_value = observe::CONTROLLER_ADDRESS)]
        metrics_address: porter_metrics::ListenAddress,
    },
    /// Announce the addresses this node serves to its BGP peers.
    Speaker {
        /// Folder of Kubernetes YAML manifests to read objects from instead of the
        /// Kubernetes API.
        #[arg(long, env = "PORTER_MANIFESTS")]
        manifests: Option<PathBuf>,
        /// This node's name (as in its Node object).
        #[arg(long, env = "NODE_NAME")]
        node: String,
        /// The speaker's namespace, where Secret porter-member holds the layer 2 membership key.
        #[arg(long, env = "POD_NAMESPACE", default_value = porter_model::announce::DEFAULT_NAMESPACE)]
        namespace: String,
        /// How often the folder is checked for changes, in milliseconds.
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
        /// Keep announcing while this node is cordoned (by default a cordoned node stops
        /// attracting traffic, so it can be drained before maintenance).
        #[arg(long, env = "PORTER_ANNOUNCE_FROM_CORDONED")]
        announce_from_cordoned: bool,
        /// Where to serve /metrics, /healthz and /readyz (`off`: nowhere); on the node's
        /// network in a cluster.
        #[arg(long, env = "PORTER_METRICS_ADDRESS", default_value = observe::SPEAKER_ADDRESS)]
        metrics_address: porter_metrics::ListenAddress,
        /// On SIGTERM, how long sessions without graceful restart announce this node's routes
        /// with the GRACEFUL_SHUTDOWN community (RFC 8326) before withdrawing them, in seconds
        /// (0: withdraw at once). The pod's termination grace period must exceed it by 3 s.
        #[arg(long, env = "PORTER_DRAIN_SECONDS", default_value_t = 5)]
        drain_seconds: u64,
    },
    /// Show Services (address, pool, announcing nodes, why no IP or no traffic), the BGP
    /// sessions and the Eip pools, from the cluster (kubeconfig) or a manifests folder.
    Status(status::Args),
    /// Print the CustomResourceDefinitions (Eip, BgpConf, BgpPeer) as YAML.
    Crds,
}

/// Allocations from this size up get pages of their own (glibc's default, kept fixed: see
/// `porter_sys::fix_mmap_threshold`).
const MMAP_THRESHOLD: usize = 128 * 1024;

fn main() -> anyhow::Result<()> {
    porter_sys::fix_mmap_threshold(MMAP_THRESHOLD);
    porter_sys::limit_arenas(1);
    let cli: Cli = kubectl_plugin::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", porter_api::crds_yaml());
            Ok(())
        }
        Command::Status(args) => status::run(args),
        Command::Controller {
            manifests,
            namespace,
            poll_ms,
            metrics_address,
        } => {
            init_tracing();
            let rt = runtime()?;
            match manifests {
                Some(dir) => rt.block_on(controller::run(
                    dir,
                    Duration::from_millis(poll_ms),
                    metrics_address,
                )),
                None => rt.block_on(controller::run_kube(namespace, metrics_address)),
            }
        }
        Command::Speaker {
            manifests,
            node,
            namespace,
            poll_ms,
            announce_from_cordoned,
            metrics_address,
            drain_seconds,
        } => {
            init_tracing();
            let options = porter_model::announce::Options {
                announce_from_cordoned,
                namespace,
            };
            runtime()?.block_on(speaker::run(
                manifests,
                node,
                Duration::from_millis(poll_ms),
                options,
                metrics_address,
                Duration::from_secs(drain_seconds),
            ))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .compact()
        .init();
}

/// This replica's name for leader election and Events: the Pod name (`POD_NAME`, from the
/// downward API), else the host name, else one made of the process id.
fn identity() -> String {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("porter-{}", std::process::id()))
}

/// Resolves when the process is asked to stop (SIGTERM from Kubernetes or a supervisor,
/// Ctrl-C from a terminal).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
