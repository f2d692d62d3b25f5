//! The API source against the fake API server: what is seeded shows up, nothing is published
//! before every initial list, changes propagate, outages keep the last snapshot, a 410
//! relist recovers; the BgpPeers' password Secrets are read by name only, and re-read; each
//! role reads only the kinds its plan needs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::support::*;
use porter_fake_api::FakeApiServer;
use porter_kube::{KubeSource, SourceConfig, SpeakerSource};
use porter_model::{ObjectKey, Snapshot, announce};
use serde_json::json;
use tokio::sync::watch;

fn seed(server: &FakeApiServer) {
    for obj in [
        eip("pool", "203.0.113.10-203.0.113.12"),
        bgp_conf(),
        bgp_peer("rtr"),
        service("web", "pool"),
        endpoint_slice("web"),
        node("n1"),
        namespace("default"),
    ] {
        server.insert(obj).unwrap();
    }
}

fn complete(s: &Snapshot) -> bool {
    s.eips.contains_key("pool")
        && s.bgp_confs.contains_key("default")
        && s.bgp_peers.contains_key("rtr")
        && s.services.contains_key(&ObjectKey::new("default", "web"))
        && s.endpoint_slices
            .contains_key(&ObjectKey::new("default", "web-abc"))
        && s.nodes.contains_key("n1")
        && s.namespaces.contains_key("default")
}

async fn next<S: Clone, E: Clone>(rx: &mut watch::Receiver<Snapshot<S, E>>) -> Snapshot<S, E> {
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("a snapshot within 10 s")
        .unwrap();
    rx.borrow_and_update().clone()
}

/// Waits until the published snapshot satisfies `f`.
async fn until<S, E>(
    rx: &mut watch::Receiver<Snapshot<S, E>>,
    what: &str,
    f: impl Fn(&Snapshot<S, E>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if f(&rx.borrow_and_update()) {
            return;
        }
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap();
    }
}

#[tokio::test]
async fn the_first_snapshot_holds_every_kind_seeded() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    let first = next(&mut rx).await;
    assert!(complete(&first), "first snapshot is partial: {first:?}");
    // managedFields are dropped, the rest is the object as served
    let web = &first.services[&ObjectKey::new("default", "web")];
    assert!(web.metadata.managed_fields.is_none());
    assert!(web.metadata.resource_version.is_some());
}

#[tokio::test]
async fn nothing_is_published_before_the_initial_lists_succeed() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.set_unavailable(true);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !rx.has_changed().unwrap(),
        "a snapshot was published without any list succeeding"
    );
    server.set_unavailable(false);
    let first = next(&mut rx).await;
    assert!(complete(&first), "first snapshot is partial: {first:?}");
}

#[tokio::test]
async fn changes_propagate_and_bursts_are_debounced() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    next(&mut rx).await;

    server.insert(service("api", "pool")).unwrap();
    until(&mut rx, "the new Service", |s| {
        s.services.contains_key(&ObjectKey::new("default", "api"))
    })
    .await;

    server.delete("services", Some("default"), "web").unwrap();
    until(&mut rx, "the deleted Service to go", |s| {
        !s.services.contains_key(&ObjectKey::new("default", "web"))
    })
    .await;

    // 20 changes in a burst give far fewer snapshots than changes
    rx.borrow_and_update();
    let mut seen = 0;
    for i in 0..20 {
        server
            .insert(service(&format!("burst-{i}"), "pool"))
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .expect("burst published")
            .unwrap();
        seen += 1;
        if rx.borrow_and_update().services.len() == 21 {
            break;
        }
    }
    assert!(seen < 20, "{seen} snapshots for 20 changes");
}

#[tokio::test]
async fn an_outage_keeps_the_last_snapshot_and_recovery_resumes() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    next(&mut rx).await;

    server.set_unavailable(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // whatever was published during the outage, it still holds everything
    assert!(complete(&rx.borrow_and_update()));
    server.set_unavailable(false);

    server.insert(service("after", "pool")).unwrap();
    until(&mut rx, "a change made after the outage", |s| {
        s.services.contains_key(&ObjectKey::new("default", "after"))
    })
    .await;
    assert!(complete(&rx.borrow()));
}

