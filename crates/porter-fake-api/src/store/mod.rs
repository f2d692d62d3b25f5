//! The in-memory object store: objects as `serde_json::Value`, one global resourceVersion counter, and a
//! bounded history of changes that watches replay.
//!
//! Every write path (HTTP verbs and the test controls alike) goes through [`Store::commit_update`] or
//! [`Store::commit_create`], so the API server's rules hold everywhere: identity fields are immutable, the
//! status subresource splits `.status` from the rest, `generation` follows spec changes, an unchanged object
//! is not written (no resourceVersion bump, no watch event), and an object being deleted disappears once
//! its finalizers are empty.

mod object;
mod write;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::resources::{ResourceId, Resources};
use crate::selectors::{FieldSelector, LabelSelector};

pub(crate) use object::check_shape;
use object::meta_mut;

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The main resource: `.status` is ignored when the resource has a status subresource.
    Main,
    /// The `/status` subresource: only `.status` changes.
    Status,
    /// Test controls: everything (simulates any actor).
    All,
}

/// Options shared by write verbs.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOpts {
    /// `dryRun=All`: validate and compute, but store nothing.
    pub(crate) dry_run: bool,
    /// `fieldManager`: required for server-side apply (the only place it is recorded).
    pub(crate) field_manager: Option<String>,
}

/// Where objects are listed or watched: a resource, optionally one namespace, and selectors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) namespace: Option<String>,
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
}

impl Filter {
    fn matches(&self, ns: &str, obj: &Value) -> bool {
        self.namespace.as_deref().is_none_or(|want| want == ns)
            && self.labels.matches(obj)
            && self.fields.matches(obj)
    }
}

/// The kind of a recorded change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One history entry: the object after the change (the last state for a delete) and before it.
#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    res: ResourceId,
    ns: String,
    kind: ChangeKind,
    object: Value,
    old: Option<Value>,
}

/// A watch event ready to serialize: `ADDED`, `MODIFIED` or `DELETED` with its object.
pub(crate) type WatchItem = (&'static str, Value);

/// One page of a list.
#[derive(Debug)]
pub(crate) struct ListPage {
    pub(crate) items: Vec<Value>,
    pub(crate) resource_version: u64,
    pub(crate) continue_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    res: ResourceId,
    ns: String,
    name: String,
}

#[derive(Debug)]
struct Inner {
    rv: u64,
    serial: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Change>,
    /// Changes with `rv <= compacted_rv` are gone; a watch from an older RV gets 410.
    compacted_rv: u64,
    capacity: usize,
}

impl Inner {
    /// The objects of `res` in (namespace, name) order, starting right after `after` (a
    /// continue token's last key) or at the first one (of `namespace`, when given), and
    /// ending with the last of `res` (of `namespace`). A seek in the map, not a scan from
    /// its start: listing N objects a page at a time costs O(N log N), not O(N² / page).
    fn page_from<'a>(
        &'a self,
        res: ResourceId,
        namespace: Option<&'a str>,
        after: Option<&(String, String)>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        let key = |ns: &str, name: &str| Key {
            res,
            ns: ns.to_owned(),
            name: name.to_owned(),
        };
        let start = match (after, namespace) {
            // a token from before the namespace: the namespace's first object comes next
            (Some((after_ns, _)), Some(ns)) if after_ns.as_str() < ns => {
                Bound::Included(key(ns, ""))
            }
            (Some((ns, name)), _) => Bound::Excluded(key(ns, name)),
            (None, Some(ns)) => Bound::Included(key(ns, "")),
            (None, None) => Bound::Included(key("", "")),
        };
        self.objects
            .range((start, Bound::Unbounded))
            .take_while(move |(k, _)| k.res == res && namespace.is_none_or(|ns| k.ns == ns))
    }
}

/// The object store; shared by the HTTP handlers, the watch streams and the test controls.
#[derive(Debug)]
pub(crate) struct Store {
    resources: Resources,
    inner: Mutex<Inner>,
    tick: watch::Sender<u64>,
    /// Stored objects looked at by list requests, every page's (see [`Store::list_examined`]).
    list_examined: AtomicU64,
}

impl Store {
    pub(crate) fn new(resources: Resources, capacity: usize) -> Self {
        let (tick, _) = watch::channel(0);
        Self {
            resources,
            inner: Mutex::new(Inner {
                // Not 0: a watch from "0" means "from any version, with the current state first".
                rv: 1,
                serial: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted_rv: 0,
                capacity: capacity.max(1),
            }),
            tick,
            list_examined: AtomicU64::new(0),
        }
    }

    /// How many stored objects list requests have looked at so far, those a selector skipped
    /// included: the work paging costs, for tests that must not time it.
    pub(crate) fn list_examined(&self) -> u64 {
        self.list_examined.load(Ordering::Relaxed)
    }

