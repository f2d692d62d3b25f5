//! Kubernetes-style YAML manifests as a source of objects.
//!
//! Porter runs without a cluster (the lab, CI, trying it out) by reading the very objects a
//! cluster would hold from YAML files. Parsing is pure: the caller reads the files and hands
//! their text here, so the same code is tested without touching a disk.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use porter_api::{BgpConf, BgpPeer, Eip};

use crate::{ObjectKey, Snapshot};

/// One object read from a manifest, of a kind Porter uses.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived: each object is moved into a Snapshot once"
)]
pub enum Object {
    /// An Eip pool.
    Eip(Eip),
    /// The BGP configuration of the speakers.
    BgpConf(BgpConf),
    /// A BGP neighbour.
    BgpPeer(BgpPeer),
    /// A Service.
    Service(Service),
    /// The endpoints of a Service.
    EndpointSlice(EndpointSlice),
    /// A Node.
    Node(Node),
    /// A Namespace (for Eip namespace selectors).
    Namespace(Namespace),
    /// A Secret (for BgpPeer passwords), with `stringData` already merged into `data`.
    Secret(Secret),
}

/// A problem found while reading manifests: shown to the user, never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it came from: `file.yaml` and the document's kind/name when known.
    pub source: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

const PORTER_GROUP_VERSION: &str = "network.kubesphere.io/v1alpha2";

/// The YAML documents of `text`, in order, ending with the first one that does not parse.
///
/// serde_yaml's multi-document reader cannot resume after a syntax error: every later call
/// yields an error again, for ever, so a loop that skips a bad document and reads on never
/// ends and keeps every error (a no-break space in an indentation, as in an Eip example of
/// OpenELB's documentation, hung Porter and grew past 600 MB in 3 s). Stopping at the first
/// error is the only reading that ends; its message gives the line and column.
pub fn yaml_documents(
    text: &str,
) -> impl Iterator<Item = Result<serde_yaml::Value, serde_yaml::Error>> + '_ {
    let mut documents = serde_yaml::Deserializer::from_str(text);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let value = serde_yaml::Value::deserialize(documents.next()?);
        failed = value.is_err();
        Some(value)
    })
}

/// Parses every YAML document of one file. Documents of kinds Porter does not use are
/// skipped with a diagnostic; a document that does not parse yields a diagnostic naming it
/// and does not stop the other documents.
pub fn parse_documents(source: &str, text: &str) -> (Vec<Object>, Vec<Diagnostic>) {
    let mut objects = Vec::new();
    let mut diagnostics = Vec::new();
    for (index, document) in yaml_documents(text).enumerate() {
        let here = format!("{source} (document {})", index + 1);
        let value = match document {
            Ok(serde_yaml::Value::Null) => continue,
            Ok(v) => v,
            Err(e) => {
                diagnostics.push(Diagnostic {
                    source: here,
                    message: format!(
                        "not valid YAML: {e}; the documents after it in this file are not read"
                    ),
                });
                continue;
            }
        };
        let value = match serde_json::to_value(&value) {
            Ok(v) => v,
            Err(e) => {
                diagnostics.push(Diagnostic {
                    source: here,
                    message: format!("not a Kubernetes object: {e}"),
                });
                continue;
            }
        };
        match parse_object(&value) {
            Ok((object, warnings)) => {
                let source = format!("{source} ({})", describe(&value));
                diagnostics.extend(warnings.into_iter().map(|message| Diagnostic {
                    source: source.clone(),
                    message,
                }));
                if let Some(object) = object {
                    objects.push(object);
                }
            }
            Err(message) => diagnostics.push(Diagnostic {
                source: format!("{source} ({})", describe(&value)),
                message,
            }),
        }
    }
    (objects, diagnostics)
}

fn describe(value: &serde_json::Value) -> String {
    let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
    let name = value
        .pointer("/metadata/name")
        .and_then(|k| k.as_str())
        .unwrap_or("?");
    format!("{kind} {name}")
}

type Parsed = (Option<Object>, Vec<String>);

fn parse_object(value: &serde_json::Value) -> Result<Parsed, String> {
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    match (api_version, kind) {
        (PORTER_GROUP_VERSION, "Eip") => porter_kind(value).map(|(o, w)| (Some(Object::Eip(o)), w)),
        (PORTER_GROUP_VERSION, "BgpConf") => {
            porter_kind(value).map(|(o, w)| (Some(Object::BgpConf(o)), w))
        }
        (PORTER_GROUP_VERSION, "BgpPeer") => {
            porter_kind(value).map(|(o, w)| (Some(Object::BgpPeer(o)), w))
        }
        ("network.kubesphere.io/v1alpha1", _) => Err(format!(
            "apiVersion {api_version} is OpenELB's v0.3 API, whose field names differ; rewrite it as {PORTER_GROUP_VERSION}"
        )),
        ("v1", "Service") => builtin(value).map(|o| (Some(Object::Service(o)), vec![])),
        ("v1", "Node") => builtin(value).map(|o| (Some(Object::Node(o)), vec![])),
        ("v1", "Namespace") => builtin(value).map(|o| (Some(Object::Namespace(o)), vec![])),
        ("v1", "Secret") => secret(value).map(|o| (Some(Object::Secret(o)), vec![])),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            builtin(value).map(|o| (Some(Object::EndpointSlice(o)), vec![]))
        }
        _ => Ok((
            None,
            vec![format!(
                "{kind} ({api_version}) is not read by Porter; ignored"
            )],
        )),
    }
}

