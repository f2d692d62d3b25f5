//! `porter controller` and `porter speaker` as a cluster runs them: the binaries, configured by
//! nothing but a kubeconfig (`KUBECONFIG`, as `kubectl` is), against the fake API server
//! (`porter-fake-api`: list/watch, status subresource, finalizers, leases, served over HTTP on
//! loopback), with a real BGP router, gobgpd, in a network namespace the test creates and
//! reaches over a veth pair (`10.97.77.1` here, `10.97.77.2` the router; GoBGP refuses
//! loopback next hops, so the router cannot simply listen on loopback).
//!
//! One scenario, end to end: a Service that opts in gets an address from the Eip (controller:
//! status, finalizer, Lease), the speaker announces it to gobgpd (the route is in gobgpd's RIB
//! with the node's address as next hop), the speaker reports its session in the BgpPeer's
//! status and the controller the Service's `Announced` condition, and both export it on
//! `/metrics` (Eip usage, leadership; the session's state and prefixes); deleting the Service
//! releases the address through the finalizer and withdraws the route; SIGTERM stops both
//! binaries cleanly.
//!
//! Needs root (the namespace) and `gobgpd`/`gobgp` (`scripts/deps.sh` installs them): without
//! them the test is skipped with a message, but fails under CI (`CI` set), which has both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::cluster_lab::*;
use porter_fake_api::FakeApiServer;
use serde_json::{Value, json};

const EIP: &str = "203.0.113.10";
/// gobgpd's RIB entry for the EIP (empty when it has none).
fn gobgp_route(ns: &RouterNs) -> String {
    let out = ns
        .command("gobgp")
        .args(["global", "rib", &format!("{EIP}/32")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains(&format!("{EIP}/32")) {
        text.into_owned()
    } else {
        String::new()
    }
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `secs` seconds.
fn eventually<T>(
    secs: u64,
    what: &str,
    logs: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where `p` serves /metrics, /healthz and /readyz, as its log says (both binaries run in this
/// namespace with `--metrics-address 127.0.0.1:0`, so their ports never clash).
fn endpoint(p: &Proc) -> Option<SocketAddr> {
    let log = p.log();
    let line = log.lines().find(|l| l.contains("serving /metrics"))?;
    let rest = &line[line.find("address=")? + "address=".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// `GET path` on `address`: the status code and the body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: porter\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_owned(),
    )
}

/// The value of `series` (name and labels, as exposed) in `address`'s /metrics.
fn metric(address: SocketAddr, series: &str) -> Option<f64> {
    get(address, "/metrics")
        .1
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn seed(server: &FakeApiServer) {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": "pool",
                "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
            "spec": {"address": format!("{EIP}-203.0.113.12")}}),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
            "metadata": {"name": "default"},
            "spec": {"as": NODE_AS, "routerId": "10.0.0.11", "listenPort": -1}}),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
            "metadata": {"name": "tor"},
            "spec": {"conf": {"neighborAddress": ROUTER_IP, "peerAs": ROUTER_AS}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default",
                "annotations": {"lb.kubesphere.io/v1alpha1": "porter"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.0.5"], "nodeName": "n1",
                "conditions": {"ready": true}}]}),
    ];
    for object in objects {
        server.insert(object).unwrap();
    }
}

fn service(server: &FakeApiServer) -> Option<Value> {
    server.get("services", Some("default"), "web")
}

