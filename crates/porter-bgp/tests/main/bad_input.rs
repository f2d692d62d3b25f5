//! Crafted bad input fed to a session in each connected state: the exact RFC answer, never a panic.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bytes::Bytes;
use porter_bgp::wire::crafted::{Answer, Case, Params, When};
use porter_bgp::wire::{self, crafted};
use porter_bgp::{Action, Event, Prefix, SessionConfig, State};

use crate::support::*;

const MARKER: [u8; 16] = [0xff; 16];

/// A message with a correct header around `body`.
fn msg(msg_type: u8, body: &[u8]) -> Bytes {
    let mut v = MARKER.to_vec();
    v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    v.push(msg_type);
    v.extend_from_slice(body);
    Bytes::from(v)
}

fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Bytes {
    let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    msg(2, &body)
}

/// ORIGIN IGP, AS_PATH [65000] (4-octet), NEXT_HOP 10.0.0.2.
const GOOD_ATTRS: &[u8] = &[
    0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 10, 0, 0, 2,
];
const NLRI_203_0_113_10: &[u8] = &[32, 203, 0, 113, 10];

fn feed(state: State, bytes: Bytes) -> Vec<Action> {
    let (mut s, now) = session_in(state);
    s.handle(now, Event::Received(bytes));
    let actions = drain(&mut s);
    assert_eq!(s.state(), State::Idle, "{actions:?}");
    actions
}

fn connected_states() -> [State; 3] {
    [State::OpenSent, State::OpenConfirm, State::Established]
}

#[test]
fn header_errors_in_every_state() {
    for state in connected_states() {
        let mut bad_marker = wire_keepalive();
        bad_marker[3] = 0;
        assert_notified_and_closed(&feed(state, bad_marker.into()), 1, 1);

        for len in [18u16, 4097, 0xffff] {
            let mut b = wire_keepalive();
            b[16..18].copy_from_slice(&len.to_be_bytes());
            let n = assert_notified_and_closed(&feed(state, b.into()), 1, 2);
            assert_eq!(n.data.as_ref(), len.to_be_bytes(), "data = the bad length");
        }
        let mut long_keepalive = wire_keepalive();
        long_keepalive[17] = 20;
        long_keepalive.push(0);
        assert_notified_and_closed(&feed(state, long_keepalive.into()), 1, 2);

        let n = assert_notified_and_closed(&feed(state, msg(7, &[])), 1, 3);
        assert_eq!(n.data.as_ref(), [7]);
    }
}

fn wire_keepalive() -> Vec<u8> {
    porter_bgp::wire::encode_keepalive().to_vec()
}

#[test]
fn open_errors() {
    let mut v3 = peer_open(65000, B_ADDR, 90).to_vec();
    v3[19] = 3;
    let n = assert_notified_and_closed(&feed(State::OpenSent, v3.into()), 2, 1);
    assert_eq!(n.data.as_ref(), [0, 4], "data = highest supported version");

    assert_notified_and_closed(&feed(State::OpenSent, peer_open(65099, B_ADDR, 90)), 2, 2);
    // 2-octet peer without the capability claiming the wrong AS.
    assert_notified_and_closed(
        &feed(State::OpenSent, peer_open(4_200_000_000, B_ADDR, 90)),
        2,
        2,
    );
    for hold in [1, 2] {
        assert_notified_and_closed(&feed(State::OpenSent, peer_open(65000, B_ADDR, hold)), 2, 6);
    }
    assert_notified_and_closed(&feed(State::OpenSent, peer_open(65000, 0.into(), 90)), 2, 3);
    // Optional parameter type 1 (deprecated authentication) is not supported.
    let body = [4, 0xfd, 0xe8, 0, 90, 10, 0, 0, 2, 4, 1, 2, 0, 0];
    assert_notified_and_closed(&feed(State::OpenSent, msg(1, &body)), 2, 4);
}

#[test]
fn open_hold_time_zero_and_three_are_accepted() {
    for (hold, negotiated) in [(0, 0), (3, 3), (200, 90)] {
        let (mut s, now) = session_in(State::OpenSent);
        s.handle(now, Event::Received(peer_open(65000, B_ADDR, hold)));
        assert_eq!(s.state(), State::OpenConfirm);
        assert_eq!(s.negotiated_hold_time(), Some(negotiated));
        if hold == 0 {
            assert_eq!(
                s.poll_timeout(),
                None,
                "hold 0: no keepalive, no hold timer"
            );
        }
    }
}

