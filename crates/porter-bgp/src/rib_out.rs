//! Adj-RIB-Out: the desired routes versus what the peer has been told.
//!
//! Layers above hand Porter the full desired map (MetalLB's `Session.Set` model), never
//! add/remove commands; this module diffs it against what was advertised on the current
//! connection and emits the minimal UPDATEs. A prefix whose attributes changed is simply
//! announced again (an implicit withdraw, RFC 4271 §3.1). On reconnect `advertised` is cleared,
//! so the next Established re-sends everything: restarts are idempotent by construction.
//!
//! The UPDATEs themselves are packed by the `pack` submodule (greedy and exact, up to the
//! session's message limit).
//!
//! Memory: a speaker may announce 100k prefixes to every peer, so nothing here copies a route
//! map. The desired map is shared ([`Arc`]) with the layer above and every other session;
//! `advertised` is the same `Arc` whenever every desired prefix is eligible (the usual case),
//! and a filtered map only otherwise; and a prefix holds its attributes as a shared
//! `Arc<RouteAttrs>` (see [`Routes`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::attrs::RouteAttrs;
use crate::prefix::{Family, Prefix};
use crate::wire::{self, EncodeError, MAX_MESSAGE_LEN, OutAttrs};

mod pack;

use pack::plan;

/// How one family is announced on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyOut {
    /// The session's attributes (AS_PATH, next hop, LOCAL_PREF default ...); `route` is
    /// replaced by each prefix's own attributes.
    pub attrs: OutAttrs,
    /// ADD-PATH path identifier, when the peer negotiated receiving paths for this family.
    pub path_id: Option<u32>,
}

/// Which families may be announced on this connection, how, and the message size limit.
///
/// A family without a [`FamilyOut`] is not eligible (e.g. IPv6 on an IPv4 session with no
/// configured IPv6 next hop). Its prefixes stay desired but are not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutContext {
    /// IPv4 unicast, if eligible.
    pub ipv4: Option<FamilyOut>,
    /// IPv6 unicast, if eligible.
    pub ipv6: Option<FamilyOut>,
    /// Largest UPDATE to build: 4096, or 65535 with RFC 8654 extended messages.
    pub max_message_len: usize,
}

impl Default for OutContext {
    /// Nothing eligible, 4096-byte messages: the context of a session that is not Established.
    fn default() -> Self {
        OutContext {
            ipv4: None,
            ipv6: None,
            max_message_len: MAX_MESSAGE_LEN,
        }
    }
}

impl OutContext {
    /// How `family` is announced, if it is eligible.
    pub fn family(&self, family: Family) -> Option<&FamilyOut> {
        match family {
            Family::Ipv4Unicast => self.ipv4.as_ref(),
            Family::Ipv6Unicast => self.ipv6.as_ref(),
        }
    }
}

/// Routes to announce: each prefix with its path attributes.
///
/// The attributes are shared: the prefixes of one pool nearly always carry the same ones, so a
/// prefix built by [`routes`] costs a pointer instead of a copy of two sets and three options
/// (BIRD and GoBGP share attribute sets the same way). `Arc` compares and orders by value, so
/// sharing never changes what is diffed, grouped or sent.
pub type Routes = BTreeMap<Prefix, Arc<RouteAttrs>>;

/// Builds [`Routes`] with one allocation per distinct attribute set.
pub fn routes<'a>(routes: impl IntoIterator<Item = (Prefix, &'a RouteAttrs)>) -> Routes {
    let mut shared: BTreeMap<&'a RouteAttrs, Arc<RouteAttrs>> = BTreeMap::new();
    routes
        .into_iter()
        .map(|(p, a)| {
            let a = shared.entry(a).or_insert_with(|| Arc::new(a.clone()));
            (p, Arc::clone(a))
        })
        .collect()
}

