//! `deploy/` stays in sync with the code: the CRDs are exactly `porter crds`, every manifest is a
//! well-formed Kubernetes object with no field its type does not know, the RBAC grants what each
//! role reads and writes and nothing broader, the workloads' probes reach the address the binary
//! serves its health on, and the examples are valid Porter objects that plan as their comments say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Container, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use porter_kube::Kinds;
use porter_model::Snapshot;
use porter_model::manifests::{Object, parse_documents};
use porter_model::valid::Validate;
use serde::de::DeserializeOwned;
use serde_json::Value;

const NS: &str = "porter-system";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// `*.yaml` files of a folder, sorted, less kustomize's own file (tests/kustomize.rs checks it).
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

/// Every non-empty document of a file, as JSON.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
}

fn all_manifests() -> Vec<(PathBuf, Value)> {
    let dir = deploy_dir();
    yaml_files(&dir)
        .into_iter()
        .chain(yaml_files(&dir.join("examples")))
        .flat_map(|p| documents(&p).into_iter().map(move |d| (p.clone(), d)))
        .collect()
}

fn porter_yaml() -> Vec<Value> {
    documents(&deploy_dir().join("porter.yaml"))
}

/// The objects of `kind` in porter.yaml, typed.
fn of_kind<K: DeserializeOwned>(kind: &str) -> Vec<K> {
    porter_yaml()
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| serde_json::from_value(d).unwrap())
        .collect()
}

#[test]
fn deploy_crds_yaml_is_exactly_porter_crds() {
    let committed = std::fs::read_to_string(deploy_dir().join("crds.yaml")).unwrap_or_default();
    let hint = "deploy/crds.yaml is out of date; regenerate it with \
                `cargo run -p porter -- crds > deploy/crds.yaml` and commit it";
    assert!(committed == porter_api::crds_yaml(), "{hint}");
    // and the binary prints the same bytes
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_porter"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == committed.as_bytes(), "{hint}");
}

/// A document is a Kubernetes object whose every field is known to its k8s-openapi type (a typo such as
/// `hostNetwrok` would otherwise be dropped by the API server without a word).
fn check_known_fields<K: DeserializeOwned + serde::Serialize>(where_: &str, doc: &Value) {
    let (_, unknown) = porter_api::unknown_fields::<K>(doc)
        .unwrap_or_else(|e| panic!("{where_}: does not parse as its kind: {e}"));
    assert!(unknown.is_empty(), "{where_}: unknown fields {unknown:?}");
}

#[test]
fn every_manifest_is_an_object_with_only_known_fields() {
    let mut kinds = BTreeSet::new();
    for (path, doc) in all_manifests() {
        let where_ = format!(
            "{} ({} {})",
            path.display(),
            doc["kind"],
            doc["metadata"]["name"]
        );
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        assert!(
            !api_version.is_empty() && !kind.is_empty(),
            "{where_}: no apiVersion/kind"
        );
        assert!(doc["metadata"]["name"].is_string(), "{where_}: no name");
        kinds.insert(kind.to_owned());
        match (api_version, kind) {
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => check_known_fields::<
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
            >(&where_, &doc),
            ("v1", "Namespace") => check_known_fields::<Namespace>(&where_, &doc),
            ("v1", "ServiceAccount") => check_known_fields::<ServiceAccount>(&where_, &doc),
            ("v1", "Service") => check_known_fields::<k8s_openapi::api::core::v1::Service>(&where_, &doc),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => check_known_fields::<ClusterRole>(&where_, &doc),
            ("rbac.authorization.k8s.io/v1", "Role") => check_known_fields::<Role>(&where_, &doc),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                check_known_fields::<ClusterRoleBinding>(&where_, &doc)
            }
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => check_known_fields::<RoleBinding>(&where_, &doc),
            ("apps/v1", "Deployment") => check_known_fields::<Deployment>(&where_, &doc),
            ("apps/v1", "DaemonSet") => check_known_fields::<DaemonSet>(&where_, &doc),
            ("network.kubesphere.io/v1alpha2", "Eip") => check_known_fields::<porter_api::Eip>(&where_, &doc),
            ("network.kubesphere.io/v1alpha2", "BgpConf") => {
                check_known_fields::<porter_api::BgpConf>(&where_, &doc)
            }
            ("network.kubesphere.io/v1alpha2", "BgpPeer") => {
                check_known_fields::<porter_api::BgpPeer>(&where_, &doc)
            }
            _ => panic!("{where_}: {api_version} {kind} is not checked here; add it"),
        }
        // every namespaced object of porter.yaml lives in porter-system
        if path.ends_with("porter.yaml")
            && let Some(ns) = doc["metadata"]["namespace"].as_str()
        {
            assert_eq!(ns, NS, "{where_}");
        }
    }
    for kind in [
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "DaemonSet",
        "Eip",
        "BgpConf",
        "BgpPeer",
        "Service",
    ] {
        assert!(kinds.contains(kind), "deploy/ has no {kind}");
    }
}

