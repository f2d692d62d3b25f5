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

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as make_watcher};
use kube::{Api, Client, Resource, ResourceExt};
use porter_api::{BgpConf, BgpPeer, Eip};
use porter_model::{ObjectKey, Snapshot};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the source watches and how.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Watch only this Node (`fieldSelector=metadata.name=<node>`): a speaker needs its own
    /// Node only, and on a large cluster every Node's heartbeat would otherwise wake it up.
    pub only_node: Option<String>,
    /// How long to wait after a change for more changes before publishing.
    pub debounce: Duration,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            only_node: None,
            debounce: Duration::from_millis(50),
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
    fn default() -> Self {
        Self {
            eips: Store::new(name_of),
            bgp_confs: Store::new(name_of),
            bgp_peers: Store::new(name_of),
            services: Store::new(key_of),
            endpoint_slices: Store::new(key_of),
            nodes: Store::new(name_of),
            namespaces: Store::new(name_of),
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

    /// The snapshot of everything held.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            eips: self.eips.objects().clone(),
            bgp_confs: self.bgp_confs.objects().clone(),
            bgp_peers: self.bgp_peers.objects().clone(),
            services: self.services.objects().clone(),
            endpoint_slices: self.endpoint_slices.objects().clone(),
            nodes: self.nodes.objects().clone(),
            namespaces: self.namespaces.objects().clone(),
            // Secrets are not watched (that would need read access to every Secret); the
            // ones BgpPeers reference are fetched by name — until then such peers are
            // reported as problems and not started, never started without their password.
            secrets: Default::default(),
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

fn streams(client: &Client, config: &SourceConfig) -> SelectAll<BoxStream<'static, Update>> {
    let all = watcher::Config::default;
    let nodes = match &config.only_node {
        Some(node) => all().fields(&format!("metadata.name={node}")),
        None => all(),
    };
    let c = || client.clone();
    futures::stream::select_all([
        watch_all(Api::<Eip>::all(c()), all())
            .map(Update::Eip)
            .boxed(),
        watch_all(Api::<BgpConf>::all(c()), all())
            .map(Update::BgpConf)
            .boxed(),
        watch_all(Api::<BgpPeer>::all(c()), all())
            .map(Update::BgpPeer)
            .boxed(),
        watch_all(Api::<Service>::all(c()), all())
            .map(Update::Service)
            .boxed(),
        watch_all(Api::<EndpointSlice>::all(c()), all())
            .map(Update::EndpointSlice)
            .boxed(),
        watch_all(Api::<Node>::all(c()), nodes)
            .map(Update::Node)
            .boxed(),
        watch_all(Api::<Namespace>::all(c()), all())
            .map(Update::Namespace)
            .boxed(),
    ])
}

async fn run(client: Client, config: SourceConfig, tx: watch::Sender<Snapshot>) {
    let mut updates = streams(&client, &config);
    let mut stores = Stores::default();
    let mut dirty = false;
    let mut publish_at: Option<Instant> = None;
    let mut announced_sync = false;
    loop {
        let deadline = publish_at;
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
                tx.send_replace(stores.snapshot());
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
}
