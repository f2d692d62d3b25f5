//! `porter controller`: keeps Services' addresses and Eips' status in line with the plan.
//!
//! On a manifests folder the status is the one a cluster gets ([`porter_model::status`]: the
//! same addresses, conditions `porter.kubesphere.io/Announced` and `.../AddressInPool`, the
//! Eip's `Ready` condition, the same Events), written into `status/` files, and each Event
//! logged as one line with its reason and object. The `Announced` condition reads the
//! speakers' sessions from their `status/speaker-<node>.json` reports, which the folder lays
//! over the BgpPeers' `status.nodesPeerStatus` as a speaker writes it in a cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceStatus;
use k8s_openapi::jiff::Timestamp;
use porter_metrics::{ApiErrors, ControllerMetrics, Health, ListenAddress};
use porter_model::Snapshot;
use porter_model::assign::{self, Plan};
use porter_model::status::{self, EventType, Note, Regarding, Reported};

use crate::manifest_dir::{ManifestDir, Watcher};

/// Runs until SIGTERM/Ctrl-C: every change of the manifests (or of a speaker's sessions) is
/// re-planned and the status that differs from the decision is written. Ready once the first
/// plan is written; with no election, this controller always leads.
pub(crate) async fn run(
    manifests: PathBuf,
    poll: Duration,
    metrics_address: ListenAddress,
) -> anyhow::Result<()> {
    let mut registry = crate::observe::registry();
    let metrics = ControllerMetrics::register(&mut registry);
    let health = Health::starting("waiting for the first read of the manifests");
    crate::observe::serve(metrics_address, registry, health.clone()).await?;
    metrics.set_leader(true);
    let mut watcher = Watcher::following_sessions(ManifestDir::new(manifests), poll);
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    let mut heartbeat = tokio::time::interval(Health::HEARTBEAT);
    let mut reported = Reported::new();
    loop {
        let snapshot = tokio::select! {
            s = watcher.next() => s,
            _ = heartbeat.tick() => {
                health.beat();
                continue;
            }
            () = &mut shutdown => return Ok(()),
        };
        let plan = assign::plan(&snapshot);
        metrics.observe(&plan);
        let written = write_status(
            watcher.dir(),
            &snapshot,
            &plan,
            &mut reported,
            Timestamp::now(),
        );
        if let Err(error) = written {
            metrics.reconcile_error("io");
            tracing::error!(error = format!("{error:#}"), "cannot write status");
        }
        health.set_ready();
    }
}

/// Runs on the Kubernetes API (kubeconfig or in-cluster) until SIGTERM/Ctrl-C: only the
/// holder of the Lease `porter-controller` in `namespace` writes; the Lease is released on
/// the way out so another replica takes over at once. Ready once the source has listed every
/// kind it watches, leader or not (see `porter_kube::controller::run_controller`).
pub(crate) async fn run_kube(
    namespace: String,
    metrics_address: ListenAddress,
) -> anyhow::Result<()> {
    let mut registry = crate::observe::registry();
    let api_errors = ApiErrors::register(&mut registry);
    let metrics = ControllerMetrics::register(&mut registry);
    let health = Health::starting("waiting for the initial lists from the Kubernetes API");
    crate::observe::serve(metrics_address, registry, health.clone()).await?;
    let client = porter_kube::client_counting(api_errors).await?;
    let config = porter_kube::controller::ControllerConfig {
        namespace,
        identity: crate::identity(),
        lease_duration: Duration::from_secs(15),
        metrics,
        health,
    };
    porter_kube::controller::run(client, config, crate::shutdown_signal()).await;
    Ok(())
}

/// Writes the status file of every object whose status differs from the decision on `plan`,
/// logging the Events of each once its file is written; `reported` is the warnings already
/// logged (kept across rounds, so each is logged once), `now` stamps condition transitions.
fn write_status(
    dir: &ManifestDir,
    snapshot: &Snapshot,
    plan: &Plan,
    reported: &mut Reported,
    now: Timestamp,
) -> anyhow::Result<()> {
    let coverage = status::planned_coverage(snapshot, plan);
    let decision = status::decide(snapshot, plan, &coverage, reported, now);
    let mut summary = Summary::default();
    for service in &decision.services {
        let Some(svc) = snapshot.services.get(&service.key) else {
            continue;
        };
        if service.status_changes() {
            let mut status = svc.status.clone().unwrap_or_default();
            service.apply_status(&mut status);
            dir.write_service_status(&service.key, Some(status).filter(|s| !is_empty(s)))?;
        }
        for note in &service.notes {
            log(Regarding::Service(&service.key), note, &mut summary);
        }
        match &service.reported {
            Some(warning) => reported.insert(service.key.clone(), warning.clone()),
            None => reported.remove(&service.key),
        };
    }
    // A deleted Service's address is free again; its status file goes with it.
    dir.prune_service_status(snapshot)?;
    for eip in &decision.eips {
        let Some(held) = snapshot.eips.get(&eip.name) else {
            continue;
        };
        if !eip.is_held_by(held) {
            dir.write_eip_status(&eip.name, eip.status.clone())?;
        }
        for note in &eip.notes {
            log(Regarding::Eip(&eip.name), note, &mut summary);
        }
    }
    summary.log();
    Ok(())
}

