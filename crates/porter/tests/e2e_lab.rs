//! End-to-end: real routers (FRR, BIRD 2, GoBGP) in network namespaces, real kernels, real
//! traffic.
//!
//! The lab machinery is `lab/lab.sh` (shared with the README's demo); the assertions are
//! here and read the router's own views: its BGP RIB (vtysh / birdc / gobgp) must hold one
//! path per node, and its kernel FIB one route to the Service's EIP with one next hop per
//! node; both lose exactly the node whose speaker stops. GoBGP has no FIB of its own (see
//! lab/lib.sh), so for it only the RIB is checked. Needs root (namespaces) and the routers
//! (`scripts/deps.sh` installs them); skips with a message when not root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One lab instance; its namespaces and processes are removed when it is dropped, also
/// when an assertion fails.
struct Lab {
    prefix: String,
    dir: PathBuf,
}

impl Lab {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(repo().join("lab/lab.sh"))
            .args(args)
            .env("LAB_PREFIX", &self.prefix)
            .env("LAB_DIR", &self.dir)
            .env("PORTER", env!("CARGO_BIN_EXE_porter"))
            .output()
            .expect("run lab/lab.sh")
    }

    fn up(router: &str) -> (Lab, String) {
        let prefix = format!("e2e{router}-");
        let dir = std::env::temp_dir().join(format!("porter-e2e-{router}"));
        let lab = Lab { prefix, dir };
        let out = lab.cmd(&["up", router]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "lab up {router} failed:\n{stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            lab.logs()
        );
        let eip = stdout
            .lines()
            .find_map(|l| l.strip_prefix("EIP "))
            .unwrap_or_else(|| panic!("no EIP line in: {stdout}"))
            .trim()
            .to_owned();
        (lab, eip)
    }

    /// The router's kernel route to `eip`, verbatim (`ip route show`).
    fn route(&self, eip: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["route", eip]).stdout).into_owned()
    }

    /// Waits until the router's FIB holds exactly one route to `eip` with `want` next hops;
    /// returns the last route seen. Time is only a bound here, never the assertion.
    fn wait_nexthops(&self, eip: &str, want: usize, limit: Duration) -> (usize, String) {
        let start = Instant::now();
        loop {
            let route = self.route(eip);
            let n = next_hops(&route);
            if n == Some(want) || start.elapsed() > limit {
                return (n.unwrap_or(0), route);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the router's BGP RIB holds `want` paths for `eip`/32; returns the count
    /// and the router's own view.
    fn wait_paths(&self, eip: &str, want: usize, limit: Duration) -> (usize, String) {
        let start = Instant::now();
        loop {
            let out = self.cmd(&["paths", eip]);
            let n = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            if n == want || start.elapsed() > limit {
                let rib = String::from_utf8_lossy(&self.cmd(&["rib", eip]).stdout).into_owned();
                return (n, rib);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn fetch(&self, eip: &str, count: u32) -> String {
        String::from_utf8_lossy(&self.cmd(&["fetch", eip, &count.to_string()]).stdout).into_owned()
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in [
            "controller.log",
            "speaker-node1.log",
            "speaker-node2.log",
            "speaker-node3.log",
        ] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out += &format!(
                "--- {name} (last lines)\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.cmd(&["down"]);
    }
}

/// Next hops of a single kernel route; `None` if the output holds no route or several
/// separate routes (which would not be ECMP).
fn next_hops(route: &str) -> Option<usize> {
    let entries = route
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace) && !l.is_empty())
        .count();
    if entries != 1 {
        return None;
    }
    let vias = route.matches("nexthop via").count();
    // a single-path route prints "... via X dev Y" on one line
    Some(if vias == 0 && route.contains(" via ") {
        1
    } else {
        vias
    })
}

/// The routers and whether they program the kernel FIB (and so carry real traffic).
fn ecmp_then_shrink(router: &str, has_fib: bool) {
    if !is_root() {
        eprintln!(
            "SKIPPED e2e_lab ({router}): needs root to create network namespaces; run `scripts/test.sh` as root"
        );
        return;
    }
    let (lab, eip) = Lab::up(router);
    let nodes = ["10.99.0.11", "10.99.0.12", "10.99.0.13"];

    let (n, rib) = lab.wait_paths(&eip, 3, Duration::from_secs(90));
    assert_eq!(
        n,
        3,
        "{router}'s RIB should hold a path to {eip} from every node:\n{rib}\n{}",
        lab.logs()
    );
    for node in nodes {
        assert!(
            rib.contains(node),
            "no path via {node} in {router}'s RIB:\n{rib}"
        );
    }
    if has_fib {
        let (n, route) = lab.wait_nexthops(&eip, 3, Duration::from_secs(30));
        assert_eq!(
            n,
            3,
            "{router} should hold one route to {eip} via all three nodes; it holds:\n{route}\n{}",
            lab.logs()
        );
        for node in nodes {
            assert!(
                route.contains(&format!("nexthop via {node} ")),
                "next hop {node} missing:\n{route}"
            );
        }
        let answers = lab.fetch(&eip, 30);
        for node in ["node1", "node2", "node3"] {
            assert!(
                answers.contains(node),
                "{node} never answered the client:\n{answers}"
            );
        }
        assert!(!answers.contains("FAILED"), "requests failed:\n{answers}");
    }

    let out = lab.cmd(&["stop-speaker", "node3"]);
    assert!(out.status.success(), "stopping node3's speaker failed");
    let (n, rib) = lab.wait_paths(&eip, 2, Duration::from_secs(120));
    assert_eq!(
        n, 2,
        "after node3's speaker stopped, {router}'s RIB should hold two paths:\n{rib}"
    );
    assert!(
        !rib.contains("10.99.0.13"),
        "node3's path is still in {router}'s RIB:\n{rib}"
    );
    if has_fib {
        let (n, route) = lab.wait_nexthops(&eip, 2, Duration::from_secs(30));
        assert_eq!(
            n, 2,
            "after node3's speaker stopped, {router} should route {eip} via two nodes; it holds:\n{route}"
        );
        assert!(
            !route.contains("10.99.0.13"),
            "node3 is still a next hop:\n{route}"
        );
        let answers = lab.fetch(&eip, 20);
        assert!(
            !answers.contains("node3") && !answers.contains("FAILED"),
            "after node3 left:\n{answers}"
        );
    }
}

#[test]
fn frr_holds_ecmp_route_and_drops_a_stopped_node() {
    ecmp_then_shrink("frr", true);
}

#[test]
fn bird_holds_ecmp_route_and_drops_a_stopped_node() {
    ecmp_then_shrink("bird", true);
}

#[test]
fn gobgp_holds_a_path_per_node_and_drops_a_stopped_node() {
    ecmp_then_shrink("gobgp", false);
}

#[test]
fn next_hop_counting() {
    let ecmp = "203.0.113.10 nhid 13 proto bgp metric 20 \n\tnexthop via 10.99.0.11 dev br0 weight 1 \n\tnexthop via 10.99.0.12 dev br0 weight 1 \n";
    assert_eq!(next_hops(ecmp), Some(2));
    assert_eq!(
        next_hops("203.0.113.10 via 10.99.0.11 dev br0 proto bird metric 32 \n"),
        Some(1)
    );
    assert_eq!(next_hops(""), None);
    let two_routes = "203.0.113.10 via 10.99.0.11 dev br0 proto bgp\n203.0.113.10 via 10.99.0.12 dev br0 proto bird\n";
    assert_eq!(next_hops(two_routes), None);
}
