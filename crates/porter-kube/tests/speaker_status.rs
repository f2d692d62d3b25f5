//! A speaker's entry in BgpPeer status, against the fake API server.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use porter_bgp::State;
use porter_fake_api::FakeApiServer;
use porter_kube::speaker_status::{SpeakerStatusConfig, run_with, run_with_problems};
use porter_speaker::PeerStatus;
use serde_json::json;

fn session(state: State) -> PeerStatus {
    PeerStatus {
        address: "10.99.0.1".parse().unwrap(),
        peer_as: 64512,
        state,
        established_since: (state == State::Established).then(std::time::Instant::now),
        advertised: 1,
        received: 0,
        flaps: 0,
        last_error: None,
    }
}

#[tokio::test]
async fn writes_its_own_entry_without_clobbering_another_nodes() {
    let server = FakeApiServer::start().await;
    let mut peer = bgp_peer("rtr");
    peer["status"] =
        json!({"nodesPeerStatus": {"n2": {"peerState": {"sessionState": "ESTABLISHED"}}}});
    server.insert(peer).unwrap();

    let sessions = Arc::new(Mutex::new(BTreeMap::from([(
        "rtr".to_owned(),
        session(State::Active),
    )])));
    let view = sessions.clone();
    let task = tokio::spawn(run_with(
        server.client(),
        "n1".into(),
        move || view.lock().unwrap().clone(),
        SpeakerStatusConfig {
            poll: Duration::from_millis(50),
            resync: Duration::from_secs(30),
        },
    ));
    let status =
        |server: &FakeApiServer| server.get("bgppeers", None, "rtr").unwrap()["status"].clone();
    eventually(5, "n1's entry", || {
        (status(&server)["nodesPeerStatus"]["n1"]["peerState"]["sessionState"] == "ACTIVE")
            .then_some(())
    })
    .await;
    let s = status(&server);
    assert_eq!(
        s["nodesPeerStatus"]["n2"]["peerState"]["sessionState"],
        "ESTABLISHED"
    );
    assert_eq!(
        s["nodesPeerStatus"]["n1"]["peerState"]["neighborAddress"],
        "10.99.0.1"
    );
    assert!(!s.to_string().contains("s3cret"));

    // a change is written, with the uptime; nothing is rewritten while nothing changes
    sessions
        .lock()
        .unwrap()
        .insert("rtr".into(), session(State::Established));
    eventually(5, "ESTABLISHED", || {
        (status(&server)["nodesPeerStatus"]["n1"]["peerState"]["sessionState"] == "ESTABLISHED")
            .then_some(())
    })
    .await;
    assert!(status(&server)["nodesPeerStatus"]["n1"]["timersState"]["uptime"].is_string());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let patches = writes_to(&server, "/bgppeers/rtr/status");
    assert_eq!(patches.len(), 2, "{patches:?}");
    // only its own key is sent
    let body = server.writes().last().unwrap().json().unwrap();
    assert_eq!(
        body["status"]["nodesPeerStatus"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["n1"]
    );

    // a peer this node no longer has: its entry goes, n2's stays
    sessions.lock().unwrap().clear();
    eventually(5, "n1's entry removed", || {
        status(&server)["nodesPeerStatus"]
            .get("n1")
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        status(&server)["nodesPeerStatus"]["n2"]["peerState"]["sessionState"],
        "ESTABLISHED"
    );
    task.abort();
}

#[tokio::test]
async fn a_peer_with_a_missing_password_secret_gets_an_idle_entry_naming_the_field() {
    let server = FakeApiServer::start().await;
    // the spec still holds a password ("s3cret"): the status must never copy it
    let mut peer = bgp_peer("rtr");
    peer["spec"]["conf"]["authPasswordSecretRef"] =
        json!({"name": "bgp-password", "namespace": "porter-system", "key": "password"});
    server.insert(peer).unwrap();

    let problems = Arc::new(Mutex::new(vec![
        "BgpPeer rtr: spec.conf.authPasswordSecretRef: Secret porter-system/bgp-password not found"
            .to_owned(),
        "Service default/web: something else".to_owned(),
    ]));
    let view = problems.clone();
    let task = tokio::spawn(run_with_problems(
        server.client(),
        "n1".into(),
        BTreeMap::new,
        move || view.lock().unwrap().clone(),
        SpeakerStatusConfig {
            poll: Duration::from_millis(50),
            resync: Duration::from_secs(30),
        },
    ));
    let status =
        |server: &FakeApiServer| server.get("bgppeers", None, "rtr").unwrap()["status"].clone();
    eventually(5, "n1's problem entry", || {
        status(&server)["nodesPeerStatus"]["n1"]["peerState"]["lastError"]
            .is_string()
            .then_some(())
    })
    .await;
    let s = status(&server);
    assert_eq!(
        s["nodesPeerStatus"]["n1"]["peerState"],
        json!({
            "sessionState": "IDLE",
            "lastError": "spec.conf.authPasswordSecretRef: Secret porter-system/bgp-password not found"
        })
    );
    assert!(!s.to_string().contains("s3cret"));

    // the problem is fixed and the peer has no session here: the entry goes
    problems.lock().unwrap().clear();
    eventually(5, "n1's entry removed", || {
        status(&server)["nodesPeerStatus"]
            .get("n1")
            .is_none()
            .then_some(())
    })
    .await;
    task.abort();
}
