//! OPEN messages and the capabilities Porter negotiates (RFC 5492).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use bytes::Bytes;
use rustbgpd_wire as codec;
use rustbgpd_wire::{
    AddPathFamily, Afi, Capability, ExtendedNextHopFamily, GracefulRestartFamily, OpenMessage, Safi,
};

use super::{AS_TRANS, EncodeError, afi_safi, enc_err, family_of};
use crate::error::NotificationError;
use crate::prefix::Family;

/// ADD-PATH direction for one family (RFC 7911 §4 Send/Receive field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddPathMode {
    /// Able to receive multiple paths (1).
    Receive,
    /// Able to send multiple paths (2).
    Send,
    /// Both (3).
    Both,
}

impl AddPathMode {
    /// The mode for the given directions; `None` when neither (no capability entry).
    pub fn from_flags(send: bool, receive: bool) -> Option<AddPathMode> {
        match (send, receive) {
            (true, true) => Some(AddPathMode::Both),
            (true, false) => Some(AddPathMode::Send),
            (false, true) => Some(AddPathMode::Receive),
            (false, false) => None,
        }
    }

    /// Whether the sender of this capability will send path identifiers.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }

    /// Whether the sender of this capability accepts path identifiers.
    pub fn receives(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }
}

/// The graceful restart capability (RFC 4724 §3) as sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestartCap {
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Restart State (R) bit: the sender has just restarted.
    pub restarting: bool,
    /// Families with their Forwarding State (F) bit (forwarding preserved across the restart).
    pub families: BTreeMap<Family, bool>,
}

/// The parts of an OPEN message Porter cares about, in both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The 2-octet My AS field (`AS_TRANS` when the real AS needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// The 4-octet AS capability (RFC 6793), if advertised.
    pub four_octet_as: Option<u32>,
    /// Multiprotocol capabilities (RFC 4760) for the families Porter knows.
    pub families: BTreeSet<Family>,
    /// Whether any multiprotocol capability was present at all (also for unknown families);
    /// without one the peer implicitly speaks IPv4 unicast only.
    pub multiprotocol: bool,
    /// Route refresh capability (RFC 2918).
    pub route_refresh: bool,
    /// RFC 8950 extended next hop for IPv4 unicast NLRI with an IPv6 next hop (the only
    /// combination Porter uses); other combinations are ignored.
    pub extended_next_hop: bool,
    /// RFC 8654 extended messages.
    pub extended_message: bool,
    /// RFC 4724 graceful restart.
    pub graceful_restart: Option<GracefulRestartCap>,
    /// RFC 7911 ADD-PATH, per family Porter knows.
    pub add_path: BTreeMap<Family, AddPathMode>,
    /// Codes of other capabilities, kept for logs; Porter ignores them (RFC 5492 allows that).
    pub other_capabilities: Vec<u8>,
}

impl Open {
    /// A baseline OPEN: IPv4 and IPv6 unicast, 4-octet AS, route refresh, nothing else. The
    /// session adds the optional capabilities its configuration asks for.
    pub fn local(local_as: u32, router_id: Ipv4Addr, hold_time: u16) -> Open {
        Open {
            my_as: u16::try_from(local_as).unwrap_or(AS_TRANS),
            hold_time,
            router_id,
            four_octet_as: Some(local_as),
            families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
            multiprotocol: true,
            route_refresh: true,
            extended_next_hop: false,
            extended_message: false,
            graceful_restart: None,
            add_path: BTreeMap::new(),
            other_capabilities: Vec::new(),
        }
    }

    /// The sender's AS: the 4-octet capability value when present, else My AS (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.four_octet_as.unwrap_or(u32::from(self.my_as))
    }

    /// Families the sender supports, with RFC 4760's default (IPv4 unicast) when it sent no
    /// multiprotocol capability at all.
    pub fn effective_families(&self) -> BTreeSet<Family> {
        if self.multiprotocol {
            self.families.clone()
        } else {
            [Family::Ipv4Unicast].into()
        }
    }
}