/// The rules granted to a ServiceAccount through porter.yaml's bindings, with where they apply
/// (`None` = cluster-wide, `Some(ns)` = a Role in `ns`).
fn rules_of(account: &str) -> Vec<(Option<String>, PolicyRule)> {
    let to_account = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
        subjects.iter().flatten().any(|s| {
            s.kind == "ServiceAccount" && s.name == account && s.namespace.as_deref() == Some(NS)
        })
    };
    let mut out = Vec::new();
    let cluster_roles: Vec<ClusterRole> = of_kind("ClusterRole");
    for binding in of_kind::<ClusterRoleBinding>("ClusterRoleBinding") {
        if !to_account(&binding.subjects) {
            continue;
        }
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        let role = cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(binding.role_ref.name.as_str()))
            .unwrap_or_else(|| panic!("ClusterRole {} is not defined", binding.role_ref.name));
        out.extend(role.rules.iter().flatten().map(|r| (None, r.clone())));
    }
    let roles: Vec<Role> = of_kind("Role");
    for binding in of_kind::<RoleBinding>("RoleBinding") {
        if !to_account(&binding.subjects) {
            continue;
        }
        assert_eq!(
            binding.role_ref.kind, "Role",
            "bind ClusterRoles cluster-wide"
        );
        let ns = binding.metadata.namespace.clone();
        let role = roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(binding.role_ref.name.as_str())
                    && r.metadata.namespace == ns
            })
            .unwrap_or_else(|| panic!("Role {} is not defined", binding.role_ref.name));
        out.extend(role.rules.iter().flatten().map(|r| (ns.clone(), r.clone())));
    }
    assert!(!out.is_empty(), "{account} is granted nothing");
    out
}

/// `(group, resource, verb)` triples a set of rules grants, with the resourceNames limit (empty = any).
fn grants(rules: &[(Option<String>, PolicyRule)]) -> Vec<(String, String, String, Vec<String>)> {
    let mut out = Vec::new();
    for (_, rule) in rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    out.push((
                        group.clone(),
                        resource.clone(),
                        verb.clone(),
                        rule.resource_names.clone().unwrap_or_default(),
                    ));
                }
            }
        }
    }
    out
}

fn has(
    grants: &[(String, String, String, Vec<String>)],
    group: &str,
    resource: &str,
    verb: &str,
) -> bool {
    grants
        .iter()
        .any(|(g, r, v, _)| g == group && r == resource && v == verb)
}

/// What a role reads with list/watch is exactly what its source watches.
fn assert_watches_exactly(account: &str, kinds: Kinds) {
    let g = grants(&rules_of(account));
    for verb in ["list", "watch"] {
        let granted: BTreeSet<(String, String)> = g
            .iter()
            .filter(|(_, _, v, _)| v == verb)
            .map(|(g, r, _, _)| (g.clone(), r.clone()))
            .collect();
        let needed: BTreeSet<(String, String)> = kinds
            .resources()
            .into_iter()
            .map(|(g, r)| (g.to_owned(), r.to_owned()))
            .collect();
        assert_eq!(
            granted, needed,
            "{account}: `{verb}` grants differ from what it watches"
        );
    }
}

#[test]
fn rbac_has_no_wildcards_and_every_rule_is_commented() {
    for (kind, doc) in porter_yaml()
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
        .map(|d| (d["kind"].clone(), d))
    {
        for rule in doc["rules"].as_array().unwrap() {
            for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
                for v in rule[field].as_array().into_iter().flatten() {
                    assert!(
                        !v.as_str().unwrap().contains('*'),
                        "{kind} {}: wildcard in {field}",
                        doc["metadata"]["name"]
                    );
                }
            }
        }
    }
    // every rule is preceded by a comment saying why (or is covered by the comment just above the Role)
    let text = std::fs::read_to_string(deploy_dir().join("porter.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- apiGroups:") {
            let above = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap();
            let first_rule = lines[i - 1].trim() == "rules:";
            assert!(
                above.trim_start().starts_with('#') || first_rule,
                "porter.yaml line {}: a rule without a comment saying why it is needed",
                i + 1
            );
        }
    }
}

