//! The registration table: which resources the fake API server serves and how each one behaves.
//!
//! The store is schema-less, so a resource is only a name and a handful of flags. Adding one is one line in
//! [`DEFAULT_RESOURCES`] (or [`crate::FakeApiServerBuilder::resource`] from a test).

/// One servable resource: the URL plural, its kind and the API-server behaviours that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; `""` for the core group (served under `/api/v1`).
    pub group: &'static str,
    /// API version within the group, e.g. `v1` or `v1alpha2`.
    pub version: &'static str,
    /// Lower-case plural used in URLs, e.g. `services`.
    pub plural: &'static str,
    /// Kind, e.g. `Service`; lists are `{kind}List`.
    pub kind: &'static str,
    /// Namespaced (`/namespaces/{ns}/...`) or cluster-scoped.
    pub namespaced: bool,
    /// Has a `/status` subresource: writes to the main resource then ignore `.status`, and writes to `/status`
    /// change only `.status`, as the real API server does.
    pub status_subresource: bool,
    /// A custom resource (CRD): the real API server rejects strategic merge patches for these with 415.
    pub custom: bool,
}

impl ResourceInfo {
    /// A namespaced resource without a status subresource; chain the other constructors to change that.
    pub const fn new(
        group: &'static str,
        version: &'static str,
        plural: &'static str,
        kind: &'static str,
    ) -> Self {
        Self {
            group,
            version,
            plural,
            kind,
            namespaced: true,
            status_subresource: false,
            custom: false,
        }
    }

    /// Marks the resource cluster-scoped.
    pub const fn cluster(mut self) -> Self {
        self.namespaced = false;
        self
    }

    /// Marks the resource as having a `/status` subresource.
    pub const fn status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    /// Marks the resource as a custom resource (no strategic merge patch).
    pub const fn custom(mut self) -> Self {
        self.custom = true;
        self
    }

    /// `apiVersion` as written in objects: `v1` for core, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural` for core resources, `plural.group` otherwise (kubectl's spelling).
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether `name` (`plural` or `plural.group`) names this resource.
    pub(crate) fn is_named(&self, name: &str) -> bool {
        name == self.plural || name == self.qualified_name()
    }
}

const CORE: &str = "";
const PORTER: &str = "network.kubesphere.io";

/// Resources served by default: everything Porter's controller and speaker touch, plus a few neighbours.
pub const DEFAULT_RESOURCES: &[ResourceInfo] = &[
    ResourceInfo::new(CORE, "v1", "services", "Service").status(),
    ResourceInfo::new(CORE, "v1", "endpoints", "Endpoints"),
    ResourceInfo::new(CORE, "v1", "nodes", "Node")
        .cluster()
        .status(),
    ResourceInfo::new(CORE, "v1", "namespaces", "Namespace")
        .cluster()
        .status(),
    ResourceInfo::new(CORE, "v1", "events", "Event"),
    ResourceInfo::new(CORE, "v1", "secrets", "Secret"),
    ResourceInfo::new(CORE, "v1", "configmaps", "ConfigMap"),
    ResourceInfo::new(CORE, "v1", "pods", "Pod").status(),
    ResourceInfo::new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    ResourceInfo::new("events.k8s.io", "v1", "events", "Event"),
    ResourceInfo::new("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceInfo::new(PORTER, "v1alpha2", "eips", "Eip")
        .cluster()
        .status()
        .custom(),
    ResourceInfo::new(PORTER, "v1alpha2", "bgpconfs", "BgpConf")
        .cluster()
        .status()
        .custom(),
    ResourceInfo::new(PORTER, "v1alpha2", "bgppeers", "BgpPeer")
        .cluster()
        .status()
        .custom(),
    ResourceInfo::new(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
    )
    .cluster()
    .status(),
];

/// Index of a resource in the server's table; the store keys objects by it.
pub(crate) type ResourceId = usize;

/// The server's resource table (defaults plus test additions) with the lookups the router and store need.
#[derive(Debug, Clone)]
pub(crate) struct Resources(Vec<ResourceInfo>);

impl Resources {
    pub(crate) fn new(extra: &[ResourceInfo]) -> Self {
        let mut all = DEFAULT_RESOURCES.to_vec();
        for r in extra {
            if let Some(existing) = all
                .iter_mut()
                .find(|e| e.group == r.group && e.version == r.version && e.plural == r.plural)
            {
                *existing = *r;
            } else {
                all.push(*r);
            }
        }
        Self(all)
    }

    pub(crate) fn get(&self, id: ResourceId) -> &ResourceInfo {
        &self.0[id]
    }

    /// By URL coordinates.
    pub(crate) fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        self.0
            .iter()
            .position(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// By `apiVersion` and `kind`, as found in an object.
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<ResourceId> {
        self.0
            .iter()
            .position(|r| r.kind == kind && r.api_version() == api_version)
    }

    /// By `plural` or `plural.group`; a bare plural picks the first match (core `events` before `events.k8s.io`).
    pub(crate) fn by_name(&self, name: &str) -> Option<ResourceId> {
        self.0.iter().position(|r| r.is_named(name))
    }
}