/// `routes` in graceful shutdown ([`RouteAttrs::graceful_shutdown`]), each distinct attribute
/// set converted and allocated once.
fn graceful_shutdown(routes: &Routes) -> Routes {
    let mut shared: BTreeMap<&RouteAttrs, Arc<RouteAttrs>> = BTreeMap::new();
    routes
        .iter()
        .map(|(p, a)| {
            let g = shared
                .entry(&**a)
                .or_insert_with(|| Arc::new(a.graceful_shutdown()));
            (*p, Arc::clone(g))
        })
        .collect()
}

/// The Adj-RIB-Out of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RibOut {
    desired: Arc<Routes>,
    advertised: Arc<Routes>,
    /// RFC 8326: every desired route is announced in graceful shutdown, until the session is
    /// dropped (the speaker is stopping).
    graceful_shutdown: bool,
}

impl RibOut {
    /// Replaces the desired routes (accepted in any state; sent when Established). The map is
    /// shared, not copied: the caller may hand the same `Arc` to every session (in graceful
    /// shutdown the session keeps its converted copy).
    pub fn set_desired(&mut self, desired: Arc<Routes>) {
        self.desired = if self.graceful_shutdown {
            Arc::new(graceful_shutdown(&desired))
        } else {
            desired
        };
    }

    /// Puts every desired route, now and later, in graceful shutdown (RFC 8326); the next
    /// [`RibOut::flush`] re-announces each with its new attributes, grouped as usual.
    pub fn graceful_shutdown(&mut self) {
        if !self.graceful_shutdown {
            self.graceful_shutdown = true;
            self.desired = Arc::new(graceful_shutdown(&self.desired));
        }
    }

    /// Whether the routes are announced in graceful shutdown.
    pub fn in_graceful_shutdown(&self) -> bool {
        self.graceful_shutdown
    }

    /// What the layers above want announced.
    pub fn desired(&self) -> &Routes {
        &self.desired
    }

    /// What the peer has been told on the current connection.
    pub fn advertised(&self) -> &Routes {
        &self.advertised
    }

    /// Number of advertised prefixes of `family`, for per-family stats.
    pub fn advertised_count(&self, family: Family) -> usize {
        self.advertised
            .keys()
            .filter(|p| p.family() == family)
            .count()
    }

    /// Forgets what was advertised: the connection is gone, so is the peer's copy.
    pub fn reset(&mut self) {
        self.advertised = Arc::default();
    }

    /// Encodes the UPDATEs that move the peer from `advertised` to the eligible part of
    /// `desired`, and records the result as advertised. Empty when nothing changed.
    pub fn flush(&mut self, ctx: &OutContext) -> Result<Vec<Bytes>, EncodeError> {
        // The target is the eligible part of `desired`; it is not built as a map of its own.
        let eligible = |p: &Prefix| ctx.family(p.family()).is_some();
        let mut out = Vec::new();
        for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
            let in_target = |p: &Prefix| eligible(p) && self.desired.contains_key(p);
            let withdraw: Vec<Prefix> = self
                .advertised
                .keys()
                .filter(|p| p.family() == family && !in_target(p))
                .copied()
                .collect();
            let changed = self.desired.iter().filter(|(p, a)| {
                p.family() == family && eligible(p) && self.advertised.get(p) != Some(a)
            });
            let groups = group(changed);
            let updates = plan(
                family,
                &withdraw,
                &groups,
                ctx.family(family),
                ctx.max_message_len,
            )?;
            for u in &updates {
                out.push(wire::encode_update_with_limit(u, ctx.max_message_len)?);
            }
        }
        self.advertised = if self.desired.keys().all(eligible) {
            Arc::clone(&self.desired)
        } else {
            Arc::new(
                self.desired
                    .iter()
                    .filter(|(p, _)| eligible(p))
                    .map(|(p, a)| (*p, Arc::clone(a)))
                    .collect(),
            )
        };
        Ok(out)
    }

    /// Re-encodes every advertised prefix of `family` (answer to a ROUTE-REFRESH).
    pub fn refresh(&self, family: Family, ctx: &OutContext) -> Result<Vec<Bytes>, EncodeError> {
        let groups = group(self.advertised.iter().filter(|(p, _)| p.family() == family));
        plan(
            family,
            &[],
            &groups,
            ctx.family(family),
            ctx.max_message_len,
        )?
        .iter()
        .map(|u| wire::encode_update_with_limit(u, ctx.max_message_len))
        .collect()
    }
}

