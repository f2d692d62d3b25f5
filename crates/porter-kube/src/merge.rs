//! JSON merge patches (RFC 7386) computed from what an object holds to what it should hold.
//!
//! A merge patch merges maps key by key, so a key that must disappear (an address released
//! from an Eip's `status.used`) has to be sent as `null`. [`diff`] produces exactly the keys
//! that change, which also keeps writes small and lets "nothing changed" mean "no write".

use serde_json::{Map, Value};

/// The merge patch turning `current` into `desired`, or `None` when they are equal.
/// `null`s in `desired` are treated as absent (a merge patch cannot set a value to null).
pub fn diff(current: &Value, desired: &Value) -> Option<Value> {
    match (current, desired) {
        (Value::Object(cur), Value::Object(want)) => {
            let mut patch = Map::new();
            for (key, want_v) in want {
                if want_v.is_null() {
                    if cur.get(key).is_some_and(|v| !v.is_null()) {
                        patch.insert(key.clone(), Value::Null);
                    }
                    continue;
                }
                match cur.get(key) {
                    Some(cur_v) => {
                        if let Some(p) = diff(cur_v, want_v) {
                            patch.insert(key.clone(), p);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), strip_nulls(want_v));
                    }
                }
            }
            for (key, cur_v) in cur {
                if !want.contains_key(key) && !cur_v.is_null() {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (cur, want) => {
            let want = strip_nulls(want);
            (*cur != want).then_some(want)
        }
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Applies a merge patch (RFC 7386), for tests and for predicting what a write yields.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, p) in patch {
            if p.is_null() {
                map.remove(key);
            } else {
                apply(map.entry(key.clone()).or_insert(Value::Null), p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_values_give_no_patch() {
        let v = json!({"a": 1, "b": {"c": [1, 2]}});
        assert_eq!(diff(&v, &v), None);
        assert_eq!(diff(&json!({"a": null}), &json!({})), None);
    }

    #[test]
    fn removed_keys_become_null_and_lists_are_replaced() {
        let cur =
            json!({"used": {"10.0.0.1": "a/x", "10.0.0.2": "a/y"}, "usage": 2, "list": [1, 2]});
        let want = json!({"used": {"10.0.0.1": "a/x"}, "usage": 1, "list": [1]});
        let patch = diff(&cur, &want).unwrap();
        assert_eq!(
            patch,
            json!({"used": {"10.0.0.2": null}, "usage": 1, "list": [1]})
        );
        let mut applied = cur.clone();
        apply(&mut applied, &patch);
        assert_eq!(applied, want);
    }

    #[test]
    fn new_subtrees_are_sent_whole() {
        let patch = diff(&json!({}), &json!({"a": {"b": 1, "c": null}})).unwrap();
        assert_eq!(patch, json!({"a": {"b": 1}}));
    }
}
