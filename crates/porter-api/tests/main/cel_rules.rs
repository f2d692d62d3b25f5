//! The CRDs' CEL rules (`x-kubernetes-validations`), compiled and evaluated with kube-cel.
//!
//! There is no API server here, so kube-cel stands in for it: it parses every rule with the `cel` crate and
//! evaluates it with its port of Kubernetes' CEL libraries (IP/CIDR, extended strings, ...). What this proves
//! and what it does not:
//!
//! - proven: every rule parses; every function and variable it names is on the list of Kubernetes 1.31 CRD
//!   functions below (a typo, or a kube-cel-only helper such as `isIPv4`, fails); kube-cel's coarse cost
//!   heuristic sees nothing over budget; every rule runs on a full object of its kind, transition rules
//!   included, and gives the verdicts below;
//! - not proven: the API server's type checker and its cost estimator (a CRD could still be refused at
//!   install), and Go's parsing of addresses.
//!
//! How the rules' verdicts compare with the controller's own validation (`porter_model::valid`: the rules never
//! refuse an address the controller accepts, except documented forms) is tested where that validation lives:
//! porter-model's `tests/main/cel_rules.rs`.

use std::cell::RefCell;

use kube_cel::cel::Program;
use kube_cel::{
    CompiledSchema, ErrorKind, ScopeContext, ValidationError, Validator, analyze_rule,
    compile_schema,
};
use porter_api::crds_yaml;
use serde_json::{Value, json};

/// Every function (and operator) a rule may call: the CRD validation environment of Kubernetes 1.31, the
/// first release with the IP and CIDR libraries. A name missing here is a typo or a function the API server
/// does not have (kube-cel adds a few of its own, e.g. `isIPv4`); add names only after checking them against
/// <https://kubernetes.io/docs/reference/using-api/cel/>.
const KUBERNETES_FUNCTIONS: &[&str] = &[
    // CEL operators (cel-go's internal names, as the `cel` crate spells them)
    "_&&_",
    "_||_",
    "!_",
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_[_]",
    "@in",
    // CEL standard functions
    "size",
    "has",
    // extended strings library (`ext.Strings`)
    "split",
    "trim",
    // IP library (Kubernetes 1.31+)
    "isIP",
    "ip",
    "family",
    "isUnspecified",
    // CIDR library (Kubernetes 1.31+)
    "isCIDR",
    "cidr",
    "masked",
];

/// Variables a CRD rule can read (`apiVersion`, `apiGroup` and `kind` exist only at the root; Porter uses none).
const VARIABLES: &[&str] = &["self", "oldSelf"];

