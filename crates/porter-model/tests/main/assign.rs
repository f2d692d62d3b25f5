//! `assign::plan`: which Service holds which address, and each Eip's status.

use std::collections::BTreeMap;

use porter_api::EipStatus;
use porter_model::assign::{Failure, FailureReason, Outcome, Plan, ServicePlan, plan};

use crate::fixtures::*;

const POOL: &str = "192.168.0.91-192.168.0.100";

fn assigned(ip_: &str, pool: &str) -> ServicePlan {
    ServicePlan {
        ingress: vec![ip(ip_)],
        pool: Some(pool.to_owned()),
        outcome: Outcome::Assigned,
    }
}

fn kept(ip_: &str, pool: &str) -> ServicePlan {
    ServicePlan {
        ingress: vec![ip(ip_)],
        pool: Some(pool.to_owned()),
        outcome: Outcome::Kept,
    }
}

fn failed(reason: FailureReason, message: &str) -> ServicePlan {
    ServicePlan {
        ingress: vec![],
        pool: None,
        outcome: Outcome::Failed(Failure {
            reason,
            message: message.to_owned(),
        }),
    }
}

fn used(plan: &Plan, pool: &str) -> BTreeMap<String, String> {
    plan.eips[pool].status.used.clone().unwrap_or_default()
}

fn used_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn first_service_gets_the_lowest_address_of_the_default_pool() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services,
        BTreeMap::from([(key("default", "web"), assigned("192.168.0.91", "pool"))])
    );
    let eip = &plan.eips["pool"];
    assert_eq!(eip.errors, Vec::<String>::new());
    assert_eq!(
        eip.status,
        EipStatus {
            occupied: Some(false),
            usage: Some(1),
            pool_size: Some(10),
            used: Some(used_map(&[("192.168.0.91", "default/web")])),
            first_ip: Some("192.168.0.91".into()),
            last_ip: Some("192.168.0.100".into()),
            ready: Some(true),
            v4: Some(true),
            conditions: vec![],
        }
    );
}

#[test]
fn a_pool_that_is_not_default_serves_nobody_implicitly() {
    let snap = snapshot([eip("pool", POOL).obj(), service("default", "web").obj()]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        failed(
            FailureReason::NoPool,
            "no Eip serves namespace \"default\": name one with annotation eip.openelb.kubesphere.io/v1alpha2, \
             list the namespace in an Eip's spec.namespaces, or mark an Eip with \
             eip.openelb.kubesphere.io/is-default-eip: \"true\""
        )
    );
    assert_eq!(plan.eips["pool"].status.usage, Some(0));
    assert_eq!(used(&plan, "pool"), BTreeMap::new());
}

#[test]
fn services_are_served_oldest_first_then_by_key() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "c").created_at(1).obj(),
        service("default", "b").created_at(2).obj(),
        service("default", "a").created_at(2).obj(),
        service("zz", "a").created_at(0).obj(),
    ]);
    let plan = plan(&snap);
    let got: Vec<(String, String)> = plan
        .services
        .iter()
        .map(|(k, p)| (k.to_string(), p.ingress[0].to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("default/a".to_owned(), "192.168.0.93".to_owned()),
            ("default/b".to_owned(), "192.168.0.94".to_owned()),
            ("default/c".to_owned(), "192.168.0.92".to_owned()),
            ("zz/a".to_owned(), "192.168.0.91".to_owned()),
        ]
    );
}

// ------------------------------------------------------------------------------- never reshuffles

#[test]
fn a_resync_after_restart_changes_nothing() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").created_at(3).obj(),
        service("shop", "api").created_at(1).obj(),
        service("shop", "db")
            .created_at(2)
            .want_ip("192.168.0.99")
            .obj(),
    ]);
    let first = reconcile(&mut snap);
    assert_eq!(
        first.services[&key("shop", "api")],
        assigned("192.168.0.91", "pool")
    );
    assert_eq!(
        first.services[&key("shop", "db")],
        assigned("192.168.0.99", "pool")
    );
    assert_eq!(
        first.services[&key("default", "web")],
        assigned("192.168.0.92", "pool")
    );

    let second = plan(&snap);
    for (k, p) in &first.services {
        let again = &second.services[k];
        assert_eq!(again.outcome, Outcome::Kept, "{k}");
        assert_eq!(again.ingress, p.ingress, "{k}");
        assert_eq!(again.pool, p.pool, "{k}");
    }
    assert_eq!(second.services.len(), first.services.len());
    assert_eq!(second.eips, first.eips, "Eip status must not churn");
    // And it is a fixed point: a third pass is the second.
    apply(&mut snap, &second);
    assert_eq!(plan(&snap), second);
}

