//! The generated CRDs: valid structural schemas, OpenELB's names and columns, and a snapshot to show drift.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use porter_api::{crds, crds_yaml};
use serde_json::Value;

/// Parses `crds_yaml()` back, document by document.
fn parsed() -> Vec<CustomResourceDefinition> {
    serde_saphyr::from_multiple(&crds_yaml()).expect("each document is a CRD")
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

/// The rules the API server applies to a CRD schema beyond "structural" (see `check_structural`), checkable
/// without a cluster: keywords only on nodes of the type they belong to, int-or-string fields without a
/// `type`, list and map types used as defined, `required` naming real properties, `enum` values of the
/// node's type, and CEL rules placed where the API server compiles them. `path` uses `[]` for list items.
fn check_api_server_rules(path: &str, node: &Value, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else { return };
    let ty = obj.get("type").and_then(Value::as_str);
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if int_or_string && ty.is_some() {
        problems.push(format!("{path}: x-kubernetes-int-or-string with a type"));
    }
    if let Some(t) = ty
        && !["object", "array", "string", "integer", "number", "boolean"].contains(&t)
    {
        problems.push(format!("{path}: unknown type {t}"));
    }
    for (key, wants) in [
        ("properties", "object"),
        ("additionalProperties", "object"),
        ("required", "object"),
        ("x-kubernetes-map-type", "object"),
        ("items", "array"),
        ("x-kubernetes-list-type", "array"),
        ("x-kubernetes-list-map-keys", "array"),
        ("maxItems", "array"),
        ("pattern", "string"),
        ("maxLength", "string"),
    ] {
        if obj.contains_key(key) && ty != Some(wants) {
            problems.push(format!(
                "{path}: {key} on a node of type {ty:?}, not {wants}"
            ));
        }
    }
    if ty == Some("array") && !obj.get("items").is_some_and(Value::is_object) {
        problems.push(format!("{path}: an array needs one `items` schema"));
    }
    let props = obj.get("properties").and_then(Value::as_object);
    for name in obj
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or_default();
        if !props.is_some_and(|p| p.contains_key(name)) {
            problems.push(format!("{path}: required {name:?} is not a property"));
        }
    }
    if let Some(values) = obj.get("enum").and_then(Value::as_array) {
        let fits = |v: &Value| match ty {
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            _ => false,
        };
        if let Some(bad) = values.iter().find(|v| !fits(v)) {
            problems.push(format!("{path}: enum value {bad} is not of type {ty:?}"));
        }
    }
    match obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
        None | Some("atomic") => {}
        Some("set") => {
            let item_ty = obj["items"].get("type").and_then(Value::as_str);
            if matches!(item_ty, Some("object" | "array")) {
                problems.push(format!("{path}: a set list needs scalar items"));
            }
        }
        Some("map") => {
            let keys: Vec<&str> = obj
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let item = &obj["items"];
            let required: Vec<&str> = item["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if keys.is_empty() {
                problems.push(format!(
                    "{path}: a map list needs x-kubernetes-list-map-keys"
                ));
            }
            for key in keys {
                let scalar = matches!(
                    item["properties"][key]["type"].as_str(),
                    Some("string" | "integer" | "number" | "boolean")
                );
                let has_default = item["properties"][key].get("default").is_some();
                if !scalar || !(required.contains(&key) || has_default) {
                    problems.push(format!(
                        "{path}: list map key {key:?} must be a scalar property that is required or defaulted"
                    ));
                }
            }
        }
        Some(other) => problems.push(format!("{path}: unknown x-kubernetes-list-type {other}")),
    }
    if let Some(rules) = obj.get("x-kubernetes-validations") {
        check_cel_rules(path, obj, rules, problems);
    }
    if let Some(props) = props {
        for (k, v) in props {
            check_api_server_rules(&format!("{path}.{k}"), v, problems);
        }
    }
    if let Some(items) = obj.get("items") {
        check_api_server_rules(&format!("{path}[]"), items, problems);
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|a| a.is_object()) {
        check_api_server_rules(&format!("{path}{{}}"), ap, problems);
    }
}

/// CEL rules as far as they can be checked without a CEL compiler: each entry has a non-empty `rule` and a
/// one-line `message` (the API server rejects line breaks), quotes and brackets balance, every `self.<field>`
/// names a property of the node (an undeclared field does not compile), and transition rules (`oldSelf`) are
/// not inside a list, where the API server cannot correlate old and new items.
fn check_cel_rules(
    path: &str,
    node: &serde_json::Map<String, Value>,
    rules: &Value,
    problems: &mut Vec<String>,
) {
    let Some(rules) = rules.as_array() else {
        problems.push(format!("{path}: x-kubernetes-validations is not a list"));
        return;
    };
    for entry in rules {
        let rule = entry["rule"].as_str().unwrap_or_default();
        if rule.trim().is_empty() {
            problems.push(format!("{path}: a validation without a rule"));
            continue;
        }
        if let Some(message) = entry.get("message") {
            let m = message.as_str().unwrap_or_default();
            if m.trim().is_empty() || m.contains('\n') {
                problems.push(format!("{path}: message must be one non-empty line"));
            }
        }
        if let Err(e) = balanced(rule) {
            problems.push(format!("{path}: rule {rule:?}: {e}"));
        }
        let props = node.get("properties").and_then(Value::as_object);
        let mut rest = rule;
        while let Some(at) = rest.find("self.") {
            let before = rest[..at].chars().next_back();
            let field: String = rest[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `self.trim()` calls a method; the functions themselves are checked with kube-cel (cel_rules.rs)
            let method = rest[at + 5 + field.len()..].starts_with('(');
            // `oldSelf.x` contains `Self.x`, not `self.x`; a preceding identifier char means another name
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && !method
                && !props.is_some_and(|p| p.contains_key(&field))
            {
                problems.push(format!(
                    "{path}: rule {rule:?} reads self.{field}, not a property here"
                ));
            }
            rest = &rest[at + 5..];
        }
        if rule.contains("oldSelf") && path.contains("[]") {
            problems.push(format!("{path}: transition rule {rule:?} inside a list"));
        }
    }
}

/// Quotes (single and double, with backslash escapes) are closed and brackets nest.
fn balanced(rule: &str) -> Result<(), String> {
    let mut stack = Vec::new();
    let mut chars = rule.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => loop {
                match chars.next() {
                    None => return Err(format!("unclosed {c}")),
                    Some('\\') => {
                        chars.next();
                    }
                    Some(q) if q == c => break,
                    Some(_) => {}
                }
            },
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Err(format!("unbalanced {c}"));
                }
            }
            _ => {}
        }
    }
    match stack.pop() {
        Some(open) => Err(format!("unclosed {open}")),
        None => Ok(()),
    }
}