fn condition(svc: &Value, type_: &str) -> Option<Value> {
    svc["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_and_speaker_run_from_a_kubeconfig_and_announce_to_a_router() {
    if !(is_root() && have("gobgpd") && have("gobgp")) {
        crate::support::cannot_run(
            "cluster mode",
            "needs root and gobgpd/gobgp (scripts/deps.sh installs them)",
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("porter-cluster-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = FakeApiServer::start().await;
    let ns = std::sync::Arc::new(RouterNs::create());
    let gobgpd = start_gobgpd(&dir, &ns);
    seed(&server);
    let config = kubeconfig(&dir, &server.url());

    let porter = env!("CARGO_BIN_EXE_porter");
    let controller = Proc::spawn(
        "controller",
        &dir,
        Command::new(porter)
            .args(["controller", "--metrics-address", "127.0.0.1:0"])
            .env("KUBECONFIG", &config)
            .env("POD_NAMESPACE", "porter-system")
            .env("POD_NAME", "porter-controller-0")
            .env("RUST_LOG", "info"),
    );
    let speaker = Proc::spawn(
        "speaker",
        &dir,
        Command::new(porter)
            .args([
                "speaker",
                "--node",
                "n1",
                "--metrics-address",
                "127.0.0.1:0",
            ])
            .env("KUBECONFIG", &config)
            .env("RUST_LOG", "info"),
    );
    // The fake API server is a task of this runtime; the waiting below blocks, so it runs on a
    // blocking thread.
    let server = std::sync::Arc::new(server);
    let (s, router) = (server.clone(), ns.clone());
    let (mut controller, mut speaker) = tokio::task::spawn_blocking(move || {
        let logs = || {
            let writes: Vec<String> = s.writes().iter().map(|r| format!("{r:?}")).collect();
            format!(
                "--- controller\n{}\n--- speaker\n{}\n--- gobgpd\n{}\n--- writes to the API\n{}",
                controller.log(),
                speaker.log(),
                gobgpd.log(),
                writes.join("\n")
            )
        };
        // The controller takes the Lease and gives the Service the Eip's first address.
        let ip = eventually(30, "the Service's address", logs, || {
            service(&s)?["status"]["loadBalancer"]["ingress"][0]["ip"]
                .as_str()
                .map(str::to_owned)
        });
        assert_eq!(ip, EIP);
        let svc = service(&s).unwrap();
        assert_eq!(
            svc["metadata"]["finalizers"],
            json!(["finalizer.lb.kubesphere.io/v1alpha1"])
        );
        let lease = s
            .get("leases", Some("porter-system"), "porter-controller")
            .expect("the controller's Lease");
        assert_eq!(lease["spec"]["holderIdentity"], "porter-controller-0");

        // The speaker announces it: gobgpd holds the route, next hop the node's end of the
        // session.
        let route = eventually(30, "the route in gobgpd's RIB", logs, || {
            Some(gobgp_route(&router)).filter(|r| !r.is_empty())
        });
        assert!(route.contains(NODE_IP), "{route}");

        // Both report it: the session in the BgpPeer's status, the Service's condition.
        eventually(30, "the speaker's session in BgpPeer status", logs, || {
            let peer = s.get("bgppeers", None, "tor")?;
            let state = &peer["status"]["nodesPeerStatus"]["n1"]["peerState"]["sessionState"];
            (state == "ESTABLISHED").then_some(())
        });
        let announced = eventually(30, "the Announced condition", logs, || {
            condition(&service(&s)?, "porter.kubesphere.io/Announced")
                .filter(|c| c["status"] == "True")
        });
        assert!(
            announced["message"].as_str().unwrap().contains("n1"),
            "{announced}"
        );

        // Both export it: the Eip's usage and the leadership, the session and its prefix.
        let controller_metrics = eventually(10, "the controller's endpoint", logs, || {
            endpoint(&controller)
        });
        let speaker_metrics = eventually(10, "the speaker's endpoint", logs, || endpoint(&speaker));
        for address in [controller_metrics, speaker_metrics] {
            assert_eq!(get(address, "/healthz"), (200, "ok\n".to_owned()));
            assert_eq!(get(address, "/readyz"), (200, "ok\n".to_owned()));
        }
        let in_use = r#"porter_ipam_addresses_in_use{eip="pool"}"#;
        assert_eq!(metric(controller_metrics, in_use), Some(1.0), "{}", logs());
        assert_eq!(
            metric(controller_metrics, r#"porter_ipam_pool_size{eip="pool"}"#),
            Some(3.0)
        );
        assert_eq!(
            metric(controller_metrics, "porter_controller_leader"),
            Some(1.0)
        );
        let established = format!(
            r#"porter_bgp_session_state{{peer="tor",address="{ROUTER_IP}",state="Established"}}"#
        );
        eventually(10, "the session in the speaker's metrics", logs, || {
            (metric(speaker_metrics, &established) == Some(1.0)).then_some(())
        });
        let advertised = r#"porter_bgp_prefixes_advertised{peer="tor"}"#;
        eventually(10, "the prefix in the speaker's metrics", logs, || {
            (metric(speaker_metrics, advertised) == Some(1.0)).then_some(())
        });
        assert_eq!(
            metric(speaker_metrics, "porter_speaker_announced_addresses"),
            Some(1.0)
        );
        let version = format!(
            r#"porter_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(metric(speaker_metrics, &version), Some(1.0));

        // Deleting the Service: the controller releases the address and lets it go, the
        // speaker withdraws the route.
        s.delete("services", Some("default"), "web").unwrap();
        eventually(30, "the Service to be gone", logs, || {
            service(&s).is_none().then_some(())
        });
        eventually(30, "the route to be withdrawn", logs, || {
            gobgp_route(&router).is_empty().then_some(())
        });
        eventually(10, "the metrics to follow", logs, || {
            (metric(controller_metrics, in_use) == Some(0.0)
                && metric(speaker_metrics, advertised) == Some(0.0)
                && metric(speaker_metrics, "porter_speaker_announced_addresses") == Some(0.0))
            .then_some(())
        });
        (controller, speaker)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));

    // SIGTERM (what Kubernetes sends) stops both cleanly.
    for p in [&mut speaker, &mut controller] {
        let status = p.terminate();
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not stop cleanly on SIGTERM ({status:?}):\n{}",
            p.name,
            p.log()
        );
    }
    drop(server);
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