fn porter_kind<K: DeserializeOwned + Serialize>(
    value: &serde_json::Value,
) -> Result<(K, Vec<String>), String> {
    let (object, unknown) =
        porter_api::unknown_fields::<K>(value).map_err(|e| format!("invalid: {e}"))?;
    let warnings = unknown
        .into_iter()
        .map(|path| format!("{path} is not known to Porter and was ignored"))
        .collect();
    Ok((object, warnings))
}

fn builtin<K: DeserializeOwned>(value: &serde_json::Value) -> Result<K, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("invalid: {e}"))
}

/// Parses a Secret the way the API server stores it: `stringData` merged into `data` (a `stringData` key wins
/// over the same `data` key) and then dropped. The error never quotes the document, which holds the secret.
fn secret(value: &serde_json::Value) -> Result<Secret, String> {
    let mut secret: Secret = serde_json::from_value(value.clone()).map_err(|_| {
        "invalid Secret: data must be a map of base64 strings and stringData a map of strings (contents not shown)"
            .to_owned()
    })?;
    if let Some(string_data) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(Default::default);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    Ok(secret)
}

impl Snapshot {
    /// Adds or replaces an object (identity = kind + name, and namespace where namespaced).
    pub fn insert(&mut self, object: Object) {
        match object {
            Object::Eip(o) => {
                self.eips
                    .insert(o.metadata.name.clone().unwrap_or_default(), o);
            }
            Object::BgpConf(o) => {
                self.bgp_confs
                    .insert(o.metadata.name.clone().unwrap_or_default(), o);
            }
            Object::BgpPeer(o) => {
                self.bgp_peers
                    .insert(o.metadata.name.clone().unwrap_or_default(), o);
            }
            Object::Service(o) => {
                if let Some(key) = ObjectKey::of(&o.metadata) {
                    self.services.insert(key, o);
                }
            }
            Object::EndpointSlice(o) => {
                if let Some(key) = ObjectKey::of(&o.metadata) {
                    self.endpoint_slices.insert(key, o);
                }
            }
            Object::Node(o) => {
                self.nodes
                    .insert(o.metadata.name.clone().unwrap_or_default(), o);
            }
            Object::Namespace(o) => {
                self.namespaces
                    .insert(o.metadata.name.clone().unwrap_or_default(), o);
            }
            Object::Secret(o) => {
                if let Some(key) = ObjectKey::of(&o.metadata) {
                    self.secrets.insert(key, o);
                }
            }
        }
    }

