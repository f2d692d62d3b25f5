//! Fields Porter accepts (so OpenELB YAML loads unchanged) but does not implement yet.
//!
//! Each `unsupported_fields()` lists those that are *set* on an object, so the controller can warn ("spec.policy
//! is accepted but not implemented by Porter") instead of ignoring a setting the user relies on. "Set" means
//! present with a value that changes behaviour: OpenELB's Go types omit false, 0 and "" (`omitempty`), so those
//! are treated as unset and raise no warning. Fields exposed in `ValidEip`/`ValidPeer`/`ValidConf`
//! (`porter_model::valid`) are the consumer's to implement and are never listed here.

use crate::{BgpConf, BgpPeer, Eip, GracefulRestart};

/// True for `Some(v)` with `v` not the type's zero value.
fn set<T: Default + PartialEq>(v: Option<&T>) -> bool {
    v.is_some_and(|v| *v != T::default())
}

/// The graceful-restart fields set beyond the implemented `enabled` and `restartTime`, as paths under
/// `spec.gracefulRestart` (the same on BgpConf and BgpPeer).
fn gr_unsupported(gr: Option<&GracefulRestart>, out: &mut Vec<&'static str>) {
    let Some(g) = gr else { return };
    let checks: [(&'static str, bool); 9] = [
        (
            "spec.gracefulRestart.helperOnly",
            set(g.helper_only.as_ref()),
        ),
        (
            "spec.gracefulRestart.deferralTime",
            set(g.deferral_time.as_ref()),
        ),
        (
            "spec.gracefulRestart.notificationEnabled",
            set(g.notification_enabled.as_ref()),
        ),
        (
            "spec.gracefulRestart.longlivedEnabled",
            set(g.longlived_enabled.as_ref()),
        ),
        (
            "spec.gracefulRestart.staleRoutesTime",
            set(g.stale_routes_time.as_ref()),
        ),
        (
            "spec.gracefulRestart.peerRestartTime",
            set(g.peer_restart_time.as_ref()),
        ),
        (
            "spec.gracefulRestart.peerRestarting",
            set(g.peer_restarting.as_ref()),
        ),
        (
            "spec.gracefulRestart.localRestarting",
            set(g.local_restarting.as_ref()),
        ),
        ("spec.gracefulRestart.mode", set(g.mode.as_ref())),
    ];
    out.extend(checks.iter().filter(|(_, on)| *on).map(|(p, _)| *p));
}

impl Eip {
    /// Paths of fields set on this Eip that Porter does not implement: `spec.usingKnownIPs` (dead since OpenELB
    /// v0.4, too).
    pub fn unsupported_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.spec.using_known_ips == Some(true) {
            out.push("spec.usingKnownIPs");
        }
        out
    }
}

impl BgpConf {
    /// Paths of fields set on this BgpConf that Porter does not implement: `asPerRack`, `families`,
    /// `useMultiplePaths`, the `gracefulRestart` fields other than `enabled` and `restartTime`, `policy`.
    pub fn unsupported_fields(&self) -> Vec<&'static str> {
        let s = &self.spec;
        let mut out = Vec::new();
        if s.as_per_rack.as_ref().is_some_and(|m| !m.is_empty()) {
            out.push("spec.asPerRack");
        }
        if s.families.as_ref().is_some_and(|f| !f.is_empty()) {
            out.push("spec.families");
        }
        if s.use_multiple_paths == Some(true) {
            out.push("spec.useMultiplePaths");
        }
        gr_unsupported(s.graceful_restart.as_ref(), &mut out);
        if set(s.policy.as_ref()) {
            out.push("spec.policy");
        }
        out
    }
}

