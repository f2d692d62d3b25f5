//! Kubernetes label selector matching.
//!
//! Written here because neither k8s-openapi nor kube-core evaluates a `LabelSelector`
//! against a label map; the semantics are those of `metav1.LabelSelectorAsSelector`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector`: every `matchLabels` pair and every
/// `matchExpressions` requirement must hold. An empty selector matches everything.
/// An unknown operator matches nothing, so a typo never widens a selection.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|req| {
        let value = labels.get(&req.key);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(matches(&LabelSelector::default(), &labels(&[])));
        assert!(matches(&LabelSelector::default(), &labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("rack", "r1"), ("zone", "a")])),
            ..Default::default()
        };
        assert!(matches(
            &sel,
            &labels(&[("rack", "r1"), ("zone", "a"), ("x", "y")])
        ));
        assert!(!matches(&sel, &labels(&[("rack", "r1")])));
        assert!(!matches(&sel, &labels(&[("rack", "r2"), ("zone", "a")])));
    }

    #[test]
    fn expressions() {
        let l = labels(&[("rack", "r1")]);
        assert!(matches(&expr("rack", "In", &["r1", "r2"]), &l));
        assert!(!matches(&expr("rack", "In", &["r3"]), &l));
        assert!(!matches(&expr("rack", "NotIn", &["r1"]), &l));
        assert!(matches(&expr("zone", "NotIn", &["a"]), &l));
        assert!(matches(&expr("rack", "Exists", &[]), &l));
        assert!(!matches(&expr("zone", "Exists", &[]), &l));
        assert!(matches(&expr("zone", "DoesNotExist", &[]), &l));
        assert!(!matches(&expr("rack", "Bogus", &["r1"]), &l));
    }
}
