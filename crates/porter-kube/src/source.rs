//! The Kubernetes API as a source of [`Snapshot`]s.
//!
//! [`KubeSource`] runs one watcher per kind Porter reads (Eip, BgpConf, BgpPeer, Service,
//! EndpointSlice, Node, Namespace), keeps each kind's objects in a [`Store`], and publishes a
//! whole [`Snapshot`] on a `tokio::sync::watch` channel whenever something changed (after a
//! short debounce, so a burst of events gives one snapshot).
//!
//! Three rules make the snapshots safe to plan from:
//!
//! * **Nothing is published before every watcher finished its initial list.** A controller
//!   planning from a partial view would see Services without the pools their addresses came
//!   from, or pools without the Services holding addresses, and could hand a held address to
//!   someone else. The receiver's initial value (an empty snapshot) is never meant to be used:
//!   wait for the first `changed()`.
//! * **A relist replaces a kind atomically.** After a `410 Gone` (or any restart of a watch),
//!   the watcher lists again; the listed objects are buffered and swapped in on `InitDone`,
//!   so a snapshot never shows half a relist.
//! * **An unreachable API keeps the last snapshot.** Watch errors are retried with
//!   [`WatchStreamExt::default_backoff`]; the stores are left as they were, so a speaker keeps
//!   announcing what it announced (no mass withdraw because the API server restarts).
//!
//! Each role watches only the kinds its plan reads ([`Kinds::CONTROLLER`], [`Kinds::SPEAKER`]),
//! so its RBAC needs nothing more (`deploy/porter.yaml`).
//!
//! ## Secrets
//!
//! Secrets are never listed or watched: that would need read access to every Secret of the
//! cluster. A source configured with [`SourceConfig::secret_refresh`] (the speaker's) reads
//! exactly the Secrets that BgpPeers name in `spec.conf.authPasswordSecretRef`, one `GET` by
//! name each ([`SecretCache`]): the newly referenced ones before publishing a snapshot whose set
//! of references changed, and all of them again every `secret_refresh`, so a rotated password
//! is picked up. A Secret that does not exist (404) is absent from the snapshot, and the model
//! reports the peer and does not start it; any other failure (unreachable, forbidden) keeps the
//! last value read. Only `data` is kept: annotations (`kubectl apply` copies the whole Secret
//! into one) and managed fields are dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
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
}

impl Default for SourceConfig {
    /// Every kind, no Secrets.
    fn default() -> Self {
        Self {
            only_node: None,
            debounce: Duration::from_millis(50),
            kinds: Kinds::ALL,
            secret_refresh: None,
        }
    }
}

impl SourceConfig {
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
            ..Self::default()
        }
    }
}

/// Watches the API and publishes snapshots; stops when dropped.
#[derive(Debug)]
pub struct KubeSource {
    rx: watch::Receiver<Snapshot>,
    task: JoinHandle<()>,
}

impl KubeSource {
    /// Starts the watchers. The first snapshot is published once every initial list is done.
    pub fn start(client: Client, config: SourceConfig) -> Self {
        let (tx, rx) = watch::channel(Snapshot::default());
        let task = tokio::spawn(run(client, config, tx));
        Self { rx, task }
    }

    /// A receiver of the snapshots. Its current value is the empty snapshot until the first
    /// publish, and is marked as seen: wait for `changed()` before reading it.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.rx.clone()
    }
}

impl Drop for KubeSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One kind's objects, with the relist buffer.
#[derive(Debug)]
pub struct Store<Key, K> {
    live: BTreeMap<Key, K>,
    relist: Option<BTreeMap<Key, K>>,
    synced: bool,
    key: fn(&K) -> Option<Key>,
}

impl<Key: Ord + Clone, K: Clone + PartialEq> Store<Key, K> {
    /// An empty, not yet synced store keyed by `key` (objects without a key are ignored).
    pub fn new(key: fn(&K) -> Option<Key>) -> Self {
        Self {
            live: BTreeMap::new(),
            relist: None,
            synced: false,
            key,
        }
    }

    /// Applies one watcher event; true when the live contents changed.
    pub fn apply(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                false
            }
            Event::InitApply(obj) => {
                if let (Some(buf), Some(key)) = (self.relist.as_mut(), (self.key)(&obj)) {
                    buf.insert(key, obj);
                }
                false
            }
            Event::InitDone => {
                let listed = self.relist.take().unwrap_or_default();
                let first = !self.synced;
                self.synced = true;
                let changed = listed != self.live;
                self.live = listed;
                changed || first
            }
            Event::Apply(obj) => {
                let Some(key) = (self.key)(&obj) else {
                    return false;
                };
                if self.live.get(&key) == Some(&obj) {
                    return false;
                }
                self.live.insert(key, obj);
                true
            }
            Event::Delete(obj) => {
                let Some(key) = (self.key)(&obj) else {
                    return false;
                };
                self.live.remove(&key).is_some()
            }
        }
    }

    /// A store for a kind that is not watched: empty and synced for good.
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

    /// The objects.
    pub fn objects(&self) -> &BTreeMap<Key, K> {
        &self.live
    }
}

