//! `assign::plan`: which Service holds which address, and each Eip's status.
//!
//! Most tests are one snapshot and one plan: they are rows of the [`cases!`] table below (the
//! objects in, what each Service and Eip should get out), checked by [`Case::check`]. Tests
//! over several plans (a reconcile, an edit, another plan) and properties stay functions,
//! with the same [`Want`] expectations.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use porter_api::EipStatus;
use porter_model::assign::{FailureReason, Ingress, Orphan, Outcome, Plan, ServicePlan, plan};
use porter_model::manifests::Object;
use porter_model::{ObjectKey, Snapshot};

use crate::fixtures::*;

const POOL: &str = "192.168.0.91-192.168.0.100";

/// The `AllocationFailed` message when no Eip serves `namespace`.
fn no_eip_serves(namespace: &str) -> String {
    format!(
        "no Eip serves namespace \"{namespace}\": name one with annotation eip.openelb.kubesphere.io/v1alpha2, \
         list the namespace in an Eip's spec.namespaces, or mark an Eip with \
         eip.openelb.kubesphere.io/is-default-eip: \"true\""
    )
}

// ------------------------------------------------------------------------------- expectations

/// What one Service's plan should be.
#[derive(Debug, Clone)]
enum Want {
    /// A new address from this Eip.
    Assigned(&'static str, &'static str),
    /// The address it holds, from this Eip.
    Kept(&'static str, &'static str),
    /// Nothing, for this kind of reason, with this message.
    Failed(FailureReason, String),
    /// Nothing: what it held is released.
    Released,
    /// The address it holds, which is in no Eip: kept, and reported.
    Orphaned(&'static str),
}

use Want::{Assigned, Kept, Released};

fn failed(reason: FailureReason, message: impl Into<String>) -> Want {
    Want::Failed(reason, message.into())
}

impl Want {
    /// Asserts that `plan` plans `service` (`namespace/name`) as wanted.
    fn check(&self, plan: &Plan, service: &ObjectKey) {
        let Some(got) = plan.services.get(service) else {
            panic!("{service} is not planned: {:?}", plan.services);
        };
        let want = |ingress: &[&str], pool: Option<&str>, outcome: Outcome| ServicePlan {
            ingress: match ingress {
                [] => Ingress::NONE,
                [a] => Ingress::one(ip(a)),
                _ => panic!("a plan gives one address at most"),
            },
            pool: pool.map(Into::into),
            outcome,
        };
        match self {
            Assigned(at, pool) => {
                assert_eq!(
                    got,
                    &want(&[*at], Some(pool), Outcome::Assigned),
                    "{service}"
                )
            }
            Kept(at, pool) => {
                assert_eq!(got, &want(&[*at], Some(pool), Outcome::Kept), "{service}")
            }
            Released => assert_eq!(got, &want(&[], None, Outcome::Released), "{service}"),
            Want::Orphaned(at) => {
                let orphan = Orphan { ip: ip(at) };
                assert_eq!(
                    got,
                    &want(&[*at], None, Outcome::Orphaned(orphan.clone())),
                    "{service}"
                );
                assert_eq!(
                    orphan.to_string(),
                    format!(
                        "address {at} is in no Eip pool any more; it is kept, not moved: restore its pool, or clear the Service's status to get a new address"
                    )
                );
            }
            Want::Failed(reason, message) => {
                assert!(
                    got.ingress.is_empty() && got.pool.is_none(),
                    "{service}: {got:?}"
                );
                let Outcome::Failed(failure) = &got.outcome else {
                    panic!("{service} should have failed: {got:?}");
                };
                assert_eq!(
                    (failure.reason(), failure.to_string()),
                    (*reason, message.clone()),
                    "{service}"
                );
            }
        }
    }
}

/// One thing to check of an Eip's plan.
#[derive(Debug, Clone)]
enum EipWant {
    /// Its errors, as rendered.
    Errors(&'static [&'static str]),
    /// Its whole status.
    Status(EipStatus),
    /// `status.usage`.
    Usage(i64),
    /// `status.poolSize`.
    PoolSize(i64),
    /// `status.occupied`.
    Occupied(bool),
    /// `status.ready`.
    Ready(bool),
    /// `status.v4`.
    V4(bool),
    /// `status.firstIP` and `status.lastIP`.
    Bounds(&'static str, &'static str),
    /// `status.used`: address → `namespace/name`.
    Used(&'static [(&'static str, &'static str)]),
}

use EipWant::{Bounds, Errors, Occupied, PoolSize, Ready, Status, Usage, Used, V4};

impl EipWant {
    fn check(&self, plan: &Plan, name: &str) {
        let Some(got) = plan.eips.get(name) else {
            panic!("Eip {name} is not planned: {:?}", plan.eips);
        };
        let status = &got.status;
        match self {
            Errors(want) => {
                let errors: Vec<String> = got.errors.iter().map(ToString::to_string).collect();
                assert_eq!(errors, *want, "Eip {name}");
            }
            Status(want) => assert_eq!(status, want, "Eip {name}"),
            Usage(n) => assert_eq!(status.usage, Some(*n), "Eip {name}"),
            PoolSize(n) => assert_eq!(status.pool_size, Some(*n), "Eip {name}"),
            Occupied(b) => assert_eq!(status.occupied, Some(*b), "Eip {name}"),
            Ready(b) => assert_eq!(status.ready, Some(*b), "Eip {name}"),
            V4(b) => assert_eq!(status.v4, Some(*b), "Eip {name}"),
            Bounds(first, last) => assert_eq!(
                (status.first_ip.as_deref(), status.last_ip.as_deref()),
                (Some(*first), Some(*last)),
                "Eip {name}"
            ),
            Used(pairs) => assert_eq!(used(plan, name), used_map(pairs), "Eip {name}"),
        }
    }
}

/// `status.used` of Eip `pool`.
fn used(plan: &Plan, pool: &str) -> BTreeMap<String, String> {
    plan.eips[pool].status.used.clone().unwrap_or_default()
}

fn used_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `namespace/name` → its key.
fn service_key(service: &str) -> ObjectKey {
    let (namespace, name) = service.split_once('/').expect("namespace/name");
    key(namespace, name)
}

/// Asserts that `plan` plans `service` (`namespace/name`) as wanted.
fn expect(plan: &Plan, service: &str, want: Want) {
    want.check(plan, &service_key(service));
}

// ------------------------------------------------------------------------------- the table

/// One snapshot, planned once, and what its plan should say.
struct Case {
    objects: Vec<Object>,
    services: Vec<(ObjectKey, Want)>,
    /// The plan holds no Service but those in `services`.
    no_others: bool,
    eips: Vec<(&'static str, EipWant)>,
}

impl Case {
    fn of(objects: impl IntoIterator<Item = Object>) -> Self {
        Self {
            objects: objects.into_iter().collect(),
            services: vec![],
            no_others: false,
            eips: vec![],
        }
    }

