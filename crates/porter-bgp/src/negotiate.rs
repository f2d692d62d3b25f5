//! Capability negotiation: the OPEN we send for a configuration, what the session may use once
//! the peer's OPEN arrived (RFC 5492: a capability is used only when both sides agree), and how
//! each family is then announced (next hops, ADD-PATH, message size).

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::attrs::RouteAttrs;
use crate::config::{GracefulRestart, SessionConfig};
use crate::prefix::Family;
use crate::rib_out::{FamilyOut, OutContext};
use crate::session::IBGP_LOCAL_PREF;
use crate::wire::{
    AddPathMode, EXTENDED_MAX_MESSAGE_LEN, GracefulRestartCap, MAX_MESSAGE_LEN, Open, OutAttrs,
};

/// What both sides agreed on for the current connection; `Session::negotiated` exposes it for
/// status pages and metrics (it answers "why is my IPv6 route not on the router?").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `min(ours, theirs)` in seconds; 0 disables keepalives and the hold timer.
    pub hold_time: u16,
    /// Both sent the 4-octet AS capability (RFC 6793).
    pub four_octet_as: bool,
    /// Families both offered (RFC 4760; IPv4 unicast implied without any MP capability).
    pub families: BTreeSet<Family>,
    /// The peer accepts ROUTE-REFRESH (RFC 2918); we always answer one.
    pub route_refresh: bool,
    /// The peer's graceful restart capability, if it sent one (RFC 4724). Porter keeps no
    /// routes from peers, so as the receiving side it has nothing else to do with it.
    pub peer_graceful_restart: Option<GracefulRestartCap>,
    /// Families whose NLRI we send with ADD-PATH path identifiers (we send, peer receives).
    pub add_path_send: BTreeSet<Family>,
    /// Families whose NLRI the peer sends with path identifiers (peer sends, we receive).
    pub add_path_receive: BTreeSet<Family>,
    /// RFC 8950: IPv4 unicast routes may carry an IPv6 next hop (both advertised it).
    pub extended_next_hop: bool,
    /// RFC 8654: both advertised extended messages, UPDATEs may reach 65535 bytes.
    pub extended_message: bool,
}

