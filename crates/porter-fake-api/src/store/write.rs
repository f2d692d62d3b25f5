//! The write verbs (create, replace, patch, apply, delete and the test-control writes) and the rules every
//! write goes through ([`Store::commit_create`], [`Store::commit_update`]).

use serde_json::{Value, json};

use super::object::{finalizers, is_deleting, meta, meta_mut, meta_str, set_field, spec_part};
use super::{ChangeKind, Inner, Key, Part, Store, WriteOpts, check_shape};
use crate::clock::now_rfc3339;
use crate::error::ApiError;
use crate::patch::{self, apply};
use crate::resources::{ResourceId, ResourceInfo};

/// A managedFields entry to record with a write.
#[derive(Debug, Clone)]
struct Managed {
    manager: String,
    subresource: Option<&'static str>,
    fields: Value,
}

impl Store {
    /// POST: creates an object; `Part::Main` drops `.status` for resources with a status subresource.
    pub(crate) fn create(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        body: Value,
        part: Part,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let out = self.commit_create(res, ns, body, part, None, opts.dry_run);
        self.notify();
        out
    }

    /// PUT: replaces an object, with optimistic concurrency on `metadata.resourceVersion` if given.
    pub(crate) fn replace(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        name: &str,
        body: Value,
        part: Part,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        check_shape(&body)?;
        let info = *self.resources.get(res);
        if let Some(body_name) = meta_str(&body, "name")
            && body_name != name
        {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        check_type(&info, &body)?;
        let out = {
            let mut inner = self.lock();
            let key = self.key(res, ns, name);
            let old = stored(&inner, &key, &info, name)?;
            check_rv_precondition(&info, name, &old, &body)?;
            self.commit_update(&mut inner, key, &old, body, part, None, opts.dry_run)
        };
        self.notify();
        out
    }

    /// PATCH with a merge, strategic merge or JSON patch.
    pub(crate) fn patch(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        name: &str,
        part: Part,
        apply_patch: impl FnOnce(&mut Value) -> Result<(), ApiError>,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let info = *self.resources.get(res);
        let out = {
            let mut inner = self.lock();
            let key = self.key(res, ns, name);
            let old = stored(&inner, &key, &info, name)?;
            let mut candidate = old.clone();
            apply_patch(&mut candidate)?;
            if !candidate.is_object() {
                return Err(ApiError::invalid(
                    info.kind,
                    name,
                    "the patched object is not an object",
                ));
            }
            check_rv_precondition(&info, name, &old, &candidate)?;
            self.commit_update(&mut inner, key, &old, candidate, part, None, opts.dry_run)
        };
        self.notify();
        out
    }

    /// Server-side apply (see [`crate::patch::apply`]); creates the object if it does not exist.
    /// Returns the object and whether it was created.
    pub(crate) fn apply(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        name: &str,
        part: Part,
        applied: Value,
        opts: &WriteOpts,
    ) -> Result<(Value, bool), ApiError> {
        let manager = opts
            .field_manager
            .as_deref()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "PatchOptions",
                    "",
                    "fieldManager: Required value: is required for apply patch",
                )
            })?;
        check_shape(&applied)?;
        let info = *self.resources.get(res);
        if applied.get("apiVersion").is_none() || applied.get("kind").is_none() {
            return Err(ApiError::BadRequest(
                "apiVersion and kind must be set in an applied configuration".into(),
            ));
        }
        check_type(&info, &applied)?;
        if let Some(body_name) = meta_str(&applied, "name")
            && body_name != name
        {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let mut applied = applied;
        meta_mut(&mut applied).remove("managedFields");
        let subresource = (part == Part::Status).then_some("status");
        let managed = Managed {
            manager: manager.to_string(),
            subresource,
            fields: apply::field_set(&owned_part(&info, &applied, part)),
        };
        let out = {
            let mut inner = self.lock();
            let key = self.key(res, ns, name);
            match inner.objects.get(&key).cloned() {
                None if part == Part::Status => Err(ApiError::not_found(info.plural, name)),
                None => {
                    let mut body = applied;
                    meta_mut(&mut body).insert("name".into(), json!(name));
                    drop(inner);
                    self.commit_create(res, ns, body, part, Some(managed), opts.dry_run)
                        .map(|v| (v, true))
                }
                Some(old) => {
                    let mut candidate = old.clone();
                    let entries = managed_entries(&old);
                    let previous = entries
                        .iter()
                        .find(|e| is_entry(e, manager, "Apply", subresource))
                        .and_then(|e| e.get("fieldsV1").cloned())
                        .unwrap_or_else(|| json!({}));
                    let others: Vec<&Value> = entries
                        .iter()
                        .filter(|e| !is_entry(e, manager, "Apply", subresource))
                        .filter(|e| e.get("operation").and_then(Value::as_str) == Some("Apply"))
                        .filter_map(|e| e.get("fieldsV1"))
                        .collect();
                    for path in apply::removed_paths(&previous, &managed.fields) {
                        if !others.iter().any(|set| apply::owns(set, &path)) {
                            apply::remove_path(&mut candidate, &path);
                        }
                    }
                    patch::merge(&mut candidate, &applied);
                    check_rv_precondition(&info, name, &old, &candidate)?;
                    self.commit_update(
                        &mut inner,
                        key,
                        &old,
                        candidate,
                        part,
                        Some(managed),
                        opts.dry_run,
                    )
                    .map(|v| (v, false))
                }
            }
        };
        self.notify();
        out
    }

    /// DELETE: removes the object, or marks it deleting (deletionTimestamp) while finalizers remain.
    /// Returns the object and whether it is gone.
    pub(crate) fn delete(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        name: &str,
        precondition_uid: Option<&str>,
        precondition_rv: Option<&str>,
        opts: &WriteOpts,
    ) -> Result<(Value, bool), ApiError> {
        let info = *self.resources.get(res);
        let out = {
            let mut inner = self.lock();
            let key = self.key(res, ns, name);
            let old = stored(&inner, &key, &info, name)?;
            let precondition_failed = |what: &str, want: &str, have: Option<&str>| {
                ApiError::Conflict {
                    resource: info.plural.to_string(),
                    name: name.to_string(),
                    message: format!(
                        "Precondition failed: {what} in precondition: {want}, {what} in object meta: {}",
                        have.unwrap_or_default()
                    ),
                }
            };
            if let Some(uid) = precondition_uid
                && meta_str(&old, "uid") != Some(uid)
            {
                return Err(precondition_failed("UID", uid, meta_str(&old, "uid")));
            }
            if let Some(rv) = precondition_rv
                && meta_str(&old, "resourceVersion") != Some(rv)
            {
                return Err(precondition_failed(
                    "ResourceVersion",
                    rv,
                    meta_str(&old, "resourceVersion"),
                ));
            }
            if !finalizers(&old).is_empty() {
                if is_deleting(&old) {
                    return Ok((old, false));
                }
                let mut new = old.clone();
                let m = meta_mut(&mut new);
                m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                let generation = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
                m.insert("generation".into(), json!(generation + 1));
                if opts.dry_run {
                    return Ok((new, false));
                }
                Ok((
                    self.record(&mut inner, key, Some(&old), new, ChangeKind::Modified),
                    false,
                ))
            } else if opts.dry_run {
                Ok((old, true))
            } else {
                inner.objects.remove(&key);
                let gone = self.record(
                    &mut inner,
                    key,
                    Some(&old),
                    old.clone(),
                    ChangeKind::Deleted,
                );
                Ok((gone, true))
            }
        };
        self.notify();
        out
    }

    /// Test control: create or overwrite an object, status included, without concurrency checks.
    pub(crate) fn upsert(&self, obj: Value) -> Result<Value, ApiError> {
        check_shape(&obj)?;
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let res = self.resources.by_kind(api_version, kind).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "no resource registered for apiVersion {api_version:?} kind {kind:?}"
            ))
        })?;
        let info = *self.resources.get(res);
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        let ns = info
            .namespaced
            .then(|| meta_str(&obj, "namespace").unwrap_or("default").to_string());
        let existing = self.get(res, ns.as_deref(), &name).ok();
        match existing {
            Some(_) => self.update_with(res, ns.as_deref(), &name, |o| *o = obj),
            None => {
                let out = self.commit_create(res, ns.as_deref(), obj, Part::All, None, false);
                self.notify();
                out
            }
        }
    }

    /// Test control: read-modify-write without concurrency checks (status included).
    pub(crate) fn update_with(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        let info = *self.resources.get(res);
        let out = {
            let mut inner = self.lock();
            let key = self.key(res, ns, name);
            let old = stored(&inner, &key, &info, name)?;
            let mut candidate = old.clone();
            f(&mut candidate);
            check_shape(&candidate)?;
            self.commit_update(&mut inner, key, &old, candidate, Part::All, None, false)
        };
        self.notify();
        out
    }

    /// Creates after validation; `managed` records a server-side-apply manager.
    fn commit_create(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        body: Value,
        part: Part,
        managed: Option<Managed>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        check_shape(&body)?;
        let info = *self.resources.get(res);
        check_type(&info, &body)?;
        check_limits(&info, &body)?;
        let mut obj = body;
        set_field(&mut obj, "apiVersion", Some(json!(info.api_version())));
        set_field(&mut obj, "kind", Some(json!(info.kind)));
        if part == Part::Main && info.status_subresource {
            set_field(&mut obj, "status", None);
        }
        let mut inner = self.lock();
        inner.serial += 1;
        let serial = inner.serial;
        let m = meta_mut(&mut obj);
        let name = match m.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match m.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => format!("{prefix}{}", name_suffix(serial)),
                _ => {
                    return Err(ApiError::invalid(
                        info.kind,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            },
        };
        if m.get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
            && part != Part::All
        {
            return Err(ApiError::BadRequest(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        m.insert("name".into(), json!(name));
        if info.namespaced {
            let path_ns = ns.unwrap_or("default");
            if let Some(body_ns) = m.get("namespace").and_then(Value::as_str)
                && body_ns != path_ns
            {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                        .into(),
                ));
            }
            m.insert("namespace".into(), json!(path_ns));
        } else {
            m.remove("namespace");
        }
        for field in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
            m.remove(field);
        }
        m.insert("uid".into(), json!(uid(serial)));
        m.insert("creationTimestamp".into(), json!(now_rfc3339()));
        m.insert("generation".into(), json!(1));
        if let Some(managed) = managed {
            m.insert(
                "managedFields".into(),
                json!([managed_entry(&managed, "Apply", &info.api_version())]),
            );
        }
        let key = self.key(res, ns, &name);
        if inner.objects.contains_key(&key) {
            return Err(ApiError::AlreadyExists {
                resource: info.plural.to_string(),
                name,
            });
        }
        if dry_run {
            return Ok(obj);
        }
        Ok(self.record(&mut inner, key, None, obj, ChangeKind::Added))
    }

    /// Applies the API server's update rules to `candidate` and stores it (see the module docs).
    #[allow(clippy::too_many_arguments)]
    fn commit_update(
        &self,
        inner: &mut Inner,
        key: Key,
        old: &Value,
        candidate: Value,
        part: Part,
        managed: Option<Managed>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let info = *self.resources.get(key.res);
        let mut new = match part {
            Part::Status => {
                let mut n = old.clone();
                set_field(&mut n, "status", candidate.get("status").cloned());
                n
            }
            Part::Main if info.status_subresource => {
                let mut n = candidate;
                set_field(&mut n, "status", old.get("status").cloned());
                n
            }
            Part::Main | Part::All => candidate,
        };
        set_field(&mut new, "apiVersion", old.get("apiVersion").cloned());
        set_field(&mut new, "kind", old.get("kind").cloned());
        {
            let old_meta = meta(old).cloned().unwrap_or_default();
            let m = meta_mut(&mut new);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ] {
                match old_meta.get(field) {
                    Some(v) => m.insert(field.to_string(), v.clone()),
                    None => m.remove(field),
                };
            }
        }
        if is_deleting(old) {
            let before = finalizers(old);
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    info.kind,
                    &key.name,
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        if let Some(managed) = &managed {
            let unchanged_entry = managed_entries(old).iter().any(|e| {
                is_entry(e, &managed.manager, "Apply", managed.subresource)
                    && e.get("fieldsV1") == Some(&managed.fields)
            });
            let mut without_managed = new.clone();
            meta_mut(&mut without_managed).remove("managedFields");
            let mut old_without = old.clone();
            meta_mut(&mut old_without).remove("managedFields");
            if unchanged_entry && without_managed == old_without {
                return Ok(old.clone());
            }
            let mut entries: Vec<Value> = managed_entries(old)
                .into_iter()
                .filter(|e| !is_entry(e, &managed.manager, "Apply", managed.subresource))
                .collect();
            entries.push(managed_entry(managed, "Apply", &info.api_version()));
            meta_mut(&mut new).insert("managedFields".into(), Value::Array(entries));
        } else if new == *old {
            return Ok(old.clone());
        }
        if spec_part(&new) != spec_part(old) {
            let m = meta_mut(&mut new);
            let generation = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
            m.insert("generation".into(), json!(generation + 1));
        }
        if dry_run {
            return Ok(new);
        }
        if is_deleting(&new) && finalizers(&new).is_empty() {
            inner.objects.remove(&key);
            return Ok(self.record(inner, key, Some(old), new, ChangeKind::Deleted));
        }
        Ok(self.record(inner, key, Some(old), new, ChangeKind::Modified))
    }
}