#[test]
fn an_older_service_added_later_does_not_take_a_held_address() {
    let mut snap = snapshot([
        eip("pool", "10.0.0.0/30").default_pool().obj(),
        service("default", "web").created_at(50).obj(),
    ]);
    reconcile(&mut snap);
    // Older by timestamp and by name, so it would win every tie.
    snap.insert(service("aaa", "aaa").created_at(1).obj());
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        kept("10.0.0.0", "pool")
    );
    assert_eq!(
        plan.services[&key("aaa", "aaa")],
        assigned("10.0.0.1", "pool")
    );
    assert_eq!(
        used(&plan, "pool"),
        used_map(&[("10.0.0.0", "default/web"), ("10.0.0.1", "aaa/aaa")])
    );
}

#[test]
fn two_services_claiming_one_address_in_status_the_older_keeps_it() {
    // A status edited by hand: both say they hold .91.
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "new")
            .created_at(9)
            .ingress(&["192.168.0.91"])
            .obj(),
        service("default", "old")
            .created_at(1)
            .ingress(&["192.168.0.91"])
            .obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "old")],
        kept("192.168.0.91", "pool")
    );
    assert_eq!(
        plan.services[&key("default", "new")],
        assigned("192.168.0.92", "pool")
    );
}

#[test]
fn a_service_holding_several_addresses_does_not_share_them() {
    // OpenELB writes one address; a second one can only come from a hand edit. Whatever the
    // plan keeps for `web` must be recorded, so nobody else gets it.
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .created_at(1)
            .ingress(&["192.168.0.91", "192.168.0.92"])
            .obj(),
        service("default", "next").created_at(2).obj(),
    ]);
    let plan = plan(&snap);
    let web = &plan.services[&key("default", "web")];
    let next = &plan.services[&key("default", "next")];
    assert_eq!(web.outcome, Outcome::Kept);
    assert_eq!(web.ingress[0], ip("192.168.0.91"));
    assert_eq!(next.outcome, Outcome::Assigned);
    assert!(
        !web.ingress.contains(&next.ingress[0]),
        "{} handed out while web still lists it: {web:?}",
        next.ingress[0]
    );
    // The Eip's record agrees with the Services' ingress.
    let mut from_services: BTreeMap<String, String> = BTreeMap::new();
    for (k, p) in &plan.services {
        for a in &p.ingress {
            from_services.insert(a.to_string(), k.to_string());
        }
    }
    assert_eq!(used(&plan, "pool"), from_services);
}

#[test]
fn an_orphan_listed_with_a_pool_address_does_not_share_it() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .created_at(1)
            .ingress(&["10.9.9.9", "192.168.0.91"])
            .obj(),
        service("default", "next").created_at(2).obj(),
    ]);
    let plan = plan(&snap);
    let web = &plan.services[&key("default", "web")];
    assert!(matches!(web.outcome, Outcome::Orphaned(_)), "{web:?}");
    assert_eq!(web.ingress, [ip("10.9.9.9")]);
    assert_eq!(
        plan.services[&key("default", "next")],
        assigned("192.168.0.91", "pool")
    );
}

// ------------------------------------------------------------------------------- requested IP

#[test]
fn requested_ip_by_annotation() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").want_ip("192.168.0.95").obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        assigned("192.168.0.95", "pool")
    );
}

#[test]
fn requested_ip_by_load_balancer_ip() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .load_balancer_ip("192.168.0.97")
            .obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        assigned("192.168.0.97", "pool")
    );
}

#[test]
fn requested_ip_annotation_overrides_load_balancer_ip() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .load_balancer_ip("192.168.0.97")
            .want_ip("192.168.0.95")
            .obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        assigned("192.168.0.95", "pool")
    );
}

