//! Fixture builders that read like the YAML a user writes.
//!
//! Every builder holds a JSON document (the object as `kubectl get -o json` would show it)
//! and deserializes it on [`Obj::build`], so fixtures go through the same serde path as
//! manifests and API objects do.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::IpAddr;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use porter_api::{BgpConf, BgpPeer, Eip};
use porter_model::assign::Plan;
use porter_model::manifests::Object;
use porter_model::{ObjectKey, Snapshot};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The opt-in annotation.
pub const LB: &str = "lb.kubesphere.io/v1alpha1";
/// The requested-IP annotation.
pub const EIP_IP: &str = "eip.openelb.kubesphere.io/v1alpha1";
/// The requested-pool annotation.
pub const EIP_POOL: &str = "eip.openelb.kubesphere.io/v1alpha2";
/// The default-pool annotation on an Eip.
pub const IS_DEFAULT: &str = "eip.openelb.kubesphere.io/is-default-eip";
/// The node label excluding a node from load balancers.
pub const EXCLUDE: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// An object under construction, as JSON.
#[derive(Debug, Clone)]
pub struct Obj<T> {
    v: Value,
    _kind: PhantomData<T>,
}

impl<T: DeserializeOwned> Obj<T> {
    fn new(v: Value) -> Self {
        Self {
            v,
            _kind: PhantomData,
        }
    }

    /// Sets the value at a path of object keys, creating objects on the way.
    pub fn set(mut self, path: &[&str], value: Value) -> Self {
        let mut at = &mut self.v;
        for key in path {
            if !at.is_object() {
                *at = json!({});
            }
            at = at
                .as_object_mut()
                .expect("object")
                .entry((*key).to_owned())
                .or_insert(Value::Null);
        }
        *at = value;
        self
    }

    /// Removes the value at a path, if present.
    pub fn unset(mut self, path: &[&str]) -> Self {
        let (last, parents) = path.split_last().expect("non-empty path");
        let mut at = &mut self.v;
        for key in parents {
            match at.get_mut(*key) {
                Some(next) => at = next,
                None => return self,
            }
        }
        if let Some(map) = at.as_object_mut() {
            map.remove(*last);
        }
        self
    }

    /// `metadata.annotations[key] = value`.
    pub fn annotate(self, key: &str, value: &str) -> Self {
        self.set(&["metadata", "annotations", key], json!(value))
    }

    /// `metadata.labels[key] = value`.
    pub fn label(self, key: &str, value: &str) -> Self {
        self.set(&["metadata", "labels", key], json!(value))
    }

    /// `metadata.creationTimestamp`.
    pub fn created(self, timestamp: &str) -> Self {
        self.set(&["metadata", "creationTimestamp"], json!(timestamp))
    }

    /// `metadata.creationTimestamp` as minute `n` of a fixed day (a total order for tests).
    pub fn created_at(self, minute: u32) -> Self {
        let (h, m) = (minute / 60, minute % 60);
        self.created(&format!("2024-01-01T{h:02}:{m:02}:00Z"))
    }

    /// The typed object.
    pub fn build(self) -> T {
        let text = self.v.to_string();
        serde_json::from_value(self.v)
            .unwrap_or_else(|e| panic!("fixture does not deserialize: {e}\n{text}"))
    }
}

// ------------------------------------------------------------------------------- Eip

/// `Eip name` with `spec.address: address` (protocol unset, i.e. bgp).
pub fn eip(name: &str, address: &str) -> Obj<Eip> {
    Obj::new(json!({
        "apiVersion": "network.kubesphere.io/v1alpha2",
        "kind": "Eip",
        "metadata": {"name": name},
        "spec": {"address": address},
    }))
}

