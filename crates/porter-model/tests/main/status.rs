//! The status decision both controllers write: addresses, Porter's conditions, the Eip's
//! `Ready` condition and the Events, decided from a snapshot, its plan and who announces what.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use porter_api::annotations::{EIP_POOL_LABEL, SERVICE_FINALIZER};
use porter_model::Snapshot;
use porter_model::assign::plan;
use porter_model::manifests::Object;
use porter_model::status::conditions::{self, ConditionUpdate, Desired};
use porter_model::status::{
    ADDRESS_IN_POOL, ALLOCATION_FAILED, ANNOUNCED, ANNOUNCED_REASON, CONDITION_MESSAGE_MAX,
    Decision, EIP_INVALID, EVENT_NOTE_MAX, EipDecision, EventType, IP_ALLOCATED, IP_ORPHANED,
    IP_RELEASED, Marks, NOT_ANNOUNCED, Note, READY, Regarding, Reported, ServiceDecision, decide,
    planned_coverage, within,
};
use serde_json::json;

use crate::fixtures::*;

/// A fixed clock: the decision reads no clock of its own.
fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + second).unwrap()
}

/// `pool` (203.0.113.10-12) and the Services.
fn cluster(services: impl IntoIterator<Item = Object>) -> Snapshot {
    let mut objects = vec![eip("pool", "203.0.113.10-203.0.113.12").obj()];
    objects.extend(services);
    snapshot(objects)
}

fn web() -> k8s_openapi::api::core::v1::Service {
    service("default", "web").want_pool("pool").build()
}

fn decision(s: &Snapshot, reported: &Reported, now: Timestamp) -> Decision {
    let plan = plan(s);
    let coverage = planned_coverage(s, &plan);
    decide(s, &plan, &coverage, reported, now)
}

fn of<'a>(d: &'a Decision, name: &str) -> &'a ServiceDecision {
    d.services.iter().find(|s| s.key.name == name).unwrap()
}

fn eip_of<'a>(d: &'a Decision, name: &str) -> &'a EipDecision {
    d.eips.iter().find(|e| e.name == name).unwrap()
}

fn set<'a>(d: &'a ServiceDecision, type_: &str) -> &'a Condition {
    match d.conditions.iter().find(|(t, _)| *t == type_) {
        Some((_, ConditionUpdate::Set(c))) => c,
        other => panic!("{type_} is not set: {other:?}"),
    }
}

/// Writes the decision into the objects, as the API server (or the status files) would hold it.
fn write_back(s: &mut Snapshot, d: &Decision) {
    for sd in &d.services {
        let svc = s.services.get_mut(&sd.key).unwrap();
        let mut status = svc.status.clone().unwrap_or_default();
        sd.apply_status(&mut status);
        svc.status = Some(status);
        if let Some(marks) = &sd.marks {
            let mut finalizers = svc.metadata.finalizers.clone().unwrap_or_default();
            finalizers.retain(|f| f != SERVICE_FINALIZER);
            if marks.finalizer {
                finalizers.push(SERVICE_FINALIZER.to_owned());
            }
            svc.metadata.finalizers = Some(finalizers);
            let labels = svc.metadata.labels.get_or_insert_with(Default::default);
            match &marks.pool_label {
                Some(pool) => labels.insert(EIP_POOL_LABEL.to_owned(), pool.clone()),
                None => labels.remove(EIP_POOL_LABEL),
            };
        }
    }
    for ed in &d.eips {
        s.eips.get_mut(&ed.name).unwrap().status = Some(ed.status.clone());
    }
}

/// Nothing to write, report or remember.
fn settled(s: &Snapshot, d: &Decision, reported: &Reported) -> bool {
    d.services
        .iter()
        .all(|sd| sd.is_noop(&s.services[&sd.key], reported.get(&sd.key)))
        && d.eips.iter().all(|ed| ed.is_held_by(&s.eips[&ed.name]))
}

