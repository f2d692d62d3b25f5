//! A folder of YAML manifests standing in for the API server.
//!
//! Users' files hold the objects (Eips, BgpConf, BgpPeers, Services, EndpointSlices, Nodes);
//! the controller writes what the status subresource would hold into `status/`, one file per
//! object, so user files are never rewritten; each speaker writes its sessions into
//! `status/speaker-<node>.json`, which a read lays over the BgpPeers' `status.nodesPeerStatus`
//! as a speaker writes them in a cluster. Writes are atomic (write, then rename), so a reader
//! never sees half a file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Service, ServiceStatus};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use porter_api::{Eip, EipStatus, NodePeerStatus, PeerState, TimersState};
use porter_model::manifests::{
    Decode, Diagnostic, Object, Splitter, documents, read_document, yaml,
};
use porter_model::packed::MapBuilder;
use porter_model::projection::{LbService, SliceNodes};
use porter_model::{ObjectKey, Snapshot, SpeakerSnapshot};

use crate::session_report::{SessionLine, SpeakerReport};

/// Sub-folder where status is written.
const STATUS_DIR: &str = "status";

/// The manifests folder.
pub(crate) struct ManifestDir {
    root: PathBuf,
}

/// What the folder looked like: changes when any file is added, removed or rewritten.
pub(crate) type Fingerprint = BTreeSet<(PathBuf, Option<SystemTime>, u64)>;

impl ManifestDir {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    let path = entry?.path();
                    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
                    if yaml && path.is_file() {
                        files.push(path);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        files.sort();
        Ok(files)
    }

    /// Cheap change detection: names, sizes and modification times of the YAML files, and with
    /// `sessions` of the speakers' session reports too.
    pub(crate) fn fingerprint(&self, sessions: bool) -> std::io::Result<Fingerprint> {
        let mut files = Self::yaml_files(&self.root)?;
        files.extend(Self::yaml_files(&self.root.join(STATUS_DIR))?);
        if sessions {
            files.extend(self.speaker_report_files());
        }
        let mut out = Fingerprint::new();
        for path in files {
            let meta = std::fs::metadata(&path)?;
            out.insert((path, meta.modified().ok(), meta.len()));
        }
        Ok(out)
    }

    /// Reads every object with the written status laid over it, and the speakers' sessions
    /// over the BgpPeers ([`lay_sessions`]).
    pub(crate) fn load(&self) -> anyhow::Result<(Snapshot, Vec<Diagnostic>)> {
        self.load_with(Decode::Whole, Some, Some)
    }

    /// [`Self::load`] as a speaker keeps it: each Service and EndpointSlice is decoded thin
    /// (only what the projections read) and reduced to its projection as soon as it is read,
    /// so the whole objects are never built; for `node`'s speaker, with the addresses of
    /// its own ready endpoints (its health probes' targets).
    pub(crate) fn load_projected(
        &self,
        node: Option<&str>,
    ) -> anyhow::Result<(SpeakerSnapshot, Vec<Diagnostic>)> {
        self.load_with(
            Decode::Thin,
            |svc| LbService::of(&svc),
            |slice| SliceNodes::of_on(&slice, node),
        )
    }

    /// Reads the folder keeping of Services and EndpointSlices what `service` and `slice` make
    /// of them. The status files are read first, so a Service is complete (its status laid
    /// over it, as the status subresource would) when it is kept.
    fn load_with<S: Send, E: Send>(
        &self,
        decode: Decode,
        service: impl Fn(Service) -> Option<S> + Sync,
        slice: impl Fn(EndpointSlice) -> Option<E> + Sync,
    ) -> anyhow::Result<(Snapshot<S, E>, Vec<Diagnostic>)> {
        let status = self.read_status()?;
        let files = Self::yaml_files(&self.root)
            .with_context(|| format!("reading {}", self.root.display()))?;
        let keep = |object: Object| match object {
            Object::Service(svc) => {
                let key = ObjectKey::of(&svc.metadata);
                Kept::Service(key, service(status.lay_over(svc)))
            }
            Object::EndpointSlice(s) => Kept::Slice(ObjectKey::of(&s.metadata), slice(s)),
            other => Kept::Object(Box::new(other)),
        };
        let mut snapshot = Snapshot::<S, E>::default();
        // Services and EndpointSlices are many: their maps are built packed (MapBuilder).
        let mut services = MapBuilder::default();
        let mut slices = MapBuilder::default();
        let mut diagnostics = Vec::new();
        // Files in file order, whichever thread read them: a later object replaces an earlier one.
        for read in read_files(&files, decode, &keep) {
            let (kept, diags) = read?;
            diagnostics.extend(diags);
            for item in kept {
                match item {
                    // Neither a Service nor an EndpointSlice: the closures are not called.
                    Kept::Object(object) => snapshot.insert_with(*object, |_| None, |_| None),
                    Kept::Service(Some(key), Some(s)) => services.insert(key, s),
                    Kept::Service(Some(key), None) => services.remove(key),
                    Kept::Slice(Some(key), Some(e)) => slices.insert(key, e),
                    Kept::Slice(Some(key), None) => slices.remove(key),
                    Kept::Service(None, _) | Kept::Slice(None, _) => {}
                }
            }
        }
        snapshot.services = services.finish();
        snapshot.endpoint_slices = slices.finish();
        for (name, eip_status) in status.eips {
            if let Some(eip) = snapshot.eips.get_mut(&name) {
                eip.status = Some(eip_status);
            }
        }
        lay_sessions(&mut snapshot, &self.speaker_reports());
        Ok((snapshot, diagnostics))
    }

