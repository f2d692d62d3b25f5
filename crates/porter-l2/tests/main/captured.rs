//! Frames captured from Linux, iputils arping and ndisc6 (tests/data/capture.sh): the
//! Responder parses what real tools send, and answers for an address as Linux answers for its
//! own, byte for byte.

use std::net::IpAddr;
use std::time::Instant;

use porter_l2::{Conflict, Ignored, Invalid, Mac, Responder, Verdict, build, parse};

use crate::support::{CLIENT, US, ip, v6};

/// The frames of a little-endian, microsecond, Ethernet pcap file.
fn pcap(bytes: &[u8]) -> Vec<&[u8]> {
    assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(bytes[20..24], [1, 0, 0, 0], "Ethernet link type");
    let mut frames = Vec::new();
    let mut rest = &bytes[24..];
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        frames.push(&rest[16..16 + len]);
        rest = &rest[16 + len..];
    }
    frames
}

fn frames() -> Vec<&'static [u8]> {
    pcap(include_bytes!("../data/linux-arping-ndisc6.pcap"))
}

/// A responder on side "b" of the capture (MAC 02:00:5e:00:00:01), owning `addrs`.
fn responder(addrs: &[&str]) -> Responder {
    let mut r = Responder::new(US);
    for a in addrs {
        r.acquire(Instant::now(), ip(a)).unwrap();
    }
    while r.poll_transmit().is_some() {}
    r
}

#[test]
fn every_captured_frame_parses() {
    let frames = frames();
    assert_eq!(frames.len(), 22);
    for (i, f) in frames.iter().enumerate() {
        let kind = f[12..14].to_vec();
        let ok = match parse(f) {
            Ok(_) => true,
            // Router Solicitations are captured too, and are no ND message of ours.
            Err(porter_l2::Skip::Unrelated) => f[14 + 40] == 133,
            Err(porter_l2::Skip::Invalid(reason)) => panic!("frame {i} ({kind:02x?}): {reason}"),
        };
        assert!(ok, "frame {i} unrelated");
    }
}

#[test]
fn answers_as_linux_answers_for_its_own_addresses() {
    let f = frames();
    let mut r = responder(&["10.0.0.2", "2001:db8::2"]);
    // arping's broadcast request, then its unicast one to our MAC: Linux's replies (2, 4).
    for (ask, linux) in [(1, 2), (3, 4), (11, 12)] {
        let Verdict::Reply(ours) = r.handle_frame(f[ask]) else {
            panic!("frame {ask} not answered");
        };
        assert_eq!(ours.bytes, f[linux], "answer to frame {ask}");
    }
    // Linux's own answers, seen from the responder's MAC, are ours: ignored.
    for own in [2, 4, 12] {
        assert_eq!(r.handle_frame(f[own]), Verdict::Ignored(Ignored::FromUs));
    }
    // Nobody owns 10.0.0.3 / 10.0.0.5 / 2001:db8::6 / ::7 here.
    for other in [8, 10, 13, 14, 17, 19] {
        assert_eq!(
            r.handle_frame(f[other]),
            Verdict::Ignored(Ignored::NotOwned),
            "{other}"
        );
    }
    let c = r.counters();
    assert_eq!((c.requests, c.replies), (3 + 6, 3));
    assert_eq!(c.dropped, [0; Invalid::ALL.len()]);
}

#[test]
fn linux_unsolicited_na_is_what_we_build() {
    // Frame 20: Linux's unsolicited NA (ndisc_notify) for fe80::5eff:fe00:9: source = target,
    // to ff02::1, O = 1, S = 0, R = 0, with the Target Link-Layer Address option.
    let f = frames();
    assert_eq!(
        build::unsolicited_na(CLIENT, v6("fe80::5eff:fe00:9")),
        f[20]
    );
}

#[test]
fn gratuitous_and_probes_from_real_tools() {
    let f = frames();
    // arping -U / -A for 10.0.0.1 from the client: a claim on an address we own.
    let mut r = responder(&["10.0.0.1"]);
    let claim = Conflict {
        addr: ip("10.0.0.1"),
        mac: CLIENT,
    };
    assert_eq!(r.handle_frame(f[5]), Verdict::Conflict(claim));
    assert_eq!(r.handle_frame(f[6]), Verdict::Conflict(claim));
    // arping -A's reply form has the target hardware address = sender's, which we also send.
    assert_eq!(
        build::gratuitous_arp(
            CLIENT,
            "10.0.0.1".parse().unwrap(),
            build::Gratuitous::Reply
        ),
        f[6]
    );
    // Not owned, they are no question to us, and no request to count.
    let mut r = responder(&[]);
    assert_eq!(r.handle_frame(f[5]), Verdict::Ignored(Ignored::NotRequest));
    assert_eq!(r.handle_frame(f[6]), Verdict::Ignored(Ignored::NotRequest));
    assert_eq!(r.counters().requests, 0);

    // arping -D (RFC 5227 probe for 10.0.0.5): answered to 0.0.0.0 at the prober's MAC.
    let mut r = responder(&["10.0.0.5"]);
    let Verdict::Reply(answer) = r.handle_frame(f[8]) else {
        panic!("probe not answered")
    };
    let Ok(porter_l2::Packet::Arp(arp)) = parse(&answer.bytes) else {
        panic!("answer does not parse")
    };
    assert_eq!(
        (arp.eth_dst, arp.sender_ip, arp.target_mac, arp.target_ip),
        (
            CLIENT,
            "10.0.0.5".parse().unwrap(),
            CLIENT,
            "0.0.0.0".parse().unwrap()
        )
    );

    // The kernel's DAD NS for 2001:db8::7 (with an RFC 7527 nonce option): an NA to all nodes.
    let mut r = responder(&["2001:db8::7"]);
    let Verdict::Reply(answer) = r.handle_frame(f[17]) else {
        panic!("DAD not answered")
    };
    let Ok(porter_l2::Packet::Advertisement(na)) = parse(&answer.bytes) else {
        panic!("answer does not parse")
    };
    assert_eq!((na.eth_dst, na.dst), (Mac::ALL_NODES, porter_l2::ALL_NODES));
    assert!(!na.solicited && na.override_ && !na.router);
    assert_eq!(na.target_mac, Some(US));

    // The unsolicited NA for fe80::5eff:fe00:9, had we owned it.
    let mut r = responder(&["fe80::5eff:fe00:9"]);
    assert_eq!(
        r.handle_frame(f[20]),
        Verdict::Conflict(Conflict {
            addr: IpAddr::V6(v6("fe80::5eff:fe00:9")),
            mac: CLIENT
        })
    );
}