/// A status with nothing in it: its file is removed rather than written.
fn is_empty(status: &ServiceStatus) -> bool {
    status.load_balancer.is_none() && status.conditions.as_ref().is_none_or(Vec::is_empty)
}

/// One log line per Event, as a cluster's `kubectl get events` would list it: a Warning at
/// WARN (each is reported once), a Normal one at DEBUG, counted into the round's one INFO
/// line ([`Summary`]): allocating 100k Services must not print 100k INFO lines.
fn log(about: Regarding<'_>, note: &Note, summary: &mut Summary) {
    match note.type_ {
        EventType::Normal => {
            tracing::debug!(reason = note.reason, object = %about, "{}", note.message);
            summary.add(note.reason, &about);
        }
        EventType::Warning => {
            tracing::warn!(reason = note.reason, object = %about, "{}", note.message)
        }
    }
}

/// The Normal Events of one round, by reason: how many, and the first few objects.
#[derive(Default)]
struct Summary {
    reasons: BTreeMap<&'static str, (usize, Vec<String>)>,
}

impl Summary {
    /// How many objects a summary names per reason before it only counts.
    const PREVIEW: usize = 5;

    fn add(&mut self, reason: &'static str, about: &Regarding<'_>) {
        let (count, first) = self.reasons.entry(reason).or_default();
        *count += 1;
        if first.len() < Self::PREVIEW {
            first.push(about.to_string());
        }
    }

