//! What BFD session each peer should have: the pure translation of BGP's peers (porter-model)
//! into porter-bfd settings and socket settings.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use porter_model::valid::ValidPeer;

/// Everything a BFD session task needs. Two equal specs mean the running session can stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BfdSpec {
    /// The BgpPeer's name: the BGP session this BFD session protects.
    pub(crate) name: String,
    /// The neighbor's address.
    pub(crate) peer: IpAddr,
    /// Our address (the BgpPeer's `transport.localAddress`); `None` = the kernel's choice.
    pub(crate) local: Option<IpAddr>,
    /// RFC 5883 multihop (port 4784, any TTL) rather than RFC 5881 single hop.
    pub(crate) multihop: bool,
    pub(crate) desired_min_tx: Duration,
    pub(crate) required_min_rx: Duration,
    pub(crate) detect_mult: u8,
    pub(crate) passive: bool,
}

/// The BFD session of every peer that asks for one (and is not administratively down).
pub(crate) fn specs(peers: &BTreeMap<String, ValidPeer>) -> BTreeMap<String, BfdSpec> {
    peers
        .iter()
        .filter(|(_, p)| !p.admin_down)
        .filter_map(|(name, p)| {
            let bfd = p.bfd?;
            Some((
                name.clone(),
                BfdSpec {
                    name: name.clone(),
                    peer: p.address,
                    local: p.local_address,
                    multihop: bfd.multihop,
                    desired_min_tx: bfd.transmit_interval,
                    required_min_rx: bfd.receive_interval,
                    detect_mult: bfd.detect_multiplier,
                    passive: bfd.passive,
                },
            ))
        })
        .collect()
}
