//! Counting every failed request to the API server, below the client.
//!
//! A layer of the client's own HTTP stack sees every request of every part of a role (watches,
//! reads, writes, the Lease, Events) with its answer, so no call site has to remember to count
//! and none can be missed. It labels each failure with the request's operation and resource,
//! read from the method and path (names never become labels), and with the kind of error as
//! [`Error::kind`](crate::Error::kind) names it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use porter_metrics::ApiErrors;

use crate::error::kind_of_status;

/// The layer counting failed requests into an [`ApiErrors`].
#[derive(Debug, Clone)]
pub struct CountErrors(pub ApiErrors);

impl<S> tower::Layer<S> for CountErrors {
    type Service = Counting<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counting {
            inner,
            errors: self.0.clone(),
        }
    }
}

/// The service [`CountErrors`] wraps around the client's stack.
#[derive(Debug, Clone)]
pub struct Counting<S> {
    inner: S,
    errors: ApiErrors,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Counting<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (operation, resource) = operation(request.method(), request.uri());
        let errors = self.errors.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let failed = match &result {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(kind_of_status(response.status().as_u16())),
                Err(_) => Some("unreachable"),
            };
            if let Some(kind) = failed {
                errors.count(operation, &resource, kind);
            }
            result
        })
    }
}

/// What a request does (`get`, `list`, `watch`, `create`, `patch`, `replace`, `delete`) and
/// to which resource, as RBAC names it (`services`, `services/status`, `leases`).
pub(crate) fn operation(method: &Method, uri: &http::Uri) -> (&'static str, String) {
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[][..],
    };
    // namespaces/<ns>/<resource>...: the namespace is where, not what
    let rest = match rest {
        ["namespaces", _namespace, inner @ ..] if !inner.is_empty() => inner,
        other => other,
    };
    let (resource, named) = match rest {
        [] => ("unknown".to_owned(), false),
        [resource] => ((*resource).to_owned(), false),
        [resource, _name] => ((*resource).to_owned(), true),
        [resource, _name, subresource, ..] => (format!("{resource}/{subresource}"), true),
    };
    let watching = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    });
    let operation = match *method {
        Method::GET if watching => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PATCH => "patch",
        Method::PUT => "replace",
        Method::DELETE => "delete",
        _ => "other",
    };
    (operation, resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, uri: &str) -> (&'static str, String) {
        operation(&method, &uri.parse().unwrap_or_default())
    }

    #[test]
    fn operations_and_resources_come_from_the_method_and_path_never_a_name() {
        let cases = [
            (Method::GET, "/api/v1/services?", ("list", "services")),
            (
                Method::GET,
                "/api/v1/services?watch=true&resourceVersion=5&timeoutSeconds=290",
                ("watch", "services"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/porter-system/secrets/bgp-password",
                ("get", "secrets"),
            ),
            (
                Method::PATCH,
                "/api/v1/namespaces/default/services/web/status?fieldManager=porter-controller",
                ("patch", "services/status"),
            ),
            (
                Method::PATCH,
                "/apis/network.kubesphere.io/v1alpha2/eips/pool/status",
                ("patch", "eips/status"),
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/porter-system/leases/porter-controller",
                ("replace", "leases"),
            ),
            (
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/default/events?",
                ("create", "events"),
            ),
            (Method::GET, "/api/v1/namespaces", ("list", "namespaces")),
            (
                Method::GET,
                "/api/v1/namespaces/default",
                ("get", "namespaces"),
            ),
            (
                Method::GET,
                "/api/v1/nodes?fieldSelector=metadata.name%3Dn1",
                ("list", "nodes"),
            ),
            (Method::GET, "/version", ("list", "unknown")),
        ];
        for (method, uri, (operation, resource)) in cases {
            assert_eq!(op(method, uri), (operation, resource.to_owned()), "{uri}");
        }
    }
}