    /// One INFO line for the round, e.g. `IPAllocated: 2 (Service default/a, Service default/b)`.
    fn text(&self) -> Option<String> {
        let parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, (count, first))| {
                let more = if *count > first.len() { ", ..." } else { "" };
                format!("{reason}: {count} ({}{more})", first.join(", "))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    fn log(&self) {
        if let Some(text) = self.text() {
            tracing::info!(events = %text, "status written");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::Value;

    use super::*;

    #[test]
    fn a_round_of_normal_events_is_one_line_naming_a_few_objects() {
        let mut summary = Summary::default();
        assert_eq!(summary.text(), None);
        let keys: Vec<porter_model::ObjectKey> = (0..7)
            .map(|i| porter_model::ObjectKey::new("default", format!("s{i}")))
            .collect();
        for key in &keys {
            summary.add("IPAllocated", &Regarding::Service(key));
        }
        summary.add("EipReady", &Regarding::Eip("pool"));
        assert_eq!(
            summary.text().unwrap(),
            "EipReady: 1 (Eip pool); IPAllocated: 7 (Service default/s0, Service default/s1, \
             Service default/s2, Service default/s3, Service default/s4, ...)"
        );
    }
    use crate::session_report::{SessionLine, SpeakerReport};

    /// A manifests folder of its own, removed at the end.
    struct Folder(PathBuf);

    impl Folder {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("porter-controller-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const MANIFESTS: &str = r#"
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: pool
  annotations:
    eip.openelb.kubesphere.io/is-default-eip: "true"
spec:
  address: 203.0.113.10-203.0.113.12
  protocol: bgp
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata:
  name: default
spec:
  as: 64513
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata:
  name: tor
spec:
  conf:
    peerAs: 64512
    neighborAddress: 10.0.0.254
---
apiVersion: v1
kind: Node
metadata:
  name: n1
status:
  addresses:
  - type: InternalIP
    address: 10.0.0.1
  conditions:
  - type: Ready
    status: "True"
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations:
    lb.kubesphere.io/v1alpha1: porter
spec:
  type: LoadBalancer
  ports:
  - port: 80
    protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: [10.244.0.5]
  nodeName: n1
  conditions:
    ready: true
"#;

    /// `n1`'s speaker reporting its session with `tor` in `state`.
    fn report(state: &str) -> SpeakerReport {
        SpeakerReport {
            node: "n1".into(),
            written_at: 1_700_000_000,
            sessions: vec![SessionLine {
                peer: "tor".into(),
                address: "10.0.0.254".into(),
                peer_as: 64512,
                state: state.into(),
                established_at: (state == "Established").then_some(1_700_000_000),
                advertised: 1,
                received: 0,
                flaps: 0,
                last_error: None,
                hold_time: (state == "Established").then_some(90),
                keepalive: (state == "Established").then_some(30),
                bfd: None,
            }],
            layer2: None,
        }
    }

    fn read_yaml(path: &Path) -> Value {
        serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn condition(status: &Value, type_: &str) -> Value {
        status["conditions"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["type"] == type_))
            .cloned()
            .unwrap_or_else(|| panic!("no {type_} in {status}"))
    }

    /// One round of the controller on the folder as it is now.
    fn round(dir: &ManifestDir, reported: &mut Reported, second: i64) {
        let (snapshot, diagnostics) = dir.load().unwrap();
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let plan = assign::plan(&snapshot);
        let now = Timestamp::from_second(1_700_000_000 + second).unwrap();
        write_status(dir, &snapshot, &plan, reported, now).unwrap();
    }

    #[test]
    fn a_service_status_file_gains_the_announced_and_address_in_pool_conditions() {
        let folder = Folder::new("conditions");
        std::fs::write(folder.0.join("objects.yaml"), MANIFESTS).unwrap();
        let dir = ManifestDir::new(folder.0.clone());
        dir.write_speaker_report("n1", &report("Established"))
            .unwrap();
        // the speaker's report is laid over the BgpPeer, as its status holds it in a cluster
        let (snapshot, _) = dir.load().unwrap();
        let peer = serde_json::to_value(&snapshot.bgp_peers["tor"]).unwrap();
        assert_eq!(
            peer["status"]["nodesPeerStatus"]["n1"]["peerState"]["sessionState"],
            "ESTABLISHED"
        );
        let timers = &peer["status"]["nodesPeerStatus"]["n1"]["timersState"];
        assert_eq!(
            (&timers["negotiatedHoldTime"], &timers["keepaliveInterval"]),
            (&"90".into(), &"30".into()),
            "{timers}"
        );

        let mut reported = Reported::new();
        round(&dir, &mut reported, 0);
        let service_file = folder.0.join("status/service.default.web.yaml");
        let status = read_yaml(&service_file)["status"].clone();
        assert_eq!(
            status["loadBalancer"]["ingress"][0]["ip"], "203.0.113.10",
            "{status}"
        );
        let announced = condition(&status, status::ANNOUNCED);
        assert_eq!(announced["status"], "True", "{announced}");
        assert_eq!(announced["reason"], "Announced", "{announced}");
        assert_eq!(announced["message"], "203.0.113.10: announced by n1");
        let in_pool = condition(&status, status::ADDRESS_IN_POOL);
        assert_eq!(in_pool["status"], "True", "{in_pool}");
        assert_eq!(in_pool["reason"], "InPool", "{in_pool}");
        assert_eq!(in_pool["message"], "203.0.113.10 is in Eip pool");
        let eip = read_yaml(&folder.0.join("status/eip.pool.yaml"))["status"].clone();
        assert_eq!(eip["usage"], 1, "{eip}");
        let ready = condition(&eip, status::READY);
        assert_eq!(
            (&ready["status"], &ready["reason"]),
            (&"True".into(), &"Valid".into())
        );

        // a round on what it wrote writes nothing, even a minute later
        let before = dir.fingerprint(true).unwrap();
        let text = std::fs::read_to_string(&service_file).unwrap();
        round(&dir, &mut reported, 60);
        assert_eq!(dir.fingerprint(true).unwrap(), before);
        assert_eq!(std::fs::read_to_string(&service_file).unwrap(), text);

        // the session goes down: the condition says so, with a new transition time
        dir.write_speaker_report("n1", &report("Active")).unwrap();
        assert_ne!(
            dir.fingerprint(true).unwrap(),
            before,
            "the controller wakes"
        );
        round(&dir, &mut reported, 120);
        let status = read_yaml(&service_file)["status"].clone();
        let down = condition(&status, status::ANNOUNCED);
        assert_eq!(down["status"], "False", "{down}");
        assert_eq!(down["reason"], "NoEstablishedSession", "{down}");
        assert_eq!(
            down["message"],
            "203.0.113.10: announced by n1; no Established BGP session on n1"
        );
        assert_ne!(down["lastTransitionTime"], announced["lastTransitionTime"]);
        assert_eq!(
            condition(&status, status::ADDRESS_IN_POOL),
            in_pool,
            "untouched"
        );
    }
}
