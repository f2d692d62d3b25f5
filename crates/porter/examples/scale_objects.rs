//! Benchmark support, not a test: one cluster of N Services (`scale/objects.rs`) as either
//! source `porter speaker` reads. `bench/from_start.sh` runs it.
//!
//! ```sh
//! # a manifests folder: the fixed objects and the Services with their EndpointSlices, spread
//! # over 10 files
//! scale_objects manifests --count 100000 --dir /tmp/m --files 10 [cluster options]
//! # the same objects served by the fake API server (porter-fake-api) on 127.0.0.1; writes a
//! # kubeconfig naming it, prints "ready" and serves until SIGTERM or Ctrl-C
//! scale_objects serve --count 100000 --kubeconfig /tmp/kubeconfig [cluster options]
//! ```
//!
//! Cluster options (defaults in brackets): `--node` [n1], `--node-ip` [10.77.0.2], `--node-as`
//! [64513], `--peer-ip` [10.77.0.1], `--peer-as` [64512].
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/main/support/cluster_lab.rs"]
mod cluster_lab;
#[path = "scale/objects.rs"]
mod objects;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use objects::{Cluster, MAX_SERVICES};
use porter_fake_api::FakeApiServer;
use serde_json::Value;

fn arg(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let count: u32 = arg(&args, "--count").map_or(10_000, |c| c.parse().unwrap());
    assert!(
        count <= MAX_SERVICES,
        "the pool holds {MAX_SERVICES} addresses"
    );
    let node = arg(&args, "--node").unwrap_or_else(|| "n1".into());
    let node_ip = arg(&args, "--node-ip").unwrap_or_else(|| "10.77.0.2".into());
    let peer_ip = arg(&args, "--peer-ip").unwrap_or_else(|| "10.77.0.1".into());
    let number =
        |name: &str, default: u32| arg(&args, name).map_or(default, |v| v.parse().unwrap());
    let cluster = Cluster {
        node: &node,
        node_ip: &node_ip,
        node_as: number("--node-as", 64513),
        peer_ip: &peer_ip,
        peer_as: number("--peer-as", 64512),
    };
    match mode.as_str() {
        "manifests" => {
            let dir = PathBuf::from(arg(&args, "--dir").expect("--dir DIR"));
            let files: u32 = number("--files", 10).max(1);
            write_manifests(&cluster, count, &dir, files);
        }
        "serve" => {
            let kubeconfig = PathBuf::from(arg(&args, "--kubeconfig").expect("--kubeconfig PATH"));
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap()
                .block_on(serve(&cluster, count, &kubeconfig));
        }
        _ => panic!("usage: scale_objects manifests|serve --count N ..."),
    }
}

/// `files` YAML files in `dir`: the first holds the fixed objects, and Service `i` with its
/// EndpointSlice goes to file `i % files`.
fn write_manifests(cluster: &Cluster<'_>, count: u32, dir: &Path, files: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let mut out: Vec<String> = (0..files).map(|_| String::new()).collect();
    for object in cluster.fixed() {
        document(&mut out[0], &object);
    }
    for i in 0..count {
        let file = &mut out[(i % files) as usize];
        for object in cluster.service(i) {
            document(file, &object);
        }
    }
    for (n, text) in out.iter().enumerate() {
        let path = dir.join(format!("objects-{n:02}.yaml"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        f.write_all(text.as_bytes()).unwrap();
        f.flush().unwrap();
    }
}

/// One YAML document in block style, as `kubectl get -o yaml` writes it. Written here rather
/// than with a YAML crate: the values are plain JSON, and this keeps the benchmark's input
/// independent of the YAML library Porter reads it with.
fn document(out: &mut String, value: &Value) {
    out.push_str("---\n");
    block(out, value, 0);
}

fn block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        block(out, v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        block(out, v, indent);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", scalar(v));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // the first key on the dash's line, the others aligned under it
                        let mut text = String::new();
                        block(&mut text, item, indent + 2);
                        let _ = write!(out, "{pad}- {}", &text[indent + 2..]);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", scalar(item));
                    }
                }
            }
        }
        _ => {
            let _ = writeln!(out, "{pad}{}", scalar(value));
        }
    }
}

/// A scalar: plain when YAML reads it back as the same string, else double-quoted (JSON's
/// quoting is valid YAML).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/' | '_'))
                && s.starts_with(|c: char| c.is_ascii_alphabetic())
                && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"]
                    .iter()
                    .any(|word| s.eq_ignore_ascii_case(word));
            if plain { s.clone() } else { v.to_string() }
        }
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

async fn serve(cluster: &Cluster<'_>, count: u32, kubeconfig: &Path) {
    let server = FakeApiServer::start().await;
    for object in cluster.fixed() {
        server.insert(object).unwrap();
    }
    for i in 0..count {
        for object in cluster.service(i) {
            server.insert(object).unwrap();
        }
    }
    let dir = kubeconfig.parent().unwrap();
    let written = cluster_lab::kubeconfig(dir, &server.url());
    if written != kubeconfig {
        std::fs::rename(written, kubeconfig).unwrap();
    }
    println!("ready {}", server.url());
    std::io::stdout().flush().unwrap();
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(server);
}