    /// `service` (`namespace/name`) is planned as wanted.
    fn service(mut self, service: &str, want: Want) -> Self {
        self.services.push((service_key(service), want));
        self
    }

    /// No other Service is planned.
    fn no_others(mut self) -> Self {
        self.no_others = true;
        self
    }

    /// Eip `name`'s plan passes these checks.
    fn eip(mut self, name: &'static str, checks: impl IntoIterator<Item = EipWant>) -> Self {
        self.eips
            .extend(checks.into_iter().map(|check| (name, check)));
        self
    }

    fn check(self) {
        let plan = plan(&snapshot(self.objects));
        for (service, want) in &self.services {
            want.check(&plan, service);
        }
        if self.no_others {
            let planned: Vec<&ObjectKey> = plan.services.keys().collect();
            let listed: Vec<&ObjectKey> = {
                let mut keys: Vec<_> = self.services.iter().map(|(k, _)| k).collect();
                keys.sort();
                keys
            };
            assert_eq!(planned, listed, "planned Services");
        }
        for (name, check) in &self.eips {
            check.check(&plan, name);
        }
        // Whatever the case, the Eips' records agree with what the Services are given.
        let recorded: BTreeMap<String, String> = plan
            .eips
            .values()
            .flat_map(|e| e.status.used.clone().unwrap_or_default())
            .collect();
        let given: BTreeMap<String, String> = plan
            .services
            .iter()
            .filter(|(_, p)| matches!(p.outcome, Outcome::Kept | Outcome::Assigned))
            .flat_map(|(k, p)| {
                p.ingress
                    .iter()
                    .map(move |a| (a.to_string(), k.to_string()))
            })
            .collect();
        assert_eq!(recorded, given, "Eip records against Service addresses");
    }
}

/// One `#[test]` per row: `name: case,`.
macro_rules! cases {
    ($($(#[$meta:meta])* $name:ident: $case:expr,)*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                Case::check($case);
            }
        )*
    };
}

cases! {
    first_service_gets_the_lowest_address_of_the_default_pool: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
    ])
    .service("default/web", Assigned("192.168.0.91", "pool"))
    .no_others()
    .eip("pool", [
        Errors(&[]),
        Status(EipStatus {
            occupied: Some(false),
            usage: Some(1),
            pool_size: Some(10),
            used: Some(used_map(&[("192.168.0.91", "default/web")])),
            first_ip: Some("192.168.0.91".into()),
            last_ip: Some("192.168.0.100".into()),
            ready: Some(true),
            v4: Some(true),
            conditions: vec![],
        }),
    ]),