/// Why a capability Porter uses is malformed, if it is: the codec keeps such a capability as
/// `Unknown`, as if it had never been sent.
///
/// A recognised optional parameter that is malformed is OPEN Message Error / Unspecific (2/0,
/// RFC 4271 §6.2); capabilities travel in optional parameter 2 (RFC 5492 §4) and RFC 5492 names
/// no other error for a malformed one. Accepting it instead would change how later messages are
/// read (a 4-octet AS capability of the wrong length read as absent makes every AS_PATH 2-octet).
/// `None` for a well-formed value the codec did not model (a family Porter does not know), which
/// is not an error.
fn malformed_capability(code: u8, data: &[u8]) -> Option<String> {
    let len = data.len();
    let wrong = |expected: &str| Some(format!("capability {code} of length {len}, {expected}"));
    match code {
        CAP_MULTIPROTOCOL if len != 4 => wrong("expected 4 (RFC 4760 §8)"),
        CAP_ROUTE_REFRESH if len != 0 => wrong("expected 0 (RFC 2918 §2)"),
        CAP_EXTENDED_NEXT_HOP if len == 0 || !len.is_multiple_of(6) => {
            wrong("expected a non-zero multiple of 6 (RFC 8950)")
        }
        CAP_EXTENDED_MESSAGE if len != 0 => wrong("expected 0 (RFC 8654)"),
        CAP_GRACEFUL_RESTART if len < 2 || !(len - 2).is_multiple_of(4) => {
            wrong("expected 2 plus a multiple of 4 (RFC 4724 §3)")
        }
        CAP_FOUR_OCTET_AS if len != 4 => wrong("expected 4 (RFC 6793 §3)"),
        CAP_ADD_PATH if len == 0 || !len.is_multiple_of(4) => {
            wrong("expected a non-zero multiple of 4 (RFC 7911 §4)")
        }
        _ => None,
    }
}

const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_EXTENDED_NEXT_HOP: u8 = 5;
const CAP_EXTENDED_MESSAGE: u8 = 6;
const CAP_GRACEFUL_RESTART: u8 = 64;
const CAP_FOUR_OCTET_AS: u8 = 65;
const CAP_ADD_PATH: u8 = 69;

/// The entries of a well-formed capability the codec kept raw because one entry names a family
/// (or, for ADD-PATH, a Send/Receive value) it does not know: Porter reads the entries it knows
/// and ignores the rest, as RFC 5492 §3 does for what a speaker does not support.
fn raw_entries(open: &mut Open, code: u8, data: &[u8]) {
    match code {
        CAP_EXTENDED_NEXT_HOP => {
            open.extended_next_hop |= data.chunks_exact(6).any(|e| e == [0, 1, 0, 1, 0, 2]);
        }
        CAP_ADD_PATH => {
            for e in data.chunks_exact(4) {
                let family = match e {
                    [0, 1, 1, _] => Family::Ipv4Unicast,
                    [0, 2, 1, _] => Family::Ipv6Unicast,
                    _ => continue,
                };
                let mode = match e.get(3) {
                    Some(1) => AddPathMode::Receive,
                    Some(2) => AddPathMode::Send,
                    Some(3) => AddPathMode::Both,
                    // RFC 7911 §4: any other value is not understood; the entry is ignored.
                    _ => continue,
                };
                open.add_path.insert(family, mode);
            }
        }
        _ => {}
    }
}