#[test]
fn requested_ip_may_come_from_a_pool_that_is_not_default() {
    // Asking for an address is an explicit choice: any valid pool holding it serves it.
    let snap = snapshot([
        eip("default-pool", POOL).default_pool().obj(),
        eip("special", "10.1.0.0/24").obj(),
        service("default", "web").want_ip("10.1.0.7").obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        assigned("10.1.0.7", "special")
    );
}

#[test]
fn requested_ip_held_by_another_service_fails_and_the_holder_keeps_it() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "holder")
            .created_at(10)
            .want_ip("192.168.0.95")
            .obj(),
    ]);
    reconcile(&mut snap);
    // Older than the holder: age does not beat an existing assignment.
    snap.insert(
        service("other", "wants")
            .created_at(1)
            .want_ip("192.168.0.95")
            .obj(),
    );
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("other", "wants")],
        failed(
            FailureReason::Conflict,
            "address 192.168.0.95 is already assigned to default/holder"
        )
    );
    assert_eq!(
        plan.services[&key("default", "holder")],
        kept("192.168.0.95", "pool")
    );
    assert_eq!(
        used(&plan, "pool"),
        used_map(&[("192.168.0.95", "default/holder")])
    );
}

#[test]
fn requested_ip_outside_every_pool_fails() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").want_ip("10.9.9.9").obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        failed(
            FailureReason::NotInPool,
            "address 10.9.9.9 is not in any Eip"
        )
    );
}

#[test]
fn requested_ip_that_is_not_an_address_names_the_field() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "a").want_ip("192.168.0.300").obj(),
        service("default", "b").load_balancer_ip("nope").obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "a")],
        failed(
            FailureReason::InvalidRequest,
            "metadata.annotations[eip.openelb.kubesphere.io/v1alpha1]: \"192.168.0.300\" is not an IP address"
        )
    );
    assert_eq!(
        plan.services[&key("default", "b")],
        failed(
            FailureReason::InvalidRequest,
            "spec.loadBalancerIP: \"nope\" is not an IP address"
        )
    );
}

#[test]
fn requested_ip_and_pool_must_agree() {
    let snap = snapshot([
        eip("a", "10.0.0.0/29").obj(),
        eip("b", "10.0.1.0/29").obj(),
        service("default", "ok")
            .want_pool("b")
            .want_ip("10.0.1.3")
            .obj(),
        service("default", "ko")
            .want_pool("b")
            .want_ip("10.0.0.3")
            .obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "ok")],
        assigned("10.0.1.3", "b")
    );
    assert_eq!(
        plan.services[&key("default", "ko")],
        failed(
            FailureReason::NotInPool,
            "address 10.0.0.3 is not in the requested Eip \"b\""
        )
    );
}

// ------------------------------------------------------------------------------- requested pool

#[test]
fn requested_pool_by_annotation() {
    let snap = snapshot([
        eip("def", POOL).default_pool().obj(),
        eip("other", "10.0.0.0/29").obj(),
        service("default", "web").want_pool("other").obj(),
        service("default", "legacy")
            .annotate("eip.porter.kubesphere.io/v1alpha2", "other")
            .obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "legacy")],
        assigned("10.0.0.0", "other")
    );
    assert_eq!(
        plan.services[&key("default", "web")],
        assigned("10.0.0.1", "other")
    );
}

#[test]
fn requested_pool_that_does_not_exist_names_the_annotation() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").want_pool("nope").obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        failed(
            FailureReason::UnknownEip,
            "Eip \"nope\" (named by annotation eip.openelb.kubesphere.io/v1alpha2) does not exist"
        )
    );
}

#[test]
fn requested_pool_that_is_invalid_says_so() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        eip("broken", "10.0.0.5/24").obj(),
        service("default", "web").want_pool("broken").obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        failed(
            FailureReason::InvalidEip,
            "Eip \"broken\" (named by annotation eip.openelb.kubesphere.io/v1alpha2) is invalid; see its status"
        )
    );
    assert_eq!(
        plan.eips["broken"].errors,
        ["spec.address: \"10.0.0.5/24\" has host bits set; did you mean \"10.0.0.0/24\"?"]
    );
}