    a_pool_that_is_not_default_serves_nobody_implicitly: Case::of([
        eip("pool", POOL).obj(),
        service("default", "web").obj(),
    ])
    .service("default/web", failed(FailureReason::NoPool, no_eip_serves("default")))
    .eip("pool", [Usage(0), Used(&[])]),

    services_are_served_oldest_first_then_by_key: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "c").created_at(1).obj(),
        service("default", "b").created_at(2).obj(),
        service("default", "a").created_at(2).obj(),
        service("zz", "a").created_at(0).obj(),
    ])
    .service("default/a", Assigned("192.168.0.93", "pool"))
    .service("default/b", Assigned("192.168.0.94", "pool"))
    .service("default/c", Assigned("192.168.0.92", "pool"))
    .service("zz/a", Assigned("192.168.0.91", "pool"))
    .no_others(),

    // ------------------------------------------------------------------------- never reshuffles

    /// A status edited by hand: both say they hold .91.
    two_services_claiming_one_address_in_status_the_older_keeps_it: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "new").created_at(9).ingress(&["192.168.0.91"]).obj(),
        service("default", "old").created_at(1).ingress(&["192.168.0.91"]).obj(),
    ])
    .service("default/old", Kept("192.168.0.91", "pool"))
    .service("default/new", Assigned("192.168.0.92", "pool")),

    /// OpenELB writes one address; a second one can only come from a hand edit. Whatever the
    /// plan keeps for `web` must be recorded, so nobody else gets it.
    a_service_holding_several_addresses_does_not_share_them: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .created_at(1)
            .ingress(&["192.168.0.91", "192.168.0.92"])
            .obj(),
        service("default", "next").created_at(2).obj(),
    ])
    .service("default/web", Kept("192.168.0.91", "pool"))
    .service("default/next", Assigned("192.168.0.92", "pool"))
    .eip("pool", [Used(&[("192.168.0.91", "default/web"), ("192.168.0.92", "default/next")])]),

    an_orphan_listed_with_a_pool_address_does_not_share_it: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .created_at(1)
            .ingress(&["10.9.9.9", "192.168.0.91"])
            .obj(),
        service("default", "next").created_at(2).obj(),
    ])
    .service("default/web", Want::Orphaned("10.9.9.9"))
    .service("default/next", Assigned("192.168.0.91", "pool")),

    // ------------------------------------------------------------------------- requested IP

    requested_ip_by_annotation: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").want_ip("192.168.0.95").obj(),
    ])
    .service("default/web", Assigned("192.168.0.95", "pool")),

    requested_ip_by_load_balancer_ip: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").load_balancer_ip("192.168.0.97").obj(),
    ])
    .service("default/web", Assigned("192.168.0.97", "pool")),

    requested_ip_annotation_overrides_load_balancer_ip: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .load_balancer_ip("192.168.0.97")
            .want_ip("192.168.0.95")
            .obj(),
    ])
    .service("default/web", Assigned("192.168.0.95", "pool")),

    /// Asking for an address is an explicit choice: any valid pool holding it serves it.
    requested_ip_may_come_from_a_pool_that_is_not_default: Case::of([
        eip("default-pool", POOL).default_pool().obj(),
        eip("special", "10.1.0.0/24").obj(),
        service("default", "web").want_ip("10.1.0.7").obj(),
    ])
    .service("default/web", Assigned("10.1.0.7", "special")),

    requested_ip_outside_every_pool_fails: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").want_ip("10.9.9.9").obj(),
    ])
    .service(
        "default/web",
        failed(FailureReason::NotInPool, "address 10.9.9.9 is not in any Eip"),
    ),

    requested_ip_that_is_not_an_address_names_the_field: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "a").want_ip("192.168.0.300").obj(),
        service("default", "b").load_balancer_ip("nope").obj(),
    ])
    .service(
        "default/a",
        failed(
            FailureReason::InvalidRequest,
            "metadata.annotations[eip.openelb.kubesphere.io/v1alpha1]: \"192.168.0.300\" is not an IP address",
        ),
    )
    .service(
        "default/b",
        failed(
            FailureReason::InvalidRequest,
            "spec.loadBalancerIP: \"nope\" is not an IP address",
        ),
    ),

    requested_ip_and_pool_must_agree: Case::of([
        eip("a", "10.0.0.0/29").obj(),
        eip("b", "10.0.1.0/29").obj(),
        service("default", "ok").want_pool("b").want_ip("10.0.1.3").obj(),
        service("default", "ko").want_pool("b").want_ip("10.0.0.3").obj(),
    ])
    .service("default/ok", Assigned("10.0.1.3", "b"))
    .service(
        "default/ko",
        failed(
            FailureReason::NotInPool,
            "address 10.0.0.3 is not in the requested Eip \"b\"",
        ),
    ),

    // ------------------------------------------------------------------------- requested pool

    requested_pool_by_annotation: Case::of([
        eip("def", POOL).default_pool().obj(),
        eip("other", "10.0.0.0/29").obj(),
        service("default", "web").want_pool("other").obj(),
        service("default", "legacy")
            .annotate("eip.porter.kubesphere.io/v1alpha2", "other")
            .obj(),
    ])
    .service("default/legacy", Assigned("10.0.0.0", "other"))
    .service("default/web", Assigned("10.0.0.1", "other")),

    requested_pool_that_does_not_exist_names_the_annotation: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").want_pool("nope").obj(),
    ])
    .service(
        "default/web",
        failed(
            FailureReason::UnknownEip,
            "Eip \"nope\" (named by annotation eip.openelb.kubesphere.io/v1alpha2) does not exist",
        ),
    ),

    requested_pool_that_is_invalid_says_so: Case::of([
        eip("pool", POOL).default_pool().obj(),
        eip("broken", "10.0.0.5/24").obj(),
        service("default", "web").want_pool("broken").obj(),
    ])
    .service(
        "default/web",
        failed(
            FailureReason::InvalidEip,
            "Eip \"broken\" (named by annotation eip.openelb.kubesphere.io/v1alpha2) is invalid; see its status",
        ),
    )
    .eip("broken", [Errors(&[
        "spec.address: \"10.0.0.5/24\" has host bits set; did you mean \"10.0.0.0/24\"?",
    ])]),

    /// The default pool is not a fallback for a Service that named its pool.
    requested_pool_exhausted_fails_and_reports_occupied: Case::of([
        eip("def", POOL).default_pool().obj(),
        eip("tiny", "10.0.0.0/31").obj(),
        service("default", "a").created_at(1).want_pool("tiny").obj(),
        service("default", "b").created_at(2).want_pool("tiny").obj(),
        service("default", "c").created_at(3).want_pool("tiny").obj(),
    ])
    .service("default/a", Assigned("10.0.0.0", "tiny"))
    .service("default/b", Assigned("10.0.0.1", "tiny"))
    .service(
        "default/c",
        failed(
            FailureReason::PoolExhausted,
            "no free address in Eip \"tiny\" (all full or disabled)",
        ),
    )
    .eip("tiny", [Occupied(true), Usage(2), PoolSize(2)])
    .eip("def", [Usage(0)]),

    // ------------------------------------------------------------------------- namespaces

    /// `by-label` (selected by label, priority 1, one address) is tried before `by-name`
    /// (listed by name, priority 5), both before the default. `labelled` is bound by label
    /// only: `by-label` is full, and `by-name` does not list it.
    namespace_bound_pools_come_before_the_default_by_priority: Case::of([
        namespace("team-a", &[("team", "a")]),
        namespace("labelled", &[("team", "a"), ("env", "prod")]),
        namespace("other", &[("team", "b")]),
        eip("def", POOL).default_pool().obj(),
        eip("by-name", "10.0.1.0/30").namespaces(&["team-a"]).priority(5).obj(),
        eip("by-label", "10.0.2.1")
            .namespace_selector(&[("team", "a")])
            .priority(1)
            .obj(),
        service("team-a", "first").created_at(1).obj(),
        service("team-a", "second").created_at(2).obj(),
        service("labelled", "x").created_at(3).obj(),
        service("other", "y").created_at(4).obj(),
        service("unknown-ns", "z").created_at(5).obj(),
    ])
    .service("team-a/first", Assigned("10.0.2.1", "by-label"))
    .service("team-a/second", Assigned("10.0.1.0", "by-name"))
    .service(
        "labelled/x",
        failed(
            FailureReason::PoolExhausted,
            "no free address in Eip \"by-label\" (all full or disabled)",
        ),
    )
    .service("other/y", Assigned("192.168.0.91", "def"))
    .service("unknown-ns/z", Assigned("192.168.0.92", "def")),

    equal_priorities_are_tried_by_name: Case::of([
        eip("zeta", "10.0.9.0/30").namespaces(&["ns"]).obj(),
        eip("alpha", "10.0.8.0/30").namespaces(&["ns"]).obj(),
        service("ns", "web").obj(),
    ])
    .service("ns/web", Assigned("10.0.8.0", "alpha")),

    a_negative_priority_wins: Case::of([
        eip("zero", "10.0.9.0/30").namespaces(&["ns"]).obj(),
        eip("minus", "10.0.8.0/30").namespaces(&["ns"]).priority(-1).obj(),
        eip("plus", "10.0.7.0/30").namespaces(&["ns"]).priority(1).obj(),
        service("ns", "web").obj(),
    ])
    .service("ns/web", Assigned("10.0.8.0", "minus")),

    no_pool_at_all_says_how_to_fix_it: Case::of([service("shop", "web").obj()])
        .service("shop/web", failed(FailureReason::NoPool, no_eip_serves("shop"))),

    a_pool_bound_to_other_namespaces_is_not_a_default: Case::of([
        eip("team", "10.0.0.0/30").namespaces(&["team-a"]).obj(),
        service("team-b", "web").obj(),
    ])
    .service("team-b/web", failed(FailureReason::NoPool, no_eip_serves("team-b"))),

    // ------------------------------------------------------------------------- intent changes

    a_new_requested_pool_moves_the_service: Case::of([
        eip("def", POOL).default_pool().obj(),
        eip("other", "10.0.0.0/30").obj(),
        service("default", "web").want_pool("other").ingress(&["192.168.0.91"]).obj(),
    ])
    .service("default/web", Assigned("10.0.0.0", "other"))
    .eip("def", [Used(&[])]),

    a_service_that_stops_being_a_load_balancer_is_released: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web")
            .set(&["spec", "type"], serde_json::json!("ClusterIP"))
            .ingress(&["192.168.0.91"])
            .obj(),
    ])
    .service("default/web", Released),

    services_of_other_load_balancers_are_left_alone: Case::of([
        eip("pool", POOL).default_pool().obj(),
        service("default", "metallb").annotate(LB, "metallb").ingress(&["10.50.0.1"]).obj(),
        service("default", "plain").not_opted_in().obj(),
    ])
    .no_others(),

    // ------------------------------------------------------------------------- orphans

    /// The user asked for exactly the address the Service holds; shrinking the pool must not
    /// clear it (which would drop the traffic) any more than for an unrequested one.
    a_requested_address_that_left_its_pool_is_kept_too: Case::of([
        eip("pool", "192.168.0.95-192.168.0.100").default_pool().obj(),
        service("default", "web").want_ip("192.168.0.91").ingress(&["192.168.0.91"]).obj(),
    ])
    .service("default/web", Want::Orphaned("192.168.0.91")),

    /// The same, asked for by `spec.loadBalancerIP`.
    a_requested_load_balancer_ip_that_left_its_pool_is_kept_too: Case::of([
        eip("pool", "192.168.0.95-192.168.0.100").default_pool().obj(),
        service("default", "web")
            .load_balancer_ip("192.168.0.91")
            .ingress(&["192.168.0.91"])
            .obj(),
    ])
    .service("default/web", Want::Orphaned("192.168.0.91")),

    /// The Service names its pool and carries the label the controller writes; the pool
    /// shrinks below its address: that is the operator's edit, not a new intent.
    a_named_pool_shrunk_under_its_service_does_not_move_it: Case::of([
        eip("pool", "192.168.0.95-192.168.0.100").obj(),
        service("default", "web")
            .want_pool("pool")
            .label("eip.openelb.kubesphere.io/v1alpha2", "pool")
            .ingress(&["192.168.0.91"])
            .obj(),
    ])
    .service("default/web", Want::Orphaned("192.168.0.91")),

    an_orphan_whose_user_names_another_pool_moves: Case::of([
        eip("other", "192.168.0.95-192.168.0.100").obj(),
        service("default", "web")
            .want_pool("other")
            .label("eip.openelb.kubesphere.io/v1alpha2", "gone")
            .ingress(&["192.168.0.91"])
            .obj(),
    ])
    .service("default/web", Assigned("192.168.0.95", "other")),

    an_orphan_whose_user_asks_for_another_address_moves: Case::of([
        eip("pool", "192.168.0.95-192.168.0.100").default_pool().obj(),
        service("default", "web")
            .want_ip("192.168.0.96")
            .ingress(&["192.168.0.91"])
            .obj(),
    ])
    .service("default/web", Assigned("192.168.0.96", "pool")),

    // ------------------------------------------------------------------------- Eip validity

    /// "new" sorts first by name: only the timestamps make "old" the valid one.
    of_two_overlapping_eips_the_older_wins: {
        let mut case = Case::of(
            [
                eip("old", "10.0.0.0/29").default_pool().created_at(0).obj(),
                eip("new", "10.0.0.4-10.0.0.12").default_pool().created_at(5).obj(),
            ]
            .into_iter()
            .chain((0..9).map(|i| service("default", &format!("s{i}")).created_at(i).obj())),
        )
        .eip("new", [
            Errors(&[
                "spec.address: range 10.0.0.4-10.0.0.12 of Eip \"new\" overlaps range 10.0.0.0-10.0.0.7 of Eip \"old\"",
            ]),
            Status(EipStatus {
                ready: Some(false),
                ..Default::default()
            }),
        ])
        .eip("old", [Errors(&[]), Ready(true), Occupied(true)])
        .service(
            "default/s8",
            failed(
                FailureReason::PoolExhausted,
                "no free address in Eip \"old\" (all full or disabled)",
            ),
        );
        let addresses = [
            "10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6",
            "10.0.0.7",
        ];
        for (i, address) in addresses.into_iter().enumerate() {
            case = case.service(&format!("default/s{i}"), Assigned(address, "old"));
        }
        case
    },

    an_overlapping_eip_named_by_a_service_is_invalid: Case::of([
        eip("old", "10.0.0.0/29").created_at(0).obj(),
        eip("new", "10.0.0.4-10.0.0.12").created_at(5).obj(),
        service("default", "web").want_pool("new").obj(),
        service("default", "ip").want_ip("10.0.0.10").obj(),
    ])
    .service(
        "default/web",
        failed(
            FailureReason::InvalidEip,
            "Eip \"new\" (named by annotation eip.openelb.kubesphere.io/v1alpha2) is invalid; see its status",
        ),
    )
    .service(
        "default/ip",
        failed(FailureReason::NotInPool, "address 10.0.0.10 is not in any Eip"),
    ),

    an_invalid_eip_is_reported_and_not_ready: Case::of([
        eip("bad", "10.0.0.300").default_pool().obj(),
        eip("l2", "10.0.1.0/24")
            .set(&["spec", "protocol"], serde_json::json!("layer2"))
            .set(&["spec", "namespaces"], serde_json::json!(["ok", ""]))
            .obj(),
        service("default", "web").obj(),
    ])
    .eip("bad", [
        Errors(&["spec.address: \"10.0.0.300\" is not an IP address, a CIDR or a first-last range"]),
        Status(EipStatus {
            ready: Some(false),
            ..Default::default()
        }),
    ])
    .eip("l2", [
        Errors(&["spec.namespaces[1]: must not be empty"]),
        Ready(false),
    ])
    .service("default/web", failed(FailureReason::NoPool, no_eip_serves("default"))),

    // ------------------------------------------------------------------------- IPv6

    an_ipv6_service_gets_an_ipv6_address: Case::of([
        eip("v4", POOL).default_pool().obj(),
        eip("v6", "2001:db8::/126").default_pool().obj(),
        service("default", "six").ip_families(&["IPv6"]).obj(),
        service("default", "dual").ip_families(&["IPv6", "IPv4"]).obj(),
        service("default", "four").ip_families(&["IPv4"]).obj(),
        service("default", "unset").obj(),
    ])
    .service("default/dual", Assigned("2001:db8::", "v6"))
    .service("default/six", Assigned("2001:db8::1", "v6"))
    .service("default/four", Assigned("192.168.0.91", "v4"))
    .service("default/unset", Assigned("192.168.0.92", "v4"))
    .eip("v6", [
        V4(false),
        PoolSize(4),
        Bounds("2001:db8::", "2001:db8::3"),
        Used(&[("2001:db8::", "default/dual"), ("2001:db8::1", "default/six")]),
    ]),

    an_ipv6_service_without_an_ipv6_pool_fails: Case::of([
        eip("v4", POOL).default_pool().obj(),
        service("default", "six").ip_families(&["IPv6"]).obj(),
    ])
    .service(
        "default/six",
        failed(FailureReason::FamilyMismatch, "no IPv6 addresses in Eip \"v4\""),
    ),

    a_huge_ipv6_pool_saturates_its_size: Case::of([eip("v6", "2001:db8::/32").default_pool().obj()])
        .eip("v6", [PoolSize(i64::MAX)]),

    // ------------------------------------------------------------------------- avoidBuggyIPs

    a_cidr_pool_hands_out_its_network_address_first: Case::of([
        eip("pool", "203.0.113.0/24").default_pool().obj(),
        service("default", "web").obj(),
    ])
    .service("default/web", Assigned("203.0.113.0", "pool"))
    .eip("pool", [PoolSize(256)]),

    avoid_buggy_ips_skips_the_network_and_broadcast_addresses: Case::of([
        avoiding_buggy_ips().obj(),
        service("default", "web").obj(),
        service("default", "asks-0").want_ip("203.0.113.0").created_at(10).obj(),
        service("default", "asks-255").want_ip("203.0.113.255").created_at(20).obj(),
    ])
    .service("default/web", Assigned("203.0.113.1", "pool"))
    .service(
        "default/asks-0",
        failed(
            FailureReason::AvoidedAddress,
            "address 203.0.113.0 ends in .0 or .255, which Eip \"pool\" does not hand out (avoidBuggyIPs)",
        ),
    )
    .service(
        "default/asks-255",
        failed(
            FailureReason::AvoidedAddress,
            "address 203.0.113.255 ends in .0 or .255, which Eip \"pool\" does not hand out (avoidBuggyIPs)",
        ),
    )
    .eip("pool", [PoolSize(254), Usage(1)]),

    /// Turned on later: a Service holding .0 keeps it; it is listed but not counted.
    avoid_buggy_ips_turned_on_later_keeps_a_held_network_address: Case::of([
        avoiding_buggy_ips().obj(),
        service("default", "old").ingress(&["203.0.113.0"]).obj(),
    ])
    .service("default/old", Kept("203.0.113.0", "pool"))
    .eip("pool", [PoolSize(254), Usage(0), Used(&[("203.0.113.0", "default/old")])]),
}