#[test]
fn fsm_errors_use_rfc6608_subcodes() {
    let ka = porter_bgp::wire::encode_keepalive();
    assert_notified_and_closed(&feed(State::OpenSent, ka), 5, 1);
    assert_notified_and_closed(&feed(State::OpenSent, update(&[], &[], &[])), 5, 1);
    assert_notified_and_closed(&feed(State::OpenConfirm, update(&[], &[], &[])), 5, 2);
    assert_notified_and_closed(
        &feed(State::OpenConfirm, peer_open(65000, B_ADDR, 90)),
        5,
        2,
    );
    assert_notified_and_closed(
        &feed(State::Established, peer_open(65000, B_ADDR, 90)),
        5,
        3,
    );
}

#[test]
fn update_session_reset_errors() {
    // Total path attribute length runs past the message: the NLRI cannot be located.
    let mut truncated = update(&[], GOOD_ATTRS, &[]).to_vec();
    truncated[21..23].copy_from_slice(&200u16.to_be_bytes());
    assert_notified_and_closed(&feed(State::Established, truncated.into()), 3, 1);
    // Withdrawn length past the message.
    let mut bad_w = update(&[], &[], &[]).to_vec();
    bad_w[19..21].copy_from_slice(&50u16.to_be_bytes());
    assert_notified_and_closed(&feed(State::Established, bad_w.into()), 3, 1);
    // NLRI prefix length 33 (RFC 7606 §5.3: unparseable NLRI is session reset).
    assert_notified_and_closed(
        &feed(
            State::Established,
            update(&[], GOOD_ATTRS, &[33, 1, 2, 3, 4, 5]),
        ),
        3,
        10,
    );
    // Truncated NLRI.
    assert_notified_and_closed(
        &feed(State::Established, update(&[], GOOD_ATTRS, &[32, 203, 0])),
        3,
        10,
    );
    // Malformed MP_REACH_NLRI (length says 30, only 5 octets of value): session reset (§7.11).
    let mut attrs = GOOD_ATTRS.to_vec();
    attrs.extend_from_slice(&[0x80, 14, 5, 0, 2, 1, 16, 0]);
    let actions = feed(State::Established, update(&[], &attrs, &[]));
    assert_notified_and_closed(&actions, 3, 9);
    let Some(Action::StateChanged { reason, .. }) = actions.last() else {
        panic!()
    };
    assert!(
        reason
            .starts_with("sent NOTIFICATION 3/9 (UPDATE Message Error: Optional Attribute Error)"),
        "{reason}"
    );
}

/// Feeds a clean announcement, then `bad`; the session must stay up and drop the prefix.
fn assert_treat_as_withdraw(bad: Bytes) {
    let (mut s, now) = session_in(State::Established);
    s.handle(
        now,
        Event::Received(update(&[], GOOD_ATTRS, NLRI_203_0_113_10)),
    );
    let p: Prefix = "203.0.113.10/32".parse().unwrap();
    assert_eq!(received(&s), [p].into());
    s.handle(now, Event::Received(bad));
    let actions = drain(&mut s);
    assert_eq!(s.state(), State::Established, "{actions:?}");
    assert!(actions.is_empty(), "no NOTIFICATION, no Close: {actions:?}");
    assert!(received(&s).is_empty(), "treated as withdraw");
    assert_eq!(s.stats().prefixes_received, 0);
}

#[test]
fn rfc7606_treat_as_withdraw_keeps_the_session() {
    // Malformed AS_PATH: segment claims 2 ASNs, carries 1 (RFC 7606 §7.2).
    let bad_as_path = [
        0x40, 1, 1, 0, 0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 10, 0, 0, 2,
    ];
    assert_treat_as_withdraw(update(&[], &bad_as_path, NLRI_203_0_113_10));
    // Invalid AS_PATH segment type 9.
    let bad_seg = [
        0x40, 1, 1, 0, 0x40, 2, 6, 9, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 10, 0, 0, 2,
    ];
    assert_treat_as_withdraw(update(&[], &bad_seg, NLRI_203_0_113_10));
    // Last attribute's length overruns the attribute section (RFC 7606 §4).
    let overrun = [
        0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 9, 10, 0, 0, 2,
    ];
    assert_treat_as_withdraw(update(&[], &overrun, NLRI_203_0_113_10));
    // Invalid ORIGIN value (§7.1) and missing NEXT_HOP (§3 (d)).
    let bad_origin = [
        0x40, 1, 1, 7, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 10, 0, 0, 2,
    ];
    assert_treat_as_withdraw(update(&[], &bad_origin, NLRI_203_0_113_10));
    assert_treat_as_withdraw(update(&[], &GOOD_ATTRS[..13], NLRI_203_0_113_10));
}