/// The part of an applied object a manager owns: `.status` on `/status`, everything but `.status` on the
/// main resource of a resource with a status subresource; identity metadata is never owned.
fn owned_part(info: &ResourceInfo, applied: &Value, part: Part) -> Value {
    let mut owned = match part {
        Part::Status => json!({"status": applied.get("status").cloned().unwrap_or(Value::Null)}),
        _ => applied.clone(),
    };
    if let Value::Object(m) = &mut owned {
        m.remove("apiVersion");
        m.remove("kind");
        if part == Part::Main && info.status_subresource {
            m.remove("status");
        }
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "labels" | "annotations" | "finalizers" | "ownerReferences"
                )
            });
            if meta.is_empty() {
                m.remove("metadata");
            }
        }
    }
    owned
}

fn check_type(info: &ResourceInfo, body: &Value) -> Result<(), ApiError> {
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && kind != info.kind
    {
        return Err(ApiError::BadRequest(format!(
            "kind {kind:?} does not match the resource {} (kind {:?})",
            info.plural, info.kind
        )));
    }
    if let Some(api_version) = body.get("apiVersion").and_then(Value::as_str)
        && api_version != info.api_version()
    {
        return Err(ApiError::BadRequest(format!(
            "apiVersion {api_version:?} does not match the resource {} ({:?})",
            info.plural,
            info.api_version()
        )));
    }
    Ok(())
}

