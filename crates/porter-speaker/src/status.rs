//! What the speaker's tasks are doing, for logs, `porter status`, BgpPeer status and metrics.
//!
//! Every protocol posts under its own [`Protocol`], one entry per task name (a BGP session
//! under its BgpPeer's name), so protocols never see each other's entries and a reader asks
//! for the ones it understands ([`StatusBoard::bgp_sessions`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::bfd::BfdStatus;
use crate::bgp::PeerStatus;
use crate::health::ProbeStatus;
use crate::layer2::{MembershipStatus, ResponderStatus};

/// The protocols the speaker runs, each posting its own entries on the [`StatusBoard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// BGP sessions, one entry per BgpPeer.
    Bgp,
    /// BFD sessions, one entry per BgpPeer that enables BFD.
    Bfd,
    /// Health probes, one entry per probed endpoint.
    Health,
    /// Layer 2 responders, one entry per interface (an Eip's `spec.interface`).
    Layer2,
    /// Layer 2 membership, one entry under the node's name.
    Membership,
}

/// One entry of the board: a task's status, in its protocol's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A BGP session.
    Bgp(PeerStatus),
    /// A BFD session.
    Bfd(BfdStatus),
    /// A health probe.
    Health(ProbeStatus),
    /// A layer 2 responder.
    Layer2(ResponderStatus),
    /// The layer 2 membership.
    Membership(MembershipStatus),
}

impl Status {
    /// The protocol whose task posted this.
    pub fn protocol(&self) -> Protocol {
        match self {
            Status::Bgp(_) => Protocol::Bgp,
            Status::Bfd(_) => Protocol::Bfd,
            Status::Health(_) => Protocol::Health,
            Status::Layer2(_) => Protocol::Layer2,
            Status::Membership(_) => Protocol::Membership,
        }
    }

    /// The BGP session's status, if this is one.
    pub fn as_bgp(&self) -> Option<&PeerStatus> {
        match self {
            Status::Bgp(status) => Some(status),
            _ => None,
        }
    }

    /// The BFD session's status, if this is one.
    pub fn as_bfd(&self) -> Option<&BfdStatus> {
        match self {
            Status::Bfd(status) => Some(status),
            _ => None,
        }
    }

    /// The health probe's status, if this is one.
    pub fn as_health(&self) -> Option<&ProbeStatus> {
        match self {
            Status::Health(status) => Some(status),
            _ => None,
        }
    }
}

/// Shared board where every task posts its status, by protocol and name; readers take
/// snapshots.
///
/// A mutex-protected map is enough: it is written when a task's status changes (a session's
/// state, prefix counts), not per message.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<Mutex<BTreeMap<(Protocol, String), Status>>>);

impl StatusBoard {
    /// A copy of every entry, by protocol and name.
    pub fn snapshot(&self) -> BTreeMap<(Protocol, String), Status> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// A copy of every BGP session's status, by BgpPeer name, each with the state of its BFD
    /// session when there is one (the two protocols post apart; readers see them together).
    pub fn bgp_sessions(&self) -> BTreeMap<String, PeerStatus> {
        let Ok(m) = self.0.lock() else {
            return BTreeMap::new();
        };
        m.iter()
            .filter(|((protocol, _), _)| *protocol == Protocol::Bgp)
            .filter_map(|((_, name), status)| {
                let mut peer = status.as_bgp()?.clone();
                peer.bfd = m
                    .get(&(Protocol::Bfd, name.clone()))
                    .and_then(Status::as_bfd)
                    .map(|bfd| bfd.state);
                Some((name.clone(), peer))
            })
            .collect()
    }

    /// A copy of every BFD session's status, by BgpPeer name.
    pub fn bfd_sessions(&self) -> BTreeMap<String, BfdStatus> {
        let Ok(m) = self.0.lock() else {
            return BTreeMap::new();
        };
        m.iter()
            .filter_map(|((_, name), status)| Some((name.clone(), status.as_bfd()?.clone())))
            .collect()
    }

    /// A copy of every health probe's status, by probe name (`namespace/name address:port`).
    pub fn health_probes(&self) -> BTreeMap<String, ProbeStatus> {
        let Ok(m) = self.0.lock() else {
            return BTreeMap::new();
        };
        m.iter()
            .filter_map(|((_, name), status)| Some((name.clone(), status.as_health()?.clone())))
            .collect()
    }

    /// A copy of every layer 2 responder's status, by interface (an Eip's `spec.interface`).
    pub fn layer2_responders(&self) -> BTreeMap<String, ResponderStatus> {
        let Ok(m) = self.0.lock() else {
            return BTreeMap::new();
        };
        m.iter()
            .filter_map(|((_, name), status)| match status {
                Status::Layer2(r) => Some((name.clone(), r.clone())),
                _ => None,
            })
            .collect()
    }

    /// The layer 2 membership's status, with the node's name, while it runs.
    pub fn membership(&self) -> Option<(String, MembershipStatus)> {
        let m = self.0.lock().ok()?;
        m.iter().find_map(|((_, name), status)| match status {
            Status::Membership(s) => Some((name.clone(), s.clone())),
            _ => None,
        })
    }

    /// Posts `name`'s status under its protocol (the tasks do; public so that readers of the
    /// board, such as the metrics collector, can be tested with a board of their own).
    pub fn set(&self, name: &str, status: Status) {
        if let Ok(mut m) = self.0.lock() {
            m.insert((status.protocol(), name.to_owned()), status);
        }
    }

    /// Posts BGP session `peer`'s status ([`set`](Self::set) of a [`Status::Bgp`]).
    pub fn set_bgp(&self, peer: &str, status: PeerStatus) {
        self.set(peer, Status::Bgp(status));
    }

    /// Forgets `name` of `protocol` (its task was stopped).
    pub fn remove(&self, protocol: Protocol, name: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&(protocol, name.to_owned()));
        }
    }
}
