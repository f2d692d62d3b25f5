//! The objects Porter decides from.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use porter_api::{BgpConf, BgpPeer, Eip};

use crate::ObjectKey;

/// Everything the controller and the speaker read, as plain API objects.
///
/// It is the boundary between *where objects come from* (manifest files or the API server's
/// watches) and *what Porter decides*: both sources fill the same struct and feed the same
/// pure cores. Maps are ordered so decisions never depend on arrival order.
///
/// Services and EndpointSlices are type parameters because the speaker keeps only the few
/// fields it reads of them ([`crate::projection::SpeakerSnapshot`]); everything else is the
/// API object itself.
#[derive(Debug, Clone)]
pub struct Snapshot<S = Service, E = EndpointSlice> {
    /// Eip pools by name (cluster-scoped).
    pub eips: BTreeMap<String, Eip>,
    /// BgpConf objects by name; only `default` is used, as in OpenELB.
    pub bgp_confs: BTreeMap<String, BgpConf>,
    /// BgpPeer objects by name (cluster-scoped).
    pub bgp_peers: BTreeMap<String, BgpPeer>,
    /// Services by `namespace/name`.
    pub services: BTreeMap<ObjectKey, S>,
    /// EndpointSlices by `namespace/name`.
    pub endpoint_slices: BTreeMap<ObjectKey, E>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Namespaces by name, for Eip `namespaceSelector`.
    pub namespaces: BTreeMap<String, Namespace>,
    /// Secrets by `namespace/name`, for BgpPeer `spec.conf.authPasswordSecretRef`. Only `data` is read
    /// (`stringData` must already be merged into it, as the API server does; the manifests source does it).
    /// A source may hold only the Secrets BgpPeers refer to.
    pub secrets: BTreeMap<ObjectKey, Secret>,
    /// Secrets a source was refused reading (not in `secrets`), by `namespace/name`, with what
    /// the refusal says to do, e.g. "cannot be read: forbidden (403): ... add it to Role ...".
    /// A plan reports it instead of "not found", which would send the operator looking for a
    /// Secret that exists.
    pub unreadable_secrets: BTreeMap<ObjectKey, String>,
}

impl<S, E> Default for Snapshot<S, E> {
    /// Nothing at all.
    fn default() -> Self {
        Self {
            eips: BTreeMap::new(),
            bgp_confs: BTreeMap::new(),
            bgp_peers: BTreeMap::new(),
            services: BTreeMap::new(),
            endpoint_slices: BTreeMap::new(),
            nodes: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            secrets: BTreeMap::new(),
            unreadable_secrets: BTreeMap::new(),
        }
    }
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
}

impl<S, E> Snapshot<S, E> {
    /// The value of `key` in the Secret `namespace/name`: `Err` says what is missing, or why the
    /// Secret could not be read ([`Self::unreadable_secrets`]), never the value.
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Result<&[u8], String> {
        let secret_key = ObjectKey::new(namespace, name);
        let secret = self.secrets.get(&secret_key).ok_or_else(|| {
            match self.unreadable_secrets.get(&secret_key) {
                Some(why) => format!("Secret {secret_key} {why}"),
                None => format!("Secret {secret_key} not found"),
            }
        })?;
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