/// A default `/24` pool with `avoidBuggyIPs`.
fn avoiding_buggy_ips() -> Obj<porter_api::Eip> {
    eip("pool", "203.0.113.0/24")
        .default_pool()
        .set(&["spec", "avoidBuggyIPs"], serde_json::json!(true))
}

// ------------------------------------------------------------------------------- over several plans

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
    expect(&first, "shop/api", Assigned("192.168.0.91", "pool"));
    expect(&first, "shop/db", Assigned("192.168.0.99", "pool"));
    expect(&first, "default/web", Assigned("192.168.0.92", "pool"));

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
    expect(&plan, "default/web", Kept("10.0.0.0", "pool"));
    expect(&plan, "aaa/aaa", Assigned("10.0.0.1", "pool"));
    Used(&[("10.0.0.0", "default/web"), ("10.0.0.1", "aaa/aaa")]).check(&plan, "pool");
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
    expect(
        &plan,
        "other/wants",
        failed(
            FailureReason::Conflict,
            "address 192.168.0.95 is already assigned to default/holder",
        ),
    );
    expect(&plan, "default/holder", Kept("192.168.0.95", "pool"));
    Used(&[("192.168.0.95", "default/holder")]).check(&plan, "pool");
}

/// Replaces Service `service` (`namespace/name`) with `edited`, keeping the status it holds.
fn edit_keeping_status(snap: &mut Snapshot, service: &str, edited: Obj<Service>) {
    let k = service_key(service);
    let held = snap.services[&k].status.clone();
    snap.insert(edited.obj());
    snap.services.get_mut(&k).expect("edited").status = held;
}

