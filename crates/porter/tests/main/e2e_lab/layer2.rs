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

/// Brings up the layer 2 lab named `name`; returns it and the addresses of its Services of the
/// family asked for.
fn up(name: &str, v6: bool) -> (Lab, Vec<IpAddr>) {
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
    let eips: Vec<IpAddr> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("EIP "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|a| a.parse().expect("an address"))
        .filter(|a: &IpAddr| a.is_ipv6() == v6)
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
    let (lab, eips) = up(name, v6);
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
    let addr = eips[0];
    let first = owner(addr, NODES);
    let next = owner(addr, NODES.iter().copied().filter(|n| *n != first));
    let limit = Duration::from_secs(20);
    for (how, fail, restore) in [
        ("stopped (SIGTERM)", "stop-speaker", "start-speaker"),
        ("killed (SIGKILL)", "kill-speaker", "start-speaker"),
        ("link cut", "link-down", "link-up"),
    ] {
        lab.must(&[fail, first]);
        lab.wait_owner(addr, next, &macs[next], limit)
            .unwrap_or_else(|e| panic!("{first}'s speaker {how}, {next} should answer: {e}"));
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