#[test]
fn a_new_service_gets_an_address_its_marks_conditions_and_events() {
    let s = cluster([Object::Service(web())]);
    let d = decision(&s, &Reported::new(), at(0));
    assert_eq!(d.services.len(), 1);
    let web = &d.services[0];
    assert!(web.holds());
    assert_eq!(web.ingress, Some(vec![ip("203.0.113.10")]));
    assert_eq!(
        web.marks,
        Some(Marks {
            finalizer: true,
            pool_label: Some("pool".into())
        })
    );
    // no node in this snapshot: the address is held but not announced
    let announced = set(web, ANNOUNCED);
    assert_eq!(
        (announced.status.as_str(), announced.reason.as_str()),
        ("False", NOT_ANNOUNCED)
    );
    assert_eq!(announced.last_transition_time, Time(at(0)));
    let in_pool = set(web, ADDRESS_IN_POOL);
    assert_eq!(
        (in_pool.status.as_str(), in_pool.reason.as_str()),
        ("True", "InPool")
    );
    assert_eq!(in_pool.message, "203.0.113.10 is in Eip pool");
    assert_eq!(web.notes[0].reason, IP_ALLOCATED);
    assert_eq!(web.notes[0].type_, EventType::Normal);
    assert_eq!(web.notes[0].message, "assigned 203.0.113.10 from Eip pool");
    assert_eq!(web.notes[1].reason, NOT_ANNOUNCED);
    assert!(web.notes[1].is_warning());
    let events: Vec<(String, &str)> = d
        .events()
        .map(|(about, note)| (about.to_string(), note.reason))
        .collect();
    assert_eq!(
        events,
        [
            ("Service default/web".to_owned(), IP_ALLOCATED),
            ("Service default/web".to_owned(), NOT_ANNOUNCED)
        ]
    );
    assert_eq!(d.eips.len(), 1);
    let pool = &d.eips[0].status;
    assert_eq!(pool.usage, Some(1));
    let ready = conditions::find(&pool.conditions, READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Valid")
    );
    assert!(d.eips[0].notes.is_empty());
}

#[test]
fn a_written_decision_decides_nothing_more_and_keeps_its_transition_times() {
    let mut s = cluster([
        Object::Service(web()),
        service("default", "api").want_pool("pool").obj(),
    ]);
    let first = decision(&s, &Reported::new(), at(0));
    write_back(&mut s, &first);
    let again = decision(&s, &Reported::new(), at(0));
    assert!(settled(&s, &again, &Reported::new()), "{again:#?}");
    assert_eq!(again.events().count(), 0);
    // a later clock does not move a transition time, so still nothing to write
    let later = decision(&s, &Reported::new(), at(60));
    assert!(settled(&s, &later, &Reported::new()), "{later:#?}");
}

#[test]
fn a_deleted_service_is_released_and_loses_marks_and_conditions() {
    let mut s = cluster([Object::Service(web())]);
    let first = decision(&s, &Reported::new(), at(0));
    write_back(&mut s, &first);
    let svc = s.services.get_mut(&key("default", "web")).unwrap();
    svc.metadata.deletion_timestamp = Some(Time(at(30)));
    let d = decision(&s, &Reported::new(), at(60));
    let web = of(&d, "web");
    assert!(!web.holds());
    assert_eq!(web.ingress, Some(vec![]));
    assert_eq!(
        web.marks,
        Some(Marks {
            finalizer: false,
            pool_label: None
        })
    );
    assert_eq!(
        web.conditions,
        [
            (ANNOUNCED, ConditionUpdate::Remove),
            (ADDRESS_IN_POOL, ConditionUpdate::Remove)
        ]
    );
    assert_eq!(web.notes.len(), 1);
    assert_eq!(web.notes[0].reason, IP_RELEASED);
    assert_eq!(
        web.notes[0].message,
        "released 203.0.113.10 (the Service is being deleted)"
    );
    // the released address leaves the Eip's record
    assert_eq!(eip_of(&d, "pool").status.usage, Some(0));
}

#[test]
fn a_service_porter_no_longer_plans_for_lets_go_of_its_finalizer_and_conditions() {
    let mut s = cluster([Object::Service(web())]);
    let first = decision(&s, &Reported::new(), at(0));
    write_back(&mut s, &first);
    // opted out and its status cleared by someone else: Porter plans nothing for it
    let svc = s.services.get_mut(&key("default", "web")).unwrap();
    svc.metadata.annotations = None;
    svc.status.as_mut().unwrap().load_balancer = None;
    let d = decision(&s, &Reported::new(), at(60));
    let web = of(&d, "web");
    assert_eq!(web.ingress, None, "not Porter's address to touch");
    assert_eq!(
        web.marks,
        Some(Marks {
            finalizer: false,
            pool_label: None
        })
    );
    assert!(
        web.conditions
            .iter()
            .all(|(_, u)| *u == ConditionUpdate::Remove)
    );
    assert!(web.notes.is_empty());
    write_back(&mut s, &d);
    assert!(decision(&s, &Reported::new(), at(90)).services.is_empty());
}

