//! Writes the committed seed corpora under `fuzz/seeds/` from Porter's own encoders, then
//! replays every seed through the fuzz checks (works on stable, without libFuzzer):
//!
//! ```sh
//! cd fuzz && cargo run --example gen_seeds [CORPUS_DIR]
//! ```
//!
//! `bgp_session` inputs are `arbitrary` byte strings, not messages: with a `CORPUS_DIR` (a
//! `bgp_session` corpus from a fuzz run), the smallest input reaching each milestone
//! (Established, routes advertised/received, Cease or hold-timer NOTIFICATION sent) is copied
//! to `seeds/bgp_session/`.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use porter_bgp::wire::{self, Open, crafted};
use porter_bgp::{Family, NotificationError, Prefix};
use porter_fuzz::msg;

fn v4(last: u8) -> Prefix {
    Prefix::host(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
}

/// An UPDATE as Porter sends it to an eBGP peer (ORIGIN, AS_PATH [64513], NEXT_HOP / MP_REACH).
/// Hand-encoded (see `porter_fuzz::msg`) so the seeds do not depend on the encoder's API.
fn update(withdrawn: &[Prefix], announced: &[Prefix], four: bool) -> Bytes {
    let ipv6 = announced
        .iter()
        .chain(withdrawn)
        .any(|p| p.addr().is_ipv6());
    let mut attrs = Vec::new();
    if !announced.is_empty() {
        attrs.extend(msg::attr(0x40, 1, &[0]));
        attrs.extend(msg::as_path(&[64513], four));
    }
    let bytes = if ipv6 {
        if !announced.is_empty() {
            let nh = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets();
            attrs.extend(msg::mp_reach_v6(nh, announced));
        }
        if !withdrawn.is_empty() {
            attrs.extend(msg::mp_unreach_v6(withdrawn));
        }
        msg::update(&[], &attrs, &[])
    } else {
        if !announced.is_empty() {
            attrs.extend(msg::attr(0x40, 3, &[10, 0, 0, 1]));
        }
        let w: Vec<u8> = withdrawn.iter().flat_map(msg::nlri).collect();
        let a: Vec<u8> = announced.iter().flat_map(msg::nlri).collect();
        msg::update(&w, &attrs, &a)
    };
    Bytes::from(bytes)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let v6 = Prefix::host(IpAddr::V6(Ipv6Addr::new(
        0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10,
    )));
    let open = wire::encode_open(&Open::local(64513, Ipv4Addr::new(10, 0, 0, 1), 90))
        .expect("OPEN encodes");
    let open_as4 = wire::encode_open(&Open::local(4_200_000_000, Ipv4Addr::new(10, 0, 0, 2), 180))
        .expect("OPEN encodes");
    let keepalive = wire::encode_keepalive();
    let update_v4 = update(&[], &[v4(10), v4(11)], true);
    let decode: Vec<(&str, Bytes)> = vec![
        ("open", open.clone()),
        ("open_as4", open_as4),
        ("keepalive", keepalive.clone()),
        ("update_v4", update_v4.clone()),
        ("update_v4_as2", update(&[], &[v4(10)], false)),
        ("withdraw_v4", update(&[v4(10)], &[], true)),
        ("update_v6", update(&[], &[v6], true)),
        ("withdraw_v6", update(&[v6], &[], true)),
        (
            "eor_v4",
            wire::encode_end_of_rib(Family::Ipv4Unicast).expect("EoR encodes"),
        ),
        (
            "eor_v6",
            wire::encode_end_of_rib(Family::Ipv6Unicast).expect("EoR encodes"),
        ),
        (
            "notification_cease",
            wire::encode_notification(&NotificationError::admin_shutdown()),
        ),
        (
            "notification_shutdown_msg",
            wire::encode_notification(&NotificationError::new(
                6,
                2,
                Bytes::from_static(b"\x0bmaintenance"),
                "",
            )),
        ),
        (
            "route_refresh",
            wire::encode_route_refresh(Family::Ipv4Unicast).expect("ROUTE-REFRESH encodes"),
        ),
        (
            "stream",
            [open, keepalive.clone(), update_v4, keepalive]
                .concat()
                .into(),
        ),
    ];
    let dir = root.join("bgp_decode");
    fs::create_dir_all(&dir).expect("mkdir");
    for (name, bytes) in &decode {
        fs::write(dir.join(format!("{name}.bin")), bytes).expect("write seed");
    }
    // Every malformed message of docs/rfc-errors.md, each after a clean OPEN and KEEPALIVE so
    // the decoder reaches it in a stream as a session would.
    let params = crafted::Params {
        local_as: 64513,
        local_id: Ipv4Addr::new(10, 0, 0, 1),
        local_addr: Ipv4Addr::new(10, 0, 0, 1),
        peer_as: 64512,
        peer_id: Ipv4Addr::new(10, 0, 0, 254),
    };
    for case in crafted::cases(&params)
        .iter()
        .filter(|c| !c.bytes.is_empty())
    {
        let mut stream = crafted::peer_open(&params, case.peering);
        stream.extend_from_slice(&wire::encode_keepalive());
        stream.extend_from_slice(&case.bytes);
        fs::write(dir.join(format!("rfc_{}.bin", case.id)), stream).expect("write seed");
    }

    let ranges = [
        "192.168.0.100",
        "192.168.0.0/24",
        "192.168.0.91-192.168.0.100",
        " 10.0.0.1 - 10.0.0.9 ",
        "0.0.0.0/0",
        "2001:db8::/120",
        "2001:db8::1-2001:db8::ff",
        "::ffff:192.0.2.1",
        "::/0",
    ];
    let dir = root.join("eip_range");
    fs::create_dir_all(&dir).expect("mkdir");
    for (i, r) in ranges.iter().enumerate() {
        fs::write(dir.join(format!("range_{i}.txt")), r).expect("write seed");
    }

    if let Some(corpus) = std::env::args().nth(1) {
        pick_session_seeds(Path::new(&corpus), &root.join("bgp_session"));
    }

    // Replay every committed seed (including hand-picked bgp_session corpus entries).
    let mut replayed = 0;
    for target in ["bgp_decode", "bgp_session", "eip_range"] {
        let Ok(entries) = fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in entries {
            let data = fs::read(entry.expect("dir entry").path()).expect("read seed");
            match target {
                "bgp_decode" => porter_fuzz::check_decode(&data),
                "bgp_session" => {
                    if let Ok(script) =
                        porter_fuzz::Script::arbitrary_take_rest(Unstructured::new(&data))
                    {
                        let _ = porter_fuzz::check_session(&script);
                    }
                }
                _ => {
                    if let Ok(s) = std::str::from_utf8(&data) {
                        porter_fuzz::check_range(s);
                    }
                }
            }
            replayed += 1;
        }
    }
    println!(
        "wrote seeds under {}; replayed {replayed} seeds OK",
        root.display()
    );
}

/// Copies the smallest corpus input per `check_session` milestone into `out`.
fn pick_session_seeds(corpus: &Path, out: &Path) {
    let mut best: std::collections::BTreeMap<&str, Vec<u8>> = Default::default();
    for entry in fs::read_dir(corpus).expect("corpus dir") {
        let data = fs::read(entry.expect("dir entry").path()).expect("read input");
        let Ok(script) = porter_fuzz::Script::arbitrary_take_rest(Unstructured::new(&data)) else {
            continue;
        };
        for m in porter_fuzz::check_session(&script) {
            if best.get(m).is_none_or(|b| data.len() < b.len()) {
                best.insert(m, data.clone());
            }
        }
    }
    fs::create_dir_all(out).expect("mkdir");
    for (m, data) in best {
        println!("bgp_session seed for {m:?}: {} bytes", data.len());
        fs::write(out.join(format!("{}.bin", m.replace(' ', "_"))), data).expect("write seed");
    }
}
