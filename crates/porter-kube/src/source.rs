//! The Kubernetes API as a source of [`Snapshot`]s.
//!
//! [`KubeSource`] runs one watcher per kind Porter reads (Eip, BgpConf, BgpPeer, Service,
//! EndpointSlice, Node, Namespace) and applies their events to one [`Snapshot`], the value of a
//! `tokio::sync::watch` channel: receivers are notified whenever something changed (after a
//! short debounce, so a burst of events gives one notification) and read the snapshot in
//! place. There is a single copy of the objects: a receiver borrows it for as long as it plans
//! (the watches' updates wait meanwhile) or clones it if it needs its own.
//!
//! Three rules make the snapshots safe to plan from:
//!
//! * **Nothing is published before every watcher finished its initial list.** A controller
//!   planning from a partial view would see Services without the pools their addresses came
//!   from, or pools without the Services holding addresses, and could hand a held address to
//!   someone else. Until the first notification the channel's value is a partial view (the
//!   lists are applied to it as they arrive): wait for the first `changed()` before reading.
//! * **A relist replaces a kind atomically.** After a `410 Gone` (or any restart of a watch),
//!   the watcher lists again; the listed objects are buffered ([`Tracker`]) and swapped in on
//!   `InitDone`, so a snapshot never shows half a relist.
//! * **An unreachable API keeps the last snapshot.** Watch errors are retried with
//!   [`WatchStreamExt::default_backoff`]; the snapshot is left as it was, so a speaker keeps
//!   announcing what it announced (no mass withdraw because the API server restarts).
//!
//! Each role watches only the kinds its plan reads ([`Kinds::CONTROLLER`], [`Kinds::SPEAKER`]),
//! so its RBAC needs nothing more (`deploy/porter.yaml`), and keeps only what it reads of
//! them ([`Keep`]): the controller whole Services and EndpointSlices, the speaker their
//! [`LbService`] and [`SliceNodes`] projections ([`SpeakerSource`]), a few hundred bytes
//! instead of kilobytes each.
//!
//! ## Secrets
//!
//! Secrets are never listed or watched: that would need read access to every Secret of the
//! cluster. A source configured with [`SourceConfig::secret_refresh`] (the speaker's) reads
//! exactly the Secrets that BgpPeers name in `spec.conf.authPasswordSecretRef`, one `GET` by
//! name each ([`SecretCache`]): the newly referenced ones before publishing a snapshot whose set
//! of references changed, and all of them again every `secret_refresh`, so a rotated password
//! is picked up. A Secret that does not exist (404) is absent from the snapshot, and the model
//! reports the peer ("not found") and does not start it. A Secret the speaker may not read (403)
//! is absent too, and listed in `Snapshot::unreadable_secrets` with the Role to extend
//! ([`forbidden_reason`]), so the peer's problem (the speaker's log, the BgpPeer's `lastError`)
//! says "forbidden" rather than "not found". Any other failure (unreachable, timeout) keeps the
//! last value read. Only `data` is kept: annotations (`kubectl apply` copies the whole Secret
//! into one) and managed fields are dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as make_watcher};
use kube::{Api, Client, Resource, ResourceExt};
use porter_api::{BgpConf, BgpPeer, Eip};
use porter_model::projection::{LbService, SliceNodes};
use porter_model::{ObjectKey, Snapshot};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Which kinds a source watches. A kind that is not watched stays empty in every snapshot
/// (and counts as synced), and the role needs no RBAC rule for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    /// Eip (`network.kubesphere.io`).
    pub eips: bool,
    /// BgpConf (`network.kubesphere.io`).
    pub bgp_confs: bool,
    /// BgpPeer (`network.kubesphere.io`).
    pub bgp_peers: bool,
    /// Service.
    pub services: bool,
    /// EndpointSlice (`discovery.k8s.io`).
    pub endpoint_slices: bool,
    /// Node.
    pub nodes: bool,
    /// Namespace.
    pub namespaces: bool,
}

impl Kinds {
    /// Every kind a [`Snapshot`] holds (but Secrets, which are never watched).
    pub const ALL: Self = Self {
        eips: true,
        bgp_confs: true,
        bgp_peers: true,
        services: true,
        endpoint_slices: true,
        nodes: true,
        namespaces: true,
    };

    /// What `porter_model::assign::plan` reads (Eips, Services, and Namespaces for Eip
    /// `namespaceSelector`) and what `porter_model::coverage` reads to report which nodes
    /// announce each Service (`announce::plan`'s BgpConfs, BgpPeers with their sessions'
    /// status, EndpointSlices and Nodes): every kind.
    pub const CONTROLLER: Self = Self::ALL;

    /// What `porter_model::announce::plan` reads: everything but Namespaces.
    pub const SPEAKER: Self = Self {
        namespaces: false,
        ..Self::ALL
    };

    /// The watched resources as `(API group, plural)`, the way RBAC rules name them.
    pub fn resources(&self) -> Vec<(&'static str, &'static str)> {
        const PORTER: &str = "network.kubesphere.io";
        [
            (self.eips, (PORTER, "eips")),
            (self.bgp_confs, (PORTER, "bgpconfs")),
            (self.bgp_peers, (PORTER, "bgppeers")),
            (self.services, ("", "services")),
            (self.endpoint_slices, ("discovery.k8s.io", "endpointslices")),
            (self.nodes, ("", "nodes")),
            (self.namespaces, ("", "namespaces")),
        ]
        .into_iter()
        .filter_map(|(on, r)| on.then_some(r))
        .collect()
    }
}

