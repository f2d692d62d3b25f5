//! The objects of a scale benchmark, shared by `speaker_scale.rs`, `scale_objects.rs` and
//! `manifests_scale.rs` (each includes this file by `#[path]`), so the manifests folder and the
//! fake API server of one run hold the very same cluster: one Node, one Eip (198.18.0.0/15,
//! RFC 2544 benchmarking space, room for 131 072 Services), BgpConf `default`, one BgpPeer, and N LoadBalancer Services as a
//! controller leaves them (annotation, finalizer, label, an address in their status), each with
//! one EndpointSlice of two ready endpoints, one on this node.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use serde_json::{Value, json};

/// The Eip every Service's address comes from.
pub const POOL: &str = "198.18.0.0/15";
/// The first address handed out; Service `i` holds `FIRST + i`.
pub const FIRST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
/// How many Services the pool can serve.
pub const MAX_SERVICES: u32 = 131_072;

/// Who speaks to whom.
pub struct Cluster<'a> {
    /// The speaker's node.
    pub node: &'a str,
    /// Its InternalIP, also the BGP router id.
    pub node_ip: &'a str,
    pub node_as: u32,
    /// The router the speaker peers with.
    pub peer_ip: &'a str,
    pub peer_as: u32,
}

impl Cluster<'_> {
    /// Node, Eip, BgpConf and BgpPeer.
    pub fn fixed(&self) -> [Value; 4] {
        [
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node},
                "status": {"addresses": [{"type": "InternalIP", "address": self.node_ip}],
                           "conditions": [{"type": "Ready", "status": "True"}]}}),
            json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
                "metadata": {"name": "pool",
                    "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
                "spec": {"address": POOL, "protocol": "bgp"}}),
            json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
                "metadata": {"name": "default"},
                "spec": {"as": self.node_as, "routerId": self.node_ip, "listenPort": -1}}),
            json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
                "metadata": {"name": "tor"},
                "spec": {"conf": {"neighborAddress": self.peer_ip, "peerAs": self.peer_as}}}),
        ]
    }

    /// Service `i` (in namespace `ns-<i % 100>`) and its EndpointSlice.
    pub fn service(&self, i: u32) -> [Value; 2] {
        let (name, namespace) = (format!("svc-{i:06}"), format!("ns-{:03}", i % 100));
        let ip = Ipv4Addr::from(u32::from(FIRST) + i);
        [
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": namespace,
                    "annotations": {"lb.kubesphere.io/v1alpha1": "porter"},
                    "finalizers": ["finalizer.lb.kubesphere.io/v1alpha1"],
                    "labels": {"app": name, "eip.openelb.kubesphere.io/v1alpha2": "pool"}},
                "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster",
                    "selector": {"app": name}, "sessionAffinity": "None",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080,
                               "nodePort": 30000 + i % 2000}],
                    "clusterIP": format!("10.96.{}.{}", i / 250 % 250, i % 250),
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
                "status": {"loadBalancer": {"ingress": [{"ip": ip.to_string(), "ipMode": "VIP"}]}}
            }),
            json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{name}-x7k2p"), "namespace": namespace,
                    "labels": {"kubernetes.io/service-name": name,
                               "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [
                    {"addresses": [format!("10.244.1.{}", i % 250)], "nodeName": self.node,
                     "conditions": {"ready": true, "serving": true, "terminating": false},
                     "targetRef": {"kind": "Pod", "name": format!("{name}-a"), "namespace": namespace}},
                    {"addresses": [format!("10.244.2.{}", i % 250)], "nodeName": "other-node",
                     "conditions": {"ready": true, "serving": true, "terminating": false},
                     "targetRef": {"kind": "Pod", "name": format!("{name}-b"), "namespace": namespace}}
                ]
            }),
        ]
    }
}
