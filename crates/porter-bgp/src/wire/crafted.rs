//! Crafted malformed messages, each with the answer the RFCs ask for: the rows of
//! `docs/rfc-errors.md`.
//!
//! One table serves every layer that checks them: porter-bgp's session tests feed each row to a
//! [`Session`](crate::Session), porter-speaker's bad-peer tests send each row over real TCP to a
//! running speaker, and the fuzz seeds start from them. Keeping the bytes here, beside the
//! decoder, means a row is written once and the two test layers cannot drift apart.
//!
//! Each row says in which state the bytes arrive ([`When`]), on what kind of session
//! ([`Peering`]), and what must happen ([`Answer`]). The rows only build bytes; they decide
//! nothing.

use std::net::Ipv4Addr;

/// The two ends of the session a row runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Porter's AS.
    pub local_as: u32,
    /// Porter's BGP identifier.
    pub local_id: Ipv4Addr,
    /// Porter's address on the connection.
    pub local_addr: Ipv4Addr,
    /// The crafting peer's AS on an external session (on an internal one it is `local_as`).
    pub peer_as: u32,
    /// The crafting peer's BGP identifier.
    pub peer_id: Ipv4Addr,
}

/// The kind of session a row needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peering {
    /// Internal peer (same AS).
    pub ibgp: bool,
    /// The peer sends the 4-octet AS capability (else it is an "OLD" speaker, RFC 6793).
    pub four_octet: bool,
    /// Hold time in the peer's OPEN.
    pub hold_time: u16,
}

impl Peering {
    /// eBGP, 4-octet AS, hold time 90: what most rows run on.
    pub const EBGP: Peering = Peering {
        ibgp: false,
        four_octet: true,
        hold_time: 90,
    };
    /// iBGP, 4-octet AS, hold time 90.
    pub const IBGP: Peering = Peering {
        ibgp: true,
        ..Peering::EBGP
    };
    /// eBGP with a peer that does not send the 4-octet AS capability (RFC 6793 "OLD" speaker).
    pub const OLD_SPEAKER: Peering = Peering {
        four_octet: false,
        ..Peering::EBGP
    };
}

/// When the crafted bytes are sent (in the order a session goes through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum When {
    /// Right after Porter's OPEN, instead of the peer's OPEN.
    OpenSent,
    /// After the peer's OPEN, instead of its KEEPALIVE.
    OpenConfirm,
    /// On an Established session where the peer announced [`BASELINE_PREFIX`].
    Established,
}

/// What Porter must do with the crafted bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send exactly this NOTIFICATION and close; `data: None` when the RFC fixes no data.
    Notify {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
        /// The Data field, when the RFC says what it holds.
        data: Option<Vec<u8>>,
    },
    /// Close without a NOTIFICATION (RFC 4271 §6.4: no NOTIFICATION answers a NOTIFICATION).
    CloseQuietly,
    /// The OPEN is accepted: the session comes up.
    Accepted,
    /// Treat-as-withdraw (RFC 7606 §2): the routes of the UPDATE, including the baseline
    /// prefix it announces again, are withdrawn; the session stays up.
    Withdrawn,
    /// The routes of the UPDATE are installed (nothing wrong, or only attributes discarded).
    Installed,
    /// Nothing changes (an UPDATE without routes whose only error is an attribute discard);
    /// the session stays up.
    Unchanged,
}

/// One row: the crafted bytes and the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Short stable name, the row's name in `docs/rfc-errors.md`.
    pub id: &'static str,
    /// The RFC section that fixes the answer.
    pub rfc: &'static str,
    /// The session the row runs on.
    pub peering: Peering,
    /// When the bytes are sent.
    pub when: When,
    /// The crafted bytes (one or more messages, or nothing: wait for the hold timer).
    pub bytes: Vec<u8>,
    /// The answer.
    pub answer: Answer,
}

/// The prefix the peer announces before an [`When::Established`] row (198.51.100.1/32).
pub const BASELINE_PREFIX: [u8; 5] = [32, 198, 51, 100, 1];
/// The second prefix every crafted announcement carries (198.51.100.2/32).
pub const SECOND_PREFIX: [u8; 5] = [32, 198, 51, 100, 2];
/// Three prefixes for a clean UPDATE sent after a row, to see that the session still reads
/// (198.51.100.3/32, .4/32, .5/32). Three, so that the count of received routes after it (5, 3
/// or 4 for [`Answer::Installed`], [`Answer::Withdrawn`], [`Answer::Unchanged`]) is never one a
/// session passes through before it (1 before the row; 2, 0 or 1 after it).
pub const FOLLOW_UP_NLRI: [u8; 15] = [
    32, 198, 51, 100, 3, 32, 198, 51, 100, 4, 32, 198, 51, 100, 5,
];