    /// Applies only the `status` of `object` to the object of the same identity, as the
    /// status subresource does: the spec the user wrote stays authoritative. Returns false
    /// when no such object exists (a status for a deleted object is stale and ignored).
    pub fn overlay_status(&mut self, object: Object) -> bool {
        match object {
            Object::Service(o) => ObjectKey::of(&o.metadata)
                .and_then(|key| self.services.get_mut(&key))
                .map(|svc| svc.status = o.status)
                .is_some(),
            Object::Eip(o) => self
                .eips
                .get_mut(o.metadata.name.as_deref().unwrap_or_default())
                .map(|eip| eip.status = o.status)
                .is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: eip-pool
spec:
  address: 192.168.0.91-192.168.0.100
  protocol: bgp
  fancyNewField: 3
---
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    lb.kubesphere.io/v1alpha1: openelb
spec:
  type: LoadBalancer
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
apiVersion: network.kubesphere.io/v1alpha1
kind: BgpConf
metadata:
  name: default
spec:
  as: 1
"#;

    /// An Eip as OpenELB's documentation shows it, with a no-break space (U+00A0) in an
    /// indentation, between two good documents.
    const NO_BREAK_SPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: before\n---\n\
        apiVersion: network.kubesphere.io/v1alpha2\nkind: Eip\nmetadata:\n  name: eip-sample-pool\n\
        spec:\n  address: 192.168.0.91-192.168.0.100\n\u{a0} protocol: bgp\n  interface: eth0\n---\n\
        apiVersion: v1\nkind: Namespace\nmetadata:\n  name: after\n";

    #[test]
    fn a_syntax_error_ends_the_file_with_one_diagnostic_naming_the_document_and_line() {
        // On a thread, so that a reader looping on the error fails this test instead of hanging it
        // (parsing takes microseconds; the bound only stops a loop before it eats the memory).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(parse_documents("eip.yaml", NO_BREAK_SPACE));
        });
        let (objects, diags) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("parse_documents returned: it must not loop on a YAML syntax error");
        // The document before the error is read; the one after it cannot be (the reader cannot
        // resume), and the diagnostic says so.
        assert_eq!(objects.len(), 1);
        assert!(
            matches!(&objects[0], Object::Namespace(ns) if ns.metadata.name.as_deref() == Some("before"))
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        let message = diags[0].to_string();
        assert!(
            message.starts_with("eip.yaml (document 2): not valid YAML: "),
            "{message}"
        );
        // The line of the file (13, the first line after the one with the no-break space), not of
        // the document.
        assert!(message.contains("at line 13 column"), "{message}");
        assert!(
            message.ends_with("the documents after it in this file are not read"),
            "{message}"
        );
    }

    #[test]
    fn yaml_documents_end_after_the_first_error() {
        // `take`: a reader that never ends fails here rather than hanging.
        let documents: Vec<_> = yaml_documents(NO_BREAK_SPACE).take(10).collect();
        assert_eq!(documents.len(), 2);
        assert!(documents[0].is_ok() && documents[1].is_err());
        assert_eq!(
            yaml_documents("a: 1\n---\nb: 2\n")
                .filter(Result::is_ok)
                .count(),
            2
        );
    }

    #[test]
    fn parses_known_kinds_and_reports_the_rest() {
        let (objects, diags) = parse_documents("pool.yaml", FILE);
        assert_eq!(objects.len(), 2);
        let messages: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert!(
            messages.iter().any(|m| m.contains("Eip eip-pool")
                && m.contains("spec.fancyNewField is not known to Porter")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("Deployment (apps/v1) is not read by Porter")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("OpenELB's v0.3 API")),
            "{messages:?}"
        );
    }

    #[test]
    fn a_broken_document_does_not_hide_the_others() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: 3}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\n";
        let (objects, diags) = parse_documents("f.yaml", text);
        assert_eq!(objects.len(), 1);
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0]
                .to_string()
                .starts_with("f.yaml (Service a): invalid"),
            "{}",
            diags[0]
        );
    }

    #[test]
    fn secrets_merge_string_data_into_data() {
        let text = r#"
apiVersion: v1
kind: Secret
metadata: {name: bgp, namespace: kube-system}
data:
  password: czNjcmV0
  other: b3RoZXI=
stringData:
  other: plain
  extra: more
---
apiVersion: v1
kind: Secret
metadata: {name: only-strings}
stringData:
  password: pw
"#;
        let (objects, diags) = parse_documents("s.yaml", text);
        assert!(diags.is_empty(), "{diags:?}");
        let mut snap = Snapshot::default();
        for o in objects {
            snap.insert(o);
        }
        let secret = &snap.secrets[&ObjectKey::new("kube-system", "bgp")];
        assert!(secret.string_data.is_none());
        assert_eq!(
            snap.secret_value("kube-system", "bgp", "password"),
            Ok(&b"s3cret"[..])
        );
        assert_eq!(
            snap.secret_value("kube-system", "bgp", "other"),
            Ok(&b"plain"[..])
        );
        assert_eq!(
            snap.secret_value("kube-system", "bgp", "extra"),
            Ok(&b"more"[..])
        );
        assert_eq!(
            snap.secret_value("default", "only-strings", "password"),
            Ok(&b"pw"[..])
        );
        assert_eq!(
            snap.secret_value("kube-system", "bgp", "nope"),
            Err("Secret kube-system/bgp has no key \"nope\"".to_owned())
        );
        assert_eq!(
            snap.secret_value("default", "bgp", "password"),
            Err("Secret default/bgp not found".to_owned())
        );
    }

    #[test]
    fn a_broken_secret_is_reported_without_its_contents() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  password: \"not base64 hunter2!\"\n";
        let (objects, diags) = parse_documents("s.yaml", text);
        assert!(objects.is_empty());
        assert_eq!(diags.len(), 1);
        let message = diags[0].to_string();
        assert!(
            message.starts_with("s.yaml (Secret s): invalid Secret"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn namespace_defaults_and_status_overlay() {
        let (objects, _) = parse_documents("f.yaml", FILE);
        let mut snap = Snapshot::default();
        for o in objects {
            snap.insert(o);
        }
        let key = ObjectKey::new("default", "web");
        assert!(snap.services.contains_key(&key));
        let status: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "ClusterIP"},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.0.91"}]}}
        }))
        .unwrap();
        assert!(snap.overlay_status(Object::Service(status)));
        let svc = &snap.services[&key];
        assert_eq!(
            svc.spec.as_ref().unwrap().type_.as_deref(),
            Some("LoadBalancer"),
            "spec must stay the user's"
        );
        assert!(svc.status.is_some());
    }
}
