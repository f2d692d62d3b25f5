//! `labelSelector` and `fieldSelector` query parameters, parsed once and matched against objects.
//!
//! Label selectors follow the Kubernetes grammar: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
//! `!k`, `k>n`, `k<n`, comma-separated (commas inside parentheses belong to the set). Field selectors accept
//! `path=v`, `path==v` and `path!=v` for any dotted path into the object; the real API server only allows a
//! few fields per resource, this double is lenient there.

use std::collections::BTreeSet;

use serde_json::Value;

/// A selector string that could not be parsed; answered with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub(crate) struct SelectorError(String);

#[derive(Debug, Clone, PartialEq)]
enum LabelOp {
    Eq(String),
    NotEq(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<(String, LabelOp)>);

impl LabelSelector {
    pub(crate) fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        for term in split_top_level(input)? {
            let term = term.trim();
            if term.is_empty() {
                if input.trim().is_empty() {
                    continue;
                }
                return Err(SelectorError(format!("empty requirement in {input:?}")));
            }
            reqs.push(parse_requirement(term)?);
        }
        Ok(Self(reqs))
    }

    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        self.0.iter().all(|(key, op)| {
            let value = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
            match (op, value) {
                (LabelOp::Exists, v) => v.is_some(),
                (LabelOp::NotExists, v) => v.is_none(),
                (LabelOp::Eq(want), Some(v)) => v == want,
                (LabelOp::NotEq(want), v) => v != Some(want.as_str()),
                (LabelOp::In(set), Some(v)) => set.contains(v),
                (LabelOp::NotIn(set), v) => v.is_none_or(|v| !set.contains(v)),
                (LabelOp::Gt(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v > *n),
                (LabelOp::Lt(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v < *n),
                (LabelOp::Eq(_) | LabelOp::In(_) | LabelOp::Gt(_) | LabelOp::Lt(_), None) => false,
            }
        })
    }
}

/// Splits on commas that are not inside `( )`.
fn split_top_level(input: &str) -> Result<Vec<&str>, SelectorError> {
    let mut out = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| SelectorError(format!("unbalanced ')' in {input:?}")))?;
            }
            ',' if depth == 0 => {
                out.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorError(format!("unbalanced '(' in {input:?}")));
    }
    out.push(&input[start..]);
    Ok(out)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')
}

fn parse_requirement(term: &str) -> Result<(String, LabelOp), SelectorError> {
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        if key.is_empty() || !key.chars().all(is_key_char) {
            return Err(SelectorError(term.to_string()));
        }
        return Ok((key.to_string(), LabelOp::NotExists));
    }
    let key_end = term.find(|c: char| !is_key_char(c)).unwrap_or(term.len());
    let key = &term[..key_end];
    if key.is_empty() {
        return Err(SelectorError(term.to_string()));
    }
    let rest = term[key_end..].trim_start();
    let op = if rest.is_empty() {
        LabelOp::Exists
    } else if let Some(v) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
        LabelOp::Eq(value(v, term)?)
    } else if let Some(v) = rest.strip_prefix("!=") {
        LabelOp::NotEq(value(v, term)?)
    } else if let Some(v) = rest.strip_prefix('>') {
        LabelOp::Gt(number(v, term)?)
    } else if let Some(v) = rest.strip_prefix('<') {
        LabelOp::Lt(number(v, term)?)
    } else if let Some(v) = rest.strip_prefix("notin") {
        LabelOp::NotIn(set(v, term)?)
    } else if let Some(v) = rest.strip_prefix("in") {
        LabelOp::In(set(v, term)?)
    } else {
        return Err(SelectorError(term.to_string()));
    };
    Ok((key.to_string(), op))
}

fn value(v: &str, term: &str) -> Result<String, SelectorError> {
    let v = v.trim();
    if v.chars().all(is_key_char) {
        Ok(v.to_string())
    } else {
        Err(SelectorError(term.to_string()))
    }
}

fn number(v: &str, term: &str) -> Result<i64, SelectorError> {
    v.trim()
        .parse()
        .map_err(|_| SelectorError(term.to_string()))
}

fn set(v: &str, term: &str) -> Result<BTreeSet<String>, SelectorError> {
    let inner = v
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| SelectorError(term.to_string()))?;
    inner
        .split(',')
        .map(|item| value(item, term))
        .collect::<Result<BTreeSet<_>, _>>()
}

/// A parsed field selector: `path=value` / `path!=value` terms, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector(Vec<(Vec<String>, bool, String)>);

impl FieldSelector {
    pub(crate) fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for term in input.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, true, v)
            } else {
                return Err(SelectorError(format!("invalid field selector: {term:?}")));
            };
            let path = path.trim();
            if path.is_empty() {
                return Err(SelectorError(format!("invalid field selector: {term:?}")));
            }
            let segments = path.split('.').map(str::to_string).collect();
            terms.push((segments, equal, value.trim().to_string()));
        }
        Ok(Self(terms))
    }

    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, equal, want)| {
            let found = path
                .iter()
                .try_fold(obj, |v, seg| v.get(seg))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (found == *want) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_forms() {
        let o = obj(json!({"app": "web", "tier": "front", "n": "5"}));
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web, db),tier notin (back)", true),
            ("app notin (web)", false),
            ("!missing", true),
            ("!app", false),
            ("n>4,n<6", true),
            ("missing", false),
        ] {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&o), want, "{sel}");
        }
    }

    #[test]
    fn label_errors() {
        for sel in ["app in web", "app in (a", "=x", "a,,b", "a ~ b"] {
            assert!(LabelSelector::parse(sel).is_err(), "{sel}");
        }
    }

    #[test]
    fn field_forms() {
        let o = obj(json!({}));
        for (sel, want) in [
            ("metadata.name=a", true),
            ("metadata.name==b", false),
            ("metadata.namespace=ns,metadata.name!=b", true),
            ("spec.nodeName=", true),
        ] {
            assert_eq!(
                FieldSelector::parse(sel).expect(sel).matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