    pub(crate) fn resources(&self) -> &Resources {
        &self.resources
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every watch stream (after a write, a compaction or an outage change).
    pub(crate) fn notify(&self) {
        self.tick.send_modify(|t| *t += 1);
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }

    pub(crate) fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    fn key(&self, res: ResourceId, ns: Option<&str>, name: &str) -> Key {
        let info = self.resources.get(res);
        Key {
            res,
            ns: if info.namespaced {
                ns.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    pub(crate) fn get(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = self.key(res, ns, name);
        self.lock()
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(self.resources.get(res).plural, name))
    }

    /// Lists matching objects in (namespace, name) order, `limit` at a time.
    pub(crate) fn list(
        &self,
        res: ResourceId,
        filter: &Filter,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let inner = self.lock();
        let (snapshot_rv, after) = match continue_token {
            Some(token) => {
                let bad = || ApiError::BadRequest("continue key is not valid".into());
                let mut parts = token.splitn(3, ':');
                let rv: u64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                let ns = parts.next().ok_or_else(bad)?;
                let name = parts.next().ok_or_else(bad)?;
                if rv < inner.compacted_rv {
                    return Err(ApiError::Expired(
                        "The provided continue parameter is too old to display a consistent list result. \
                         You can start a new list without the continue parameter."
                            .into(),
                    ));
                }
                (rv, Some((ns.to_string(), name.to_string())))
            }
            None => (inner.rv, None),
        };
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut examined = 0;
        let mut items: Vec<(&Key, &Value)> = inner
            .page_from(res, filter.namespace.as_deref(), after.as_ref())
            .inspect(|_| examined += 1)
            .filter(|(k, v)| filter.matches(&k.ns, v))
            .take(limit.saturating_add(1))
            .collect();
        self.list_examined.fetch_add(examined, Ordering::Relaxed);
        let mut continue_token = None;
        if items.len() > limit {
            items.truncate(limit);
            if let Some((k, _)) = items.last() {
                continue_token = Some(format!("{snapshot_rv}:{}:{}", k.ns, k.name));
            }
        }
        Ok(ListPage {
            items: items.into_iter().map(|(_, v)| v.clone()).collect(),
            resource_version: snapshot_rv,
            continue_token,
        })
    }

    /// Every object of a resource (test inspection).
    pub(crate) fn all(&self, res: ResourceId) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|(k, _)| k.res == res)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Forgets all retained history: open watches get 410 and resumes from any RV seen so far get 410.
    pub(crate) fn compact(&self) {
        {
            let mut inner = self.lock();
            // Advance the counter as if another resource had been written, so that even a watcher that is
            // fully caught up resumes from an RV that is now too old.
            inner.rv += 1;
            inner.compacted_rv = inner.rv;
            inner.history.clear();
        }
        self.notify();
    }

    /// Starts a watch: the RV to replay from, plus the synthetic `ADDED` objects when the watch asked for the
    /// current state (`resourceVersion` unset or `0`, or `sendInitialEvents`).
    pub(crate) fn watch_start(
        &self,
        res: ResourceId,
        filter: &Filter,
        from: Option<u64>,
    ) -> Result<(u64, Vec<Value>), ApiError> {
        let inner = self.lock();
        match from {
            None => {
                let items = inner
                    .objects
                    .iter()
                    .filter(|(k, v)| k.res == res && filter.matches(&k.ns, v))
                    .map(|(_, v)| v.clone())
                    .collect();
                Ok((inner.rv, items))
            }
            Some(rv) if rv < inner.compacted_rv => Err(ApiError::too_old(rv, inner.compacted_rv)),
            Some(rv) => Ok((rv, Vec::new())),
        }
    }

    /// The watch events after `cursor` that a watch with this filter sees, and the new cursor. A selector
    /// watch sees an object entering the selection as `ADDED` and leaving it as `DELETED`, like the real one.
    pub(crate) fn changes_since(
        &self,
        res: ResourceId,
        filter: &Filter,
        cursor: u64,
    ) -> Result<(Vec<WatchItem>, u64), ApiError> {
        let inner = self.lock();
        if cursor < inner.compacted_rv {
            return Err(ApiError::too_old(cursor, inner.compacted_rv));
        }
        let start = inner.history.partition_point(|c| c.rv <= cursor);
        let mut out = Vec::new();
        for c in inner.history.iter().skip(start).filter(|c| c.res == res) {
            let now = filter.matches(&c.ns, &c.object);
            let before = c.old.as_ref().is_some_and(|o| filter.matches(&c.ns, o));
            let kind = match (c.kind, before, now) {
                (ChangeKind::Added, _, true) => "ADDED",
                (ChangeKind::Modified, true, true) => "MODIFIED",
                (ChangeKind::Modified, false, true) => "ADDED",
                (ChangeKind::Modified, true, false) => "DELETED",
                (ChangeKind::Deleted, _, true) => "DELETED",
                _ => continue,
            };
            out.push((kind, c.object.clone()));
        }
        Ok((out, inner.rv.max(cursor)))
    }

    /// Bumps the RV, stamps it on the object, stores it (unless deleted) and appends to the history.
    fn record(
        &self,
        inner: &mut Inner,
        key: Key,
        old: Option<&Value>,
        mut obj: Value,
        kind: ChangeKind,
    ) -> Value {
        inner.rv += 1;
        let rv = inner.rv;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        if kind != ChangeKind::Deleted {
            inner.objects.insert(key.clone(), obj.clone());
        }
        inner.history.push_back(Change {
            rv,
            res: key.res,
            ns: key.ns,
            kind,
            object: obj.clone(),
            old: old.cloned(),
        });
        while inner.history.len() > inner.capacity {
            if let Some(dropped) = inner.history.pop_front() {
                inner.compacted_rv = dropped.rv;
            }
        }
        obj
    }
}
