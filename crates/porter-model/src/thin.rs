//! Services and EndpointSlices as the speaker decodes them: only the fields its projections
//! ([`LbService`], [`SliceNodes`]) read, every other field of the JSON skipped unread.
//!
//! Decoding a whole `k8s-openapi` object allocates every port, selector, cluster IP, address
//! and managed field only for the projection to drop them; at 100k Services a list page of 500
//! whole objects and the watch events were most of a speaker's allocations (and, through the
//! allocator's slack, of its peak RSS). A thin type is listed and watched at the same URL as
//! its `k8s-openapi` twin (same group, version, kind and plural), and is turned into a sparse
//! twin ([`ThinService::into_service`]) holding just the read fields, so the projection code is
//! the same one the controller uses. The speaker reads a manifests folder's Services and
//! EndpointSlices into the same types ([`crate::manifests::Decode::Thin`]).
//!
//! [`LbService`]: crate::projection::LbService
//! [`SliceNodes`]: crate::projection::SliceNodes

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LoadBalancerStatus, Service, ServiceSpec, ServiceStatus};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

/// A Service as the speaker reads it: name, namespace, resourceVersion (the watcher resumes
/// from it), annotations (opt-in, route attributes), `spec` type, class and traffic policy,
/// `status.loadBalancer`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinService {
    /// Only `name`, `namespace`, `resourceVersion` and `annotations` are decoded.
    #[serde(default, deserialize_with = "service_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<ThinServiceSpec>,
    #[serde(default)]
    status: Option<ThinServiceStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThinServiceSpec {
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    load_balancer_class: Option<String>,
    #[serde(default)]
    external_traffic_policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThinServiceStatus {
    #[serde(default)]
    load_balancer: Option<LoadBalancerStatus>,
}

impl ThinService {
    /// The `k8s-openapi` Service holding only what was decoded, for the shared projection.
    pub fn into_service(self) -> Service {
        Service {
            metadata: self.metadata,
            spec: self.spec.map(|s| ServiceSpec {
                type_: s.type_,
                load_balancer_class: s.load_balancer_class,
                external_traffic_policy: s.external_traffic_policy,
                ..ServiceSpec::default()
            }),
            status: self.status.map(|s| ServiceStatus {
                load_balancer: s.load_balancer,
                ..ServiceStatus::default()
            }),
        }
    }
}

/// An EndpointSlice as the speaker reads it: name, namespace, resourceVersion, labels (the
/// Service it belongs to), its ports and, of each endpoint, its addresses, conditions and node
/// (addresses and ports for the node's health probes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinEndpointSlice {
    /// Only `name`, `namespace`, `resourceVersion` and `labels` are decoded.
    #[serde(default, deserialize_with = "slice_meta")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_empty")]
    endpoints: Vec<ThinEndpoint>,
    #[serde(default, deserialize_with = "null_as_empty")]
    ports: Vec<ThinPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThinPort {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    port: Option<i32>,
    #[serde(default)]
    protocol: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThinEndpoint {
    #[serde(default, deserialize_with = "null_as_empty")]
    addresses: Vec<String>,
    #[serde(default)]
    conditions: Option<EndpointConditions>,
    #[serde(default)]
    node_name: Option<String>,
}

impl ThinEndpointSlice {
    /// The `k8s-openapi` EndpointSlice holding only what was decoded, for the shared projection.
    pub fn into_slice(self) -> EndpointSlice {
        EndpointSlice {
            metadata: self.metadata,
            endpoints: self
                .endpoints
                .into_iter()
                .map(|ep| Endpoint {
                    addresses: ep.addresses,
                    conditions: ep.conditions,
                    node_name: ep.node_name,
                    ..Endpoint::default()
                })
                .collect(),
            ports: (!self.ports.is_empty()).then(|| {
                self.ports
                    .into_iter()
                    .map(|p| EndpointPort {
                        name: p.name,
                        port: p.port,
                        protocol: p.protocol,
                        ..EndpointPort::default()
                    })
                    .collect()
            }),
            ..EndpointSlice::default()
        }
    }
}

/// The metadata fields a thin object keeps; `labels` or `annotations` is left out by the kind
/// that does not read it (see [`service_meta`], [`slice_meta`]).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThinMeta<L, A> {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    labels: L,
    #[serde(default)]
    annotations: A,
}

type Map = Option<BTreeMap<String, String>>;

/// Skips a field's value unread (what serde does with an unknown field).
#[derive(Default)]
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Skip)
    }
}