    /// What the `status/` files hold.
    fn read_status(&self) -> anyhow::Result<WrittenStatus> {
        let mut status = WrittenStatus::default();
        for path in Self::yaml_files(&self.root.join(STATUS_DIR))? {
            for object in parse_status_file(&path)? {
                match object {
                    Object::Service(svc) => {
                        if let Some(key) = ObjectKey::of(&svc.metadata) {
                            status.services.insert(key, svc.status);
                        }
                    }
                    Object::Eip(eip) => {
                        if let (Some(name), Some(eip_status)) = (eip.metadata.name, eip.status) {
                            status.eips.insert(name, eip_status);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(status)
    }

    fn status_path(&self, kind: &str, name: &str) -> PathBuf {
        self.root
            .join(STATUS_DIR)
            .join(format!("{kind}.{name}.yaml"))
    }

    /// Records a Service's status (None: the Service holds nothing from Porter any more).
    pub(crate) fn write_service_status(
        &self,
        key: &ObjectKey,
        status: Option<ServiceStatus>,
    ) -> anyhow::Result<()> {
        let path = self.status_path("service", &format!("{}.{}", key.namespace, key.name));
        let Some(status) = status else {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        };
        let mut svc = Service::default();
        svc.metadata.name = Some(key.name.clone());
        svc.metadata.namespace = Some(key.namespace.clone());
        svc.status = Some(status);
        self.write(&path, &serde_json::to_value(&svc)?)
    }

    /// Removes the status files of Services that no longer exist.
    pub(crate) fn prune_service_status(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        for path in Self::yaml_files(&self.root.join(STATUS_DIR))? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // service.<namespace>.<name>.yaml: neither part can contain a dot (DNS labels)
            let parts: Vec<&str> = name.split('.').collect();
            if let ["service", namespace, service, "yaml"] = parts.as_slice()
                && !snapshot
                    .services
                    .contains_key(&ObjectKey::new(*namespace, *service))
            {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Records an Eip's status.
    pub(crate) fn write_eip_status(&self, name: &str, status: EipStatus) -> anyhow::Result<()> {
        let mut eip = Eip::new(name, Default::default());
        eip.status = Some(status);
        let mut value = serde_json::to_value(&eip)?;
        if let Some(obj) = value.as_object_mut() {
            obj.remove("spec");
        }
        self.write(&self.status_path("eip", name), &value)
    }

    fn write(&self, path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
        self.write_atomic(path, serde_saphyr::to_string(value)?.as_bytes())
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        let dir = self.root.join(STATUS_DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }

    /// Path of a node speaker's session report. JSON, not YAML: it is no API object, and a
    /// speaker's watcher reacts only to YAML, so reports never wake a speaker (the controller's
    /// follows them, [`Watcher::following_sessions`]).
    fn speaker_report_path(&self, node: &str) -> PathBuf {
        self.root
            .join(STATUS_DIR)
            .join(format!("speaker-{node}.json"))
    }

    /// Records a node speaker's sessions (what BgpPeer `status.nodesPeerStatus` holds in a
    /// cluster).
    pub(crate) fn write_speaker_report(
        &self,
        node: &str,
        report: &crate::session_report::SpeakerReport,
    ) -> anyhow::Result<()> {
        self.write_atomic(
            &self.speaker_report_path(node),
            &serde_json::to_vec_pretty(report)?,
        )
    }

    /// The speakers' session report files.
    fn speaker_report_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.root.join(STATUS_DIR)) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("speaker-"))
            })
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    }

    /// Every node speaker's last session report, by node name.
    pub(crate) fn speaker_reports(&self) -> Vec<SpeakerReport> {
        let mut reports: Vec<SpeakerReport> = self
            .speaker_report_files()
            .into_iter()
            .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
            .collect();
        reports.sort_by(|a, b| a.node.cmp(&b.node));
        reports
    }
}

/// Lays the speakers' reports over the BgpPeers' `status.nodesPeerStatus`, one entry per node
/// and peer in the words a speaker writes in a cluster (gobgp's upper-case state, the time the
/// session came up), replacing whatever a status file or manifest held: the reports are where
/// a folder's speakers say it. Reports of peers that are not in the folder are ignored.
fn lay_sessions<S, E>(snapshot: &mut Snapshot<S, E>, reports: &[SpeakerReport]) {
    let mut by_peer: BTreeMap<&str, BTreeMap<String, NodePeerStatus>> = BTreeMap::new();
    for report in reports {
        for line in &report.sessions {
            by_peer
                .entry(line.peer.as_str())
                .or_default()
                .insert(report.node.clone(), node_peer_status(line));
        }
    }
    for (name, peer) in &mut snapshot.bgp_peers {
        if let Some(nodes) = by_peer.remove(name.as_str()) {
            peer.status
                .get_or_insert_with(Default::default)
                .nodes_peer_status = Some(nodes);
        }
    }
}

/// One session of a report as BgpPeer status holds it.
fn node_peer_status(line: &SessionLine) -> NodePeerStatus {
    NodePeerStatus {
        peer_state: Some(PeerState {
            neighbor_address: Some(line.address.clone()),
            peer_as: Some(line.peer_as),
            session_state: Some(line.state.to_ascii_uppercase()),
            last_error: line.last_error.clone(),
            bfd_state: line.bfd.clone(),
            ..Default::default()
        }),
        timers_state: Some(TimersState {
            negotiated_hold_time: line.hold_time.map(|t| t.to_string()),
            keepalive_interval: line.keepalive.map(|t| t.to_string()),
            uptime: line
                .established_at
                .and_then(|t| Timestamp::from_second(i64::try_from(t).ok()?).ok())
                .map(|t| t.to_string()),
            ..Default::default()
        }),
    }
}

/// The status a folder's `status/` files hold, by object.
#[derive(Default)]
struct WrittenStatus {
    services: BTreeMap<ObjectKey, Option<ServiceStatus>>,
    eips: BTreeMap<String, EipStatus>,
}

impl WrittenStatus {
    /// `svc` with the status written for it, if any (it replaces what the manifest says).
    fn lay_over(&self, mut svc: Service) -> Service {
        if let Some(status) = ObjectKey::of(&svc.metadata).and_then(|key| self.services.get(&key)) {
            svc.status.clone_from(status);
        }
        svc
    }
}

/// What a read keeps of one object: Services and EndpointSlices as the reader reduces them
/// (`None`: nothing, which removes an earlier object of that name), the rest whole.
enum Kept<S, E> {
    /// Boxed: an `Object` is kilobytes wide, and a file's reading holds one `Kept` per object.
    Object(Box<Object>),
    Service(Option<ObjectKey>, Option<S>),
    Slice(Option<ObjectKey>, Option<E>),
}

/// What [`read_files`] made of one file: what it kept and the diagnostics.
type FileRead<S, E> = anyhow::Result<(Vec<Kept<S, E>>, Vec<Diagnostic>)>;

/// Reads `files` on as many threads as there are cores (at most one per file), keeping of
/// each object what `keep` makes of it; the results are in the order of `files`. Parsing is
/// CPU-bound and files are independent, so on 2 cores a folder of several files reads in
/// little more than half the time (docs/benchmarks.md, "Reading a manifests folder").
fn read_files<S: Send, E: Send>(
    files: &[PathBuf],
    decode: Decode,
    keep: &(impl Fn(Object) -> Kept<S, E> + Sync),
) -> Vec<FileRead<S, E>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len());
    let read_one = |path: &PathBuf| -> FileRead<S, E> {
        let mut kept = Vec::new();
        let mut diagnostics = Vec::new();
        read_file(path, decode, &mut diagnostics, &mut |object| {
            kept.push(keep(object))
        })?;
        Ok((kept, diagnostics))
    };
    if threads <= 1 {
        return files.iter().map(read_one).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<FileRead<S, E>>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let read = read_one(path);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(read);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .zip(files)
        .map(|(slot, path)| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(anyhow::anyhow!("reading {} stopped", path.display())))
        })
        .collect()
}