#[test]
fn received_notification_closes() {
    let (mut s, now) = session_in(State::Established);
    s.handle(now, Event::Received(msg(3, &[6, 2])));
    let actions = drain(&mut s);
    assert_eq!(actions[0], Action::Close);
    let Action::StateChanged {
        to: State::Idle,
        reason,
        ..
    } = &actions[1]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(
        reason,
        "received NOTIFICATION 6/2 (Cease: Administrative Shutdown)"
    );
    assert_eq!(s.stats().notifications_received, 1);
    assert!(s.poll_timeout().is_some(), "auto-restart armed");
}

#[test]
fn bytes_outside_a_connection_are_ignored() {
    let (mut s, now) = session_in(State::Established);
    s.handle(now, Event::TcpClosed);
    drain(&mut s);
    s.handle(now, Event::Received(msg(7, &[])));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.state(), State::Idle);
}

// ----- the rows of docs/rfc-errors.md (porter_bgp::wire::crafted) -----

fn params() -> Params {
    Params {
        local_as: 65001,
        local_id: A_ADDR,
        local_addr: A_ADDR,
        peer_as: 65000,
        peer_id: B_ADDR,
    }
}

/// Feeds one row to a session on a virtual clock and says what the session did, in the terms of
/// [`Answer`] (a NOTIFICATION carries the data actually sent).
fn answer_of(case: &Case) -> Answer {
    let p = params();
    let peer_as = crafted::peer_asn(&p, case.peering);
    let (mut s, now) = session_with(SessionConfig::new(
        p.local_as,
        p.local_id,
        peer_as,
        IpAddr::V4(p.peer_id),
    ));
    let mut now = now;
    if case.when >= When::OpenConfirm {
        s.handle(
            now,
            Event::Received(crafted::peer_open(&p, case.peering).into()),
        );
    }
    if case.when >= When::Established {
        s.handle(now, Event::Received(wire::encode_keepalive()));
        s.handle(
            now,
            Event::Received(
                crafted::good_update(&p, case.peering, &crafted::BASELINE_PREFIX).into(),
            ),
        );
        assert_eq!(
            received(&s),
            [prefix(&crafted::BASELINE_PREFIX)].into(),
            "{}",
            case.id
        );
    }
    let before = s.state();
    drain(&mut s);
    if case.bytes.is_empty() {
        now += Duration::from_secs(u64::from(case.peering.hold_time) + 1);
        s.handle_timeout(now);
    } else {
        s.handle(now, Event::Received(Bytes::from(case.bytes.clone())));
    }
    let actions = drain(&mut s);
    if let Some(n) = notifications(&actions).first() {
        assert_notified_and_closed(&actions, n.code, n.subcode);
        return Answer::Notify {
            code: n.code,
            subcode: n.subcode,
            data: Some(n.data.to_vec()),
        };
    }
    match s.state() {
        State::Idle => return Answer::CloseQuietly,
        State::OpenConfirm if before == State::OpenSent => return Answer::Accepted,
        State::Established => {}
        other => panic!("{}: unexpected state {other} after {actions:?}", case.id),
    }
    s.handle(
        now,
        Event::Received(crafted::good_update(&p, case.peering, &crafted::FOLLOW_UP_NLRI).into()),
    );
    assert_eq!(
        s.state(),
        State::Established,
        "{}: the session still reads",
        case.id
    );
    let [p1, p2] = [crafted::BASELINE_PREFIX, crafted::SECOND_PREFIX].map(|b| prefix(&b));
    let got = received(&s);
    let with = |extra: &[Prefix]| -> BTreeSet<Prefix> {
        crafted::FOLLOW_UP_NLRI
            .chunks_exact(5)
            .map(|c| prefix(&[c[0], c[1], c[2], c[3], c[4]]))
            .chain(extra.iter().copied())
            .collect()
    };
    let answer = if got == with(&[p1, p2]) {
        Answer::Installed
    } else if got == with(&[]) {
        Answer::Withdrawn
    } else if got == with(&[p1]) {
        Answer::Unchanged
    } else {
        panic!("{}: received {got:?}", case.id)
    };
    assert_eq!(answer.routes_after_follow_up(), Some(got.len()));
    answer
}

fn prefix(nlri: &[u8; 5]) -> Prefix {
    Prefix::new(
        IpAddr::V4(Ipv4Addr::new(nlri[1], nlri[2], nlri[3], nlri[4])),
        nlri[0],
    )
    .unwrap()
}