#[tokio::test]
async fn a_compacted_history_relists_and_catches_up() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let source = KubeSource::start(server.client(), SourceConfig::default());
    let mut rx = source.subscribe();
    next(&mut rx).await;
    let lists_before = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/api/v1/services" && !r.is_watch())
        .count();

    server.compact_history();
    server.delete("services", Some("default"), "web").unwrap();
    server.insert(service("new", "pool")).unwrap();
    until(&mut rx, "the changes made around the compaction", |s| {
        s.services.contains_key(&ObjectKey::new("default", "new"))
            && !s.services.contains_key(&ObjectKey::new("default", "web"))
    })
    .await;
    let lists_after = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/api/v1/services" && !r.is_watch())
        .count();
    assert!(lists_after > lists_before, "no relist after 410");
    assert!(rx.borrow().eips.contains_key("pool"));
}

/// Every speaker watches every Node (layer 2's members and candidates are all of them), keeping
/// what planning reads: a kubelet's routine status update (heartbeat times, images) publishes
/// nothing, a Ready change does.
#[tokio::test]
async fn a_speaker_keeps_every_node_as_planning_reads_it_and_ignores_heartbeats() {
    let server = FakeApiServer::start().await;
    seed(&server);
    let mut n2 = node("n2");
    n2["status"]["conditions"][0]["lastHeartbeatTime"] = json!("2026-01-01T00:00:00Z");
    n2["status"]["images"] = json!([{"names": ["registry.example/web:1"], "sizeBytes": 1000}]);
    n2["metadata"]["labels"] = json!({"edge": "true"});
    server.insert(n2.clone()).unwrap();
    let source = KubeSource::start(server.client(), SourceConfig::speaker("n1", NS));
    let mut rx = source.subscribe();
    let first = next(&mut rx).await;
    assert!(first.nodes.contains_key("n1"));
    let kept = serde_json::to_value(&first.nodes["n2"]).unwrap();
    assert_eq!(
        kept,
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": "n2", "labels": {"edge": "true"}},
               "spec": {},
               "status": {"addresses": [{"type": "InternalIP", "address": "10.99.0.11"}],
                          "conditions": [{"type": "Ready", "status": "True"}]}})
    );

    // a heartbeat: nothing to plan
    n2["status"]["conditions"][0]["lastHeartbeatTime"] = json!("2026-01-01T00:00:10Z");
    n2["status"]["images"] = json!([]);
    server.insert(n2.clone()).unwrap();
    let quiet = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
    assert!(quiet.is_err(), "a heartbeat published a snapshot");

    // NotReady: published
    n2["status"]["conditions"][0]["status"] = json!("False");
    server.insert(n2).unwrap();
    until(&mut rx, "n2 NotReady", |s| {
        s.nodes["n2"]
            .status
            .as_ref()
            .and_then(|st| st.conditions.as_ref())
            .is_some_and(|c| c[0].status == "False")
    })
    .await;
}

fn secret(name: &str, password: &str) -> serde_json::Value {
    // ByteString serialises as base64, as the API server stores `data`
    let encoded = k8s_openapi::ByteString(password.as_bytes().to_vec());
    serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": NS,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":\"...\"}"}},
        "type": "Opaque",
        "data": {"password": encoded}})
}

fn peer_with_secret(name: &str, secret: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
        "metadata": {"name": name},
        "spec": {"conf": {"neighborAddress": "10.99.0.1", "peerAs": 64512,
            "authPasswordSecretRef": {"namespace": NS, "name": secret, "key": "password"}}}})
}

fn password(s: &Snapshot, name: &str) -> Option<String> {
    s.secret_value(NS, name, "password")
        .ok()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Every request for a Secret, as `METHOD path?query`.
fn secret_requests(server: &FakeApiServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path().contains("/secrets"))
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

fn speaker_config(refresh: Duration) -> SourceConfig {
    SourceConfig {
        secret_refresh: Some(refresh),
        ..SourceConfig::speaker("n1", NS)
    }
}

#[tokio::test]
async fn only_referenced_secrets_are_read_by_name_and_rotation_is_picked_up() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.insert(secret("bgp-a", "first")).unwrap();
    server.insert(secret("unrelated", "do-not-read")).unwrap();
    server.insert(peer_with_secret("rtr-a", "bgp-a")).unwrap();
    // the membership key, read by name whatever the BgpPeers say (data `password` here)
    server.insert(secret("porter-member", "k")).unwrap();
    let source = KubeSource::start(server.client(), speaker_config(Duration::from_millis(300)));
    let mut rx = source.subscribe();

    let first = next(&mut rx).await;
    assert_eq!(password(&first, "bgp-a").as_deref(), Some("first"));
    assert_eq!(password(&first, "porter-member").as_deref(), Some("k"));
    assert!(!first.secrets.contains_key(&ObjectKey::new(NS, "unrelated")));
    // only data is kept: the last-applied annotation holds the whole Secret
    let held = &first.secrets[&ObjectKey::new(NS, "bgp-a")];
    assert!(held.metadata.annotations.is_none());

    // a rotated password shows up after the next refresh
    server.insert(secret("bgp-a", "second")).unwrap();
    until(&mut rx, "the rotated password", |s| {
        password(s, "bgp-a").as_deref() == Some("second")
    })
    .await;

    // a Secret that is deleted leaves the snapshot (the model then reports the peer)
    server.delete("secrets", Some(NS), "bgp-a").unwrap();
    until(&mut rx, "the deleted Secret to go", |s| {
        password(s, "bgp-a").is_none()
    })
    .await;

    let requests = secret_requests(&server);
    assert!(requests.len() >= 3, "{requests:#?}");
    for r in &requests {
        assert!(
            [
                format!("GET /api/v1/namespaces/{NS}/secrets/bgp-a"),
                format!("GET /api/v1/namespaces/{NS}/secrets/porter-member"),
            ]
            .contains(r),
            "only a GET of the referenced Secret and the membership key: {requests:#?}"
        );
    }
}

