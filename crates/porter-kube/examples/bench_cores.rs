//! Benchmark of the controller and speaker cores at scale (not a test: it asserts outcomes, never times).
//!
//! ```sh
//! cargo run --release -p porter-kube --example bench_cores -- --role controller [--services N] [--whole]
//! cargo run --release -p porter-kube --example bench_cores -- --role speaker [--services N]
//! ```
//!
//! `bench/controller_core.sh` runs both and prints the figures recorded in `docs/benchmarks.md`.
//!
//! * **controller**: N (default 10 000) LoadBalancer Services over 50 Eip pools (/20 each), kept
//!   as the controller's source keeps them (`projection::controller_service`; `--whole`: whole
//!   Services, as before the source trimmed them). Times `assign::plan` plus
//!   `controller::changes` (the writes) for allocating every Service, applies those writes the
//!   way the API server would (JSON merge patches), then times the full resync a restarted
//!   controller does (`plan` + `changes` again), which must write nothing.
//! * **speaker**: the same Services holding their addresses, one EndpointSlice each (two ready
//!   endpoints), its Node, BgpConf `default` and a BgpPeer, fed one object at a time
//!   through the speaker source's trackers (which keep only `LbService` / `SliceNodes`
//!   projections); times `announce::plan_projected` for the node on that snapshot, which must
//!   announce all N addresses.
//!
//! Each role runs in its own process so its peak RSS (`VmHWM`) is its own. The controller holds
//! the objects as its source does: one `ControllerSnapshot` built through the trackers, planned
//! from in place and updated in place as each write is applied (with `--whole`: whole Services,
//! the source's snapshot and the copy it plans from, as before). The speaker plans from the
//! source's snapshot itself (one copy).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark binary"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher::Event;
use porter_kube::Kinds;
use porter_kube::controller::{Changes, Round, ServiceChange, changes};
use porter_kube::merge;
use porter_kube::source::{Keep, Trackers, Update};
use porter_model::assign::{self, Outcome};
use porter_model::projection::{self, ControllerService, LbService, SliceNodes};
use porter_model::view::Written;
use porter_model::{ControllerSnapshot, ControllerView, ObjectKey, Snapshot, announce};
use serde_json::{Value, json};

const POOLS: usize = 50;
/// Each pool's prefix length: /20, 4 096 addresses, room for 204 800 Services over 50 pools.
const POOL_PREFIX: u32 = 20;
const NAMESPACES: usize = 100;
const NODES: usize = 20;

fn eip(i: usize) -> Value {
    json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": format!("pool-{i:02}"), "resourceVersion": "1", "generation": 1,
            "uid": format!("00000000-0000-0000-0000-{i:012}"),
            "creationTimestamp": format!("2024-01-01T00:{:02}:00Z", i % 60)},
        "spec": {"address": format!("10.{}.0.0/{POOL_PREFIX}", 100 + i), "protocol": "bgp"}
    })
}

/// A Service as the API server serves it (minus managedFields), opted in and naming its pool.
fn service(i: usize, ip: Option<&str>) -> Value {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": format!("svc-{i:05}"), "namespace": format!("ns-{:03}", i % NAMESPACES),
            "uid": format!("11111111-0000-0000-0000-{i:012}"), "resourceVersion": format!("{}", 1000 + i),
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app": format!("app-{i:05}"), "app.kubernetes.io/part-of": "bench"},
            "annotations": {"lb.kubesphere.io/v1alpha1": "openelb",
                            "eip.openelb.kubesphere.io/v1alpha2": format!("pool-{:02}", i % POOLS)}
        },
        "spec": {
            "type": "LoadBalancer", "selector": {"app": format!("app-{i:05}")},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30000 + (i % 2000)}],
            "clusterIP": format!("10.96.{}.{}", i / 250, i % 250),
            "clusterIPs": [format!("10.96.{}.{}", i / 250, i % 250)],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None", "allocateLoadBalancerNodePorts": true
        },
        "status": {"loadBalancer": {}}
    });
    if let Some(ip) = ip {
        v["metadata"]["finalizers"] = json!(["finalizer.lb.kubesphere.io/v1alpha1"]);
        v["metadata"]["labels"]["eip.openelb.kubesphere.io/v1alpha2"] =
            json!(format!("pool-{:02}", i % POOLS));
        v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}});
    }
    v
}