/// Whether `got` is the `expected` answer (a NOTIFICATION's data is compared when the row
/// fixes it).
pub fn same_answer(expected: &Answer, got: &Answer) -> bool {
    match (expected, got) {
        (
            Answer::Notify {
                code,
                subcode,
                data,
            },
            Answer::Notify {
                code: c,
                subcode: sc,
                data: d,
            },
        ) => {
            (code, subcode) == (c, sc) && data.as_ref().is_none_or(|data| Some(data) == d.as_ref())
        }
        _ => expected == got,
    }
}

#[test]
fn every_row_of_the_rfc_error_table_gets_its_answer() {
    let cases = crafted::cases(&params());
    let mut ids = BTreeSet::new();
    let mut wrong = Vec::new();
    for case in &cases {
        assert!(ids.insert(case.id), "duplicate row {}", case.id);
        let got = answer_of(case);
        if !same_answer(&case.answer, &got) {
            wrong.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.id, case.answer
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_row_is_in_the_doc_table() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/rfc-errors.md"
    ))
    .expect("docs/rfc-errors.md");
    for case in crafted::cases(&params()) {
        assert!(
            doc.contains(&format!("`{}`", case.id)),
            "row {} missing from docs/rfc-errors.md",
            case.id
        );
    }
}

// ----- what the rows' fixes must not break -----

/// An OPEN from the scripted peer (AS 65000) with the baseline capabilities and `extra`.
fn open_with_caps(extra: &[&[u8]]) -> Bytes {
    let mut caps: Vec<&[u8]> = vec![
        &[1, 4, 0, 1, 0, 1],
        &[1, 4, 0, 2, 0, 1],
        &[65, 4, 0, 0, 0xfd, 0xe8],
    ];
    caps.extend_from_slice(extra);
    crafted::open_raw(4, 65000, 90, B_ADDR, &crafted::capabilities(&caps)).into()
}