#[test]
fn requested_pool_exhausted_fails_and_reports_occupied() {
    let snap = snapshot([
        eip("def", POOL).default_pool().obj(),
        eip("tiny", "10.0.0.0/31").obj(),
        service("default", "a")
            .created_at(1)
            .want_pool("tiny")
            .obj(),
        service("default", "b")
            .created_at(2)
            .want_pool("tiny")
            .obj(),
        service("default", "c")
            .created_at(3)
            .want_pool("tiny")
            .obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "a")],
        assigned("10.0.0.0", "tiny")
    );
    assert_eq!(
        plan.services[&key("default", "b")],
        assigned("10.0.0.1", "tiny")
    );
    assert_eq!(
        plan.services[&key("default", "c")],
        failed(
            FailureReason::PoolExhausted,
            "no free address in Eip \"tiny\" (all full or disabled)"
        )
    );
    let tiny = &plan.eips["tiny"].status;
    assert_eq!(tiny.occupied, Some(true));
    assert_eq!(tiny.usage, Some(2));
    assert_eq!(tiny.pool_size, Some(2));
    // The default pool is not a fallback for a Service that named its pool.
    assert_eq!(plan.eips["def"].status.usage, Some(0));
}

// ------------------------------------------------------------------------------- namespaces

#[test]
fn namespace_bound_pools_come_before_the_default_by_priority() {
    let snap = snapshot([
        namespace("team-a", &[("team", "a")]),
        namespace("labelled", &[("team", "a"), ("env", "prod")]),
        namespace("other", &[("team", "b")]),
        eip("def", POOL).default_pool().obj(),
        // Listed by name, tried second (priority 5).
        eip("by-name", "10.0.1.0/30")
            .namespaces(&["team-a"])
            .priority(5)
            .obj(),
        // Selected by label, tried first (priority 1); one address only.
        eip("by-label", "10.0.2.1")
            .namespace_selector(&[("team", "a")])
            .priority(1)
            .obj(),
        service("team-a", "first").created_at(1).obj(),
        service("team-a", "second").created_at(2).obj(),
        service("labelled", "x").created_at(3).obj(),
        service("other", "y").created_at(4).obj(),
        service("unknown-ns", "z").created_at(5).obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("team-a", "first")],
        assigned("10.0.2.1", "by-label")
    );
    assert_eq!(
        plan.services[&key("team-a", "second")],
        assigned("10.0.1.0", "by-name")
    );
    // Bound by label only: by-label is full, and by-name does not list it.
    assert_eq!(
        plan.services[&key("labelled", "x")],
        failed(
            FailureReason::PoolExhausted,
            "no free address in Eip \"by-label\" (all full or disabled)"
        )
    );
    assert_eq!(
        plan.services[&key("other", "y")],
        assigned("192.168.0.91", "def")
    );
    assert_eq!(
        plan.services[&key("unknown-ns", "z")],
        assigned("192.168.0.92", "def")
    );
}

#[test]
fn equal_priorities_are_tried_by_name() {
    let snap = snapshot([
        eip("zeta", "10.0.9.0/30").namespaces(&["ns"]).obj(),
        eip("alpha", "10.0.8.0/30").namespaces(&["ns"]).obj(),
        service("ns", "web").obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("ns", "web")],
        assigned("10.0.8.0", "alpha")
    );
}

#[test]
fn a_negative_priority_wins() {
    let snap = snapshot([
        eip("zero", "10.0.9.0/30").namespaces(&["ns"]).obj(),
        eip("minus", "10.0.8.0/30")
            .namespaces(&["ns"])
            .priority(-1)
            .obj(),
        eip("plus", "10.0.7.0/30")
            .namespaces(&["ns"])
            .priority(1)
            .obj(),
        service("ns", "web").obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("ns", "web")],
        assigned("10.0.8.0", "minus")
    );
}

#[test]
fn no_pool_at_all_says_how_to_fix_it() {
    let snap = snapshot([service("shop", "web").obj()]);
    assert_eq!(
        plan(&snap).services[&key("shop", "web")],
        failed(
            FailureReason::NoPool,
            "no Eip serves namespace \"shop\": name one with annotation eip.openelb.kubesphere.io/v1alpha2, \
             list the namespace in an Eip's spec.namespaces, or mark an Eip with \
             eip.openelb.kubesphere.io/is-default-eip: \"true\""
        )
    );
}