#[test]
fn failures_are_reported_once_per_reason() {
    let s = cluster([service("default", "other").want_pool("missing").obj()]);
    let d = decision(&s, &Reported::new(), at(0));
    let other = of(&d, "other");
    assert_eq!(other.notes.len(), 1);
    assert_eq!(other.notes[0].reason, ALLOCATION_FAILED);
    assert!(other.notes[0].is_warning());
    assert_eq!(Some(&other.notes[0].message), other.reported.as_ref());
    assert!(!other.status_changes());
    assert!(!other.holds());
    let reported = Reported::from([(other.key.clone(), other.reported.clone().unwrap())]);
    let again = decision(&s, &reported, at(10));
    let other = of(&again, "other");
    assert!(other.notes.is_empty());
    assert!(other.is_noop(&s.services[&other.key], reported.get(&other.key)));
}

#[test]
fn an_orphaned_address_is_kept_reported_once_and_said_in_its_condition() {
    let held = service("default", "web")
        .ingress(&["203.0.113.12"])
        .label(EIP_POOL_LABEL, "pool")
        .obj();
    let mut s = snapshot([
        eip("pool", "203.0.113.10-203.0.113.11")
            .default_pool()
            .obj(),
        held,
    ]);
    let d = decision(&s, &Reported::new(), at(0));
    let web = of(&d, "web");
    assert_eq!(web.ingress, None, "kept, not moved");
    assert_eq!(web.notes[0].reason, IP_ORPHANED);
    assert!(web.notes[0].message.contains("203.0.113.12"));
    let in_pool = set(web, ADDRESS_IN_POOL);
    assert_eq!(
        (in_pool.status.as_str(), in_pool.reason.as_str()),
        ("False", "Orphaned")
    );
    assert_eq!(in_pool.message, web.notes[0].message);
    // the label keeps naming where the address came from
    assert_eq!(
        web.marks.as_ref().unwrap().pool_label.as_deref(),
        Some("pool")
    );
    let reported = Reported::from([(web.key.clone(), web.reported.clone().unwrap())]);
    write_back(&mut s, &d);
    let again = decision(&s, &reported, at(10));
    assert!(settled(&s, &again, &reported), "{again:#?}");
}

#[test]
fn an_invalid_eip_is_not_ready_naming_the_field_with_one_event() {
    let mut s = snapshot([
        eip("pool", "203.0.113.10-203.0.113.12").created_at(1).obj(),
        eip("newer", "203.0.113.11/32").created_at(2).obj(),
    ]);
    let d = decision(&s, &Reported::new(), at(0));
    let bad = eip_of(&d, "newer");
    let ready = conditions::find(&bad.status.conditions, READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Invalid")
    );
    assert!(ready.message.contains("spec.address"), "{}", ready.message);
    assert_eq!(bad.notes.len(), 1);
    assert_eq!(bad.notes[0].reason, EIP_INVALID);
    let events: Vec<String> = d.events().map(|(about, _)| about.to_string()).collect();
    assert_eq!(events, ["Eip newer"]);
    assert!(eip_of(&d, "pool").notes.is_empty());
    write_back(&mut s, &d);
    let again = decision(&s, &Reported::new(), at(10));
    assert!(settled(&s, &again, &Reported::new()));
}

#[test]
fn a_set_unsupported_eip_field_is_said_in_the_ready_message() {
    let s = snapshot([eip("pool", "203.0.113.10-203.0.113.12")
        .set(&["spec", "usingKnownIPs"], serde_json::json!(true))
        .obj()]);
    let d = decision(&s, &Reported::new(), at(0));
    let ready = conditions::find(&eip_of(&d, "pool").status.conditions, READY).unwrap();
    assert_eq!(ready.status, "True");
    assert!(
        ready.message.contains("spec.usingKnownIPs")
            && ready.message.contains("not implemented by Porter"),
        "{}",
        ready.message
    );
}

