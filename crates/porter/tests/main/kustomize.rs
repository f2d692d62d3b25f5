//! `kubectl apply -k deploy/` installs exactly what `kubectl apply -f deploy/crds.yaml -f
//! deploy/porter.yaml` does, with the image set in one place, and the Kubernetes 1.28-1.30
//! component removes exactly the CRD rules those versions cannot compile.
//!
//! Rendered by `kubectl kustomize` (kustomize is built into kubectl). Without kubectl on PATH the
//! tests are skipped with a message, but fail under CI (`CI` set), whose machines have it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const IMAGE: &str = "ghcr.io/porter-lb/porter";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .canonicalize()
        .unwrap()
}

fn kubectl_available() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        crate::support::cannot_run(
            "kustomize",
            "no kubectl on PATH to render deploy/kustomization.yaml",
        );
    }
    found
}

fn parse_yaml_stream(text: &str, what: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text).unwrap_or_else(|e| panic!("{what}: not YAML: {e}"))
}

/// `kubectl kustomize DIR`, as objects.
fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_yaml_stream(&String::from_utf8_lossy(&out.stdout), "kustomize output")
}

fn plain_manifests() -> Vec<Value> {
    ["crds.yaml", "porter.yaml"]
        .iter()
        .flat_map(|f| {
            let path = deploy_dir().join(f);
            parse_yaml_stream(&std::fs::read_to_string(&path).unwrap(), f)
        })
        .collect()
}

/// Objects by (kind, namespace, name): kustomize orders them its own way, and writes `0.0` as
/// `0` (the same JSON number to the API server), so numbers are compared by value.
fn by_identity(objects: Vec<Value>) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for mut o in objects {
        numbers_as_floats(&mut o);
        let id = format!(
            "{} {}/{}",
            o["kind"].as_str().unwrap_or("?"),
            o["metadata"]["namespace"].as_str().unwrap_or(""),
            o["metadata"]["name"].as_str().unwrap_or("?")
        );
        assert!(map.insert(id.clone(), o).is_none(), "{id} appears twice");
    }
    map
}

fn numbers_as_floats(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(numbers_as_floats),
        Value::Object(map) => map.values_mut().for_each(numbers_as_floats),
        _ => {}
    }
}

fn assert_same_objects(got: BTreeMap<String, Value>, want: BTreeMap<String, Value>, what: &str) {
    let got_ids: Vec<&String> = got.keys().collect();
    let want_ids: Vec<&String> = want.keys().collect();
    assert_eq!(got_ids, want_ids, "{what}: not the same objects");
    for (id, object) in &want {
        assert!(
            got[id] == *object,
            "{what}: {id} differs from the plain manifest"
        );
    }
}

#[test]
fn kustomize_installs_exactly_the_plain_manifests() {
    if !kubectl_available() {
        return;
    }
    assert_same_objects(
        by_identity(kustomize(&deploy_dir())),
        by_identity(plain_manifests()),
        "kubectl kustomize deploy/",
    );
}

/// Every container image of the objects.
fn images(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .flat_map(|o| {
            o["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| c["image"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_image_is_set_in_one_place_and_names_this_release() {
    let kustomization = parse_yaml_stream(
        &std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap(),
        "kustomization.yaml",
    );
    let entries = kustomization[0]["images"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "one image, set once");
    assert_eq!(entries[0]["name"], IMAGE);
    let tag = entries[0]["newTag"].as_str().unwrap();
    assert_eq!(
        tag,
        env!("CARGO_PKG_VERSION"),
        "deploy/kustomization.yaml installs another release than this one"
    );
    let want = format!("{IMAGE}:{tag}");
    let plain = images(&plain_manifests());
    assert_eq!(plain.len(), 2, "the controller and the speaker");
    for image in plain {
        assert_eq!(
            image, want,
            "deploy/porter.yaml and deploy/kustomization.yaml disagree"
        );
    }
    if kubectl_available() {
        // a user's override in the kustomization reaches both workloads
        let dir = overlay(
            "image",
            "resources: [{deploy}]\nimages:\n  - name: ghcr.io/porter-lb/porter\n    newName: registry.example/porter\n    newTag: test\n",
        );
        let rendered = kustomize(&dir);
        assert_eq!(images(&rendered), vec!["registry.example/porter:test"; 2]);
    }
}

/// An overlay of deploy/ in a folder of its own; `{deploy}` in `text` becomes the relative path
/// to deploy/ (kustomize refuses absolute ones).
fn overlay(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kustomize-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let deploy = relative(&dir, &deploy_dir());
    std::fs::write(
        dir.join("kustomization.yaml"),
        text.replace("{deploy}", &deploy),
    )
    .unwrap();
    dir
}

/// `to` relative to `from` (both absolute, canonical).
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// Whether a CEL rule calls the IP/CIDR libraries of Kubernetes 1.31+.
fn calls_ip_library(rule: &str) -> bool {
    ["isIP(", "isCIDR(", "ip(", "cidr("].iter().any(|f| {
        rule.match_indices(f).any(|(at, _)| {
            // `ip(` inside a longer name (`isIP(`, `skip(`) is not a call of `ip`
            !rule[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// Removes the IP/CIDR rules from every `x-kubernetes-validations` list (and lists left empty);
/// returns how many it removed.
fn strip_ip_rules(v: &mut Value) -> usize {
    let mut removed = 0;
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(rules)) = map.get_mut("x-kubernetes-validations") {
                let before = rules.len();
                rules.retain(|r| !calls_ip_library(r["rule"].as_str().unwrap_or_default()));
                removed += before - rules.len();
                if rules.is_empty() {
                    map.remove("x-kubernetes-validations");
                }
            }
            removed += map.values_mut().map(strip_ip_rules).sum::<usize>();
        }
        Value::Array(items) => removed += items.iter_mut().map(strip_ip_rules).sum::<usize>(),
        _ => {}
    }
    removed
}

#[test]
fn the_pre_1_31_component_removes_exactly_the_ip_rules() {
    assert!(calls_ip_library("isIP(self)") && calls_ip_library("cidr(self).masked()"));
    assert!(!calls_ip_library("self.skip(1)") && !calls_ip_library("self.size() > 0"));
    if !kubectl_available() {
        return;
    }
    let dir = overlay(
        "pre-1.31",
        "resources: [{deploy}]\ncomponents: [{deploy}/components/pre-1.31]\n",
    );
    let mut want = plain_manifests();
    let removed: usize = want.iter_mut().map(strip_ip_rules).sum();
    assert!(removed >= 4, "the CRDs' IP/CIDR rules: {removed}");
    let got = kustomize(&dir);
    let mut again = got.clone();
    assert_eq!(
        again.iter_mut().map(strip_ip_rules).sum::<usize>(),
        0,
        "an IP/CIDR rule is left for a 1.28-1.30 API server to refuse"
    );
    assert_same_objects(
        by_identity(got),
        by_identity(want),
        "deploy/ with the pre-1.31 component",
    );
}