/// Reads the documents of one manifest file, one at a time (a file is never held whole),
/// handing each object to `found`.
fn read_file(
    path: &Path,
    decode: Decode,
    diagnostics: &mut Vec<Diagnostic>,
    found: &mut impl FnMut(Object),
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let mut splitter = Splitter::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                if let Some(document) = splitter.push_line(&line) {
                    read_document(&name, &document, decode, found, diagnostics);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                diagnostics.push(Diagnostic {
                    source: name.clone(),
                    message: "not UTF-8 text: the rest of this file is not read".to_owned(),
                });
                return Ok(());
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    if let Some(document) = splitter.finish() {
        read_document(&name, &document, decode, found, diagnostics);
    }
    Ok(())
}

/// The objects of a status file, carrying only their name and `status`. Not parsed as
/// manifests: an Eip's status file has no `spec`, which an Eip manifest must have, so it would
/// be refused and the Eip would seem to hold no status (and be rewritten on every read).
/// Documents that are not a Service's or an Eip's status are skipped.
fn parse_status_file(path: &Path) -> anyhow::Result<Vec<Object>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut objects = Vec::new();
    for document in documents(&text) {
        // Porter writes these files; a document that does not read is skipped.
        let Ok(value) = yaml::parse::<serde_json::Value>(&document.text, document.first_line)
        else {
            continue;
        };
        match value.get("kind").and_then(serde_json::Value::as_str) {
            Some("Service") => {
                if let Ok(svc) = serde_json::from_value::<Service>(value) {
                    objects.push(Object::Service(svc));
                }
            }
            Some("Eip") => {
                let name = value.pointer("/metadata/name").and_then(|n| n.as_str());
                let status = value
                    .get("status")
                    .map(|s| serde_json::from_value::<EipStatus>(s.clone()));
                if let (Some(name), Some(Ok(status))) = (name, status) {
                    let mut eip = Eip::new(name, Default::default());
                    eip.status = Some(status);
                    objects.push(Object::Eip(eip));
                }
            }
            _ => {}
        }
    }
    Ok(objects)
}