#[test]
fn an_address_from_a_layer2_eip_names_the_node_answering_arp_for_it() {
    for protocol in ["layer2", "vip"] {
        let mut s = cluster(two_local_nodes());
        let pool = s.eips.get_mut("pool").unwrap();
        pool.spec.protocol = Some(serde_json::from_value(json!(protocol)).unwrap());
        pool.spec.interface = Some("eth0".into());
        let owner = porter_model::owner::owner(ip("203.0.113.10"), ["n1", "n2"]).unwrap();
        let first = decision(&s, &Reported::new(), at(0));
        let web = of(&first, "web");
        let announced = set(web, ANNOUNCED);
        assert_eq!(
            (announced.status.as_str(), announced.reason.as_str()),
            ("True", ANNOUNCED_REASON),
            "{protocol}"
        );
        let says = format!("203.0.113.10: answered by {owner} (layer 2, ARP)");
        assert_eq!(announced.message, says);
        assert_eq!(web.notes[0].reason, IP_ALLOCATED);
        assert_eq!(
            web.notes[1],
            Note::normal(ANNOUNCED_REASON, "Announce", says)
        );
        // the Eip is valid, with nothing to warn of
        let pool = eip_of(&first, "pool");
        let ready = conditions::find(&pool.status.conditions, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Valid")
        );
        assert!(pool.notes.is_empty());
        write_back(&mut s, &first);
        let again = decision(&s, &Reported::new(), at(1));
        assert!(settled(&s, &again, &Reported::new()));
        assert_eq!(again.events().count(), 0);

        // the owner's endpoint goes: the other node answers, without a new Event
        let other = if owner == "n1" { "n2" } else { "n1" };
        let (key, slice) = match slice_ready("default", "web", &[(other, true)]) {
            Object::EndpointSlice(slice) => {
                (porter_model::ObjectKey::of(&slice.metadata).unwrap(), slice)
            }
            _ => unreachable!(),
        };
        s.endpoint_slices.insert(key.clone(), slice);
        let moved = decision(&s, &Reported::new(), at(2));
        let announced = set(of(&moved, "web"), ANNOUNCED);
        assert_eq!(
            announced.message,
            format!("203.0.113.10: answered by {other} (layer 2, ARP)")
        );
        assert_eq!(moved.events().count(), 0, "the reason is still Announced");
        write_back(&mut s, &moved);

        // no endpoint left: nobody answers, with a warning
        s.endpoint_slices.remove(&key);
        let gone = decision(&s, &Reported::new(), at(3));
        let web = of(&gone, "web");
        let announced = set(web, ANNOUNCED);
        assert_eq!(
            (announced.status.as_str(), announced.reason.as_str()),
            ("False", NOT_ANNOUNCED)
        );
        assert_eq!(
            announced.message,
            "203.0.113.10: no node answers ARP for it (no eligible node with a ready endpoint)"
        );
        assert_eq!(web.notes[0].reason, NOT_ANNOUNCED);
    }
}

/// Ready nodes n1 and n2 with endpoints of `web` (Local), peering with `tor`, whose status says
/// which nodes' sessions are Established.
fn announcing(established: &[&str]) -> Snapshot {
    cluster(
        [
            bgp_conf(64513).obj(),
            peer_reporting(&["n1", "n2"], established),
        ]
        .into_iter()
        .chain(two_local_nodes()),
    )
}

/// Ready nodes n1 and n2, each with a ready endpoint of `web` (Local, from `pool`).
fn two_local_nodes() -> Vec<Object> {
    vec![
        node("n1", "10.0.0.1", true).obj(),
        node("n2", "10.0.0.2", true).obj(),
        slice_ready("default", "web", &[("n1", true), ("n2", true)]),
        service("default", "web")
            .want_pool("pool")
            .traffic_policy("Local")
            .obj(),
    ]
}

