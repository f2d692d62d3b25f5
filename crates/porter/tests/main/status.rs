//! `porter status` against a cluster: the binary, configured by a kubeconfig, reading the fake
//! API server (`porter-fake-api`) over HTTP, and printing the screen an operator reads; also
//! as the kubectl plugin `kubectl-porter`, and against API servers that refuse connections or
//! never answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::cluster_lab::kubeconfig;
use k8s_openapi::jiff::Timestamp;
use porter_fake_api::FakeApiServer;
use serde_json::{Value, json};

const PORTER: &str = env!("CARGO_BIN_EXE_porter");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("porter-status-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `program args`, killing it if it has not exited after a minute (the command must never
/// hang; this only keeps a broken build from hanging the test run).
fn run(program: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("PORTER_MANIFESTS")
        // anyhow prints a backtrace after the error when these are set
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} {args:?} did not exit", program.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn ago(secs: i64) -> String {
    Timestamp::from_second(Timestamp::now().as_second() - secs)
        .unwrap()
        .to_string()
}

fn node(name: &str, edge: bool) -> Value {
    let labels = if edge {
        json!({"edge": "true"})
    } else {
        json!({})
    };
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}],
                   "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn service(name: &str, created: &str, ip: Option<&str>, etp: &str) -> Value {
    let mut svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created,
            "annotations": {"lb.kubesphere.io/v1alpha1": "porter"}},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": etp, "ports": [{"port": 80}]}});
    if let Some(ip) = ip {
        svc["metadata"]["labels"] = json!({"eip.openelb.kubesphere.io/v1alpha2": "pool"});
        svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
    }
    svc
}

fn slice(service: &str, node: &str) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-abc"), "namespace": "default",
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.0.5"], "nodeName": node, "conditions": {"ready": true}}]})
}

fn peer(name: &str, address: &str, nodes: Value) -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
        "metadata": {"name": name},
        "spec": {"conf": {"neighborAddress": address, "peerAs": 64512},
                 "nodeSelector": {"matchLabels": {"edge": "true"}}},
        "status": {"nodesPeerStatus": nodes}})
}

fn established(address: &str, since: &str) -> Value {
    json!({"peerState": {"neighborAddress": address, "peerAs": 64512, "sessionState": "ESTABLISHED"},
           "timersState": {"uptime": since}})
}

/// Two edge nodes peering with two routers (`tor`: both Established; `backup`: n1 ACTIVE with a
/// last error), a third node no BgpPeer selects; a pool of two addresses, both held: `web`
/// (endpoint on n1) and `api` (`externalTrafficPolicy: Local`, its only endpoint on n3); `db`
/// asks for an address and gets none; the controller holds its Lease.
fn seed(server: &FakeApiServer) {
    let up = ago(3 * 86400 + 3600 + 1800);
    let objects = [
        node("n1", true),
        node("n2", true),
        node("n3", false),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": "pool",
                "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
            "spec": {"address": "203.0.113.10-203.0.113.11"}}),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
            "metadata": {"name": "default"}, "spec": {"as": 64513, "listenPort": -1}}),
        peer(
            "tor",
            "10.0.0.254",
            json!({"n1": established("10.0.0.254", &up), "n2": established("10.0.0.254", &up)}),
        ),
        peer(
            "backup",
            "10.0.0.253",
            json!({
                "n1": {"peerState": {"neighborAddress": "10.0.0.253", "peerAs": 64512,
                    "sessionState": "ACTIVE",
                    "lastError": "connect to 10.0.0.253:179: Connection refused (os error 111)"}},
                "n2": established("10.0.0.253", &up)
            }),
        ),
        service(
            "web",
            "2026-01-01T00:00:01Z",
            Some("203.0.113.10"),
            "Cluster",
        ),
        service("api", "2026-01-01T00:00:02Z", Some("203.0.113.11"), "Local"),
        service("db", "2026-01-01T00:00:03Z", None, "Cluster"),
        slice("web", "n1"),
        slice("api", "n3"),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "porter-controller", "namespace": "porter-system"},
            "spec": {"holderIdentity": "porter-controller-7d9f-x2k4q", "leaseDurationSeconds": 15,
                     "renewTime": Timestamp::now().to_string()}}),
    ];
    for object in objects {
        server.insert(object).unwrap();
    }
}

