//! Frames byte by byte: what the builders write, and every reason a received frame is dropped,
//! each reached by a crafted frame that differs from a valid one in that one respect.

use porter_l2::build::{self, Gratuitous};
use porter_l2::{ArpOp, Invalid, Mac, Packet, Skip, parse, solicited_node};

use crate::support::{
    CLIENT, HOP_LIMIT, ICMP, IP_DST, IP_SRC, US, append, fix_checksum, icmpv6_checksum_ok, v4, v6,
};

#[test]
fn gratuitous_arp_forms() {
    let req = build::gratuitous_arp(US, v4("192.0.2.10"), Gratuitous::Request);
    #[rustfmt::skip]
    let want = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x01, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
        0x02, 0x00, 0x5e, 0x00, 0x00, 0x01, 192, 0, 2, 10,
        0, 0, 0, 0, 0, 0, 192, 0, 2, 10,
    ];
    assert_eq!(req, want);
    let rep = build::gratuitous_arp(US, v4("192.0.2.10"), Gratuitous::Reply);
    let mut want_rep = want;
    want_rep[21] = 2;
    want_rep[32..38].copy_from_slice(&US.0);
    assert_eq!(rep, want_rep);
}

#[test]
fn arp_reply_goes_to_the_asker() {
    let f = build::arp_reply(US, v4("192.0.2.10"), CLIENT, v4("192.0.2.1"));
    let Ok(Packet::Arp(a)) = parse(&f) else {
        panic!()
    };
    assert_eq!((a.eth_dst, a.eth_src, a.op), (CLIENT, US, ArpOp::Reply));
    assert_eq!((a.sender_mac, a.sender_ip), (US, v4("192.0.2.10")));
    assert_eq!((a.target_mac, a.target_ip), (CLIENT, v4("192.0.2.1")));
}

#[test]
fn neighbor_advertisements() {
    let target = v6("2001:db8::10");
    let na = build::neighbor_advertisement(US, target, CLIENT, v6("2001:db8::1"), true);
    assert_eq!(na.len(), build::NA_FRAME_LEN);
    assert_eq!(na[..6], CLIENT.0);
    assert_eq!(na[12..14], [0x86, 0xdd]);
    assert_eq!(na[14 + 6], 58, "next header ICMPv6");
    assert_eq!(na[HOP_LIMIT], 255);
    assert_eq!(
        na[IP_SRC..IP_SRC + 16],
        target.octets(),
        "source is the target"
    );
    assert_eq!((na[ICMP], na[ICMP + 1]), (136, 0));
    assert_eq!(na[ICMP + 4], 0x60, "R = 0, S = 1, O = 1");
    assert_eq!(
        na[ICMP + 24..],
        [2, 1, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x01],
        "TLLA"
    );
    assert!(icmpv6_checksum_ok(&na));

    let un = build::unsolicited_na(US, target);
    assert_eq!(un[..6], Mac::ALL_NODES.0);
    assert_eq!(un[IP_DST..IP_DST + 16], porter_l2::ALL_NODES.octets());
    assert_eq!(un[ICMP + 4], 0x20, "R = 0, S = 0, O = 1");
    assert!(icmpv6_checksum_ok(&un));
    let Ok(Packet::Advertisement(a)) = parse(&un) else {
        panic!()
    };
    assert_eq!((a.target, a.target_mac), (target, Some(US)));
}

#[test]
fn solicitations_parse_with_their_options() {
    let target = v6("2001:db8::10");
    let ns = build::neighbor_solicitation(CLIENT, v6("2001:db8::1"), target);
    assert!(icmpv6_checksum_ok(&ns));
    let Ok(Packet::Solicitation(s)) = parse(&ns) else {
        panic!()
    };
    assert_eq!(s.dst, solicited_node(target));
    assert_eq!(s.eth_dst, Mac::ipv6_multicast(solicited_node(target)));
    assert_eq!((s.target, s.source_mac), (target, Some(CLIENT)));
    assert!(!s.is_dad());

    // Options we do not use are skipped (a nonce, a Prefix Information of odd size); of two
    // Source Link-Layer Address options the first counts.
    let mut more = ns.clone();
    append(&mut more, &[14, 1, 1, 2, 3, 4, 5, 6]);
    append(&mut more, &[3, 1, 0, 0, 0, 0, 0, 0]);
    append(&mut more, &[1, 1, 2, 0, 0, 0, 0, 0x42]);
    let Ok(Packet::Solicitation(s)) = parse(&more) else {
        panic!("{:?}", parse(&more))
    };
    assert_eq!(s.source_mac, Some(CLIENT));

    // Ethernet padding after the IPv6 payload is not read as options.
    let mut padded = build::neighbor_solicitation(CLIENT, v6("::"), target);
    assert_eq!(padded.len(), 14 + 40 + 24);
    padded.resize(90, 0);
    let Ok(Packet::Solicitation(s)) = parse(&padded) else {
        panic!()
    };
    assert!(s.is_dad() && s.source_mac.is_none());
}

#[test]
fn padded_arp_parses() {
    let mut f = build::arp_request(CLIENT, v4("192.0.2.1"), v4("192.0.2.10"));
    let exact = parse(&f);
    f.resize(60, 0);
    assert_eq!(parse(&f), exact);
    assert!(exact.is_ok());
}

fn invalid(frame: &[u8]) -> Invalid {
    match parse(frame) {
        Err(Skip::Invalid(reason)) => reason,
        other => panic!("not invalid: {other:?}"),
    }
}

