//! End-to-end interop matrix: Porter against real routers (FRR, BIRD 2, GoBGP) in network
//! namespaces, real kernels, real traffic.
//!
//! The lab machinery is `lab/lab.sh` (shared with the README's demo); the assertions are
//! here and read the routers' own views: the BGP RIB (vtysh / birdc / gobgp) must hold one
//! path per node, and the kernel FIB one route to the Service's EIP with one next hop per
//! node, which the client's traffic reaches. GoBGP has no FIB of its own (see lab/lib.sh),
//! so for it only the RIB is checked. For each router:
//!
//! * eBGP, IPv4, a community on the Eip: ECMP, the community visible on the router, one
//!   path fewer after a speaker stops, and nothing left once the Service is deleted;
//! * iBGP over IPv6 sessions with TCP MD5 (password from a Secret): an IPv6 EIP;
//! * an IPv6 EIP over IPv4 sessions (MP-BGP) with Porter passive (the router dials);
//! * graceful restart: a speaker restart never costs the router a path or next hop, nor a
//!   client loop a request;
//! * graceful shutdown (RFC 8326, FRR and BIRD): on SIGTERM the router sees the node's path
//!   with GRACEFUL_SHUTDOWN and LOCAL_PREF 0 and drops it from its FIB while the session is
//!   still up, then the withdrawal; a client loop across it loses no request.
//!
//! Needs root (namespaces) and the routers (`scripts/deps.sh` installs them); skips with a
//! message when not root, and fails instead under CI (`CI` set), which runs as root.

use crate::support::cannot_run;
use crate::support::cluster_lab::is_root;
use crate::support::lab_variants;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// One lab instance; its namespaces and processes are removed when it is dropped, also
/// when an assertion fails.
struct Lab {
    prefix: String,
    dir: PathBuf,
    /// `LAB_*` knobs of lab/lib.sh (iBGP, IPv6, MD5, passive, graceful restart, ...).
    knobs: Vec<(&'static str, &'static str)>,
}