#[test]
fn the_controller_is_granted_what_it_does_and_no_secrets() {
    assert_watches_exactly("porter-controller", Kinds::CONTROLLER);
    let rules = rules_of("porter-controller");
    let g = grants(&rules);
    // no Secrets at all; what it reads only to report where Services are announced, it never writes
    assert!(g.iter().all(|(_, r, _, _)| r != "secrets"));
    for (_, resource, verb, _) in &g {
        if ["endpointslices", "nodes", "bgpconfs", "bgppeers"].contains(&resource.as_str()) {
            assert!(
                ["list", "watch"].contains(&verb.as_str()),
                "the controller may only read {resource}, not {verb} it"
            );
        }
    }
    for (group, resource, verb) in [
        ("", "services", "patch"),
        ("", "services/status", "patch"),
        ("network.kubesphere.io", "eips/status", "patch"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    ] {
        assert!(
            has(&g, group, resource, verb),
            "controller needs {verb} {resource}"
        );
    }
    // the Lease rules are namespaced, and get/update name Porter's own Lease
    for (ns, rule) in &rules {
        if rule.resources.iter().flatten().any(|r| r == "leases") {
            assert_eq!(
                ns.as_deref(),
                Some(NS),
                "Lease access must be a Role in {NS}"
            );
            if rule.verbs.iter().any(|v| v == "get" || v == "update") {
                assert_eq!(
                    rule.resource_names.as_deref(),
                    Some(&[porter_kube::lease::LEASE_NAME.to_owned()][..])
                );
            }
        }
    }
    let writes: BTreeSet<&str> = g
        .iter()
        .filter(|(_, _, v, _)| !["list", "watch", "get"].contains(&v.as_str()))
        .map(|(_, r, _, _)| r.as_str())
        .collect();
    assert_eq!(
        writes,
        BTreeSet::from([
            "services",
            "services/status",
            "eips/status",
            "events",
            "leases"
        ])
    );
}

#[test]
fn the_speaker_reads_secrets_only_by_name_and_writes_only_bgppeer_status() {
    assert_watches_exactly("porter-speaker", Kinds::SPEAKER);
    let rules = rules_of("porter-speaker");
    for (ns, rule) in &rules {
        if !rule.resources.iter().flatten().any(|r| r == "secrets") {
            continue;
        }
        assert!(ns.is_some(), "Secret access must be a namespaced Role");
        assert_eq!(rule.verbs, ["get"], "secrets: get only, never list/watch");
        assert!(
            rule.resource_names.as_ref().is_some_and(|n| !n.is_empty()),
            "secrets: only the named BGP password Secrets"
        );
        assert_eq!(rule.resources.as_deref(), Some(&["secrets".to_owned()][..]));
    }
    let g = grants(&rules);
    let writes: BTreeSet<(&str, &str)> = g
        .iter()
        .filter(|(_, _, v, _)| !["list", "watch", "get"].contains(&v.as_str()))
        .map(|(_, r, v, _)| (r.as_str(), v.as_str()))
        .collect();
    assert_eq!(writes, BTreeSet::from([("bgppeers/status", "patch")]));
    assert!(has(&g, "", "secrets", "get"));
}

/// The speaker's "forbidden" report names a Role to extend: it must be the one that exists.
#[test]
fn the_role_a_forbidden_secret_report_names_is_the_speakers_secret_role() {
    use porter_kube::source::{BGP_PASSWORDS_ROLE, BGP_PASSWORDS_ROLE_NAMESPACE};
    let role = of_kind::<Role>("Role")
        .into_iter()
        .find(|r| r.metadata.name.as_deref() == Some(BGP_PASSWORDS_ROLE))
        .unwrap_or_else(|| panic!("no Role {BGP_PASSWORDS_ROLE} in deploy/porter.yaml"));
    assert_eq!(
        role.metadata.namespace.as_deref(),
        Some(BGP_PASSWORDS_ROLE_NAMESPACE)
    );
    assert!(
        role.rules
            .iter()
            .flatten()
            .any(|r| r.resources.iter().flatten().any(|r| r == "secrets")),
        "{BGP_PASSWORDS_ROLE} grants no Secret"
    );
    assert!(
        rules_of("porter-speaker")
            .iter()
            .any(|(ns, _)| ns.as_deref() == Some(BGP_PASSWORDS_ROLE_NAMESPACE)),
        "{BGP_PASSWORDS_ROLE} is not bound to the speaker"
    );
}

#[test]
fn the_workloads_run_the_right_subcommands_with_their_environment() {
    let deployment: Vec<Deployment> = of_kind("Deployment");
    let [controller] = &deployment[..] else {
        panic!("one Deployment")
    };
    let spec = controller
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some("porter-controller")
    );
    let c = &spec.containers[0];
    assert_eq!(c.args.as_deref(), Some(&["controller".to_owned()][..]));
    let env: Vec<(&str, Option<&str>)> = c
        .env
        .iter()
        .flatten()
        .map(|e| {
            let field = e
                .value_from
                .as_ref()
                .and_then(|v| v.field_ref.as_ref())
                .map(|f| f.field_path.as_str());
            (e.name.as_str(), field)
        })
        .collect();
    assert!(env.contains(&("POD_NAMESPACE", Some("metadata.namespace"))));
    assert!(env.contains(&("POD_NAME", Some("metadata.name"))));
    assert_probes_reach_the_endpoint("controller", c);

    let daemonsets: Vec<DaemonSet> = of_kind("DaemonSet");
    let [speaker] = &daemonsets[..] else {
        panic!("one DaemonSet")
    };
    let spec = speaker
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("porter-speaker"));
    assert_eq!(spec.host_network, Some(true));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
    let c = &spec.containers[0];
    assert_eq!(c.args.as_deref(), Some(&["speaker".to_owned()][..]));
    let node_name = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "NODE_NAME")
        .unwrap();
    assert_eq!(
        node_name
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("spec.nodeName")
    );
    let caps = c
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref())
        .unwrap();
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
    assert_eq!(
        caps.add.as_deref(),
        Some(&["NET_ADMIN".to_owned(), "NET_RAW".to_owned()][..])
    );
    assert_probes_reach_the_endpoint("speaker", c);
    for image in [
        &controller
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image,
        &c.image,
    ] {
        assert_eq!(image.as_deref(), Some("ghcr.io/porter-lb/porter:0.1.0"));
    }
}