#[test]
fn the_announced_condition_names_the_nodes_and_follows_their_sessions() {
    let mut s = announcing(&["n1"]);
    let first = decision(&s, &Reported::new(), at(0));
    let web = of(&first, "web");
    let announced = set(web, ANNOUNCED);
    assert_eq!(announced.status, "True");
    assert_eq!(announced.reason, ANNOUNCED_REASON);
    assert_eq!(
        announced.message,
        "203.0.113.10: announced by n1, n2; no Established BGP session on n2"
    );
    let note = web
        .notes
        .iter()
        .find(|n| n.reason == ANNOUNCED_REASON)
        .unwrap();
    assert_eq!(note.type_, EventType::Normal);
    assert_eq!(note.message, announced.message);
    write_back(&mut s, &first);

    // n2's session comes up: the message follows, the status (and its transition time) stays,
    // and the reason did not change: no new Event
    let peers = announcing(&["n1", "n2"]).bgp_peers;
    s.bgp_peers = peers;
    let second = decision(&s, &Reported::new(), at(60));
    let web = of(&second, "web");
    let announced = set(web, ANNOUNCED);
    assert_eq!(announced.message, "203.0.113.10: announced by n1, n2");
    assert_eq!(announced.last_transition_time, Time(at(0)));
    assert!(web.notes.is_empty(), "{:?}", web.notes);
    assert!(
        set_or_unchanged(web, ADDRESS_IN_POOL),
        "the other condition is untouched"
    );
    write_back(&mut s, &second);

    // the endpoints go away: no node announces it, a new transition and a Warning
    s.endpoint_slices.clear();
    let third = decision(&s, &Reported::new(), at(120));
    let web = of(&third, "web");
    let announced = set(web, ANNOUNCED);
    assert_eq!(
        (announced.status.as_str(), announced.reason.as_str()),
        ("False", NOT_ANNOUNCED)
    );
    assert!(announced.message.contains("no node announces it"));
    assert_eq!(announced.last_transition_time, Time(at(120)));
    assert_eq!(web.notes.len(), 1);
    assert!(web.notes[0].is_warning());
    assert_eq!(web.ingress, None, "the address stays");
}

fn set_or_unchanged(d: &ServiceDecision, type_: &str) -> bool {
    d.conditions
        .iter()
        .any(|(t, u)| *t == type_ && *u == ConditionUpdate::Unchanged)
}

#[test]
fn other_controllers_conditions_are_kept() {
    let mut svc = web();
    let theirs = Condition {
        type_: "example.com/Other".into(),
        status: "True".into(),
        reason: "Fine".into(),
        message: String::new(),
        observed_generation: None,
        last_transition_time: Time(at(-100)),
    };
    svc.status = Some(k8s_openapi::api::core::v1::ServiceStatus {
        conditions: Some(vec![theirs.clone()]),
        ..Default::default()
    });
    let mut s = cluster([Object::Service(svc)]);
    let d = decision(&s, &Reported::new(), at(0));
    write_back(&mut s, &d);
    let held = s.services[&key("default", "web")]
        .status
        .as_ref()
        .unwrap()
        .conditions
        .clone()
        .unwrap();
    let types: Vec<&str> = held.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["example.com/Other", ANNOUNCED, ADDRESS_IN_POOL]);
    assert_eq!(held[0], theirs);
}

#[test]
fn messages_longer_than_the_api_server_takes_are_cut() {
    let short = "announced by n1".to_owned();
    assert_eq!(within(short.clone(), EVENT_NOTE_MAX), short);
    // 500 nodes of a large cluster, with a multi-byte character at the cut
    let nodes: Vec<String> = (0..500).map(|i| format!("nœud-{i:03}")).collect();
    let long = format!("203.0.113.10: announced by {}", nodes.join(", "));
    assert!(long.len() > EVENT_NOTE_MAX);
    let note = Note::normal(ANNOUNCED_REASON, "Announce", long.clone()).message;
    assert!(note.len() <= EVENT_NOTE_MAX, "{}", note.len());
    assert!(note.ends_with('…') && long.starts_with(note.trim_end_matches('…')));

    let huge = long.repeat(20);
    assert!(huge.len() > CONDITION_MESSAGE_MAX);
    let written = conditions::update(
        ANNOUNCED,
        None,
        Some(Desired::yes(ANNOUNCED_REASON, huge)),
        Some(1),
        at(0),
    );
    let ConditionUpdate::Set(written) = written else {
        panic!("{written:?}");
    };
    assert!(written.message.len() <= CONDITION_MESSAGE_MAX);
    assert_eq!(Regarding::Eip("pool").to_string(), "Eip pool");
}
