//! Layer 2, the speaker's part in answering ARP and NDP for `layer2` Eips (`plan.layer2`):
//!
//! * the membership task (`member.rs`): one UDP socket on port 7947 driving porter-member's
//!   `Membership` with the plan's members and the Secret's key; it publishes the nodes alive,
//!   which go back into planning ([`porter_model::announce::Observed::alive`]) exactly like
//!   the health probes' failing set, and it says goodbye first at shutdown so the other nodes
//!   take this one's addresses over at once;
//! * a responder task per interface with addresses this node owns (`respond.rs`): an AF_PACKET
//!   socket feeding porter-l2's `Responder`, told the owned set on every plan.
//!
//! Who owns what stays a pure function of the objects and the alive set (porter-model's
//! rendezvous hashing); this part only applies it. Without a membership key in the plan
//! nothing runs: a speaker that cannot hear the others must not answer.

mod link;
mod member;
mod respond;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use porter_member::Key;
use porter_model::layer2::{Layer2Plan, MemberKeys};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::status::{Protocol, StatusBoard};
use crate::supervisor::{Stop, Supervisor};

pub(crate) use link::by_subnet;
pub use member::MemberSocket;
pub use status::{MemberView, MembershipStatus, ResponderStatus};

/// How long a removed responder may take to end: it has nothing to say goodbye with.
const STOP_GRACE: Duration = Duration::from_millis(200);

/// What a plan asks of layer 2 on this node.
pub(crate) struct Wanted {
    /// The owned addresses by interface (an Eip's `spec.interface`, or for an Eip naming none
    /// the interface whose subnet holds the address).
    interfaces: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Owned addresses of Eips naming no interface for which no interface could be chosen,
    /// with why: nobody answers them on this node.
    unplaced: BTreeMap<IpAddr, String>,
    /// The speakers to hear.
    members: BTreeMap<String, IpAddr>,
    /// The membership key; `None`: layer 2 stays off.
    keys: Option<MemberKeys>,
}

impl Wanted {
    /// Layer 2's part of `plan` for node `node` (`None`: the speaker was given no node name,
    /// so it answers nothing); `by_subnet` finds the interface of an address whose Eip names
    /// none ([`by_subnet()`] on a node).
    pub(crate) fn of(
        plan: &Layer2Plan,
        node: Option<&str>,
        mut by_subnet: impl FnMut(IpAddr) -> Result<String, String>,
    ) -> Wanted {
        let mut interfaces: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
        let mut unplaced = BTreeMap::new();
        if let Some(node) = node
            && plan.keys.is_some()
        {
            for (addr, owned) in plan.owned_by(node) {
                let interface = match &owned.interface {
                    Some(spec) => spec.clone(),
                    None => match by_subnet(*addr) {
                        Ok(name) => name,
                        Err(why) => {
                            unplaced.insert(*addr, why);
                            continue;
                        }
                    },
                };
                interfaces.entry(interface).or_default().insert(*addr);
            }
        }
        Wanted {
            interfaces,
            unplaced,
            members: plan.members.clone(),
            keys: plan.keys.clone(),
        }
    }
}

/// The running membership task.
struct Running {
    commands: mpsc::Sender<member::Command>,
    task: JoinHandle<()>,
    keys: MemberKeys,
    members: BTreeMap<String, IpAddr>,
}

/// The speaker's layer 2 part: membership and responders, in step with the plan.
pub(crate) struct Layer2 {
    node: Option<String>,
    at: MemberSocket,
    board: StatusBoard,
    responders: Supervisor<String, respond::Command>,
    membership: Option<Running>,
    alive: watch::Sender<BTreeSet<String>>,
    /// The owned addresses no interface was found for, as last logged.
    unplaced: BTreeMap<IpAddr, String>,
}

