//! What the speaker keeps of Services and EndpointSlices.
//!
//! A speaker on a cluster with 10 000 LoadBalancer Services would hold about 7 KiB of
//! `k8s-openapi` objects per Service and EndpointSlice, of which announcing reads a handful of
//! fields. [`LbService`] and [`SliceNodes`] are those fields, read once when an object
//! arrives (the Kubernetes source keeps only these), so a speaker's memory grows by a few
//! hundred bytes per Service rather than kilobytes. A [`SpeakerSnapshot`] is a [`Snapshot`]
//! holding them; [`Snapshot::for_speaker`] derives one from whole objects (manifests mode,
//! the controller's coverage report, tests), so there is one announce code path.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use porter_api::annotations;

use crate::Snapshot;
use crate::assign::ingress_ips;
use crate::route_attrs::{self, RouteAttrsDelta};
use crate::snapshot::SERVICE_NAME_LABEL;

/// A [`Snapshot`] as the speaker keeps it: Services and EndpointSlices reduced to what
/// announcing reads (`Arc`s, so cloning a snapshot does not copy them).
pub type SpeakerSnapshot = Snapshot<Arc<LbService>, Arc<SliceNodes>>;

/// What announcing needs of a Service that asks Porter for an address and holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbService {
    /// The addresses in `status.loadBalancer.ingress` (never empty).
    pub ingress: Box<[IpAddr]>,
    /// `externalTrafficPolicy: Local`: traffic may only enter where an endpoint runs.
    pub local_traffic: bool,
    /// What the `bgp.porter.kubesphere.io/*` annotations change in the pool's path
    /// attributes; `None` when they change nothing (the common case, kept small).
    pub attrs: Option<Box<RouteAttrsDelta>>,
    /// The malformed `bgp.porter.kubesphere.io/*` annotations, each naming the annotation.
    /// When there are any, `attrs` is `None`: the Service is announced with its Eip's
    /// attributes alone (see [`crate::announce`]).
    pub attr_errors: Box<[String]>,
}

impl LbService {
    /// The announce-relevant part of `svc`; `None` when Porter would not announce it
    /// whatever the other objects say (not opted in, or no address in its status).
    pub fn of(svc: &Service) -> Option<Self> {
        Self::holding(svc, &ingress_ips(svc))
    }

    /// [`Self::of`] with the Service holding `ingress` instead of what its status says (the
    /// controller's view of a plan it has not written yet).
    pub fn holding(svc: &Service, ingress: &[IpAddr]) -> Option<Self> {
        if !annotations::opted_in(svc) || ingress.is_empty() {
            return None;
        }
        let local_traffic = svc
            .spec
            .as_ref()
            .and_then(|s| s.external_traffic_policy.as_deref())
            == Some("Local");
        let (attrs, attr_errors) = match route_attrs::from_annotations(svc) {
            Ok(delta) if delta == RouteAttrsDelta::default() => (None, Box::default()),
            Ok(delta) => (Some(Box::new(delta)), Box::default()),
            Err(errors) => (None, errors.iter().map(ToString::to_string).collect()),
        };
        Some(Self {
            ingress: ingress.into(),
            local_traffic,
            attrs,
            attr_errors,
        })
    }
}

/// Where the usable endpoints of one EndpointSlice run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceNodes {
    /// The Service it belongs to (label `kubernetes.io/service-name`), in the slice's namespace.
    pub service: Box<str>,
    /// Nodes running a usable endpoint, sorted, without duplicates, each followed by `\n`
    /// (which no node name contains): one allocation per slice instead of one per endpoint,
    /// 1.8 MiB of a speaker's 14.6 at 10k Services. Read it with [`Self::nodes`].
    nodes: Box<str>,
    /// A usable endpoint without `nodeName` exists: it serves an `externalTrafficPolicy:
    /// Cluster` Service, but no node can claim it as local.
    pub usable_off_node: bool,
}

impl SliceNodes {
    /// The announce-relevant part of `slice`; `None` when it names no Service or has no
    /// usable endpoint (it then changes no decision: not keeping it saves memory on Services
    /// scaled to zero, and its changes wake nobody).
    pub fn of(slice: &EndpointSlice) -> Option<Self> {
        let service = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
        let mut nodes = Vec::new();
        let mut usable_off_node = false;
        for ep in slice.endpoints.iter().filter(|ep| usable(ep)) {
            match ep.node_name.as_deref() {
                // Not a node name (a corrupt object): usable, but it can match no node and
                // must not break the encoding of `nodes`.
                Some(node) if node.is_empty() || node.contains('\n') => usable_off_node = true,
                Some(node) => nodes.push(node),
                None => usable_off_node = true,
            }
        }
        if nodes.is_empty() && !usable_off_node {
            return None;
        }
        nodes.sort_unstable();
        nodes.dedup();
        Some(Self {
            service: service.as_str().into(),
            nodes: nodes
                .iter()
                .flat_map(|n| [*n, "\n"])
                .collect::<String>()
                .into(),
            usable_off_node,
        })
    }

    /// The nodes running a usable endpoint, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.split_terminator('\n')
    }

    /// Whether any endpoint of this slice should receive new traffic.
    pub fn any_usable(&self) -> bool {
        self.usable_off_node || !self.nodes.is_empty()
    }

    /// Whether a usable endpoint runs on `node`.
    pub fn on_node(&self, node: &str) -> bool {
        self.nodes().any(|n| n == node)
    }
}

