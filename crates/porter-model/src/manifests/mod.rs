//! Kubernetes-style YAML manifests as a source of objects.
//!
//! Porter runs without a cluster (the lab, CI, trying it out) by reading the very objects a
//! cluster would hold from YAML files. Parsing is pure: the caller reads the files and hands
//! their text here, so the same code is tested without touching a disk.

use serde::Serialize;
use serde::de::DeserializeOwned;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use porter_api::{BgpConf, BgpPeer, Eip};

use crate::thin::{ThinEndpointSlice, ThinService};
use crate::{ObjectKey, Snapshot};

mod documents;
pub mod fast;
mod head;
pub mod yaml;

pub use documents::{Document, Splitter, documents};

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

/// How a reader decodes Services and EndpointSlices, the bulk of a large folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// Into their whole `k8s-openapi` types: every field checked (the controller, `porter
    /// status`), so a wrong port or selector is reported.
    Whole,
    /// Into [`crate::thin`] types, every field the projections do not read skipped unread, as
    /// the speaker does on the API path: a field the speaker never uses cannot fail it, and
    /// reading does not build what would be dropped at once (about a third of the reading time
    /// at 100k Services; docs/benchmarks.md, "Reading a manifests folder").
    Thin,
}

/// Parses every YAML document of one file held in memory ([`read_document`] on each of its
/// [`documents`]), decoding whole objects.
pub fn parse_documents(source: &str, text: &str) -> (Vec<Object>, Vec<Diagnostic>) {
    parse_documents_as(source, text, Decode::Whole)
}

/// [`parse_documents`], decoding Services and EndpointSlices as `decode` says.
pub fn parse_documents_as(
    source: &str,
    text: &str,
    decode: Decode,
) -> (Vec<Object>, Vec<Diagnostic>) {
    let mut objects = Vec::new();
    let mut diagnostics = Vec::new();
    for document in documents(text) {
        read_document(
            source,
            &document,
            decode,
            &mut |o| objects.push(o),
            &mut diagnostics,
        );
    }
    (objects, diagnostics)
}

/// Reads one document of the file `source`: an object of a kind Porter uses goes to `found`;
/// anything wrong becomes one diagnostic naming the file, the document's number and first
/// line (and its kind and name when known), or a warning for a kind Porter does not read or a
/// field it does not know. A null document is skipped.
///
/// Services, EndpointSlices, Nodes and Namespaces (the bulk of a large folder) are
/// deserialised straight into their types, with no tree in between ([`head`] tells their kind
/// from the text); Services and EndpointSlices as `decode` says. The other kinds go through a JSON value: Porter's own, to report unknown
/// fields; Secrets, whose errors must not quote them.
pub fn read_document(
    source: &str,
    document: &Document,
    decode: Decode,
    found: &mut impl FnMut(Object),
    diagnostics: &mut Vec<Diagnostic>,
) {
    let here = |what: Option<String>| {
        let Document {
            index, first_line, ..
        } = document;
        match what {
            Some(what) => format!("{source} document {index} (line {first_line}, {what})"),
            None => format!("{source} document {index} (line {first_line})"),
        }
    };
    let text = document.text.as_str();
    let line = document.first_line;
    let head = head::Head::of(text);
    let typed = match head.kind() {
        Some(("v1", "Service")) => match decode {
            Decode::Whole => yaml::parse(text, line).map(Object::Service),
            Decode::Thin => {
                thin(text, line).map(|t: ThinService| Object::Service(t.into_service()))
            }
        },
        Some(("v1", "Node")) => yaml::parse(text, line).map(Object::Node),
        Some(("v1", "Namespace")) => yaml::parse(text, line).map(Object::Namespace),
        Some(("discovery.k8s.io/v1", "EndpointSlice")) => match decode {
            Decode::Whole => yaml::parse(text, line).map(Object::EndpointSlice),
            Decode::Thin => {
                thin(text, line).map(|t: ThinEndpointSlice| Object::EndpointSlice(t.into_slice()))
            }
        },
        Some((api_version, kind)) if !read_as_value(api_version, kind) => {
            // A kind Porter does not read: only its syntax is checked.
            match yaml::parse::<serde::de::IgnoredAny>(text, line) {
                Ok(_) => diagnostics.push(Diagnostic {
                    source: here(Some(kind.to_owned())),
                    message: format!("{kind} ({api_version}) is not read by Porter; ignored"),
                }),
                Err(e) => diagnostics.push(Diagnostic {
                    source: here(None),
                    message: format!("not valid YAML: {e}"),
                }),
            }
            return;
        }
        _ => return read_value(document, here, found, diagnostics),
    };
    match typed {
        Ok(object) => found(object),
        // Either the document is wrong, or it was not the kind its text seemed to say (a
        // `kind:` line [`head`] misread): its value tells which.
        Err(error) => match yaml::parse::<serde_json::Value>(text, line) {
            Ok(value) if head.kind() == type_meta(&value) => diagnostics.push(Diagnostic {
                source: here(Some(describe(&value))),
                message: format!("invalid: {error}"),
            }),
            _ => read_value(document, here, found, diagnostics),
        },
    }
}

