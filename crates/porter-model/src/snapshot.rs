//! The objects Porter decides from.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use porter_api::{BgpConf, BgpPeer, Eip};

use crate::ObjectKey;

/// Everything the controller and the speaker read, as plain API objects.
///
/// It is the boundary between *where objects come from* (manifest files today, the API
/// server's watches later) and *what Porter decides*: both sources fill the same struct and
/// feed the same pure cores. Maps are ordered so decisions never depend on arrival order.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Eip pools by name (cluster-scoped).
    pub eips: BTreeMap<String, Eip>,
    /// BgpConf objects by name; only `default` is used, as in OpenELB.
    pub bgp_confs: BTreeMap<String, BgpConf>,
    /// BgpPeer objects by name (cluster-scoped).
    pub bgp_peers: BTreeMap<String, BgpPeer>,
    /// Services by `namespace/name`.
    pub services: BTreeMap<ObjectKey, Service>,
    /// EndpointSlices by `namespace/name`.
    pub endpoint_slices: BTreeMap<ObjectKey, EndpointSlice>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Namespaces by name, for Eip `namespaceSelector`.
    pub namespaces: BTreeMap<String, Namespace>,
    /// Secrets by `namespace/name`, for BgpPeer `spec.conf.authPasswordSecretRef`. Only `data` is read
    /// (`stringData` must already be merged into it, as the API server does; the manifests source does it).
    /// A source may hold only the Secrets BgpPeers refer to.
    pub secrets: BTreeMap<ObjectKey, Secret>,
}

impl Snapshot {
    /// The EndpointSlices that belong to a Service (label `kubernetes.io/service-name`).
    pub fn slices_of<'a>(
        &'a self,
        service: &'a ObjectKey,
    ) -> impl Iterator<Item = &'a EndpointSlice> + 'a {
        self.endpoint_slices.iter().filter_map(move |(key, slice)| {
            let owner = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
            (key.namespace == service.namespace && *owner == service.name).then_some(slice)
        })
    }

    /// Every Service's EndpointSlices, by the Service's `(namespace, name)`, in one pass: what
    /// [`Self::slices_of`] gives for one Service, for all of them.
    pub fn slices_by_service(&self) -> BTreeMap<(&str, &str), Vec<&EndpointSlice>> {
        let mut out: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
        for (key, slice) in &self.endpoint_slices {
            if let Some(owner) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            {
                out.entry((key.namespace.as_str(), owner.as_str()))
                    .or_default()
                    .push(slice);
            }
        }
        out
    }

    /// The value of `key` in the Secret `namespace/name`: `Err` says what is missing (never the value).
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Result<&[u8], String> {
        let secret_key = ObjectKey::new(namespace, name);
        let secret = self
            .secrets
            .get(&secret_key)
            .ok_or_else(|| format!("Secret {secret_key} not found"))?;
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| v.0.as_slice())
            .ok_or_else(|| format!("Secret {secret_key} has no key {key:?}"))
    }

    /// Labels of a namespace (empty when the namespace object is unknown).
    pub fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.namespaces
            .get(namespace)
            .and_then(|ns| ns.metadata.labels.clone())
            .unwrap_or_default()
    }
}

/// The well-known label linking an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
