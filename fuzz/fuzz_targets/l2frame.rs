//! Layer 2: any frame either parses into an ARP or ND packet that passed the RFC checks, or is
//! unrelated, or is dropped with a reason, and the responder's verdict agrees; an answer is a
//! valid frame from our MAC, for an owned address, to the asker. The seeds are frames captured
//! from Linux, arping and ndisc6 (crates/porter-l2/tests/data) and the core's own.
#![no_main]

use std::net::IpAddr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use porter_l2::{ArpOp, Mac, Packet, Responder, Skip, Verdict, parse};

const US: Mac = Mac([0x02, 0x00, 0x5e, 0x00, 0x00, 0x01]);
const OWNED: [&str; 6] = [
    "10.0.0.2",
    "10.0.0.5",
    "192.0.2.10",
    "2001:db8::2",
    "2001:db8::7",
    "2001:db8::10",
];

fuzz_target!(|frame: &[u8]| {
    let mut r = Responder::new(US);
    let now = Instant::now();
    for a in OWNED {
        let addr: IpAddr = a.parse().expect("address");
        r.acquire(now, addr).expect("unicast");
    }
    while let Some(f) = r.poll_transmit() {
        assert!(parse(&f.bytes).is_ok());
    }
    let parsed = parse(frame);
    let verdict = r.handle_frame(frame);
    match (&parsed, &verdict) {
        (Err(Skip::Invalid(a)), Verdict::Dropped(b)) => assert_eq!(a, b),
        (Err(Skip::Invalid(_)), _) | (_, Verdict::Dropped(_)) => panic!("{parsed:?} / {verdict:?}"),
        _ => {}
    }
    let Verdict::Reply(answer) = verdict else {
        return;
    };
    assert!(r.owns(answer.addr));
    match (parsed, parse(&answer.bytes)) {
        (Ok(Packet::Arp(q)), Ok(Packet::Arp(a))) => {
            assert_eq!(q.op, ArpOp::Request);
            assert_eq!((a.op, a.eth_src, a.sender_mac), (ArpOp::Reply, US, US));
            assert_eq!(IpAddr::from(q.target_ip), answer.addr);
            assert_eq!((a.eth_dst, a.target_ip), (q.sender_mac, q.sender_ip));
        }
        (Ok(Packet::Solicitation(q)), Ok(Packet::Advertisement(a))) => {
            assert_eq!(IpAddr::from(q.target), answer.addr);
            assert_eq!((a.target, a.target_mac, a.eth_src), (q.target, Some(US), US));
            assert!(a.override_ && !a.router);
            assert_eq!(a.solicited, !q.is_dad());
        }
        (q, a) => panic!("{q:?} answered by {a:?}"),
    }
});