/// A thin object: by the [`fast`] path when it takes the document, else by serde-saphyr.
fn thin<'a, T: serde::Deserialize<'a>>(text: &'a str, line: usize) -> Result<T, yaml::YamlError> {
    match fast::parse(text) {
        Some(value) => Ok(value),
        None => yaml::parse(text, line),
    }
}

/// Kinds read through a JSON value rather than straight into their type.
fn read_as_value(api_version: &str, kind: &str) -> bool {
    api_version == PORTER_GROUP_VERSION
        || api_version == "network.kubesphere.io/v1alpha1"
        || (api_version, kind) == ("v1", "Secret")
}

/// `apiVersion` and `kind` of a parsed document.
fn type_meta(value: &serde_json::Value) -> Option<(&str, &str)> {
    let field = |name| value.get(name).and_then(serde_json::Value::as_str);
    Some((field("apiVersion")?, field("kind")?))
}

/// [`read_document`] through a JSON value.
fn read_value(
    document: &Document,
    here: impl Fn(Option<String>) -> String,
    found: &mut impl FnMut(Object),
    diagnostics: &mut Vec<Diagnostic>,
) {
    let value = match yaml::parse::<serde_json::Value>(&document.text, document.first_line) {
        Ok(serde_json::Value::Null) => return,
        Ok(value) => value,
        Err(e) => {
            diagnostics.push(Diagnostic {
                source: here(None),
                message: format!("not valid YAML: {e}"),
            });
            return;
        }
    };
    let source = here(Some(describe(&value)));
    match parse_object(&value) {
        Ok((object, warnings)) => {
            diagnostics.extend(warnings.into_iter().map(|message| Diagnostic {
                source: source.clone(),
                message,
            }));
            if let Some(object) = object {
                found(object);
            }
        }
        Err(message) => diagnostics.push(Diagnostic { source, message }),
    }
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
        self.insert_with(object, Some, Some);
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

impl<S, E> Snapshot<S, E> {
    /// Adds or replaces an object, keeping of a Service what `service` makes of it and of an
    /// EndpointSlice what `slice` makes of it (the speaker's projections): `None` removes what
    /// the snapshot held under that name, as a later object replaces an earlier one.
    pub fn insert_with(
        &mut self,
        object: Object,
        service: impl FnOnce(Service) -> Option<S>,
        slice: impl FnOnce(EndpointSlice) -> Option<E>,
    ) {
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
                    match service(o) {
                        Some(kept) => self.services.insert(key, kept),
                        None => self.services.remove(&key),
                    };
                }
            }
            Object::EndpointSlice(o) => {
                if let Some(key) = ObjectKey::of(&o.metadata) {
                    match slice(o) {
                        Some(kept) => self.endpoint_slices.insert(key, kept),
                        None => self.endpoint_slices.remove(&key),
                    };
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

    /// `parse_documents` on a thread, so that a reader looping on bad input fails the test
    /// instead of hanging it (parsing takes microseconds; the bound only stops a loop before it
    /// eats the memory).
    fn parse_bounded(source: &'static str, text: &'static str) -> (Vec<Object>, Vec<Diagnostic>) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(parse_documents(source, text));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("parse_documents returned: it must not loop on bad YAML")
    }

    fn namespaces(objects: &[Object]) -> Vec<&str> {
        objects
            .iter()
            .filter_map(|o| match o {
                Object::Namespace(ns) => ns.metadata.name.as_deref(),
                _ => None,
            })
            .collect()
    }

    /// The speaker's thin reading checks only the fields it reads: a Service wrong elsewhere is
    /// refused whole (the controller and `porter status` report it) and kept thin, with what the
    /// projection reads equal; one wrong where the speaker reads is refused both ways, with the
    /// same diagnostic (serde-saphyr words both).
    #[test]
    fn thin_reading_checks_the_fields_the_speaker_reads() {
        let wrong_port = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n\
            spec:\n  type: LoadBalancer\n  ports:\n  - port: eighty\n";
        let (whole, diags) = parse_documents_as("s.yaml", wrong_port, Decode::Whole);
        assert!(whole.is_empty() && diags.len() == 1, "{diags:?}");
        let (thin, diags) = parse_documents_as("s.yaml", wrong_port, Decode::Thin);
        assert!(diags.is_empty(), "{diags:?}");
        let [Object::Service(svc)] = &thin[..] else {
            panic!("{thin:?}")
        };
        assert_eq!(svc.metadata.name.as_deref(), Some("web"));
        assert_eq!(
            svc.spec.as_ref().and_then(|s| s.type_.as_deref()),
            Some("LoadBalancer")
        );

        let wrong_name = "apiVersion: v1\nkind: Service\nmetadata:\n  name: [web]\n";
        let (whole, whole_diags) = parse_documents_as("s.yaml", wrong_name, Decode::Whole);
        let (thin, thin_diags) = parse_documents_as("s.yaml", wrong_name, Decode::Thin);
        assert!(whole.is_empty() && thin.is_empty());
        assert_eq!(whole_diags.len(), 1);
        assert_eq!(whole_diags, thin_diags);

        // An empty `metadata:` reads both ways (found by the manifests fuzz target).
        for kind in [
            "apiVersion: v1\nkind: Service",
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice",
        ] {
            let text = format!("{kind}\nmetadata:\n");
            let (whole, _) = parse_documents_as("s.yaml", &text, Decode::Whole);
            let (thin, diags) = parse_documents_as("s.yaml", &text, Decode::Thin);
            assert_eq!((whole.len(), thin.len()), (1, 1), "{text}: {diags:?}");
        }
    }

    #[test]
    fn a_syntax_error_costs_its_document_only_with_one_diagnostic_naming_it_and_its_line() {
        let (objects, diags) = parse_bounded("eip.yaml", NO_BREAK_SPACE);
        // The documents before and after the broken one are read.
        assert_eq!(namespaces(&objects), ["before", "after"]);
        assert_eq!(objects.len(), 2);
        assert_eq!(diags.len(), 1, "{diags:?}");
        let message = diags[0].to_string();
        assert!(
            message.starts_with("eip.yaml document 2 (line 5): not valid YAML: "),
            "{message}"
        );
        // The line of the file (13, the first line after the one with the no-break space), not
        // of the document.
        assert!(message.contains("at line 13, column"), "{message}");
    }

    /// Five documents, three of them broken in different ways.
    const SEVERAL_BAD: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: one}
---
apiVersion: v1
kind: Service
metadata: {name: tabbed, namespace: default}
spec:
\ttype: LoadBalancer
---
apiVersion: v1
kind: Service
metadata: {name: ports, namespace: default}
spec:
  ports: 3
---
apiVersion: v1
kind: Namespace
metadata: {name: \"unclosed}
---
apiVersion: v1
kind: Namespace
metadata: {name: two}
";

    #[test]
    fn several_bad_documents_in_one_file_are_each_reported_once_with_their_line() {
        let (objects, diags) = parse_bounded("many.yaml", SEVERAL_BAD);
        assert_eq!(namespaces(&objects), ["one", "two"]);
        assert_eq!(objects.len(), 2);
        let messages: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        // A tab in an indentation: a syntax error on line 9.
        assert!(
            messages[0].starts_with("many.yaml document 2 (line 4): not valid YAML: "),
            "{messages:#?}"
        );
        assert!(messages[0].contains("at line 9, column 2"), "{messages:#?}");
        // A well-formed document of the wrong shape: named, with the line of the bad field.
        assert!(
            messages[1].starts_with("many.yaml document 3 (line 10, Service ports): invalid: "),
            "{messages:#?}"
        );
        assert!(messages[1].contains("at line 15, column"), "{messages:#?}");
        // A quoted string left open: the `---` after it still ends its document.
        assert!(
            messages[2].starts_with("many.yaml document 4 (line 16): not valid YAML: "),
            "{messages:#?}"
        );
        assert!(messages[2].contains("at line 19, column"), "{messages:#?}");
    }

    /// 9^5 = 59 049 replayed events from 400 bytes: within the crate's default bound (a million
    /// per document), refused by Porter's (the document's size).
    #[test]
    fn an_alias_bomb_costs_its_document_only() {
        let mut text =
            String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n");
        text.push_str("  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (name, of) in ["ba", "cb", "dc", "ed"].map(|p| (&p[..1], &p[1..])) {
            text.push_str(&format!(
                "  {name}: &{name} [{}]\n",
                vec![format!("*{of}"); 9].join(",")
            ));
        }
        text.push_str("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: after}\n");
        let text: &'static str = text.leak();
        let (objects, diags) = parse_bounded("lol.yaml", text);
        assert_eq!(namespaces(&objects), ["after"]);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(
            diags[0]
                .to_string()
                .starts_with("lol.yaml document 1 (line 1): not valid YAML: "),
            "{}",
            diags[0]
        );
    }

    #[test]
    fn typed_and_value_readings_agree() {
        // Flow style and JSON (no `kind:` line to scan) read the same objects as block style.
        let (objects, diags) = parse_documents(
            "f.yaml",
            "{apiVersion: v1, kind: Service, metadata: {name: a, namespace: x}}\n---\n\
             {\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n1\"}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(objects.len(), 3);
        assert!(
            matches!((&objects[0], &objects[2]), (Object::Service(a), Object::Service(b)) if a == b)
        );
        // A `kind:` line the scan misreads (the second `kind:` wins in no parser: duplicate
        // keys are an error) is parsed as a value, not reported as a wrong kind.
        let (objects, diags) = parse_documents(
            "g.yaml",
            "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n",
        );
        assert_eq!((objects.len(), diags.len()), (1, 0));
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
                .starts_with("f.yaml document 1 (line 1, Service a): invalid"),
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
            message.starts_with("s.yaml document 1 (line 1, Secret s): invalid Secret"),
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
