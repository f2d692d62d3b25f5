//! Exact wire bytes (hand-written hex, like holo's tests) and encode -> decode round trips.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use porter_bgp::wire::{self, Disposition, Message, Open, OutAttrs, OutUpdate, UpdateContext};
use porter_bgp::{Family, NotificationError, Prefix, RouteAttrs};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

#[test]
fn open_exact_bytes() {
    let open = Open::local(65001, Ipv4Addr::new(10, 0, 0, 1), 90);
    let bytes = wire::encode_open(&open).unwrap();
    let expected = hex(&format!(
        "{MARKER} 0033 01  04 fde9 005a 0a000001 16
         02 14  01 04 0001 00 01  01 04 0002 00 01  02 00  41 04 0000fde9"
    ));
    assert_eq!(bytes.as_ref(), expected.as_slice());
    assert_eq!(wire::decode_all(&bytes).unwrap(), vec![Message::Open(open)]);
}

#[test]
fn open_four_octet_as_uses_as_trans() {
    let open = Open::local(4_200_000_001, Ipv4Addr::new(10, 0, 0, 1), 90);
    let bytes = wire::encode_open(&open).unwrap();
    assert_eq!(&bytes[20..22], &[0x5b, 0xa0], "My AS = AS_TRANS 23456");
    assert_eq!(&bytes[bytes.len() - 6..], &hex("41 04 fa56ea01")[..]);
    let Message::Open(back) = &wire::decode_all(&bytes).unwrap()[0] else {
        panic!()
    };
    assert_eq!(back.asn(), 4_200_000_001);
}

fn v4_update(as_path: Vec<u32>, local_pref: Option<u32>, four_octet_as: bool) -> OutUpdate {
    OutUpdate {
        family: Family::Ipv4Unicast,
        withdrawn: vec![],
        announced: vec!["203.0.113.10/32".parse().unwrap()],
        attrs: Some(OutAttrs {
            as_path,
            next_hop: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)),
            local_pref,
            four_octet_as,
            local_as: 65001,
            route: RouteAttrs::default(),
        }),
        path_id: None,
    }
}

#[test]
fn update_exact_bytes_ebgp() {
    // The same bytes FRR/BIRD accepted in the lab (rust-and-lab.md §1.2).
    let bytes = wire::encode_update(&v4_update(vec![4_200_000_001], None, true)).unwrap();
    let expected = hex(&format!(
        "{MARKER} 0030 02  0000  0014  400101 00  400206 02 01 fa56ea01  400304 0a63000b  20 cb00710a"
    ));
    assert_eq!(bytes.as_ref(), expected.as_slice());
}

#[test]
fn update_exact_bytes_ibgp_and_two_octet() {
    let ibgp = wire::encode_update(&v4_update(vec![], Some(100), true)).unwrap();
    let expected = hex(&format!(
        "{MARKER} 0031 02  0000  0015  400101 00  400200  400304 0a63000b  400504 00000064  20 cb00710a"
    ));
    assert_eq!(ibgp.as_ref(), expected.as_slice());
    // 2-octet session, 4-octet AS: AS_TRANS in AS_PATH plus AS4_PATH (RFC 6793 §4.2.2).
    let old = wire::encode_update(&v4_update(vec![4_200_000_001], None, false)).unwrap();
    let expected = hex(&format!(
        "{MARKER} 0037 02  0000  001b  400101 00  400204 02 01 5ba0  c01106 02 01 fa56ea01  400304 0a63000b  20 cb00710a"
    ));
    assert_eq!(old.as_ref(), expected.as_slice());
    let Message::Update(raw) = &wire::decode_all(&old).unwrap()[0] else {
        panic!()
    };
    let u = raw
        .parse(UpdateContext {
            four_octet_as: false,
            is_ibgp: false,
        })
        .unwrap();
    assert_eq!(u.as_path, vec![4_200_000_001], "AS4_PATH merged back");
}

