//! The generated CRDs: valid structural schemas, OpenELB's names and columns, and a snapshot to show drift.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use porter_api::{crds, crds_yaml};
use serde::Deserialize;
use serde_json::Value;

/// Parses `crds_yaml()` back, document by document.
fn parsed() -> Vec<CustomResourceDefinition> {
    serde_yaml::Deserializer::from_str(&crds_yaml())
        .map(|doc| CustomResourceDefinition::deserialize(doc).expect("each document is a CRD"))
        .collect()
}

/// The v1alpha2 openAPIV3Schema of `crd` as JSON.
fn schema(crd: &CustomResourceDefinition) -> Value {
    let version = &crd.spec.versions[0];
    let s = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("has a schema");
    serde_json::to_value(s).expect("schema serialises")
}

/// Checks the structural-schema rules that schema generation can break, collecting violations with paths.
fn check_structural(path: &str, node: &Value, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    for banned in [
        "$ref",
        "$schema",
        "definitions",
        "$defs",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
    ] {
        if obj.contains_key(banned) {
            problems.push(format!("{path}: has {banned}"));
        }
    }
    let typed = obj.contains_key("type")
        || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !typed {
        problems.push(format!("{path}: has no type"));
    }
    if obj.contains_key("x-kubernetes-preserve-unknown-fields") {
        problems.push(format!(
            "{path}: preserves unknown fields (Porter's types know every field)"
        ));
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (k, v) in props {
            check_structural(&format!("{path}.{k}"), v, problems);
        }
    }
    if let Some(items) = obj.get("items") {
        check_structural(&format!("{path}[]"), items, problems);
    }
    if let Some(ap) = obj.get("additionalProperties") {
        if ap.is_object() {
            check_structural(&format!("{path}{{}}"), ap, problems);
        }
        if obj.contains_key("properties") {
            problems.push(format!("{path}: both properties and additionalProperties"));
        }
    }
}

#[test]
fn crds_yaml_parses_back_to_the_same_crds() {
    assert_eq!(parsed(), crds());
    assert!(crds_yaml().starts_with("---\n"));
    assert_eq!(crds_yaml().matches("\n---\n").count(), 2);
    assert_eq!(crds_yaml(), crds_yaml(), "output must be deterministic");
}

#[test]
fn schemas_are_structural() {
    for crd in parsed() {
        let mut problems = Vec::new();
        let s = schema(&crd);
        check_structural(&crd.spec.names.kind, &s, &mut problems);
        assert!(
            !s.to_string().contains("\"nullable\""),
            "OpenELB's schemas have no nullable"
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[test]
fn crds_match_openelb_names_scope_and_versions() {
    let crds = parsed();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "eips.network.kubesphere.io",
            "bgpconfs.network.kubesphere.io",
            "bgppeers.network.kubesphere.io"
        ]
    );
    for crd in &crds {
        assert_eq!(crd.spec.group, "network.kubesphere.io");
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["networking".to_string()][..])
        );
        assert!(
            crd.spec.names.short_names.is_none(),
            "OpenELB has no short names"
        );
        let versions: Vec<_> = crd
            .spec
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.served, v.storage))
            .collect();
        // v1alpha1 is listed (clusters from OpenELB v0.3 may have it in storedVersions) but never served.
        assert_eq!(
            versions,
            [("v1alpha2", true, true), ("v1alpha1", false, false)]
        );
        let v = &crd.spec.versions[0];
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "status subresource"
        );
        let legacy = serde_json::to_value(&crd.spec.versions[1].schema).expect("serialises");
        assert_eq!(
            legacy,
            serde_json::json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}})
        );
    }
}

