//! Finding the fields of an object that Porter does not know, so they are reported rather than dropped.
//!
//! serde ignores unknown fields, and the CRD schema prunes them on write, but objects written under OpenELB's
//! CRD (or by a newer OpenELB) can still carry fields Porter has no type for. A typo (`spec.conf.peerAS`) or a
//! field Porter never heard of would then be silently ignored. Comparing the raw object with what survives a
//! round trip through Porter's types names each of them.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Top-level keys that are not the user's configuration (or that Porter does not interpret field by field).
const IGNORED_TOP_LEVEL: [&str; 4] = ["apiVersion", "kind", "metadata", "status"];

/// Deserializes `raw` into `K` and lists the JSON paths (`spec.conf.fooBar`, `spec.afiSafis[0].extra`) present
/// in `raw` but lost in the round trip `raw -> K -> JSON`, i.e. fields `K` does not know. `apiVersion`, `kind`,
/// `metadata` and `status` are not inspected. A `null` value counts as absent (Kubernetes treats it so).
/// The paths come in a stable order (sorted keys, then array index).
pub fn unknown_fields<K: DeserializeOwned + Serialize>(
    raw: &Value,
) -> Result<(K, Vec<String>), serde_json::Error> {
    let object: K = serde_json::from_value(raw.clone())?;
    let back = serde_json::to_value(&object)?;
    let mut unknown = Vec::new();
    match raw {
        Value::Object(fields) => {
            for (key, value) in fields {
                if !IGNORED_TOP_LEVEL.contains(&key.as_str()) {
                    diff(key, value, back.get(key), &mut unknown);
                }
            }
        }
        other => diff("", other, Some(&back), &mut unknown),
    }
    Ok((object, unknown))
}

/// The warning shown for one path returned by [`unknown_fields`].
pub fn unknown_field_message(path: &str) -> String {
    format!("{path} is not known to Porter and was ignored")
}

/// Records `path` if `raw` (not null) has no counterpart in `back`, else recurses into objects and arrays.
fn diff(path: &str, raw: &Value, back: Option<&Value>, unknown: &mut Vec<String>) {
    if raw.is_null() {
        return;
    }
    match (raw, back) {
        (_, None | Some(Value::Null)) => unknown.push(path.to_owned()),
        (Value::Object(raw), Some(Value::Object(back))) => {
            for (key, value) in raw {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(&child, value, back.get(key), unknown);
            }
        }
        (Value::Array(raw), Some(Value::Array(back))) => {
            for (i, value) in raw.iter().enumerate() {
                diff(&format!("{path}[{i}]"), value, back.get(i), unknown);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Inner {
        a: Option<u32>,
    }

    #[derive(Serialize, Deserialize)]
    struct Outer {
        spec: Inner,
        list: Option<Vec<Inner>>,
    }

    #[test]
    fn reports_nested_and_indexed_paths_and_skips_meta_and_nulls() {
        let raw = json!({
            "apiVersion": "x/v1", "kind": "K", "metadata": {"zzz": 1}, "status": {"yyy": 2},
            "spec": {"a": 1, "b": 2, "c": null},
            "list": [{"a": 1}, {"a": 2, "extra": {"deep": true}}],
            "top": "level"
        });
        let (_, unknown) = unknown_fields::<Outer>(&raw).unwrap();
        assert_eq!(unknown, ["list[1].extra", "spec.b", "top"]);
    }

    #[test]
    fn type_errors_are_errors() {
        assert!(unknown_fields::<Outer>(&json!({"spec": {"a": "x"}})).is_err());
    }

    #[test]
    fn message_reads_as_a_warning() {
        assert_eq!(
            unknown_field_message("spec.conf.fooBar"),
            "spec.conf.fooBar is not known to Porter and was ignored"
        );
    }
}