impl Answer {
    /// For the answers that keep the session: how many routes the peer has after the row and
    /// the [`FOLLOW_UP_NLRI`] announcement.
    pub fn routes_after_follow_up(&self) -> Option<usize> {
        match self {
            Answer::Installed => Some(5),
            Answer::Withdrawn => Some(3),
            Answer::Unchanged => Some(4),
            _ => None,
        }
    }
}

const MARKER: [u8; 16] = [0xff; 16];
const AS_TRANS: u32 = 23456;

/// A message with a correct header around `body`.
pub fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut v = MARKER.to_vec();
    let len = u16::try_from(19 + body.len()).unwrap_or(u16::MAX);
    v.extend_from_slice(&len.to_be_bytes());
    v.push(msg_type);
    v.extend_from_slice(body);
    v
}

/// A header only, claiming `len` octets of type `msg_type`.
pub fn header(msg_type: u8, len: u16) -> Vec<u8> {
    let mut v = MARKER.to_vec();
    v.extend_from_slice(&len.to_be_bytes());
    v.push(msg_type);
    v
}

/// An UPDATE from its three parts.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = |b: &[u8]| u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
    let mut body = len(withdrawn).to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&len(attrs));
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

/// A path attribute (flags, type, length, value); extended length when the flags say so.
pub fn attr(flags: u8, type_code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, type_code];
    if flags & 0x10 != 0 {
        v.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
    } else {
        v.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
    }
    v.extend_from_slice(value);
    v
}

/// An OPEN from its fields and raw optional parameters.
pub fn open_raw(version: u8, my_as: u16, hold: u16, id: Ipv4Addr, params: &[u8]) -> Vec<u8> {
    let mut body = vec![version];
    body.extend_from_slice(&my_as.to_be_bytes());
    body.extend_from_slice(&hold.to_be_bytes());
    body.extend_from_slice(&id.octets());
    body.push(u8::try_from(params.len()).unwrap_or(u8::MAX));
    body.extend_from_slice(params);
    message(1, &body)
}

/// Optional parameter 2 (Capabilities) holding `caps`.
pub fn capabilities(caps: &[&[u8]]) -> Vec<u8> {
    let inner: Vec<u8> = caps.concat();
    let mut v = vec![2, u8::try_from(inner.len()).unwrap_or(u8::MAX)];
    v.extend_from_slice(&inner);
    v
}

const CAP_MP_V4: &[u8] = &[1, 4, 0, 1, 0, 1];
const CAP_MP_V6: &[u8] = &[1, 4, 0, 2, 0, 1];
const CAP_ROUTE_REFRESH: &[u8] = &[2, 0];

fn cap_four_octet(asn: u32) -> Vec<u8> {
    let mut v = vec![65, 4];
    v.extend_from_slice(&asn.to_be_bytes());
    v
}

fn my_as(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS as u16)
}

/// The AS of the crafting peer on `peering`.
pub fn peer_asn(p: &Params, peering: Peering) -> u32 {
    if peering.ibgp { p.local_as } else { p.peer_as }
}

/// The peer's OPEN for `peering`, with `extra` capabilities and its own `asn`, hold time and id.
fn open_with(peering: Peering, asn: u32, hold: u16, id: Ipv4Addr, extra: &[&[u8]]) -> Vec<u8> {
    let four = cap_four_octet(asn);
    let mut caps: Vec<&[u8]> = vec![CAP_MP_V4, CAP_MP_V6, CAP_ROUTE_REFRESH];
    if peering.four_octet {
        caps.push(&four);
    }
    caps.extend_from_slice(extra);
    open_raw(4, my_as(asn), hold, id, &capabilities(&caps))
}

/// The peer's well-formed OPEN on `peering`.
pub fn peer_open(p: &Params, peering: Peering) -> Vec<u8> {
    open_with(
        peering,
        peer_asn(p, peering),
        peering.hold_time,
        p.peer_id,
        &[],
    )
}