/// What the source watches and how.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Watch only this Node (`fieldSelector=metadata.name=<node>`): a speaker needs its own
    /// Node only, and on a large cluster every Node's heartbeat would otherwise wake it up.
    pub only_node: Option<String>,
    /// How long to wait after a change for more changes before publishing.
    pub debounce: Duration,
    /// The kinds to watch.
    pub kinds: Kinds,
    /// Read the Secrets BgpPeers reference (by name, see the module docs) and read them again
    /// this often; `None` = never read a Secret (`Snapshot::secrets` stays empty).
    pub secret_refresh: Option<Duration>,
    /// Objects per page of an initial list (kube-rs's default: 500). A page is decoded as
    /// whole objects before anything is kept of them, so it sets a role's transient peak:
    /// 500 Services are about 3.5 MiB.
    pub list_page_size: u32,
}

impl Default for SourceConfig {
    /// Every kind, no Secrets.
    fn default() -> Self {
        Self {
            only_node: None,
            debounce: Duration::from_millis(50),
            kinds: Kinds::ALL,
            secret_refresh: None,
            list_page_size: Self::LIST_PAGE_SIZE,
        }
    }
}

impl SourceConfig {
    /// kube-rs's (and client-go's) page size for initial lists.
    pub const LIST_PAGE_SIZE: u32 = 500;

    /// The speaker's page size: a speaker keeps a few hundred bytes per Service, so a page of
    /// 500 whole Services would be most of its peak memory; 100 costs five times the list
    /// requests, once per (re)list.
    pub const SPEAKER_LIST_PAGE_SIZE: u32 = 100;

    /// How often the speaker re-reads its BgpPeers' password Secrets.
    pub const SECRET_REFRESH: Duration = Duration::from_secs(60);

    /// What `porter controller` reads: [`Kinds::CONTROLLER`], no Secrets.
    pub fn controller() -> Self {
        Self {
            kinds: Kinds::CONTROLLER,
            ..Self::default()
        }
    }

    /// What `porter speaker` on `node` reads: [`Kinds::SPEAKER`], only its own Node, and the
    /// BgpPeers' password Secrets, re-read every [`Self::SECRET_REFRESH`].
    pub fn speaker(node: &str) -> Self {
        Self {
            only_node: Some(node.to_owned()),
            kinds: Kinds::SPEAKER,
            secret_refresh: Some(Self::SECRET_REFRESH),
            list_page_size: Self::SPEAKER_LIST_PAGE_SIZE,
            ..Self::default()
        }
    }
}

/// How a source keeps a watched object of kind `K`: whole (`K` itself), or only what its
/// role reads (a projection such as [`LbService`]), so a role's memory follows what it uses.
pub trait Keep<K>: Clone + PartialEq + Sized {
    /// What to keep of `obj`; `None` when nothing of it matters to the role (a Service that
    /// is not Porter's): the object is then not held, and its changes publish nothing.
    fn keep(obj: K) -> Option<Self>;
}

impl<K: Clone + PartialEq> Keep<K> for K {
    fn keep(obj: K) -> Option<K> {
        Some(obj)
    }
}

impl Keep<Service> for Arc<LbService> {
    fn keep(obj: Service) -> Option<Self> {
        LbService::of(&obj).map(Arc::new)
    }
}

impl Keep<EndpointSlice> for Arc<SliceNodes> {
    fn keep(obj: EndpointSlice) -> Option<Self> {
        SliceNodes::of(&obj).map(Arc::new)
    }
}

/// Watches the API and publishes snapshots; stops when dropped. `S` and `E` are what it keeps
/// of Services and EndpointSlices ([`Keep`]).
#[derive(Debug)]
pub struct KubeSource<S = Service, E = EndpointSlice> {
    rx: watch::Receiver<Snapshot<S, E>>,
    task: JoinHandle<()>,
}

/// The speaker's source: Services and EndpointSlices reduced to what announcing reads
/// (`porter_model::SpeakerSnapshot`).
pub type SpeakerSource = KubeSource<Arc<LbService>, Arc<SliceNodes>>;

impl KubeSource {
    /// Starts the watchers, keeping whole objects. The first snapshot is published once
    /// every initial list is done.
    pub fn start(client: Client, config: SourceConfig) -> Self {
        Self::start_keeping(client, config)
    }
}

impl<S, E> KubeSource<S, E>
where
    S: Keep<Service> + Send + Sync + 'static,
    E: Keep<EndpointSlice> + Send + Sync + 'static,
{
    /// Starts the watchers, keeping `S` of each Service and `E` of each EndpointSlice. The
    /// first snapshot is published once every initial list is done.
    pub fn start_keeping(client: Client, config: SourceConfig) -> Self {
        let (tx, rx) = watch::channel(Snapshot::default());
        let task = tokio::spawn(run(client, config, tx));
        Self { rx, task }
    }

    /// A receiver of the snapshots. Wait for `changed()` before reading it: until the first
    /// notification the value may be a partial view (initial lists still running). Borrow it
    /// only while planning: the watches cannot apply events while it is borrowed.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot<S, E>> {
        self.rx.clone()
    }
}

