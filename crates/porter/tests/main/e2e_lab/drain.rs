//! Drain before terminate (`externalTrafficPolicy: Local`): a node whose only local endpoint
//! goes terminating, or that is cordoned, withdraws the Service's address; the Pod keeps serving
//! for its preStop delay (the one deploy/examples/service-local.yaml shows users), then stops.
//! A client loop running throughout loses no request to the Pod's stop, with FRR and BIRD
//! programming the FIB (the route change itself may cost the one connection in flight, which
//! the router's ECMP hash moves: see [`drain_without_loss`]).
//!
//! The EndpointSlice is rewritten as the endpoint controller would (Ready false, Serving and
//! Terminating true; then the endpoint removed once the Pod is gone), and the Node as `kubectl
//! cordon` would. How long the withdrawal takes, and what a delay of 0 loses, is measured by
//! bench/drain.sh, not asserted.

use std::time::{Duration, Instant};

use super::{Lab, skip_unless_root};

/// The preStop delay users are shown: `lifecycle.preStop.sleep.seconds` of the example's
/// Deployment.
fn pre_stop() -> Duration {
    let path = super::repo().join("deploy/examples/service-local.yaml");
    let text = std::fs::read_to_string(&path).expect("read the example");
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).expect("the example is YAML");
    let seconds = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .and_then(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["sleep"]
                ["seconds"]
                .as_u64()
        })
        .expect("the example's Deployment has a preStop sleep");
    Duration::from_secs(seconds)
}

/// Ends the client loop; its summary: (sent, failed, the whole line).
fn summary(lab: &Lab) -> (u64, u64, String) {
    let out = String::from_utf8_lossy(&lab.cmd(&["client-stop"]).stdout).into_owned();
    let field = |name: &str| -> u64 {
        out.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the client's summary: {out:?}"))
    };
    (field("sent"), field("failed"), out.clone())
}

/// Every node serving a ready endpoint, nothing cordoned; the client sees all three.
fn all_ready(lab: &Lab, router: &str, eip: &str) {
    assert!(lab.cmd(&["cordon"]).status.success());
    assert!(
        lab.cmd(&["endpoints", "node1=ready", "node2=ready", "node3=ready"])
            .status
            .success()
    );
    let (n, route) = lab.wait_nexthops(eip, 3, Duration::from_secs(60));
    assert_eq!(
        n,
        3,
        "{router} should route {eip} via the three nodes:\n{route}\n{}",
        lab.logs()
    );
}

/// Runs the client loop while `drain` takes node3 out, waits the preStop delay, stops node3's
/// server as the kubelet would, then removes its endpoint.
///
/// The loop runs in two parts split where the router drops node3. Until then node3's server is
/// up, so the only request the withdrawal can cost is the one in flight when the router's
/// (non-resilient) ECMP hash moves its connection to another node: at most one, the loop being
/// serial. From then on (node3's stop, the endpoint's removal) nothing may be lost. Node3 must
/// have answered before (the loop did reach it).
fn drain_without_loss(lab: &Lab, router: &str, eip: &str, what: &str, drain: &[&str]) {
    assert!(lab.cmd(&["client-start", eip]).status.success());
    std::thread::sleep(Duration::from_secs(1));
    let written = Instant::now();
    assert!(lab.cmd(drain).status.success());
    let (n, route) = lab.wait_nexthops(eip, 2, pre_stop());
    let (_, at_withdrawal, first) = summary(lab);
    assert_eq!(
        n,
        2,
        "{router} still routes {eip} via node3 a preStop ({:?}) after {what}:\n{route}\n{}",
        pre_stop(),
        lab.logs()
    );
    assert!(
        first.contains("node3="),
        "node3 never answered before {what}: {first}"
    );
    assert!(
        at_withdrawal <= 1,
        "{router}: {at_withdrawal} requests lost while node3 still served ({what}): {first}"
    );

    assert!(lab.cmd(&["client-start", eip]).status.success());
    std::thread::sleep(pre_stop().saturating_sub(written.elapsed()));
    assert!(lab.cmd(&["http-stop", "node3"]).status.success());
    assert!(
        lab.cmd(&["endpoints", "node1=ready", "node2=ready", "node3=gone"])
            .status
            .success()
    );
    std::thread::sleep(Duration::from_secs(1));
    let (sent, failed, out) = summary(lab);
    let route = lab.route(eip);
    assert!(
        !route.contains("10.99.0.13"),
        "{router} routes {eip} via node3 again after {what}:\n{route}\n{}",
        lab.logs()
    );
    assert!(sent > 100, "the client loop barely ran: {out}");
    assert_eq!(
        failed,
        0,
        "{router}: requests lost when node3's server stopped a preStop ({:?}) after {what}: {out}\n{}",
        pre_stop(),
        lab.logs()
    );
}

fn drain_before_terminate(router: &str) {
    if skip_unless_root(router) {
        return;
    }
    let (lab, eip) = Lab::up(router, &format!("{router}drain"), &[]);
    let node3 = lab.dir.join("www-node3");
    all_ready(&lab, router, &eip);

    // node3's only local Pod gets its deletion: its endpoint goes terminating, still serving
    drain_without_loss(
        &lab,
        router,
        &eip,
        "node3's only endpoint terminated",
        &["endpoints", "node1=ready", "node2=ready", "node3=draining"],
    );

    // a new Pod on node3, then the node is cordoned (the speaker withdraws on cordon) and
    // drained: its Pod stops after the same delay
    assert!(node3.is_dir());
    assert!(lab.cmd(&["http-start", "node3"]).status.success());
    all_ready(&lab, router, &eip);
    drain_without_loss(
        &lab,
        router,
        &eip,
        "node3 was cordoned",
        &["cordon", "node3"],
    );
}

#[test]
fn frr_drain_before_terminate_loses_nothing() {
    drain_before_terminate("frr");
}

#[test]
fn bird_drain_before_terminate_loses_nothing() {
    drain_before_terminate("bird");
}
