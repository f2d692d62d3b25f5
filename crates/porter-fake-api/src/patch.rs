//! The four PATCH content types, applied to a schema-less object.
//!
//! - `application/merge-patch+json`: RFC 7386, exactly.
//! - `application/json-patch+json`: RFC 6902 (`add`, `remove`, `replace`, `move`, `copy`, `test`). Like the
//!   API server's library, `test` of a missing path against `null` succeeds (kube's `finalizer()` relies on it).
//! - `application/strategic-merge-patch+json`: a merge patch, except for a small table of list fields that
//!   the real server merges instead of replacing ([`MERGE_LISTS`]: finalizers as a set; conditions, addresses,
//!   ownerReferences and ports by key) and the `$patch: replace|delete` and `$deleteFromPrimitiveList/<field>`
//!   directives. Other directives (`$setElementOrder`, `$retainKeys`) are dropped; every other list is replaced.
//! - `application/apply-patch+yaml` (server-side apply): see [`apply`].

use serde_json::{Map, Value};

/// A patch body that could not be applied; answered with 422 (or 400 for a malformed body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PatchError {
    /// The body does not have the shape of its content type.
    #[error("malformed patch: {0}")]
    Malformed(String),
    /// A JSON patch operation failed.
    #[error("json patch operation {index} ({op}) failed: {message}")]
    Operation {
        index: usize,
        op: String,
        message: String,
    },
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// How strategic merge treats one list field instead of replacing it.
#[derive(Debug, Clone, Copy)]
enum ListStrategy {
    /// A list of scalars merged as a set (union, then `$deleteFromPrimitiveList`).
    Set,
    /// A list of objects merged by this key.
    MergeKey(&'static str),
}

/// The list fields strategic merge patch merges; every other list is replaced, as in a merge patch.
const MERGE_LISTS: &[(&[&str], ListStrategy)] = &[
    (&["metadata", "finalizers"], ListStrategy::Set),
    (
        &["metadata", "ownerReferences"],
        ListStrategy::MergeKey("uid"),
    ),
    (&["status", "conditions"], ListStrategy::MergeKey("type")),
    (&["status", "addresses"], ListStrategy::MergeKey("type")),
    (&["spec", "ports"], ListStrategy::MergeKey("port")),
];

fn list_strategy(path: &[String]) -> Option<ListStrategy> {
    MERGE_LISTS
        .iter()
        .find(|(p, _)| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a == b))
        .map(|(_, s)| *s)
}

/// Strategic merge patch, simplified as described in the module docs.
pub(crate) fn strategic(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    strategic_at(target, patch, &mut Vec::new())
}

fn strategic_at(
    target: &mut Value,
    patch: &Value,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            *target = Value::Object(strip_directives(replaced));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) if other != "merge" => {
            return Err(PatchError::Malformed(format!(
                "unknown $patch directive {other:?}"
            )));
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return Ok(());
    };
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = target.get_mut(field) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        path.push(key.clone());
        let strategy = list_strategy(path);
        let slot = target.entry(key.clone()).or_insert(Value::Null);
        match (strategy, value) {
            (Some(ListStrategy::Set), Value::Array(items)) => {
                let mut list = slot.as_array().cloned().unwrap_or_default();
                for item in items {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
                *slot = Value::Array(list);
            }
            (Some(ListStrategy::MergeKey(merge_key)), Value::Array(items)) => {
                let mut list = slot.as_array().cloned().unwrap_or_default();
                for item in items {
                    let id = item.get(merge_key);
                    let pos =
                        id.and_then(|id| list.iter().position(|e| e.get(merge_key) == Some(id)));
                    let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(pos), true) => {
                            list.remove(pos);
                        }
                        (None, true) => {}
                        (Some(pos), false) => strategic_at(&mut list[pos], item, path)?,
                        (None, false) => {
                            let mut fresh = Value::Null;
                            strategic_at(&mut fresh, item, path)?;
                            list.push(fresh);
                        }
                    }
                }
                *slot = Value::Array(list);
            }
            _ => strategic_at(slot, value, path)?,
        }
        if slot.is_null() {
            target.remove(key);
        }
        path.pop();
    }
    Ok(())
}

fn strip_directives(mut map: Map<String, Value>) -> Map<String, Value> {
    map.retain(|k, _| !k.starts_with('$'));
    map
}