/// Polls the folder and yields a snapshot whenever it changed (and once at start).
pub(crate) struct Watcher {
    dir: ManifestDir,
    last: Option<Fingerprint>,
    interval: std::time::Duration,
    reported: BTreeSet<String>,
    sessions: bool,
}

impl Watcher {
    /// Yields a snapshot when a YAML file changes; the speakers' session reports are read with
    /// it but do not wake it (a speaker's plan does not depend on them).
    pub(crate) fn new(dir: ManifestDir, interval: std::time::Duration) -> Self {
        Self {
            dir,
            last: None,
            interval,
            reported: BTreeSet::new(),
            sessions: false,
        }
    }

    /// Also yields a snapshot when a speaker's session report changes, as the controller's
    /// watch of BgpPeers wakes it in a cluster: its `Announced` conditions follow the sessions.
    /// A speaker rewrites its report at least once a minute, so the controller also re-plans
    /// that often per speaker; with nothing changed it writes nothing.
    pub(crate) fn following_sessions(dir: ManifestDir, interval: std::time::Duration) -> Self {
        Self {
            sessions: true,
            ..Self::new(dir, interval)
        }
    }

    /// The folder, for writing status.
    pub(crate) fn dir(&self) -> &ManifestDir {
        &self.dir
    }

    /// Waits for the next change and returns the new snapshot. Read errors are logged and
    /// retried: a half-edited folder must not stop a running speaker.
    pub(crate) async fn next(&mut self) -> Snapshot {
        self.next_with(ManifestDir::load).await
    }

    /// [`Self::next`] as `node`'s speaker keeps it ([`ManifestDir::load_projected`]).
    pub(crate) async fn next_projected(&mut self, node: &str) -> SpeakerSnapshot {
        self.next_with(|dir| dir.load_projected(Some(node))).await
    }

    async fn next_with<T>(
        &mut self,
        load: impl Fn(&ManifestDir) -> anyhow::Result<(T, Vec<Diagnostic>)>,
    ) -> T {
        loop {
            match self.dir.fingerprint(self.sessions) {
                Ok(fp) if self.last.as_ref() != Some(&fp) => match load(&self.dir) {
                    Ok((snapshot, diagnostics)) => {
                        self.last = Some(fp);
                        self.report(diagnostics);
                        return snapshot;
                    }
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "cannot read manifests")
                    }
                },
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot list manifests"),
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Logs each diagnostic once, not on every reload.
    fn report(&mut self, diagnostics: Vec<Diagnostic>) {
        let now: BTreeSet<String> = diagnostics.iter().map(ToString::to_string).collect();
        for message in now.difference(&self.reported) {
            tracing::warn!("{message}");
        }
        self.reported = now;
    }
}
