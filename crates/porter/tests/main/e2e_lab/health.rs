//! Health-driven withdrawal: a Service with `externalTrafficPolicy: Local` asks each speaker to
//! probe its node's endpoints (`health.porter.kubesphere.io/probe`). When node3's Pod stops
//! answering while the API still calls it ready (a hung process, a broken port: nothing the
//! objects show), node3's speaker withdraws the address, and announces it again once the Pod
//! answers. Checked in the router's kernel FIB with FRR (an HTTP probe) and BIRD (TCP). How
//! long the withdrawal takes, and what a client loses meanwhile, is measured by
//! bench/health.sh, not asserted.

use std::time::Duration;

use super::{Lab, skip_unless_root};

fn health_withdrawal(router: &str, probe: &'static str) {
    if skip_unless_root(router) {
        return;
    }
    let (lab, eip) = Lab::up(router, &format!("{router}health"), &[("LAB_HEALTH", probe)]);
    let all_three = |when: &str| {
        let (n, route) = lab.wait_nexthops(&eip, 3, Duration::from_secs(60));
        assert_eq!(
            n,
            3,
            "{router} should route {eip} via the three nodes {when}:\n{route}\n{}",
            lab.logs()
        );
    };
    assert!(
        lab.cmd(&["endpoints", "node1=ready", "node2=ready", "node3=ready"])
            .status
            .success()
    );
    all_three("while every endpoint answers its probes");

    // node3's Pod stops answering; its endpoint stays Ready in the EndpointSlice
    assert!(lab.cmd(&["http-stop", "node3"]).status.success());
    let (n, route) = lab.wait_nexthops(&eip, 2, Duration::from_secs(30));
    assert_eq!(
        n,
        2,
        "{router} still routes {eip} via node3 after its endpoint failed its {probe} probes:\n{route}\n{}",
        lab.logs()
    );
    assert!(
        !route.contains("10.99.0.13"),
        "{router}: the node withdrawn is not node3:\n{route}"
    );
    // the others are untouched, and a client is served by them alone
    let answers = String::from_utf8_lossy(&lab.cmd(&["fetch", &eip, "20"]).stdout).into_owned();
    assert!(
        !answers.contains("FAILED") && !answers.contains("node3"),
        "{router}: requests after the withdrawal: {answers}"
    );

    // the Pod answers again: node3 is back once its probes pass
    assert!(lab.cmd(&["http-start", "node3"]).status.success());
    all_three("once node3's endpoint answers again");
}

#[test]
fn frr_withdraws_a_node_whose_endpoint_fails_its_http_probe() {
    health_withdrawal("frr", "http");
}

#[test]
fn bird_withdraws_a_node_whose_endpoint_fails_its_tcp_probe() {
    health_withdrawal("bird", "tcp");
}
