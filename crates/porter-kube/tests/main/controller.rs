//! The controller against the fake API server: assignments, restarts that reshuffle nothing,
//! conflicts, deletion through the finalizer, shrunk and overlapping pools, leader election.
#![allow(clippy::unwrap_used)]

use crate::support::*;
use porter_fake_api::FakeApiServer;
use serde_json::json;

async fn cluster() -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.insert(namespace("default")).unwrap();
    server
        .insert(eip("lab-pool", "203.0.113.10-203.0.113.12"))
        .unwrap();
    server
}

/// Writes to the Service `name` other than its conditions: its metadata, or its addresses.
fn moving_writes(server: &FakeApiServer, name: &str) -> Vec<String> {
    server
        .writes()
        .into_iter()
        .filter(|r| {
            r.path().ends_with(&format!("/services/{name}")) || {
                r.path().ends_with(&format!("/services/{name}/status"))
                    && r.json()
                        .is_none_or(|b| !b["status"]["loadBalancer"].is_null())
            }
        })
        .map(|r| format!("{} {} {}", r.method, r.uri, r.body))
        .collect()
}

fn eip_status(server: &FakeApiServer, name: &str) -> serde_json::Value {
    server.get("eips", None, name).unwrap()["status"].clone()
}

#[tokio::test]
async fn a_new_service_gets_an_address_finalizer_label_and_event() {
    let server = cluster().await;
    server.insert(service("web", "lab-pool")).unwrap();
    let _c = Controller::start(&server, "a");

    let ip = eventually(10, "an address", || ingress_ip(&server, "web")).await;
    assert_eq!(ip, "203.0.113.10");
    let svc = server.get("services", Some("default"), "web").unwrap();
    assert_eq!(svc["metadata"]["finalizers"], json!([FINALIZER]));
    assert_eq!(svc["metadata"]["labels"][POOL_LABEL], "lab-pool");
    let allocated = eventually(5, "IPAllocated", || {
        Some(events(&server, "IPAllocated")).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(allocated.len(), 1);
    assert_eq!(allocated[0].0, "web");
    assert_eq!(allocated[0].1, "assigned 203.0.113.10 from Eip lab-pool");

    let status = eventually(5, "Eip usage 1", || {
        let s = eip_status(&server, "lab-pool");
        (s["usage"] == 1).then_some(s)
    })
    .await;
    assert_eq!(status["used"], json!({"203.0.113.10": "default/web"}));
    assert_eq!(status["poolSize"], 3);
    assert_eq!(status["firstIP"], "203.0.113.10");
    assert_eq!(status["lastIP"], "203.0.113.12");
    assert_eq!(status["v4"], true);
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][0]["reason"], "Valid");

    // the metadata (finalizer) was written before the status: no address without finalizer
    let svc_writes = writes_to(&server, "/services/web");
    assert_eq!(svc_writes.len(), 2, "{svc_writes:?}");
    assert!(!svc_writes[0].contains("/status"), "{svc_writes:?}");
    assert!(svc_writes[1].contains("/status"), "{svc_writes:?}");
}