/// A valid NS from 2001:db8::1 for 2001:db8::10, changed by `f`, checksum fixed unless `f`
/// broke it on purpose.
fn ns_with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut ns = build::neighbor_solicitation(CLIENT, v6("2001:db8::1"), v6("2001:db8::10"));
    f(&mut ns);
    fix_checksum(&mut ns);
    ns
}

#[test]
fn every_drop_reason_is_reached() {
    let arp = || build::arp_request(CLIENT, v4("192.0.2.1"), v4("192.0.2.10"));
    let arp_with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut a = arp();
        f(&mut a);
        a
    };
    let mut seen = Vec::new();
    let mut check = |frame: Vec<u8>, want: Invalid| {
        assert_eq!(invalid(&frame), want);
        seen.push(want);
    };

    check(arp()[..14 + 20].to_vec(), Invalid::Malformed);
    check(arp_with(&|a| a[6] |= 1), Invalid::EthernetSource);
    check(arp_with(&|a| a[15] = 6), Invalid::ArpFormat); // IEEE 802 hardware
    check(arp_with(&|a| a[16] = 0x86), Invalid::ArpFormat); // protocol IPv6
    check(arp_with(&|a| a[21] = 3), Invalid::ArpOperation); // RARP request
    check(arp_with(&|a| a[22..28].fill(0)), Invalid::SenderMac);
    check(arp_with(&|a| a[22] = 1), Invalid::SenderMac); // group bit
    check(arp_with(&|a| a[38..42].fill(0)), Invalid::ArpAddress); // who has 0.0.0.0
    check(arp_with(&|a| a[38] = 224), Invalid::ArpAddress);
    check(arp_with(&|a| a[28..32].fill(255)), Invalid::ArpAddress);
    check(arp_with(&|a| a[28] = 127), Invalid::ArpAddress);

    // IPv6: a Fragment header (44) before the ICMPv6 message.
    let mut frag = ns_with(|_| {});
    frag[14 + 6] = 44;
    frag.splice(ICMP..ICMP, [58, 0, 0, 1, 0, 0, 0, 7]); // offset 0, M = 1
    let len = u16::from_be_bytes([frag[18], frag[19]]) + 8;
    frag[18..20].copy_from_slice(&len.to_be_bytes());
    check(frag, Invalid::Fragmented);
    check(ns_with(|n| n[HOP_LIMIT] = 254), Invalid::HopLimit);
    let mut bad_sum = ns_with(|_| {});
    bad_sum[ICMP + 2] ^= 1;
    check(bad_sum, Invalid::Checksum);
    check(ns_with(|n| n[ICMP + 1] = 1), Invalid::IcmpCode);
    check(
        ns_with(|n| {
            n.truncate(ICMP + 20);
            n[18..20].copy_from_slice(&20u16.to_be_bytes());
        }),
        Invalid::IcmpLength,
    );
    check(
        ns_with(|n| n[ICMP + 8..ICMP + 10].copy_from_slice(&[0xff, 0x02])),
        Invalid::MulticastTarget,
    );
    check(ns_with(|n| n[IP_SRC] = 0xff), Invalid::MulticastSource);
    check(ns_with(|n| n[ICMP + 25] = 0), Invalid::OptionLength);
    check(ns_with(|n| n[ICMP + 25] = 2), Invalid::OptionLength); // past the end
    let mut long_slla = ns_with(|_| {});
    long_slla[ICMP + 25] = 2;
    append(&mut long_slla, &[0; 8]);
    check(long_slla, Invalid::LinkLayerOption);
    check(ns_with(|n| n[ICMP + 26] = 0x01), Invalid::SenderMac); // SLLA a group
    // DAD: source :: to a unicast destination, or with an SLLA option.
    let dad = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = build::neighbor_solicitation(CLIENT, v6("::"), v6("2001:db8::10"));
        f(&mut d);
        fix_checksum(&mut d);
        d
    };
    assert!(parse(&dad(&|_| {})).is_ok());
    check(
        dad(&|d| d[IP_DST..IP_DST + 16].copy_from_slice(&v6("2001:db8::10").octets())),
        Invalid::DadDestination,
    );
    check(
        ns_with(|n| n[IP_SRC..IP_SRC + 16].fill(0)),
        Invalid::DadSourceLinkLayer,
    );
    // An NA with S = 1 to ff02::1.
    let mut na = build::unsolicited_na(US, v6("2001:db8::10"));
    na[ICMP + 4] |= 0x40;
    fix_checksum(&mut na);
    check(na, Invalid::SolicitedToMulticast);

    seen.sort();
    seen.dedup();
    assert_eq!(seen, Invalid::ALL, "every reason has its frame");
}

#[test]
fn unrelated_traffic_is_not_counted_as_invalid() {
    let arp = build::arp_request(CLIENT, v4("192.0.2.1"), v4("192.0.2.10"));
    // IPv4.
    let mut ipv4 = arp.clone();
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    // VLAN-tagged ARP.
    let mut tagged = arp[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
    tagged.extend_from_slice(&arp[12..]);
    // An ICMPv6 echo request (type 128) with the hop limit and lengths of an NS.
    let mut echo = build::neighbor_solicitation(CLIENT, v6("2001:db8::1"), v6("2001:db8::10"));
    echo[ICMP] = 128;
    fix_checksum(&mut echo);
    for f in [ipv4, tagged, echo] {
        assert_eq!(parse(&f), Err(Skip::Unrelated));
    }
    // Too short for an Ethernet header: that is malformed, whatever it was.
    assert_eq!(parse(&arp[..10]), Err(Skip::Invalid(Invalid::Malformed)));
}
