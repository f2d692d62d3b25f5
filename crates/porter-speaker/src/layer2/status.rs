//! What layer 2's tasks post on the status board.

use std::net::IpAddr;

/// One interface's responder as seen from outside (entry name: the Eip's `spec.interface`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponderStatus {
    /// The interface it resolved to, once it did.
    pub device: Option<String>,
    /// The interface's MAC, as `aa:bb:cc:dd:ee:ff`, once resolved.
    pub mac: Option<String>,
    /// The addresses it answers for.
    pub owned: Vec<IpAddr>,
    /// Valid ARP requests and Neighbor Solicitations seen, for owned addresses or not.
    pub requests: u64,
    /// Answers sent.
    pub replies: u64,
    /// Gratuitous ARPs and unsolicited Neighbor Advertisements sent.
    pub gratuitous: u64,
    /// Another MAC announcing an owned address.
    pub conflicts: u64,
    /// Why it cannot answer (interface missing, socket refused), while it cannot.
    pub last_error: Option<String>,
}

/// This speaker's membership as seen from outside (entry name: its node name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MembershipStatus {
    /// Whether this node may answer (hears a quorum, settled, not leaving).
    pub ready: bool,
    /// Whether it hears fewer than a quorum.
    pub isolated: bool,
    /// The nodes counted alive, this one included while ready.
    pub alive: Vec<String>,
    /// Every other member.
    pub members: Vec<MemberView>,
    /// Datagrams ignored (unauthenticated, replayed, strangers).
    pub ignored: u64,
    /// Why heartbeats cannot be exchanged (the port is taken), while they cannot.
    pub last_error: Option<String>,
}

/// Another member as this speaker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Its node name.
    pub node: String,
    /// Where its heartbeats go.
    pub addr: IpAddr,
    /// Counted among the alive.
    pub alive: bool,
    /// Heard within the dead time.
    pub heard: bool,
    /// It said it is leaving.
    pub left: bool,
}