#[test]
fn a_new_requested_ip_moves_the_service_and_frees_the_old_one() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
    ]);
    let before = reconcile(&mut snap);
    Used(&[("192.168.0.91", "default/web")]).check(&before, "pool");

    edit_keeping_status(
        &mut snap,
        "default/web",
        service("default", "web").want_ip("192.168.0.99"),
    );
    let after = reconcile(&mut snap);
    expect(&after, "default/web", Assigned("192.168.0.99", "pool"));
    Used(&[("192.168.0.99", "default/web")]).check(&after, "pool");
    // Dropping the request keeps what it now has: no intent, any address will do.
    edit_keeping_status(&mut snap, "default/web", service("default", "web"));
    expect(&plan(&snap), "default/web", Kept("192.168.0.99", "pool"));
}

#[test]
fn a_service_that_stops_opting_in_is_released() {
    let mut snap = snapshot([
        eip("pool", POOL).default_pool().obj(),
        service("default", "web").obj(),
        service("default", "keep").created_at(5).obj(),
    ]);
    reconcile(&mut snap);
    edit_keeping_status(
        &mut snap,
        "default/web",
        service("default", "web").not_opted_in(),
    );
    let plan = reconcile(&mut snap);
    expect(&plan, "default/web", Released);
    expect(&plan, "default/keep", Kept("192.168.0.92", "pool"));
    Used(&[("192.168.0.92", "default/keep")]).check(&plan, "pool");
    // Once its status is cleared, it is no longer Porter's business.
    assert!(
        !porter_model::assign::plan(&snap)
            .services
            .contains_key(&key("default", "web"))
    );
}

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
    expect(&plan, "default/web", Want::Orphaned("192.168.0.91"));
    expect(&plan, "default/new", Assigned("192.168.0.95", "pool"));
    Used(&[("192.168.0.95", "default/new")]).check(&plan, "pool");
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
    expect(&plan, "default/web", Want::Orphaned("192.168.0.91"));
    assert!(plan.eips.is_empty());
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
    expect(&plan, "default/web", Kept("192.168.0.91", "pool"));
    expect(
        &plan,
        "default/new",
        failed(
            FailureReason::PoolExhausted,
            "no free address in Eip \"pool\" (all full or disabled)",
        ),
    );
    expect(
        &plan,
        "default/asks",
        failed(
            FailureReason::PoolDisabled,
            "Eip \"pool\" is disabled and hands out no new addresses",
        ),
    );
    for check in [Ready(true), Usage(1), Occupied(false)] {
        check.check(&plan, "pool");
    }
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
