//! Request dispatch: record the request, apply the outage, route by method and path, and turn each verb
//! into a store call. Malformed input always becomes a `Status` (400/404/405/415/422), never a panic.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::patch::{self, PatchError};
use crate::paths::{Query, Target, parse_path};
use crate::response::{self, Body, View};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::server::{Outage, RecordedRequest, Shared};
use crate::store::{Filter, Part, WriteOpts};
use crate::watch::{self, WatchRequest};

/// Largest accepted request body (the real API server's limit is 3 MiB for most writes).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The hyper service: one request in, one response out (or a dropped connection during an outage).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, io::Error> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(response::error(&ApiError::BadRequest(
                "unable to read the request body".into(),
            )));
        }
    };
    let content_type = header_str(&parts, header::CONTENT_TYPE);
    shared.record(RecordedRequest {
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), ToString::to_string),
        content_type: content_type.map(str::to_string),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    tracing::debug!(method = %parts.method, uri = %parts.uri, "fake API request");
    match shared.outage() {
        Outage::None => {}
        Outage::ServiceUnavailable => return Ok(response::error(&ApiError::ServiceUnavailable)),
        Outage::ConnectionDrop => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "simulated API server outage",
            ));
        }
    }
    Ok(route(&shared, &parts, &body).unwrap_or_else(|err| response::error(&err)))
}

