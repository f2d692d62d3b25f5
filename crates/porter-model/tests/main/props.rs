//! Properties of `assign::plan` over random Services and a few small pools.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use porter_ipam::IpRange;
use porter_model::assign::{Outcome, Plan, plan};
use porter_model::{ObjectKey, Snapshot};
use proptest::prelude::*;
use proptest::sample::select;

use crate::fixtures::*;

const NAMESPACES: [&str; 4] = ["default", "ns1", "ns2", "ns3"];
/// Requested addresses: in each pool, outside every pool, and not an address at all.
const WANTED: [&str; 8] = [
    "10.0.0.0",
    "10.0.0.3",
    "10.0.1.1",
    "10.0.2.2",
    "2001:db8::2",
    "10.9.9.9",
    "10.0.0.7",
    "not-an-ip",
];
/// Addresses a Service may already hold (a status from before): in pools and out.
const HELD: [&str; 7] = [
    "10.0.0.1",
    "10.0.0.3",
    "10.0.1.0",
    "10.0.2.1",
    "2001:db8::1",
    "10.0.3.3",
    "10.0.0.6",
];
const POOLS: [&str; 5] = ["a", "b", "c", "v6", "nope"];

#[derive(Debug, Clone)]
struct Svc {
    ns: &'static str,
    created: u32,
    opted_in: bool,
    want_ip: Option<&'static str>,
    via_spec: bool,
    want_pool: Option<&'static str>,
    held: Option<&'static str>,
    v6: bool,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        select(&NAMESPACES[..]),
        0u32..4,
        prop::bool::weighted(0.85),
        prop::option::weighted(0.25, select(&WANTED[..])),
        any::<bool>(),
        prop::option::weighted(0.2, select(&POOLS[..])),
        prop::option::weighted(0.3, select(&HELD[..])),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(ns, created, opted_in, want_ip, via_spec, want_pool, held, v6)| Svc {
                ns,
                created,
                opted_in,
                want_ip,
                via_spec,
                want_pool,
                held,
                v6,
            },
        )
}

/// Three small IPv4 pools (a default, one bound by name, one by label) and an IPv6 default.
fn cluster(services: &[Svc], c_disabled: bool) -> Snapshot {
    let c = eip("c", "10.0.2.0-10.0.2.2")
        .namespace_selector(&[("tier", "gold")])
        .priority(-1);
    let mut objects = vec![
        namespace("ns2", &[("tier", "gold")]),
        namespace("ns3", &[("tier", "silver")]),
        eip("a", "10.0.0.0/29").default_pool().created_at(0).obj(),
        eip("b", "10.0.1.0/30")
            .namespaces(&["ns1", "ns2"])
            .priority(3)
            .obj(),
        if c_disabled { c.disabled() } else { c }.obj(),
        eip("v6", "2001:db8::/126").default_pool().obj(),
    ];
    for (i, s) in services.iter().enumerate() {
        let mut o = service(s.ns, &format!("s{i}")).created_at(s.created);
        if !s.opted_in {
            o = o.not_opted_in();
        }
        if let Some(w) = s.want_ip {
            o = if s.via_spec {
                o.load_balancer_ip(w)
            } else {
                o.want_ip(w)
            };
        }
        if let Some(p) = s.want_pool {
            o = o.want_pool(p);
        }
        if let Some(h) = s.held {
            o = o.ingress(&[h]);
        }
        if s.v6 {
            o = o.ip_families(&["IPv6"]);
        }
        objects.push(o.obj());
    }
    snapshot(objects)
}

fn holds(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Kept | Outcome::Assigned)
}