#[test]
fn a_pool_bound_to_other_namespaces_is_not_a_default() {
    let snap = snapshot([
        eip("team", "10.0.0.0/30").namespaces(&["team-a"]).obj(),
        service("team-b", "web").obj(),
    ]);
    assert!(matches!(
        &plan(&snap).services[&key("team-b", "web")].outcome,
        Outcome::Failed(f) if f.reason == FailureReason::NoPool && f.message.starts_with("no Eip serves namespace \"team-b\"")
    ));
}

// ------------------------------------------------------------------------------- intent changes

#[test]
fn a_new_requested_ip_moves_the_service_and_frees_the_old_one() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
    ]);
    let before = reconcile(&mut snap);
    assert_eq!(
        used(&before, "pool"),
        used_map(&[("192.168.0.91", "default/web")])
    );

    let held = snap.services[&key("default", "web")].status.clone();
    snap.insert(service("default", "web").want_ip("192.168.0.99").obj());
    snap.services
        .get_mut(&key("default", "web"))
        .expect("web")
        .status = held;
    let after = reconcile(&mut snap);
    assert_eq!(
        after.services[&key("default", "web")],
        assigned("192.168.0.99", "pool")
    );
    assert_eq!(
        used(&after, "pool"),
        used_map(&[("192.168.0.99", "default/web")])
    );
    // Dropping the request keeps what it now has: no intent, any address will do.
    let held = snap.services[&key("default", "web")].status.clone();
    snap.insert(service("default", "web").obj());
    snap.services
        .get_mut(&key("default", "web"))
        .expect("web")
        .status = held;
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        kept("192.168.0.99", "pool")
    );
}

#[test]
fn a_new_requested_pool_moves_the_service() {
    let snap = snapshot([
        eip("def", POOL).default_pool().obj(),
        eip("other", "10.0.0.0/30").obj(),
        service("default", "web")
            .want_pool("other")
            .ingress(&["192.168.0.91"])
            .obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        assigned("10.0.0.0", "other")
    );
    assert_eq!(used(&plan, "def"), BTreeMap::new());
}

#[test]
fn a_service_that_stops_opting_in_is_released() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
        service("default", "keep").created_at(5).obj(),
    ]);
    reconcile(&mut snap);
    let held = snap.services[&key("default", "web")].status.clone();
    snap.insert(service("default", "web").not_opted_in().obj());
    snap.services
        .get_mut(&key("default", "web"))
        .expect("web")
        .status = held;
    let plan = reconcile(&mut snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        ServicePlan {
            ingress: vec![],
            pool: None,
            outcome: Outcome::Released,
        }
    );
    assert_eq!(
        plan.services[&key("default", "keep")],
        kept("192.168.0.92", "pool")
    );
    assert_eq!(
        used(&plan, "pool"),
        used_map(&[("192.168.0.92", "default/keep")])
    );
    // Once its status is cleared, it is no longer Porter's business.
    assert!(
        !porter_model::assign::plan(&snap)
            .services
            .contains_key(&key("default", "web"))
    );
}

#[test]
fn a_service_that_stops_being_a_load_balancer_is_released() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .set(&["spec", "type"], serde_json::json!("ClusterIP"))
            .ingress(&["192.168.0.91"])
            .obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")].outcome,
        Outcome::Released
    );
}

#[test]
fn services_of_other_load_balancers_are_left_alone() {
    let snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "metallb")
            .annotate(LB, "metallb")
            .ingress(&["10.50.0.1"])
            .obj(),
        service("default", "plain").not_opted_in().obj(),
    ]);
    assert_eq!(plan(&snap).services, BTreeMap::new());
}

// ------------------------------------------------------------------------------- orphans

const ORPHAN_91: &str = "address 192.168.0.91 is in no Eip pool any more; it is kept, not moved: restore its pool, or clear the Service's status to get a new address";

#[test]
fn an_address_in_no_pool_any_more_is_kept_and_reported() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
    ]);
    reconcile(&mut snap);
    // The pool shrinks below the held address.
    snap.insert(
        eip("pool", "192.168.0.95-192.168.0.100")
            .default_pool()
            .obj(),
    );
    snap.insert(service("default", "new").created_at(9).obj());
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        ServicePlan {
            ingress: vec![ip("192.168.0.91")],
            pool: None,
            outcome: Outcome::Orphaned(ORPHAN_91.to_owned()),
        }
    );
    assert_eq!(
        plan.services[&key("default", "new")],
        assigned("192.168.0.95", "pool")
    );
    assert_eq!(
        used(&plan, "pool"),
        used_map(&[("192.168.0.95", "default/new")])
    );
}

