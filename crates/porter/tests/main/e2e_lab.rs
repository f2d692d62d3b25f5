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
//! * weighted ECMP (FRR and BIRD only): next-hop weights in proportion to each node's ready
//!   endpoints of a `Local` Service, and the client's connections following them.
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

/// How long a client loop runs before the event it watches, so that it has reached every node
/// (its requests are hashed onto the paths): a warm-up, never an assertion.
const LOOP_WARM_UP: Duration = Duration::from_secs(2);

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
        std::thread::sleep(LOOP_WARM_UP);
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

/// BFD: a node whose cable is cut (no TCP connection closes) leaves the router's FIB long
/// before the BGP hold time (90 s) could take it out, and comes back when the cable does; a
/// node whose speaker hangs (SIGSTOP) leaves it too, and comes back when it resumes.
fn bfd_link_down(router: &str, has_fib: bool) {
    bfd_failures(router, has_fib, "bfd", lab_variants::BFD, &NODES_V4);
}

/// [`bfd_link_down`] over IPv6 sessions (iBGP): the hop limit is checked instead of the TTL.
fn bfd_ipv6_link_down(router: &str, has_fib: bool) {
    bfd_failures(
        router,
        has_fib,
        "bfd6",
        lab_variants::BFD_IPV6_IBGP,
        &NODES_V6,
    );
}

/// [`bfd_link_down`] with eBGP multihop sessions: multihop BFD (RFC 5883). FRR only: BIRD
/// resolves a multihop session's next hops through an IGP, which the lab does not run.
fn bfd_multihop_link_down(router: &str, has_fib: bool) {
    bfd_failures(
        router,
        has_fib,
        "bfdmh",
        lab_variants::BFD_MULTIHOP,
        &NODES_V4,
    );
}

fn bfd_failures(
    router: &str,
    has_fib: bool,
    name: &str,
    knobs: &[(&'static str, &'static str)],
    nodes: &[&str],
) {
    if skip_unless_root(router) {
        return;
    }
    assert!(has_fib, "BFD is tested on routers with a FIB");
    let (lab, eip) = Lab::up(router, &format!("{router}{name}"), knobs);
    assert_ecmp(&lab, router, has_fib, &eip, nodes);
    let start = Instant::now();
    let bfd_up = |lab: &Lab| {
        let out = String::from_utf8_lossy(&lab.cmd(&["bfd"]).stdout).into_owned();
        let up = out
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w.eq_ignore_ascii_case("up")))
            .count();
        (up, out)
    };
    let mut seen = bfd_up(&lab);
    while seen.0 < 3 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
        seen = bfd_up(&lab);
    }
    assert_eq!(
        seen.0, 3,
        "{router} should hold three BFD sessions up:\n{}",
        seen.1
    );

    assert!(lab.cmd(&["link-down", "node3"]).status.success());
    // The bound is far below the hold time, so only BFD can meet it; the time it takes is
    // measured by bench/failover.sh, not asserted.
    let (n, route) = lab.wait_nexthops(&eip, 2, Duration::from_secs(20));
    assert_eq!(
        n,
        2,
        "{router} kept node3's next hop after its link died:\n{route}\n{}",
        lab.logs()
    );
    // Node3 detects on its side too, within its own Detection Time (not in step with the
    // router's).
    let saw = |lab: &Lab| {
        let log = std::fs::read_to_string(lab.dir.join("speaker-node3.log")).unwrap_or_default();
        log.contains("BFD session down") && log.contains("BFD down")
    };
    let start = Instant::now();
    while !saw(&lab) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        saw(&lab),
        "node3's speaker should take its BGP session down on BFD down:\n{}",
        lab.logs()
    );

    assert!(lab.cmd(&["link-up", "node3"]).status.success());
    let (n, route) = lab.wait_nexthops(&eip, 3, Duration::from_secs(60));
    assert_eq!(
        n,
        3,
        "node3 did not come back after its link did:\n{route}\n{}",
        lab.logs()
    );

    // A hung node: its speaker stops (SIGSTOP), its sockets stay open; the router's BFD
    // notices the silence.
    assert!(lab.cmd(&["freeze-speaker", "node2"]).status.success());
    let (n, route) = lab.wait_nexthops(&eip, 2, Duration::from_secs(20));
    let _ = lab.cmd(&["thaw-speaker", "node2"]);
    assert_eq!(
        n,
        2,
        "{router} kept the hung node2's next hop:\n{route}\n{}",
        lab.logs()
    );
    let (n, route) = lab.wait_nexthops(&eip, 3, Duration::from_secs(60));
    assert_eq!(
        n,
        3,
        "node2 did not come back after its speaker resumed:\n{route}\n{}",
        lab.logs()
    );
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
    // A warm-up, not a measure: the loop must have reached node3 before its drain moves the
    // traffic away, or "nothing lost" would say nothing (a loaded machine runs the loop slowly).
    std::thread::sleep(LOOP_WARM_UP);
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
    frr_bfd_link_down_leaves_the_fib: bfd_link_down("frr", true);
    bird_bfd_link_down_leaves_the_fib: bfd_link_down("bird", true);
    frr_bfd_ipv6_link_down_leaves_the_fib: bfd_ipv6_link_down("frr", true);
    bird_bfd_ipv6_link_down_leaves_the_fib: bfd_ipv6_link_down("bird", true);
    frr_bfd_multihop_link_down_leaves_the_fib: bfd_multihop_link_down("frr", true);
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

