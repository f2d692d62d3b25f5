//! Adj-RIB-Out: the desired set versus what the peer has been told, and UPDATE packing.
//!
//! Layers above hand Porter the full desired set (MetalLB's `Session.Set` model), never
//! add/remove commands; this module diffs it against what was advertised on the current
//! connection and emits the minimal UPDATEs. On reconnect `advertised` is cleared, so the next
//! Established re-sends everything: restarts are idempotent by construction.
//!
//! Packing is greedy and exact: withdrawals first, then announcements sharing one attribute set,
//! as many prefixes per UPDATE as fit in 4096 bytes. IPv4 travels in the body; IPv6 in
//! `MP_REACH_NLRI`/`MP_UNREACH_NLRI` (the per-family overheads are measured by encoding a probe,
//! so a new family only needs `wire` support).

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::prefix::{Family, Prefix};
use crate::wire::{self, EncodeError, HEADER_LEN, MAX_MESSAGE_LEN, OutAttrs, OutUpdate};

/// Which families may be announced on this connection, and with which attributes.
///
/// A family without attributes is not eligible (e.g. IPv6 on a session whose local address is
/// IPv4: there is no IPv6 next hop to announce). Its prefixes stay desired but are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutContext {
    /// Attributes for IPv4 unicast announcements, if that family is eligible.
    pub ipv4: Option<OutAttrs>,
    /// Attributes for IPv6 unicast announcements, if that family is eligible.
    pub ipv6: Option<OutAttrs>,
}

impl OutContext {
    fn attrs(&self, family: Family) -> Option<&OutAttrs> {
        match family {
            Family::Ipv4Unicast => self.ipv4.as_ref(),
            Family::Ipv6Unicast => self.ipv6.as_ref(),
        }
    }
}

/// The Adj-RIB-Out of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RibOut {
    desired: BTreeSet<Prefix>,
    advertised: BTreeSet<Prefix>,
}

impl RibOut {
    /// Replaces the desired set (accepted in any state; sent when Established).
    pub fn set_desired(&mut self, desired: BTreeSet<Prefix>) {
        self.desired = desired;
    }

    /// What the layers above want announced.
    pub fn desired(&self) -> &BTreeSet<Prefix> {
        &self.desired
    }

    /// What the peer has been told on the current connection.
    pub fn advertised(&self) -> &BTreeSet<Prefix> {
        &self.advertised
    }

    /// Forgets what was advertised: the connection is gone, so is the peer's copy.
    pub fn reset(&mut self) {
        self.advertised.clear();
    }

    /// Encodes the UPDATEs that move the peer from `advertised` to the eligible part of
    /// `desired`, and records the result as advertised. Empty when nothing changed.
    pub fn flush(&mut self, ctx: &OutContext) -> Result<Vec<Bytes>, EncodeError> {
        let target: BTreeSet<Prefix> = self
            .desired
            .iter()
            .filter(|p| ctx.attrs(p.family()).is_some())
            .copied()
            .collect();
        let withdraw: Vec<Prefix> = self.advertised.difference(&target).copied().collect();
        let announce: Vec<Prefix> = target.difference(&self.advertised).copied().collect();
        let mut out = Vec::new();
        for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
            let w: Vec<Prefix> = withdraw
                .iter()
                .filter(|p| p.family() == family)
                .copied()
                .collect();
            let a: Vec<Prefix> = announce
                .iter()
                .filter(|p| p.family() == family)
                .copied()
                .collect();
            for u in plan(family, &w, &a, ctx.attrs(family))? {
                out.push(wire::encode_update(&u)?);
            }
        }
        self.advertised = target;
        Ok(out)
    }

    /// Re-encodes every advertised prefix of `family` (answer to a ROUTE-REFRESH).
    pub fn refresh(&self, family: Family, ctx: &OutContext) -> Result<Vec<Bytes>, EncodeError> {
        let a: Vec<Prefix> = self
            .advertised
            .iter()
            .filter(|p| p.family() == family)
            .copied()
            .collect();
        plan(family, &[], &a, ctx.attrs(family))?
            .iter()
            .map(wire::encode_update)
            .collect()
    }
}

/// Encoded size of a one-prefix UPDATE minus that prefix: the fixed cost of a message part.
/// IPv6 adds one octet in case the MP attribute grows past 255 octets (extended length).
fn overhead(
    family: Family,
    probe: Prefix,
    announce: bool,
    attrs: Option<&OutAttrs>,
) -> Result<usize, EncodeError> {
    let (withdrawn, announced) = if announce {
        (vec![], vec![probe])
    } else {
        (vec![probe], vec![])
    };
    let u = OutUpdate {
        family,
        withdrawn,
        announced,
        attrs: attrs.cloned(),
    };
    let extended = usize::from(family == Family::Ipv6Unicast);
    Ok(wire::encode_update(&u)?.len() - probe.nlri_len() + extended)
}