fn service_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    // `metadata: null` (YAML `metadata:`) as empty, as serde-saphyr reads the whole type.
    let m = Option::<ThinMeta<Skip, Map>>::deserialize(d)?.unwrap_or_default();
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        resource_version: m.resource_version,
        annotations: m.annotations,
        ..ObjectMeta::default()
    })
}

fn slice_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    // `metadata: null` (YAML `metadata:`) as empty, as serde-saphyr reads the whole type.
    let m = Option::<ThinMeta<Map, Skip>>::deserialize(d)?.unwrap_or_default();
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        resource_version: m.resource_version,
        labels: m.labels,
        ..ObjectMeta::default()
    })
}

/// `endpoints: null` as no endpoints (the API sends `null` for an empty list, as `k8s-openapi`
/// accepts).
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Same URL, kind and scope as the `k8s-openapi` twin, so `Api::<Thin…>::all` lists and
/// watches the same objects (kube's `Resource` comes from these through its blanket impl).
macro_rules! same_resource_as {
    ($thin:ty, $twin:ty) => {
        impl k8s_openapi::Resource for $thin {
            const API_VERSION: &'static str = <$twin as k8s_openapi::Resource>::API_VERSION;
            const GROUP: &'static str = <$twin as k8s_openapi::Resource>::GROUP;
            const KIND: &'static str = <$twin as k8s_openapi::Resource>::KIND;
            const VERSION: &'static str = <$twin as k8s_openapi::Resource>::VERSION;
            const URL_PATH_SEGMENT: &'static str =
                <$twin as k8s_openapi::Resource>::URL_PATH_SEGMENT;
            type Scope = <$twin as k8s_openapi::Resource>::Scope;
        }

        impl k8s_openapi::Metadata for $thin {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

same_resource_as!(ThinService, Service);
same_resource_as!(ThinEndpointSlice, EndpointSlice);

#[cfg(test)]
mod tests {
    //! Projecting from the thin decoding equals projecting from the whole `k8s-openapi` object,
    //! for hand-written realistic objects (each edge case the projections read) and generated
    //! ones.

    use crate::projection::{LbService, SliceNodes};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// Decodes `v` both ways; the thin one through its sparse twin.
    fn both_services(v: &Value) -> (Service, Service) {
        let whole: Service = serde_json::from_value(v.clone()).expect("a valid Service");
        let thin: ThinService = serde_json::from_value(v.clone()).expect("a valid thin Service");
        (whole, thin.into_service())
    }

    fn both_slices(v: &Value) -> (EndpointSlice, EndpointSlice) {
        let whole: EndpointSlice = serde_json::from_value(v.clone()).expect("a valid slice");
        let thin: ThinEndpointSlice =
            serde_json::from_value(v.clone()).expect("a valid thin slice");
        (whole, thin.into_slice())
    }

    fn assert_same_service(v: &Value) -> Option<LbService> {
        let (whole, thin) = both_services(v);
        assert_eq!(whole.metadata.name, thin.metadata.name);
        assert_eq!(whole.metadata.namespace, thin.metadata.namespace);
        assert_eq!(
            whole.metadata.resource_version,
            thin.metadata.resource_version
        );
        let kept = LbService::of(&thin);
        assert_eq!(LbService::of(&whole), kept, "{v:#}");
        kept
    }

    fn assert_same_slice(v: &Value) -> Option<SliceNodes> {
        let (whole, thin) = both_slices(v);
        assert_eq!(whole.metadata.name, thin.metadata.name);
        assert_eq!(
            whole.metadata.resource_version,
            thin.metadata.resource_version
        );
        let kept = SliceNodes::of(&thin);
        assert_eq!(SliceNodes::of(&whole), kept, "{v:#}");
        for node in ["n1", "n2", "n3", "n4"] {
            assert_eq!(
                SliceNodes::of_on(&whole, Some(node)),
                SliceNodes::of_on(&thin, Some(node)),
                "{node}: {v:#}"
            );
        }
        kept
    }

    /// A Service as an API server sends it: managed fields, ports, selector, cluster IPs.
    fn realistic_service(name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": "shop",
                "uid": "6f1f3a52-6c1e-4a43-9b7e-0c1c9d3f2a10",
                "resourceVersion": "48213",
                "creationTimestamp": "2026-11-30T10:00:00Z",
                "labels": {"app": name, "eip.openelb.kubesphere.io/v1alpha2": "pool"},
                "annotations": {
                    "lb.kubesphere.io/v1alpha1": "porter",
                    "eip.porter.kubesphere.io/v1alpha2": "pool",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\"}"
                },
                "finalizers": ["finalizer.lb.kubesphere.io/v1alpha1"],
                "managedFields": [{
                    "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-11-30T10:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:ports": {}}}
                }]
            },
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31080}],
                "clusterIP": "10.96.12.7",
                "clusterIPs": ["10.96.12.7"],
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "sessionAffinity": "None",
                "externalTrafficPolicy": "Cluster",
                "internalTrafficPolicy": "Cluster",
                "allocateLoadBalancerNodePorts": true
            },
            "status": {
                "loadBalancer": {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"}]},
                "conditions": [{
                    "type": "porter.kubesphere.io/Allocated", "status": "True",
                    "lastTransitionTime": "2026-11-30T10:00:01Z", "reason": "Allocated", "message": "from pool"
                }]
            }
        })
    }

    fn realistic_slice(service: &str) -> Value {
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": format!("{service}-x7k2p"),
                "namespace": "shop",
                "resourceVersion": "48214",
                "generateName": format!("{service}-"),
                "labels": {
                    "kubernetes.io/service-name": service,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
                },
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-30T10:00:00Z"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": service, "uid": "u", "controller": true, "blockOwnerDeletion": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "discovery.k8s.io/v1"}]
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true, "serving": true, "terminating": false},
                 "nodeName": "n2", "targetRef": {"kind": "Pod", "name": "p1", "namespace": "shop"}, "zone": "a"},
                {"addresses": ["10.244.2.5"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.244.2.6"], "conditions": {"ready": true}, "nodeName": "n1"}
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        })
    }

    #[test]
    fn a_realistic_service_projects_the_same() {
        let kept = assert_same_service(&realistic_service("web")).expect("announced");
        assert_eq!(
            kept.ingress(),
            ["203.0.113.10".parse::<std::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn service_edge_cases_project_the_same() {
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = realistic_service("web");
            f(&mut v);
            v
        };
        let cases = [
            edit(&|v| drop(v.as_object_mut().unwrap().remove("status"))),
            edit(&|v| v["status"] = json!({})),
            edit(&|v| v["status"]["loadBalancer"] = json!({})),
            edit(&|v| {
                v["status"]["loadBalancer"]["ingress"] = json!([
                    {"ip": "203.0.113.10"}, {"ip": "2001:db8::10"}, {"hostname": "lb.example"}
                ])
            }),
            edit(&|v| v["spec"]["externalTrafficPolicy"] = json!("Local")),
            edit(&|v| v["spec"]["type"] = json!("ClusterIP")),
            edit(&|v| drop(v.as_object_mut().unwrap().remove("spec"))),
            edit(&|v| v["spec"]["loadBalancerClass"] = json!("porter.kubesphere.io/bgp")),
            edit(&|v| v["spec"]["loadBalancerClass"] = json!("other.example/lb")),
            edit(&|v| drop(v["metadata"].as_object_mut().unwrap().remove("annotations"))),
            edit(&|v| {
                v["metadata"]["annotations"]["bgp.porter.kubesphere.io/communities"] =
                    json!("65000:1, no-export");
                v["metadata"]["annotations"]["bgp.porter.kubesphere.io/med"] = json!("20");
            }),
            edit(&|v| v["metadata"]["annotations"]["bgp.porter.kubesphere.io/med"] = json!("x")),
            edit(&|v| v["metadata"]["annotations"]["lb.kubesphere.io/v1alpha1"] = json!("metallb")),
        ];
        let kept: Vec<_> = cases.iter().map(assert_same_service).collect();
        // the cases do exercise both outcomes and every field read
        assert!(kept[0].is_none() && kept[5].is_none() && kept[8].is_none());
        assert!(kept[4].as_ref().is_some_and(|s| s.local_traffic));
        assert_eq!(kept[3].as_ref().map(|s| s.ingress().len()), Some(2));
        assert!(kept[10].as_ref().is_some_and(|s| s.attrs().is_some()));
        assert!(
            kept[11]
                .as_ref()
                .is_some_and(|s| !s.attr_errors().is_empty())
        );
    }

    #[test]
    fn slice_edge_cases_project_the_same() {
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = realistic_slice("web");
            f(&mut v);
            v
        };
        let cases = [
            realistic_slice("web"),
            edit(&|v| v["endpoints"] = json!(null)),
            edit(&|v| drop(v.as_object_mut().unwrap().remove("endpoints"))),
            edit(&|v| drop(v["metadata"].as_object_mut().unwrap().remove("labels"))),
            edit(&|v| {
                v["endpoints"] = json!([
                    {"addresses": ["10.0.0.1"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "n1"},
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": false, "serving": true, "terminating": false}, "nodeName": "n2"},
                    {"addresses": ["10.0.0.3"], "conditions": {"ready": false}, "nodeName": "n3"},
                    {"addresses": ["10.0.0.4"], "nodeName": "n4"}
                ])
            }),
            edit(&|v| {
                v["endpoints"] = json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}])
            }),
            edit(&|v| v["endpoints"] = json!([{"addresses": ["10.0.0.1"], "nodeName": ""}])),
        ];
        let kept: Vec<_> = cases.iter().map(assert_same_slice).collect();
        assert_eq!(
            kept[0].as_ref().map(|s| s.nodes().collect::<Vec<_>>()),
            Some(vec!["n1", "n2"])
        );
        assert!(kept[1].is_none() && kept[2].is_none() && kept[3].is_none());
        assert_eq!(
            kept[4].as_ref().map(|s| s.nodes().collect::<Vec<_>>()),
            Some(vec!["n4"])
        );
        assert_eq!(
            kept[4]
                .as_ref()
                .map(|s| s.draining_nodes().collect::<Vec<_>>()),
            Some(vec!["n1"])
        );
        assert!(kept[5].as_ref().is_some_and(|s| s.usable_off_node));
    }

    fn maybe<T: std::fmt::Debug + Clone + 'static>(
        s: impl Strategy<Value = T> + 'static,
    ) -> impl Strategy<Value = Option<T>> {
        proptest::option::of(s)
    }

    prop_compose! {
        fn service()(
            ty in maybe(prop::sample::select(vec!["LoadBalancer", "ClusterIP", "NodePort"])),
            class in maybe(prop::sample::select(vec!["porter.kubesphere.io/bgp", "x/y"])),
            etp in maybe(prop::sample::select(vec!["Local", "Cluster"])),
            opt_in in maybe(prop::sample::select(vec!["porter", "openelb", "metallb"])),
            med in maybe(prop::sample::select(vec!["10", "-1", "x"])),
            communities in maybe(prop::sample::select(vec!["65000:1", "no-export,65000:2", "bad"])),
            ingress in maybe(prop::collection::vec(
                maybe(prop::sample::select(vec!["203.0.113.1", "2001:db8::1", "not-an-ip"])), 0..3)),
        ) -> Value {
            let mut annotations = serde_json::Map::new();
            let mut put = |k: &str, v: Option<&str>| {
                if let Some(v) = v {
                    annotations.insert(k.into(), json!(v));
                }
            };
            put("lb.kubesphere.io/v1alpha1", opt_in);
            put("bgp.porter.kubesphere.io/med", med);
            put("bgp.porter.kubesphere.io/communities", communities);
            let mut v = realistic_service("gen");
            v["metadata"]["annotations"] = Value::Object(annotations);
            v["spec"] = json!({"ports": [{"port": 80}]});
            if let Some(t) = ty { v["spec"]["type"] = json!(t); }
            if let Some(c) = class { v["spec"]["loadBalancerClass"] = json!(c); }
            if let Some(e) = etp { v["spec"]["externalTrafficPolicy"] = json!(e); }
            match ingress {
                None => drop(v.as_object_mut().unwrap().remove("status")),
                Some(list) => {
                    let list: Vec<Value> = list.into_iter().map(|ip| match ip {
                        Some(ip) => json!({"ip": ip}),
                        None => json!({"hostname": "h.example"}),
                    }).collect();
                    v["status"] = json!({"loadBalancer": {"ingress": list}});
                }
            }
            v
        }
    }

    prop_compose! {
        fn slice()(
            named in any::<bool>(),
            endpoints in prop::collection::vec((
                maybe(prop::sample::select(vec!["n1", "n2", ""])),
                maybe(any::<bool>()), maybe(any::<bool>()), maybe(any::<bool>()),
            ), 0..5),
        ) -> Value {
            let mut v = realistic_slice("gen");
            if !named {
                v["metadata"]["labels"] = json!({});
            }
            v["endpoints"] = endpoints.into_iter().map(|(node, ready, serving, terminating)| {
                let mut ep = json!({"addresses": ["10.0.0.1"], "conditions": {}});
                if let Some(n) = node { ep["nodeName"] = json!(n); }
                if let Some(b) = ready { ep["conditions"]["ready"] = json!(b); }
                if let Some(b) = serving { ep["conditions"]["serving"] = json!(b); }
                if let Some(b) = terminating { ep["conditions"]["terminating"] = json!(b); }
                ep
            }).collect();
            v
        }
    }

    proptest! {
        #[test]
        fn generated_services_project_the_same(v in service()) {
            assert_same_service(&v);
        }

        #[test]
        fn generated_slices_project_the_same(v in slice()) {
            assert_same_slice(&v);
        }
    }
}