fn endpoint_slice(i: usize) -> Value {
    let endpoint = |n: usize| {
        json!({"addresses": [format!("10.244.{}.{}", n, i % 250)],
               "conditions": {"ready": true, "serving": true, "terminating": false},
               "nodeName": format!("node-{n:02}"),
               "targetRef": {"kind": "Pod", "namespace": format!("ns-{:03}", i % NAMESPACES),
                             "name": format!("app-{i:05}-abcde-{n}")}})
    };
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("svc-{i:05}-x7k2p"), "namespace": format!("ns-{:03}", i % NAMESPACES),
            "resourceVersion": format!("{}", 50_000 + i),
            "labels": {"kubernetes.io/service-name": format!("svc-{i:05}"),
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
        "endpoints": [endpoint(i % NODES), endpoint((i + 1) % NODES)]
    })
}

fn node(n: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{n:02}"), "labels": {"kubernetes.io/hostname": format!("node-{n:02}")}},
        "status": {"addresses": [{"type": "InternalIP", "address": format!("192.168.0.{}", 10 + n)}],
                   "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// What the controller's source keeps of a Service: all of it (`--whole`, as before
/// `SourceConfig::controller` trimmed them) or what the controller reads.
fn kept(svc: Service, whole: bool) -> Service {
    if whole {
        svc
    } else {
        projection::controller_service(svc).expect("every benchmark Service is Porter's")
    }
}

fn controller_snapshot(services: usize, whole: bool) -> Snapshot {
    let mut s = Snapshot::default();
    for i in 0..POOLS {
        s.eips.insert(format!("pool-{i:02}"), from(eip(i)));
    }
    for i in 0..services {
        let svc = kept(from(service(i, None)), whole);
        s.services
            .insert(ObjectKey::of(&svc.metadata).unwrap(), svc);
    }
    for i in 0..NAMESPACES {
        s.namespaces.insert(
            format!("ns-{i:03}"),
            from(json!({"metadata": {"name": format!("ns-{i:03}")}})),
        );
    }
    s
}

/// The controller's snapshot as its source builds it (`ControllerSource`): whole objects fed
/// one at a time through the trackers, which keep `ControllerService`s.
fn compact_snapshot(services: usize) -> ControllerSnapshot {
    let mut trackers: Trackers<Arc<ControllerService>, SliceNodes> =
        Trackers::new(Kinds::CONTROLLER);
    let mut live = ControllerSnapshot::default();
    trackers.apply(&mut live, Update::Eip(Ok(Event::Init)));
    for i in 0..POOLS {
        trackers.apply(&mut live, Update::Eip(Ok(Event::InitApply(from(eip(i))))));
    }
    trackers.apply(&mut live, Update::Eip(Ok(Event::InitDone)));
    trackers.apply(&mut live, Update::Service(Ok(Event::Init)));
    for i in 0..services {
        trackers.apply(
            &mut live,
            Update::Service(Ok(Event::InitApply(from(service(i, None))))),
        );
    }
    trackers.apply(&mut live, Update::Service(Ok(Event::InitDone)));
    trackers.apply(&mut live, Update::Namespace(Ok(Event::Init)));
    for i in 0..NAMESPACES {
        trackers.apply(
            &mut live,
            Update::Namespace(Ok(Event::InitApply(from(
                json!({"metadata": {"name": format!("ns-{i:03}")}}),
            )))),
        );
    }
    trackers.apply(&mut live, Update::Namespace(Ok(Event::InitDone)));
    live
}

/// Applies the writes as the API server would (merge patches on the objects).
fn apply_writes(s: &mut Snapshot, c: &Changes, whole: bool) {
    for change in &c.services {
        let svc = s.services.get_mut(&change.key).unwrap();
        let mut v = serde_json::to_value(&*svc).unwrap();
        for patch in change.metadata.iter().chain(change.status.iter()) {
            merge::apply(&mut v, &patch.value());
        }
        *svc = kept(from(v), whole);
    }
    for change in &c.eips {
        let eip = s.eips.get_mut(&change.name).unwrap();
        let mut v = serde_json::to_value(&*eip).unwrap();
        merge::apply(&mut v, &change.status);
        *eip = from(v);
    }
}

/// Applies one Service's writes as the API server would, and as the watch then shows it: the
/// object (regenerated: the controller keeps none whole) patched, then kept as the source
/// keeps it, in place of what the snapshot held.
fn apply_compact(s: &mut ControllerSnapshot, change: &ServiceChange) {
    let i: usize = change.key.name["svc-".len()..].parse().unwrap();
    let mut v = service(i, None);
    for patch in change.metadata.iter().chain(change.status.iter()) {
        merge::apply(&mut v, &patch.value());
    }
    let kept = <Arc<ControllerService> as Keep<Service>>::keep(from(v), None).unwrap();
    s.services.insert(change.key.clone(), kept);
}

/// Peak and current resident set size of this process, in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kib("VmHWM:") / 1024.0, kib("VmRSS:") / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn run_controller(services: usize, whole: bool) {
    if !whole {
        return run_compact_controller(services);
    }
    let mut snapshot = controller_snapshot(services, whole);
    let now = Timestamp::now();
    let t = Instant::now();
    let plan = assign::plan(&snapshot);
    let plan_time = t.elapsed();
    let t = Instant::now();
    let first = changes(&snapshot, &plan, &BTreeMap::new(), now);
    let changes_time = t.elapsed();
    let assigned = plan
        .services
        .values()
        .filter(|p| p.outcome == Outcome::Assigned)
        .count();
    assert_eq!(assigned, services, "every Service gets an address");
    println!(
        "controller: allocate {services} Services over {POOLS} pools (kept: whole Services, copied per round): plan {}, writes {} ({} writes), total {}",
        ms(plan_time),
        ms(changes_time),
        first.writes(),
        ms(plan_time + changes_time)
    );
    apply_writes(&mut snapshot, &first, whole);
    drop((plan, first));

    // a restarted controller: the source's snapshot and the copy it plans from (`snapshot`)
    let (_, one_copy) = rss();
    let source = snapshot.clone();
    let (_, two_copies) = rss();
    println!(
        "controller: objects held: {one_copy:.1} MiB with one copy, {two_copies:.1} MiB with two"
    );
    let t = Instant::now();
    let plan = assign::plan(&snapshot);
    let resync = changes(&snapshot, &plan, &BTreeMap::new(), now);
    let resync_time = t.elapsed();
    println!(
        "controller: full resync after restart: {} ({} changes)",
        ms(resync_time),
        resync.writes()
    );
    assert_eq!(
        resync.writes(),
        0,
        "a resync of an allocated cluster writes nothing"
    );
    let (peak, current) = rss();
    println!("controller: peak RSS {peak:.1} MiB (now {current:.1} MiB)");
    drop(source);
}

/// One round as `run_controller` (porter-kube) makes it: planned from the snapshot in place,
/// each Service's change decided at its turn. Returns the writes and the time spent planning
/// and deciding (applying them to `snapshot`, the API server's and watch's part, not counted).
fn compact_round(
    snapshot: &mut ControllerSnapshot,
    now: Timestamp,
    expect_assigned: Option<usize>,
) -> (usize, Duration, Duration) {
    let reported = BTreeMap::new();
    let written = Written::default();
    let t = Instant::now();
    let (mut round, plan_time) = {
        let view = ControllerView::new(snapshot, &written);
        let plan = assign::plan_view(&view);
        let plan_time = t.elapsed();
        if let Some(n) = expect_assigned {
            let assigned = plan
                .services
                .values()
                .filter(|p| p.outcome == Outcome::Assigned)
                .count();
            assert_eq!(assigned, n, "every Service gets an address");
        }
        (Round::new(&view, plan, &reported, now), plan_time)
    };
    let mut decide_time = t.elapsed() - plan_time;
    let mut writes = 0;
    loop {
        let t = Instant::now();
        let Some(change) = round.next_change(&reported) else {
            break;
        };
        decide_time += t.elapsed();
        writes += usize::from(change.metadata.is_some()) + usize::from(change.status.is_some());
        apply_compact(snapshot, &change);
    }
    for change in round.take_eip_changes() {
        writes += 1;
        let eip = snapshot.eips.get_mut(&change.name).unwrap();
        let mut v = serde_json::to_value(&*eip).unwrap();
        merge::apply(&mut v, &change.status);
        *eip = from(v);
    }
    (writes, plan_time, decide_time)
}

fn run_compact_controller(services: usize) {
    let mut snapshot = compact_snapshot(services);
    let (_, held) = rss();
    println!("controller: objects held before allocating: {held:.1} MiB");
    let now = Timestamp::now();
    let (writes, plan_time, decide_time) = compact_round(&mut snapshot, now, Some(services));
    println!(
        "controller: allocate {services} Services over {POOLS} pools (kept: ControllerService, planned in place): plan {}, writes {} ({writes} writes), total {}",
        ms(plan_time),
        ms(decide_time),
        ms(plan_time + decide_time)
    );
    let (_, held) = rss();
    println!("controller: objects held once allocated: {held:.1} MiB (one copy)");
    // a restarted controller on the cluster as written: plan and decide again
    let (writes, plan_time, decide_time) = compact_round(&mut snapshot, now, None);
    println!(
        "controller: full resync after restart: {} ({writes} changes)",
        ms(plan_time + decide_time)
    );
    assert_eq!(writes, 0, "a resync of an allocated cluster writes nothing");
    let (peak, current) = rss();
    println!("controller: peak RSS {peak:.1} MiB (now {current:.1} MiB)");
}

fn run_speaker(services: usize) {
    // The speaker's source: whole objects arrive one at a time from the watches and only
    // their projections (`Keep`) are applied to the one snapshot, as `SpeakerSource` does.
    let mut trackers: Trackers<LbService, SliceNodes> = Trackers::new(Kinds::SPEAKER);
    let mut live = Snapshot::default();
    trackers.apply(&mut live, Update::Eip(Ok(Event::Init)));
    for i in 0..POOLS {
        trackers.apply(&mut live, Update::Eip(Ok(Event::InitApply(from(eip(i))))));
    }
    trackers.apply(&mut live, Update::Eip(Ok(Event::InitDone)));
    // the addresses the controller assigned: pool i%50, first free address of its /24
    let mut next = [0usize; POOLS];
    trackers.apply(&mut live, Update::Service(Ok(Event::Init)));
    trackers.apply(&mut live, Update::EndpointSlice(Ok(Event::Init)));
    for i in 0..services {
        let p = i % POOLS;
        let ip = format!("10.{}.{}.{}", 100 + p, next[p] / 256, next[p] % 256);
        next[p] += 1;
        trackers.apply(
            &mut live,
            Update::Service(Ok(Event::InitApply(from(service(i, Some(&ip)))))),
        );
        trackers.apply(
            &mut live,
            Update::EndpointSlice(Ok(Event::InitApply(from(endpoint_slice(i))))),
        );
    }
    trackers.apply(&mut live, Update::Service(Ok(Event::InitDone)));
    trackers.apply(&mut live, Update::EndpointSlice(Ok(Event::InitDone)));
    // the speaker's own Node (it keeps every Node, as `planning_node` trims them)
    trackers.apply(&mut live, Update::Node(Ok(Event::Init)));
    trackers.apply(&mut live, Update::Node(Ok(Event::InitApply(from(node(0))))));
    trackers.apply(&mut live, Update::Node(Ok(Event::InitDone)));
    trackers.apply(&mut live, Update::BgpConf(Ok(Event::Init)));
    trackers.apply(
        &mut live,
        Update::BgpConf(Ok(Event::InitApply(from(
            json!({"metadata": {"name": "default"}, "spec": {"as": 64513, "listenPort": -1}}),
        )))),
    );
    trackers.apply(&mut live, Update::BgpConf(Ok(Event::InitDone)));
    trackers.apply(&mut live, Update::BgpPeer(Ok(Event::Init)));
    trackers.apply(
        &mut live,
        Update::BgpPeer(Ok(Event::InitApply(from(
            json!({"metadata": {"name": "tor"},
        "spec": {"conf": {"neighborAddress": "192.168.0.1", "peerAs": 64512}}}),
        )))),
    );
    trackers.apply(&mut live, Update::BgpPeer(Ok(Event::InitDone)));
    assert!(trackers.synced());
    let (_, held) = rss();
    println!("speaker: objects held: {held:.1} MiB");
    let t = Instant::now();
    let plan = announce::plan_projected(&live, "node-00", &announce::Options::default());
    let plan_time = t.elapsed();
    assert_eq!(plan.bgp.prefixes.len(), services, "{:?}", plan.problems);
    println!(
        "speaker: announce plan for one node ({services} EIPs, {services} EndpointSlices): {}",
        ms(plan_time)
    );
    let t = Instant::now();
    let again = announce::plan_projected(&live, "node-00", &announce::Options::default());
    let replan = t.elapsed();
    assert_eq!(again, plan);
    println!("speaker: re-plan on an unchanged snapshot: {}", ms(replan));
    let (peak, current) = rss();
    println!("speaker: peak RSS {peak:.1} MiB (now {current:.1} MiB)");
    drop((live, again, plan));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let role = arg("--role");
    let services: usize = arg("--services").map_or(10_000, |n| n.parse().unwrap());
    let whole = args.iter().any(|a| a == "--whole");
    let (peak, _) = rss();
    println!(
        "baseline: peak RSS {peak:.1} MiB before building objects; inline sizes: Service {} B, EndpointSlice {} B",
        std::mem::size_of::<Service>(),
        std::mem::size_of::<k8s_openapi::api::discovery::v1::EndpointSlice>()
    );
    match role {
        Some("controller") => run_controller(services, whole),
        Some("speaker") => run_speaker(services),
        _ => {
            eprintln!("usage: bench_cores --role controller|speaker [--services N] [--whole]");
            std::process::exit(2);
        }
    }
}