/// (a) no address twice, (b) every address in the pool reported and recorded there, and the
/// plan honours what each Service asked for.
fn check_consistent(snap: &Snapshot, plan: &Plan) -> Result<(), TestCaseError> {
    let ranges: BTreeMap<&str, IpRange> = snap
        .eips
        .iter()
        .map(|(n, e)| (n.as_str(), IpRange::parse(&e.spec.address).expect("range")))
        .collect();
    let mut seen: BTreeMap<IpAddr, &ObjectKey> = BTreeMap::new();
    let mut recorded: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (k, p) in &plan.services {
        let svc = &snap.services[k];
        match &p.outcome {
            Outcome::Kept | Outcome::Assigned => {
                prop_assert_eq!(p.ingress.len(), 1, "{}: {:?}", k, p);
                let a = p.ingress[0];
                if let Some(other) = seen.insert(a, k) {
                    prop_assert!(false, "{} given to {} and {}", a, other, k);
                }
                let pool = p.pool.as_deref().expect("a holder names its pool");
                prop_assert!(ranges[pool].contains(a), "{}: {} not in {}", k, a, pool);
                recorded
                    .entry(pool.to_owned())
                    .or_default()
                    .insert(a.to_string(), k.to_string());
                // What the Service asked for.
                if let Ok(Some(want)) = porter_api::annotations::requested_ip(svc) {
                    prop_assert_eq!(a, want, "{}", k);
                }
                if let Some(want) = porter_api::annotations::requested_pool(svc) {
                    prop_assert_eq!(pool, want, "{}", k);
                }
                if p.outcome == Outcome::Kept {
                    prop_assert_eq!(
                        &porter_model::assign::ingress_ips(svc),
                        &p.ingress,
                        "{} kept what it did not hold",
                        k
                    );
                }
            }
            Outcome::Orphaned(_) => {
                prop_assert_eq!(p.ingress.len(), 1);
                prop_assert!(
                    ranges.values().all(|r| !r.contains(p.ingress[0])),
                    "{}: orphan {} is in a pool",
                    k,
                    p.ingress[0]
                );
                prop_assert_eq!(p.pool.as_ref(), None);
            }
            Outcome::Failed(failure) => {
                prop_assert!(p.ingress.is_empty() && p.pool.is_none());
                prop_assert!(!failure.to_string().is_empty());
            }
            Outcome::Released => {
                prop_assert!(p.ingress.is_empty() && p.pool.is_none());
                prop_assert!(!porter_api::annotations::opted_in(svc));
            }
        }
    }
    // The Eips' allocation record is exactly what the Services hold.
    for (name, ep) in &plan.eips {
        let want = recorded.remove(name.as_str()).unwrap_or_default();
        prop_assert_eq!(ep.status.used.clone().unwrap_or_default(), want, "{}", name);
        prop_assert_eq!(ep.errors.len(), 0);
    }
    prop_assert!(recorded.is_empty(), "{:?}", recorded);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plans_are_consistent_stable_and_local(
        services in prop::collection::vec(svc(), 0..14),
        c_disabled in any::<bool>(),
        victim in any::<prop::sample::Index>(),
    ) {
        let mut snap = cluster(&services, c_disabled);
        let first = plan(&snap);
        prop_assert_eq!(&first, &plan(&snap), "deterministic");
        check_consistent(&snap, &first)?;

        // (c) Fixed point: once the controller wrote the plan, re-planning keeps everything.
        apply(&mut snap, &first);
        let second = plan(&snap);
        check_consistent(&snap, &second)?;
        for (k, p) in &first.services {
            match &p.outcome {
                Outcome::Released => prop_assert!(
                    !second.services.contains_key(k),
                    "{} released twice", k
                ),
                Outcome::Assigned | Outcome::Kept => {
                    let again = &second.services[k];
                    prop_assert_eq!(&again.outcome, &Outcome::Kept, "{}", k);
                    prop_assert_eq!(&again.ingress, &p.ingress, "{}", k);
                    prop_assert_eq!(&again.pool, &p.pool, "{}", k);
                }
                Outcome::Failed(_) | Outcome::Orphaned(_) => {
                    prop_assert_eq!(&second.services[k], p, "{}", k);
                }
            }
        }
        prop_assert_eq!(
            second.services.keys().collect::<BTreeSet<_>>(),
            first
                .services
                .iter()
                .filter(|(_, p)| p.outcome != Outcome::Released)
                .map(|(k, _)| k)
                .collect::<BTreeSet<_>>()
        );
        prop_assert_eq!(&second.eips, &first.eips);
        apply(&mut snap, &second);
        prop_assert_eq!(&plan(&snap), &second, "a third pass is the second");

        // (d) Deleting one Service never moves anybody else.
        if !snap.services.is_empty() {
            let gone = victim.get(&snap.services.keys().cloned().collect::<Vec<_>>()).clone();
            snap.services.remove(&gone);
            let third = plan(&snap);
            check_consistent(&snap, &third)?;
            for (k, p) in &second.services {
                if *k == gone || p.ingress.is_empty() {
                    continue;
                }
                let after = &third.services[k];
                prop_assert_eq!(&after.ingress, &p.ingress, "{} moved when {} went", k, gone);
                prop_assert!(
                    matches!(after.outcome, Outcome::Kept | Outcome::Orphaned(_)),
                    "{}: {:?}", k, after.outcome
                );
            }
            // Its address, if it had one, is free again.
            if let Some(p) = second.services.get(&gone) {
                for a in &p.ingress {
                    let holder = third
                        .services
                        .iter()
                        .find(|(_, q)| holds(&q.outcome) && q.ingress.contains(a));
                    if let Some((k, q)) = holder {
                        prop_assert_eq!(&q.outcome, &Outcome::Assigned, "{} holds {}", k, a);
                    }
                }
            }
        }
    }
}