#[test]
fn an_address_whose_eip_was_deleted_is_kept_and_reported() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
    ]);
    reconcile(&mut snap);
    snap.eips.clear();
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")].outcome,
        Outcome::Orphaned(ORPHAN_91.to_owned())
    );
    assert_eq!(
        plan.services[&key("default", "web")].ingress,
        [ip("192.168.0.91")]
    );
    assert!(plan.eips.is_empty());
}

#[test]
fn a_requested_address_that_left_its_pool_is_kept_too() {
    // The user asked for exactly the address the Service holds; shrinking the pool must not
    // clear it (which would drop the traffic) any more than for an unrequested one.
    for svc in [
        service("default", "web").want_ip("192.168.0.91"),
        service("default", "web").load_balancer_ip("192.168.0.91"),
    ] {
        let snap = snapshot([
            eip("pool", "192.168.0.95-192.168.0.100")
                .default_pool()
                .obj(),
            svc.ingress(&["192.168.0.91"]).obj(),
        ]);
        let plan = plan(&snap);
        assert_eq!(
            plan.services[&key("default", "web")],
            ServicePlan {
                ingress: vec![ip("192.168.0.91")],
                pool: None,
                outcome: Outcome::Orphaned(ORPHAN_91.to_owned()),
            }
        );
    }
}

