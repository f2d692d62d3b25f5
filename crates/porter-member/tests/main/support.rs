//! Speakers on one virtual LAN: a clock, a latency, links that can be cut one way or both,
//! processes that can be killed and started again, and a record of every change each saw.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use porter_member::{Change, Config, Ignored, Key, Membership, Transmit};

pub const LATENCY: Duration = Duration::from_millis(1);

pub fn key() -> Key {
    Key::new(b"0123456789abcdef0123456789abcdef").unwrap()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub struct Node {
    /// None while the process is down.
    pub m: Option<Membership>,
    pub addr: IpAddr,
    pub boots: u64,
    pub config: Config,
    pub key: Key,
}

/// A datagram on the wire.
#[derive(Clone, Debug)]
pub struct Wire {
    pub at: Instant,
    pub from: String,
    pub to: String,
    pub payload: Vec<u8>,
}

pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: BTreeMap<String, Node>,
    /// Directed links that lose everything.
    pub cut: BTreeSet<(String, String)>,
    in_flight: Vec<Wire>,
    /// Every datagram sent, for replays.
    pub sent: Vec<Wire>,
    /// (when, observer, change)
    pub changes: Vec<(Instant, String, Change)>,
    /// (when, receiver, why) of every datagram refused.
    pub ignored: Vec<(Instant, String, Ignored)>,
}

impl Net {
    pub fn new(names: &[&str], config: Config) -> Net {
        let t0 = Instant::now();
        let mut net = Net {
            t0,
            now: t0,
            nodes: BTreeMap::new(),
            cut: BTreeSet::new(),
            in_flight: Vec::new(),
            sent: Vec::new(),
            changes: Vec::new(),
            ignored: Vec::new(),
        };
        for (i, name) in names.iter().enumerate() {
            let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1));
            net.nodes.insert(
                name.to_string(),
                Node {
                    m: None,
                    addr,
                    boots: 0,
                    config: config.clone(),
                    key: key(),
                },
            );
        }
        for name in names {
            net.start(name);
        }
        net
    }

    pub fn members(&self) -> Vec<(String, IpAddr)> {
        self.nodes
            .iter()
            .map(|(n, node)| (n.clone(), node.addr))
            .collect()
    }

    /// Starts (or restarts, with a new boot id) a node's speaker.
    pub fn start(&mut self, name: &str) {
        let members = self.members();
        let now = self.now;
        let node = self.nodes.get_mut(name).unwrap();
        node.boots += 1;
        // Distinct per node and per start, as random ones are in practice.
        let boot = NonZeroU64::new(node.boots * 1_000_003 + u64::from(name.as_bytes()[0])).unwrap();
        let mut m = Membership::new(node.config.clone(), name, boot, node.key.clone(), now);
        m.set_members(now, members.iter().map(|(n, a)| (n.as_str(), *a)));
        node.m = Some(m);
        self.collect();
    }

    /// Kills a node's speaker: no goodbye.
    pub fn kill(&mut self, name: &str) {
        self.nodes.get_mut(name).unwrap().m = None;
        self.in_flight.retain(|w| w.to != name);
    }

    pub fn leave(&mut self, name: &str) {
        let now = self.now;
        self.m_mut(name).leave(now);
        self.collect();
    }

    pub fn m(&self, name: &str) -> &Membership {
        self.nodes[name].m.as_ref().unwrap()
    }

    pub fn m_mut(&mut self, name: &str) -> &mut Membership {
        self.nodes.get_mut(name).unwrap().m.as_mut().unwrap()
    }

    pub fn cut_both(&mut self, a: &str, b: &str) {
        self.cut.insert((a.into(), b.into()));
        self.cut.insert((b.into(), a.into()));
    }

    /// Cuts every link between the two sides.
    pub fn partition(&mut self, left: &[&str], right: &[&str]) {
        for a in left {
            for b in right {
                self.cut_both(a, b);
            }
        }
    }

    /// Cuts a node off from all others (its link died).
    pub fn isolate(&mut self, name: &str) {
        let others: Vec<String> = self.nodes.keys().filter(|n| *n != name).cloned().collect();
        for other in others {
            self.cut_both(name, &other);
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Takes what every node wants to send onto the wire, and its changes into the record.
    fn collect(&mut self) {
        let now = self.now;
        for (name, node) in &mut self.nodes {
            let Some(m) = node.m.as_mut() else { continue };
            while let Some(Transmit {
                node: to, payload, ..
            }) = m.poll_transmit()
            {
                let wire = Wire {
                    at: now + LATENCY,
                    from: name.clone(),
                    to,
                    payload,
                };
                self.sent.push(wire.clone());
                if !self.cut.contains(&(wire.from.clone(), wire.to.clone())) {
                    self.in_flight.push(wire);
                }
            }
            while let Some(change) = m.poll_change() {
                self.changes.push((now, name.clone(), change));
            }
        }
    }

    /// Delivers a datagram now, as if it came from the wire (replays, forgeries).
    pub fn inject(&mut self, to: &str, payload: &[u8]) -> Result<(), Ignored> {
        let now = self.now;
        let result = self.m_mut(to).handle_packet(now, payload);
        self.collect();
        result
    }

    /// Runs the clock to `until`, event by event.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.collect();
            let next_delivery = self.in_flight.iter().map(|w| w.at).min();
            let next_timer = self
                .nodes
                .values()
                .filter_map(|n| n.m.as_ref().and_then(Membership::poll_timeout))
                .min();
            let Some(next) = next_delivery.into_iter().chain(next_timer).min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            let (due, later): (Vec<Wire>, Vec<Wire>) =
                self.in_flight.drain(..).partition(|w| w.at <= now);
            self.in_flight = later;
            for wire in due {
                if let Some(m) = self.nodes.get_mut(&wire.to).and_then(|n| n.m.as_mut())
                    && let Err(why) = m.handle_packet(now, &wire.payload)
                {
                    self.ignored.push((now, wire.to.clone(), why));
                }
            }
            for node in self.nodes.values_mut() {
                if let Some(m) = node.m.as_mut()
                    && m.poll_timeout().is_some_and(|at| at <= now)
                {
                    m.handle_timeout(now);
                    assert!(
                        m.poll_timeout().is_none_or(|at| at > now),
                        "a deadline in the past"
                    );
                }
            }
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// What `observer` counts alive, sorted.
    pub fn alive(&self, observer: &str) -> Vec<String> {
        let mut v: Vec<String> = self.m(observer).alive().map(str::to_owned).collect();
        v.sort();
        v
    }

    /// The first change after `since` in which `observer` counted `node` in or out.
    pub fn when(&self, observer: &str, node: &str, alive: bool, since: Instant) -> Option<Instant> {
        self.changes
            .iter()
            .find(|(at, o, c)| *at >= since && o == observer && c.node == node && c.alive == alive)
            .map(|(at, _, _)| *at)
    }

    pub fn change(
        &self,
        observer: &str,
        node: &str,
        alive: bool,
        since: Instant,
    ) -> Option<&Change> {
        self.changes
            .iter()
            .find(|(at, o, c)| *at >= since && o == observer && c.node == node && c.alive == alive)
            .map(|(_, _, c)| c)
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }
}

pub fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
