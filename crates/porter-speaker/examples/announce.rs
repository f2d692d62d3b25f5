//! Benchmark driver (not a test): runs the REAL speaker shell ([`Speaker::run`]) with a
//! synthetic [`SpeakerPlan`] of one peer and `--count` host routes, as `porter speaker` would
//! after reading a cluster with that many Services. Used by `bench/bgp_announce.sh`.
//!
//! ```text
//! cargo run --release -p porter-speaker --example announce -- \
//!     --peer 10.77.0.1 --peer-as 64512 --local-as 64513 --router-id 10.77.0.2 \
//!     --count 100000 --first 198.18.0.0 [--passive] [--listen-port 179] [--hold-time 240] \
//!     [--duration 60]
//! ```
//!
//! Prefixes are consecutive /32s from `--first`, which must leave all of them inside the
//! benchmarking range 198.18.0.0/15 (RFC 2544). Runs until SIGTERM/SIGINT (or `--duration`
//! seconds); on stdout it prints `ready` once the plan is handed to the manager, then one
//! line per status change of the session (state, prefixes advertised) with a millisecond
//! timestamp (CLOCK_REALTIME, seconds since the epoch), so a script can line the speaker's
//! view up with the receiver's.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use porter_bgp::RouteAttrs;
use porter_model::announce::{BgpPlan, LocalBgp, SpeakerPlan};
use porter_model::valid::ValidPeer;
use porter_speaker::{Speaker, StatusBoard};
use tokio::sync::watch;

struct Args {
    peer: IpAddr,
    peer_as: u32,
    local_as: u32,
    router_id: Ipv4Addr,
    count: u32,
    first: Ipv4Addr,
    passive: bool,
    listen_port: Option<u16>,
    hold_time: Option<u16>,
    duration: Option<Duration>,
}

fn usage() -> ! {
    eprintln!(
        "usage: announce --peer IP --peer-as AS --local-as AS --router-id IPV4 --count N \
         [--first 198.18.0.0] [--passive] [--listen-port PORT] [--hold-time S] [--duration S]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut peer = None;
    let mut peer_as = None;
    let mut local_as = None;
    let mut router_id = None;
    let mut count = None;
    let mut first = Ipv4Addr::new(198, 18, 0, 0);
    let mut passive = false;
    let mut listen_port = None;
    let mut hold_time = None;
    let mut duration = None;
    while let Some(flag) = args.next() {
        if flag == "--passive" {
            passive = true;
            continue;
        }
        let Some(value) = args.next() else { usage() };
        let bad = |_| -> ! {
            eprintln!("bad value for {flag}: {value}");
            usage()
        };
        match flag.as_str() {
            "--peer" => {
                peer = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::net::AddrParseError| bad(e.to_string())),
                )
            }
            "--peer-as" => {
                peer_as = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string())),
                )
            }
            "--local-as" => {
                local_as = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string())),
                )
            }
            "--router-id" => {
                router_id = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::net::AddrParseError| bad(e.to_string())),
                )
            }
            "--count" => {
                count = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string())),
                )
            }
            "--first" => {
                first = value
                    .parse()
                    .unwrap_or_else(|e: std::net::AddrParseError| bad(e.to_string()))
            }
            "--listen-port" => {
                listen_port = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string())),
                )
            }
            "--hold-time" => {
                hold_time = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string())),
                )
            }
            "--duration" => {
                duration =
                    Some(Duration::from_secs(value.parse().unwrap_or_else(
                        |e: std::num::ParseIntError| bad(e.to_string()),
                    )))
            }
            _ => usage(),
        }
    }
    let (Some(peer), Some(peer_as), Some(local_as), Some(router_id), Some(count)) =
        (peer, peer_as, local_as, router_id, count)
    else {
        usage()
    };
    // 198.18.0.0/15 only: this binary must never announce anything a real network uses.
    let start = u32::from(first);
    let (lo, hi) = (
        u32::from(Ipv4Addr::new(198, 18, 0, 0)),
        u32::from(Ipv4Addr::new(198, 19, 255, 255)),
    );
    if start < lo || u64::from(start) + u64::from(count) > u64::from(hi) + 1 {
        eprintln!("--first {first} + --count {count} leaves 198.18.0.0/15");
        std::process::exit(2);
    }
    Args {
        peer,
        peer_as,
        local_as,
        router_id,
        count,
        first,
        passive,
        listen_port,
        hold_time,
        duration,
    }
}

fn plan(a: &Args) -> SpeakerPlan {
    let peer = ValidPeer {
        passive: a.passive,
        hold_time: a.hold_time,
        connect_retry: Some(1),
        ..ValidPeer::new("bench", a.peer, a.peer_as)
    };
    let base = u32::from(a.first);
    // One attribute set shared by every prefix, as `announce::plan` shares a pool's.
    let attrs = Arc::new(RouteAttrs::default());
    let prefixes: BTreeMap<IpAddr, Arc<RouteAttrs>> = (0..a.count)
        .map(|i| (IpAddr::V4(Ipv4Addr::from(base + i)), Arc::clone(&attrs)))
        .collect();
    SpeakerPlan {
        health: Default::default(),
        layer2: Default::default(),
        bgp: BgpPlan {
            local: Ok(LocalBgp {
                local_as: a.local_as,
                router_id: a.router_id,
                listen_port: a.listen_port,
                listen_addresses: Vec::new(),
                next_hop_v4: Some(a.router_id),
                next_hop_v6: None,
                graceful_restart: None,
            }),
            peers: [("bench".to_owned(), peer)].into(),
            prefixes,
        },
        ineligible: None,
        problems: vec![],
    }
}

fn stamp() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn main() {
    let args = parse_args();
    // The same runtime `porter speaker` uses.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1)
        });
    runtime.block_on(async move {
        let plan = plan(&args);
        let (_plans_tx, plans_rx) = watch::channel(plan);
        let board = StatusBoard::default();
        // Status is read from outside the sessions, every 5 ms, like `porter status` would.
        let watcher = {
            let board = board.clone();
            tokio::spawn(async move {
                let mut last = None;
                loop {
                    if let Some(s) = board.bgp_sessions().remove("bench") {
                        let now = (s.state, s.advertised);
                        if last != Some(now) {
                            println!(
                                "{:.3} state={} advertised={}",
                                stamp(),
                                s.state,
                                s.advertised
                            );
                            last = Some(now);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        println!("{:.3} ready count={}", stamp(), args.count);
        let duration = args.duration;
        let shutdown = async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(e) => {
                        eprintln!("cannot catch SIGTERM: {e}");
                        std::process::exit(1)
                    }
                };
            let limit = async {
                match duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
                () = limit => {}
            }
        };
        Speaker::new(board).run(plans_rx, shutdown).await;
        watcher.abort();
        println!("{:.3} stopped", stamp());
    });
}