/// Packs withdrawals and announcements of one family into as few UPDATEs as fit in 4096 bytes.
pub(crate) fn plan(
    family: Family,
    withdraw: &[Prefix],
    announce: &[Prefix],
    attrs: Option<&OutAttrs>,
) -> Result<Vec<OutUpdate>, EncodeError> {
    let w_over = match withdraw.first() {
        Some(p) => overhead(family, *p, false, attrs)? - HEADER_LEN,
        None => 0,
    };
    let a_over = match announce.first() {
        Some(p) => overhead(family, *p, true, attrs)? - HEADER_LEN,
        None => 0,
    };
    let budget = MAX_MESSAGE_LEN - HEADER_LEN;
    let empty = || OutUpdate {
        family,
        withdrawn: vec![],
        announced: vec![],
        attrs: None,
    };
    let mut out = Vec::new();
    let mut cur = empty();
    let mut used = 0;
    for p in withdraw {
        if cur.withdrawn.is_empty() {
            used += w_over;
        }
        if used + p.nlri_len() > budget {
            out.push(std::mem::replace(&mut cur, empty()));
            used = w_over;
        }
        cur.withdrawn.push(*p);
        used += p.nlri_len();
    }
    for p in announce {
        if cur.announced.is_empty() {
            used += a_over;
            cur.attrs = attrs.cloned();
        }
        if used + p.nlri_len() > budget {
            out.push(std::mem::replace(&mut cur, empty()));
            cur.attrs = attrs.cloned();
            used = a_over;
        }
        cur.announced.push(*p);
        used += p.nlri_len();
    }
    if !cur.withdrawn.is_empty() || !cur.announced.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn v4(i: u32) -> Prefix {
        Prefix::host(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
    }
    fn v6(i: u128) -> Prefix {
        Prefix::host(IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | i)))
    }
    fn ctx() -> OutContext {
        OutContext {
            ipv4: Some(OutAttrs {
                as_path: vec![65001],
                next_hop: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                local_pref: None,
                four_octet_as: true,
            }),
            ipv6: Some(OutAttrs {
                as_path: vec![65001],
                next_hop: IpAddr::V6("2001:db8::1".parse().unwrap()),
                local_pref: None,
                four_octet_as: true,
            }),
        }
    }

    #[test]
    fn diff_is_minimal() {
        let mut rib = RibOut::default();
        rib.set_desired((0..3).map(v4).collect());
        let first = rib.flush(&ctx()).unwrap();
        assert_eq!(first.len(), 1);
        assert!(
            rib.flush(&ctx()).unwrap().is_empty(),
            "nothing changed, nothing sent"
        );
        rib.set_desired([v4(1), v4(2), v4(3)].into());
        let second = rib.flush(&ctx()).unwrap();
        // One withdrawal (v4(0)) and one announcement (v4(3)) fit in one UPDATE.
        assert_eq!(second.len(), 1);
        assert_eq!(rib.advertised().len(), 3);
        rib.reset();
        assert!(rib.advertised().is_empty());
        assert_eq!(
            rib.flush(&ctx()).unwrap().len(),
            1,
            "after reset everything is re-sent"
        );
    }

    #[test]
    fn packs_up_to_the_limit_v4() {
        // 20k /32s: 5 octets each. Body budget 4096-23-attrs(ORIGIN 4 + AS_PATH 9 + NEXT_HOP 7).
        let many: Vec<Prefix> = (0..20_000).map(v4).collect();
        let plan = plan(Family::Ipv4Unicast, &[], &many, ctx().ipv4.as_ref()).unwrap();
        let per = (4096 - 23 - 20) / 5;
        assert_eq!(plan[0].announced.len(), per);
        assert_eq!(plan.len(), 20_000usize.div_ceil(per));
        for u in &plan {
            assert!(wire::encode_update(u).unwrap().len() <= 4096);
        }
        let full = wire::encode_update(&plan[0]).unwrap();
        assert!(
            full.len() > 4096 - 5,
            "first UPDATE is packed full: {}",
            full.len()
        );
        let w = super::plan(Family::Ipv4Unicast, &many, &[], None).unwrap();
        assert_eq!(w[0].withdrawn.len(), (4096 - 23) / 5);
    }

    #[test]
    fn packs_v6_under_the_limit() {
        let many: Vec<Prefix> = (0..2_000).map(v6).collect();
        for (w, a) in [
            (&many[..], &[][..]),
            (&[][..], &many[..]),
            (&many[..1000], &many[1000..]),
        ] {
            let plan = plan(Family::Ipv6Unicast, w, a, ctx().ipv6.as_ref()).unwrap();
            let total: usize = plan
                .iter()
                .map(|u| u.withdrawn.len() + u.announced.len())
                .sum();
            assert_eq!(total, w.len() + a.len());
            for (i, u) in plan.iter().enumerate() {
                let len = wire::encode_update(u).unwrap().len();
                assert!(len <= 4096, "{len}");
                // Every UPDATE but the last is packed to within one /128 (17 octets) + slack.
                assert!(i + 1 == plan.len() || len > 4096 - 20, "{len}");
            }
        }
    }

    #[test]
    fn ineligible_family_is_held_back() {
        let mut rib = RibOut::default();
        rib.set_desired([v4(1), v6(1)].into());
        let only_v4 = OutContext {
            ipv6: None,
            ..ctx()
        };
        rib.flush(&only_v4).unwrap();
        assert_eq!(rib.advertised(), &[v4(1)].into());
        assert_eq!(rib.desired().len(), 2);
    }
}
