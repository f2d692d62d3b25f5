//! What session each configured peer should have: the pure translation of the speaker plan
//! (porter-model) into session settings (porter-bgp) and socket settings.

use std::collections::BTreeMap;
use std::time::Duration;

use porter_bgp::{GracefulRestart, SessionConfig};
use porter_model::announce::LocalBgp;
use porter_model::valid::ValidPeer;

use super::transport::Transport;

/// Everything a session task needs to know about its peer. Two equal specs mean the
/// running session can stay; any difference restarts that one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionSpec {
    /// BgpPeer name, used for logs and the status board.
    pub(crate) name: String,
    /// The core's configuration.
    pub(crate) config: SessionConfig,
    /// The peer's TCP port.
    pub(crate) port: u16,
    /// Socket settings.
    pub(crate) transport: Transport,
}

/// The session each peer should have, given the local BGP identity. Peers that are
/// administratively down get none.
pub(crate) fn specs(
    local: &LocalBgp,
    peers: &BTreeMap<String, ValidPeer>,
) -> BTreeMap<String, SessionSpec> {
    let mut out = BTreeMap::new();
    for (name, peer) in peers {
        if peer.admin_down {
            continue;
        }
        let local_as = peer.local_as.unwrap_or(local.local_as);
        let mut config = SessionConfig::new(local_as, local.router_id, peer.peer_as, peer.address);
        if let Some(hold) = peer.hold_time {
            config.hold_time = hold;
        }
        config.keepalive = peer.keepalive;
        if let Some(retry) = peer.connect_retry {
            config.connect_retry = Duration::from_secs(u64::from(retry.max(1)));
        }
        if let Some(max) = peer.connect_retry_max {
            config.connect_retry_max = Duration::from_secs(u64::from(max.max(1)));
        }
        config.passive = peer.passive;
        // The node's address of the other family, for routes of that family (e.g. IPv6
        // EIPs over an IPv4 session); routes of the session's family use its own address.
        config.next_hop_v4 = local.next_hop_v4.filter(|_| peer.address.is_ipv6());
        config.next_hop_v6 = local.next_hop_v6.filter(|_| peer.address.is_ipv4());
        let restart_time = if peer.graceful_restart_off {
            None
        } else {
            peer.graceful_restart.or(local.graceful_restart)
        };
        config.graceful_restart = restart_time.map(|restart_time| GracefulRestart {
            restart_time,
            // Set on every start: Porter keeps no state across restarts, so it cannot tell a
            // first start from a restart, and the bit is harmless on a first start.
            restarting: true,
        });
        let transport = Transport::of(peer, local_as != peer.peer_as);
        out.insert(
            name.clone(),
            SessionSpec {
                name: name.clone(),
                config,
                port: peer.port,
                transport,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    #[test]
    fn timers_of_the_bgppeer_reach_the_session() {
        let local = LocalBgp {
            local_as: 64513,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            listen_port: None,
            listen_addresses: Vec::new(),
            next_hop_v4: None,
            next_hop_v6: None,
            graceful_restart: None,
        };
        let peer = ValidPeer {
            hold_time: Some(30),
            keepalive: Some(4),
            connect_retry: Some(2),
            connect_retry_max: Some(300),
            ..ValidPeer::new("tor", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)), 64512)
        };
        let set = specs(&local, &[("tor".to_owned(), peer)].into());
        let config = &set["tor"].config;
        assert_eq!(config.hold_time, 30);
        assert_eq!(config.keepalive, Some(4));
        assert_eq!(config.connect_retry, Duration::from_secs(2));
        assert_eq!(config.connect_retry_max, Duration::from_secs(300));

        // Unset: the core's defaults.
        let plain = ValidPeer::new("tor", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)), 64512);
        let unset = specs(&local, &[("tor".to_owned(), plain)].into());
        let config = &unset["tor"].config;
        assert_eq!(config.keepalive, None);
        assert_eq!(
            config.connect_retry_max,
            porter_bgp::config::DEFAULT_CONNECT_RETRY_MAX
        );
    }
}
