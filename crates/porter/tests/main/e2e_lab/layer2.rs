//! Layer 2 mode (issue 14): no router; a client and three nodes on one bridge, Eips `protocol:
//! layer2, interface: eth0` (`lab.sh up-l2`). Every node's kernel accepts every pool address (on
//! lo, kube-proxy's part) and never answers ARP or Neighbor Solicitation for them, so the client
//! reaches an address only through the speaker that answers for it.
//!
//! For IPv4 (ARP) and IPv6 (NDP) alike: the client's neighbour entry (`ip neigh`) for each of 30
//! addresses holds the MAC of the owner the speakers must agree on (rendezvous hashing,
//! [`porter_model::owner`], over the three nodes) and its requests are answered by that node, so
//! the addresses spread over the three; then, for one address, its owner's speaker stopped
//! (SIGTERM), killed (SIGKILL) and its link cut: each time the client's entry moves to the next
//! owner, which answers, and back once the first owner returns. How long each takeover takes is
//! measured by bench/l2_takeover.sh, not asserted: the waits here are bounds only.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Lab, skip_unless_root};

const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// Brings up the layer 2 lab named `name`; returns it and its Services of the family asked for,
/// each with its address.
fn up(name: &str, v6: bool) -> (Lab, Vec<(String, IpAddr)>) {
    let lab = Lab {
        prefix: format!("e2e{name}-"),
        dir: std::env::temp_dir().join(format!("porter-e2e-{name}")),
        knobs: Vec::new(),
    };
    let out = lab.cmd(&["up-l2"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lab up-l2 failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.logs()
    );
    let eips: Vec<(String, IpAddr)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("EIP "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let service = words.next()?.to_owned();
            Some((service, words.next()?.parse().expect("an address")))
        })
        .filter(|(_, a): &(String, IpAddr)| a.is_ipv6() == v6)
        .collect();
    assert_eq!(eips.len(), 30, "30 addresses of the family: {stdout}");
    (lab, eips)
}