#[tokio::test]
async fn a_restart_reshuffles_nothing_and_writes_nothing_when_nothing_changed() {
    let server = cluster().await;
    server.insert(service("a", "lab-pool")).unwrap();
    server.insert(service("b", "lab-pool")).unwrap();
    // announced by n1, whose session is up: both get the Announced condition
    for obj in [
        node("n1"),
        bgp_conf(),
        peer_with_sessions(&[("n1", "ESTABLISHED")]),
        endpoint_slice("a"),
        endpoint_slice("b"),
    ] {
        server.insert(obj).unwrap();
    }
    let first = Controller::start(&server, "first");
    eventually(10, "both assigned", || {
        Some(())
            .filter(|()| ingress_ip(&server, "a").is_some() && ingress_ip(&server, "b").is_some())
    })
    .await;
    for name in ["a", "b"] {
        let condition = eventually(5, "the Announced condition", || announced(&server, name)).await;
        assert_eq!(condition["reason"], "Announced", "{condition}");
        let in_pool = eventually(5, "the AddressInPool condition", || in_pool(&server, name)).await;
        assert_eq!(in_pool["status"], "True", "{in_pool}");
        assert_eq!(in_pool["reason"], "InPool", "{in_pool}");
    }
    eventually(5, "two Announced events", || {
        (typed_events(&server, "Announced").len() == 2).then_some(())
    })
    .await;
    eventually(5, "Eip usage 2", || {
        (eip_status(&server, "lab-pool")["usage"] == 2).then_some(())
    })
    .await;
    settle().await;
    first.stop().await;
    let a = ingress_ip(&server, "a").unwrap();
    let b = ingress_ip(&server, "b").unwrap();

    // a new controller on the same cluster: a full resync that writes nothing
    server.clear_requests();
    let second = Controller::start(&server, "second");
    eventually(10, "the new leader", || {
        (lease_holder(&server).as_deref() == Some("second")).then_some(())
    })
    .await;
    settle().await;
    let writes: Vec<String> = server
        .writes()
        .into_iter()
        .filter(|r| !r.path().contains("/leases"))
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    assert!(
        writes.is_empty(),
        "a resync of a settled cluster wrote {writes:?}"
    );
    assert_eq!(typed_events(&server, "Announced").len(), 2);

    // a new Service gets the next free address; the others are untouched
    server.insert(service("c", "lab-pool")).unwrap();
    let c = eventually(10, "c assigned", || ingress_ip(&server, "c")).await;
    assert_eq!(c, "203.0.113.12");
    assert_eq!(ingress_ip(&server, "a").unwrap(), a);
    assert_eq!(ingress_ip(&server, "b").unwrap(), b);
    assert!(writes_to(&server, "/services/a").is_empty());
    assert!(writes_to(&server, "/services/b").is_empty());
    second.stop().await;
}

