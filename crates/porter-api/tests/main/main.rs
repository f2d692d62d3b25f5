//! porter-api's public-API tests: OpenELB compatibility, the generated CRDs and their CEL rules. (The validation
//! of objects into checked values is porter-model's, and so are its tests.)

mod cel_rules;
mod compat;
mod crd;
mod unsupported;

/// Parses a YAML fixture into JSON, as the API server would hand it over.
pub(crate) fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("fixture is valid YAML")
}