#[tokio::test]
async fn a_secret_the_speaker_may_not_read_is_reported_forbidden_naming_the_role() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.insert(secret("bgp-f", "eff")).unwrap();
    server.insert(peer_with_secret("rtr-f", "bgp-f")).unwrap();
    // the Role's resourceNames do not list it
    server.forbid("secrets", Some(NS), "bgp-f");
    let source = KubeSource::start(server.client(), speaker_config(Duration::from_millis(300)));
    let mut rx = source.subscribe();
    let first = next(&mut rx).await;
    assert!(password(&first, "bgp-f").is_none());
    let problems = announce::plan(&first, "n1").problems;
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!(
            "BgpPeer rtr-f: spec.conf.authPasswordSecretRef: Secret {NS}/bgp-f cannot be read: forbidden (403), the speaker may read only the Secrets its Role names: add \"bgp-f\" to the resourceNames of Role porter-speaker-bgp-passwords in namespace {NS} (deploy/porter.yaml); the session is not started without its password"
        )]
    );

    // the same problem in the BgpPeer's status, as the speaker reports it
    let view = rx.clone();
    let status = tokio::spawn(porter_kube::speaker_status::run_with_problems(
        server.client(),
        "n1".into(),
        std::collections::BTreeMap::new,
        move || announce::plan(&view.borrow(), "n1").problems,
        porter_kube::speaker_status::SpeakerStatusConfig {
            poll: Duration::from_millis(20),
            ..Default::default()
        },
    ));
    let last_error = eventually(5, "rtr-f's lastError", || {
        server.get("bgppeers", None, "rtr-f").unwrap()["status"]["nodesPeerStatus"]["n1"]
            ["peerState"]["lastError"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert!(
        last_error.contains("forbidden") && last_error.contains("porter-speaker-bgp-passwords"),
        "{last_error}"
    );
    status.abort();

    // the Role is extended: the next refresh reads it, and the problem is gone
    server.allow("secrets", Some(NS), "bgp-f");
    until(&mut rx, "the readable Secret", |s| {
        password(s, "bgp-f").as_deref() == Some("eff")
    })
    .await;
    let fixed = rx.borrow().clone();
    assert!(fixed.unreadable_secrets.is_empty());
    assert!(announce::plan(&fixed, "n1").problems.is_empty());

    // deleted: "not found", not forbidden
    server.delete("secrets", Some(NS), "bgp-f").unwrap();
    until(&mut rx, "the deleted Secret to go", |s| {
        password(s, "bgp-f").is_none()
    })
    .await;
    let gone = rx.borrow().clone();
    assert!(
        announce::plan(&gone, "n1").problems[0]
            .to_string()
            .contains(&format!("Secret {NS}/bgp-f not found"))
    );
}

#[tokio::test]
async fn a_new_reference_is_read_at_once_and_a_missing_secret_appears_later() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.insert(secret("bgp-b", "bee")).unwrap();
    // refreshes far apart: a new reference must not wait for one
    let source = KubeSource::start(server.client(), speaker_config(Duration::from_secs(3600)));
    let mut rx = source.subscribe();
    let first = next(&mut rx).await;
    assert!(first.secrets.is_empty());
    assert_eq!(
        secret_requests(&server),
        [format!("GET /api/v1/namespaces/{NS}/secrets/porter-member")],
        "no BgpPeer refers to a Secret yet: only the membership key (absent) was asked for"
    );

    server.insert(peer_with_secret("rtr-b", "bgp-b")).unwrap();
    until(&mut rx, "the newly referenced Secret", |s| {
        password(s, "bgp-b").as_deref() == Some("bee")
    })
    .await;

    // referenced but missing: absent, no error; dropping the reference forgets the other one
    server
        .insert(peer_with_secret("rtr-b", "bgp-missing"))
        .unwrap();
    until(&mut rx, "the old Secret to be forgotten", |s| {
        s.bgp_peers["rtr-b"]
            .spec
            .conf
            .as_ref()
            .and_then(|c| c.auth_password_secret_ref.as_ref())
            .is_some_and(|r| r.name == "bgp-missing")
            && s.secrets.is_empty()
    })
    .await;
    assert!(
        secret_requests(&server)
            .contains(&format!("GET /api/v1/namespaces/{NS}/secrets/bgp-missing")),
    );
}

#[tokio::test]
async fn a_missing_secret_is_picked_up_by_the_refresh() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.insert(peer_with_secret("rtr-c", "bgp-c")).unwrap();
    let source = KubeSource::start(server.client(), speaker_config(Duration::from_millis(300)));
    let mut rx = source.subscribe();
    let first = next(&mut rx).await;
    assert!(first.secrets.is_empty());
    let plan = porter_model::announce::plan(&first, "n1");
    assert!(!plan.bgp.peers.contains_key("rtr-c"));
    assert!(
        plan.problems
            .iter()
            .any(|p| p.to_string().contains("rtr-c") && p.to_string().contains("not found")),
        "{:?}",
        plan.problems
    );

    server.insert(secret("bgp-c", "sea")).unwrap();
    until(&mut rx, "the Secret created after the peer", |s| {
        password(s, "bgp-c").as_deref() == Some("sea")
    })
    .await;
}