fn header_str(parts: &Parts, name: header::HeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn route(shared: &Arc<Shared>, parts: &Parts, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let path = parts.uri.path();
    if path == "/version" && parts.method == Method::GET {
        return Ok(response::json(StatusCode::OK, &version()));
    }
    let target = parse_path(shared.store.resources(), path)?;
    if let Some(name) = target.name.as_deref()
        && shared.is_forbidden(
            shared.store.resources().get(target.res).plural,
            target.namespace.as_deref(),
            name,
        )
    {
        return Err(forbidden(shared, &target, &parts.method, name));
    }
    let query = Query::parse(parts.uri.query());
    let view = View::from_accept(header_str(parts, header::ACCEPT));
    let ctx = Ctx {
        shared,
        target: &target,
        query: &query,
        view,
        opts: WriteOpts {
            dry_run: query.dry_run(),
            field_manager: query.get("fieldManager").map(str::to_string),
        },
    };
    let part = if target.status {
        Part::Status
    } else {
        Part::Main
    };
    match (&parts.method, target.name.as_deref()) {
        (&Method::GET, None) if query.flag("watch") => ctx.watch(),
        (&Method::GET, None) => ctx.list(),
        (&Method::GET, Some(name)) => ctx.get(name),
        (&Method::POST, None) => ctx.create(body),
        (&Method::PUT, Some(name)) => ctx.replace(name, part, body),
        (&Method::PATCH, Some(name)) => {
            ctx.patch(name, part, header_str(parts, header::CONTENT_TYPE), body)
        }
        (&Method::DELETE, Some(name)) if !target.status => ctx.delete(name, body),
        (&Method::DELETE, None) => ctx.delete_collection(body),
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The 403 RBAC gives for `method` on the object `name` of `target`.
fn forbidden(shared: &Shared, target: &Target, method: &Method, name: &str) -> ApiError {
    let info = shared.store.resources().get(target.res);
    let verb = match *method {
        Method::GET => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        Method::POST => "create",
        _ => "access",
    };
    ApiError::Forbidden {
        resource: info.plural.to_owned(),
        group: info.group.to_owned(),
        name: name.to_owned(),
        verb: verb.to_owned(),
        scope: target
            .namespace
            .as_ref()
            .map(|ns| format!(" in the namespace \"{ns}\""))
            .unwrap_or_default(),
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-porter-fake-api",
        "platform": "linux/amd64",
    })
}

/// One request's decoded context.
struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    target: &'a Target,
    query: &'a Query,
    view: View,
    opts: WriteOpts,
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

impl Ctx<'_> {
    fn ns(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }

    fn info(&self) -> crate::resources::ResourceInfo {
        *self.shared.store.resources().get(self.target.res)
    }

    fn filter(&self) -> Result<Filter, ApiError> {
        let bad = |e: crate::selectors::SelectorError| ApiError::BadRequest(e.to_string());
        Ok(Filter {
            namespace: self.target.namespace.clone(),
            labels: LabelSelector::parse(self.query.get("labelSelector").unwrap_or_default())
                .map_err(bad)?,
            fields: FieldSelector::parse(self.query.get("fieldSelector").unwrap_or_default())
                .map_err(bad)?,
        })
    }

    fn object(&self, code: StatusCode, obj: Value) -> Result<Response<Body>, ApiError> {
        Ok(response::json(code, &self.view.object(obj)))
    }

    fn list(&self) -> Result<Response<Body>, ApiError> {
        let filter = self.filter()?;
        let limit = self
            .query
            .number("limit")?
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        let page = self.shared.store.list(
            self.target.res,
            &filter,
            limit,
            self.query.get("continue").filter(|c| !c.is_empty()),
        )?;
        let info = self.info();
        let (kind, api_version) = self.view.list_type(info.kind, &info.api_version());
        let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
        if let Some(token) = page.continue_token {
            metadata["continue"] = json!(token);
        }
        let items: Vec<Value> = page
            .items
            .into_iter()
            .map(|o| self.view.object(o))
            .collect();
        let list =
            json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items});
        Ok(response::json(StatusCode::OK, &list))
    }

    fn watch(&self) -> Result<Response<Body>, ApiError> {
        let send_initial_events = self.query.flag("sendInitialEvents");
        let bookmarks = self.query.flag("allowWatchBookmarks");
        if send_initial_events && !bookmarks {
            return Err(ApiError::invalid(
                "ListOptions",
                "",
                "allowWatchBookmarks: Required value: allowWatchBookmarks must be true when sendInitialEvents is true",
            ));
        }
        let from = match self.query.get("resourceVersion") {
            _ if send_initial_events => None,
            None | Some("" | "0") => None,
            Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!("invalid resourceVersion {rv:?}: not a number"))
            })?),
        };
        let timeout = self
            .query
            .number("timeoutSeconds")?
            .map(Duration::from_secs);
        Ok(watch::respond(
            self.shared.clone(),
            WatchRequest {
                res: self.target.res,
                filter: self.filter()?,
                from,
                initial_events_end: send_initial_events,
                bookmarks,
                timeout,
                view: self.view,
            },
        ))
    }

    fn get(&self, name: &str) -> Result<Response<Body>, ApiError> {
        let obj = self.shared.store.get(self.target.res, self.ns(), name)?;
        self.object(StatusCode::OK, obj)
    }

    fn create(&self, body: &[u8]) -> Result<Response<Body>, ApiError> {
        if self.info().namespaced && self.ns().is_none() {
            return Err(ApiError::MethodNotAllowed);
        }
        let obj = parse_json(body)?;
        let created =
            self.shared
                .store
                .create(self.target.res, self.ns(), obj, Part::Main, &self.opts)?;
        self.object(StatusCode::CREATED, created)
    }

    fn replace(&self, name: &str, part: Part, body: &[u8]) -> Result<Response<Body>, ApiError> {
        let obj = parse_json(body)?;
        let replaced =
            self.shared
                .store
                .replace(self.target.res, self.ns(), name, obj, part, &self.opts)?;
        self.object(StatusCode::OK, replaced)
    }

    fn patch(
        &self,
        name: &str,
        part: Part,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        let info = self.info();
        let supported = if info.custom {
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        } else {
            "application/json-patch+json, application/merge-patch+json, \
             application/strategic-merge-patch+json, application/apply-patch+yaml"
        };
        if media != "application/apply-patch+yaml" && self.query.get("force").is_some() {
            return Err(ApiError::invalid(
                "PatchOptions",
                "",
                "force: Forbidden: may not be specified for non-apply patch",
            ));
        }
        let invalid = |e: PatchError| match e {
            PatchError::Malformed(m) => ApiError::BadRequest(m),
            op @ PatchError::Operation { .. } => ApiError::invalid(info.kind, name, op.to_string()),
        };
        let store = &self.shared.store;
        let (res, ns) = (self.target.res, self.ns());
        let (obj, created) = match media {
            "application/merge-patch+json" => {
                let p = parse_json(body)?;
                let obj = store.patch(
                    res,
                    ns,
                    name,
                    part,
                    |o| {
                        patch::merge(o, &p);
                        Ok(())
                    },
                    &self.opts,
                )?;
                (obj, false)
            }
            "application/strategic-merge-patch+json" if !info.custom => {
                let p = parse_json(body)?;
                let obj = store.patch(
                    res,
                    ns,
                    name,
                    part,
                    |o| patch::strategic(o, &p).map_err(invalid),
                    &self.opts,
                )?;
                (obj, false)
            }
            "application/json-patch+json" => {
                let p = parse_json(body)?;
                let obj = store.patch(
                    res,
                    ns,
                    name,
                    part,
                    |o| patch::json_patch(o, &p).map_err(invalid),
                    &self.opts,
                )?;
                (obj, false)
            }
            "application/apply-patch+yaml" => {
                let applied = serde_json::from_slice::<Value>(body)
                    .or_else(|_| serde_saphyr::from_slice::<Value>(body))
                    .map_err(|e| ApiError::BadRequest(format!("invalid apply body: {e}")))?;
                store.apply(res, ns, name, part, applied, &self.opts)?
            }
            _ => return Err(ApiError::UnsupportedMediaType(supported.into())),
        };
        let code = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        self.object(code, obj)
    }

    fn delete(&self, name: &str, body: &[u8]) -> Result<Response<Body>, ApiError> {
        let options = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            parse_json(body)?
        };
        let precondition = |field: &str| {
            options
                .pointer(&format!("/preconditions/{field}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let dry_run = self.opts.dry_run
            || options
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|v| v == "All"));
        let (obj, gone) = self.shared.store.delete(
            self.target.res,
            self.ns(),
            name,
            precondition("uid").as_deref(),
            precondition("resourceVersion").as_deref(),
            &WriteOpts {
                dry_run,
                field_manager: None,
            },
        )?;
        self.object(
            if gone {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            },
            obj,
        )
    }

    fn delete_collection(&self, body: &[u8]) -> Result<Response<Body>, ApiError> {
        if !body.iter().all(u8::is_ascii_whitespace) {
            parse_json(body)?;
        }
        let filter = self.filter()?;
        let page = self
            .shared
            .store
            .list(self.target.res, &filter, None, None)?;
        let mut deleted = Vec::new();
        for obj in page.items {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
            match self
                .shared
                .store
                .delete(self.target.res, ns, name, None, None, &self.opts)
            {
                Ok((obj, _)) => deleted.push(self.view.object(obj)),
                // Deleted concurrently: nothing left to do for this one.
                Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let info = self.info();
        let (kind, api_version) = self.view.list_type(info.kind, &info.api_version());
        let list = json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": self.shared.store.current_rv().to_string()},
            "items": deleted,
        });
        Ok(response::json(StatusCode::OK, &list))
    }
}