impl Obj<Eip> {
    /// Marks it the cluster's default pool.
    pub fn default_pool(self) -> Self {
        self.annotate(IS_DEFAULT, "true")
    }
    /// `spec.protocol: layer2` with an interface.
    pub fn layer2(self) -> Self {
        self.set(&["spec", "protocol"], json!("layer2"))
            .set(&["spec", "interface"], json!("eth0"))
    }
    /// `spec.protocol: bgp`, explicitly.
    pub fn bgp(self) -> Self {
        self.set(&["spec", "protocol"], json!("bgp"))
    }
    /// `spec.disable: true`.
    pub fn disabled(self) -> Self {
        self.set(&["spec", "disable"], json!(true))
    }
    /// `spec.priority`.
    pub fn priority(self, p: i64) -> Self {
        self.set(&["spec", "priority"], json!(p))
    }
    /// `spec.namespaces`.
    pub fn namespaces(self, ns: &[&str]) -> Self {
        self.set(&["spec", "namespaces"], json!(ns))
    }
    /// `spec.namespaceSelector` (matchLabels semantics).
    pub fn namespace_selector(self, labels: &[(&str, &str)]) -> Self {
        self.set(&["spec", "namespaceSelector"], json!(map(labels)))
    }
    /// `spec.bgp` (route attributes), as JSON.
    pub fn route_attrs(self, bgp: Value) -> Self {
        self.set(&["spec", "bgp"], bgp)
    }
    /// As a manifest object.
    pub fn obj(self) -> Object {
        Object::Eip(self.build())
    }
}

// ------------------------------------------------------------------------------- Service

/// A `type: LoadBalancer` Service opted in to Porter (`lb.kubesphere.io/v1alpha1: openelb`).
pub fn service(namespace: &str, name: &str) -> Obj<Service> {
    Obj::new(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": {LB: "openelb"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }))
}

impl Obj<Service> {
    /// Removes the opt-in annotation.
    pub fn not_opted_in(self) -> Self {
        self.unset(&["metadata", "annotations", LB])
    }
    /// Asks for an address with the annotation.
    pub fn want_ip(self, ip: &str) -> Self {
        self.annotate(EIP_IP, ip)
    }
    /// Asks for an address with `spec.loadBalancerIP`.
    pub fn load_balancer_ip(self, ip: &str) -> Self {
        self.set(&["spec", "loadBalancerIP"], json!(ip))
    }
    /// Names the pool with the annotation.
    pub fn want_pool(self, pool: &str) -> Self {
        self.annotate(EIP_POOL, pool)
    }
    /// `status.loadBalancer.ingress` with these addresses.
    pub fn ingress(self, ips: &[&str]) -> Self {
        let ingress: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        self.set(&["status", "loadBalancer", "ingress"], json!(ingress))
    }
    /// `spec.ipFamilies`.
    pub fn ip_families(self, families: &[&str]) -> Self {
        self.set(&["spec", "ipFamilies"], json!(families))
    }
    /// `spec.externalTrafficPolicy`.
    pub fn traffic_policy(self, policy: &str) -> Self {
        self.set(&["spec", "externalTrafficPolicy"], json!(policy))
    }
    /// As a manifest object.
    pub fn obj(self) -> Object {
        Object::Service(self.build())
    }
}

// ------------------------------------------------------------------------------- EndpointSlice

/// An endpoint's conditions; `None` leaves the condition unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cond {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

/// Ready (and serving, not terminating), as a running Pod's endpoint.
pub const READY: Cond = Cond {
    ready: Some(true),
    serving: Some(true),
    terminating: Some(false),
};
/// The Pod's endpoint as the endpoint controller writes it from its deletion until its
/// containers stop: not Ready, still Serving, Terminating.
pub const DRAINING: Cond = Cond {
    ready: Some(false),
    serving: Some(true),
    terminating: Some(true),
};

/// Not ready (a Pod failing its readiness probe).
pub const NOT_READY: Cond = Cond {
    ready: Some(false),
    serving: Some(false),
    terminating: Some(false),
};

/// An EndpointSlice of Service `namespace/svc` with one endpoint per `(node, conditions)`.
pub fn endpoint_slice(
    namespace: &str,
    svc: &str,
    endpoints: &[(&str, Cond)],
) -> Obj<EndpointSlice> {
    let eps: Vec<Value> = endpoints
        .iter()
        .enumerate()
        .map(|(i, (node, c))| {
            let mut conditions = serde_json::Map::new();
            for (k, v) in [
                ("ready", c.ready),
                ("serving", c.serving),
                ("terminating", c.terminating),
            ] {
                if let Some(v) = v {
                    conditions.insert(k.to_owned(), json!(v));
                }
            }
            json!({
                "addresses": [format!("10.244.0.{}", i + 1)],
                "nodeName": node,
                "conditions": conditions,
            })
        })
        .collect();
    Obj::new(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{svc}-abcde"),
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": "IPv4",
        "ports": [{"port": 80, "protocol": "TCP"}],
        "endpoints": eps,
    }))
}