const SCREEN: &str = "\
CONTROLLER  porter-controller-7d9f-x2k4q (holds Lease porter-system/porter-controller)

SERVICE       EIP            POOL   ANNOUNCED BY   NOTE
default/api   203.0.113.11   pool   -              no traffic: externalTrafficPolicy is Local and no node with a ready endpoint has an Established BGP session (n3: no BgpPeer selects this node (spec.nodeSelector))
default/db    <pending>      -      -              no IP: no free address in Eip \"pool\" (all full or disabled)
default/web   203.0.113.10   pool   n1,n2

NODE   PEER     NEIGHBOR             STATE         UP     PREFIXES   LAST ERROR
n1     backup   10.0.0.253 AS64512   ACTIVE        -      0          connect to 10.0.0.253:179: Connection refused (os error 111)
n1     tor      10.0.0.254 AS64512   ESTABLISHED   3d1h   1          -
n2     backup   10.0.0.253 AS64512   ESTABLISHED   3d1h   1          -
n2     tor      10.0.0.254 AS64512   ESTABLISHED   3d1h   1          -

EIP    ADDRESS                     PROTOCOL   USED   PROBLEMS
pool   203.0.113.10-203.0.113.11   bgp        2/2    -
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_a_cluster_through_a_kubeconfig() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let dir = temp_dir("cluster");
    let config = kubeconfig(&dir, &server.url());
    let config = config.to_str().unwrap().to_owned();
    let plugin = dir.join("kubectl-porter");
    std::os::unix::fs::symlink(PORTER, &plugin).unwrap();

    let (out, as_plugin, ip, pending, one) = tokio::task::spawn_blocking(move || {
        (
            run(Path::new(PORTER), &["status", "--kubeconfig", &config]),
            run(&plugin, &["status", "--kubeconfig", &config]),
            run(
                Path::new(PORTER),
                &[
                    "status",
                    "--kubeconfig",
                    &config,
                    "--service",
                    "default/web",
                    "--ip-only",
                ],
            ),
            run(
                Path::new(PORTER),
                &[
                    "status",
                    "--kubeconfig",
                    &config,
                    "--service",
                    "default/db",
                    "--ip-only",
                ],
            ),
            run(
                Path::new(PORTER),
                &["status", "--kubeconfig", &config, "--service", "default/db"],
            ),
        )
    })
    .await
    .unwrap();

    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert_eq!(text, SCREEN);
    assert_eq!(
        as_plugin.stdout, out.stdout,
        "kubectl porter status is porter status"
    );

    assert_eq!(String::from_utf8_lossy(&ip.stdout), "203.0.113.10\n");
    assert!(pending.status.success());
    assert_eq!(
        String::from_utf8_lossy(&pending.stdout),
        "",
        "no address yet: nothing"
    );
    assert_eq!(
        String::from_utf8_lossy(&one.stdout),
        "\
CONTROLLER  porter-controller-7d9f-x2k4q (holds Lease porter-system/porter-controller)

SERVICE      EIP         POOL   ANNOUNCED BY   NOTE
default/db   <pending>   -      -              no IP: no free address in Eip \"pool\" (all full or disabled)
"
    );

    // Read-only and minimal: GETs only, no watch, no Secret, no Namespace (no Eip selects
    // namespaces by label).
    let requests = server.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.method, "GET", "{}", r.uri);
        assert!(!r.is_watch(), "{}", r.uri);
        assert!(!r.path().contains("secrets"), "{}", r.uri);
        assert!(!r.path().ends_with("/namespaces"), "{}", r.uri);
    }
    let ip_only: Vec<&str> = requests
        .iter()
        .map(|r| r.path())
        .filter(|p| p.contains("/services/"))
        .collect();
    assert!(
        ip_only
            .iter()
            .all(|p| *p == "/api/v1/namespaces/default/services/web"
                || *p == "/api/v1/namespaces/default/services/db"),
        "--ip-only reads only its Service: {ip_only:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_listed_only_when_an_eip_selects_them() {
    let server = FakeApiServer::start().await;
    server
        .insert(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"team": "shop"}}}))
        .unwrap();
    server
        .insert(
            json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": "shop-pool"},
            "spec": {"address": "203.0.113.20/32", "namespaceSelector": {"team": "shop"}}}),
        )
        .unwrap();
    let mut svc = service("web", "2026-01-01T00:00:01Z", None, "Cluster");
    svc["metadata"]["namespace"] = json!("shop");
    server.insert(svc).unwrap();
    let dir = temp_dir("namespaces");
    let config = kubeconfig(&dir, &server.url());
    let config = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        run(
            Path::new(PORTER),
            &["status", "--kubeconfig", &config, "--service", "shop/web"],
        )
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("shop/web   <pending>   shop-pool   -              no IP: no controller is running (see CONTROLLER); it would assign 203.0.113.20 from Eip shop-pool"),
        "the pool chosen through the namespace's labels: {text}"
    );
    assert!(
        text.starts_with("CONTROLLER  none: Lease porter-system/porter-controller does not exist")
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path() == "/api/v1/namespaces"),
        "Namespaces listed for the selector"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_api_server_is_one_clear_line() {
    // A port nobody listens on: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("unreachable");
    let url = format!("http://127.0.0.1:{port}");
    let config = kubeconfig(&dir, &url);
    let out = run(
        Path::new(PORTER),
        &["status", "--kubeconfig", config.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert_eq!(out.stdout, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "Error: cannot reach the Kubernetes API at {url}/ (list "
        )),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_api_server_that_never_answers_times_out() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let dir = temp_dir("silent");
    let config = kubeconfig(&dir, &url);
    let out = run(
        Path::new(PORTER),
        &[
            "status",
            "--kubeconfig",
            config.to_str().unwrap(),
            "--request-timeout",
            "1s",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "Error: the Kubernetes API at {url}/ did not answer within 1s (list "
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kubectl_runs_porter_as_a_plugin() {
    let dir = temp_dir("plugin");
    let plugin = dir.join("kubectl-porter");
    std::os::unix::fs::symlink(PORTER, &plugin).unwrap();
    let out = run(&plugin, &["status", "--help"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Usage: kubectl porter status [OPTIONS]"),
        "{help}"
    );
    assert!(help.contains("--kubeconfig <KUBECONFIG>"), "{help}");
    assert!(help.contains("--context <CONTEXT>"), "{help}");
    // under its own name it is still `porter`
    let out = run(Path::new(PORTER), &["status", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: porter status [OPTIONS]"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_from_the_environment_and_another_context() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let dir = temp_dir("context");
    // the current context names a dead server; `--context live` the fake one
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1
kind: Config
clusters:
- {{name: dead, cluster: {{server: 'http://{dead}'}}}}
- {{name: live, cluster: {{server: '{}'}}}}
users:
- {{name: porter, user: {{}}}}
contexts:
- {{name: dead, context: {{cluster: dead, user: porter}}}}
- {{name: live, context: {{cluster: live, user: porter}}}}
current-context: dead
",
            server.url()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let status = |extra: &[&str]| {
            Command::new(PORTER)
                .args(["status", "--service", "default/web", "--ip-only"])
                .args(extra)
                .env("KUBECONFIG", &path)
                .env_remove("RUST_BACKTRACE")
                .env_remove("RUST_LIB_BACKTRACE")
                .output()
                .unwrap()
        };
        (status(&["--context", "live"]), status(&[]))
    })
    .await
    .unwrap();
    let (live, current) = out;
    assert_eq!(String::from_utf8_lossy(&live.stdout), "203.0.113.10\n");
    assert!(
        !current.status.success(),
        "the current context's server is dead"
    );
    assert!(
        String::from_utf8_lossy(&current.stderr).contains(&format!("http://{dead}/")),
        "{}",
        String::from_utf8_lossy(&current.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
