//! The Responder's decisions, and its announcements on a virtual clock.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use porter_l2::build::{self, Gratuitous};
use porter_l2::{
    ANNOUNCE_AT, ArpOp, Conflict, FrameKind, Ignored, Invalid, Mac, NotUnicast, Packet, Responder,
    Verdict, parse,
};

use crate::support::{CLIENT, ICMP, OTHER, US, fix_checksum, ip, v4, v6};

fn owning(addrs: &[&str]) -> (Responder, Instant) {
    let t0 = Instant::now();
    let mut r = Responder::new(US);
    for a in addrs {
        assert_eq!(r.acquire(t0, ip(a)), Ok(true));
    }
    while r.poll_transmit().is_some() {}
    (r, t0)
}

fn drain(r: &mut Responder) -> Vec<(FrameKind, IpAddr)> {
    std::iter::from_fn(|| r.poll_transmit())
        .map(|f| {
            assert!(parse(&f.bytes).is_ok(), "{f:?} parses");
            (f.kind, f.addr)
        })
        .collect()
}

#[test]
fn arp_requests_are_answered_for_owned_addresses_only() {
    let (mut r, _) = owning(&["192.0.2.10"]);
    let ask = |target| build::arp_request(CLIENT, v4("192.0.2.1"), v4(target));
    let Verdict::Reply(answer) = r.handle_frame(&ask("192.0.2.10")) else {
        panic!()
    };
    assert_eq!(answer.kind, FrameKind::ArpReply);
    assert_eq!(
        answer.bytes,
        build::arp_reply(US, v4("192.0.2.10"), CLIENT, v4("192.0.2.1"))
    );
    assert_eq!(
        r.handle_frame(&ask("192.0.2.11")),
        Verdict::Ignored(Ignored::NotOwned)
    );

    // A unicast request to our MAC (a cache refresh) is answered; one to another MAC is not.
    let mut unicast = ask("192.0.2.10");
    unicast[..6].copy_from_slice(&US.0);
    assert!(matches!(r.handle_frame(&unicast), Verdict::Reply(_)));
    unicast[..6].copy_from_slice(&OTHER.0);
    assert_eq!(
        r.handle_frame(&unicast),
        Verdict::Ignored(Ignored::NotForUs)
    );

    // Replies are no questions, even for an owned address's neighbours.
    let reply = build::arp_reply(CLIENT, v4("192.0.2.1"), US, v4("192.0.2.10"));
    assert_eq!(
        r.handle_frame(&reply),
        Verdict::Ignored(Ignored::NotRequest)
    );

    // Our own frames, seen again.
    let own = build::gratuitous_arp(US, v4("192.0.2.10"), Gratuitous::Request);
    assert_eq!(r.handle_frame(&own), Verdict::Ignored(Ignored::FromUs));

    let c = r.counters();
    assert_eq!((c.requests, c.replies, c.conflicts), (3, 2, 0));
}

#[test]
fn another_station_claiming_an_owned_address_is_a_conflict() {
    let (mut r, _) = owning(&["192.0.2.10", "2001:db8::10"]);
    let claim = |addr: &str, mac| {
        Verdict::Conflict(Conflict {
            addr: ip(addr),
            mac,
        })
    };
    for form in [Gratuitous::Request, Gratuitous::Reply] {
        let garp = build::gratuitous_arp(OTHER, v4("192.0.2.10"), form);
        assert_eq!(r.handle_frame(&garp), claim("192.0.2.10", OTHER));
    }
    // A request using our address as its sender address, even for another target.
    let req = build::arp_request(OTHER, v4("192.0.2.10"), v4("192.0.2.1"));
    assert_eq!(r.handle_frame(&req), claim("192.0.2.10", OTHER));
    let na = build::unsolicited_na(OTHER, v6("2001:db8::10"));
    assert_eq!(r.handle_frame(&na), claim("2001:db8::10", OTHER));
    // Not defended: nothing queued.
    assert!(r.poll_transmit().is_none());
    assert_eq!(r.counters().conflicts, 4);
    // The same for addresses we do not own is someone else's business.
    let other = build::unsolicited_na(OTHER, v6("2001:db8::11"));
    assert_eq!(
        r.handle_frame(&other),
        Verdict::Ignored(Ignored::NotRequest)
    );
}

#[test]
fn probes_are_answered_so_the_prober_backs_off() {
    let (mut r, _) = owning(&["192.0.2.10"]);
    let probe = build::arp_request(CLIENT, v4("0.0.0.0"), v4("192.0.2.10"));
    let Verdict::Reply(answer) = r.handle_frame(&probe) else {
        panic!()
    };
    let Ok(Packet::Arp(a)) = parse(&answer.bytes) else {
        panic!()
    };
    assert_eq!(
        (a.op, a.eth_dst, a.target_mac),
        (ArpOp::Reply, CLIENT, CLIENT)
    );
    assert_eq!(
        (a.sender_ip, a.target_ip),
        (v4("192.0.2.10"), v4("0.0.0.0"))
    );
}