#[test]
fn a_named_pool_shrunk_under_its_service_does_not_move_it() {
    // The Service names its pool and carries the label the controller writes; the pool
    // shrinks below its address: that is the operator's edit, not a new intent.
    let snap = snapshot([
        eip("pool", "192.168.0.95-192.168.0.100").obj(),
        service("default", "web")
            .want_pool("pool")
            .label("eip.openelb.kubesphere.io/v1alpha2", "pool")
            .ingress(&["192.168.0.91"])
            .obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        ServicePlan {
            ingress: vec![ip("192.168.0.91")],
            pool: None,
            outcome: Outcome::Orphaned(ORPHAN_91.to_owned()),
        }
    );
}

#[test]
fn an_orphan_whose_user_names_another_pool_moves() {
    let snap = snapshot([
        eip("other", "192.168.0.95-192.168.0.100").obj(),
        service("default", "web")
            .want_pool("other")
            .label("eip.openelb.kubesphere.io/v1alpha2", "gone")
            .ingress(&["192.168.0.91"])
            .obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        assigned("192.168.0.95", "other")
    );
}

#[test]
fn an_orphan_whose_user_asks_for_another_address_moves() {
    let snap = snapshot([
        eip("pool", "192.168.0.95-192.168.0.100")
            .default_pool()
            .obj(),
        service("default", "web")
            .want_ip("192.168.0.96")
            .ingress(&["192.168.0.91"])
            .obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "web")],
        assigned("192.168.0.96", "pool")
    );
}

// ------------------------------------------------------------------------------- Eip validity

#[test]
fn of_two_overlapping_eips_the_older_wins() {
    // "new" sorts first by name: only the timestamps make "old" the valid one.
    let mut objects = vec![
        eip("old", "10.0.0.0/29").default_pool().created_at(0).obj(),
        eip("new", "10.0.0.4-10.0.0.12")
            .default_pool()
            .created_at(5)
            .obj(),
    ];
    for i in 0..9 {
        objects.push(service("default", &format!("s{i}")).created_at(i).obj());
    }
    let plan = plan(&snapshot(objects));
    assert_eq!(
        plan.eips["new"].errors,
        [
            "spec.address: range 10.0.0.4-10.0.0.12 of Eip \"new\" overlaps range 10.0.0.0-10.0.0.7 of Eip \"old\""
        ]
    );
    assert_eq!(
        plan.eips["new"].status,
        EipStatus {
            ready: Some(false),
            ..Default::default()
        }
    );
    assert_eq!(plan.eips["old"].errors, Vec::<String>::new());
    assert_eq!(plan.eips["old"].status.ready, Some(true));
    assert_eq!(plan.eips["old"].status.occupied, Some(true));
    for i in 0..8 {
        assert_eq!(
            plan.services[&key("default", &format!("s{i}"))],
            assigned(&format!("10.0.0.{i}"), "old")
        );
    }
    assert_eq!(
        plan.services[&key("default", "s8")],
        failed(
            FailureReason::PoolExhausted,
            "no free address in Eip \"old\" (all full or disabled)"
        )
    );
}

#[test]
fn an_overlapping_eip_named_by_a_service_is_invalid() {
    let snap = snapshot([
        eip("old", "10.0.0.0/29").created_at(0).obj(),
        eip("new", "10.0.0.4-10.0.0.12").created_at(5).obj(),
        service("default", "web").want_pool("new").obj(),
        service("default", "ip").want_ip("10.0.0.10").obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        failed(
            FailureReason::InvalidEip,
            "Eip \"new\" (named by annotation eip.openelb.kubesphere.io/v1alpha2) is invalid; see its status"
        )
    );
    assert_eq!(
        plan.services[&key("default", "ip")],
        failed(
            FailureReason::NotInPool,
            "address 10.0.0.10 is not in any Eip"
        )
    );
}

#[test]
fn an_invalid_eip_is_reported_and_not_ready() {
    let snap = snapshot([
        eip("bad", "10.0.0.300").default_pool().obj(),
        eip("l2", "10.0.1.0/24")
            .set(&["spec", "protocol"], serde_json::json!("layer2"))
            .obj(),
        service("default", "web").obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.eips["bad"].errors,
        ["spec.address: \"10.0.0.300\" is not an IP address, a CIDR or a first-last range"]
    );
    assert_eq!(
        plan.eips["bad"].status,
        EipStatus {
            ready: Some(false),
            ..Default::default()
        }
    );
    assert_eq!(
        plan.eips["l2"].errors,
        ["spec.interface: must be set when protocol is layer2"]
    );
    assert_eq!(plan.eips["l2"].status.ready, Some(false));
    assert!(matches!(
        &plan.services[&key("default", "web")].outcome,
        Outcome::Failed(f) if f.reason == FailureReason::NoPool && f.message.starts_with("no Eip serves namespace")
    ));
}

#[test]
fn a_disabled_eip_keeps_what_it_gave_and_gives_nothing_new() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
    ]);
    reconcile(&mut snap);
    snap.insert(eip("pool", POOL).default_pool().disabled().obj());
    snap.insert(service("default", "new").created_at(5).obj());
    snap.insert(
        service("default", "asks")
            .created_at(6)
            .want_ip("192.168.0.95")
            .obj(),
    );
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "web")],
        kept("192.168.0.91", "pool")
    );
    assert_eq!(
        plan.services[&key("default", "new")],
        failed(
            FailureReason::PoolExhausted,
            "no free address in Eip \"pool\" (all full or disabled)"
        )
    );
    assert_eq!(
        plan.services[&key("default", "asks")],
        failed(
            FailureReason::PoolDisabled,
            "Eip \"pool\" is disabled and hands out no new addresses"
        )
    );
    let status = &plan.eips["pool"].status;
    assert_eq!(status.ready, Some(true));
    assert_eq!(status.usage, Some(1));
    assert_eq!(status.occupied, Some(false));
}

// ------------------------------------------------------------------------------- IPv6

#[test]
fn an_ipv6_service_gets_an_ipv6_address() {
    let snap = snapshot([
        eip("v4", POOL).default_pool().obj(),
        eip("v6", "2001:db8::/126").default_pool().obj(),
        service("default", "six").ip_families(&["IPv6"]).obj(),
        service("default", "dual")
            .ip_families(&["IPv6", "IPv4"])
            .obj(),
        service("default", "four").ip_families(&["IPv4"]).obj(),
        service("default", "unset").obj(),
    ]);
    let plan = plan(&snap);
    assert_eq!(
        plan.services[&key("default", "dual")],
        assigned("2001:db8::", "v6")
    );
    assert_eq!(
        plan.services[&key("default", "six")],
        assigned("2001:db8::1", "v6")
    );
    assert_eq!(
        plan.services[&key("default", "four")],
        assigned("192.168.0.91", "v4")
    );
    assert_eq!(
        plan.services[&key("default", "unset")],
        assigned("192.168.0.92", "v4")
    );
    let v6 = &plan.eips["v6"].status;
    assert_eq!(v6.v4, Some(false));
    assert_eq!(v6.pool_size, Some(4));
    assert_eq!(v6.first_ip.as_deref(), Some("2001:db8::"));
    assert_eq!(v6.last_ip.as_deref(), Some("2001:db8::3"));
    assert_eq!(
        used(&plan, "v6"),
        used_map(&[
            ("2001:db8::", "default/dual"),
            ("2001:db8::1", "default/six")
        ])
    );
}