/// SIGTERM to KILL: the speaker's drain (RFC 8326) and its close must both fit in the pod's
/// termination grace period, or the kubelet kills it mid-drain and the routers see the hold
/// timer instead of a withdrawal.
#[test]
fn the_speakers_grace_period_fits_the_drain_and_the_close() {
    let daemonsets: Vec<DaemonSet> = of_kind("DaemonSet");
    let spec = daemonsets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let drain: u64 = setting(
        "speaker",
        &spec.containers[0],
        "--drain-seconds",
        "PORTER_DRAIN_SECONDS",
    )
    .parse()
    .unwrap();
    let grace = u64::try_from(spec.termination_grace_period_seconds.unwrap_or(30)).unwrap();
    let close = porter_speaker::SHUTDOWN_GRACE.as_secs();
    assert!(
        grace > drain + close,
        "terminationGracePeriodSeconds {grace} does not fit a drain of {drain} s and {close} s to close"
    );
}

/// The address `porter <role>` serves /metrics, /healthz and /readyz on in container `c`:
/// `--metrics-address` in its args, else `PORTER_METRICS_ADDRESS` in its env, else the binary's
/// default as `porter <role> --help` prints it.
fn metrics_address(role: &str, c: &Container) -> String {
    setting(role, c, "--metrics-address", "PORTER_METRICS_ADDRESS")
}

/// The value of `porter <role>`'s option `flag` in container `c`: in its args, else `env` in
/// its env, else the binary's default as `porter <role> --help` prints it.
fn setting(role: &str, c: &Container, flag: &str, env: &str) -> String {
    let args = c.args.as_deref().unwrap_or_default();
    let from_args = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(&format!("{flag}="))
            .map(str::to_owned)
            .or_else(|| (a == flag).then(|| args.get(i + 1).cloned())?)
    });
    let from_env = || {
        c.env
            .iter()
            .flatten()
            .find(|e| e.name == env)
            .and_then(|e| e.value.clone())
    };
    from_args.or_else(from_env).unwrap_or_else(|| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_porter"))
            .args([role, "--help"])
            .env_remove(env)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let option = &help[help
            .find(flag)
            .unwrap_or_else(|| panic!("porter {role} --help has no {flag}:\n{help}"))..];
        let default = &option[option.find("[default: ").expect("a default") + "[default: ".len()..];
        default[..default.find(']').unwrap()].to_owned()
    })
}

