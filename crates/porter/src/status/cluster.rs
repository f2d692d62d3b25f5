//! `porter status` on a cluster: one LIST per kind the screen needs, the controller's Lease by
//! one GET, then the same [`view`](super::view) as from a folder.
//!
//! Read, never watched; each request bounded by `--request-timeout`; no retries. What it reads
//! (the RBAC a user needs): `list` on eips, bgpconfs, bgppeers (`network.kubesphere.io`),
//! services, endpointslices (`discovery.k8s.io`), nodes; namespaces only when an Eip has a
//! `namespaceSelector`; `get` on the Lease `porter-controller` (optional: without it the
//! controller line says "unknown"). With `--ip-only`, only `get` on the one Service.
//! Secrets are never read. A failure is one line naming what could not be read and why.

use std::time::Duration;

use anyhow::anyhow;
use k8s_openapi::jiff::Timestamp;
use porter_kube::lease::LEASE_NAME;
use porter_kube::list_once::{self, ClientOptions};
use porter_kube::{Error, Kinds};
use porter_model::{ObjectKey, Snapshot};

use super::view::{self, ControllerLease};
use super::{Args, print_ips};

/// Reads the cluster and prints the screen.
pub(super) fn run(args: &Args, only: Option<&ObjectKey>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(show(args, only))
}

async fn show(args: &Args, only: Option<&ObjectKey>) -> anyhow::Result<()> {
    let options = ClientOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        timeout: Some(args.request_timeout),
    };
    let timeout = args.request_timeout;
    let config = list_once::config(&options)
        .await
        .map_err(|e| anyhow!(explain(&e, "", timeout)))?;
    let server = config.cluster_url.to_string();
    let fail = |e: Error| anyhow!(explain(&e, &server, timeout));
    let client = kube::Client::try_from(config).map_err(|e| fail(Error::Config(e)))?;

    if args.ip_only {
        if let Some(key) = only
            && let Some(svc) = list_once::get_service(&client, key).await.map_err(fail)?
        {
            print_ips(&svc);
        }
        return Ok(());
    }

    let (snapshot, lease) = tokio::join!(
        read_snapshot(&client),
        list_once::get_lease(&client, &args.controller_namespace, LEASE_NAME)
    );
    let snapshot = snapshot.map_err(fail)?;
    let lease = match lease {
        Ok(None) => ControllerLease::Missing,
        Ok(Some(lease)) => {
            let spec = lease.spec.unwrap_or_default();
            ControllerLease::Found {
                holder: spec.holder_identity,
                renewed: spec.renew_time.or(spec.acquire_time).map(|t| t.0),
                duration_secs: spec.lease_duration_seconds,
            }
        }
        Err(e) => ControllerLease::Unreadable(short(&e)),
    };
    let lease_name = format!("{}/{LEASE_NAME}", args.controller_namespace);
    let sessions = view::sessions_from_peers(&snapshot);
    let screen = view::screen(&view::Inputs {
        snapshot: &snapshot,
        sessions: &sessions,
        answering: None,
        controller: Some((&lease_name, &lease)),
        only,
        now: Timestamp::now(),
    });
    print!("{}", view::render(&screen));
    Ok(())
}

/// Every kind the screen reads; Namespaces only when an Eip selects namespaces by label (the
/// only use `assign::plan` has for them), so the usual RBAC needs no cluster-wide Namespace list.
async fn read_snapshot(client: &kube::Client) -> Result<Snapshot, Error> {
    let mut snapshot = list_once::list_snapshot(
        client,
        Kinds {
            namespaces: false,
            ..Kinds::ALL
        },
    )
    .await?;
    let selects_namespaces = snapshot.eips.values().any(|e| {
        e.spec
            .namespace_selector
            .as_ref()
            .is_some_and(|s| !s.is_empty())
    });
    if selects_namespaces {
        let only_namespaces = Kinds {
            eips: false,
            bgp_confs: false,
            bgp_peers: false,
            services: false,
            endpoint_slices: false,
            nodes: false,
            namespaces: true,
        };
        snapshot.namespaces = list_once::list_snapshot(client, only_namespaces)
            .await?
            .namespaces;
    }
    Ok(snapshot)
}

