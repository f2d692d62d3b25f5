//! What a source watches and how: the kinds of a role ([`Kinds`]) and its settings ([`SourceConfig`]).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use porter_model::ObjectKey;
use porter_model::layer2::MEMBER_SECRET;
use porter_model::projection::{controller_service, controller_slice, planning_node};

use super::Trim;

/// Which kinds a source watches. A kind that is not watched stays empty in every snapshot
/// (and counts as synced), and the role needs no RBAC rule for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    /// Eip (`network.kubesphere.io`).
    pub eips: bool,
    /// BgpConf (`network.kubesphere.io`).
    pub bgp_confs: bool,
    /// BgpPeer (`network.kubesphere.io`).
    pub bgp_peers: bool,
    /// Service.
    pub services: bool,
    /// EndpointSlice (`discovery.k8s.io`).
    pub endpoint_slices: bool,
    /// Node.
    pub nodes: bool,
    /// Namespace.
    pub namespaces: bool,
}

impl Kinds {
    /// Every kind a [`Snapshot`](porter_model::Snapshot) holds (but Secrets, which are never watched).
    pub const ALL: Self = Self {
        eips: true,
        bgp_confs: true,
        bgp_peers: true,
        services: true,
        endpoint_slices: true,
        nodes: true,
        namespaces: true,
    };

    /// What `porter_model::assign::plan` reads (Eips, Services, and Namespaces for Eip
    /// `namespaceSelector`) and what `porter_model::coverage` reads to report which nodes
    /// announce each Service (`announce::plan`'s BgpConfs, BgpPeers with their sessions'
    /// status, EndpointSlices and Nodes): every kind.
    pub const CONTROLLER: Self = Self::ALL;

    /// What `porter_model::announce::plan` reads: everything but Namespaces.
    pub const SPEAKER: Self = Self {
        namespaces: false,
        ..Self::ALL
    };

    /// The watched resources as `(API group, plural)`, the way RBAC rules name them.
    pub fn resources(&self) -> Vec<(&'static str, &'static str)> {
        const PORTER: &str = "network.kubesphere.io";
        [
            (self.eips, (PORTER, "eips")),
            (self.bgp_confs, (PORTER, "bgpconfs")),
            (self.bgp_peers, (PORTER, "bgppeers")),
            (self.services, ("", "services")),
            (self.endpoint_slices, ("discovery.k8s.io", "endpointslices")),
            (self.nodes, ("", "nodes")),
            (self.namespaces, ("", "namespaces")),
        ]
        .into_iter()
        .filter_map(|(on, r)| on.then_some(r))
        .collect()
    }
}

/// What the source watches and how.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The speaker's node: of each EndpointSlice it keeps that node's own ready endpoints
    /// (its health probes'). Every Node is watched all the same: layer 2 needs them all (who
    /// the members and candidates are), and [`Self::trim_nodes`] keeps a routine Node status
    /// update from planning anything anew.
    pub node: Option<String>,
    /// The pace of notifications during a burst: a few changes close together are published
    /// at once, a longer burst averages one notification per `debounce` (`pacing`).
    pub debounce: Duration,
    /// The kinds to watch.
    pub kinds: Kinds,
    /// Read the Secrets BgpPeers reference (by name, see the module docs) and read them again
    /// this often; `None` = never read a Secret (`Snapshot::secrets` stays empty).
    pub secret_refresh: Option<Duration>,
    /// Secrets read by name beside the BgpPeers' (with `secret_refresh`): the speaker's
    /// membership key, Secret `porter-member` of its namespace.
    pub named_secrets: BTreeSet<ObjectKey>,
    /// Objects per page of an initial list (kube-rs's default: 500). A page is decoded as
    /// whole objects before anything is kept of them, so it sets a role's transient peak:
    /// 500 Services are about 3.5 MiB.
    pub list_page_size: u32,
    /// What is kept of each Service, when not all of it ([`Trim`]).
    pub trim_services: Option<Trim<Service>>,
    /// What is kept of each EndpointSlice, when not all of it ([`Trim`]).
    pub trim_endpoint_slices: Option<Trim<EndpointSlice>>,
    /// What is kept of each Node, when not all of it ([`Trim`]).
    pub trim_nodes: Option<Trim<Node>>,
}

impl Default for SourceConfig {
    /// Every kind, no Secrets.
    fn default() -> Self {
        Self {
            node: None,
            debounce: Duration::from_millis(50),
            kinds: Kinds::ALL,
            secret_refresh: None,
            named_secrets: BTreeSet::new(),
            list_page_size: Self::LIST_PAGE_SIZE,
            trim_services: None,
            trim_endpoint_slices: None,
            trim_nodes: None,
        }
    }
}

impl SourceConfig {
    /// kube-rs's (and client-go's) page size for initial lists.
    pub const LIST_PAGE_SIZE: u32 = 500;

    /// The speaker's page size: a speaker keeps a few hundred bytes per Service, so a page of
    /// 500 whole Services would be most of its peak memory; 100 costs five times the list
    /// requests, once per (re)list.
    pub const SPEAKER_LIST_PAGE_SIZE: u32 = 100;

    /// How often the speaker re-reads its BgpPeers' password Secrets.
    pub const SECRET_REFRESH: Duration = Duration::from_secs(60);

    /// What `porter controller` reads: [`Kinds::CONTROLLER`], no Secrets, and of Services,
    /// EndpointSlices and Nodes only the fields it reads
    /// ([`controller_service`], [`controller_slice`], [`planning_node`]).
    pub fn controller() -> Self {
        Self {
            kinds: Kinds::CONTROLLER,
            trim_services: Some(controller_service),
            trim_endpoint_slices: Some(controller_slice),
            trim_nodes: Some(planning_node),
            ..Self::default()
        }
    }

    /// What `porter speaker` on `node` in `namespace` reads: [`Kinds::SPEAKER`], every Node
    /// as planning reads it ([`planning_node`]), the BgpPeers' password Secrets and its
    /// membership key (Secret [`MEMBER_SECRET`] in `namespace`), re-read every
    /// [`Self::SECRET_REFRESH`].
    pub fn speaker(node: &str, namespace: &str) -> Self {
        Self {
            node: Some(node.to_owned()),
            trim_nodes: Some(planning_node),
            kinds: Kinds::SPEAKER,
            secret_refresh: Some(Self::SECRET_REFRESH),
            named_secrets: BTreeSet::from([ObjectKey::new(namespace, MEMBER_SECRET)]),
            list_page_size: Self::SPEAKER_LIST_PAGE_SIZE,
            ..Self::default()
        }
    }
}