impl<S, E> Drop for KubeSource<S, E> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Follows one kind's watch events into that kind's map of a [`Snapshot`] (what is kept of
/// each object, `V`): buffers a relist to swap it in whole, and knows whether the first list
/// is done.
#[derive(Debug)]
pub struct Tracker<Key, K, V = K> {
    /// The objects of a list in progress, in arrival order. A list, not a map: the map is
    /// built in one go at the end, which packs its nodes (a map grown one sorted insert at
    /// a time keeps its nodes about half empty: 0.8 MiB of a speaker's 15 at 10k Services).
    relist: Option<Vec<(Key, V)>>,
    synced: bool,
    key: fn(&K) -> Option<Key>,
    kind: PhantomData<fn(K)>,
}

impl<Key: Ord + Clone, K, V: Keep<K>> Tracker<Key, K, V> {
    /// A tracker of a kind not yet listed, keyed by `key` (objects without a key are ignored).
    pub fn new(key: fn(&K) -> Option<Key>) -> Self {
        Self {
            relist: None,
            synced: false,
            key,
            kind: PhantomData,
        }
    }

    /// Applies one watcher event to `live`; true when `live` changed.
    pub fn apply(&mut self, live: &mut BTreeMap<Key, V>, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relist = Some(Vec::new());
                false
            }
            Event::InitApply(obj) => {
                if let (Some(buf), Some(key)) = (self.relist.as_mut(), (self.key)(&obj))
                    && let Some(kept) = V::keep(obj)
                {
                    buf.push((key, kept));
                }
                false
            }
            Event::InitDone => {
                // On a duplicate key (never sent by an API server) the last one wins.
                let listed: BTreeMap<Key, V> =
                    self.relist.take().unwrap_or_default().into_iter().collect();
                let first = !self.synced;
                self.synced = true;
                let changed = listed != *live;
                *live = listed;
                changed || first
            }
            Event::Apply(obj) => {
                let Some(key) = (self.key)(&obj) else {
                    return false;
                };
                let Some(kept) = V::keep(obj) else {
                    // Nothing of it matters (any more): forget what was kept.
                    return live.remove(&key).is_some();
                };
                if live.get(&key) == Some(&kept) {
                    return false;
                }
                live.insert(key, kept);
                true
            }
            Event::Delete(obj) => {
                let Some(key) = (self.key)(&obj) else {
                    return false;
                };
                live.remove(&key).is_some()
            }
        }
    }

    /// A tracker of a kind that is not watched: synced for good, its map stays empty.
    pub fn unwatched(key: fn(&K) -> Option<Key>) -> Self {
        Self {
            synced: true,
            ..Self::new(key)
        }
    }

    /// Whether the first list is complete.
    pub fn synced(&self) -> bool {
        self.synced
    }
}

fn name_of<K: ResourceExt>(obj: &K) -> Option<String> {
    obj.meta().name.clone()
}

fn key_of<K: ResourceExt>(obj: &K) -> Option<ObjectKey> {
    ObjectKey::of(obj.meta())
}

/// A [`Tracker`] per kind a [`Snapshot`] holds; `S` and `E` are what is kept of each Service
/// and EndpointSlice ([`Keep`]).
#[derive(Debug)]
pub struct Trackers<S = Service, E = EndpointSlice> {
    eips: Tracker<String, Eip>,
    bgp_confs: Tracker<String, BgpConf>,
    bgp_peers: Tracker<String, BgpPeer>,
    services: Tracker<ObjectKey, Service, S>,
    endpoint_slices: Tracker<ObjectKey, EndpointSlice, E>,
    nodes: Tracker<String, Node>,
    namespaces: Tracker<String, Namespace>,
}

impl<S: Keep<Service>, E: Keep<EndpointSlice>> Default for Trackers<S, E> {
    /// Trackers for every kind.
    fn default() -> Self {
        Self::new(Kinds::ALL)
    }
}

impl<S: Keep<Service>, E: Keep<EndpointSlice>> Trackers<S, E> {
    /// Trackers for `kinds`; the others are synced from the start (their maps stay empty).
    pub fn new(kinds: Kinds) -> Self {
        fn tracker<Key: Ord + Clone, K, V: Keep<K>>(
            watched: bool,
            key: fn(&K) -> Option<Key>,
        ) -> Tracker<Key, K, V> {
            if watched {
                Tracker::new(key)
            } else {
                Tracker::unwatched(key)
            }
        }
        Self {
            eips: tracker(kinds.eips, name_of),
            bgp_confs: tracker(kinds.bgp_confs, name_of),
            bgp_peers: tracker(kinds.bgp_peers, name_of),
            services: tracker(kinds.services, key_of),
            endpoint_slices: tracker(kinds.endpoint_slices, key_of),
            nodes: tracker(kinds.nodes, name_of),
            namespaces: tracker(kinds.namespaces, name_of),
        }
    }
}

