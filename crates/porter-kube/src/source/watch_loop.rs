//! The source's task: one retried watch per kind merged into one stream, applied to the
//! snapshot in the watch channel, published once synced and paced (`pacing`), the Secrets read
//! alongside.

use std::fmt::Debug;
use std::sync::Arc;

use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as make_watcher};
use kube::{Api, Client, Resource};
use porter_api::{BgpConf, BgpPeer, Eip};
use porter_model::Snapshot;
use porter_model::projection::{ControllerService, LbService, SliceNodes};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::pacing::Pacer;
use super::secrets::fetch_secrets;
use super::thin::{ThinEndpointSlice, ThinService, map_event};
use super::{Keep, SecretCache, SourceConfig, Trackers, Update, referenced_secrets};

/// Watches the API and publishes snapshots; stops when dropped. `S` and `E` are what it keeps
/// of Services and EndpointSlices ([`Keep`]).
#[derive(Debug)]
pub struct KubeSource<S = Service, E = EndpointSlice> {
    rx: watch::Receiver<Snapshot<S, E>>,
    task: JoinHandle<()>,
}

/// The speaker's source: Services and EndpointSlices reduced to what announcing reads
/// (`porter_model::SpeakerSnapshot`).
pub type SpeakerSource = KubeSource<LbService, SliceNodes>;

/// The controller's source: Services reduced to what assigning and deciding read,
/// EndpointSlices to the nodes of their endpoints (`porter_model::ControllerSnapshot`).
pub type ControllerSource = KubeSource<Arc<ControllerService>, SliceNodes>;

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

fn streams<S: Keep<Service>, E: Keep<EndpointSlice>>(
    client: &Client,
    config: &SourceConfig,
) -> SelectAll<BoxStream<'static, Update>> {
    let all = || watcher::Config::default().page_size(config.list_page_size);
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
    if k.services && S::THIN {
        streams.push(
            watch_all(Api::<ThinService>::all(c()), all())
                .map(|e| Update::Service(e.map(|e| map_event(e, ThinService::into_service))))
                .boxed(),
        );
    } else if k.services {
        streams.push(
            watch_all(Api::<Service>::all(c()), all())
                .map(Update::Service)
                .boxed(),
        );
    }
    if k.endpoint_slices && E::THIN {
        streams.push(
            watch_all(Api::<ThinEndpointSlice>::all(c()), all())
                .map(|e| {
                    Update::EndpointSlice(e.map(|e| map_event(e, ThinEndpointSlice::into_slice)))
                })
                .boxed(),
        );
    } else if k.endpoint_slices {
        streams.push(
            watch_all(Api::<EndpointSlice>::all(c()), all())
                .map(Update::EndpointSlice)
                .boxed(),
        );
    }
    if k.nodes {
        streams.push(
            watch_all(Api::<Node>::all(c()), all())
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
    let mut updates = streams::<S, E>(&client, &config);
    let mut trackers = Trackers::<S, E>::new(config.kinds)
        .trimming(config.trim_services, config.trim_endpoint_slices)
        .trimming_nodes(config.trim_nodes)
        .for_node(config.node.as_deref());
    let mut secrets = config.secret_refresh.map(|_| SecretCache::default());
    let mut refresh_at = config.secret_refresh.map(|every| Instant::now() + every);
    let mut dirty = false;
    let mut publish_at: Option<Instant> = None;
    let mut pacer = Pacer::new(config.debounce);
    let mut announced_sync = false;
    loop {
        let deadline = publish_at;
        let refresh = refresh_at;
        tokio::select! {
            update = updates.next() => {
                let Some(update) = update else { return };
                // Applied in place without notifying: receivers hear of it once synced and
                // paced, below.
                tx.send_if_modified(|live| {
                    dirty |= trackers.apply(live, update);
                    false
                });
                if dirty && trackers.synced() && publish_at.is_none() {
                    publish_at = Some(pacer.due(Instant::now()));
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
                    let mut refs = referenced_secrets(tx.borrow().bgp_peers.values());
                    refs.extend(config.named_secrets.iter().cloned());
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
                pacer.published(Instant::now());
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