#[test]
fn solicitations_are_answered_with_the_right_flags_and_destination() {
    let (mut r, _) = owning(&["2001:db8::10"]);
    let target = v6("2001:db8::10");

    // Multicast NS with SLLA: unicast NA to its source at the SLLA, S = 1, O = 1, R = 0.
    let ns = build::neighbor_solicitation(CLIENT, v6("2001:db8::1"), target);
    let Verdict::Reply(answer) = r.handle_frame(&ns) else {
        panic!()
    };
    assert_eq!(answer.kind, FrameKind::NdpReply);
    let Ok(Packet::Advertisement(na)) = parse(&answer.bytes) else {
        panic!()
    };
    assert_eq!(
        (na.eth_dst, na.dst, na.src),
        (CLIENT, v6("2001:db8::1"), target)
    );
    assert_eq!((na.router, na.solicited, na.override_), (false, true, true));
    assert_eq!((na.target, na.target_mac), (target, Some(US)));

    // The SLLA, not the Ethernet source, is where the answer goes.
    let mut relayed = ns.clone();
    relayed[6..12].copy_from_slice(&OTHER.0);
    let Verdict::Reply(answer) = r.handle_frame(&relayed) else {
        panic!()
    };
    assert_eq!(answer.bytes[..6], CLIENT.0);

    // A unicast reachability probe without SLLA: to its Ethernet source.
    let mut nud = build::neighbor_solicitation(CLIENT, v6("2001:db8::1"), target);
    nud[..6].copy_from_slice(&US.0);
    nud[14 + 24..14 + 40].copy_from_slice(&target.octets());
    nud.truncate(ICMP + 24);
    nud[18..20].copy_from_slice(&24u16.to_be_bytes());
    fix_checksum(&mut nud);
    let Verdict::Reply(answer) = r.handle_frame(&nud) else {
        panic!("{:?}", parse(&nud))
    };
    assert_eq!(answer.bytes[..6], CLIENT.0);
    // ... but not one unicast to another host's MAC.
    nud[..6].copy_from_slice(&OTHER.0);
    assert_eq!(r.handle_frame(&nud), Verdict::Ignored(Ignored::NotForUs));

    // DAD (source ::): to all nodes, S = 0.
    let dad = build::neighbor_solicitation(CLIENT, v6("::"), target);
    let Verdict::Reply(answer) = r.handle_frame(&dad) else {
        panic!()
    };
    let Ok(Packet::Advertisement(na)) = parse(&answer.bytes) else {
        panic!()
    };
    assert_eq!((na.eth_dst, na.dst), (Mac::ALL_NODES, porter_l2::ALL_NODES));
    assert_eq!((na.solicited, na.override_), (false, true));

    // Not owned: no answer.
    let other = build::neighbor_solicitation(CLIENT, v6("2001:db8::1"), v6("2001:db8::11"));
    assert_eq!(r.handle_frame(&other), Verdict::Ignored(Ignored::NotOwned));
}

#[test]
fn announcements_follow_the_schedule() {
    let t0 = Instant::now();
    let mut r = Responder::new(US);
    let (a4, a6) = (ip("192.0.2.10"), ip("2001:db8::10"));
    r.acquire(t0, a4).unwrap();
    r.acquire(t0 + Duration::from_millis(100), a6).unwrap();
    let garp = |a| {
        vec![
            (FrameKind::GratuitousRequest, a),
            (FrameKind::GratuitousReply, a),
        ]
    };
    let na = |a| vec![(FrameKind::UnsolicitedNa, a)];
    // At once, without waiting for a timeout.
    assert_eq!(drain(&mut r), [garp(a4), na(a6)].concat());

    let mut sent = Vec::new();
    let mut now = t0;
    while let Some(at) = r.poll_timeout() {
        assert!(at > now, "deadlines move forward");
        now = at;
        r.handle_timeout(now);
        for frame in drain(&mut r) {
            sent.push((now - t0, frame));
        }
    }
    let ms = Duration::from_millis;
    let want: Vec<_> = [
        (ms(500), garp(a4)),
        (ms(600), na(a6)),
        (ms(1000), garp(a4)),
        (ms(1100), na(a6)),
        (ms(2000), garp(a4)),
        (ms(2100), na(a6)),
    ]
    .into_iter()
    .flat_map(|(at, frames)| frames.into_iter().map(move |f| (at, f)))
    .collect();
    assert_eq!(sent, want);
    assert_eq!(r.counters().gratuitous, 4 * 2 + 4);
    assert_eq!(ANNOUNCE_AT.len(), 4);
}