#[tokio::test]
async fn a_requested_address_held_by_another_service_fails_and_names_the_holder() {
    let server = cluster().await;
    server
        .insert(service_holding("holder", "lab-pool", "203.0.113.11"))
        .unwrap();
    let mut wants = service("wants", "lab-pool");
    wants["metadata"]["annotations"]["eip.openelb.kubesphere.io/v1alpha1"] = json!("203.0.113.11");
    server.insert(wants).unwrap();
    let _c = Controller::start(&server, "a");

    let failed = eventually(10, "AllocationFailed", || {
        Some(events(&server, "AllocationFailed")).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(failed[0].0, "wants");
    assert!(failed[0].1.contains("default/holder"), "{}", failed[0].1);
    settle().await;
    assert_eq!(ingress_ip(&server, "wants"), None);
    assert_eq!(ingress_ip(&server, "holder").unwrap(), "203.0.113.11");
    assert!(moving_writes(&server, "holder").is_empty());
    // reported once, not on every snapshot
    server.insert(service("unrelated", "lab-pool")).unwrap();
    eventually(10, "unrelated assigned", || {
        ingress_ip(&server, "unrelated")
    })
    .await;
    settle().await;
    assert_eq!(events(&server, "AllocationFailed").len(), 1);
}

#[tokio::test]
async fn a_deleted_service_releases_its_address_then_its_finalizer() {
    let server = cluster().await;
    server.insert(service("web", "lab-pool")).unwrap();
    let _c = Controller::start(&server, "a");
    eventually(10, "an address", || ingress_ip(&server, "web")).await;
    eventually(5, "Eip usage 1", || {
        (eip_status(&server, "lab-pool")["usage"] == 1).then_some(())
    })
    .await;

    let deleting = server.delete("services", Some("default"), "web").unwrap();
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    eventually(10, "the Service to be gone", || {
        server
            .get("services", Some("default"), "web")
            .is_none()
            .then_some(())
    })
    .await;
    let status = eventually(10, "Eip usage 0", || {
        let s = eip_status(&server, "lab-pool");
        (s["usage"] == 0).then_some(s)
    })
    .await;
    assert!(
        status["used"].as_object().is_none_or(|m| m.is_empty()),
        "{status}"
    );
    let released = eventually(5, "IPReleased", || {
        Some(events(&server, "IPReleased")).filter(|e| !e.is_empty())
    })
    .await;
    settle().await;
    assert_eq!(events(&server, "IPReleased").len(), 1, "{released:?}");
    assert!(released[0].1.contains("203.0.113.10"));
    // released (status) before the finalizer went (metadata), each exactly once
    let writes = writes_to(&server, "/services/web");
    assert_eq!(writes.len(), 4, "{writes:?}");
    assert!(writes[2].contains("/status"), "{writes:?}");
    assert!(!writes[3].contains("/status"), "{writes:?}");
}

#[tokio::test]
async fn a_shrunk_pool_moves_nothing_and_warns() {
    let server = cluster().await;
    server
        .update("eips", None, "lab-pool", |e| {
            e["metadata"]["annotations"] =
                json!({"eip.openelb.kubesphere.io/is-default-eip": "true"});
        })
        .unwrap();
    // served by the default pool, not naming it (a Service naming a pool that no longer
    // holds its address asks for an address from that pool: porter-model moves it)
    let mut web = service_holding("web", "lab-pool", "203.0.113.12");
    web["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(POOL_LABEL);
    server.insert(web).unwrap();
    let _c = Controller::start(&server, "a");
    eventually(5, "Eip usage 1", || {
        (eip_status(&server, "lab-pool")["usage"] == 1).then_some(())
    })
    .await;

    server
        .update("eips", None, "lab-pool", |e| {
            e["spec"]["address"] = json!("203.0.113.10-203.0.113.11");
        })
        .unwrap();
    let orphaned = eventually(10, "IPOrphaned", || {
        Some(events(&server, "IPOrphaned")).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(orphaned[0].0, "web");
    assert!(orphaned[0].1.contains("203.0.113.12"));
    let condition = eventually(5, "AddressInPool False", || {
        in_pool(&server, "web").filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(condition["reason"], "Orphaned", "{condition}");
    assert_eq!(condition["message"], orphaned[0].1, "{condition}");
    settle().await;
    assert_eq!(ingress_ip(&server, "web").unwrap(), "203.0.113.12");
    assert!(moving_writes(&server, "web").is_empty());
    assert_eq!(eip_status(&server, "lab-pool")["usage"], 0);

    // the pool grows back: the address is in it again, still not moved
    server
        .update("eips", None, "lab-pool", |e| {
            e["spec"]["address"] = json!("203.0.113.10-203.0.113.12");
        })
        .unwrap();
    let condition = eventually(10, "AddressInPool True", || {
        in_pool(&server, "web").filter(|c| c["status"] == "True")
    })
    .await;
    assert_eq!(condition["reason"], "InPool", "{condition}");
    assert_eq!(
        condition["message"], "203.0.113.12 is in Eip lab-pool",
        "{condition}"
    );
    settle().await;
    assert_eq!(ingress_ip(&server, "web").unwrap(), "203.0.113.12");
    assert!(moving_writes(&server, "web").is_empty());
    assert_eq!(events(&server, "IPOrphaned").len(), 1);
}

#[tokio::test]
async fn the_newer_of_two_overlapping_eips_is_not_ready() {
    let server = cluster().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    server.insert(eip("newer", "203.0.113.12/32")).unwrap();
    let _c = Controller::start(&server, "a");
    let status = eventually(10, "a Ready condition on newer", || {
        let s = eip_status(&server, "newer");
        s["conditions"].is_array().then_some(s)
    })
    .await;
    let ready = &status["conditions"][0];
    assert_eq!(ready["type"], "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "Invalid");
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("spec.address"), "{message}");
    assert!(message.contains("lab-pool"), "{message}");
    let older = eventually(10, "older Ready", || {
        let s = eip_status(&server, "lab-pool");
        s["conditions"].is_array().then_some(s)
    })
    .await;
    assert_eq!(older["conditions"][0]["status"], "True");
    let invalid = eventually(5, "EipInvalid", || {
        Some(events(&server, "EipInvalid")).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(invalid[0].0, "newer");
    settle().await;
    assert_eq!(events(&server, "EipInvalid").len(), 1);
}

#[tokio::test]
async fn only_the_lease_holder_writes() {
    let server = cluster().await;
    let a = Controller::start(&server, "a");
    let b = Controller::start(&server, "b");
    let leader = eventually(10, "a leader", || lease_holder(&server)).await;
    settle().await;
    server.insert(service("web", "lab-pool")).unwrap();
    eventually(10, "an address", || ingress_ip(&server, "web")).await;
    eventually(5, "IPAllocated", || {
        Some(events(&server, "IPAllocated")).filter(|e| !e.is_empty())
    })
    .await;
    settle().await;
    let allocated = events(&server, "IPAllocated");
    assert_eq!(allocated.len(), 1, "{allocated:?}");
    assert_eq!(allocated[0].2, leader);
    assert_eq!(writes_to(&server, "/services/web/status").len(), 1);

    // the leader goes away: the other one takes over and serves the next Service
    let (gone, stays) = if leader == "a" { (a, b) } else { (b, a) };
    gone.stop().await;
    let next = eventually(10, "a new leader", || {
        lease_holder(&server).filter(|h| *h != leader)
    })
    .await;
    server.insert(service("api", "lab-pool")).unwrap();
    eventually(10, "api assigned", || ingress_ip(&server, "api")).await;
    let by_next: Vec<_> = eventually(5, "IPAllocated for api", || {
        let e: Vec<_> = events(&server, "IPAllocated")
            .into_iter()
            .filter(|e| e.0 == "api")
            .collect();
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(by_next.len(), 1);
    assert_eq!(by_next[0].2, next);
    stays.stop().await;
}

/// A BgpPeer `tor` whose status says the session of each node in `states` is in that state.
fn peer_with_sessions(states: &[(&str, &str)]) -> serde_json::Value {
    let mut peer = bgp_peer("tor");
    peer["status"] = json!({"nodesPeerStatus": {}});
    for (node, state) in states {
        peer["status"]["nodesPeerStatus"][*node] = json!({"peerState": {"sessionState": state}});
    }
    peer
}

/// An EndpointSlice of `service` with one ready endpoint on each of `nodes`.
fn endpoints_on(service: &str, nodes: &[&str]) -> serde_json::Value {
    let mut slice = endpoint_slice(service);
    slice["endpoints"] = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"addresses": [format!("10.0.0.{}", i + 5)], "nodeName": n,
                   "conditions": {"ready": true}})
        })
        .collect();
    slice
}

/// The Service's `porter.kubesphere.io/Announced` condition.
fn announced(server: &FakeApiServer, name: &str) -> Option<serde_json::Value> {
    let svc = server.get("services", Some("default"), name)?;
    svc["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "porter.kubesphere.io/Announced")
        .cloned()
}

/// The Service's `porter.kubesphere.io/AddressInPool` condition.
fn in_pool(server: &FakeApiServer, name: &str) -> Option<serde_json::Value> {
    let svc = server.get("services", Some("default"), name)?;
    svc["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "porter.kubesphere.io/AddressInPool")
        .cloned()
}

/// Events with `reason` as (regarding name, note, type).
fn typed_events(server: &FakeApiServer, reason: &str) -> Vec<(String, String, String)> {
    server
        .list("events.events.k8s.io")
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            (s(&e["regarding"]["name"]), s(&e["note"]), s(&e["type"]))
        })
        .collect()
}

#[tokio::test]
async fn the_announced_condition_names_the_nodes_and_whether_their_sessions_are_up() {
    let server = cluster().await;
    for obj in [
        node("n1"),
        node("n2"),
        bgp_conf(),
        peer_with_sessions(&[("n1", "ESTABLISHED"), ("n2", "ACTIVE")]),
        endpoints_on("web", &["n1", "n2"]),
    ] {
        server.insert(obj).unwrap();
    }
    let mut web = service("web", "lab-pool");
    web["spec"]["externalTrafficPolicy"] = json!("Local");
    // another controller's condition, which Porter's writes must keep
    web["status"] = json!({"conditions": [{"type": "example.com/Other", "status": "True",
        "reason": "Fine", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}]});
    server.insert(web).unwrap();
    let _c = Controller::start(&server, "a");

    let first = eventually(10, "the Announced condition", || {
        announced(&server, "web").filter(|c| c["status"] == "True")
    })
    .await;
    assert_eq!(first["reason"], "Announced");
    assert_eq!(
        first["message"],
        "203.0.113.10: announced by n1, n2; no Established BGP session on n2"
    );
    assert_eq!(first["observedGeneration"], 1);
    let events = eventually(5, "an Announced event", || {
        Some(typed_events(&server, "Announced")).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "web");
    assert_eq!(events[0].2, "Normal");
    assert_eq!(events[0].1, first["message"]);
    let svc = server.get("services", Some("default"), "web").unwrap();
    assert!(
        svc["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "example.com/Other"),
        "{svc}"
    );
    // the address and the condition came in one status write
    assert_eq!(writes_to(&server, "/services/web/status").len(), 1);

    // n2's session comes up: the message follows, the status (and its transition time) stays
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    server
        .insert(peer_with_sessions(&[
            ("n1", "ESTABLISHED"),
            ("n2", "ESTABLISHED"),
        ]))
        .unwrap();
    let second = eventually(10, "the message to follow", || {
        announced(&server, "web").filter(|c| c["message"] == "203.0.113.10: announced by n1, n2")
    })
    .await;
    assert_eq!(second["status"], "True");
    assert_eq!(second["lastTransitionTime"], first["lastTransitionTime"]);
    settle().await;
    // the reason did not change: no new Event
    assert_eq!(typed_events(&server, "Announced").len(), 1);

    // the endpoints go away: no node announces it
    server
        .delete("endpointslices", Some("default"), "web-abc")
        .unwrap();
    let third = eventually(10, "NotAnnounced", || {
        announced(&server, "web").filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(third["reason"], "NotAnnounced");
    assert!(
        third["message"]
            .as_str()
            .unwrap()
            .contains("no node announces it"),
        "{third}"
    );
    assert_ne!(third["lastTransitionTime"], first["lastTransitionTime"]);
    let warnings = eventually(5, "a NotAnnounced event", || {
        Some(typed_events(&server, "NotAnnounced")).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(warnings[0].2, "Warning");
    settle().await;
    assert_eq!(typed_events(&server, "NotAnnounced").len(), 1);
    assert_eq!(ingress_ip(&server, "web").unwrap(), "203.0.113.10");
}

#[tokio::test]
async fn a_service_from_a_layer2_eip_is_told_which_node_answers_arp() {
    let server = FakeApiServer::start().await;
    server.insert(namespace("default")).unwrap();
    let mut pool = eip("l2-pool", "192.0.2.10-192.0.2.12");
    pool["spec"]["protocol"] = json!("layer2");
    pool["spec"]["interface"] = json!("eth0");
    server.insert(pool).unwrap();
    // two ready nodes with an endpoint each, and no BGP at all: layer 2 needs none
    let mut web = service("web", "l2-pool");
    web["spec"]["externalTrafficPolicy"] = json!("Local");
    for obj in [
        node("n1"),
        node("n2"),
        endpoints_on("web", &["n1", "n2"]),
        web,
    ] {
        server.insert(obj).unwrap();
    }
    let _c = Controller::start(&server, "a");
    let owner = porter_model::owner::owner("192.0.2.10".parse().unwrap(), ["n1", "n2"]).unwrap();
    let other = if owner == "n1" { "n2" } else { "n1" };

    let condition = eventually(10, "the Announced condition", || announced(&server, "web")).await;
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["reason"], "Announced");
    assert_eq!(
        condition["message"],
        format!("192.0.2.10: answered by {owner} (layer 2, ARP)")
    );
    assert_eq!(ingress_ip(&server, "web").unwrap(), "192.0.2.10");
    let on_service = eventually(5, "the Service's Announced event", || {
        Some(typed_events(&server, "Announced"))
            .filter(|e| e.iter().any(|(name, _, _)| name == "web"))
    })
    .await;
    assert!(on_service.iter().all(|(_, _, kind)| kind == "Normal"));

    // the Eip is valid, with no warning
    let ready = eventually(10, "l2-pool's Ready", || {
        let s = eip_status(&server, "l2-pool");
        s["conditions"]
            .is_array()
            .then(|| s["conditions"][0].clone())
    })
    .await;
    assert_eq!(
        (&ready["status"], &ready["reason"]),
        (&json!("True"), &json!("Valid"))
    );

    // the owner's endpoint leaves (Local: only nodes with one may answer): the condition names
    // the other node
    server.insert(endpoints_on("web", &[other])).unwrap();
    let moved = eventually(10, "the new owner", || {
        announced(&server, "web").filter(|c| c["message"].as_str().unwrap_or("").contains(other))
    })
    .await;
    assert_eq!(
        moved["message"],
        format!("192.0.2.10: answered by {other} (layer 2, ARP)")
    );
    assert_eq!(moved["lastTransitionTime"], condition["lastTransitionTime"]);
    settle().await;
    assert_eq!(
        typed_events(&server, "Announced").len(),
        1,
        "one reason, one Event"
    );
}