/// Every version's schema of each CRD, as `porter crds` prints it: `(kind, version, openAPIV3Schema)`.
fn schemas() -> Vec<(String, String, Value)> {
    serde_saphyr::from_multiple::<Value>(&crds_yaml())
        .expect("each document is YAML")
        .into_iter()
        .flat_map(|crd| {
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .expect("kind")
                .to_owned();
            crd["spec"]["versions"]
                .as_array()
                .expect("versions")
                .iter()
                .map(|v| {
                    let version = v["name"].as_str().expect("version name").to_owned();
                    (
                        kind.clone(),
                        version,
                        v["schema"]["openAPIV3Schema"].clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The served (v1alpha2) schema of `kind`.
fn schema_of(kind: &str) -> Value {
    schemas()
        .into_iter()
        .find(|(k, v, _)| k == kind && v == "v1alpha2")
        .map(|(_, _, s)| s)
        .expect("kind exists")
}

/// One rule and where it sits: `path` is the JSON path of its node (`spec.address`; `[]` for list items).
#[derive(Debug)]
struct RuleAt {
    path: String,
    rule: String,
    /// The schema node carrying the rule (for kube-cel's cost heuristic).
    node: Value,
}

/// Every `x-kubernetes-validations` rule of `schema`, depth first.
fn rules(schema: &Value) -> Vec<RuleAt> {
    fn walk(path: &str, node: &Value, out: &mut Vec<RuleAt>) {
        for v in node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push(RuleAt {
                path: path.to_owned(),
                rule: v["rule"].as_str().unwrap_or_default().to_owned(),
                node: node.clone(),
            });
        }
        let join = |k: &str| {
            if path.is_empty() {
                k.to_owned()
            } else {
                format!("{path}.{k}")
            }
        };
        for (k, v) in node["properties"].as_object().into_iter().flatten() {
            walk(&join(k), v, out);
        }
        if node["items"].is_object() {
            walk(&format!("{path}[]"), &node["items"], out);
        }
        if node["additionalProperties"].is_object() {
            walk(&join("*"), &node["additionalProperties"], out);
        }
    }
    let mut out = Vec::new();
    walk("", schema, &mut out);
    out
}

/// Rules kube-cel compiled (`ok`) and the compilation errors it found, over a whole compiled tree.
fn compiled_counts(c: &CompiledSchema, ok: &mut usize, errors: &mut Vec<String>) {
    for v in &c.validations {
        match v {
            Ok(_) => *ok += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    for child in c.properties.values() {
        compiled_counts(child, ok, errors);
    }
    for child in c.items.iter().chain(c.additional_properties.iter()) {
        compiled_counts(child, ok, errors);
    }
    for child in c.all_of.iter().chain(&c.one_of).chain(&c.any_of) {
        compiled_counts(child, ok, errors);
    }
}

/// Everything kube-cel can check about the rules of one schema without an object: each rule compiles, names
/// only Kubernetes functions and CRD variables, and passes kube-cel's cost heuristic.
fn rule_problems(kind: &str, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let found = rules(schema);
    let (mut ok, mut errors) = (0, Vec::new());
    compiled_counts(&compile_schema(schema), &mut ok, &mut errors);
    problems.extend(errors.into_iter().map(|e| format!("{kind}: {e}")));
    if ok + problems.len() != found.len() {
        problems.push(format!(
            "{kind}: kube-cel found {ok} rules, the schema has {}",
            found.len()
        ));
    }
    for r in &found {
        let Ok(program) = Program::compile(&r.rule) else {
            continue; // reported above
        };
        let refs = program.references();
        for f in refs.functions() {
            if !KUBERNETES_FUNCTIONS.contains(&f) {
                problems.push(format!(
                    "{kind}.{}: rule {:?} calls {f}, not a Kubernetes 1.31 CRD function (or not reviewed yet)",
                    r.path, r.rule
                ));
            }
        }
        for v in refs.variables() {
            if !VARIABLES.contains(&v) {
                problems.push(format!(
                    "{kind}.{}: rule {:?} reads {v}, not a CRD rule variable",
                    r.path, r.rule
                ));
            }
        }
        for w in analyze_rule(
            &r.rule,
            &compile_schema(&r.node),
            ScopeContext::CrdValidation,
        ) {
            problems.push(format!("{kind}.{}: {}", r.path, w.message));
        }
    }
    problems
}

#[test]
fn every_rule_compiles_and_calls_only_kubernetes_functions() {
    let mut total = 0;
    for (kind, version, schema) in schemas() {
        total += rules(&schema).len();
        let problems = rule_problems(&format!("{kind} {version}"), &schema);
        assert!(problems.is_empty(), "{problems:#?}");
    }
    // Eip: immutable address, address syntax; BgpConf: routerId; BgpPeer: neighborAddress,
    // localAddress. A new rule must be added here and covered by `full_objects` below.
    assert_eq!(total, 5);
}

#[test]
fn a_broken_rule_is_reported() {
    let schema = schema_of("Eip");
    let text = schema.to_string();
    for (from, to, expected) in [
        ("isIP(self.trim())", "isIP(self.trim()", "failed to compile"),
        ("isIP(self.trim())", "isIp(self.trim())", "calls isIp"),
        ("isIP(self.trim())", "isIPv4(self.trim())", "calls isIPv4"),
        ("self == oldSelf", "self == old", "reads old"),
    ] {
        assert!(text.contains(from), "{from} not in the Eip schema");
        let broken: Value = serde_json::from_str(&text.replacen(from, to, 1)).expect("still JSON");
        let problems = rule_problems("Eip", &broken);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{to}: {problems:#?}"
        );
    }
}

/// kube-cel's validator with the three served schemas compiled once (per test thread).
struct Cel {
    validator: Validator,
    eip: CompiledSchema,
    conf: CompiledSchema,
    peer: CompiledSchema,
}

thread_local! {
    static CEL: RefCell<Option<Cel>> = const { RefCell::new(None) };
}

/// Runs `f` with the thread's [`Cel`].
fn with_cel<T>(f: impl FnOnce(&Cel) -> T) -> T {
    CEL.with(|cell| {
        let mut cell = cell.borrow_mut();
        let cel = cell.get_or_insert_with(|| Cel {
            validator: Validator::new(),
            eip: compile_schema(&schema_of("Eip")),
            conf: compile_schema(&schema_of("BgpConf")),
            peer: compile_schema(&schema_of("BgpPeer")),
        });
        f(cel)
    })
}

/// The compiled schema of `kind` in `cel`.
fn compiled<'a>(cel: &'a Cel, kind: &str) -> &'a CompiledSchema {
    match kind {
        "Eip" => &cel.eip,
        "BgpConf" => &cel.conf,
        "BgpPeer" => &cel.peer,
        other => panic!("no CRD {other}"),
    }
}

/// kube-cel's errors for `object` (and `old` for an update). Panics on anything but a rule evaluating to
/// false: a runtime error or an unknown function means a broken rule, not a refused object.
fn cel_errors(kind: &str, object: &Value, old: Option<&Value>) -> Vec<ValidationError> {
    with_cel(|cel| {
        match cel
            .validator
            .validate_compiled(compiled(cel, kind), object, old)
        {
            Ok(()) => Vec::new(),
            Err(errors) => {
                let errors = errors.into_vec();
                for e in &errors {
                    assert_eq!(
                        e.kind,
                        ErrorKind::ValidationFailure,
                        "{kind} {object}: rule {:?} did not evaluate: {}",
                        e.rule,
                        e.message
                    );
                }
                errors
            }
        }
    })
}

/// A full object of each kind: every field that carries a rule is set, so every rule runs.
fn full_objects() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Eip",
            json!({
                "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
                "metadata": {"name": "pool"},
                "spec": {"address": "192.168.0.91-192.168.0.100", "protocol": "layer2", "interface": "eth0"}
            }),
        ),
        (
            "BgpConf",
            json!({
                "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
                "metadata": {"name": "default"},
                "spec": {"as": 65000, "routerId": "10.0.0.1", "listenPort": 17900}
            }),
        ),
        (
            "BgpPeer",
            json!({
                "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
                "metadata": {"name": "tor"},
                "spec": {
                    "conf": {"neighborAddress": "2001:db8::1", "peerAs": 65001},
                    "transport": {"localAddress": "2001:db8::10", "remotePort": 179}
                }
            }),
        ),
    ]
}

/// Whether `object` has a value at `path` (`spec.conf.neighborAddress`; the root is the empty path).
fn has_path(object: &Value, path: &str) -> bool {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(object, |node, part| node.get(part))
        .is_some()
}

#[test]
fn every_rule_runs_on_a_full_object_created_and_updated() {
    for (kind, object) in full_objects() {
        let object = &object;
        let schema = schema_of(kind);
        for r in rules(&schema) {
            assert!(
                has_path(object, &r.path),
                "{kind}: the full object does not reach rule {:?} at {}",
                r.rule,
                r.path
            );
        }
        // create (transition rules skipped, as by the API server) and an update that changes nothing
        // (transition rules evaluated with oldSelf)
        assert!(cel_errors(kind, object, None).is_empty(), "{kind} create");
        assert!(
            cel_errors(kind, object, Some(object)).is_empty(),
            "{kind} update"
        );
    }
}

#[test]
fn the_transition_rule_refuses_a_changed_address() {
    let (_, old) = full_objects().remove(0);
    let mut new = old.clone();
    new["spec"]["address"] = json!("192.168.0.0/24");
    assert!(cel_errors("Eip", &new, None).is_empty(), "create is fine");
    let errors = cel_errors("Eip", &new, Some(&old));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field_path, "spec.address");
    assert_eq!(
        errors[0].message,
        "the address field is not allowed to be modified"
    );
}

#[test]
fn openelb_fixtures_and_deploy_examples_pass_the_rules() {
    for text in [
        include_str!("../fixtures/openelb/eip-bgp.yaml"),
        include_str!("../fixtures/openelb/eip-layer2.yaml"),
        include_str!("../fixtures/openelb/eip-namespaces.yaml"),
        include_str!("../fixtures/openelb/bgpconf.yaml"),
        include_str!("../fixtures/openelb/bgpconf-full.yaml"),
        include_str!("../fixtures/openelb/bgppeer.yaml"),
        include_str!("../fixtures/openelb/bgppeer-full.yaml"),
        include_str!("../../../../deploy/examples/eip.yaml"),
        include_str!("../../../../deploy/examples/bgpconf.yaml"),
        include_str!("../../../../deploy/examples/bgppeer.yaml"),
    ] {
        let object = super::yaml(text);
        let kind = object["kind"].as_str().expect("kind");
        let errors = cel_errors(kind, &object, None);
        assert!(errors.is_empty(), "{kind}: {errors:?}");
    }
}