/// One item of the merged watch streams.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "items are moved once from a stream into a store; boxing would add an allocation per event"
)]
pub enum Update {
    /// An Eip event.
    Eip(watcher::Result<Event<Eip>>),
    /// A BgpConf event.
    BgpConf(watcher::Result<Event<BgpConf>>),
    /// A BgpPeer event.
    BgpPeer(watcher::Result<Event<BgpPeer>>),
    /// A Service event.
    Service(watcher::Result<Event<Service>>),
    /// An EndpointSlice event.
    EndpointSlice(watcher::Result<Event<EndpointSlice>>),
    /// A Node event.
    Node(watcher::Result<Event<Node>>),
    /// A Namespace event.
    Namespace(watcher::Result<Event<Namespace>>),
}

impl<S: Keep<Service>, E: Keep<EndpointSlice>> Trackers<S, E> {
    /// Applies one update to `snapshot`; true when it changed. Errors are logged and leave
    /// the snapshot as it is (the watcher retries on its own).
    pub fn apply(&mut self, snapshot: &mut Snapshot<S, E>, update: Update) -> bool {
        fn go<Key: Ord + Clone, K, V: Keep<K>>(
            tracker: &mut Tracker<Key, K, V>,
            live: &mut BTreeMap<Key, V>,
            kind: &str,
            item: watcher::Result<Event<K>>,
        ) -> bool {
            match item {
                Ok(event) => tracker.apply(live, event),
                Err(error) => {
                    tracing::warn!(kind, error = %error, "watch failed; retrying, the last known objects stay in use");
                    false
                }
            }
        }
        let s = snapshot;
        match update {
            Update::Eip(e) => go(&mut self.eips, &mut s.eips, "Eip", e),
            Update::BgpConf(e) => go(&mut self.bgp_confs, &mut s.bgp_confs, "BgpConf", e),
            Update::BgpPeer(e) => go(&mut self.bgp_peers, &mut s.bgp_peers, "BgpPeer", e),
            Update::Service(e) => go(&mut self.services, &mut s.services, "Service", e),
            Update::EndpointSlice(e) => go(
                &mut self.endpoint_slices,
                &mut s.endpoint_slices,
                "EndpointSlice",
                e,
            ),
            Update::Node(e) => go(&mut self.nodes, &mut s.nodes, "Node", e),
            Update::Namespace(e) => go(&mut self.namespaces, &mut s.namespaces, "Namespace", e),
        }
    }

    /// Whether every kind finished its first list.
    pub fn synced(&self) -> bool {
        self.eips.synced()
            && self.bgp_confs.synced()
            && self.bgp_peers.synced()
            && self.services.synced()
            && self.endpoint_slices.synced()
            && self.nodes.synced()
            && self.namespaces.synced()
    }
}

/// A retried watch of every object of kind `K`, without `managedFields` (never read, and
/// the bulk of a large object).
fn watch_all<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = watcher::Result<Event<K>>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    make_watcher(api, config)
        .default_backoff()
        .modify(|obj: &mut K| {
            obj.meta_mut().managed_fields = None;
        })
}

/// The Secrets BgpPeers reference by `spec.conf.authPasswordSecretRef`, as `namespace/name`.
/// A reference whose namespace or name is not a valid object name is left out: it cannot name
/// a Secret, and fetching it could turn the `GET` into another request (an empty name would
/// list every Secret of the namespace).
pub fn referenced_secrets<'a>(peers: impl IntoIterator<Item = &'a BgpPeer>) -> BTreeSet<ObjectKey> {
    peers
        .into_iter()
        .filter_map(|p| p.spec.conf.as_ref()?.auth_password_secret_ref.as_ref())
        .filter(|r| is_object_name(&r.namespace) && is_object_name(&r.name))
        .map(|r| ObjectKey::new(r.namespace.as_str(), r.name.as_str()))
        .collect()
}

/// A DNS-1123 subdomain: what Kubernetes accepts as a namespace or Secret name.
fn is_object_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 253
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-' || *b == b'.')
}

/// The Role of `deploy/porter.yaml` granting the speaker `get` on the BgpPeer password
/// Secrets it names (`resourceNames`), in namespace [`BGP_PASSWORDS_ROLE_NAMESPACE`].
pub const BGP_PASSWORDS_ROLE: &str = "porter-speaker-bgp-passwords";

/// Where `deploy/porter.yaml` puts [`BGP_PASSWORDS_ROLE`] (and the speaker).
pub const BGP_PASSWORDS_ROLE_NAMESPACE: &str = "porter-system";

/// What a `GET` of a referenced Secret returned.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a value moved once from a GET into the cache; boxing would add an allocation per read"
)]
pub enum SecretRead {
    /// The Secret.
    Found(Secret),
    /// 404: it does not exist.
    NotFound,
    /// 403: the speaker may not read it (RBAC).
    Forbidden,
    /// Anything else (unreachable, timeout, 5xx): says nothing about the Secret.
    Failed(String),
}