impl Layer2 {
    /// Nothing running; tasks post to `board`.
    pub(crate) fn new(board: StatusBoard) -> Self {
        Self {
            node: None,
            at: MemberSocket::default(),
            responders: Supervisor::new(Protocol::Layer2, board.clone(), STOP_GRACE),
            board,
            membership: None,
            alive: watch::Sender::new(BTreeSet::new()),
            unplaced: BTreeMap::new(),
        }
    }

    /// Answers and heartbeats as node `node`, on membership socket `at`.
    pub(crate) fn set_node(&mut self, node: String, at: MemberSocket) {
        self.node = Some(node);
        self.at = at;
    }

    /// The nodes the membership counts alive (empty while it does not run).
    pub(crate) fn alive(&self) -> watch::Receiver<BTreeSet<String>> {
        self.alive.subscribe()
    }

    /// Brings membership and responders in line with `wanted`.
    pub(crate) async fn apply(&mut self, wanted: Wanted) {
        let Wanted {
            interfaces,
            unplaced,
            members,
            keys,
        } = wanted;
        if unplaced != self.unplaced {
            for (addr, why) in &unplaced {
                tracing::warn!(%addr, "layer 2: this node owns the address but answers nothing for it: {why}");
            }
            self.unplaced = unplaced;
        }
        match (keys, self.node.clone()) {
            (Some(keys), Some(node)) if !members.is_empty() => {
                self.membership(node, keys, members).await;
            }
            _ => self.stop_membership(Instant::now() + STOP_GRACE).await,
        }
        let board = &self.board;
        let specs = interfaces.keys().map(|i| (i.clone(), i.clone())).collect();
        self.responders
            .sync(specs, |name, _, commands| {
                respond::spawn(name.to_owned(), board.clone(), commands)
            })
            .await;
        for (interface, owned) in interfaces {
            self.responders
                .send(&interface, respond::Command::Own(owned))
                .await;
        }
    }

    /// Starts the membership, or tells it the new keys and members.
    async fn membership(
        &mut self,
        node: String,
        keys: MemberKeys,
        members: BTreeMap<String, IpAddr>,
    ) {
        let Some(all) = to_keys(&keys) else {
            self.stop_membership(Instant::now() + STOP_GRACE).await;
            return;
        };
        match &mut self.membership {
            Some(running) => {
                if running.keys != keys {
                    let _ = running.commands.send(member::Command::Keys(all)).await;
                    running.keys = keys;
                }
                if running.members != members {
                    let _ = running
                        .commands
                        .send(member::Command::Members(members.clone()))
                        .await;
                    running.members = members;
                }
            }
            None => {
                let (commands, rx) = mpsc::channel(16);
                let first = all[0].clone();
                let task = member::spawn(
                    node,
                    first,
                    self.at,
                    self.alive.clone(),
                    self.board.clone(),
                    rx,
                );
                let _ = commands.send(member::Command::Keys(all)).await;
                let _ = commands
                    .send(member::Command::Members(members.clone()))
                    .await;
                self.membership = Some(Running {
                    commands,
                    task,
                    keys,
                    members,
                });
            }
        }
    }

    /// Says goodbye to the members and ends the membership task by `deadline`.
    async fn stop_membership(&mut self, deadline: Instant) {
        let Some(running) = self.membership.take() else {
            return;
        };
        let Running { commands, task, .. } = running;
        let _ = tokio::time::timeout_at(deadline, commands.send(member::Command::Leave)).await;
        let mut task = task;
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            tracing::warn!("layer 2 membership did not stop in time; aborted");
            task.abort();
            let _ = task.await;
            if let Some(node) = &self.node {
                self.board.remove(Protocol::Membership, node);
            }
            self.alive.send_replace(BTreeSet::new());
        }
    }

    /// Leaves the membership first (the other nodes take over at once), then stops the
    /// responders, all by `deadline`.
    pub(crate) async fn stop(&mut self, why: Stop, deadline: Instant) {
        self.stop_membership(deadline).await;
        self.responders.stop_all(why, deadline).await;
    }
}