impl Negotiated {
    /// The largest message either side may send on this connection.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            EXTENDED_MAX_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}

/// The OPEN Porter sends for `config`.
pub(crate) fn local_open(config: &SessionConfig) -> Open {
    let mut open = Open::local(
        config.local_as,
        config.router_id,
        config.effective_hold_time(),
    );
    open.families = config.families.clone();
    open.multiprotocol = !config.families.is_empty();
    // We parse IPv4 NLRI with IPv6 next hops, so we can always offer to receive them.
    open.extended_next_hop = config.families.contains(&Family::Ipv4Unicast);
    open.extended_message = config.extended_messages;
    open.graceful_restart = config.graceful_restart.map(
        |GracefulRestart {
             restart_time,
             restarting,
         }| GracefulRestartCap {
            restart_time: restart_time.min(GracefulRestart::MAX_RESTART_TIME),
            restarting,
            // F bit set: our routes point at the node itself, whose forwarding does not depend
            // on Porter running.
            families: open
                .effective_families()
                .into_iter()
                .map(|f| (f, true))
                .collect(),
        },
    );
    if let Some(mode) = AddPathMode::from_flags(config.add_path_send, config.add_path_receive) {
        open.add_path = config.families.iter().map(|f| (*f, mode)).collect();
    }
    open
}

/// What the session may use, given what we sent and what the peer sent.
pub(crate) fn negotiate(ours: &Open, theirs: &Open) -> Negotiated {
    let families: BTreeSet<Family> = ours
        .effective_families()
        .intersection(&theirs.effective_families())
        .copied()
        .collect();
    let both = |f: &Family, we: fn(AddPathMode) -> bool, they: fn(AddPathMode) -> bool| {
        ours.add_path.get(f).is_some_and(|m| we(*m))
            && theirs.add_path.get(f).is_some_and(|m| they(*m))
    };
    Negotiated {
        hold_time: ours.hold_time.min(theirs.hold_time),
        four_octet_as: ours.four_octet_as.is_some() && theirs.four_octet_as.is_some(),
        add_path_send: families
            .iter()
            .filter(|f| both(f, AddPathMode::sends, AddPathMode::receives))
            .copied()
            .collect(),
        add_path_receive: families
            .iter()
            .filter(|f| both(f, AddPathMode::receives, AddPathMode::sends))
            .copied()
            .collect(),
        families,
        route_refresh: theirs.route_refresh,
        peer_graceful_restart: theirs.graceful_restart.clone(),
        extended_next_hop: ours.extended_next_hop && theirs.extended_next_hop,
        extended_message: ours.extended_message && theirs.extended_message,
    }
}

/// How each family is announced on a connection whose local address is `local`:
///
/// - IPv4 on an IPv4 session: `NEXT_HOP` = `next_hop_v4`, else our address.
/// - IPv4 on an IPv6 session: RFC 8950 (`MP_REACH_NLRI`, IPv6 next hop) when negotiated,
///   else `NEXT_HOP` = `next_hop_v4` when set, else unsent.
/// - IPv6: next hop `next_hop_v6`, else our address when it is IPv6, else unsent.
///
/// A family the peer did not negotiate is never sent.
pub(crate) fn out_context(cfg: &SessionConfig, local: IpAddr, neg: &Negotiated) -> OutContext {
    let ibgp = cfg.is_ibgp();
    let nh6 = cfg.next_hop_v6.or(match local {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    });
    let nh4 = match local {
        IpAddr::V4(a) => Some(IpAddr::V4(cfg.next_hop_v4.unwrap_or(a))),
        IpAddr::V6(_) if neg.extended_next_hop => nh6.map(IpAddr::V6),
        IpAddr::V6(_) => cfg.next_hop_v4.map(IpAddr::V4),
    };
    let out = |family: Family, next_hop: Option<IpAddr>| {
        let next_hop = next_hop.filter(|_| neg.families.contains(&family))?;
        Some(FamilyOut {
            attrs: OutAttrs {
                as_path: if ibgp { vec![] } else { vec![cfg.local_as] },
                next_hop,
                local_pref: ibgp.then_some(IBGP_LOCAL_PREF),
                four_octet_as: neg.four_octet_as,
                local_as: cfg.local_as,
                route: RouteAttrs::default(),
            },
            // One path per prefix per node: the identifier only has to be stable.
            path_id: neg.add_path_send.contains(&family).then_some(1),
        })
    };
    OutContext {
        ipv4: out(Family::Ipv4Unicast, nh4),
        ipv6: out(Family::Ipv6Unicast, nh6.map(IpAddr::V6)),
        max_message_len: neg.max_message_len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn config() -> SessionConfig {
        SessionConfig::new(
            65001,
            Ipv4Addr::new(10, 0, 0, 1),
            65000,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    }

    #[test]
    fn only_what_both_sides_offer() {
        let mut a = config();
        a.add_path_send = true;
        a.graceful_restart = Some(GracefulRestart {
            restart_time: 9999,
            restarting: true,
        });
        let ours = local_open(&a);
        assert_eq!(ours.graceful_restart.as_ref().unwrap().restart_time, 4095);
        let mut theirs = Open::local(65000, Ipv4Addr::new(10, 0, 0, 2), 30);
        theirs.families = [Family::Ipv4Unicast].into();
        theirs.add_path = [
            (Family::Ipv4Unicast, AddPathMode::Receive),
            (Family::Ipv6Unicast, AddPathMode::Both),
        ]
        .into();
        theirs.extended_message = true;
        let n = negotiate(&ours, &theirs);
        assert_eq!(n.hold_time, 30);
        assert_eq!(n.families, [Family::Ipv4Unicast].into());
        assert_eq!(n.add_path_send, [Family::Ipv4Unicast].into());
        assert!(n.add_path_receive.is_empty(), "we did not offer receive");
        assert!(n.extended_message);
        assert_eq!(n.max_message_len(), 65535);
        assert!(!n.extended_next_hop, "peer did not offer RFC 8950");
        assert_eq!(n.peer_graceful_restart, None);

        // A peer without any MP capability speaks IPv4 unicast only.
        theirs.multiprotocol = false;
        theirs.families.clear();
        assert_eq!(
            negotiate(&ours, &theirs).families,
            [Family::Ipv4Unicast].into()
        );
    }
}