/// Groups prefixes by identical attributes (in `RouteAttrs` order, so output is deterministic).
fn group<'a>(
    routes: impl Iterator<Item = (&'a Prefix, &'a Arc<RouteAttrs>)>,
) -> Vec<(RouteAttrs, Vec<Prefix>)> {
    let mut groups: BTreeMap<&RouteAttrs, Vec<Prefix>> = BTreeMap::new();
    for (p, a) in routes {
        groups.entry(&**a).or_default().push(*p);
    }
    groups.into_iter().map(|(a, ps)| (a.clone(), ps)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    pub(super) fn v4(i: u32) -> Prefix {
        Prefix::host(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
    }
    pub(super) fn v6(i: u128) -> Prefix {
        Prefix::host(IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | i)))
    }
    fn fam(next_hop: IpAddr) -> FamilyOut {
        FamilyOut {
            attrs: OutAttrs {
                as_path: vec![65001],
                next_hop,
                local_pref: None,
                four_octet_as: true,
                local_as: 65001,
                route: RouteAttrs::default(),
            },
            path_id: None,
        }
    }
    pub(super) fn ctx() -> OutContext {
        OutContext {
            ipv4: Some(fam(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))),
            ipv6: Some(fam(IpAddr::V6("2001:db8::1".parse().unwrap()))),
            max_message_len: MAX_MESSAGE_LEN,
        }
    }
    fn plain(ps: impl IntoIterator<Item = Prefix>) -> Routes {
        let attrs = RouteAttrs::default();
        routes(ps.into_iter().map(|p| (p, &attrs)))
    }
    pub(super) fn one_group(ps: &[Prefix]) -> Vec<(RouteAttrs, Vec<Prefix>)> {
        vec![(RouteAttrs::default(), ps.to_vec())]
    }

    #[test]
    fn diff_is_minimal() {
        let mut rib = RibOut::default();
        rib.set_desired(Arc::new(plain((0..3).map(v4))));
        let first = rib.flush(&ctx()).unwrap();
        assert_eq!(first.len(), 1);
        assert!(
            rib.flush(&ctx()).unwrap().is_empty(),
            "nothing changed, nothing sent"
        );
        rib.set_desired(Arc::new(plain([v4(1), v4(2), v4(3)])));
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
    fn attribute_change_reannounces_only_that_prefix_grouped_by_attrs() {
        let mut rib = RibOut::default();
        let mut routes = plain((0..4).map(v4));
        rib.set_desired(Arc::new(routes.clone()));
        rib.flush(&ctx()).unwrap();
        let med = RouteAttrs {
            med: Some(10),
            ..RouteAttrs::default()
        };
        // Two allocations of one value: grouped by value, not by pointer.
        routes.insert(v4(2), Arc::new(med.clone()));
        routes.insert(v4(3), Arc::new(med.clone()));
        rib.set_desired(Arc::new(routes));
        let msgs = rib.flush(&ctx()).unwrap();
        assert_eq!(msgs.len(), 1, "two changed prefixes, one attribute set");
        assert_eq!(rib.advertised().get(&v4(3)).map(|a| &**a), Some(&med));
        // Three attribute sets need three UPDATEs, however few prefixes.
        let groups = vec![
            (RouteAttrs::default(), vec![v4(1)]),
            (med.clone(), vec![v4(2)]),
            (
                RouteAttrs {
                    communities: [1].into(),
                    ..RouteAttrs::default()
                },
                vec![v4(3)],
            ),
        ];
        let p = plan(
            Family::Ipv4Unicast,
            &[v4(9)],
            &groups,
            ctx().ipv4.as_ref(),
            4096,
        )
        .unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0].withdrawn,
            vec![v4(9)],
            "withdrawals ride with the first set"
        );
    }

    #[test]
    fn graceful_shutdown_reannounces_everything_once_per_attribute_set() {
        use crate::attrs::well_known::GRACEFUL_SHUTDOWN;
        let med = RouteAttrs {
            med: Some(10),
            ..RouteAttrs::default()
        };
        let plain_attrs = RouteAttrs::default();
        let mut rib = RibOut::default();
        rib.set_desired(Arc::new(routes([
            (v4(1), &plain_attrs),
            (v4(2), &med),
            (v4(3), &plain_attrs),
        ])));
        rib.flush(&ctx()).unwrap();
        rib.graceful_shutdown();
        assert!(rib.in_graceful_shutdown());
        let msgs = rib.flush(&ctx()).unwrap();
        assert_eq!(msgs.len(), 2, "one UPDATE per attribute set");
        for a in rib.advertised().values() {
            assert!(a.communities.contains(&GRACEFUL_SHUTDOWN), "{a:?}");
            assert_eq!(a.local_pref, Some(0));
        }
        assert_eq!(
            rib.advertised()[&v4(2)].med,
            Some(10),
            "other attributes kept"
        );
        assert!(
            Arc::ptr_eq(&rib.advertised()[&v4(1)], &rib.advertised()[&v4(3)]),
            "converted attribute sets stay shared"
        );
        assert!(rib.flush(&ctx()).unwrap().is_empty(), "then nothing more");
        // Routes set later are announced in graceful shutdown too; only the new one is sent.
        rib.set_desired(Arc::new(routes([
            (v4(1), &plain_attrs),
            (v4(2), &med),
            (v4(3), &plain_attrs),
            (v4(4), &plain_attrs),
        ])));
        assert_eq!(rib.flush(&ctx()).unwrap().len(), 1);
        assert!(
            rib.advertised()[&v4(4)]
                .communities
                .contains(&GRACEFUL_SHUTDOWN)
        );
        // A reconnect re-sends everything, still in graceful shutdown.
        rib.reset();
        rib.flush(&ctx()).unwrap();
        assert_eq!(rib.advertised().len(), 4);
        assert!(rib.advertised().values().all(|a| a.local_pref == Some(0)));
    }

    #[test]
    fn ineligible_family_is_held_back() {
        let mut rib = RibOut::default();
        rib.set_desired(Arc::new(plain([v4(1), v6(1)])));
        let only_v4 = OutContext {
            ipv6: None,
            ..ctx()
        };
        rib.flush(&only_v4).unwrap();
        assert_eq!(rib.advertised(), &plain([v4(1)]));
        assert_eq!(rib.desired().len(), 2);
        assert_eq!(rib.advertised_count(Family::Ipv6Unicast), 0);
        assert!(!Arc::ptr_eq(&rib.desired, &rib.advertised));
    }

    #[test]
    fn maps_and_attributes_are_shared_not_copied() {
        let med = RouteAttrs {
            med: Some(10),
            ..RouteAttrs::default()
        };
        let plain_attrs = RouteAttrs::default();
        let built = routes([
            (v4(1), &plain_attrs),
            (v4(2), &med),
            (v4(3), &plain_attrs),
            (v4(4), &med.clone()),
        ]);
        assert!(Arc::ptr_eq(&built[&v4(1)], &built[&v4(3)]));
        assert!(Arc::ptr_eq(&built[&v4(2)], &built[&v4(4)]));
        assert_eq!(*built[&v4(4)], med);

        let mut rib = RibOut::default();
        let desired = Arc::new(built);
        rib.set_desired(Arc::clone(&desired));
        assert_eq!(rib.flush(&ctx()).unwrap().len(), 2, "two attribute sets");
        assert!(
            Arc::ptr_eq(&rib.advertised, &desired),
            "everything eligible: advertised is the desired map itself"
        );
        rib.reset();
        assert!(rib.advertised().is_empty());
        assert_eq!(desired.len(), 4, "reset leaves the shared map alone");
    }
}