/// RFC 6902 JSON patch.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops.as_array().ok_or_else(|| {
        PatchError::Malformed("a JSON patch must be an array of operations".into())
    })?;
    for (index, op) in ops.iter().enumerate() {
        let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let fail = |message: String| PatchError::Operation {
            index,
            op: name.to_string(),
            message,
        };
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("missing \"path\"".into()))?;
        let path = parse_pointer(path).map_err(fail)?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| fail("missing \"value\"".into()))
        };
        let from = || -> Result<Vec<String>, PatchError> {
            let from = op
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| fail("missing \"from\"".into()))?;
            parse_pointer(from).map_err(fail)
        };
        match name {
            "add" => add(target, &path, value()?).map_err(fail)?,
            "remove" => {
                remove(target, &path).map_err(fail)?;
            }
            "replace" => {
                remove(target, &path).map_err(fail)?;
                add(target, &path, value()?).map_err(fail)?;
            }
            "move" => {
                let moved = remove(target, &from()?).map_err(fail)?;
                add(target, &path, moved).map_err(fail)?;
            }
            "copy" => {
                let copied = get(target, &from()?)
                    .cloned()
                    .ok_or_else(|| fail("\"from\" does not exist".into()))?;
                add(target, &path, copied).map_err(fail)?;
            }
            "test" => {
                let want = value()?;
                let found = get(target, &path);
                let ok = match found {
                    Some(found) => *found == want,
                    None => want.is_null(),
                };
                if !ok {
                    return Err(fail(format!(
                        "testing value {} failed",
                        pointer_string(&path)
                    )));
                }
            }
            other => return Err(fail(format!("unknown operation {other:?}"))),
        }
    }
    Ok(())
}

/// Parses an RFC 6901 JSON pointer into unescaped segments.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {pointer:?}"))?;
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn pointer_string(path: &[String]) -> String {
    path.iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn array_index(list: &[Value], seg: &str, allow_end: bool) -> Result<usize, String> {
    if allow_end && seg == "-" {
        return Ok(list.len());
    }
    let idx: usize = seg
        .parse()
        .map_err(|_| format!("invalid array index {seg:?}"))?;
    let max = if allow_end {
        list.len()
    } else {
        list.len().saturating_sub(1)
    };
    if idx > max || (!allow_end && list.is_empty()) {
        return Err(format!("array index {idx} out of bounds"));
    }
    Ok(idx)
}

fn get<'a>(target: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(target, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(l) => seg.parse::<usize>().ok().and_then(|i| l.get(i)),
        _ => None,
    })
}

fn parent_mut<'a>(target: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = target;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(seg),
            Value::Array(l) => seg.parse::<usize>().ok().and_then(|i| l.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("path {} does not exist", pointer_string(path)))?;
    }
    Ok(cur)
}

fn add(target: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *target = value;
        return Ok(());
    };
    match parent_mut(target, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(l) => {
            let idx = array_index(l, last, true)?;
            l.insert(idx, value);
            Ok(())
        }
        _ => Err(format!(
            "cannot add below a scalar at {}",
            pointer_string(parent)
        )),
    }
}

fn remove(target: &mut Value, path: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = path.split_last() else {
        return Ok(std::mem::take(target));
    };
    let missing = || format!("path {} does not exist", pointer_string(path));
    match parent_mut(target, parent)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(l) => {
            let idx = array_index(l, last, false).map_err(|_| missing())?;
            Ok(l.remove(idx))
        }
        _ => Err(missing()),
    }
}

/// Server-side apply, approximated.
///
/// The applied configuration is merged into the live object like a merge patch, and the manager's field set
/// is recorded (as `fieldsV1`, lists treated as atomic). Fields this manager applied last time but omits now
/// are removed unless another apply manager's field set still holds them, which is what makes "apply the
/// whole status each time" release fields as it does on a real server. Not modelled: ownership conflicts
/// (a non-forced apply never gets 409), per-item ownership of `listType=map|set` lists, and ownership by
/// `Update` managers.
pub(crate) mod apply {
    use super::*;

