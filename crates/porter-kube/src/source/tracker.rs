//! The pure part of a source: watch events applied to a [`Snapshot`], one [`Tracker`] per kind
//! ([`Trackers`]), keeping of each object what the role reads ([`Keep`]). No I/O: the watch
//! loop feeds it, tests and benchmarks drive it directly.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::runtime::watcher::{self, Event};
use porter_api::{BgpConf, BgpPeer, Eip};
use porter_model::packed::MapBuilder;
use porter_model::projection::{ControllerService, LbService, SliceNodes, controller_service};
use porter_model::{ObjectKey, Snapshot};

use super::Kinds;

/// How a source keeps a watched object of kind `K`: whole (`K` itself), or only what its
/// role reads (a projection such as [`LbService`]), so a role's memory follows what it uses.
pub trait Keep<K>: Clone + PartialEq + Sized {
    /// What to keep of `obj` for the speaker of `node` (`None` for a role not bound to a
    /// node); `None` when nothing of it matters to the role (a Service that is not Porter's):
    /// the object is then not held, and its changes publish nothing.
    fn keep(obj: K, node: Option<&str>) -> Option<Self>;

    /// Whether the source may decode `K` thin ([`super::ThinService`], [`super::ThinEndpointSlice`]): only the fields this
    /// keeping reads, sparing the allocations of everything else.
    const THIN: bool = false;
}

impl<K: Clone + PartialEq> Keep<K> for K {
    fn keep(obj: K, _: Option<&str>) -> Option<K> {
        Some(obj)
    }
}

impl Keep<Service> for LbService {
    const THIN: bool = true;

    fn keep(obj: Service, _: Option<&str>) -> Option<Self> {
        LbService::of(&obj)
    }
}

impl Keep<Service> for Arc<ControllerService> {
    fn keep(obj: Service, _: Option<&str>) -> Option<Self> {
        controller_service(obj).map(|svc| Arc::new(ControllerService::of(&svc)))
    }
}

impl Keep<EndpointSlice> for SliceNodes {
    const THIN: bool = true;

    /// With the node's own ready endpoints' addresses, for its health probes.
    fn keep(obj: EndpointSlice, node: Option<&str>) -> Option<Self> {
        SliceNodes::of_on(&obj, node)
    }
}

/// Follows one kind's watch events into that kind's map of a [`Snapshot`] (what is kept of
/// each object, `V`): buffers a relist to swap it in whole, and knows whether the first list
/// is done.
#[derive(Debug)]
pub struct Tracker<Key, K, V = K> {
    /// The objects of a list in progress, swapped in whole at its end. A [`MapBuilder`], not
    /// a map grown by inserts (in sorted order that keeps its nodes about half empty: 0.8 MiB
    /// of a speaker's 15 at 10k Services) nor a list collected at the end (the list, a sort's
    /// scratch and the map at once: 18 MB at 100k EndpointSlices, the speaker's peak).
    relist: Option<MapBuilder<Key, V>>,
    synced: bool,
    key: fn(&K) -> Option<Key>,
    /// Applied to every object before [`Keep::keep`]: what the role reads of it, or `None`
    /// when none of it matters (see [`Trim`]).
    trim: Trim<K>,
    /// The node whose speaker keeps the objects ([`Keep::keep`]), if any.
    node: Option<Box<str>>,
    kind: PhantomData<fn(K)>,
}

/// Reduces a watched object to the fields a role reads before it is kept (`None`: nothing of
/// it matters), for a role that keeps the API type itself but not all of it: the controller
/// (`porter_model::projection::controller_service`).
pub type Trim<K> = fn(K) -> Option<K>;

impl<Key: Ord + Clone, K, V: Keep<K>> Tracker<Key, K, V> {
    /// A tracker of a kind not yet listed, keyed by `key` (objects without a key are ignored).
    pub fn new(key: fn(&K) -> Option<Key>) -> Self {
        Self {
            relist: None,
            synced: false,
            key,
            trim: Some,
            node: None,
            kind: PhantomData,
        }
    }

    /// This tracker, trimming every object with `trim` before keeping it.
    pub fn trimming(self, trim: Trim<K>) -> Self {
        Self { trim, ..self }
    }

    /// This tracker, keeping objects for the speaker of `node` ([`Keep::keep`]).
    pub fn for_node(self, node: Option<&str>) -> Self {
        Self {
            node: node.map(Into::into),
            ..self
        }
    }

    /// Applies one watcher event to `live`; true when `live` changed.
    pub fn apply(&mut self, live: &mut BTreeMap<Key, V>, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relist = Some(MapBuilder::default());
                false
            }
            Event::InitApply(obj) => {
                if let (Some(buf), Some(key)) = (self.relist.as_mut(), (self.key)(&obj))
                    && let Some(kept) =
                        (self.trim)(obj).and_then(|obj| V::keep(obj, self.node.as_deref()))
                {
                    buf.insert(key, kept);
                }
                false
            }
            Event::InitDone => {
                // On a duplicate key (never sent by an API server) the last one wins.
                let listed = self.relist.take().unwrap_or_default().finish();
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
                let Some(kept) =
                    (self.trim)(obj).and_then(|obj| V::keep(obj, self.node.as_deref()))
                else {
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

    /// These trackers, keeping EndpointSlices for the speaker of `node` ([`Keep::keep`]).
    pub fn for_node(self, node: Option<&str>) -> Self {
        Self {
            endpoint_slices: self.endpoint_slices.for_node(node),
            ..self
        }
    }

    /// These trackers, trimming Nodes before keeping them ([`Trim`]).
    pub fn trimming_nodes(self, nodes: Option<Trim<Node>>) -> Self {
        Self {
            nodes: match nodes {
                Some(trim) => self.nodes.trimming(trim),
                None => self.nodes,
            },
            ..self
        }
    }

    /// These trackers, trimming Services and EndpointSlices before keeping them ([`Trim`]).
    pub fn trimming(
        self,
        services: Option<Trim<Service>>,
        endpoint_slices: Option<Trim<EndpointSlice>>,
    ) -> Self {
        Self {
            services: match services {
                Some(trim) => self.services.trimming(trim),
                None => self.services,
            },
            endpoint_slices: match endpoint_slices {
                Some(trim) => self.endpoint_slices.trimming(trim),
                None => self.endpoint_slices,
            },
            ..self
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
        let mut tracker: Tracker<ObjectKey, Service, LbService> = Tracker::new(key_of);
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
            live[&key].ingress(),
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
        fn keep(obj: Service, _: Option<&str>) -> Option<Self> {
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
}