#[test]
fn schemas_pass_the_api_servers_offline_checks() {
    for crd in parsed() {
        let kind = crd.spec.names.kind.clone();
        let s = schema(&crd);
        let mut problems = Vec::new();
        check_api_server_rules(&kind, &s, &mut problems);
        // the root: an object; metadata may only be `type: object` (the API server owns its schema)
        if s["type"] != "object" {
            problems.push(format!("{kind}: the root is not an object"));
        }
        if let Some(meta) = s["properties"].get("metadata")
            && meta != &serde_json::json!({"type": "object"})
        {
            problems.push(format!("{kind}: metadata schema beyond `type: object`"));
        }
        for key in [
            "x-kubernetes-int-or-string",
            "x-kubernetes-embedded-resource",
            "additionalProperties",
        ] {
            if s.get(key).is_some() {
                problems.push(format!("{kind}: {key} at the root"));
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[test]
fn the_offline_checks_catch_what_the_api_server_rejects() {
    let bad = serde_json::json!({
        "type": "object",
        "required": ["missing"],
        "properties": {
            "a": {"x-kubernetes-int-or-string": true, "type": "string"},
            "b": {"type": "string", "properties": {}},
            "c": {"type": "array"},
            "d": {"type": "string", "enum": [1]},
            "e": {"type": "object", "properties": {"x": {"type": "string"}},
                  "x-kubernetes-validations": [{"rule": "self.y == 'a'"}, {"rule": "(self.x == 'a'"},
                                               {"rule": "self.x == 'a", "message": "two\nlines"}]},
            "f": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                  "items": {"type": "object", "properties": {"k": {"type": "string"}},
                            "x-kubernetes-validations": [{"rule": "self.k == oldSelf.k"}]}}
        }
    });
    let mut problems = Vec::new();
    check_api_server_rules("T", &bad, &mut problems);
    for expected in [
        "T: required \"missing\"",
        "T.a: x-kubernetes-int-or-string with a type",
        "T.b: properties on a node of type Some(\"string\")",
        "T.c: an array needs one `items` schema",
        "T.d: enum value 1",
        "T.e: rule \"self.y == 'a'\" reads self.y",
        "T.e: rule \"(self.x == 'a'\": unclosed (",
        "T.e: rule \"self.x == 'a\": unclosed '",
        "T.e: message must be one non-empty line",
        "T.f: list map key \"k\"",
        "T.f[]: transition rule",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected} not reported in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 11, "{problems:#?}");
}

#[test]
fn crd_names_and_versions_pass_the_api_servers_checks() {
    for crd in parsed() {
        let n = &crd.spec.names;
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{}.{}", n.plural, crd.spec.group).as_str())
        );
        assert_eq!(n.plural, n.plural.to_lowercase());
        assert_eq!(n.singular.as_deref(), Some(n.kind.to_lowercase().as_str()));
        // unset = defaulted by the API server to `<Kind>List`
        assert!(
            n.list_kind
                .as_ref()
                .is_none_or(|l| *l == format!("{}List", n.kind))
        );
        let storage: Vec<_> = crd.spec.versions.iter().filter(|v| v.storage).collect();
        assert_eq!(storage.len(), 1, "{}: exactly one storage version", n.kind);
        assert!(
            storage[0].served,
            "{}: the storage version is served",
            n.kind
        );
        for v in &crd.spec.versions {
            assert!(
                v.schema.is_some(),
                "{} {}: every version has a schema",
                n.kind,
                v.name
            );
            for c in v.additional_printer_columns.iter().flatten() {
                assert!(
                    ["integer", "number", "string", "boolean", "date"].contains(&c.type_.as_str()),
                    "{}: column {} has type {}",
                    n.kind,
                    c.name,
                    c.type_
                );
                assert!(
                    c.json_path.starts_with('.'),
                    "{}: column {}",
                    n.kind,
                    c.name
                );
            }
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
        (&eip, ".spec.bgp.linkBandwidthPerEndpoint"),
        (&eip, ".spec.avoidBuggyIPs"),
        (&peer, ".spec.conf.authPasswordSecretRef"),
        (&peer, ".spec.transport.localAddress"),
        (&peer, ".spec.transport.ttlSecurity"),
        (&peer, ".spec.timers.config.connectRetryMax"),
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
fn cel_rules_are_the_reviewed_ones() {
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
            "rule: isIP(self.trim()) || (isCIDR(self.trim()) && cidr(self.trim()) == cidr(self.trim()).masked()) || (self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim()) && ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family())",
            "rule: self.trim() == '' || (isIP(self.trim()) && ip(self.trim()).family() == 4 && !ip(self.trim()).isUnspecified())",
            "rule: isIP(self.trim())",
            "rule: self.trim() == '' || isIP(self.trim())",
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