/// An endpoint that should receive new traffic: ready, or (while the Pod shuts down
/// gracefully) serving and not terminating. An unset condition counts as true, as the
/// EndpointSlice API defines.
fn usable(ep: &Endpoint) -> bool {
    let c = ep.conditions.as_ref();
    let ready = c.and_then(|c| c.ready).unwrap_or(true);
    let serving = c.and_then(|c| c.serving).unwrap_or(ready);
    let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
    ready || (serving && !terminating)
}

impl Snapshot {
    /// This snapshot as a speaker keeps it: the other kinds are cloned as they are.
    pub fn for_speaker(&self) -> SpeakerSnapshot {
        Snapshot {
            eips: self.eips.clone(),
            bgp_confs: self.bgp_confs.clone(),
            bgp_peers: self.bgp_peers.clone(),
            services: self
                .services
                .iter()
                .filter_map(|(key, svc)| Some((key.clone(), Arc::new(LbService::of(svc)?))))
                .collect(),
            endpoint_slices: self
                .endpoint_slices
                .iter()
                .filter_map(|(key, slice)| Some((key.clone(), Arc::new(SliceNodes::of(slice)?))))
                .collect(),
            nodes: self.nodes.clone(),
            namespaces: self.namespaces.clone(),
            secrets: self.secrets.clone(),
            unreadable_secrets: self.unreadable_secrets.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(annotations: serde_json::Value, ips: &[&str], etp: &str) -> Service {
        let ingress: Vec<_> = ips.iter().map(|ip| serde_json::json!({"ip": ip})).collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": etp},
            "status": {"loadBalancer": {"ingress": ingress}}
        }))
        .unwrap()
    }

    fn opted_in() -> serde_json::Value {
        serde_json::json!({"lb.kubesphere.io/v1alpha1": "porter"})
    }

    #[test]
    fn a_service_is_kept_only_when_porter_would_announce_it() {
        let none = serde_json::json!({});
        assert_eq!(
            LbService::of(&service(none, &["10.0.0.1"], "Cluster")),
            None
        );
        assert_eq!(LbService::of(&service(opted_in(), &[], "Cluster")), None);
        let kept = LbService::of(&service(opted_in(), &["10.0.0.1"], "Local")).unwrap();
        assert_eq!(&*kept.ingress, &["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(kept.local_traffic);
        assert_eq!(kept.attrs, None, "no BGP annotation: nothing stored");
        assert!(kept.attr_errors.is_empty());
    }

    #[test]
    fn bgp_annotations_are_parsed_once_and_errors_keep_their_field() {
        let mut annotations = opted_in();
        annotations["bgp.porter.kubesphere.io/med"] = "50".into();
        let kept = LbService::of(&service(annotations.clone(), &["10.0.0.1"], "")).unwrap();
        assert_eq!(kept.attrs.as_ref().and_then(|a| a.med), Some(50));
        assert!(!kept.local_traffic);

        annotations["bgp.porter.kubesphere.io/med"] = "lots".into();
        let kept = LbService::of(&service(annotations, &["10.0.0.1"], "")).unwrap();
        assert_eq!(kept.attrs, None);
        assert_eq!(kept.attr_errors.len(), 1);
        assert!(kept.attr_errors[0].contains("bgp.porter.kubesphere.io/med"));
    }

    fn slice(endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "endpoints": endpoints
        }))
        .unwrap()
    }

    #[test]
    fn a_slice_keeps_the_nodes_of_its_usable_endpoints() {
        let s = SliceNodes::of(&slice(serde_json::json!([
            {"addresses": ["10.1.0.1"], "nodeName": "n2"},
            {"addresses": ["10.1.0.2"], "nodeName": "n1", "conditions": {"ready": true}},
            {"addresses": ["10.1.0.3"], "nodeName": "n2"},
            // not ready, not serving: no traffic
            {"addresses": ["10.1.0.4"], "nodeName": "n3", "conditions": {"ready": false}},
            // shutting down gracefully but still serving: traffic until it stops
            {"addresses": ["10.1.0.5"], "nodeName": "n4",
                "conditions": {"ready": false, "serving": true, "terminating": false}},
            {"addresses": ["10.1.0.6"], "nodeName": "n5",
                "conditions": {"ready": false, "serving": true, "terminating": true}},
        ])))
        .unwrap();
        assert_eq!(&*s.service, "web");
        assert_eq!(s.nodes().collect::<Vec<_>>(), ["n1", "n2", "n4"]);
        assert!(s.on_node("n1") && s.on_node("n4"));
        assert!(!s.on_node("n3") && !s.on_node("n") && !s.on_node(""));
        assert!(s.any_usable());
        assert!(!s.usable_off_node);
    }

    #[test]
    fn endpoints_without_a_usable_node_name_serve_cluster_traffic_only() {
        let s = SliceNodes::of(&slice(serde_json::json!([
            {"addresses": ["10.1.0.1"]},
            {"addresses": ["10.1.0.2"], "nodeName": "bad\nname"},
        ])))
        .unwrap();
        assert_eq!(s.nodes().count(), 0);
        assert!(s.usable_off_node && s.any_usable());
        assert!(!s.on_node("bad") && !s.on_node("name"));

        assert_eq!(SliceNodes::of(&slice(serde_json::json!([]))), None);
        let not_ready = serde_json::json!([{"addresses": ["10.1.0.1"], "nodeName": "n1",
            "conditions": {"ready": false}}]);
        assert_eq!(SliceNodes::of(&slice(not_ready)), None);

        let mut orphan = slice(serde_json::json!([]));
        orphan.metadata.labels = None;
        assert_eq!(SliceNodes::of(&orphan), None);
    }
}