/// Shorthand: ready flags per node.
pub fn slice_ready(namespace: &str, svc: &str, endpoints: &[(&str, bool)]) -> Object {
    let eps: Vec<(&str, Cond)> = endpoints
        .iter()
        .map(|&(n, r)| (n, if r { READY } else { NOT_READY }))
        .collect();
    endpoint_slice(namespace, svc, &eps).obj()
}

impl Obj<EndpointSlice> {
    /// Renames the slice (two slices of one Service need distinct names).
    pub fn named(self, name: &str) -> Self {
        self.set(&["metadata", "name"], json!(name))
    }
    /// As a manifest object.
    pub fn obj(self) -> Object {
        Object::EndpointSlice(self.build())
    }
}

// ------------------------------------------------------------------------------- Node / Namespace

/// A Node with one InternalIP and a Ready condition.
pub fn node(name: &str, ip: &str, ready: bool) -> Obj<Node> {
    Obj::new(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        },
    }))
}

impl Obj<Node> {
    /// Replaces `status.addresses` with these InternalIPs (in order).
    pub fn internal_ips(self, ips: &[&str]) -> Self {
        let addresses: Vec<Value> = ips
            .iter()
            .map(|ip| json!({"type": "InternalIP", "address": ip}))
            .collect();
        self.set(&["status", "addresses"], json!(addresses))
    }
    /// As a manifest object.
    pub fn obj(self) -> Object {
        Object::Node(self.build())
    }
}

/// A Namespace with labels.
pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Object {
    Object::Namespace(
        Obj::<Namespace>::new(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": map(labels)},
        }))
        .build(),
    )
}

// ------------------------------------------------------------------------------- BGP

/// `BgpConf default` with `spec.as`.
pub fn bgp_conf(local_as: u32) -> Obj<BgpConf> {
    Obj::new(json!({
        "apiVersion": "network.kubesphere.io/v1alpha2",
        "kind": "BgpConf",
        "metadata": {"name": "default"},
        "spec": {"as": local_as},
    }))
}

impl Obj<BgpConf> {
    /// As a manifest object.
    pub fn obj(self) -> Object {
        Object::BgpConf(self.build())
    }
}

impl Obj<BgpConf> {
    /// `spec.gracefulRestart`, as JSON.
    pub fn graceful_restart(self, gr: Value) -> Self {
        self.set(&["spec", "gracefulRestart"], gr)
    }
}

/// A Secret `namespace/name` with these `data` entries (raw bytes, as after base64 decoding).
pub fn secret(namespace: &str, name: &str, data: &[(&str, &[u8])]) -> Object {
    let mut s = Secret::default();
    s.metadata.namespace = Some(namespace.to_owned());
    s.metadata.name = Some(name.to_owned());
    s.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
            .collect(),
    );
    Object::Secret(s)
}

/// `BgpPeer name` to `address` in `peer_as`.
pub fn bgp_peer(name: &str, address: &str, peer_as: u32) -> Obj<BgpPeer> {
    Obj::new(json!({
        "apiVersion": "network.kubesphere.io/v1alpha2",
        "kind": "BgpPeer",
        "metadata": {"name": name},
        "spec": {"conf": {"neighborAddress": address, "peerAs": peer_as}},
    }))
}