    /// The field set of an applied object, in `fieldsV1` shape (`{"f:spec": {"f:x": {}}}`).
    pub(crate) fn field_set(applied: &Value) -> Value {
        match applied {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (format!("f:{k}"), field_set(v)))
                    .collect(),
            ),
            _ => Value::Object(Map::new()),
        }
    }

    /// Paths (top-most) present in `old` but not in `new`.
    pub(crate) fn removed_paths(old: &Value, new: &Value) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        walk_removed(old, new, &mut Vec::new(), &mut out);
        out
    }

    fn walk_removed(old: &Value, new: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let Some(old) = old.as_object() else { return };
        for (key, old_child) in old {
            path.push(key.clone());
            match new.get(key) {
                None => out.push(path.clone()),
                Some(new_child) => {
                    let new_is_leaf = new_child.as_object().is_none_or(Map::is_empty);
                    if !new_is_leaf {
                        walk_removed(old_child, new_child, path, out);
                    }
                }
            }
            path.pop();
        }
    }

    /// Whether a field set owns `path` (or an atomic parent of it, or something below it).
    pub(crate) fn owns(set: &Value, path: &[String]) -> bool {
        let mut cur = set;
        for seg in path {
            match cur.get(seg) {
                Some(next) if next.as_object().is_none_or(Map::is_empty) => return true,
                Some(next) => cur = next,
                None => return false,
            }
        }
        true
    }

    /// Removes an object path written in `f:` form; missing paths are fine.
    pub(crate) fn remove_path(target: &mut Value, path: &[String]) {
        let Some((last, parent)) = path.split_last() else {
            return;
        };
        let mut cur = target;
        for seg in parent {
            let key = seg.strip_prefix("f:").unwrap_or(seg);
            match cur.get_mut(key) {
                Some(next) => cur = next,
                None => return,
            }
        }
        if let Some(m) = cur.as_object_mut() {
            m.remove(last.strip_prefix("f:").unwrap_or(last));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_rfc7386_examples() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }

    #[test]
    fn strategic_merges_finalizers_and_conditions() {
        let mut t = json!({
            "metadata": {"finalizers": ["a"]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}], "other": [1]},
        });
        strategic(
            &mut t,
            &json!({
                "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "status": "True"}],
                    "other": [2],
                },
            }),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({
                "metadata": {"finalizers": ["b"]},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "status": "True"}],
                    "other": [2],
                },
            })
        );
        strategic(&mut t, &json!({"status": {"$patch": "replace", "x": 1}})).unwrap();
        assert_eq!(t["status"], json!({"x": 1}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"metadata": {"name": "x"}});
        json_patch(
            &mut t,
            &json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": ["f1"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "f2"},
                {"op": "test", "path": "/metadata/finalizers/0", "value": "f1"},
                {"op": "remove", "path": "/metadata/finalizers/0"},
                {"op": "replace", "path": "/metadata/name", "value": "y"},
                {"op": "copy", "from": "/metadata/name", "path": "/metadata/a~1b"},
                {"op": "move", "from": "/metadata/a~1b", "path": "/metadata/c"},
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"metadata": {"name": "y", "finalizers": ["f2"], "c": "y"}})
        );
        let err = json_patch(
            &mut t,
            &json!([{"op": "test", "path": "/metadata/name", "value": "z"}]),
        );
        assert!(matches!(err, Err(PatchError::Operation { index: 0, .. })));
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(
            json_patch(
                &mut t,
                &json!([{"op": "replace", "path": "/metadata/finalizers/5", "value": 1}])
            )
            .is_err()
        );
        assert!(json_patch(&mut t, &json!({"op": "add"})).is_err());
    }

    #[test]
    fn apply_field_sets() {
        let old = apply::field_set(&json!({"status": {"a": 1, "b": {"c": 2}}}));
        let new = apply::field_set(&json!({"status": {"a": 1}}));
        assert_eq!(
            apply::removed_paths(&old, &new),
            vec![vec!["f:status".to_string(), "f:b".to_string()]]
        );
        assert!(apply::owns(
            &old,
            &["f:status".into(), "f:b".into(), "f:c".into()]
        ));
        assert!(!apply::owns(&new, &["f:status".into(), "f:b".into()]));
        let mut obj = json!({"status": {"a": 1, "b": {"c": 2}}});
        apply::remove_path(&mut obj, &["f:status".into(), "f:b".into()]);
        assert_eq!(obj, json!({"status": {"a": 1}}));
    }
}
