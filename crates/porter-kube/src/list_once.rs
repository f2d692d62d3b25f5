//! One look at the cluster: the kinds a [`Snapshot`] holds, each read by one paginated LIST,
//! and the controller's Lease by one GET. For `porter status`, which answers once and exits:
//! no watch, no cache, and nothing read that the view does not use.
//!
//! Errors name what was being read (`list eips.network.kubesphere.io`), so a caller can say
//! which RBAC rule is missing or that the CRDs are not installed. A client from [`config`] has every
//! request bounded by a timeout and does not retry, so a command never hangs on a dead or
//! overloaded API server: it fails with that server's answer.

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource, ResourceExt};
use porter_api::{BgpConf, BgpPeer, Eip};
use porter_model::{ObjectKey, Snapshot};
use serde::de::DeserializeOwned;

use crate::{Error, Kinds};

/// Objects per LIST page (kubectl's and client-go's chunk size).
pub const PAGE_SIZE: u32 = 500;

/// Where the API server is and how long to wait for it, as `kubectl` takes them.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// A kubeconfig file (`--kubeconfig`); default `$KUBECONFIG`, `~/.kube/config`, then the
    /// in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig other than its current one (`--context`).
    pub context: Option<String>,
    /// The longest any single request (connect, send, answer) may take; `None` = kube's
    /// defaults (no limit on the answer).
    pub timeout: Option<Duration>,
}

/// The configuration of a client for one-shot reads (`Client::try_from` it): found like
/// `kubectl` finds it, each request bounded by `options.timeout`, and no retry of 429/503/504
/// (kube's default retries back off for minutes). Its `cluster_url` names the server in errors.
pub async fn config(options: &ClientOptions) -> Result<Config, Error> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    let kubeconfig = |e| Error::Config(kube::Error::InferKubeconfig(e));
    let mut config = match (&options.kubeconfig, &options.context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path).map_err(kubeconfig)?;
            Config::from_custom_kubeconfig(file, &kube_options)
                .await
                .map_err(kubeconfig)?
        }
        (None, Some(_)) => Config::from_kubeconfig(&kube_options)
            .await
            .map_err(kubeconfig)?,
        (None, None) => Config::infer()
            .await
            .map_err(|e| Error::Config(kube::Error::InferConfig(e)))?,
    };
    if let Some(timeout) = options.timeout {
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        // count the answer's wait from the request, not from when a pooled connection idled
        config.reset_reader_on_write = true;
    }
    config.default_retry = false;
    Ok(config)
}

/// Lists every kind `kinds` names into a [`Snapshot`] (the others stay empty; Secrets are
/// never read). The LISTs run concurrently; the first failure is returned.
pub async fn list_snapshot(client: &Client, kinds: Kinds) -> Result<Snapshot, Error> {
    let (eips, bgp_confs, bgp_peers, services, endpoint_slices, nodes, namespaces) = futures::try_join!(
        list_if::<Eip>(client, kinds.eips),
        list_if::<BgpConf>(client, kinds.bgp_confs),
        list_if::<BgpPeer>(client, kinds.bgp_peers),
        list_if::<Service>(client, kinds.services),
        list_if::<EndpointSlice>(client, kinds.endpoint_slices),
        list_if::<Node>(client, kinds.nodes),
        list_if::<Namespace>(client, kinds.namespaces),
    )?;
    Ok(Snapshot {
        eips: by_name(eips),
        bgp_confs: by_name(bgp_confs),
        bgp_peers: by_name(bgp_peers),
        services: by_key(services),
        endpoint_slices: by_key(endpoint_slices),
        nodes: by_name(nodes),
        namespaces: by_name(namespaces),
        secrets: Default::default(),
        unreadable_secrets: Default::default(),
    })
}

/// One Service, or `None` when it does not exist (`porter status --service NS/NAME --ip-only`
/// needs nothing else).
pub async fn get_service(client: &Client, key: &ObjectKey) -> Result<Option<Service>, Error> {
    Api::<Service>::namespaced(client.clone(), &key.namespace)
        .get_opt(&key.name)
        .await
        .map_err(|e| Error::api("get", format!("Service {key}"), e))
}

/// The Lease `namespace/name`, or `None` when it does not exist.
pub async fn get_lease(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Lease>, Error> {
    Api::<Lease>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| Error::api("get", format!("Lease {namespace}/{name}"), e))
}

/// The resource as RBAC rules and `kubectl get` name it: `plural` or `plural.group`.
pub fn resource_name<K: Resource<DynamicType = ()>>() -> String {
    let group = K::group(&());
    if group.is_empty() {
        K::plural(&()).into_owned()
    } else {
        format!("{}.{group}", K::plural(&()))
    }
}

async fn list_if<K>(client: &Client, wanted: bool) -> Result<Vec<K>, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    if !wanted {
        return Ok(Vec::new());
    }
    let api: Api<K> = Api::all(client.clone());
    let mut params = ListParams::default().limit(PAGE_SIZE);
    let mut out = Vec::new();
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| Error::api("list", resource_name::<K>(), e))?;
        out.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

fn by_name<K: ResourceExt>(objects: Vec<K>) -> std::collections::BTreeMap<String, K> {
    objects.into_iter().map(|o| (o.name_any(), o)).collect()
}

fn by_key<K: ResourceExt>(objects: Vec<K>) -> std::collections::BTreeMap<ObjectKey, K> {
    objects
        .into_iter()
        .filter_map(|o| Some((ObjectKey::of(o.meta())?, o)))
        .collect()
}