/// The container names the port the binary serves on `metrics`, and probes /healthz (liveness)
/// and /readyz (readiness) on it.
fn assert_probes_reach_the_endpoint(role: &str, c: &Container) {
    let address: std::net::SocketAddr = metrics_address(role, c).parse().unwrap();
    let port = c
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("metrics"))
        .unwrap_or_else(|| panic!("the {role} container has no port named metrics"));
    assert_eq!(
        port.container_port,
        i32::from(address.port()),
        "the {role}'s port `metrics` is not the one it serves on ({address})"
    );
    let probes = [
        ("liveness", c.liveness_probe.as_ref(), "/healthz"),
        ("readiness", c.readiness_probe.as_ref(), "/readyz"),
    ];
    for (what, probe, path) in probes {
        let probe = probe.unwrap_or_else(|| panic!("the {role} has no {what} probe"));
        let get = probe.http_get.as_ref().expect("an HTTP probe");
        assert_eq!(get.path.as_deref(), Some(path), "{role} {what}");
        let reaches = match &get.port {
            IntOrString::String(name) => name == "metrics",
            IntOrString::Int(n) => *n == i32::from(address.port()),
        };
        assert!(
            reaches,
            "the {role}'s {what} probe does not reach {address}"
        );
        // restarts only after several failures in a row, never on a single slow answer
        assert!(probe.failure_threshold.unwrap_or(3) >= 2, "{role} {what}");
    }
}

#[test]
fn the_examples_are_valid_and_the_service_gets_an_address() {
    let mut snapshot = Snapshot::default();
    for path in yaml_files(&deploy_dir().join("examples")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let (objects, diagnostics) = parse_documents(&path.display().to_string(), &text);
        for d in &diagnostics {
            // the Deployment behind the Service is the only object Porter does not read
            assert!(
                d.message
                    .contains("Deployment (apps/v1) is not read by Porter"),
                "{d}"
            );
        }
        for object in objects {
            match &object {
                Object::Eip(o) => {
                    o.validate().unwrap();
                    assert!(o.unsupported_fields().is_empty());
                }
                Object::BgpConf(o) => {
                    o.validate().unwrap();
                    assert!(o.unsupported_fields().is_empty());
                }
                Object::BgpPeer(o) => {
                    o.validate().unwrap();
                    assert!(o.unsupported_fields().is_empty());
                }
                Object::Service(_) => {}
                other => panic!("unexpected example object {other:?}"),
            }
            snapshot.insert(object);
        }
    }
    assert_eq!(
        (
            snapshot.eips.len(),
            snapshot.bgp_confs.len(),
            snapshot.bgp_peers.len()
        ),
        (1, 1, 1)
    );
    let plan = porter_model::assign::plan(&snapshot);
    let nginx = &plan.services[&porter_model::ObjectKey::new("default", "nginx")];
    assert_eq!(
        nginx.ingress,
        ["192.168.0.91".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(nginx.pool.as_deref(), Some("eip-sample-pool"));
}

/// The drain example (README "Drain before terminate"): an `externalTrafficPolicy: Local`
/// Service whose Deployment sleeps in preStop, within its grace period, and rolls out a new
/// Pod before an old one goes.
#[test]
fn the_drain_example_sleeps_before_terminating_within_its_grace_period() {
    let docs = documents(&deploy_dir().join("examples/service-local.yaml"));
    let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(
        docs.iter()
            .find(|d| d["kind"] == "Service")
            .unwrap()
            .clone(),
    )
    .unwrap();
    let deployment: Deployment = serde_json::from_value(
        docs.iter()
            .find(|d| d["kind"] == "Deployment")
            .unwrap()
            .clone(),
    )
    .unwrap();
    let spec = service.spec.unwrap();
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Local"));
    let dspec = deployment.spec.unwrap();
    let pod = dspec.template.spec.unwrap();
    let sleep = pod.containers[0]
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.sleep.as_ref())
        .expect("a preStop sleep")
        .seconds;
    let grace = pod.termination_grace_period_seconds.unwrap_or(30);
    assert!(
        sleep > 0 && sleep < grace,
        "preStop {sleep} s, grace {grace} s"
    );
    let rolling = dspec.strategy.unwrap().rolling_update.unwrap();
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
}