impl Lab {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(repo().join("lab/lab.sh"))
            .args(args)
            .env("LAB_PREFIX", &self.prefix)
            .env("LAB_DIR", &self.dir)
            .env("PORTER", env!("CARGO_BIN_EXE_porter"))
            .envs(self.knobs.iter().copied())
            .output()
            .expect("run lab/lab.sh")
    }

    /// Brings up a lab named `name` (unique per test: namespaces are prefixed with it) with
    /// `router` and the given knobs; returns it and the Service's EIP.
    fn up(router: &str, name: &str, knobs: &[(&'static str, &'static str)]) -> (Lab, String) {
        let prefix = format!("e2e{name}-");
        let dir = std::env::temp_dir().join(format!("porter-e2e-{name}"));
        let lab = Lab {
            prefix,
            dir,
            knobs: knobs.to_vec(),
        };
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

    /// How many ways the router reaches `eip` right now: kernel next hops where it has a
    /// FIB, RIB paths otherwise.
    fn reach(&self, eip: &str, has_fib: bool) -> usize {
        if has_fib {
            next_hops(&self.route(eip)).unwrap_or(0)
        } else {
            String::from_utf8_lossy(&self.cmd(&["paths", eip]).stdout)
                .trim()
                .parse()
                .unwrap_or(0)
        }
    }

    /// How many BGP sessions the router has Established.
    fn established(&self) -> usize {
        let out = self.cmd(&["established"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    fn fetch(&self, eip: &str, count: u32) -> String {
        String::from_utf8_lossy(&self.cmd(&["fetch", eip, &count.to_string()]).stdout).into_owned()
    }

    /// The client loop's result (`lab.sh loop-stop`): requests, failures, longest gap.
    fn loop_stop(&self) -> serde_json::Value {
        let out = self.cmd(&["loop-stop"]);
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim()).unwrap_or_else(|e| {
            panic!(
                "client loop result: {e}: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// The router's path to `eip` via `node` (`lab.sh path-of`): communities and LOCAL_PREF.
    fn path_of(&self, eip: &str, node: &str) -> Option<serde_json::Value> {
        let out = self.cmd(&["path-of", eip, node]);
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).ok()
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

const NODES_V4: [&str; 3] = ["10.99.0.11", "10.99.0.12", "10.99.0.13"];
const NODES_V6: [&str; 3] = ["fd00:99::11", "fd00:99::12", "fd00:99::13"];

/// Whether `test` must be skipped (not root); under CI, where it must run, that fails instead.
fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    cannot_run(
        test,
        "needs root to create network namespaces; run `scripts/test.sh` as root",
    );
    true
}

/// The router's RIB holds one path per node, and (routers with a FIB) its kernel one route
/// with one next hop per node, and the client's requests reach every node.
fn assert_ecmp(lab: &Lab, router: &str, has_fib: bool, eip: &str, nodes: &[&str]) {
    let (n, rib) = lab.wait_paths(eip, nodes.len(), Duration::from_secs(90));
    assert_eq!(
        n,
        nodes.len(),
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
        let (n, route) = lab.wait_nexthops(eip, nodes.len(), Duration::from_secs(30));
        assert_eq!(
            n,
            nodes.len(),
            "{router} should hold one route to {eip} via every node; it holds:\n{route}\n{}",
            lab.logs()
        );
        for node in nodes {
            assert!(
                route.contains(&format!("nexthop via {node} ")),
                "next hop {node} missing:\n{route}"
            );
        }
        // Warm-up, not measured: the router's first packets towards a next hop it has never
        // talked to (IPv6 next hops learnt over IPv4 sessions) wait for neighbour discovery,
        // and one such request was seen to time out. The 30 that count must all succeed.
        let _ = lab.fetch(eip, 6);
        let answers = lab.fetch(eip, 30);
        for node in ["node1", "node2", "node3"] {
            assert!(
                answers.contains(node),
                "{node} never answered the client:\n{answers}"
            );
        }
        assert!(!answers.contains("FAILED"), "requests failed:\n{answers}");
    }
}

/// eBGP over IPv4 with a community on the Eip: ECMP over three nodes, the community visible
/// on the router, one fewer path after a speaker stops (NOTIFICATION Cease: at once), and
/// the route gone when the Service is deleted.
fn ebgp_ipv4(router: &str, has_fib: bool) {
    if skip_unless_root(router) {
        return;
    }
    let (lab, eip) = Lab::up(router, &format!("{router}4"), lab_variants::EBGP_COMMUNITY);
    assert_ecmp(&lab, router, has_fib, &eip, &NODES_V4);
    let (_, rib) = lab.wait_paths(&eip, 3, Duration::from_secs(1));
    // FRR and GoBGP print 64513:100, BIRD (64513,100)
    assert!(
        rib.contains("64513:100") || rib.contains("(64513,100)"),
        "the Eip's community 64513:100 is not on {router}'s paths:\n{rib}"
    );

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

    let out = lab.cmd(&["delete-service"]);
    assert!(out.status.success());
    let (n, rib) = lab.wait_paths(&eip, 0, Duration::from_secs(60));
    assert_eq!(
        n, 0,
        "the Service is gone but {router} still has paths to {eip}:\n{rib}"
    );
    if has_fib {
        let (n, route) = lab.wait_nexthops(&eip, 0, Duration::from_secs(30));
        assert_eq!(
            n, 0,
            "the Service is gone but {router} still routes {eip}:\n{route}"
        );
    }
}

/// iBGP over IPv6 sessions with TCP MD5 (password from a Secret): an IPv6 EIP with ECMP.
fn ibgp_ipv6_md5(router: &str, has_fib: bool) {
    if skip_unless_root(router) {
        return;
    }
    let (lab, eip) = Lab::up(router, &format!("{router}6"), lab_variants::IBGP_IPV6_MD5);
    assert!(eip.contains(':'), "an IPv6 EIP, got {eip}");
    assert_ecmp(&lab, router, has_fib, &eip, &NODES_V6);
}

/// An IPv6 EIP carried over IPv4 sessions (MP-BGP, the node's IPv6 address as next hop),
/// with Porter passive: the router opens every session.
fn ipv6_over_ipv4_passive(router: &str, has_fib: bool) {
    if skip_unless_root(router) {
        return;
    }
    let (lab, eip) = Lab::up(
        router,
        &format!("{router}d"),
        lab_variants::IPV6_OVER_IPV4_PASSIVE,
    );
    assert!(eip.contains(':'), "an IPv6 EIP, got {eip}");
    assert_ecmp(&lab, router, has_fib, &eip, &NODES_V6);
}

/// Graceful restart: restarting a node's speaker (SIGTERM, start again) must not disturb the
/// router: it keeps the node's path while Porter is away (no NOTIFICATION is sent) and the
/// route never loses a next hop.
fn graceful_restart(router: &str, has_fib: bool) {
    if skip_unless_root(router) {
        return;
    }
    let (lab, eip) = Lab::up(
        router,
        &format!("{router}gr"),
        lab_variants::GRACEFUL_RESTART,
    );
    assert_ecmp(&lab, router, has_fib, &eip, &NODES_V4);

    if has_fib {
        assert!(lab.cmd(&["monitor-start"]).status.success());
        assert!(lab.cmd(&["loop-start", &eip]).status.success());
    }
    let restart = {
        let lab_cmd = |args: &[&str]| lab.cmd(args);
        std::thread::scope(|scope| {
            let handle = scope.spawn(|| lab_cmd(&["restart-speaker", "node3"]));
            // While node3's speaker restarts, the router must keep three paths (and next hops).
            let mut fewest = usize::MAX;
            while !handle.is_finished() {
                fewest = fewest.min(lab.reach(&eip, has_fib));
            }
            (handle.join().expect("restart thread"), fewest)
        })
    };
    assert!(
        restart.0.status.success(),
        "restarting node3's speaker failed"
    );
    // until node3's new session is up and has re-announced
    let start = Instant::now();
    let mut fewest = restart.1;
    while lab.established() < 3 && start.elapsed() < Duration::from_secs(60) {
        fewest = fewest.min(lab.reach(&eip, has_fib));
    }
    assert_eq!(
        lab.established(),
        3,
        "node3's session did not come back:\n{}",
        lab.logs()
    );
    let (n, rib) = lab.wait_paths(&eip, 3, Duration::from_secs(30));
    assert_eq!(
        n, 3,
        "after the restart {router} should hold three paths:\n{rib}"
    );
    assert_eq!(
        fewest, 3,
        "{router} lost node3's path while its speaker restarted under graceful restart"
    );
    if has_fib {
        let result = lab.loop_stop();
        assert_eq!(
            result["failed"], 0,
            "{router}: the client loop lost requests while node3's speaker restarted: {result}"
        );
        assert!(
            result["nodes"]["node3"].as_u64().unwrap_or(0) > 0,
            "the client loop never reached node3: {result}"
        );
        let events = String::from_utf8_lossy(&lab.cmd(&["monitor-stop"]).stdout).into_owned();
        let deleted: Vec<&str> = events
            .lines()
            .filter(|l| l.starts_with("Deleted") && l.contains(&eip))
            .collect();
        assert!(
            deleted.is_empty(),
            "{router} deleted its route to {eip} during the restart:\n{events}"
        );
    }
}

/// Graceful shutdown (RFC 8326): node3's speaker gets SIGTERM while a client loop runs. The
/// router must see node3's path again with GRACEFUL_SHUTDOWN and LOCAL_PREF 0 and take it out
/// of its FIB while node3's session is still Established (traffic moves before the
/// withdrawal), then lose the path; the client loop must lose no request but, at most, the
/// one a FIB change can reset whatever the speaker does.
fn graceful_shutdown(router: &str) {
    if skip_unless_root(router) {
        return;
    }
    let (lab, eip) = Lab::up(
        router,
        &format!("{router}gs"),
        lab_variants::GRACEFUL_SHUTDOWN,
    );
    assert_ecmp(&lab, router, true, &eip, &NODES_V4);
    let node3 = NODES_V4[2];
    assert!(lab.cmd(&["loop-start", &eip]).status.success());
    let (stop, draining, moved_early) = std::thread::scope(|scope| {
        let handle = scope.spawn(|| lab.cmd(&["stop-speaker", "node3"]));
        let (mut draining, mut moved_early) = (None, false);
        while !handle.is_finished() {
            if let Some(path) = lab.path_of(&eip, node3) {
                let communities = path["communities"].as_str().unwrap_or_default();
                if communities.contains("graceful-shutdown") || communities.contains("(65535,0)") {
                    draining = Some(path.clone());
                    // still announced (the session is up), yet no longer a next hop
                    let route = lab.route(&eip);
                    moved_early |= next_hops(&route) == Some(2) && !route.contains(node3);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (handle.join().expect("stop thread"), draining, moved_early)
    });
    assert!(stop.status.success(), "stopping node3's speaker failed");
    let (n, rib) = lab.wait_paths(&eip, 2, Duration::from_secs(30));
    let result = lab.loop_stop();
    let draining = draining.unwrap_or_else(|| {
        panic!(
            "{router} never saw node3's path with GRACEFUL_SHUTDOWN:\n{rib}\n{}",
            lab.logs()
        )
    });
    assert_eq!(
        draining["local_pref"], 0,
        "{router} did not lower node3's draining path to LOCAL_PREF 0: {draining}"
    );
    assert!(
        moved_early,
        "{router} kept node3 as a next hop while its path was draining"
    );
    assert_eq!(n, 2, "node3's path was not withdrawn:\n{rib}");
    // One FIB change (node3 leaves the multipath set) rehashes the flows in flight: a request
    // whose handshake straddles it can be reset by the node its later packets land on, with
    // or without the drain (measured in bench/gshut.sh). Anything else (a timeout: traffic
    // sent to a node that no longer takes it) is a loss the drain must prevent.
    let resets = result["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| {
                    e.as_str()
                        .unwrap_or_default()
                        .contains("ConnectionResetError")
                })
                .count()
        })
        .unwrap_or(0);
    assert!(
        result["failed"].as_u64() == Some(0)
            || (result["failed"].as_u64() == Some(1) && resets == 1),
        "{router}: the client loop lost requests across node3's graceful shutdown: {result}"
    );
    assert!(
        result["nodes"]["node3"].as_u64().unwrap_or(0) > 0,
        "the client loop never reached node3: {result}"
    );
    let log = std::fs::read_to_string(lab.dir.join("speaker-node3.log")).unwrap_or_default();
    assert!(
        log.contains("graceful shutdown (RFC 8326)"),
        "node3's speaker did not drain:\n{log}"
    );
}

macro_rules! interop {
    ($($name:ident: $case:ident($router:literal, $fib:literal);)*) => {$(
        #[test]
        fn $name() {
            $case($router, $fib);
        }
    )*};
}

// FRR and BIRD program the kernel (FIB and traffic are checked); gobgpd has no FIB code, so
// for it the RIB is checked (see lab/lib.sh).
interop! {
    frr_ebgp_ipv4_ecmp_communities_shrink_withdraw: ebgp_ipv4("frr", true);
    bird_ebgp_ipv4_ecmp_communities_shrink_withdraw: ebgp_ipv4("bird", true);
    gobgp_ebgp_ipv4_paths_communities_shrink_withdraw: ebgp_ipv4("gobgp", false);
    frr_ibgp_ipv6_md5: ibgp_ipv6_md5("frr", true);
    bird_ibgp_ipv6_md5: ibgp_ipv6_md5("bird", true);
    gobgp_ibgp_ipv6_md5: ibgp_ipv6_md5("gobgp", false);
    frr_ipv6_over_ipv4_passive: ipv6_over_ipv4_passive("frr", true);
    bird_ipv6_over_ipv4_passive: ipv6_over_ipv4_passive("bird", true);
    gobgp_ipv6_over_ipv4_passive: ipv6_over_ipv4_passive("gobgp", false);
    frr_graceful_restart_keeps_routes: graceful_restart("frr", true);
    bird_graceful_restart_keeps_routes: graceful_restart("bird", true);
    gobgp_graceful_restart_keeps_paths: graceful_restart("gobgp", false);
}

#[test]
fn frr_graceful_shutdown_drains_before_withdrawing() {
    graceful_shutdown("frr");
}

#[test]
fn bird_graceful_shutdown_drains_before_withdrawing() {
    graceful_shutdown("bird");
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