/// The plan's keys for porter-member, the one to send with first; `None` if unusable (the
/// model checked their length, so only a mistake here).
fn to_keys(keys: &MemberKeys) -> Option<Vec<Key>> {
    let first = Key::new(&keys.key).ok()?;
    let previous = keys.previous.as_deref().and_then(|p| Key::new(p).ok());
    Some(std::iter::once(first).chain(previous).collect())
}

#[cfg(test)]
mod tests {
    use porter_model::ObjectKey;
    use porter_model::layer2::Layer2Address;

    use super::*;

    fn plan(keys: Option<MemberKeys>) -> Layer2Plan {
        let address = |owner: &str, interface: &str| Layer2Address {
            owner: Some(owner.to_owned()),
            interface: (!interface.is_empty()).then(|| interface.to_owned()),
            eip: "l2".into(),
            service: ObjectKey::new("default", "web"),
        };
        Layer2Plan {
            members: BTreeMap::from([
                ("a".to_owned(), "10.0.0.1".parse().unwrap()),
                ("b".to_owned(), "10.0.0.2".parse().unwrap()),
            ]),
            owners: BTreeMap::from([
                ("192.0.2.1".parse().unwrap(), address("a", "eth0")),
                ("192.0.2.2".parse().unwrap(), address("b", "eth0")),
                (
                    "192.0.2.3".parse().unwrap(),
                    address("a", "can_reach:10.0.0.254"),
                ),
                ("2001:db8::1".parse().unwrap(), address("a", "eth0")),
                // no spec.interface: the node's subnets decide
                ("198.51.100.1".parse().unwrap(), address("a", "")),
                ("203.0.113.1".parse().unwrap(), address("a", "")),
            ]),
            keys,
        }
    }

    /// A node whose eth0 holds 198.51.100.0/24, and nothing else.
    fn by_subnet(addr: IpAddr) -> Result<String, String> {
        match addr {
            IpAddr::V4(a) if a.octets()[..3] == [198, 51, 100] => Ok("eth0".into()),
            _ => Err("no subnet".into()),
        }
    }

    #[test]
    fn a_node_answers_on_the_interfaces_of_its_own_addresses_only_with_a_key() {
        let keys = MemberKeys {
            key: vec![1; 32],
            previous: None,
        };
        let wanted = Wanted::of(&plan(Some(keys.clone())), Some("a"), by_subnet);
        let ips = |list: &[&str]| -> BTreeSet<IpAddr> {
            list.iter().map(|a| a.parse().unwrap()).collect()
        };
        assert_eq!(
            wanted.interfaces,
            BTreeMap::from([
                ("can_reach:10.0.0.254".to_owned(), ips(&["192.0.2.3"])),
                (
                    "eth0".to_owned(),
                    ips(&["192.0.2.1", "198.51.100.1", "2001:db8::1"])
                ),
            ])
        );
        assert_eq!(
            wanted.unplaced,
            BTreeMap::from([("203.0.113.1".parse().unwrap(), "no subnet".to_owned())])
        );
        assert_eq!(wanted.members.len(), 2);
        assert_eq!(wanted.keys, Some(keys.clone()));
        assert!(
            Wanted::of(&plan(Some(keys)), Some("c"), by_subnet)
                .interfaces
                .is_empty()
        );
        // without the key, or without a node name, nothing is answered
        assert!(
            Wanted::of(&plan(None), Some("a"), by_subnet)
                .interfaces
                .is_empty()
        );
        assert!(
            Wanted::of(&plan(None), None, by_subnet)
                .interfaces
                .is_empty()
        );
    }

    #[test]
    fn the_keys_go_to_the_membership_new_first() {
        let keys = MemberKeys {
            key: vec![1; 32],
            previous: Some(vec![2; 16]),
        };
        assert_eq!(to_keys(&keys).map(|k| k.len()), Some(2));
        let short = MemberKeys {
            key: vec![1; 8],
            previous: None,
        };
        assert!(to_keys(&short).is_none());
    }
}
