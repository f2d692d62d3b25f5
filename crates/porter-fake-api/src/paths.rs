//! URL paths and query strings, parsed into what a handler needs.
//!
//! Paths follow the API server's layout:
//! `/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]` for the core group and
//! `/apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]` for the others. A
//! namespaced resource without `/namespaces/{ns}` is the all-namespaces collection (list and watch only).

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::resources::{ResourceId, Resources};

/// Which object(s) a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) res: ResourceId,
    /// `None` for cluster-scoped resources and all-namespaces collections.
    pub(crate) namespace: Option<String>,
    /// `None` for a collection.
    pub(crate) name: Option<String>,
    /// The `/status` subresource.
    pub(crate) status: bool,
}

/// Parses a request path against the resource table.
pub(crate) fn parse_path(resources: &Resources, path: &str) -> Result<Target, ApiError> {
    let not_found =
        || ApiError::not_found("the server could not find the requested resource", path);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found()),
    };
    // `/namespaces/{ns}/{plural}...` is a namespaced path unless `{plural}` is not a resource of this group
    // version (then it is the `namespaces` resource itself, e.g. `/api/v1/namespaces/{name}/status`).
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources.by_path(group, version, plural).is_some() =>
        {
            (Some((*ns).to_string()), {
                let mut v = vec![*plural];
                v.extend_from_slice(tail);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(not_found()),
    };
    let res = resources
        .by_path(group, version, plural)
        .ok_or_else(not_found)?;
    let info = resources.get(res);
    if namespace.is_some() && !info.namespaced {
        return Err(not_found());
    }
    if namespace.is_none() && info.namespaced && name.is_some() {
        return Err(not_found());
    }
    if name.is_some_and(str::is_empty) || namespace.as_deref().is_some_and(str::is_empty) {
        return Err(not_found());
    }
    let status = match sub {
        None => false,
        Some("status") if info.status_subresource => true,
        Some(_) => return Err(not_found()),
    };
    Ok(Target {
        res,
        namespace,
        name: name.map(str::to_string),
        status,
    })
}

/// Query parameters, decoded; repeated keys keep the last value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query(BTreeMap<String, String>);

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `true`/`1` (the API server's boolean spelling).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// A non-negative integer parameter; a malformed value is a 400.
    pub(crate) fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::BadRequest(format!("invalid value {v:?} for query parameter {key}"))
                })
            })
            .transpose()
    }

    /// `dryRun=All`.
    pub(crate) fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Result<(String, Option<String>, Option<String>, bool), ApiError> {
        let r = Resources::new(&[]);
        parse_path(&r, path).map(|t| (r.get(t.res).qualified_name(), t.namespace, t.name, t.status))
    }

    #[test]
    fn paths() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            parse("/api/v1/services").unwrap(),
            ("services".into(), None, None, false)
        );
        assert_eq!(
            parse("/api/v1/namespaces/default/services/web/status").unwrap(),
            ("services".into(), s("default"), s("web"), true)
        );
        assert_eq!(
            parse("/api/v1/namespaces/kube-system").unwrap(),
            ("namespaces".into(), None, s("kube-system"), false)
        );
        assert_eq!(
            parse("/api/v1/namespaces/x/status").unwrap(),
            ("namespaces".into(), None, s("x"), true)
        );
        assert_eq!(
            parse("/api/v1/nodes/n1/status").unwrap(),
            ("nodes".into(), None, s("n1"), true)
        );
        assert_eq!(
            parse("/apis/network.kubesphere.io/v1alpha2/eips/e1/status").unwrap(),
            ("eips.network.kubesphere.io".into(), None, s("e1"), true)
        );
        assert_eq!(
            parse("/apis/coordination.k8s.io/v1/namespaces/porter/leases").unwrap(),
            (
                "leases.coordination.k8s.io".into(),
                s("porter"),
                None,
                false
            )
        );
        assert_eq!(
            parse("/apis/events.k8s.io/v1/events").unwrap(),
            ("events.events.k8s.io".into(), None, None, false)
        );
        for bad in [
            "/",
            "/api/v1/widgets",
            "/api/v1/services/web",
            "/api/v1/namespaces/default/nodes/n1",
            "/apis/coordination.k8s.io/v1/namespaces/p/leases/l/status",
            "/api/v1/namespaces/d/services/a/b/c",
        ] {
            assert_eq!(parse(bad).map_err(|e| e.code()), Err(404), "{bad}");
        }
    }

    #[test]
    fn query() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=1&limit=x",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert!(q.number("limit").is_err());
        assert_eq!(Query::parse(Some("")).number("limit").unwrap(), None);
    }
}
