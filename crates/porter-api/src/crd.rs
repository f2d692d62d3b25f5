//! The CustomResourceDefinitions Porter installs, as objects and as the YAML `porter crds` prints.
//!
//! Two adjustments are made to what kube-derive generates, both for OpenELB parity:
//!
//! - `nullable: true` is removed. OpenELB's schemas (controller-gen) have none, so the API server prunes an
//!   explicit `null` as if the field were absent; that also keeps `has()` in the CEL rules meaning "set".
//!   Porter never writes `null` (every `None` is skipped when serialising).
//! - A `v1alpha1` version is listed with `served: false`. OpenELB's CRDs served v1alpha1 and clusters that
//!   started on OpenELB v0.3 may still list it in `status.storedVersions`; the API server rejects a CRD update
//!   that drops a stored version, so without it `kubectl apply` of Porter's CRDs would fail there. Not serving it
//!   turns v1alpha1 manifests into a clear "no matches for kind" error instead of OpenELB's silent field loss
//!   (it never converted v1alpha1 fields such as `port`/`routerID`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, CustomResourceValidation,
    JSONSchemaProps,
};
use kube::CustomResourceExt;
use serde_json::Value;

use crate::{BgpConf, BgpPeer, Eip};

/// The version Porter serves and stores (OpenELB's storage version).
const SERVED_VERSION: &str = "v1alpha2";
/// OpenELB's older version: kept in the CRD, never served (see the module docs).
const LEGACY_VERSION: &str = "v1alpha1";

/// The three CRDs (Eip, BgpConf, BgpPeer), in that fixed order so generated manifests are stable.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [Eip::crd(), BgpConf::crd(), BgpPeer::crd()]
        .into_iter()
        .map(adjust)
        .collect()
}

/// The CRDs as one multi-document YAML stream (each document starts with `---`). Deterministic: the same
/// binary always prints the same bytes, so CI can diff it against the committed manifests.
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| {
            // A CRD is plain data (strings, maps, JSON values): serialising it cannot fail.
            let doc = serde_saphyr::to_string_with_options(crd, yaml_style())
                .expect("a CustomResourceDefinition always serialises to YAML");
            format!("---\n{doc}")
        })
        .collect()
}

/// One line per string however long (a CEL rule reads best whole; `kubectl` output does the
/// same), block style (`|`) for the multi-line descriptions.
fn yaml_style() -> serde_saphyr::SerializerOptions {
    serde_saphyr::ser_options! {
        folded_wrap_chars: usize::MAX,
    }
}

/// Applies the module-level adjustments to one generated CRD.
fn adjust(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            *schema = without_nullable(schema);
        }
    }
    crd.spec.versions.push(legacy_version());
    crd
}

/// `schema` with every `nullable` key removed.
fn without_nullable(schema: &JSONSchemaProps) -> JSONSchemaProps {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("nullable");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    // Round trip through JSON: JSONSchemaProps nests schemas in many differently typed fields.
    let mut value = serde_json::to_value(schema).expect("a schema always serialises to JSON");
    strip(&mut value);
    serde_json::from_value(value).expect("removing `nullable` keeps the schema well-formed")
}

/// The unserved v1alpha1 entry. Its schema only has to be structural; nothing is validated against it.
fn legacy_version() -> CustomResourceDefinitionVersion {
    CustomResourceDefinitionVersion {
        name: LEGACY_VERSION.to_owned(),
        served: false,
        storage: false,
        deprecated: Some(true),
        deprecation_warning: Some(format!(
            "network.kubesphere.io/{LEGACY_VERSION} is not served by Porter; use {SERVED_VERSION}"
        )),
        schema: Some(CustomResourceValidation {
            open_api_v3_schema: Some(JSONSchemaProps {
                type_: Some("object".to_owned()),
                x_kubernetes_preserve_unknown_fields: Some(true),
                ..JSONSchemaProps::default()
            }),
        }),
        ..CustomResourceDefinitionVersion::default()
    }
}