/// Porter's view of a decoded OPEN; `Err` is the NOTIFICATION for a malformed capability that
/// Porter uses (see [`malformed_capability`]).
pub(super) fn open_from_codec(o: &OpenMessage) -> Result<Open, NotificationError> {
    let mut open = Open {
        my_as: o.my_as,
        hold_time: o.hold_time,
        router_id: o.bgp_identifier,
        four_octet_as: None,
        families: BTreeSet::new(),
        multiprotocol: false,
        route_refresh: false,
        extended_next_hop: false,
        extended_message: false,
        graceful_restart: None,
        add_path: BTreeMap::new(),
        other_capabilities: Vec::new(),
    };
    for cap in &o.capabilities {
        match cap {
            Capability::MultiProtocol { afi, safi } => {
                open.multiprotocol = true;
                if let Some(f) = family_of(*afi, *safi) {
                    open.families.insert(f);
                }
            }
            Capability::FourOctetAs { asn } => open.four_octet_as = Some(*asn),
            Capability::RouteRefresh => open.route_refresh = true,
            Capability::ExtendedNextHop(fams) => {
                open.extended_next_hop |= fams.iter().any(|f| {
                    (f.nlri_afi, f.nlri_safi, f.next_hop_afi)
                        == (Afi::Ipv4, Safi::Unicast, Afi::Ipv6)
                });
            }
            Capability::ExtendedMessage => open.extended_message = true,
            Capability::GracefulRestart {
                restart_state,
                restart_time,
                families,
                ..
            } => {
                open.graceful_restart = Some(GracefulRestartCap {
                    restart_time: *restart_time,
                    restarting: *restart_state,
                    families: families
                        .iter()
                        .filter_map(|f| Some((family_of(f.afi, f.safi)?, f.forwarding_preserved)))
                        .collect(),
                });
            }
            Capability::AddPath(fams) => {
                for f in fams {
                    if let Some(family) = family_of(f.afi, f.safi) {
                        let mode = match f.send_receive {
                            codec::AddPathMode::Receive => AddPathMode::Receive,
                            codec::AddPathMode::Send => AddPathMode::Send,
                            codec::AddPathMode::Both => AddPathMode::Both,
                        };
                        open.add_path.insert(family, mode);
                    }
                }
            }
            Capability::Unknown { code, data } => {
                if let Some(detail) = malformed_capability(*code, data) {
                    return Err(NotificationError::open(0, detail));
                }
                match *code {
                    // A well-formed multiprotocol capability for a family the codec does not know.
                    CAP_MULTIPROTOCOL => open.multiprotocol = true,
                    CAP_EXTENDED_NEXT_HOP | CAP_ADD_PATH => raw_entries(&mut open, *code, data),
                    _ => open.other_capabilities.push(*code),
                }
            }
            other => open.other_capabilities.push(other.code()),
        }
    }
    Ok(open)
}

/// Encodes an OPEN (version 4, capabilities in one optional parameter, in code order).
pub fn encode_open(open: &Open) -> Result<Bytes, EncodeError> {
    let mut capabilities: Vec<Capability> = open
        .families
        .iter()
        .map(|f| {
            let (afi, safi) = afi_safi(*f);
            Capability::MultiProtocol { afi, safi }
        })
        .collect();
    if open.route_refresh {
        capabilities.push(Capability::RouteRefresh);
    }
    if open.extended_next_hop {
        capabilities.push(Capability::ExtendedNextHop(vec![ExtendedNextHopFamily {
            nlri_afi: Afi::Ipv4,
            nlri_safi: Safi::Unicast,
            next_hop_afi: Afi::Ipv6,
        }]));
    }
    if open.extended_message {
        capabilities.push(Capability::ExtendedMessage);
    }
    if let Some(gr) = &open.graceful_restart {
        capabilities.push(Capability::GracefulRestart {
            restart_state: gr.restarting,
            notification: false,
            restart_time: gr.restart_time.min(0x0fff),
            families: gr
                .families
                .iter()
                .map(|(f, fwd)| {
                    let (afi, safi) = afi_safi(*f);
                    GracefulRestartFamily {
                        afi,
                        safi,
                        forwarding_preserved: *fwd,
                    }
                })
                .collect(),
        });
    }
    if let Some(asn) = open.four_octet_as {
        capabilities.push(Capability::FourOctetAs { asn });
    }
    if !open.add_path.is_empty() {
        capabilities.push(Capability::AddPath(
            open.add_path
                .iter()
                .map(|(f, mode)| {
                    let (afi, safi) = afi_safi(*f);
                    AddPathFamily {
                        afi,
                        safi,
                        send_receive: match mode {
                            AddPathMode::Receive => codec::AddPathMode::Receive,
                            AddPathMode::Send => codec::AddPathMode::Send,
                            AddPathMode::Both => codec::AddPathMode::Both,
                        },
                    }
                })
                .collect(),
        ));
    }
    let msg = codec::Message::Open(OpenMessage {
        version: 4,
        my_as: open.my_as,
        hold_time: open.hold_time,
        bgp_identifier: open.router_id,
        capabilities,
    });
    Ok(codec::encode_message(&msg)
        .map_err(|e| enc_err("OPEN", e))?
        .freeze())
}
