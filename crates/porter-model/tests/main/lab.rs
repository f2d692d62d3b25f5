//! The lab's manifests (what `lab/lib.sh` writes), end to end through both decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use porter_api::ValidPeer;
use porter_model::Snapshot;
use porter_model::announce::{self, LocalBgp};
use porter_model::assign::{self, Outcome, ServicePlan};
use porter_model::manifests::parse_documents;

use crate::fixtures::{apply, ip, key};

fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab")
}

/// Every `*.yaml` of the lab fixture folder, parsed, in file-name order.
fn lab_snapshot() -> Snapshot {
    let mut files: Vec<PathBuf> = std::fs::read_dir(lab_dir())
        .expect("tests/fixtures/lab")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["bgp.yaml", "eip.yaml", "nodes.yaml", "service-web.yaml"]
    );
    let mut snap = Snapshot::default();
    for (file, name) in files.iter().zip(&names) {
        let text = std::fs::read_to_string(file).expect("read fixture");
        let (objects, diagnostics) = parse_documents(name, &text);
        assert_eq!(diagnostics, [], "{name}");
        for o in objects {
            snap.insert(o);
        }
    }
    snap
}

#[test]
fn the_lab_manifests_parse_into_the_expected_objects() {
    let snap = lab_snapshot();
    assert_eq!(snap.eips.keys().collect::<Vec<_>>(), ["lab-pool"]);
    assert_eq!(snap.bgp_confs.keys().collect::<Vec<_>>(), ["default"]);
    assert_eq!(snap.bgp_peers.keys().collect::<Vec<_>>(), ["tor"]);
    assert_eq!(
        snap.nodes.keys().collect::<Vec<_>>(),
        ["node1", "node2", "node3"]
    );
    assert_eq!(
        snap.services.keys().collect::<Vec<_>>(),
        [&key("default", "web")]
    );
    assert_eq!(
        snap.endpoint_slices.keys().collect::<Vec<_>>(),
        [&key("default", "web-lab")]
    );
    assert_eq!(snap.slices_of(&key("default", "web")).count(), 1);
}

#[test]
fn the_lab_gets_its_eip_announced_by_every_node() {
    let mut snap = lab_snapshot();

    // Before the controller ran, nothing holds an address, so nothing is announced.
    for n in ["node1", "node2", "node3"] {
        assert_eq!(announce::plan(&snap, n).prefixes, BTreeSet::new(), "{n}");
    }

    let plan = assign::plan(&snap);
    assert_eq!(
        plan.services,
        BTreeMap::from([(
            key("default", "web"),
            ServicePlan {
                ingress: vec![ip("203.0.113.10")],
                pool: Some("lab-pool".into()),
                outcome: Outcome::Assigned,
            }
        )])
    );
    let pool = &plan.eips["lab-pool"];
    assert_eq!(pool.errors, Vec::<String>::new());
    assert_eq!(pool.status.pool_size, Some(11));
    assert_eq!(
        pool.status.used,
        Some(BTreeMap::from([(
            "203.0.113.10".to_owned(),
            "default/web".to_owned()
        )]))
    );
    apply(&mut snap, &plan);

    let tor = ValidPeer {
        name: "tor".into(),
        address: ip("10.99.0.1"),
        peer_as: 64512,
        local_as: None,
        port: 179,
        passive: false,
        hold_time: None,
        keepalive: None,
        connect_retry: Some(1),
        multihop_ttl: None,
        password: None,
        node_selector: None,
        admin_down: false,
    };
    for (n, node_ip) in [
        ("node1", Ipv4Addr::new(10, 99, 0, 11)),
        ("node2", Ipv4Addr::new(10, 99, 0, 12)),
        ("node3", Ipv4Addr::new(10, 99, 0, 13)),
    ] {
        let p = announce::plan(&snap, n);
        assert_eq!(
            p.local,
            Ok(LocalBgp {
                local_as: 64513,
                router_id: node_ip,
                listen_port: Some(17900),
            }),
            "{n}"
        );
        assert_eq!(
            p.peers,
            BTreeMap::from([("tor".to_owned(), tor.clone())]),
            "{n}"
        );
        assert_eq!(p.prefixes, BTreeSet::from([ip("203.0.113.10")]), "{n}");
        assert_eq!(p.ineligible, None, "{n}");
        assert_eq!(p.problems, Vec::<String>::new(), "{n}");
    }

    // The controller's next pass keeps it.
    let again = assign::plan(&snap);
    assert_eq!(
        again.services[&key("default", "web")].outcome,
        Outcome::Kept
    );
}

/// The fixtures copy what `lab/lib.sh` writes; fail when the script's values move on.
#[test]
fn the_fixtures_match_lab_lib_sh() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/lib.sh");
    let Ok(script) = std::fs::read_to_string(&lib) else {
        // Not every checkout carries the lab (a published crate does not).
        return;
    };
    for needle in [
        "ROUTER_AS=64512",
        "NODE_AS=64513",
        "BGP_PORT=17900",
        "address: 203.0.113.10-203.0.113.20",
        "neighborAddress: 10.99.0.1",
        "node_ip() { echo \"10.99.0.1$(node_index \"$1\")\"; }",
        "lb.kubesphere.io/v1alpha1: porter",
        "externalTrafficPolicy: Cluster",
    ] {
        assert!(
            script.contains(needle),
            "lab/lib.sh no longer contains {needle:?}: update tests/fixtures/lab"
        );
    }
}
