//! Benchmark, not a test: reading a manifests folder at scale, with the binary's own reader
//! (`manifest_dir.rs`, compiled in here).
//!
//! `--write DIR --count N` writes N LoadBalancer Services that opted in and hold an address,
//! and one EndpointSlice each (two ready endpoints), the objects `speaker_scale` serves, plus
//! one Eip, BgpConf `default`, a BgpPeer and the node, as YAML spread over `--files` files
//! (default 10). `--read DIR` reads the folder once as the speaker does (`--as speaker`, the
//! default: Services and EndpointSlices reduced to their projections as they are read) or as
//! the controller and `porter status` do (`--as controller`: whole objects), and prints the
//! time the read took and the process's peak RSS (`VmHWM`). Run the two steps as two processes,
//! so that the peak is the reading's.
//!
//! ```sh
//! manifests_scale --write /tmp/m100k --count 100000
//! manifests_scale --read /tmp/m100k --as speaker
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

#[path = "../src/manifest_dir.rs"]
mod manifest_dir;
#[path = "scale/objects.rs"]
mod objects;
#[path = "../src/session_report.rs"]
mod session_report;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use objects::Cluster;

fn arg(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

fn document(out: &mut impl Write, value: &serde_json::Value) {
    let text = serde_saphyr::to_string(value).unwrap();
    writeln!(out, "---").unwrap();
    out.write_all(text.as_bytes()).unwrap();
}

/// The objects of `scale/objects.rs` (the same cluster `speaker_scale` and `scale_objects`
/// use): the fixed ones in `base.yaml`, then the Services with their EndpointSlices spread over
/// `files` files in order.
fn write(dir: &Path, count: u32, files: u32) {
    let cluster = Cluster {
        node: "n1",
        node_ip: "10.0.0.1",
        node_as: 64513,
        peer_ip: "10.0.0.2",
        peer_as: 64512,
    };
    std::fs::create_dir_all(dir).unwrap();
    let mut base = std::fs::File::create(dir.join("base.yaml")).unwrap();
    for object in cluster.fixed() {
        document(&mut base, &object);
    }
    let per_file = count.div_ceil(files.max(1));
    let mut out = None;
    for i in 0..count {
        if i % per_file == 0 {
            let path = dir.join(format!("services-{:02}.yaml", i / per_file));
            out = Some(std::io::BufWriter::new(
                std::fs::File::create(path).unwrap(),
            ));
        }
        let out = out.as_mut().unwrap();
        for object in cluster.service(i) {
            document(out, &object);
        }
    }
}

/// The process's peak resident set size, in MiB.
fn vm_hwm_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(dir) = arg(&args, "--write") {
        let count = arg(&args, "--count").map_or(10_000, |c| c.parse().unwrap());
        let files = arg(&args, "--files").map_or(10, |c| c.parse().unwrap());
        write(Path::new(&dir), count, files);
        return;
    }
    let dir = PathBuf::from(arg(&args, "--read").expect("--write DIR or --read DIR"));
    let role = arg(&args, "--as").unwrap_or_else(|| "speaker".into());
    let bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let folder = manifest_dir::ManifestDir::new(dir);
    let start = Instant::now();
    let (services, slices, diagnostics) = match role.as_str() {
        "speaker" => {
            let (snapshot, diagnostics) = folder.load_projected(None).unwrap();
            (
                snapshot.services.len(),
                snapshot.endpoint_slices.len(),
                diagnostics.len(),
            )
        }
        "controller" => {
            let (snapshot, diagnostics) = folder.load().unwrap();
            (
                snapshot.services.len(),
                snapshot.endpoint_slices.len(),
                diagnostics.len(),
            )
        }
        other => panic!("--as speaker|controller, not {other}"),
    };
    let elapsed = start.elapsed();
    println!(
        "read {:.1} MB as {role}: {services} Services, {slices} EndpointSlices, {diagnostics} diagnostics in {:.2} s, peak RSS {:.1} MiB",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        vm_hwm_mib()
    );
}