impl Lab {
    fn text(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.cmd(args).stdout)
            .trim()
            .to_owned()
    }

    fn mac(&self, node: &str) -> String {
        self.text(&["mac", node])
    }

    /// The client's neighbour entry for `addr`: its MAC, if it has one.
    fn neigh(&self, addr: IpAddr) -> Option<String> {
        let out = self.text(&["neigh", &addr.to_string()]);
        out.split_whitespace().next().map(str::to_owned)
    }

    /// One request from the client: the node that answered, or "FAILED".
    fn fetch_one(&self, addr: IpAddr) -> String {
        self.text(&["fetch-one", &addr.to_string(), "1"])
    }

    /// Sends requests to `addr` until the client's entry holds `node`'s MAC and `node` answers
    /// (at most `limit`). Err: what the client saw last.
    fn wait_owner(
        &self,
        addr: IpAddr,
        node: &str,
        mac: &str,
        limit: Duration,
    ) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let answer = self.fetch_one(addr);
            let neigh = self.neigh(addr);
            if answer == node && neigh.as_deref() == Some(mac) {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "{addr}: answered by {answer:?}, the client's entry {neigh:?}; want {node} ({mac})\n{}",
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The row of `porter status --manifests` for layer 2 address `addr`, as (owner, answered
    /// by, note), once it satisfies `want` (at most `limit`). Err: the screen last seen.
    fn status_row(
        &self,
        addr: IpAddr,
        limit: Duration,
        want: impl Fn(&(String, String, String)) -> bool,
    ) -> Result<(String, String, String), String> {
        let start = Instant::now();
        loop {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_porter"))
                .args(["status", "--manifests"])
                .arg(self.dir.join("manifests"))
                .output()
                .expect("porter status runs");
            let screen = String::from_utf8_lossy(&out.stdout).into_owned();
            // LAYER 2 ADDRESS, SERVICE, INTERFACE, OWNER, ANSWERED BY, NOTE (the rest)
            let row = screen.lines().find_map(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                (cells.first() == Some(&addr.to_string().as_str()) && cells.len() >= 5).then(|| {
                    (
                        cells[3].to_owned(),
                        cells[4].to_owned(),
                        cells[5..].join(" "),
                    )
                })
            });
            if let Some(row) = row.filter(|r| want(r)) {
                return Ok(row);
            }
            if start.elapsed() > limit {
                return Err(format!("{addr}: porter status says\n{screen}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The status file the controller writes for Service `name` (what a cluster's status
    /// subresource would hold).
    fn status_file(&self, name: &str) -> String {
        let path = self
            .dir
            .join(format!("manifests/status/service.default.{name}.yaml"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn must(&self, args: &[&str]) {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "lab.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The node every speaker must pick for `addr` among `nodes`.
fn owner<'a>(addr: IpAddr, nodes: impl IntoIterator<Item = &'a str>) -> &'a str {
    porter_model::owner::owner(addr, nodes).expect("a candidate")
}

fn layer2(name: &str, v6: bool) {
    if skip_unless_root(name) {
        return;
    }
    let (lab, services) = up(name, v6);
    let eips: Vec<IpAddr> = services.iter().map(|(_, a)| *a).collect();
    let macs: BTreeMap<&str, String> = NODES.iter().map(|n| (*n, lab.mac(n))).collect();

    // Every address answered by its owner, and the client's entry holds the owner's MAC.
    let mut spread: BTreeMap<&str, Vec<IpAddr>> = BTreeMap::new();
    for &addr in &eips {
        let node = owner(addr, NODES);
        // the first one also waits for the speakers to hear each other
        lab.wait_owner(addr, node, &macs[node], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("before any failure: {e}"));
        spread.entry(node).or_default().push(addr);
    }
    let counts: Vec<(&str, usize)> = spread.iter().map(|(n, a)| (*n, a.len())).collect();
    eprintln!("{name}: 30 addresses answered by their owners: {counts:?}");
    assert_eq!(
        spread.len(),
        3,
        "every node answers for some of the 30 addresses: {counts:?}"
    );

    // One address; its owner fails three ways, each time the next owner takes it, then the owner
    // comes back and takes it again (rendezvous hashing: it is still the first ranked).
    let (service, addr) = (&services[0].0, services[0].1);
    let first = owner(addr, NODES);
    let next = owner(addr, NODES.iter().copied().filter(|n| *n != first));
    let limit = Duration::from_secs(20);

    // What Porter says of it: the Service's condition and porter status name the owner, and the
    // speakers' reports say it answers.
    let how = if v6 { "NDP" } else { "ARP" };
    let said = format!("{addr}: answered by {first} (layer 2, {how})");
    let file = lab.status_file(service);
    assert!(
        file.contains(&said) && file.contains("porter.kubesphere.io/Announced"),
        "{service}'s status file should say {said:?}:\n{file}"
    );
    let row = lab
        .status_row(addr, Duration::from_secs(10), |r| r.1 == first)
        .unwrap_or_else(|e| panic!("the owner answering: {e}"));
    assert_eq!((row.0.as_str(), row.2.as_str()), (first, ""));
    for (how, fail, restore) in [
        ("stopped (SIGTERM)", "stop-speaker", "start-speaker"),
        ("killed (SIGKILL)", "kill-speaker", "start-speaker"),
        ("link cut", "link-down", "link-up"),
    ] {
        lab.must(&[fail, first]);
        lab.wait_owner(addr, next, &macs[next], limit)
            .unwrap_or_else(|e| panic!("{first}'s speaker {how}, {next} should answer: {e}"));
        // porter status: the objects still make `first` the owner; the reports say `next`
        // answers (a killed speaker's last report ages out in seconds)
        let row = lab
            .status_row(addr, limit, |r| r.1 == next)
            .unwrap_or_else(|e| panic!("{first}'s speaker {how}: {e}"));
        assert_eq!(row.0, first);
        assert!(
            row.2.contains(&format!(
                "{next} answers: the speakers do not hear {first}'s"
            )),
            "{row:?}"
        );
        lab.must(&[restore, first]);
        lab.wait_owner(addr, first, &macs[first], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{first} back after being {how}: {e}"));
    }
    // and every address is answered by its owner again
    for &addr in &eips {
        let node = owner(addr, NODES);
        lab.wait_owner(addr, node, &macs[node], Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("after the failures: {e}"));
    }
}

#[test]
fn layer2_ipv4_arp_owner_answers_and_takes_over() {
    layer2("l2v4", false);
}

#[test]
fn layer2_ipv6_ndp_owner_answers_and_takes_over() {
    layer2("l2v6", true);
}