/// Why the speaker cannot read the Secret `key` after a 403, and what to change: the Role
/// that lists the Secrets it may read, or for a Secret in another namespace, a copy of it there.
pub fn forbidden_reason(key: &ObjectKey) -> String {
    let name = &key.name;
    let namespace = &key.namespace;
    let fix = if namespace == BGP_PASSWORDS_ROLE_NAMESPACE {
        format!(
            "add {name:?} to the resourceNames of Role {BGP_PASSWORDS_ROLE} in namespace {namespace} (deploy/porter.yaml)"
        )
    } else {
        format!(
            "copy Role {BGP_PASSWORDS_ROLE} and its RoleBinding from deploy/porter.yaml into namespace {namespace} and list {name:?} in its resourceNames"
        )
    };
    format!(
        "cannot be read: forbidden (403), the speaker may read only the Secrets its Role names: {fix}"
    )
}

/// The BgpPeers' password Secrets, read by name: what is referenced, what was read, and what
/// the speaker was refused.
#[derive(Debug, Default)]
pub struct SecretCache {
    wanted: BTreeSet<ObjectKey>,
    held: BTreeMap<ObjectKey, Secret>,
    refused: BTreeMap<ObjectKey, String>,
}

impl SecretCache {
    /// Follows a new set of references: forgets the Secrets no longer referenced and returns
    /// the newly referenced ones (to fetch).
    pub fn want(&mut self, refs: BTreeSet<ObjectKey>) -> Vec<ObjectKey> {
        let added = refs.difference(&self.wanted).cloned().collect();
        self.held.retain(|key, _| refs.contains(key));
        self.refused.retain(|key, _| refs.contains(key));
        self.wanted = refs;
        added
    }

    /// Every referenced Secret (to read again).
    pub fn wanted(&self) -> Vec<ObjectKey> {
        self.wanted.iter().cloned().collect()
    }

    /// The Secrets read, by `namespace/name`.
    pub fn held(&self) -> &BTreeMap<ObjectKey, Secret> {
        &self.held
    }

    /// The Secrets the speaker was refused (403), with the reason to report
    /// ([`forbidden_reason`]): `Snapshot::unreadable_secrets`.
    pub fn refused(&self) -> &BTreeMap<ObjectKey, String> {
        &self.refused
    }

    /// Records what a `GET` of `key` returned; true when the held or refused Secrets changed.
    /// Only `data` (and the identity) is kept. A Secret that does not exist or may not be read
    /// is dropped (the API server's answer is authoritative: the peer stops, as when the Secret
    /// is deleted); any other failure keeps the last value read, as an unreachable API keeps
    /// the last snapshot.
    pub fn record(&mut self, key: ObjectKey, result: SecretRead) -> bool {
        if !self.wanted.contains(&key) {
            return false;
        }
        match result {
            SecretRead::Found(secret) => {
                let kept = Secret {
                    metadata: ObjectMeta {
                        name: secret.metadata.name,
                        namespace: secret.metadata.namespace,
                        resource_version: secret.metadata.resource_version,
                        ..ObjectMeta::default()
                    },
                    data: secret.data,
                    type_: secret.type_,
                    ..Secret::default()
                };
                let was_refused = self.refused.remove(&key).is_some();
                if self.held.get(&key) == Some(&kept) {
                    return was_refused;
                }
                self.held.insert(key, kept);
                true
            }
            SecretRead::NotFound => {
                let was_refused = self.refused.remove(&key).is_some();
                self.held.remove(&key).is_some() || was_refused
            }
            SecretRead::Forbidden => {
                let reason = forbidden_reason(&key);
                let dropped = self.held.remove(&key).is_some();
                if self.refused.get(&key) == Some(&reason) {
                    return dropped;
                }
                tracing::warn!(secret = %key, role = BGP_PASSWORDS_ROLE, "the BgpPeer password Secret {key} {reason}");
                self.refused.insert(key, reason);
                true
            }
            SecretRead::Failed(error) => {
                tracing::warn!(secret = %key, %error, "cannot read the BgpPeer password Secret; keeping the last value read");
                false
            }
        }
    }
}

/// Reads `keys` into `cache`, one `GET` each (10 s at most, so a hung API server cannot stall
/// the source); true when the held or refused Secrets changed.
async fn fetch_secrets(client: &Client, cache: &mut SecretCache, keys: Vec<ObjectKey>) -> bool {
    const TIMEOUT: Duration = Duration::from_secs(10);
    let mut changed = false;
    for key in keys {
        let api: Api<Secret> = Api::namespaced(client.clone(), &key.namespace);
        let result = match tokio::time::timeout(TIMEOUT, api.get_opt(&key.name)).await {
            Ok(Ok(Some(secret))) => SecretRead::Found(secret),
            Ok(Ok(None)) => SecretRead::NotFound,
            Ok(Err(kube::Error::Api(status))) if status.code == 403 => SecretRead::Forbidden,
            Ok(Err(error)) => SecretRead::Failed(error.to_string()),
            Err(_) => SecretRead::Failed(format!("no answer within {TIMEOUT:?}")),
        };
        changed |= cache.record(key, result);
    }
    changed
}