impl BgpPeer {
    /// Paths of fields set on this BgpPeer that Porter does not implement. `spec.afiSafis[].config` is listed
    /// only when an entry asks for something other than unicast of the neighbor address's family, which is what
    /// Porter negotiates; `spec.transport.remoteAddress` only when it differs from `conf.neighborAddress`;
    /// `spec.conf.removePrivateAs` only when it is not `NONE`; `spec.gracefulRestart.*` for the fields other
    /// than `enabled` and `restartTime`.
    pub fn unsupported_fields(&self) -> Vec<&'static str> {
        let s = &self.spec;
        let mut out = Vec::new();
        let neighbor = s.conf.as_ref().and_then(|c| c.neighbor_address.as_deref());

        if let Some(c) = s.conf.as_ref() {
            let checks: [(&'static str, bool); 9] = [
                ("spec.conf.peerGroup", set(c.peer_group.as_ref())),
                ("spec.conf.peerType", set(c.peer_type.as_ref())),
                (
                    "spec.conf.removePrivateAs",
                    c.remove_private_as
                        .as_deref()
                        .is_some_and(|v| !v.is_empty() && v != "NONE"),
                ),
                (
                    "spec.conf.routeFlapDamping",
                    set(c.route_flap_damping.as_ref()),
                ),
                ("spec.conf.sendCommunity", set(c.send_community.as_ref())),
                (
                    "spec.conf.neighborInterface",
                    set(c.neighbor_interface.as_ref()),
                ),
                ("spec.conf.vrf", set(c.vrf.as_ref())),
                ("spec.conf.allowOwnAs", set(c.allow_own_as.as_ref())),
                ("spec.conf.replacePeerAs", set(c.replace_peer_as.as_ref())),
            ];
            out.extend(checks.iter().filter(|(_, on)| *on).map(|(p, _)| *p));
        }

        let mai = s
            .timers
            .as_ref()
            .and_then(|t| t.config.as_ref())
            .and_then(|c| c.minimum_advertisement_interval.as_ref());
        if mai.is_some_and(|v| v.value() != Ok(0)) {
            out.push("spec.timers.config.minimumAdvertisementInterval");
        }

        if let Some(t) = s.transport.as_ref() {
            if set(t.mtu_discovery.as_ref()) {
                out.push("spec.transport.mtuDiscovery");
            }
            let remote = t
                .remote_address
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            if remote.is_some_and(|r| Some(r) != neighbor.map(str::trim)) {
                out.push("spec.transport.remoteAddress");
            }
            if set(t.tcp_mss.as_ref()) {
                out.push("spec.transport.tcpMss");
            }
        }

        gr_unsupported(s.graceful_restart.as_ref(), &mut out);

        let afi_safis = s.afi_safis.as_deref().unwrap_or_default();
        let own_afi = neighbor
            .and_then(|n| n.trim().parse::<std::net::IpAddr>().ok())
            .map(|a| if a.is_ipv4() { "AFI_IP" } else { "AFI_IP6" });
        let other_family = afi_safis.iter().filter_map(|e| e.config.as_ref()).any(|c| {
            let fam = c.family.as_ref();
            let afi = fam.and_then(|f| f.afi.as_deref());
            let safi = fam.and_then(|f| f.safi.as_deref());
            // An entry without a family gets the neighbor's (OpenELB's default), so it asks for nothing new.
            let same =
                (afi.is_none() || afi == own_afi) && matches!(safi, None | Some("SAFI_UNICAST"));
            !same || c.enabled == Some(false)
        });
        if other_family {
            out.push("spec.afiSafis[].config");
        }
        if afi_safis
            .iter()
            .filter_map(|e| e.add_paths.as_ref().and_then(|a| a.config.as_ref()))
            .any(|c| set(c.receive.as_ref()) || set(c.send_max.as_ref()))
        {
            out.push("spec.afiSafis[].addPaths");
        }
        if afi_safis.iter().any(|e| {
            e.mp_graceful_restart
                .as_ref()
                .and_then(|m| m.config.as_ref())
                .is_some_and(|c| c.enabled == Some(true))
        }) {
            out.push("spec.afiSafis[].mpGracefulRestart");
        }
        out
    }
}