fn decoded_open(bytes: Bytes) -> wire::Open {
    match wire::decode_all(&bytes).unwrap().as_slice() {
        [wire::Message::Open(o)] => o.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn capabilities_with_unknown_entries_keep_the_entries_porter_knows() {
    // ADD-PATH for IPv4 unicast (send) and for AFI 25 / SAFI 70 (unknown to the codec), which
    // makes the codec keep the whole capability raw: Porter still reads the IPv4 entry.
    let o = decoded_open(open_with_caps(&[&[69, 8, 0, 1, 1, 2, 0, 25, 70, 1]]));
    assert_eq!(
        o.add_path.get(&porter_bgp::Family::Ipv4Unicast),
        Some(&wire::AddPathMode::Send)
    );
    // A Send/Receive value of 7 is not understood: that entry alone is ignored (RFC 7911 §4).
    let o = decoded_open(open_with_caps(&[&[69, 8, 0, 1, 1, 7, 0, 2, 1, 3]]));
    assert_eq!(o.add_path.get(&porter_bgp::Family::Ipv4Unicast), None);
    assert_eq!(
        o.add_path.get(&porter_bgp::Family::Ipv6Unicast),
        Some(&wire::AddPathMode::Both)
    );
    // Extended next hop: IPv4 unicast over IPv6 beside an entry for an unknown family.
    let o = decoded_open(open_with_caps(&[&[
        5, 12, 0, 1, 0, 1, 0, 2, 0, 25, 0, 70, 0, 2,
    ]]));
    assert!(o.extended_next_hop);
    assert!(
        o.other_capabilities.is_empty(),
        "{:?}",
        o.other_capabilities
    );
}

#[test]
fn malformed_capabilities_porter_does_not_use_are_ignored() {
    // Enhanced route refresh (70) of length 1: a capability the codec knows but Porter does
    // not use; RFC 5492 §3 lets a speaker ignore it.
    let (mut s, now) = session_in(State::OpenSent);
    s.handle(now, Event::Received(open_with_caps(&[&[70, 1, 0]])));
    assert_eq!(s.state(), State::OpenConfirm, "{:?}", drain(&mut s));
}

#[test]
fn route_refresh_subtypes_other_than_a_request_are_ignored() {
    for subtype in [1u8, 2, 9] {
        let (mut s, now) = session_in(State::Established);
        s.handle(
            now,
            Event::set_routes(["203.0.113.10/32".parse::<Prefix>().unwrap()]),
        );
        drain(&mut s);
        let bytes = crafted::message(5, &[0, 1, subtype, 1]);
        assert!(matches!(
            wire::decode_all(&bytes).unwrap().as_slice(),
            [wire::Message::RouteRefresh(None)]
        ));
        s.handle(now, Event::Received(bytes.into()));
        assert!(
            drain(&mut s).is_empty(),
            "subtype {subtype}: nothing re-sent"
        );
        assert_eq!(s.state(), State::Established);
    }
}

#[test]
fn local_pref_from_an_external_peer_is_ignored_and_from_an_internal_one_kept() {
    let p = params();
    let lp = crafted::attr(0x40, 5, &[0, 0, 0, 200]);
    let nlri = crafted::BASELINE_PREFIX;
    let ebgp = [crafted::good_attrs(&p, crafted::Peering::EBGP), lp].concat();
    let (mut s, now) = session_in(State::Established);
    s.handle(
        now,
        Event::Received(crafted::update(&[], &ebgp, &nlri).into()),
    );
    let attrs = s.received_routes().values().next().cloned().unwrap();
    assert_eq!(attrs.local_pref, None, "RFC 4271 §5.1.5: ignored from eBGP");

    let p = params();
    let (mut s, now) = session_with(SessionConfig::new(65001, A_ADDR, 65001, IpAddr::V4(B_ADDR)));
    s.handle(
        now,
        Event::Received(crafted::peer_open(&p, crafted::Peering::IBGP).into()),
    );
    s.handle(now, Event::Received(wire::encode_keepalive()));
    let ibgp = [
        crafted::attr(0x40, 1, &[0]),
        crafted::attr(0x40, 2, &[]),
        crafted::attr(0x40, 3, &[10, 0, 0, 2]),
        crafted::attr(0x40, 5, &[0, 0, 0, 200]),
    ]
    .concat();
    s.handle(
        now,
        Event::Received(crafted::update(&[], &ibgp, &nlri).into()),
    );
    assert_eq!(s.state(), State::Established);
    let attrs = s.received_routes().values().next().cloned().unwrap();
    assert_eq!(attrs.local_pref, Some(200));
}

#[test]
fn with_extended_messages_open_and_keepalive_stay_within_4096() {
    // Both sides offer RFC 8654 extended messages: an UPDATE may be larger than 4096, an OPEN
    // or KEEPALIVE never (RFC 8654: they are not extended).
    let mut config = a_config();
    config.extended_messages = true;
    for (msg_type, expect_len_error) in [(2u8, false), (4, true), (1, true)] {
        let (mut s, now) = session_with(config.clone());
        s.handle(now, Event::Received(open_with_caps(&[&[6, 0]])));
        s.handle(now, Event::Received(wire::encode_keepalive()));
        assert_eq!(s.state(), State::Established);
        drain(&mut s);
        // 5000 octets: for an UPDATE, one withdrawn /32 repeated and a /8, which parses.
        let bytes = if msg_type == 2 {
            let withdrawn: Vec<u8> = std::iter::repeat_n([32u8, 203, 0, 113, 10], 995)
                .flatten()
                .chain([8, 10])
                .collect();
            crafted::update(&withdrawn, &[], &[])
        } else {
            let mut h = crafted::header(msg_type, 5000);
            h.resize(5000, 0);
            h
        };
        assert_eq!(bytes.len(), 5000);
        s.handle(now, Event::Received(bytes.into()));
        let actions = drain(&mut s);
        if expect_len_error {
            let n = assert_notified_and_closed(&actions, 1, 2);
            assert_eq!(n.data.as_ref(), 5000u16.to_be_bytes());
        } else {
            assert_eq!(s.state(), State::Established, "{actions:?}");
        }
    }
}

#[test]
fn unrecognized_well_known_attribute_is_sent_back_as_it_came() {
    // Extended Length set on a 2-octet value: the data keeps the 4-octet header.
    let p = params();
    let unknown = crafted::attr(0x50, 99, &[1, 2]);
    assert_eq!(unknown, [0x50, 99, 0, 2, 1, 2]);
    let attrs = [
        crafted::good_attrs(&p, crafted::Peering::EBGP),
        unknown.clone(),
    ]
    .concat();
    let (mut s, now) = session_in(State::Established);
    s.handle(
        now,
        Event::Received(crafted::update(&[], &attrs, &crafted::BASELINE_PREFIX).into()),
    );
    let n = assert_notified_and_closed(&drain(&mut s), 3, 2);
    assert_eq!(n.data.as_ref(), unknown.as_slice());
}