/// The object stored at `key` (a copy, to change and commit), or 404 naming it.
fn stored(inner: &Inner, key: &Key, info: &ResourceInfo, name: &str) -> Result<Value, ApiError> {
    inner
        .objects
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(info.plural, name))
}

/// The length limits of the API server's validation that a client can run into: an
/// `events.k8s.io/v1` Event's `note` (1024 bytes). 422 beyond them, as the real server answers.
fn check_limits(info: &ResourceInfo, body: &Value) -> Result<(), ApiError> {
    const EVENT_NOTE_MAX: usize = 1024;
    if info.group == "events.k8s.io"
        && let Some(note) = body.get("note").and_then(Value::as_str)
        && note.len() > EVENT_NOTE_MAX
    {
        return Err(ApiError::invalid(
            info.kind,
            meta_str(body, "name").unwrap_or_default(),
            format!("note: Too long: may not be more than {EVENT_NOTE_MAX} bytes"),
        ));
    }
    Ok(())
}

/// 409 when the body names a resourceVersion other than the stored one (optimistic concurrency).
fn check_rv_precondition(
    info: &ResourceInfo,
    name: &str,
    old: &Value,
    body: &Value,
) -> Result<(), ApiError> {
    match meta_str(body, "resourceVersion") {
        Some(rv) if !rv.is_empty() && Some(rv) != meta_str(old, "resourceVersion") => {
            Err(ApiError::conflict(info.plural, name))
        }
        _ => Ok(()),
    }
}

fn managed_entries(obj: &Value) -> Vec<Value> {
    meta(obj)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn is_entry(entry: &Value, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some(operation)
        && entry.get("subresource").and_then(Value::as_str) == subresource
}

fn managed_entry(managed: &Managed, operation: &str, api_version: &str) -> Value {
    let mut entry = json!({
        "manager": managed.manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": managed.fields,
    });
    if let Some(sub) = managed.subresource {
        entry["subresource"] = json!(sub);
    }
    entry
}

/// A stable, UUID-shaped uid.
fn uid(serial: u64) -> String {
    format!("00000000-0000-4000-8000-{serial:012x}")
}

/// A 5-character generateName suffix from the API server's alphabet (no vowels, no look-alikes).
fn name_suffix(serial: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = serial;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
            n /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}