fn as_path(p: &Params, peering: Peering) -> Vec<u8> {
    if peering.ibgp {
        return attr(0x40, 2, &[]);
    }
    let mut seg = vec![2, 1];
    if peering.four_octet {
        seg.extend_from_slice(&p.peer_as.to_be_bytes());
    } else {
        seg.extend_from_slice(&my_as(p.peer_as).to_be_bytes());
    }
    attr(0x40, 2, &seg)
}

fn origin() -> Vec<u8> {
    attr(0x40, 1, &[0])
}

fn next_hop() -> Vec<u8> {
    attr(0x40, 3, &[10, 0, 0, 2])
}

fn local_pref() -> Vec<u8> {
    attr(0x40, 5, &[0, 0, 0, 100])
}

/// ORIGIN, AS_PATH, NEXT_HOP (and LOCAL_PREF on iBGP): a clean attribute list.
pub fn good_attrs(p: &Params, peering: Peering) -> Vec<u8> {
    let mut v = [origin(), as_path(p, peering), next_hop()].concat();
    if peering.ibgp {
        v.extend(local_pref());
    }
    v
}

/// A clean UPDATE announcing `nlri` on `peering`.
pub fn good_update(p: &Params, peering: Peering, nlri: &[u8]) -> Vec<u8> {
    update(&[], &good_attrs(p, peering), nlri)
}

/// The baseline and second prefix, the NLRI of every crafted announcement.
fn both_prefixes() -> Vec<u8> {
    [BASELINE_PREFIX, SECOND_PREFIX].concat()
}

fn notify(code: u8, subcode: u8, data: Option<Vec<u8>>) -> Answer {
    Answer::Notify {
        code,
        subcode,
        data,
    }
}

/// Every row, for a session between `p`'s two ends.
pub fn cases(p: &Params) -> Vec<Case> {
    let mut rows = Vec::new();
    header_rows(&mut rows);
    open_rows(p, &mut rows);
    update_rows(p, &mut rows);
    other_rows(p, &mut rows);
    rows
}

fn row(id: &'static str, rfc: &'static str, when: When, bytes: Vec<u8>, answer: Answer) -> Case {
    Case {
        id,
        rfc,
        peering: Peering::EBGP,
        when,
        bytes,
        answer,
    }
}

fn header_rows(rows: &mut Vec<Case>) {
    use When::*;
    let len = |l: u16| Some(l.to_be_bytes().to_vec());
    let mut bad_marker = header(4, 19);
    bad_marker[3] = 0;
    rows.push(row(
        "header-marker",
        "RFC 4271 §6.1",
        OpenSent,
        bad_marker,
        notify(1, 1, Some(vec![])),
    ));
    rows.push(row(
        "header-length-18",
        "RFC 4271 §6.1",
        OpenSent,
        header(4, 18),
        notify(1, 2, len(18)),
    ));
    rows.push(row(
        "header-length-4097",
        "RFC 4271 §6.1, RFC 8654",
        Established,
        header(2, 4097),
        notify(1, 2, len(4097)),
    ));
    rows.push(row(
        "header-open-4097",
        "RFC 8654",
        OpenSent,
        header(1, 4097),
        notify(1, 2, len(4097)),
    ));
    rows.push(row(
        "header-type-9",
        "RFC 4271 §6.1",
        OpenSent,
        message(9, &[]),
        notify(1, 3, Some(vec![9])),
    ));
    rows.push(row(
        "open-shorter-than-29",
        "RFC 4271 §6.1",
        OpenSent,
        message(1, &[4, 0xfc, 0, 0, 90, 10, 0, 0, 254]),
        notify(1, 2, len(28)),
    ));
    rows.push(row(
        "update-shorter-than-23",
        "RFC 4271 §6.1",
        Established,
        message(2, &[0, 0, 0]),
        notify(1, 2, len(22)),
    ));
    rows.push(row(
        "notification-shorter-than-21",
        "RFC 4271 §6.1",
        Established,
        message(3, &[6]),
        notify(1, 2, len(20)),
    ));
    rows.push(row(
        "keepalive-not-19",
        "RFC 4271 §6.1",
        Established,
        message(4, &[0]),
        notify(1, 2, len(20)),
    ));
    let short_rr = message(5, &[0, 1, 0]);
    rows.push(row(
        "route-refresh-not-23",
        "RFC 7313 §5",
        Established,
        short_rr.clone(),
        notify(7, 1, Some(short_rr)),
    ));
    let long_rr = message(5, &[0, 1, 0, 1, 1]);
    rows.push(row(
        "route-refresh-with-orf",
        "RFC 7313 §5, RFC 5291",
        Established,
        long_rr.clone(),
        notify(7, 1, Some(long_rr)),
    ));
}

