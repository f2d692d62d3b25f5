//! Benchmark, not a test: the `porter speaker` binary itself, on the Kubernetes API path, at
//! scale. `bench/speaker_scale.sh` runs it (as root: it creates a network namespace).
//!
//! The fake API server (in this process) holds N LoadBalancer Services that opted in and hold
//! an address, one EndpointSlice each (two ready endpoints, one on this node), this node, one
//! Eip, BgpConf `default` and a BgpPeer: gobgpd in a namespace of its own, over a veth pair.
//! `porter speaker --node n1` runs with only a kubeconfig pointing at the fake. Printed: the
//! time from starting the speaker until gobgpd holds all N routes (its initial lists, the
//! plan, the session, the UPDATEs), and the speaker process's peak RSS (`VmHWM`) then: what a
//! node pays to announce N EIPs, watches, JSON decoding, HTTP and the BGP session included.
//!
//! ```sh
//! speaker_scale --porter target/release/porter --count 10000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/main/support/cluster_lab.rs"]
mod cluster_lab;
#[path = "scale/objects.rs"]
mod objects;

use std::process::Command;
use std::time::{Duration, Instant};

use cluster_lab::{NODE_AS, NODE_IP, Proc, ROUTER_AS, ROUTER_IP, RouterNs, kubeconfig};
use objects::{Cluster, MAX_SERVICES};
use porter_fake_api::FakeApiServer;

fn arg(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

fn seed(server: &FakeApiServer, count: u32) {
    let cluster = Cluster {
        node: "n1",
        node_ip: NODE_IP,
        node_as: NODE_AS,
        peer_ip: ROUTER_IP,
        peer_as: ROUTER_AS,
    };
    for object in cluster.fixed() {
        server.insert(object).unwrap();
    }
    for i in 0..count {
        for object in cluster.service(i) {
            server.insert(object).unwrap();
        }
    }
}

/// How many IPv4 destinations gobgpd holds.
fn gobgp_destinations(ns: &RouterNs) -> u32 {
    let out = ns
        .command("gobgp")
        .args(["global", "rib", "summary", "-a", "ipv4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("Destination:")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// `VmHWM`, `VmRSS`, `RssAnon` (heap, stacks) and `RssFile` (the binary's pages) of `pid`, in MiB.
fn rss(pid: u32) -> (f64, f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (
        field("VmHWM:"),
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:"),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let porter = arg(&args, "--porter").expect("--porter PATH (the porter binary)");
    let count: u32 = arg(&args, "--count").map_or(10_000, |c| c.parse().unwrap());
    assert!(count <= MAX_SERVICES, "the pool holds 131 072 addresses");

    let dir = std::env::temp_dir().join(format!("porter-speaker-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = FakeApiServer::start().await;
    let ns = RouterNs::create();
    let gobgpd = cluster_lab::start_gobgpd(&dir, &ns);
    seed(&server, count);
    let config = kubeconfig(&dir, &server.url());
    // gobgpd listening first, so the time below is not a connect retry's
    let ready = Instant::now() + Duration::from_secs(10);
    while !ns
        .command("gobgp")
        .arg("global")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            Instant::now() < ready,
            "gobgpd did not start:\n{}",
            gobgpd.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let mut speaker = Proc::spawn(
        "speaker",
        &dir,
        Command::new(&porter)
            .args(["speaker", "--node", "n1"])
            .env("KUBECONFIG", &config)
            .env("RUST_LOG", "warn"),
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    let (elapsed, held) = loop {
        // `gobgp` takes a few ms; the fake API server's tasks run on the other worker
        let held = gobgp_destinations(&ns);
        if held >= count || Instant::now() > deadline {
            break (started.elapsed(), held);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (peak, now, anon, file) = rss(speaker.id());
    assert_eq!(
        held,
        count,
        "gobgpd holds {held} of {count} routes after {elapsed:?}\n--- speaker\n{}\n--- gobgpd\n{}",
        speaker.log(),
        gobgpd.log()
    );
    println!(
        "porter speaker (Kubernetes API path): {count} EIPs: all routes in gobgpd {:.2} s after start; peak RSS {peak:.1} MiB (now {now:.1} MiB: {anon:.1} MiB heap and stacks, {file:.1} MiB of the binary's pages)",
        elapsed.as_secs_f64()
    );
    speaker.terminate();
    drop(gobgpd);
    drop(ns);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