#[test]
fn keepalive_notification_and_eor_exact_bytes() {
    assert_eq!(
        wire::encode_keepalive().as_ref(),
        hex(&format!("{MARKER} 0013 04")).as_slice()
    );
    let n = wire::encode_notification(&NotificationError::hold_timer_expired());
    assert_eq!(
        n.as_ref(),
        hex(&format!("{MARKER} 0015 03 04 00")).as_slice()
    );
    let eor = wire::encode_end_of_rib(Family::Ipv4Unicast).unwrap();
    assert_eq!(
        eor.as_ref(),
        hex(&format!("{MARKER} 0017 02 0000 0000")).as_slice()
    );
    let eor6 = wire::encode_end_of_rib(Family::Ipv6Unicast).unwrap();
    assert_eq!(
        eor6.as_ref(),
        hex(&format!("{MARKER} 001d 02 0000 0006 800f03 0002 01")).as_slice()
    );
    for (b, fam) in [(eor, Family::Ipv4Unicast), (eor6, Family::Ipv6Unicast)] {
        let Message::Update(raw) = &wire::decode_all(&b).unwrap()[0] else {
            panic!()
        };
        assert_eq!(
            raw.parse(UpdateContext {
                four_octet_as: true,
                is_ibgp: false
            })
            .unwrap()
            .end_of_rib,
            Some(fam)
        );
    }
}

#[test]
fn update_round_trips_v4_and_v6() {
    let ctx = UpdateContext {
        four_octet_as: true,
        is_ibgp: false,
    };
    let v4 = v4_update(vec![65001], None, true);
    let Message::Update(raw) = &wire::decode_all(&wire::encode_update(&v4).unwrap()).unwrap()[0]
    else {
        panic!()
    };
    let u = raw.parse(ctx).unwrap();
    assert_eq!(u.announced, v4.announced);
    assert_eq!(u.as_path, vec![65001]);
    assert_eq!(u.next_hop, Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11))));
    assert_eq!(u.disposition, Disposition::Clean);

    let p6: Prefix = "2001:db8:ffff::10/128".parse().unwrap();
    let w6: Prefix = "2001:db8:ffff::11/128".parse().unwrap();
    let nh: IpAddr = "fd00:99::11".parse().unwrap();
    let v6 = OutUpdate {
        family: Family::Ipv6Unicast,
        withdrawn: vec![w6],
        announced: vec![p6],
        attrs: Some(OutAttrs {
            as_path: vec![65001],
            next_hop: nh,
            local_pref: None,
            four_octet_as: true,
            local_as: 65001,
            route: RouteAttrs::default(),
        }),
        path_id: None,
    };
    let Message::Update(raw) = &wire::decode_all(&wire::encode_update(&v6).unwrap()).unwrap()[0]
    else {
        panic!()
    };
    let u = raw.parse(ctx).unwrap();
    assert_eq!(
        (u.announced, u.withdrawn, u.next_hop),
        (vec![p6], vec![w6], Some(nh))
    );

    // Mixing families or missing attributes is a local bug: an error, not a panic.
    let bad = OutUpdate {
        announced: vec![p6],
        ..v4_update(vec![], None, true)
    };
    assert!(wire::encode_update(&bad).is_err());
    let no_attrs = OutUpdate {
        attrs: None,
        ..v4_update(vec![], None, true)
    };
    assert!(wire::encode_update(&no_attrs).is_err());
}

#[test]
fn open_and_notification_round_trip() {
    let mut open = Open::local(65000, Ipv4Addr::new(192, 0, 2, 1), 0);
    open.families = BTreeSet::from([Family::Ipv4Unicast]);
    open.route_refresh = false;
    assert_eq!(
        wire::decode_all(&wire::encode_open(&open).unwrap()).unwrap(),
        vec![Message::Open(open)]
    );
    let n = NotificationError::new(6, 2, bytes::Bytes::from_static(b"\x03bye"), "");
    let back = &wire::decode_all(&wire::encode_notification(&n)).unwrap()[0];
    let Message::Notification(back) = back else {
        panic!()
    };
    assert_eq!((back.code, back.subcode, &back.data), (6, 2, &n.data));
    assert_eq!(
        back.detail, "bye",
        "RFC 9003 shutdown communication decoded"
    );
    let rr = wire::encode_route_refresh(Family::Ipv6Unicast).unwrap();
    assert_eq!(
        wire::decode_all(&rr).unwrap(),
        vec![Message::RouteRefresh(Some(Family::Ipv6Unicast))]
    );
}

#[test]
fn framer_handles_any_chunking() {
    let mut stream = wire::encode_keepalive().to_vec();
    stream.extend_from_slice(
        &wire::encode_open(&Open::local(1, Ipv4Addr::new(1, 1, 1, 1), 3)).unwrap(),
    );
    let mut f = wire::Framer::default();
    let mut frames = Vec::new();
    for b in &stream {
        f.push(&[*b]);
        while let Some(frame) = f.next_frame().unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames.len(), 2);
    assert_eq!(f.buffered(), 0);
    assert!(
        wire::decode_all(&stream[..stream.len() - 1]).is_err(),
        "truncated stream"
    );
}