fn open_rows(p: &Params, rows: &mut Vec<Case>) {
    use When::*;
    let e = Peering::EBGP;
    let open =
        |asn: u32, hold: u16, id: Ipv4Addr, extra: &[&[u8]]| open_with(e, asn, hold, id, extra);
    let good = peer_asn(p, e);
    let mut v3 = open(good, 90, p.peer_id, &[]);
    v3[19] = 3;
    rows.push(row(
        "open-version-3",
        "RFC 4271 §6.2",
        OpenSent,
        v3,
        notify(2, 1, Some(vec![0, 4])),
    ));
    rows.push(row(
        "open-wrong-peer-as",
        "RFC 4271 §6.2",
        OpenSent,
        open(good.wrapping_add(1), 90, p.peer_id, &[]),
        notify(2, 2, None),
    ));
    let as_trans = open_raw(
        4,
        AS_TRANS as u16,
        90,
        p.peer_id,
        &capabilities(&[CAP_MP_V4, &cap_four_octet(AS_TRANS)]),
    );
    rows.push(row(
        "open-as-trans-in-capability",
        "RFC 6793, Porter's choice",
        OpenSent,
        as_trans,
        notify(2, 2, None),
    ));
    let as_zero = open_raw(4, 0, 90, p.peer_id, &capabilities(&[CAP_MP_V4]));
    rows.push(row(
        "open-as-zero",
        "RFC 7607 §2",
        OpenSent,
        as_zero,
        notify(2, 2, None),
    ));
    rows.push(row(
        "open-hold-time-1",
        "RFC 4271 §6.2",
        OpenSent,
        open(good, 1, p.peer_id, &[]),
        notify(2, 6, None),
    ));
    rows.push(row(
        "open-hold-time-2",
        "RFC 4271 §6.2",
        OpenSent,
        open(good, 2, p.peer_id, &[]),
        notify(2, 6, None),
    ));
    rows.push(row(
        "open-hold-time-0",
        "RFC 4271 §4.2",
        OpenSent,
        open(good, 0, p.peer_id, &[]),
        Answer::Accepted,
    ));
    rows.push(row(
        "open-bgp-id-zero",
        "RFC 4271 §6.2, RFC 6286",
        OpenSent,
        open(good, 90, Ipv4Addr::UNSPECIFIED, &[]),
        notify(2, 3, None),
    ));
    let same_id = open_with(Peering::IBGP, p.local_as, 90, p.local_id, &[]);
    rows.push(Case {
        peering: Peering::IBGP,
        ..row(
            "open-bgp-id-ours-ibgp",
            "RFC 6286",
            OpenSent,
            same_id,
            notify(2, 3, None),
        )
    });
    let auth = open_raw(4, my_as(good), 90, p.peer_id, &[1, 2, 0, 0]);
    rows.push(row(
        "open-unsupported-parameter",
        "RFC 4271 §6.2",
        OpenSent,
        auth,
        notify(2, 4, None),
    ));
    // Capabilities parameter of length 4 holding a capability that claims 6 octets.
    let truncated_cap = open_raw(4, my_as(good), 90, p.peer_id, &[2, 4, 1, 6, 0, 1]);
    rows.push(row(
        "open-parameter-malformed",
        "RFC 4271 §6.2",
        OpenSent,
        truncated_cap,
        notify(2, 0, None),
    ));
    let mut mismatch = open(good, 90, p.peer_id, &[]);
    mismatch[28] += 1;
    rows.push(row(
        "open-parameters-length-mismatch",
        "RFC 4271 §6.2",
        OpenSent,
        mismatch,
        notify(2, 0, None),
    ));
    let four_len_2 = open_raw(
        4,
        my_as(good),
        90,
        p.peer_id,
        &capabilities(&[CAP_MP_V4, &[65, 2, 0xfc, 0]]),
    );
    rows.push(row(
        "open-four-octet-capability-length-2",
        "RFC 6793 §3, RFC 4271 §6.2",
        OpenSent,
        four_len_2,
        notify(2, 0, None),
    ));
    rows.push(row(
        "open-multiprotocol-capability-length-3",
        "RFC 4760 §8, RFC 4271 §6.2",
        OpenSent,
        open(good, 90, p.peer_id, &[&[1, 3, 0, 1, 1]]),
        notify(2, 0, None),
    ));
    rows.push(row(
        "open-extended-message-capability-length-1",
        "RFC 8654, RFC 4271 §6.2",
        OpenSent,
        open(good, 90, p.peer_id, &[&[6, 1, 0]]),
        notify(2, 0, None),
    ));
    rows.push(row(
        "open-add-path-capability-length-3",
        "RFC 7911 §4, RFC 4271 §6.2",
        OpenSent,
        open(good, 90, p.peer_id, &[&[69, 3, 0, 1, 1]]),
        notify(2, 0, None),
    ));
    rows.push(row(
        "open-unknown-capability",
        "RFC 5492 §3",
        OpenSent,
        open(good, 90, p.peer_id, &[&[200, 3, 0xde, 0xad, 0xbe]]),
        Answer::Accepted,
    ));
    rows.push(row(
        "open-multiprotocol-unknown-family",
        "RFC 4760 §8, RFC 5492 §3",
        OpenSent,
        open(good, 90, p.peer_id, &[&[1, 4, 0, 25, 0, 70]]),
        Answer::Accepted,
    ));
}

