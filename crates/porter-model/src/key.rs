//! Namespaced object identity.

use std::fmt;

/// `namespace/name` of a namespaced object: the key Porter uses for Services everywhere
/// (IPAM owners, Eip `status.used` values, status files), so that one spelling is shared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key; an empty namespace means `default`, as the API server would default it.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        let namespace = namespace.into();
        let namespace = if namespace.is_empty() {
            "default".to_owned()
        } else {
            namespace
        };
        Self {
            namespace,
            name: name.into(),
        }
    }

    /// Key of an object from its metadata (`None` when it has no name).
    pub fn of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Self> {
        Some(Self::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone()?,
        ))
    }

    /// Parses `namespace/name` (or a bare name, meaning namespace `default`).
    pub fn parse(s: &str) -> Self {
        match s.split_once('/') {
            Some((ns, name)) => Self::new(ns, name),
            None => Self::new("default", s),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