fn streams(client: &Client, config: &SourceConfig) -> SelectAll<BoxStream<'static, Update>> {
    let all = || watcher::Config::default().page_size(config.list_page_size);
    let nodes = match &config.only_node {
        Some(node) => all().fields(&format!("metadata.name={node}")),
        None => all(),
    };
    let c = || client.clone();
    let k = config.kinds;
    let mut streams: Vec<BoxStream<'static, Update>> = Vec::new();
    if k.eips {
        streams.push(
            watch_all(Api::<Eip>::all(c()), all())
                .map(Update::Eip)
                .boxed(),
        );
    }
    if k.bgp_confs {
        streams.push(
            watch_all(Api::<BgpConf>::all(c()), all())
                .map(Update::BgpConf)
                .boxed(),
        );
    }
    if k.bgp_peers {
        streams.push(
            watch_all(Api::<BgpPeer>::all(c()), all())
                .map(Update::BgpPeer)
                .boxed(),
        );
    }
    if k.services {
        streams.push(
            watch_all(Api::<Service>::all(c()), all())
                .map(Update::Service)
                .boxed(),
        );
    }
    if k.endpoint_slices {
        streams.push(
            watch_all(Api::<EndpointSlice>::all(c()), all())
                .map(Update::EndpointSlice)
                .boxed(),
        );
    }
    if k.nodes {
        streams.push(
            watch_all(Api::<Node>::all(c()), nodes)
                .map(Update::Node)
                .boxed(),
        );
    }
    if k.namespaces {
        streams.push(
            watch_all(Api::<Namespace>::all(c()), all())
                .map(Update::Namespace)
                .boxed(),
        );
    }
    futures::stream::select_all(streams)
}