impl Obj<BgpPeer> {
    /// `spec.conf.authPasswordSecretRef`.
    pub fn password_secret(self, namespace: &str, name: &str, key: &str) -> Self {
        self.set(
            &["spec", "conf", "authPasswordSecretRef"],
            json!({"namespace": namespace, "name": name, "key": key}),
        )
    }
    /// `spec.gracefulRestart`, as JSON.
    pub fn graceful_restart(self, gr: Value) -> Self {
        self.set(&["spec", "gracefulRestart"], gr)
    }
    /// `spec.nodeSelector.matchLabels`.
    pub fn match_labels(self, labels: &[(&str, &str)]) -> Self {
        self.set(&["spec", "nodeSelector", "matchLabels"], json!(map(labels)))
    }
    /// One `spec.nodeSelector.matchExpressions` entry.
    pub fn match_expression(self, key: &str, operator: &str, values: &[&str]) -> Self {
        self.set(
            &["spec", "nodeSelector", "matchExpressions"],
            json!([{"key": key, "operator": operator, "values": values}]),
        )
    }
    /// As a manifest object.
    pub fn obj(self) -> Object {
        Object::BgpPeer(self.build())
    }
}

// ------------------------------------------------------------------------------- snapshots

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A snapshot holding these objects.
pub fn snapshot(objects: impl IntoIterator<Item = Object>) -> Snapshot {
    let mut snap = Snapshot::default();
    for o in objects {
        snap.insert(o);
    }
    snap
}

/// A snapshot of `objects`, one ready Node per `(name, InternalIP)` of `nodes`, then `extra`
/// laid over them (an object of the same name replaces the earlier one).
pub fn snapshot_with_nodes(
    objects: impl IntoIterator<Item = Object>,
    nodes: &[(&str, &str)],
    extra: impl IntoIterator<Item = Object>,
) -> Snapshot {
    let nodes = nodes.iter().map(|(name, ip)| node(name, ip, true).obj());
    snapshot(objects.into_iter().chain(nodes).chain(extra))
}

/// `namespace/name`.
pub fn key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(namespace, name)
}

/// An address literal.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP literal")
}

/// Does what the controller does with a plan: writes every planned Service's ingress (and
/// every Eip's status) back into the objects, so the next plan sees it as held.
pub fn apply(snap: &mut Snapshot, plan: &Plan) {
    for (k, sp) in &plan.services {
        let Some(svc) = snap.services.get_mut(k) else {
            continue;
        };
        svc.status = if sp.ingress.is_empty() {
            None
        } else {
            let ingress: Vec<Value> = sp
                .ingress
                .iter()
                .map(|ip| json!({"ip": ip.to_string()}))
                .collect();
            Some(
                serde_json::from_value(json!({"loadBalancer": {"ingress": ingress}}))
                    .expect("status"),
            )
        };
    }
    for (name, ep) in &plan.eips {
        if let Some(eip) = snap.eips.get_mut(name) {
            eip.status = Some(ep.status.clone());
        }
    }
}

/// Plans, applies, and returns the plan (one controller reconcile).
pub fn reconcile(snap: &mut Snapshot) -> Plan {
    let plan = porter_model::assign::plan(snap);
    apply(snap, &plan);
    plan
}

/// BgpPeer `tor` (10.99.0.1, AS 64512) whose status reports a session per node of `nodes`:
/// Established on those in `established`, Active on the others.
pub fn peer_reporting(nodes: &[&str], established: &[&str]) -> Object {
    let states: serde_json::Map<String, serde_json::Value> = nodes
        .iter()
        .map(|n| {
            let state = if established.contains(n) {
                "ESTABLISHED"
            } else {
                "ACTIVE"
            };
            (n.to_string(), json!({"peerState": {"sessionState": state}}))
        })
        .collect();
    bgp_peer("tor", "10.99.0.1", 64512)
        .set(
            &["status", "nodesPeerStatus"],
            serde_json::Value::Object(states),
        )
        .obj()
}
