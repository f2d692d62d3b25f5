//! A speaker's entry in BgpPeer status, against the fake API server.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use porter_api::BgpPeer;
use porter_bgp::State;
use porter_fake_api::FakeApiServer;
use porter_kube::speaker_status::{
    SpeakerStatusConfig, observed_entries, run_observing, run_with, run_with_problems,
};
use porter_kube::write_policy::WritePolicyConfig;
use porter_model::ObjectKey;
use porter_model::announce::Problem;
use porter_speaker::{PeerStatus, Timers};
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
        timers: (state == State::Established).then_some(Timers {
            hold_time: 90,
            keepalive: 30,
        }),
        bfd: None,
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
            ..SpeakerStatusConfig::default()
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
    let timers = &status(&server)["nodesPeerStatus"]["n1"]["timersState"];
    assert!(timers["uptime"].is_string(), "{timers}");
    // the negotiated timers, as OpenELB's status showed gobgp's
    assert_eq!(timers["negotiatedHoldTime"], "90", "{timers}");
    assert_eq!(timers["keepaliveInterval"], "30", "{timers}");
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
        Problem::BgpPeer {
            name: "rtr".to_owned(),
            why: "spec.conf.authPasswordSecretRef: Secret porter-system/bgp-password not found"
                .to_owned(),
        },
        Problem::ServiceAnnotation {
            service: ObjectKey::new("default", "web"),
            why: "something else".to_owned(),
        },
    ]));
    let view = problems.clone();
    let task = tokio::spawn(run_with_problems(
        server.client(),
        "n1".into(),
        BTreeMap::new,
        move || view.lock().unwrap().clone(),
        SpeakerStatusConfig {
            poll: Duration::from_millis(50),
            ..SpeakerStatusConfig::default()
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

/// The policy's defaults at 1/100 scale: a simulated second is 10 ms, a minute 600 ms.
fn scaled() -> SpeakerStatusConfig {
    SpeakerStatusConfig {
        poll: Duration::from_millis(10),
        policy: WritePolicyConfig {
            settle: Duration::from_millis(100),
            detail_interval: Duration::from_millis(600),
            burst: 3,
            refill: Duration::from_millis(300),
            lost_after: Duration::from_millis(300),
        },
    }
}

fn retrying(state: State, attempt: u32) -> PeerStatus {
    PeerStatus {
        last_error: Some(format!(
            "connect to 10.99.0.1:179: timed out (attempt {attempt})"
        )),
        ..session(state)
    }
}

#[tokio::test]
async fn an_unreachable_peer_retrying_for_a_minute_costs_a_bounded_number_of_patches() {
    let server = FakeApiServer::start().await;
    server.insert(bgp_peer("rtr")).unwrap();
    let config = scaled();
    let sessions = Arc::new(Mutex::new(BTreeMap::from([(
        "rtr".to_owned(),
        retrying(State::Connect, 0),
    )])));
    let view = sessions.clone();
    let began = tokio::time::Instant::now();
    let task = tokio::spawn(run_with(
        server.client(),
        "n1".into(),
        move || view.lock().unwrap().clone(),
        config.clone(),
    ));
    // a simulated minute of retries: a new state every simulated 1-2 s, a new error text on
    // every attempt (the worst case: the same text would not even be a change)
    let minute = Duration::from_millis(600);
    let started = tokio::time::Instant::now();
    let mut attempt = 0;
    while started.elapsed() < minute {
        attempt += 1;
        for state in [State::Connect, State::Active, State::Idle] {
            sessions
                .lock()
                .unwrap()
                .insert("rtr".into(), retrying(state, attempt));
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    let patches = writes_to(&server, "/bgppeers/rtr/status");
    // the bound for the time the writer ran: a simulated minute, and the little more a slow
    // machine takes (written every change, it would be one PATCH per poll: about 60)
    let bound = config.policy.max_writes_within(began.elapsed());
    assert!(
        !patches.is_empty() && patches.len() as u64 <= bound,
        "{} patches for {attempt} retries, at most {bound} allowed: {patches:?}",
        patches.len()
    );

    // the retries stop on one state: it is written, with its error text
    sessions
        .lock()
        .unwrap()
        .insert("rtr".into(), retrying(State::Active, attempt + 1));
    let want = format!(
        "connect to 10.99.0.1:179: timed out (attempt {})",
        attempt + 1
    );
    eventually(5, "the lasting state", || {
        let s = server.get("bgppeers", None, "rtr").unwrap()["status"]["nodesPeerStatus"]["n1"]
            ["peerState"]
            .clone();
        (s["sessionState"] == "ACTIVE" && s["lastError"] == want.as_str()).then_some(())
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn a_removed_entry_is_rewritten_and_a_stale_one_removed_without_periodic_rewrites() {
    let server = FakeApiServer::start().await;
    server.insert(bgp_peer("rtr")).unwrap();
    // left by an earlier run of this node's speaker, for a peer it no longer has
    let mut old = bgp_peer("old");
    old["status"] = json!({"nodesPeerStatus": {
        "n1": {"peerState": {"sessionState": "ACTIVE"}},
        "n2": {"peerState": {"sessionState": "ESTABLISHED"}}}});
    server.insert(old).unwrap();

    let sessions = BTreeMap::from([("rtr".to_owned(), session(State::Established))]);
    // what the speaker's source would show: the BgpPeers as stored, refreshed by `follow`
    let watched = Arc::new(Mutex::new(BTreeMap::<String, BgpPeer>::new()));
    let view = watched.clone();
    let task = tokio::spawn(run_observing(
        server.client(),
        "n1".into(),
        move || sessions.clone(),
        Vec::new,
        move || observed_entries(view.lock().unwrap().iter(), "n1"),
        scaled(),
    ));
    let entry = |server: &FakeApiServer, peer: &str| {
        server.get("bgppeers", None, peer).unwrap()["status"]["nodesPeerStatus"]["n1"].clone()
    };
    follow(&server, &watched, "rtr's entry", &|s| {
        entry(s, "rtr")["peerState"]["sessionState"] == "ESTABLISHED"
    })
    .await;
    follow(&server, &watched, "the stale entry removed", &|s| {
        entry(s, "old").is_null()
    })
    .await;
    let old_status = server.get("bgppeers", None, "old").unwrap()["status"].clone();
    assert_eq!(
        old_status["nodesPeerStatus"]["n2"]["peerState"]["sessionState"],
        "ESTABLISHED"
    );

    // nothing changes for several lost_after periods: no write at all
    server.clear_requests();
    follow_for(&server, &watched, Duration::from_millis(1000)).await;
    assert_eq!(writes_to(&server, "/bgppeers/"), Vec::<String>::new());

    // someone removes the entry: it comes back, once
    server
        .update("bgppeers", None, "rtr", |p| {
            p["status"]["nodesPeerStatus"]
                .as_object_mut()
                .unwrap()
                .remove("n1");
        })
        .unwrap();
    follow(&server, &watched, "rtr's entry rewritten", &|s| {
        entry(s, "rtr")["peerState"]["sessionState"] == "ESTABLISHED"
    })
    .await;
    follow_for(&server, &watched, Duration::from_millis(500)).await;
    assert_eq!(writes_to(&server, "/bgppeers/rtr/status").len(), 1);
    task.abort();
}

/// Plays the speaker's watch: `watched` becomes the BgpPeers as stored.
fn refresh(server: &FakeApiServer, watched: &Mutex<BTreeMap<String, BgpPeer>>) {
    let peers = server
        .list("bgppeers")
        .into_iter()
        .map(|p| {
            let peer: BgpPeer = serde_json::from_value(p).unwrap();
            (peer.metadata.name.clone().unwrap(), peer)
        })
        .collect();
    *watched.lock().unwrap() = peers;
}

/// Waits until `check` holds, the watch following the store meanwhile.
async fn follow(
    server: &FakeApiServer,
    watched: &Mutex<BTreeMap<String, BgpPeer>>,
    what: &str,
    check: &dyn Fn(&FakeApiServer) -> bool,
) {
    eventually(5, what, || {
        refresh(server, watched);
        check(server).then_some(())
    })
    .await;
}

/// Lets `time` pass, the watch following the store.
async fn follow_for(
    server: &FakeApiServer,
    watched: &Mutex<BTreeMap<String, BgpPeer>>,
    time: Duration,
) {
    let end = tokio::time::Instant::now() + time;
    while tokio::time::Instant::now() < end {
        refresh(server, watched);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