#[test]
fn a_late_wakeup_sends_one_round_not_all_it_missed() {
    let (mut r, t0) = owning(&["192.0.2.10"]);
    r.handle_timeout(t0 + Duration::from_millis(1500));
    assert_eq!(drain(&mut r).len(), 2, "one round");
    assert_eq!(r.poll_timeout(), Some(t0 + ANNOUNCE_AT[3]));
    // Early calls do nothing.
    r.handle_timeout(t0 + Duration::from_millis(1999));
    assert!(r.poll_transmit().is_none());
}

#[test]
fn release_stops_answers_and_repeats() {
    let t0 = Instant::now();
    let mut r = Responder::new(US);
    let a = ip("192.0.2.10");
    r.acquire(t0, a).unwrap();
    r.acquire(t0, ip("192.0.2.11")).unwrap();
    assert!(r.release(a));
    assert!(!r.release(a));
    // Its queued announcements are gone too; the other address's stay.
    assert!(
        drain(&mut r)
            .iter()
            .all(|(_, addr)| *addr == ip("192.0.2.11"))
    );
    let ask = build::arp_request(CLIENT, v4("192.0.2.1"), v4("192.0.2.10"));
    assert_eq!(r.handle_frame(&ask), Verdict::Ignored(Ignored::NotOwned));
    let mut rounds = 0;
    while let Some(at) = r.poll_timeout() {
        r.handle_timeout(at);
        assert!(drain(&mut r).iter().all(|(_, addr)| *addr != a));
        rounds += 1;
    }
    assert_eq!(
        rounds,
        ANNOUNCE_AT.len() - 1,
        "the other address's repeats go on"
    );
    assert_eq!(r.owned().collect::<Vec<_>>(), [ip("192.0.2.11")]);
}

#[test]
fn acquire_is_idempotent_and_refuses_non_unicast() {
    let (mut r, t0) = owning(&["192.0.2.10"]);
    assert_eq!(
        r.acquire(t0 + Duration::from_millis(10), ip("192.0.2.10")),
        Ok(false)
    );
    assert!(r.poll_transmit().is_none());
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + ANNOUNCE_AT[1]),
        "schedule unchanged"
    );
    for bad in [
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "127.0.0.1",
        "::",
        "ff02::1",
        "::1",
    ] {
        assert_eq!(r.acquire(t0, ip(bad)), Err(NotUnicast(ip(bad))));
    }
}

#[test]
fn reannounce_restarts_every_series_with_the_new_mac() {
    let (mut r, t0) = owning(&["192.0.2.10", "2001:db8::10"]);
    let later = t0 + Duration::from_secs(60);
    r.handle_timeout(later);
    drain(&mut r);
    assert_eq!(r.poll_timeout(), None, "series over");
    r.set_mac(OTHER);
    r.reannounce(later);
    let frames: Vec<_> = std::iter::from_fn(|| r.poll_transmit()).collect();
    assert_eq!(frames.len(), 3);
    for f in frames {
        assert_eq!(f.bytes[6..12], OTHER.0);
    }
    assert_eq!(r.poll_timeout(), Some(later + ANNOUNCE_AT[1]));
}

#[test]
fn counters_count_drops_by_reason() {
    let (mut r, _) = owning(&[]);
    let mut ns = build::neighbor_solicitation(CLIENT, v6("2001:db8::1"), v6("2001:db8::10"));
    ns[14 + 7] = 64;
    assert_eq!(r.handle_frame(&ns), Verdict::Dropped(Invalid::HopLimit));
    assert_eq!(
        r.handle_frame(&[0; 5]),
        Verdict::Dropped(Invalid::Malformed)
    );
    assert_eq!(r.counters().dropped(Invalid::HopLimit), 1);
    assert_eq!(r.counters().dropped(Invalid::Malformed), 1);
    assert_eq!(r.counters().dropped.iter().sum::<u64>(), 2);
    assert_eq!(r.counters().requests, 0);
}

#[test]
fn frames_queued_for_a_released_address_are_not_sent() {
    let t0 = Instant::now();
    let mut r = Responder::new(US);
    let a = ip("192.0.2.10");
    r.acquire(t0, a).unwrap();
    r.release(a);
    assert!(
        r.poll_transmit().is_none(),
        "released before the shell polled"
    );
    // Released and acquired again before a poll: one round, the new acquisition's.
    r.acquire(t0, a).unwrap();
    r.release(a);
    r.acquire(t0, a).unwrap();
    assert_eq!(
        drain(&mut r),
        [
            (FrameKind::GratuitousRequest, a),
            (FrameKind::GratuitousReply, a)
        ]
    );
    assert_eq!(r.counters().gratuitous, 2);
}