async fn run<S: Keep<Service>, E: Keep<EndpointSlice>>(
    client: Client,
    config: SourceConfig,
    tx: watch::Sender<Snapshot<S, E>>,
) {
    let mut updates = streams(&client, &config);
    let mut trackers = Trackers::<S, E>::new(config.kinds);
    let mut secrets = config.secret_refresh.map(|_| SecretCache::default());
    let mut refresh_at = config.secret_refresh.map(|every| Instant::now() + every);
    let mut dirty = false;
    let mut publish_at: Option<Instant> = None;
    let mut announced_sync = false;
    loop {
        let deadline = publish_at;
        let refresh = refresh_at;
        tokio::select! {
            update = updates.next() => {
                let Some(update) = update else { return };
                // Applied in place without notifying: receivers hear of it once synced and
                // debounced, below.
                tx.send_if_modified(|live| {
                    dirty |= trackers.apply(live, update);
                    false
                });
                if dirty && trackers.synced() && publish_at.is_none() {
                    publish_at = Some(Instant::now() + config.debounce);
                }
            }
            () = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                publish_at = None;
                dirty = false;
                if !announced_sync {
                    announced_sync = true;
                    tracing::info!("initial sync with the API server done");
                }
                if let Some(cache) = secrets.as_mut() {
                    let refs = referenced_secrets(tx.borrow().bgp_peers.values());
                    let added = cache.want(refs);
                    fetch_secrets(&client, cache, added).await;
                    let (held, refused) = (cache.held(), cache.refused());
                    tx.send_if_modified(|live| {
                        if live.secrets != *held {
                            live.secrets.clone_from(held);
                        }
                        if live.unreadable_secrets != *refused {
                            live.unreadable_secrets.clone_from(refused);
                        }
                        false
                    });
                }
                tx.send_modify(|_| {});
            }
            () = async { tokio::time::sleep_until(refresh.unwrap_or_else(Instant::now)).await }, if refresh.is_some() => {
                refresh_at = config.secret_refresh.map(|every| Instant::now() + every);
                if let Some(cache) = secrets.as_mut() {
                    let all = cache.wanted();
                    if fetch_secrets(&client, cache, all).await && announced_sync {
                        dirty = true;
                        publish_at.get_or_insert_with(Instant::now);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, rv: &str) -> Service {
        let mut s = Service::default();
        s.metadata.name = Some(name.into());
        s.metadata.namespace = Some("default".into());
        s.metadata.resource_version = Some(rv.into());
        s
    }

    #[test]
    fn a_tracker_is_synced_after_the_first_list_and_swaps_relists_atomically() {
        let mut tracker: Tracker<ObjectKey, Service> = Tracker::new(key_of);
        let mut live = BTreeMap::new();
        let has = |live: &BTreeMap<ObjectKey, Service>, name: &str| {
            live.contains_key(&ObjectKey::new("default", name))
        };
        assert!(!tracker.synced());
        tracker.apply(&mut live, Event::Init);
        tracker.apply(&mut live, Event::InitApply(svc("a", "1")));
        assert!(!tracker.synced());
        assert!(live.is_empty());
        assert!(tracker.apply(&mut live, Event::InitDone));
        assert!(tracker.synced());
        assert_eq!(live.len(), 1);

        // a relist: the old contents stay until InitDone, then b replaces a
        tracker.apply(&mut live, Event::Init);
        tracker.apply(&mut live, Event::InitApply(svc("b", "2")));
        assert_eq!(live.len(), 1);
        assert!(has(&live, "a"));
        assert!(tracker.apply(&mut live, Event::InitDone));
        assert!(has(&live, "b"));
        assert!(!has(&live, "a"));

        // the same relist again changes nothing
        tracker.apply(&mut live, Event::Init);
        tracker.apply(&mut live, Event::InitApply(svc("b", "2")));
        assert!(!tracker.apply(&mut live, Event::InitDone));

        assert!(!tracker.apply(&mut live, Event::Apply(svc("b", "2"))));
        assert!(tracker.apply(&mut live, Event::Apply(svc("b", "3"))));
        assert!(tracker.apply(&mut live, Event::Delete(svc("b", "3"))));
        assert!(!tracker.apply(&mut live, Event::Delete(svc("b", "3"))));
    }

    /// A LoadBalancer Service opted in to Porter, holding `ip` when given.
    fn lb(name: &str, rv: &str, ip: Option<&str>) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "resourceVersion": rv,
                "annotations": {"lb.kubesphere.io/v1alpha1": "porter"}},
            "spec": {"type": "LoadBalancer"},
            "status": {"loadBalancer": {"ingress": ip.map(|ip| vec![serde_json::json!({"ip": ip})])}}
        }))
        .unwrap()
    }

    #[test]
    fn a_projecting_tracker_keeps_only_what_announcing_reads() {
        let mut tracker: Tracker<ObjectKey, Service, Arc<LbService>> = Tracker::new(key_of);
        let mut live = BTreeMap::new();
        let key = ObjectKey::new("default", "web");
        tracker.apply(&mut live, Event::Init);
        tracker.apply(
            &mut live,
            Event::InitApply(lb("web", "1", Some("203.0.113.10"))),
        );
        tracker.apply(&mut live, Event::InitApply(svc("plain", "1")));
        tracker.apply(&mut live, Event::InitApply(lb("waiting", "1", None)));
        assert!(tracker.apply(&mut live, Event::InitDone));
        // neither a Service that is not Porter's nor one without an address is held
        assert_eq!(live.keys().collect::<Vec<_>>(), vec![&key]);
        assert_eq!(
            &*live[&key].ingress,
            &["203.0.113.10".parse::<std::net::IpAddr>().unwrap()]
        );

        // a change of nothing announcing reads (here the resourceVersion) changes nothing,
        // so a speaker is not woken up by every status write of every Service
        assert!(!tracker.apply(
            &mut live,
            Event::Apply(lb("web", "2", Some("203.0.113.10")))
        ));
        assert!(!tracker.apply(&mut live, Event::Apply(svc("plain", "2"))));
        // the address moves: changed
        assert!(tracker.apply(
            &mut live,
            Event::Apply(lb("web", "3", Some("203.0.113.11")))
        ));
        // the Service opts out: forgotten
        assert!(tracker.apply(&mut live, Event::Apply(svc("web", "4"))));
        assert!(live.is_empty());
        // the one without an address gets one: held from now on
        assert!(tracker.apply(
            &mut live,
            Event::Apply(lb("waiting", "2", Some("203.0.113.12")))
        ));
        assert!(tracker.apply(&mut live, Event::Delete(lb("waiting", "2", None))));
        assert!(live.is_empty());
    }

    /// What a test tracker keeps of a Service: its resourceVersion, and only an even one (an
    /// odd one stands for "nothing of it matters", as a Service that is not Porter's).
    #[derive(Debug, Clone, PartialEq)]
    struct EvenVersion(u32);

    impl Keep<Service> for EvenVersion {
        fn keep(obj: Service) -> Option<Self> {
            let v: u32 = obj.metadata.resource_version?.parse().ok()?;
            v.is_multiple_of(2).then_some(EvenVersion(v))
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Init,
        InitApply(u8, u32),
        InitDone,
        Apply(u8, u32),
        Delete(u8),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            1 => Just(Step::Init),
            3 => (0..4u8, 0..4u32).prop_map(|(n, v)| Step::InitApply(n, v)),
            1 => Just(Step::InitDone),
            4 => (0..4u8, 0..4u32).prop_map(|(n, v)| Step::Apply(n, v)),
            2 => (0..4u8).prop_map(Step::Delete),
        ]
    }

    proptest::proptest! {
        /// Against a model of the watch semantics (a relist replaces the kind when done; an
        /// object nothing is kept of is forgotten), for any sequence of events: the map always
        /// equals the model's, and `apply` says "changed" exactly when the map changed (or the
        /// first list completed).
        #[test]
        fn a_tracker_follows_the_model_of_list_and_watch(steps in proptest::collection::vec(step(), 0..60)) {
            let mut tracker: Tracker<ObjectKey, Service, EvenVersion> = Tracker::new(key_of);
            let mut live = BTreeMap::new();
            let mut model: BTreeMap<ObjectKey, EvenVersion> = BTreeMap::new();
            let mut buffer: Option<Vec<(ObjectKey, u32)>> = None;
            let mut synced = false;
            let name = |n: u8| format!("s{n}");
            let key = |n: u8| ObjectKey::new("default", name(n));
            for step in steps {
                let before = model.clone();
                let mut first_sync = false;
                let event = match step {
                    Step::Init => {
                        buffer = Some(Vec::new());
                        Event::Init
                    }
                    Step::InitApply(n, v) => {
                        if let Some(b) = buffer.as_mut() {
                            b.push((key(n), v));
                        }
                        Event::InitApply(svc(&name(n), &v.to_string()))
                    }
                    Step::InitDone => {
                        model = buffer
                            .take()
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|(_, v)| v.is_multiple_of(2))
                            .map(|(k, v)| (k, EvenVersion(v)))
                            .collect();
                        first_sync = !synced;
                        synced = true;
                        Event::InitDone
                    }
                    Step::Apply(n, v) => {
                        if v.is_multiple_of(2) {
                            model.insert(key(n), EvenVersion(v));
                        } else {
                            model.remove(&key(n));
                        }
                        Event::Apply(svc(&name(n), &v.to_string()))
                    }
                    Step::Delete(n) => {
                        model.remove(&key(n));
                        Event::Delete(svc(&name(n), "0"))
                    }
                };
                let changed = tracker.apply(&mut live, event);
                proptest::prop_assert_eq!(&live, &model);
                proptest::prop_assert_eq!(changed, model != before || first_sync);
                proptest::prop_assert_eq!(tracker.synced(), synced);
            }
        }
    }

    #[test]
    fn trackers_are_synced_only_when_every_kind_is() {
        let mut trackers: Trackers = Trackers::default();
        let mut snapshot = Snapshot::default();
        trackers.apply(&mut snapshot, Update::Eip(Ok(Event::Init)));
        trackers.apply(&mut snapshot, Update::Eip(Ok(Event::InitDone)));
        assert!(!trackers.synced());
        for update in [
            Update::BgpConf(Ok(Event::InitDone)),
            Update::BgpPeer(Ok(Event::InitDone)),
            Update::Service(Ok(Event::InitDone)),
            Update::EndpointSlice(Ok(Event::InitDone)),
            Update::Node(Ok(Event::InitDone)),
        ] {
            trackers.apply(&mut snapshot, update);
            assert!(!trackers.synced());
        }
        trackers.apply(&mut snapshot, Update::Namespace(Ok(Event::InitDone)));
        assert!(trackers.synced());
    }

    fn peer(namespace: &str, name: &str) -> BgpPeer {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("p-{name}")},
            "spec": {"conf": {"authPasswordSecretRef": {"namespace": namespace, "name": name, "key": "k"}}}
        }))
        .unwrap()
    }

    #[test]
    fn references_that_cannot_name_a_secret_are_never_fetched() {
        let peers = [
            peer("porter-system", "bgp"),
            peer("porter-system", ""),
            peer("", "bgp"),
            peer("porter-system", "../../secrets"),
            peer("porter-system", "Upper"),
            peer("porter-system", "bgp"),
        ];
        assert_eq!(
            referenced_secrets(&peers),
            BTreeSet::from([ObjectKey::new("porter-system", "bgp")])
        );
    }

    #[test]
    fn the_cache_follows_references_and_keeps_the_last_value_on_errors() {
        let key = ObjectKey::new("porter-system", "bgp");
        let mut secret = Secret::default();
        secret.metadata.name = Some("bgp".into());
        secret.metadata.annotations = Some(BTreeMap::from([("a".into(), "b".into())]));
        let mut cache = SecretCache::default();
        // not referenced: ignored
        assert!(!cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert_eq!(cache.want(BTreeSet::from([key.clone()])), vec![key.clone()]);
        assert!(cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert!(cache.held()[&key].metadata.annotations.is_none());
        assert!(!cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert!(!cache.record(key.clone(), SecretRead::Failed("unreachable".into())));
        assert!(cache.held().contains_key(&key));
        assert!(cache.want(BTreeSet::from([key.clone()])).is_empty());
        assert!(cache.record(key.clone(), SecretRead::NotFound));
        assert!(cache.held().is_empty());

        // refused: dropped (like a deleted one) and reported with the Role to extend, once
        assert!(cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert!(cache.record(key.clone(), SecretRead::Forbidden));
        assert!(cache.held().is_empty());
        assert_eq!(cache.refused()[&key], forbidden_reason(&key));
        assert!(!cache.record(key.clone(), SecretRead::Forbidden));
        // an outage after the refusal changes nothing; readable again: no longer refused
        assert!(!cache.record(key.clone(), SecretRead::Failed("unreachable".into())));
        assert!(cache.refused().contains_key(&key));
        assert!(cache.record(key.clone(), SecretRead::Found(secret)));
        assert!(cache.refused().is_empty() && cache.held().contains_key(&key));
        assert!(cache.record(key.clone(), SecretRead::Forbidden));
        assert!(cache.record(key.clone(), SecretRead::NotFound));
        assert!(cache.refused().is_empty());

        cache.want(BTreeSet::new());
        assert!(cache.wanted().is_empty());
    }

    #[test]
    fn a_refusal_names_the_role_to_extend_or_to_copy() {
        let here = forbidden_reason(&ObjectKey::new("porter-system", "bgp-password"));
        assert_eq!(
            here,
            "cannot be read: forbidden (403), the speaker may read only the Secrets its Role names: add \"bgp-password\" to the resourceNames of Role porter-speaker-bgp-passwords in namespace porter-system (deploy/porter.yaml)"
        );
        let elsewhere = forbidden_reason(&ObjectKey::new("network", "tor-md5"));
        assert!(
            elsewhere.contains("copy Role porter-speaker-bgp-passwords and its RoleBinding from deploy/porter.yaml into namespace network and list \"tor-md5\""),
            "{elsewhere}"
        );
    }
}