/// Whether `json_path` (`.spec.conf.peerAs`) names a property of the schema (metadata is not in it).
fn schema_has(schema: &Value, json_path: &str) -> bool {
    let mut node = schema;
    for part in json_path.trim_start_matches('.').split('.') {
        match node.get("properties").and_then(|p| p.get(part)) {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

#[test]
fn printer_columns_match_openelb_and_point_at_real_fields() {
    let crds = parsed();
    let columns = |i: usize| -> Vec<(String, String)> {
        crds[i].spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.clone(), c.json_path.clone()))
            .collect()
    };
    let eip = columns(0);
    // OpenELB's three columns come first, unchanged.
    assert_eq!(
        eip[..3],
        [
            ("cidr".into(), ".spec.address".into()),
            ("usage".into(), ".status.usage".into()),
            ("total".into(), ".status.poolSize".into()),
        ]
    );
    let peer = columns(2);
    assert!(peer.contains(&("peerAddress".into(), ".spec.conf.neighborAddress".into())));
    assert!(peer.contains(&("peerAs".into(), ".spec.conf.peerAs".into())));
    for (i, crd) in crds.iter().enumerate() {
        let s = schema(crd);
        for (name, path) in columns(i) {
            assert!(
                path.starts_with(".metadata.") || schema_has(&s, &path),
                "{name}: {path} not in schema"
            );
        }
    }
}

#[test]
fn openelb_field_names_are_exact() {
    let crds = parsed();
    let eip = schema(&crds[0]);
    for p in [
        ".spec.address",
        ".spec.protocol",
        ".spec.interface",
        ".spec.disable",
        ".spec.usingKnownIPs",
        ".spec.priority",
        ".spec.namespaces",
        ".spec.namespaceSelector",
        ".status.occupied",
        ".status.usage",
        ".status.poolSize",
        ".status.used",
        ".status.firstIP",
        ".status.lastIP",
        ".status.ready",
        ".status.v4",
        ".status.conditions",
    ] {
        assert!(schema_has(&eip, p), "Eip {p}");
    }
    assert_eq!(
        eip["properties"]["spec"]["required"],
        serde_json::json!(["address"])
    );
    assert_eq!(
        eip["properties"]["spec"]["properties"]["protocol"]["enum"],
        serde_json::json!(["bgp", "layer2", "vip"])
    );
    let conf = schema(&crds[1]);
    for p in [
        ".spec.as",
        ".spec.asPerRack",
        ".spec.routerId",
        ".spec.listenPort",
        ".spec.listenAddresses",
        ".spec.families",
        ".spec.useMultiplePaths",
        ".spec.gracefulRestart.restartTime",
        ".spec.policy",
        ".status.nodesConfStatus",
    ] {
        assert!(schema_has(&conf, p), "BgpConf {p}");
    }
    let peer = schema(&crds[2]);
    for p in [
        ".spec.conf.authPassword",
        ".spec.conf.neighborAddress",
        ".spec.conf.peerAs",
        ".spec.conf.adminDown",
        ".spec.ebgpMultihop.multihopTtl",
        ".spec.timers.config.holdTime",
        ".spec.transport.passiveMode",
        ".spec.transport.remotePort",
        ".spec.gracefulRestart",
        ".spec.afiSafis",
        ".spec.nodeSelector.matchLabels",
        ".status.nodesPeerStatus",
    ] {
        assert!(schema_has(&peer, p), "BgpPeer {p}");
    }
    let hold = &peer["properties"]["spec"]["properties"]["timers"]["properties"]["config"]["properties"]
        ["holdTime"];
    assert_eq!(hold["x-kubernetes-int-or-string"], Value::Bool(true));
    assert!(hold.get("type").is_none());
}

#[test]
fn porter_additions_are_in_the_schema_and_say_so() {
    let crds = parsed();
    let eip = schema(&crds[0]);
    let peer = schema(&crds[2]);
    let additions = [
        (&eip, ".spec.bgp"),
        (&eip, ".spec.bgp.communities"),
        (&eip, ".spec.bgp.largeCommunities"),
        (&eip, ".spec.bgp.med"),
        (&eip, ".spec.bgp.localPref"),
        (&eip, ".spec.bgp.linkBandwidth"),
        (&peer, ".spec.conf.authPasswordSecretRef"),
        (&peer, ".spec.transport.localAddress"),
        (&peer, ".spec.transport.ttlSecurity"),
    ];
    for (s, path) in additions {
        assert!(schema_has(s, path), "{path}");
        let mut node: &Value = s;
        for part in path.trim_start_matches('.').split('.') {
            node = &node["properties"][part];
        }
        let description = node["description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with("Porter addition; OpenELB ignores it."),
            "{path}: {description}"
        );
    }
    let secret =
        &peer["properties"]["spec"]["properties"]["conf"]["properties"]["authPasswordSecretRef"];
    assert_eq!(
        secret["required"],
        serde_json::json!(["key", "name", "namespace"])
    );
}

#[test]
fn every_property_has_a_description() {
    fn walk(path: &str, node: &Value, missing: &mut Vec<String>) {
        if let Some(Value::Object(props)) = node.get("properties") {
            for (k, v) in props {
                let p = format!("{path}.{k}");
                if v.get("description").is_none() {
                    missing.push(p.clone());
                }
                walk(&p, v, missing);
            }
        }
        if let Some(items) = node.get("items") {
            walk(&format!("{path}[]"), items, missing);
        }
        if let Some(ap) = node.get("additionalProperties") {
            walk(&format!("{path}{{}}"), ap, missing);
        }
    }
    for crd in parsed() {
        let mut missing = Vec::new();
        walk(&crd.spec.names.kind, &schema(&crd), &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }
}

#[test]
fn no_rustdoc_syntax_leaks_into_descriptions() {
    let yaml = crds_yaml();
    assert!(!yaml.contains("[`"), "intra-doc links in CRD descriptions");
}

#[test]
fn cel_rules_are_the_two_reviewed_ones() {
    let yaml = crds_yaml();
    let rules: Vec<_> = yaml
        .lines()
        .filter(|l| l.trim_start().starts_with("rule:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        rules,
        [
            "rule: self == oldSelf",
            "rule: '!has(self.protocol) || self.protocol == ''bgp'' || (has(self.interface) && self.interface != '''')'",
        ]
    );
}

/// The committed `tests/snapshots/crds.yaml` must equal `crds_yaml()`, so every schema change shows up in a
/// diff. Regenerate with `PORTER_UPDATE_SNAPSHOTS=1 cargo test -p porter-api`.
#[test]
fn crds_yaml_matches_snapshot() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/crds.yaml");
    let actual = crds_yaml();
    if std::env::var_os("PORTER_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "CRD schema drifted from tests/snapshots/crds.yaml (first difference at line {}). If intended, run \
             PORTER_UPDATE_SNAPSHOTS=1 cargo test -p porter-api and commit the snapshot.",
            first + 1
        );
    }
}