fn update_rows(p: &Params, rows: &mut Vec<Case>) {
    use When::Established;
    let e = Peering::EBGP;
    let i = Peering::IBGP;
    let nlri = both_prefixes();
    let (o, ap, nh) = (origin(), as_path(p, e), next_hop());
    let good = good_attrs(p, e);
    let with = |extra: &[u8]| [good.as_slice(), extra].concat();
    let announce = |attrs: &[u8]| update(&[], attrs, &nlri);
    let ebgp = |id, rfc, bytes, answer| row(id, rfc, Established, bytes, answer);
    let ibgp = |id, rfc, bytes, answer| Case {
        peering: i,
        ..row(id, rfc, Established, bytes, answer)
    };
    let data = |bytes: Vec<u8>| Some(bytes);

    // Lengths of the UPDATE's own fields.
    let mut bad_withdrawn = announce(&good);
    bad_withdrawn[19..21].copy_from_slice(&500u16.to_be_bytes());
    rows.push(ebgp(
        "update-withdrawn-length-past-message",
        "RFC 4271 §6.3, RFC 7606 §4",
        bad_withdrawn,
        notify(3, 1, None),
    ));
    let mut bad_attr_len = announce(&good);
    bad_attr_len[21..23].copy_from_slice(&500u16.to_be_bytes());
    rows.push(ebgp(
        "update-attribute-length-past-message",
        "RFC 4271 §6.3, RFC 7606 §4",
        bad_attr_len,
        notify(3, 1, None),
    ));
    let overrun = [o.as_slice(), &ap, &[0x40, 3, 9, 10, 0, 0, 2]].concat();
    rows.push(ebgp(
        "update-attribute-overruns-list",
        "RFC 7606 §4",
        announce(&overrun),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-attribute-header-truncated",
        "RFC 7606 §4",
        announce(&with(&[0x40, 8])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-extended-length-header-truncated",
        "RFC 7606 §4",
        announce(&with(&[0xd0, 8, 0])),
        Answer::Withdrawn,
    ));

    // Presence, flags and recognition.
    let optional_origin = attr(0xc0, 1, &[0]);
    rows.push(ebgp(
        "update-origin-flags",
        "RFC 4271 §6.3, RFC 7606 §3 (c)",
        announce(&[optional_origin.as_slice(), &ap, &nh].concat()),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-missing-origin",
        "RFC 7606 §3 (d)",
        announce(&[ap.as_slice(), &nh].concat()),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-missing-as-path",
        "RFC 7606 §3 (d)",
        announce(&[o.as_slice(), &nh].concat()),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-missing-next-hop",
        "RFC 7606 §3 (d)",
        announce(&[o.as_slice(), &ap].concat()),
        Answer::Withdrawn,
    ));
    let ibgp_path = as_path(p, i);
    rows.push(ibgp(
        "update-missing-next-hop-ibgp",
        "RFC 4271 §5.1.3, RFC 7606 §3 (d)",
        announce(&[o.as_slice(), &ibgp_path, &local_pref()].concat()),
        Answer::Withdrawn,
    ));
    rows.push(ibgp(
        "update-missing-local-pref-ibgp",
        "RFC 4271 §5.1.5, RFC 7606 §3 (d)",
        announce(&[o.as_slice(), &ibgp_path, &nh].concat()),
        Answer::Withdrawn,
    ));
    let unknown_wk = attr(0x40, 99, &[1, 2]);
    rows.push(ebgp(
        "update-unrecognized-well-known",
        "RFC 4271 §6.3",
        announce(&with(&unknown_wk)),
        notify(3, 2, data(unknown_wk.clone())),
    ));
    rows.push(ebgp(
        "update-unknown-optional-transitive",
        "RFC 4271 §5",
        announce(&with(&attr(0xc0, 99, &[1, 2]))),
        Answer::Installed,
    ));
    rows.push(ebgp(
        "update-unknown-optional-non-transitive",
        "RFC 4271 §5",
        announce(&with(&attr(0x80, 99, &[1, 2]))),
        Answer::Installed,
    ));
    rows.push(ebgp(
        "update-duplicate-origin",
        "RFC 7606 §3 (g)",
        announce(&with(&attr(0x40, 1, &[2]))),
        Answer::Installed,
    ));
    let mp_unreach = attr(0x80, 15, &[0, 2, 1]);
    let mp_reach = attr(
        0x80,
        14,
        &[
            0, 2, 1, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 128, 0x20, 1,
            0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ],
    );
    rows.push(ebgp(
        "update-duplicate-mp-reach",
        "RFC 7606 §3 (g)",
        update(
            &[],
            &[o.as_slice(), &ap, &mp_reach, &mp_reach].concat(),
            &[],
        ),
        notify(3, 1, None),
    ));
    rows.push(ebgp(
        "update-duplicate-mp-unreach",
        "RFC 7606 §3 (g)",
        update(&[], &[mp_unreach.as_slice(), &mp_unreach].concat(), &[]),
        notify(3, 1, None),
    ));

    // Per attribute (RFC 7606 §7).
    let replace = |idx: usize, a: Vec<u8>| {
        let mut parts = [o.clone(), ap.clone(), nh.clone()];
        parts[idx] = a;
        announce(&parts.concat())
    };
    rows.push(ebgp(
        "update-origin-length-2",
        "RFC 7606 §7.1",
        replace(0, attr(0x40, 1, &[0, 0])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-origin-value-7",
        "RFC 7606 §7.1",
        replace(0, attr(0x40, 1, &[7])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-as-path-segment-overrun",
        "RFC 7606 §7.2",
        replace(1, attr(0x40, 2, &[2, 2, 0, 0, 0xfc, 0])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-as-path-segment-type-9",
        "RFC 7606 §7.2",
        replace(1, attr(0x40, 2, &[9, 1, 0, 0, 0xfc, 0])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-as-path-empty-segment",
        "RFC 7606 §7.2",
        replace(1, attr(0x40, 2, &[2, 0])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-as-path-as-set",
        "RFC 9774",
        replace(1, attr(0x40, 2, &[1, 1, 0, 0, 0xfc, 0])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-as-path-confed-from-ebgp",
        "RFC 7606 §7.2, RFC 5065",
        replace(
            1,
            attr(0x40, 2, &[3, 1, 0, 0, 0xfc, 0, 2, 1, 0, 0, 0xfc, 0]),
        ),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-next-hop-length-5",
        "RFC 7606 §7.3",
        replace(2, attr(0x40, 3, &[10, 0, 0, 2, 0])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-next-hop-0.0.0.0",
        "RFC 4271 §6.3, RFC 7606 §7.3",
        replace(2, attr(0x40, 3, &[0, 0, 0, 0])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-next-hop-multicast",
        "RFC 4271 §6.3, RFC 7606 §7.3",
        replace(2, attr(0x40, 3, &[224, 0, 0, 1])),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-next-hop-own-address",
        "RFC 4271 §6.3",
        replace(2, attr(0x40, 3, &p.local_addr.octets())),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-med-length-3",
        "RFC 7606 §7.4",
        announce(&with(&attr(0x80, 4, &[0, 0, 1]))),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-local-pref-from-ebgp",
        "RFC 4271 §5.1.5, RFC 7606 §7.5",
        announce(&with(&local_pref())),
        Answer::Installed,
    ));
    rows.push(ebgp(
        "update-local-pref-length-3-ebgp",
        "RFC 7606 §7.5",
        announce(&with(&attr(0x40, 5, &[0, 0, 1]))),
        Answer::Installed,
    ));
    let ibgp_good = good_attrs(p, i);
    let ibgp_lp3 = [o.as_slice(), &ibgp_path, &nh, &attr(0x40, 5, &[0, 0, 1])].concat();
    rows.push(ibgp(
        "update-local-pref-length-3-ibgp",
        "RFC 7606 §7.5",
        announce(&ibgp_lp3),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-atomic-aggregate-length-1",
        "RFC 7606 §7.6",
        announce(&with(&attr(0x40, 6, &[0]))),
        Answer::Installed,
    ));
    rows.push(ebgp(
        "update-aggregator-length-5",
        "RFC 7606 §7.7",
        announce(&with(&attr(0xc0, 7, &[0, 0, 0xfc, 10, 0]))),
        Answer::Installed,
    ));
    rows.push(ebgp(
        "update-community-length-3",
        "RFC 7606 §7.8",
        announce(&with(&attr(0xc0, 8, &[0, 0, 1]))),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-originator-id-from-ebgp",
        "RFC 7606 §7.9",
        announce(&with(&attr(0x80, 9, &[10, 0, 0, 9]))),
        Answer::Installed,
    ));
    rows.push(ibgp(
        "update-originator-id-length-3-ibgp",
        "RFC 7606 §7.9",
        announce(&[ibgp_good.as_slice(), &attr(0x80, 9, &[10, 0, 0])].concat()),
        Answer::Withdrawn,
    ));
    rows.push(ibgp(
        "update-cluster-list-length-3-ibgp",
        "RFC 7606 §7.10",
        announce(&[ibgp_good.as_slice(), &attr(0x80, 10, &[10, 0, 0])].concat()),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-extended-community-length-7",
        "RFC 7606 §7.14",
        announce(&with(&attr(0xc0, 16, &[0, 2, 0, 0, 0, 0, 1]))),
        Answer::Withdrawn,
    ));
    rows.push(ebgp(
        "update-large-community-length-11",
        "RFC 8092 §6",
        announce(&with(&attr(0xc0, 32, &[0; 11]))),
        Answer::Withdrawn,
    ));

    // MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §7, RFC 7606 §7.11, §7.12).
    let mut bad_nh_len = mp_reach.clone();
    bad_nh_len[6] = 5;
    rows.push(ebgp(
        "update-mp-reach-next-hop-length-5",
        "RFC 7606 §7.11, RFC 4760 §7",
        update(&[], &[o.as_slice(), &ap, &bad_nh_len].concat(), &[]),
        notify(3, 9, None),
    ));
    rows.push(ebgp(
        "update-mp-reach-truncated",
        "RFC 7606 §7.11, RFC 4760 §7",
        update(
            &[],
            &[o.as_slice(), &ap, &attr(0x80, 14, &[0, 2])].concat(),
            &[],
        ),
        notify(3, 9, None),
    ));
    rows.push(ebgp(
        "update-mp-unreach-truncated",
        "RFC 7606 §7.12, RFC 4760 §7",
        update(&[], &attr(0x80, 15, &[0, 2]), &[]),
        notify(3, 9, None),
    ));
    let mut v6_prefix_129 = mp_reach.clone();
    let last = v6_prefix_129.len() - 17;
    v6_prefix_129[last] = 129;
    rows.push(ebgp(
        "update-mp-reach-prefix-length-129",
        "RFC 7606 §5.3, RFC 4760 §7",
        update(&[], &[o.as_slice(), &ap, &v6_prefix_129].concat(), &[]),
        notify(3, 9, None),
    ));

    // NLRI fields (RFC 7606 §5.3).
    rows.push(ebgp(
        "update-nlri-prefix-length-33",
        "RFC 4271 §6.3, RFC 7606 §5.3",
        update(&[], &good, &[33, 198, 51, 100, 1, 0]),
        notify(3, 10, None),
    ));
    rows.push(ebgp(
        "update-nlri-truncated",
        "RFC 4271 §6.3, RFC 7606 §5.3",
        update(&[], &good, &[32, 198, 51]),
        notify(3, 10, None),
    ));
    rows.push(ebgp(
        "update-withdrawn-prefix-length-33",
        "RFC 4271 §6.3, RFC 7606 §5.3",
        update(&[33, 198, 51, 100, 1, 0], &[], &[]),
        notify(3, 10, None),
    ));

    // RFC 7606 §5.2: attributes but no reachable NLRI.
    let short_med = attr(0x80, 4, &[0, 0, 1]);
    rows.push(ebgp(
        "update-no-nlri-malformed-attribute",
        "RFC 7606 §5.2",
        update(&[], &[o.as_slice(), &ap, &short_med].concat(), &[]),
        notify(3, 5, data(short_med.clone())),
    ));
    rows.push(ebgp(
        "update-no-nlri-attribute-discard",
        "RFC 7606 §5.2, §7.6",
        update(
            &[],
            &[o.as_slice(), &ap, &attr(0x40, 6, &[0])].concat(),
            &[],
        ),
        Answer::Unchanged,
    ));

    // RFC 6793: AS4_PATH and AS4_AGGREGATOR.
    let old = Peering::OLD_SPEAKER;
    let old_attrs = good_attrs(p, old);
    let as4_path_overrun = attr(0xc0, 17, &[2, 2, 0, 0, 0xfc, 0]);
    rows.push(Case {
        peering: old,
        ..row(
            "update-as4-path-malformed-from-old-speaker",
            "RFC 6793 §6, RFC 7606 §7.2",
            Established,
            announce(&[old_attrs.as_slice(), &as4_path_overrun].concat()),
            Answer::Installed,
        )
    });
    rows.push(Case {
        peering: old,
        ..row(
            "update-as4-aggregator-length-5-from-old-speaker",
            "RFC 6793 §6, RFC 7606 §7.7",
            Established,
            announce(
                &[
                    old_attrs.as_slice(),
                    &attr(0xc0, 7, &[0xfc, 0, 10, 0, 0, 1]),
                    &attr(0xc0, 18, &[0, 0, 0xfc, 10, 0]),
                ]
                .concat(),
            ),
            Answer::Installed,
        )
    });
    rows.push(ebgp(
        "update-as4-path-from-new-speaker",
        "RFC 6793 §6",
        announce(&with(&attr(0xc0, 17, &[2, 1, 0, 0, 0xfc, 0]))),
        Answer::Installed,
    ));
}

fn other_rows(p: &Params, rows: &mut Vec<Case>) {
    use When::*;
    let e = Peering::EBGP;
    let good_update = good_update(p, e, &both_prefixes());
    // NOTIFICATION (RFC 4271 §6.4): never answered with a NOTIFICATION.
    rows.push(row(
        "notification-unknown-code",
        "RFC 4271 §6.4",
        Established,
        message(3, &[9, 9]),
        Answer::CloseQuietly,
    ));
    rows.push(row(
        "notification-in-open-sent",
        "RFC 4271 §8.2.2",
        OpenSent,
        message(3, &[6, 2]),
        Answer::CloseQuietly,
    ));
    // Hold timer (RFC 4271 §6.5): the peer goes silent on a session with hold time 3.
    rows.push(Case {
        peering: Peering { hold_time: 3, ..e },
        ..row(
            "hold-timer-expired",
            "RFC 4271 §6.5",
            Established,
            Vec::new(),
            notify(4, 0, None),
        )
    });
    // FSM errors (RFC 4271 §6.6, §8; subcodes RFC 6608).
    let keepalive = message(4, &[]);
    let refresh = message(5, &[0, 1, 0, 1]);
    let open = peer_open(p, e);
    rows.push(row(
        "fsm-keepalive-in-open-sent",
        "RFC 4271 §8.2.2, RFC 6608",
        OpenSent,
        keepalive,
        notify(5, 1, None),
    ));
    rows.push(row(
        "fsm-update-in-open-sent",
        "RFC 4271 §8.2.2, RFC 6608",
        OpenSent,
        good_update.clone(),
        notify(5, 1, None),
    ));
    rows.push(row(
        "fsm-route-refresh-in-open-sent",
        "RFC 6608",
        OpenSent,
        refresh.clone(),
        notify(5, 1, None),
    ));
    rows.push(row(
        "fsm-open-in-open-confirm",
        "RFC 4271 §8.2.2, RFC 6608",
        OpenConfirm,
        open.clone(),
        notify(5, 2, None),
    ));
    rows.push(row(
        "fsm-update-in-open-confirm",
        "RFC 4271 §8.2.2, RFC 6608",
        OpenConfirm,
        good_update,
        notify(5, 2, None),
    ));
    rows.push(row(
        "fsm-route-refresh-in-open-confirm",
        "RFC 6608",
        OpenConfirm,
        refresh,
        notify(5, 2, None),
    ));
    rows.push(row(
        "fsm-open-in-established",
        "RFC 4271 §8.2.2, RFC 6608",
        Established,
        open,
        notify(5, 3, None),
    ));
}