#[tokio::test]
async fn the_speaker_source_keeps_projections_and_plans_as_from_whole_objects() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server
        .insert(service_holding("held", "pool", "203.0.113.11"))
        .unwrap();
    server.insert(endpoint_slice("held")).unwrap();
    let config = speaker_config(Duration::from_secs(3600));
    let whole = KubeSource::start(server.client(), config.clone());
    let speaker = SpeakerSource::start_keeping(server.client(), config);
    let whole = next(&mut whole.subscribe()).await;
    let mut rx = speaker.subscribe();
    let projected = next(&mut rx).await;
    // "web" has no address yet: nothing of it is kept
    assert_eq!(
        projected.services.keys().collect::<Vec<_>>(),
        [&ObjectKey::new("default", "held")]
    );
    let options = announce::Options::default();
    let plan = announce::plan_projected(&projected, "n1", &options);
    assert_eq!(plan, announce::plan_with(&whole, "n1", &options));
    assert_eq!(
        plan.bgp
            .prefixes
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["203.0.113.11"]
    );

    // the controller gives "web" an address: the speaker hears of it
    server
        .update("services", Some("default"), "web", |s| {
            s["status"] =
                serde_json::json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}});
        })
        .unwrap();
    until(&mut rx, "web's address", |s| {
        announce::plan_projected(s, "n1", &options)
            .bgp
            .prefixes
            .len()
            == 2
    })
    .await;
}

#[tokio::test]
async fn each_role_reads_only_what_its_plan_needs() {
    let server = FakeApiServer::start().await;
    seed(&server);
    server.insert(secret("bgp-a", "first")).unwrap();
    server.insert(peer_with_secret("rtr-a", "bgp-a")).unwrap();

    let controller = KubeSource::start(server.client(), SourceConfig::controller());
    let mut rx = controller.subscribe();
    let snap = next(&mut rx).await;
    assert!(snap.eips.contains_key("pool") && snap.namespaces.contains_key("default"));
    // every kind (to report which nodes announce each Service), but never a Secret
    assert!(snap.bgp_peers.contains_key("rtr-a") && snap.secrets.is_empty());
    drop(controller);
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    for path in &paths {
        assert!(!path.contains("secrets"), "the controller read {path}");
    }

    server.clear_requests();
    let speaker = KubeSource::start(server.client(), SourceConfig::speaker("n1", NS));
    let mut rx = speaker.subscribe();
    let snap = next(&mut rx).await;
    assert!(snap.namespaces.is_empty());
    assert!(snap.nodes.contains_key("n1") && snap.bgp_peers.contains_key("rtr-a"));
    assert_eq!(password(&snap, "bgp-a").as_deref(), Some("first"));
    for r in server.requests() {
        assert!(
            !r.path().contains("namespaces/") || r.path().contains("/secrets/"),
            "{}",
            r.uri
        );
        assert!(
            !r.path().ends_with("/namespaces"),
            "the speaker listed Namespaces"
        );
    }
}