/// A failure to read the cluster as one line saying what to do: the server that cannot be
/// reached, the resource RBAC forbids, the CRDs that are missing.
pub(super) fn explain(error: &Error, server: &str, timeout: Duration) -> String {
    let (action, object, source) = match error {
        Error::Config(e) => {
            return format!(
                "cannot configure a Kubernetes client: {} (pass --kubeconfig, set KUBECONFIG, or use --manifests DIR)",
                innermost(e)
            );
        }
        Error::Api {
            action,
            object,
            source,
        } => (*action, object.as_str(), source),
        Error::Encode { .. } => return error.to_string(),
    };
    match source {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() {
                String::new()
            } else {
                format!(": {}", status.message)
            };
            match status.code {
                401 => format!(
                    "the Kubernetes API at {server} refused the credentials (401 Unauthorized) to {action} {object}: log in again or check the kubeconfig's user"
                ),
                403 => format!(
                    "forbidden (403) to {action} {object}{message}; porter status needs `{verb}` on it (README: porter status)",
                    verb = if action == "list" { "list" } else { "get" }
                ),
                404 if object.ends_with(&*<porter_api::Eip as kube::Resource>::group(&())) => {
                    format!(
                        "the Porter CRDs are not installed: {action} {object} got 404 Not Found (kubectl apply -f deploy/crds.yaml)"
                    )
                }
                code => format!(
                    "{action} {object}: the Kubernetes API at {server} answered {code} {}{message}",
                    status.reason
                ),
            }
        }
        other if timed_out(other) => format!(
            "the Kubernetes API at {server} did not answer within {} ({action} {object}); is the cluster up? (--request-timeout)",
            humantime(timeout)
        ),
        other => format!(
            "cannot reach the Kubernetes API at {server} ({action} {object}): {}",
            innermost(other)
        ),
    }
}

/// An error in a few words, for the controller line.
fn short(error: &Error) -> String {
    match error {
        Error::Api {
            source: kube::Error::Api(status),
            ..
        } => match status.code {
            403 => "forbidden (403): porter status needs `get` on this Lease".into(),
            code => format!("{code} {}", status.reason),
        },
        Error::Api { source, .. } => innermost(source),
        other => innermost(other),
    }
}

fn timed_out(error: &kube::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.to_string().contains("timed out")
            || e.downcast_ref::<tokio::time::error::Elapsed>().is_some()
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The deepest cause's message: what actually failed (`Connection refused (os error 111)`),
/// without the layers kube and hyper wrap around it.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut e = error;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(action: &'static str, object: &str, code: u16, reason: &str, msg: &str) -> Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "code": code, "reason": reason, "message": msg
        }))
        .unwrap();
        Error::Api {
            action,
            object: object.into(),
            source: kube::Error::Api(Box::new(status)),
        }
    }

    const SERVER: &str = "https://10.0.0.1:6443/";

    #[test]
    fn each_failure_is_one_line_that_says_what_to_do() {
        let t = Duration::from_secs(10);
        let cases = [
            (
                api_error(
                    "list",
                    "eips.network.kubesphere.io",
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
                "the Porter CRDs are not installed: list eips.network.kubesphere.io got 404 Not Found (kubectl apply -f deploy/crds.yaml)",
            ),
            (
                api_error(
                    "list",
                    "nodes",
                    403,
                    "Forbidden",
                    "nodes is forbidden: User \"alice\" cannot list resource \"nodes\"",
                ),
                "forbidden (403) to list nodes: nodes is forbidden: User \"alice\" cannot list resource \"nodes\"; porter status needs `list` on it (README: porter status)",
            ),
            (
                api_error("list", "services", 401, "Unauthorized", ""),
                "the Kubernetes API at https://10.0.0.1:6443/ refused the credentials (401 Unauthorized) to list services: log in again or check the kubeconfig's user",
            ),
            (
                api_error("list", "nodes", 500, "InternalError", "etcd down"),
                "list nodes: the Kubernetes API at https://10.0.0.1:6443/ answered 500 InternalError: etcd down",
            ),
        ];
        for (error, text) in cases {
            let line = explain(&error, SERVER, t);
            assert_eq!(line, text);
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn a_404_outside_porters_group_is_not_blamed_on_the_crds() {
        let e = api_error(
            "list",
            "endpointslices.discovery.k8s.io",
            404,
            "NotFound",
            "gone",
        );
        assert!(!explain(&e, SERVER, Duration::from_secs(1)).contains("CRDs"));
    }

    #[test]
    fn a_forbidden_lease_is_reported_in_a_few_words() {
        let e = api_error(
            "get",
            "Lease porter-system/porter-controller",
            403,
            "Forbidden",
            "no",
        );
        assert_eq!(
            short(&e),
            "forbidden (403): porter status needs `get` on this Lease"
        );
    }

    #[test]
    fn timeouts_read_as_given() {
        assert_eq!(humantime(Duration::from_secs(10)), "10s");
        assert_eq!(humantime(Duration::from_millis(1500)), "1500ms");
    }
}