// ------------------------------------------------------------------------------- weighted ECMP

/// The next hops of the router's kernel route to `eip` with their weights (`ip route`'s
/// `weight N`), by address.
fn weights(lab: &Lab, eip: &str) -> std::collections::BTreeMap<String, u32> {
    String::from_utf8_lossy(&lab.cmd(&["weights", eip]).stdout)
        .lines()
        .filter_map(|l| {
            let (addr, weight) = l.split_once(' ')?;
            Some((addr.to_owned(), weight.trim().parse().ok()?))
        })
        .collect()
}

/// Waits until the router's kernel route to `eip` goes via exactly the nodes of `want`
/// (address, endpoints) with weights in their proportion; returns the last weights seen.
fn wait_weights(
    lab: &Lab,
    eip: &str,
    want: &[(&str, u32)],
) -> std::collections::BTreeMap<String, u32> {
    let start = Instant::now();
    loop {
        let seen = weights(lab, eip);
        if proportional(&seen, want) || start.elapsed() > Duration::from_secs(60) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `seen` holds exactly the next hops of `want` and their weights are exactly in the
/// proportion of `want`'s endpoint counts (FRR maps bandwidths to 1..100: 1:3 is 25:75).
fn proportional(seen: &std::collections::BTreeMap<String, u32>, want: &[(&str, u32)]) -> bool {
    let Some(&(first, first_count)) = want.first() else {
        return seen.is_empty();
    };
    let Some(&first_weight) = seen.get(first) else {
        return false;
    };
    seen.len() == want.len()
        && want.iter().all(|&(addr, count)| {
            seen.get(addr).is_some_and(|&w| {
                u64::from(w) * u64::from(first_count) == u64::from(first_weight) * u64::from(count)
            })
        })
}

/// Weighted ECMP with FRR: a Service with `externalTrafficPolicy: Local` and one ready endpoint
/// on node1, three on node2, none on node3 is announced by node1 and node2 with link
/// bandwidths 1M and 3M; FRR (by default) installs next-hop weights 1:3 in the kernel, and
/// the client's connections follow them. Then the endpoints move and the weights follow.
#[test]
fn frr_weighted_ecmp_follows_ready_endpoints() {
    if skip_unless_root("frr") {
        return;
    }
    let (lab, eip) = Lab::up("frr", "frrw", lab_variants::WEIGHTED_ECMP);
    assert_ecmp(&lab, "frr", true, &eip, &NODES_V4);

    let out = lab.cmd(&["weighted-service", "node1=1 node2=3"]);
    assert!(out.status.success(), "writing the weighted Service failed");
    let want = [("10.99.0.11", 1), ("10.99.0.12", 3)];
    let seen = wait_weights(&lab, &eip, &want);
    assert!(
        proportional(&seen, &want),
        "FRR's kernel route should go via node1 and node2 weighted 1:3 (node3 runs no endpoint); it is {seen:?}:\n{}\n{}",
        lab.route(&eip),
        lab.logs()
    );
    let (_, rib) = lab.wait_paths(&eip, 2, Duration::from_secs(1));
    assert!(
        rib.contains("LB:64513:125000 ") && rib.contains("LB:64513:375000 "),
        "FRR should show the link bandwidths 1M and 3M (125000 and 375000 bytes/s):\n{rib}"
    );

    // 300 new connections: with weights 1:3, node1 gets about 75; with equal weights about
    // 150, so node2 getting at least twice node1's cannot pass with equal weights (5.8 sd
    // away) and fails with 1:3 only 3.3 sd away.
    let _ = lab.fetch(&eip, 6);
    let answers = lab.fetch(&eip, 300);
    let count = |node: &str| -> u32 {
        answers
            .lines()
            .find_map(|l| {
                let (n, who) = l.trim().split_once(' ')?;
                (who == node).then(|| n.parse().ok()).flatten()
            })
            .unwrap_or(0)
    };
    let (n1, n2) = (count("node1"), count("node2"));
    assert!(
        !answers.contains("FAILED") && count("node3") == 0,
        "requests failed or reached node3, which runs no endpoint:\n{answers}"
    );
    assert!(
        n1 > 0 && n2 >= 2 * n1 && n1 + n2 == 300,
        "the client's connections should follow the weights 1:3; node1 {n1}, node2 {n2}:\n{answers}"
    );

    // the endpoints move: node3 gets one, node1 a second, node2 keeps two
    let out = lab.cmd(&["weighted-service", "node1=2 node2=2 node3=1"]);
    assert!(out.status.success());
    let want = [("10.99.0.11", 2), ("10.99.0.12", 2), ("10.99.0.13", 1)];
    let seen = wait_weights(&lab, &eip, &want);
    assert!(
        proportional(&seen, &want),
        "after the endpoints moved FRR's weights should be 2:2:1; they are {seen:?}:\n{}",
        lab.route(&eip)
    );
}

/// BIRD 2 receives the link bandwidth (shown as an unknown extended community) but does not
/// weight its ECMP route by it: both nodes with endpoints are next hops, the node without
/// none. See docs/routers.md.
#[test]
fn bird_receives_the_link_bandwidth_of_weighted_ecmp() {
    if skip_unless_root("bird") {
        return;
    }
    let (lab, eip) = Lab::up("bird", "birdw", lab_variants::WEIGHTED_ECMP);
    assert_ecmp(&lab, "bird", true, &eip, &NODES_V4);
    let out = lab.cmd(&["weighted-service", "node1=1 node2=3"]);
    assert!(out.status.success());
    // BIRD prints the community as (unknown 0x4004, AS, float32 bits): 125000.0 is
    // 0x47F42400, 375000.0 is 0x48B71B00
    let start = Instant::now();
    let rib = loop {
        let (n, rib) = lab.wait_paths(&eip, 2, Duration::from_secs(60));
        let done = n == 2 && rib.contains("1219959552");
        if done || start.elapsed() > Duration::from_secs(60) {
            break rib;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        rib.contains("(unknown 0x4004, 64513, 1207182336)")
            && rib.contains("(unknown 0x4004, 64513, 1219959552)"),
        "BIRD should hold node1's and node2's paths with link bandwidths 125000 and 375000 bytes/s:\n{rib}\n{}",
        lab.logs()
    );
    assert!(
        !rib.contains("10.99.0.13"),
        "node3 runs no endpoint:\n{rib}"
    );
    let (n, route) = lab.wait_nexthops(&eip, 2, Duration::from_secs(30));
    assert_eq!(n, 2, "BIRD should route via node1 and node2:\n{route}");
}

#[test]
fn weight_proportions() {
    let seen = |pairs: &[(&str, u32)]| {
        pairs
            .iter()
            .map(|&(a, w)| (a.to_owned(), w))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let want = [("10.99.0.11", 1), ("10.99.0.12", 3)];
    assert!(proportional(
        &seen(&[("10.99.0.11", 25), ("10.99.0.12", 75)]),
        &want
    ));
    assert!(!proportional(
        &seen(&[("10.99.0.11", 1), ("10.99.0.12", 1)]),
        &want
    ));
    assert!(!proportional(
        &seen(&[("10.99.0.11", 33), ("10.99.0.12", 66)]),
        &want
    ));
    let three = seen(&[("10.99.0.11", 25), ("10.99.0.12", 75), ("10.99.0.13", 1)]);
    assert!(!proportional(&three, &want), "a next hop too many");
    assert!(!proportional(&seen(&[("10.99.0.12", 75)]), &want));
}

// Drain before terminate, beside the interop matrix (its own lab names).
mod drain;
// Health-driven withdrawal (its own lab names).
mod health;
// Layer 2 mode: ARP and NDP answered by one node per address (its own lab names).
mod layer2;