#[test]
fn an_ipv6_service_without_an_ipv6_pool_fails() {
    let snap = snapshot([
        eip("v4", POOL).default_pool().obj(),
        service("default", "six").ip_families(&["IPv6"]).obj(),
    ]);
    assert_eq!(
        plan(&snap).services[&key("default", "six")],
        failed(
            FailureReason::FamilyMismatch,
            "no IPv6 addresses in Eip \"v4\""
        )
    );
}

#[test]
fn a_huge_ipv6_pool_saturates_its_size() {
    let snap = snapshot([eip("v6", "2001:db8::/32").default_pool().obj()]);
    assert_eq!(plan(&snap).eips["v6"].status.pool_size, Some(i64::MAX));
}

// ------------------------------------------------------------------------------- determinism

#[test]
fn the_plan_is_a_function_of_the_snapshot() {
    let objects = || {
        vec![
            namespace("team-a", &[("team", "a")]),
            eip("def", POOL).default_pool().obj(),
            eip("a", "10.0.1.0/30")
                .namespace_selector(&[("team", "a")])
                .obj(),
            eip("bad", "nope").obj(),
            service("team-a", "x").obj(),
            service("default", "y").want_ip("192.168.0.99").obj(),
            service("default", "z").want_pool("a").obj(),
            service("default", "gone")
                .not_opted_in()
                .ingress(&["192.168.0.93"])
                .obj(),
        ]
    };
    let snap = snapshot(objects());
    let one = plan(&snap);
    assert_eq!(one, plan(&snap));
    assert_eq!(one, plan(&snap.clone()));
    let mut reversed = objects();
    reversed.reverse();
    assert_eq!(one, plan(&snapshot(reversed)));
}

#[test]
fn a_cidr_pool_hands_out_its_network_address_first_and_avoid_buggy_ips_skips_it() {
    let snap = snapshot([
        eip("pool", "203.0.113.0/24").default_pool().obj(),
        service("default", "web").obj(),
    ]);
    let p = plan(&snap);
    assert_eq!(
        p.services[&key("default", "web")],
        assigned("203.0.113.0", "pool")
    );
    assert_eq!(p.eips["pool"].status.pool_size, Some(256));

    let avoiding = || {
        eip("pool", "203.0.113.0/24")
            .default_pool()
            .set(&["spec", "avoidBuggyIPs"], serde_json::json!(true))
    };
    let snap = snapshot([
        avoiding().obj(),
        service("default", "web").obj(),
        service("default", "asks-0")
            .want_ip("203.0.113.0")
            .created_at(10)
            .obj(),
        service("default", "asks-255")
            .want_ip("203.0.113.255")
            .created_at(20)
            .obj(),
    ]);
    let p = plan(&snap);
    assert_eq!(
        p.services[&key("default", "web")],
        assigned("203.0.113.1", "pool")
    );
    for (name, ip_) in [("asks-0", "203.0.113.0"), ("asks-255", "203.0.113.255")] {
        assert_eq!(
            p.services[&key("default", name)],
            failed(
                FailureReason::AvoidedAddress,
                &format!(
                    "address {ip_} ends in .0 or .255, which Eip \"pool\" does not hand out (avoidBuggyIPs)"
                )
            )
        );
    }
    let status = &p.eips["pool"].status;
    assert_eq!((status.pool_size, status.usage), (Some(254), Some(1)));

    // turned on later: a Service holding .0 keeps it; it is listed but not counted
    let snap = snapshot([
        avoiding().obj(),
        service("default", "old").ingress(&["203.0.113.0"]).obj(),
    ]);
    let p = plan(&snap);
    assert_eq!(
        p.services[&key("default", "old")],
        kept("203.0.113.0", "pool")
    );
    let status = &p.eips["pool"].status;
    assert_eq!((status.pool_size, status.usage), (Some(254), Some(0)));
    assert_eq!(
        used(&p, "pool"),
        used_map(&[("203.0.113.0", "default/old")])
    );
}
