//! Response construction: JSON bodies, `Status` errors and the metadata-only (`PartialObjectMetadata`) view.

use std::io;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::{Value, json};

use crate::error::ApiError;

/// Every response body: a full JSON document or a watch stream.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A JSON response with this status code.
pub(crate) fn json(code: StatusCode, value: &Value) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut resp = Response::new(
        Full::new(Bytes::from(bytes))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// An error as a `Status` object with its HTTP code.
pub(crate) fn error(err: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(err.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(code, &err.to_status())
}

/// Which representation the client asked for in `Accept` (kube's `*_metadata` calls ask for metadata only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    Full,
    Metadata,
}

impl View {
    pub(crate) fn from_accept(accept: Option<&str>) -> Self {
        if accept.is_some_and(|a| a.contains("as=PartialObjectMetadata")) {
            Self::Metadata
        } else {
            Self::Full
        }
    }

    /// The object as the client sees it.
    pub(crate) fn object(self, obj: Value) -> Value {
        match self {
            Self::Full => obj,
            Self::Metadata => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            }),
        }
    }

    /// `(kind, apiVersion)` of a list of these objects.
    pub(crate) fn list_type(self, kind: &str, api_version: &str) -> (String, String) {
        match self {
            Self::Full => (format!("{kind}List"), api_version.to_string()),
            Self::Metadata => ("PartialObjectMetadataList".into(), "meta.k8s.io/v1".into()),
        }
    }
}
