//! BFD: any datagram either decodes into a packet that encodes back to its first 24 bytes, or
//! is discarded with a reason; a session fed any mix of datagrams, time and AdminDown keeps
//! RFC 5880's rules (no P and F together, slow while not Up, no deadline in the past).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use porter_bfd::{Config, Jitter, Packet, Session, State};

#[derive(Debug, arbitrary::Arbitrary)]
enum Op {
    Datagram(Vec<u8>),
    Wait(u16),
    AdminDown,
}

fuzz_target!(|input: (u64, u8, Vec<Op>)| {
    let (seed, mult, ops) = input;
    let t0 = Instant::now();
    let mut config = Config::new(7);
    config.detect_mult = mult.max(1);
    let mut session = Session::new(config, Jitter::seeded(seed), t0);
    let mut now = t0;
    let check = |p: &Packet| {
        assert!(!(p.poll && p.final_));
        if p.state != State::Up {
            assert!(p.desired_min_tx >= 1_000_000);
        }
        assert_eq!(Packet::decode(&p.encode()).map(|q| q.state), Ok(p.state));
    };
    for op in ops {
        match op {
            Op::Datagram(bytes) => {
                if let Ok(packet) = Packet::decode(&bytes) {
                    assert_eq!(packet.encode()[4..], bytes[4..24]);
                    session.handle_packet(now, &packet);
                }
            }
            Op::Wait(ms) => {
                let until = now + Duration::from_millis(u64::from(ms));
                while let Some(at) = session.poll_timeout().filter(|at| *at <= until) {
                    now = now.max(at);
                    session.handle_timeout(now);
                    assert!(session.poll_timeout().is_none_or(|next| next > now));
                    while let Some(p) = session.poll_transmit() {
                        check(&p);
                    }
                }
                now = until;
            }
            Op::AdminDown => session.admin_down(now),
        }
        while let Some(p) = session.poll_transmit() {
            check(&p);
        }
        while session.poll_change().is_some() {}
    }
});