fn name_of<K: ResourceExt>(obj: &K) -> Option<String> {
    obj.meta().name.clone()
}

fn key_of<K: ResourceExt>(obj: &K) -> Option<ObjectKey> {
    ObjectKey::of(obj.meta())
}

/// Every store the snapshot is built from.
#[derive(Debug)]
pub struct Stores {
    eips: Store<String, Eip>,
    bgp_confs: Store<String, BgpConf>,
    bgp_peers: Store<String, BgpPeer>,
    services: Store<ObjectKey, Service>,
    endpoint_slices: Store<ObjectKey, EndpointSlice>,
    nodes: Store<String, Node>,
    namespaces: Store<String, Namespace>,
}

impl Default for Stores {
    /// Stores for every kind.
    fn default() -> Self {
        Self::new(Kinds::ALL)
    }
}

impl Stores {
    /// Stores for `kinds`; the others are empty and synced from the start.
    pub fn new(kinds: Kinds) -> Self {
        fn store<Key: Ord + Clone, K: Clone + PartialEq>(
            watched: bool,
            key: fn(&K) -> Option<Key>,
        ) -> Store<Key, K> {
            if watched {
                Store::new(key)
            } else {
                Store::unwatched(key)
            }
        }
        Self {
            eips: store(kinds.eips, name_of),
            bgp_confs: store(kinds.bgp_confs, name_of),
            bgp_peers: store(kinds.bgp_peers, name_of),
            services: store(kinds.services, key_of),
            endpoint_slices: store(kinds.endpoint_slices, key_of),
            nodes: store(kinds.nodes, name_of),
            namespaces: store(kinds.namespaces, name_of),
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

impl Stores {
    /// Applies one update; true when a store's contents changed. Errors are logged and leave
    /// the stores as they are (the watcher retries on its own).
    pub fn apply(&mut self, update: Update) -> bool {
        fn go<Key: Ord + Clone, K: Clone + PartialEq>(
            store: &mut Store<Key, K>,
            kind: &str,
            item: watcher::Result<Event<K>>,
        ) -> bool {
            match item {
                Ok(event) => store.apply(event),
                Err(error) => {
                    tracing::warn!(kind, error = %error, "watch failed; retrying, the last known objects stay in use");
                    false
                }
            }
        }
        match update {
            Update::Eip(e) => go(&mut self.eips, "Eip", e),
            Update::BgpConf(e) => go(&mut self.bgp_confs, "BgpConf", e),
            Update::BgpPeer(e) => go(&mut self.bgp_peers, "BgpPeer", e),
            Update::Service(e) => go(&mut self.services, "Service", e),
            Update::EndpointSlice(e) => go(&mut self.endpoint_slices, "EndpointSlice", e),
            Update::Node(e) => go(&mut self.nodes, "Node", e),
            Update::Namespace(e) => go(&mut self.namespaces, "Namespace", e),
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

    /// The snapshot of everything held (Secrets are added by the caller, from its
    /// [`SecretCache`]).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            eips: self.eips.objects().clone(),
            bgp_confs: self.bgp_confs.objects().clone(),
            bgp_peers: self.bgp_peers.objects().clone(),
            services: self.services.objects().clone(),
            endpoint_slices: self.endpoint_slices.objects().clone(),
            nodes: self.nodes.objects().clone(),
            namespaces: self.namespaces.objects().clone(),
            // Never watched: the ones BgpPeers reference come from a SecretCache.
            secrets: BTreeMap::new(),
        }
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

/// The BgpPeers' password Secrets, read by name: what is referenced and what was read.
#[derive(Debug, Default)]
pub struct SecretCache {
    wanted: BTreeSet<ObjectKey>,
    held: BTreeMap<ObjectKey, Secret>,
}

impl SecretCache {
    /// Follows a new set of references: forgets the Secrets no longer referenced and returns
    /// the newly referenced ones (to fetch).
    pub fn want(&mut self, refs: BTreeSet<ObjectKey>) -> Vec<ObjectKey> {
        let added = refs.difference(&self.wanted).cloned().collect();
        self.held.retain(|key, _| refs.contains(key));
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

    /// Records what a `GET` of `key` returned (`Ok(None)`: it does not exist); true when the
    /// held Secrets changed. Only `data` (and the identity) is kept. A failure keeps the last
    /// value read, as an unreachable API keeps the last snapshot.
    pub fn record(&mut self, key: ObjectKey, result: Result<Option<Secret>, String>) -> bool {
        if !self.wanted.contains(&key) {
            return false;
        }
        match result {
            Ok(Some(secret)) => {
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
                if self.held.get(&key) == Some(&kept) {
                    return false;
                }
                self.held.insert(key, kept);
                true
            }
            Ok(None) => self.held.remove(&key).is_some(),
            Err(error) => {
                tracing::warn!(secret = %key, %error, "cannot read the BgpPeer password Secret; keeping the last value read (the speaker needs `get` on it: see deploy/porter.yaml)");
                false
            }
        }
    }
}

/// Reads `keys` into `cache`, one `GET` each (10 s at most, so a hung API server cannot stall
/// the source); true when the held Secrets changed.
async fn fetch_secrets(client: &Client, cache: &mut SecretCache, keys: Vec<ObjectKey>) -> bool {
    const TIMEOUT: Duration = Duration::from_secs(10);
    let mut changed = false;
    for key in keys {
        let api: Api<Secret> = Api::namespaced(client.clone(), &key.namespace);
        let result = match tokio::time::timeout(TIMEOUT, api.get_opt(&key.name)).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {TIMEOUT:?}")),
        };
        changed |= cache.record(key, result);
    }
    changed
}

fn streams(client: &Client, config: &SourceConfig) -> SelectAll<BoxStream<'static, Update>> {
    let all = watcher::Config::default;
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

async fn run(client: Client, config: SourceConfig, tx: watch::Sender<Snapshot>) {
    let mut updates = streams(&client, &config);
    let mut stores = Stores::new(config.kinds);
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
                if stores.apply(update) {
                    dirty = true;
                }
                if dirty && stores.synced() && publish_at.is_none() {
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
                let mut snapshot = stores.snapshot();
                if let Some(cache) = secrets.as_mut() {
                    let added = cache.want(referenced_secrets(snapshot.bgp_peers.values()));
                    fetch_secrets(&client, cache, added).await;
                    snapshot.secrets = cache.held().clone();
                }
                tx.send_replace(snapshot);
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
    fn store_is_synced_after_first_list_and_swaps_relists_atomically() {
        let mut store: Store<ObjectKey, Service> = Store::new(key_of);
        assert!(!store.synced());
        store.apply(Event::Init);
        store.apply(Event::InitApply(svc("a", "1")));
        assert!(!store.synced());
        assert!(store.objects().is_empty());
        assert!(store.apply(Event::InitDone));
        assert!(store.synced());
        assert_eq!(store.objects().len(), 1);

        // a relist: the old contents stay until InitDone, then b replaces a
        store.apply(Event::Init);
        store.apply(Event::InitApply(svc("b", "2")));
        assert_eq!(store.objects().len(), 1);
        assert!(
            store
                .objects()
                .contains_key(&ObjectKey::new("default", "a"))
        );
        assert!(store.apply(Event::InitDone));
        assert!(
            store
                .objects()
                .contains_key(&ObjectKey::new("default", "b"))
        );
        assert!(
            !store
                .objects()
                .contains_key(&ObjectKey::new("default", "a"))
        );

        // the same relist again changes nothing
        store.apply(Event::Init);
        store.apply(Event::InitApply(svc("b", "2")));
        assert!(!store.apply(Event::InitDone));

        assert!(!store.apply(Event::Apply(svc("b", "2"))));
        assert!(store.apply(Event::Apply(svc("b", "3"))));
        assert!(store.apply(Event::Delete(svc("b", "3"))));
        assert!(!store.apply(Event::Delete(svc("b", "3"))));
    }

    #[test]
    fn stores_are_synced_only_when_every_kind_is() {
        let mut stores = Stores::default();
        stores.apply(Update::Eip(Ok(Event::Init)));
        stores.apply(Update::Eip(Ok(Event::InitDone)));
        assert!(!stores.synced());
        for update in [
            Update::BgpConf(Ok(Event::InitDone)),
            Update::BgpPeer(Ok(Event::InitDone)),
            Update::Service(Ok(Event::InitDone)),
            Update::EndpointSlice(Ok(Event::InitDone)),
            Update::Node(Ok(Event::InitDone)),
        ] {
            stores.apply(update);
            assert!(!stores.synced());
        }
        stores.apply(Update::Namespace(Ok(Event::InitDone)));
        assert!(stores.synced());
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
        assert!(!cache.record(key.clone(), Ok(Some(secret.clone()))));
        assert_eq!(cache.want(BTreeSet::from([key.clone()])), vec![key.clone()]);
        assert!(cache.record(key.clone(), Ok(Some(secret.clone()))));
        assert!(cache.held()[&key].metadata.annotations.is_none());
        assert!(!cache.record(key.clone(), Ok(Some(secret))));
        assert!(!cache.record(key.clone(), Err("forbidden".into())));
        assert!(cache.held().contains_key(&key));
        assert!(cache.want(BTreeSet::from([key.clone()])).is_empty());
        assert!(cache.record(key.clone(), Ok(None)));
        assert!(cache.held().is_empty());
        cache.want(BTreeSet::new());
        assert!(cache.wanted().is_empty());
    }
}
