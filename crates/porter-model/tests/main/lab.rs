//! The lab's manifests (what `lab/lib.sh` writes), end to end through both decisions.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use porter_bgp::RouteAttrs;
use porter_model::Snapshot;
use porter_model::announce::{self, LocalBgp};
use porter_model::assign::{self, Ingress, Outcome, ServicePlan};
use porter_model::manifests::parse_documents;
use porter_model::valid::ValidPeer;

use crate::fixtures::{apply, ip, key};

fn lib_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/lib.sh")
}

/// Runs the lab's own manifest writers (`lab/lib.sh`) with the given knobs into a fresh
/// folder and parses every file they wrote, so these tests follow the script itself.
fn lab_snapshot_with(knobs: &[(&str, &str)]) -> Snapshot {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("porter-model-lab-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).expect("temp dir");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#". "$1" && lab_write_base_manifests && lab_write_service"#)
        .arg("lab")
        .arg(lib_sh())
        .env("LAB_DIR", &dir)
        .envs(knobs.iter().copied())
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "lab/lib.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .expect("lab manifests")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut snap = Snapshot::default();
    for file in &files {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(file).expect("read manifest");
        let (objects, diagnostics) = parse_documents(&name, &text);
        assert_eq!(diagnostics, [], "{name}:\n{text}");
        for o in objects {
            snap.insert(o);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    snap
}

fn lab_snapshot() -> Snapshot {
    lab_snapshot_with(&[])
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
        assert_eq!(
            announce::plan(&snap, n).bgp.prefixes,
            BTreeMap::new(),
            "{n}"
        );
    }

    let plan = assign::plan(&snap);
    assert_eq!(
        plan.services.iter().collect::<Vec<_>>(),
        [(
            &key("default", "web"),
            &ServicePlan {
                ingress: Ingress::one(ip("203.0.113.10")),
                pool: Some("lab-pool".into()),
                outcome: Outcome::Assigned,
            }
        )]
    );
    let pool = &plan.eips["lab-pool"];
    assert_eq!(pool.errors, []);
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
        connect_retry: Some(1),
        ..ValidPeer::new("tor", ip("10.99.0.1"), 64512)
    };
    for (n, node_ip) in [
        ("node1", Ipv4Addr::new(10, 99, 0, 11)),
        ("node2", Ipv4Addr::new(10, 99, 0, 12)),
        ("node3", Ipv4Addr::new(10, 99, 0, 13)),
    ] {
        let p = announce::plan(&snap, n);
        assert_eq!(
            p.bgp.local,
            Ok(LocalBgp {
                local_as: 64513,
                router_id: node_ip,
                listen_port: Some(17900),
                listen_addresses: Vec::new(),
                next_hop_v4: Some(node_ip),
                next_hop_v6: Some(format!("fd00:99::1{}", &n[4..]).parse().expect("v6")),
                graceful_restart: None,
            }),
            "{n}"
        );
        assert_eq!(
            p.bgp.peers,
            BTreeMap::from([("tor".to_owned(), tor.clone())]),
            "{n}"
        );
        assert_eq!(
            p.bgp.prefixes,
            BTreeMap::from([(
                ip("203.0.113.10"),
                std::sync::Arc::new(RouteAttrs::default())
            )]),
            "{n}"
        );
        assert_eq!(p.ineligible, None, "{n}");
        assert_eq!(
            crate::announce::texts(&p.problems),
            Vec::<String>::new(),
            "{n}"
        );
    }

    // The controller's next pass keeps it.
    let again = assign::plan(&snap);
    assert_eq!(
        again.services[&key("default", "web")].outcome,
        Outcome::Kept
    );
}

/// Every knob combination the e2e matrix uses writes manifests that parse cleanly and
/// give every node the session and routes the lab expects.
#[test]
fn every_lab_variant_gives_each_node_its_session_and_route() {
    let variants: [&[(&str, &str)]; 4] = [
        &[("LAB_COMMUNITY", "64513:100")],
        &[
            ("LAB_IBGP", "1"),
            ("LAB_FAMILY", "6"),
            ("LAB_MD5", "s3cret"),
        ],
        &[("LAB_FAMILY", "dual"), ("LAB_PASSIVE", "1")],
        &[("LAB_GR", "1")],
    ];
    for knobs in variants {
        let knob = |k: &str| knobs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let mut snap = lab_snapshot_with(knobs);
        let plan = assign::plan(&snap);
        let v6 = knob("LAB_FAMILY").is_some_and(|f| f != "4");
        let eip = if v6 {
            ip("2001:db8:ffff::10")
        } else {
            ip("203.0.113.10")
        };
        assert_eq!(
            plan.services[&key("default", "web")].ingress,
            [eip],
            "{knobs:?}"
        );
        apply(&mut snap, &plan);
        for (i, n) in ["node1", "node2", "node3"].into_iter().enumerate() {
            let p = announce::plan(&snap, n);
            assert_eq!(
                crate::announce::texts(&p.problems),
                Vec::<String>::new(),
                "{knobs:?} {n}"
            );
            let local = p.bgp.local.as_ref().expect("BGP configured");
            assert_eq!(
                local.local_as,
                if knob("LAB_IBGP").is_some() {
                    64512
                } else {
                    64513
                }
            );
            assert_eq!(
                local.next_hop_v6,
                Some(format!("fd00:99::1{}", i + 1).parse().expect("v6"))
            );
            let tor = &p.bgp.peers["tor"];
            let router = if knob("LAB_FAMILY") == Some("6") {
                ip("fd00:99::1")
            } else {
                ip("10.99.0.1")
            };
            assert_eq!(tor.address, router, "{knobs:?}");
            assert_eq!(
                tor.password.as_deref(),
                knob("LAB_MD5"),
                "{knobs:?}: password from the Secret"
            );
            assert_eq!(tor.passive, knob("LAB_PASSIVE").is_some(), "{knobs:?}");
            assert_eq!(
                tor.graceful_restart,
                knob("LAB_GR").map(|_| 120),
                "{knobs:?}"
            );
            let communities: Vec<u32> = p.bgp.prefixes[&eip].communities.iter().copied().collect();
            let want: Vec<u32> = knob("LAB_COMMUNITY")
                .map(|_| (64513 << 16) | 100)
                .into_iter()
                .collect();
            assert_eq!(communities, want, "{knobs:?}");
        }
    }
}
