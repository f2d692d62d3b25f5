//! The BGP wire format: the only module that touches the codec crate (`rustbgpd-wire`, pinned).
//!
//! The codec breaks its API on every minor release, so everything outside this file speaks in
//! Porter's own small types ([`Open`], [`Message`], [`Update`], [`OutUpdate`]). Swapping the codec
//! (for example to `netgauze-bgp-pkt`) means rewriting this file only.
//!
//! Decoding is public so fuzzers and tests can reach every decode path: [`decode_all`] for a
//! whole byte stream, [`Framer`] + [`decode_frame`] for a stream in arbitrary chunks, and
//! [`RawUpdate::parse`] for the session-dependent part of an UPDATE.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use bytes::{Bytes, BytesMut};
use rustbgpd_wire as codec;
use rustbgpd_wire::{
    Afi, AsPath, AsPathSegment, Capability, DecodeError, ErrorDisposition, MpReachNlri,
    MpUnreachNlri, NotificationCode, NotificationMessage, OpenMessage, Origin, PathAttribute, Safi,
};

use crate::error::NotificationError;
use crate::prefix::{Family, Prefix};

/// Maximum BGP message size without the Extended Message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Size of the fixed BGP header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// The 2-octet placeholder AS sent in My AS by speakers with a 4-octet AS (RFC 6793).
pub const AS_TRANS: u16 = 23456;

/// A local encoding failure. Never caused by peer input; surfaces a bug instead of a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {what}: {detail}")]
pub struct EncodeError {
    /// Which message was being encoded.
    pub what: &'static str,
    /// The codec's or our explanation.
    pub detail: String,
}

fn enc_err(what: &'static str, detail: impl ToString) -> EncodeError {
    EncodeError {
        what,
        detail: detail.to_string(),
    }
}

/// The parts of an OPEN message Porter cares about, in both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The 2-octet My AS field (`AS_TRANS` when the real AS needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// The 4-octet AS capability (RFC 6793), if advertised.
    pub four_octet_as: Option<u32>,
    /// Multiprotocol capabilities (RFC 4760) for the families Porter knows.
    pub families: BTreeSet<Family>,
    /// Whether any multiprotocol capability was present at all (also for unknown families);
    /// without one the peer implicitly speaks IPv4 unicast only.
    pub multiprotocol: bool,
    /// Route refresh capability (RFC 2918).
    pub route_refresh: bool,
    /// Codes of other capabilities, kept for logs; Porter ignores them (RFC 5492 allows that).
    pub other_capabilities: Vec<u8>,
}

impl Open {
    /// The OPEN Porter sends: IPv4 and IPv6 unicast, 4-octet AS, route refresh.
    pub fn local(local_as: u32, router_id: Ipv4Addr, hold_time: u16) -> Open {
        Open {
            my_as: u16::try_from(local_as).unwrap_or(AS_TRANS),
            hold_time,
            router_id,
            four_octet_as: Some(local_as),
            families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
            multiprotocol: true,
            route_refresh: true,
            other_capabilities: Vec::new(),
        }
    }

    /// The sender's AS: the 4-octet capability value when present, else My AS (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.four_octet_as.unwrap_or(u32::from(self.my_as))
    }

    /// Families the sender supports, with RFC 4760's default (IPv4 unicast) when it sent no
    /// multiprotocol capability at all.
    pub fn effective_families(&self) -> BTreeSet<Family> {
        if self.multiprotocol {
            self.families.clone()
        } else {
            [Family::Ipv4Unicast].into()
        }
    }
}

/// A decoded BGP message. UPDATEs stay raw until the session parses them with its negotiated
/// context (4-octet AS, iBGP), as the attribute encoding depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE, framed but not yet parsed.
    Update(RawUpdate),
    /// NOTIFICATION sent by the peer.
    Notification(NotificationError),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918) for a family, or `None` for a family Porter does not know.
    RouteRefresh(Option<Family>),
}

/// A framed UPDATE whose body has not been parsed yet. The codec type stays private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUpdate(codec::UpdateMessage);

/// Session facts needed to parse an UPDATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateContext {
    /// Both sides sent the 4-octet AS capability: AS_PATH uses 4-octet ASNs.
    pub four_octet_as: bool,
    /// The peer is internal: changes the RFC 7606 disposition of a few attributes.
    pub is_ibgp: bool,
}

/// How RFC 7606 says to handle an UPDATE that parsed (session-reset cases are an `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disposition {
    /// No error.
    Clean,
    /// A malformed attribute was dropped; the routes are fine.
    AttributeDiscard,
    /// The routes in this UPDATE must be treated as withdrawn; the session stays up.
    TreatAsWithdraw,
}

/// A parsed UPDATE reduced to what Porter looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Withdrawn prefixes (body and `MP_UNREACH_NLRI`, IPv4/IPv6 unicast).
    pub withdrawn: Vec<Prefix>,
    /// Announced prefixes (body and `MP_REACH_NLRI`, IPv4/IPv6 unicast).
    pub announced: Vec<Prefix>,
    /// `NEXT_HOP`, or the `MP_REACH_NLRI` next hop for an IPv6-only UPDATE.
    pub next_hop: Option<IpAddr>,
    /// AS_PATH flattened to its ASNs in order.
    pub as_path: Vec<u32>,
    /// `LOCAL_PREF`, if present.
    pub local_pref: Option<u32>,
    /// RFC 7606 outcome.
    pub disposition: Disposition,
    /// The End-of-RIB marker (RFC 4724) this UPDATE is, if any.
    pub end_of_rib: Option<Family>,
}

fn masked(addr: IpAddr, len: u8) -> Option<Prefix> {
    let addr = match addr {
        IpAddr::V4(a) if len <= 32 => IpAddr::V4(Ipv4Addr::from(
            u32::from(a) & !(u32::MAX.checked_shr(len.into()).unwrap_or(0)),
        )),
        IpAddr::V6(a) if len <= 128 => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(a) & !(u128::MAX.checked_shr(len.into()).unwrap_or(0)),
        )),
        _ => return None,
    };
    Prefix::new(addr, len).ok()
}

fn from_codec_prefix(p: &codec::Prefix) -> Option<Prefix> {
    match p {
        codec::Prefix::V4(p) => masked(IpAddr::V4(p.addr), p.len),
        codec::Prefix::V6(p) => masked(IpAddr::V6(p.addr), p.len),
    }
}

fn notification_from_decode(e: &DecodeError) -> NotificationError {
    if let DecodeError::InvalidKeepaliveLength { length } = e {
        // RFC 4271 §6.1: the data field carries the erroneous Length field.
        return NotificationError::new(
            1,
            2,
            Bytes::copy_from_slice(&length.to_be_bytes()),
            e.to_string(),
        );
    }
    let (code, subcode, data) = e.to_notification();
    NotificationError::new(code.as_u8(), subcode, data, e.to_string())
}

impl RawUpdate {
    /// Parses the UPDATE with RFC 7606 revised error handling.
    ///
    /// `Err` is a session-reset error: the NOTIFICATION to send. Treat-as-withdraw and
    /// attribute-discard come back as `Ok` with [`Update::disposition`] set.
    pub fn parse(&self, ctx: UpdateContext) -> Result<Update, NotificationError> {
        let rev = self
            .0
            .parse_revised(ctx.four_octet_as, ctx.is_ibgp, false, &[])
            .map_err(|e| notification_from_decode(&e))?;
        let mut disposition = Disposition::Clean;
        for m in &rev.malformed {
            disposition = disposition.max(match m.disposition {
                ErrorDisposition::AttributeDiscard => Disposition::AttributeDiscard,
                ErrorDisposition::TreatAsWithdraw => Disposition::TreatAsWithdraw,
                ErrorDisposition::SessionReset => return Err(notification_from_decode(&m.error)),
            });
        }
        let parsed = rev.update;
        let mut upd = Update {
            withdrawn: parsed
                .withdrawn
                .iter()
                .filter_map(|e| from_codec_prefix(&codec::Prefix::V4(e.prefix)))
                .collect(),
            announced: parsed
                .announced
                .iter()
                .filter_map(|e| from_codec_prefix(&codec::Prefix::V4(e.prefix)))
                .collect(),
            next_hop: None,
            as_path: Vec::new(),
            local_pref: None,
            disposition,
            end_of_rib: None,
        };
        let mut mp_nlri = false;
        for attr in &parsed.attributes {
            match attr {
                PathAttribute::NextHop(nh) => upd.next_hop = Some(IpAddr::V4(*nh)),
                PathAttribute::AsPath(p) => upd.as_path = p.asns().collect(),
                PathAttribute::LocalPref(lp) => upd.local_pref = Some(*lp),
                PathAttribute::MpReachNlri(mp) if mp.safi == Safi::Unicast => {
                    mp_nlri |= !mp.announced.is_empty();
                    upd.next_hop.get_or_insert(mp.next_hop);
                    upd.announced.extend(
                        mp.announced
                            .iter()
                            .filter_map(|e| from_codec_prefix(&e.prefix)),
                    );
                }
                PathAttribute::MpUnreachNlri(mp) if mp.safi == Safi::Unicast => {
                    if mp.withdrawn.is_empty()
                        && parsed.attributes.len() == 1
                        && mp.afi == Afi::Ipv6
                    {
                        upd.end_of_rib = Some(Family::Ipv6Unicast);
                    }
                    upd.withdrawn.extend(
                        mp.withdrawn
                            .iter()
                            .filter_map(|e| from_codec_prefix(&e.prefix)),
                    );
                }
                _ => {}
            }
        }
        if self.0.withdrawn_routes.is_empty()
            && self.0.path_attributes.is_empty()
            && self.0.nlri.is_empty()
        {
            upd.end_of_rib = Some(Family::Ipv4Unicast);
        }
        let has_body_nlri = !parsed.announced.is_empty();
        if let Err(e) = codec::validate::validate_update_attributes(
            &parsed.attributes,
            has_body_nlri || mp_nlri,
            has_body_nlri,
            !ctx.is_ibgp,
        ) {
            let n = NotificationError::new(
                3,
                e.subcode,
                Bytes::from(e.data),
                "UPDATE attribute validation failed",
            );
            upd.disposition = upd.disposition.max(match e.disposition {
                ErrorDisposition::AttributeDiscard => Disposition::AttributeDiscard,
                ErrorDisposition::TreatAsWithdraw => Disposition::TreatAsWithdraw,
                ErrorDisposition::SessionReset => return Err(n),
            });
        }
        Ok(upd)
    }
}

/// Reassembles BGP messages from a TCP byte stream delivered in arbitrary chunks.
#[derive(Debug, Default, Clone)]
pub struct Framer {
    buf: BytesMut,
}

impl Framer {
    /// Appends bytes read from the socket.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message's bytes, `Ok(None)` if more input is needed, or the header
    /// error (1/x) to send. After an error the stream is unusable; call [`Framer::clear`].
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, NotificationError> {
        // MAX_MESSAGE_LEN fits in u16; no Extended Message capability is negotiated.
        match codec::peek_message_length(&self.buf, MAX_MESSAGE_LEN as u16) {
            Err(e) => Err(notification_from_decode(&e)),
            Ok(Some(len)) if self.buf.len() >= usize::from(len) => {
                Ok(Some(self.buf.split_to(usize::from(len)).freeze()))
            }
            Ok(_) => Ok(None),
        }
    }

    /// Drops buffered bytes (on connection loss, so a new connection starts clean).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Number of buffered bytes not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Decodes one complete framed message. `Err` is the NOTIFICATION to send (1/x, 2/x, 3/1 ...).
pub fn decode_frame(frame: Bytes) -> Result<Message, NotificationError> {
    let mut buf = frame;
    let msg = codec::decode_message(&mut buf, MAX_MESSAGE_LEN as u16)
        .map_err(|e| notification_from_decode(&e))?;
    Ok(match msg {
        codec::Message::Open(o) => Message::Open(open_from_codec(&o)),
        codec::Message::Update(u) => Message::Update(RawUpdate(u)),
        codec::Message::Notification(n) => Message::Notification(NotificationError::new(
            n.code.as_u8(),
            n.subcode,
            n.data.clone(),
            codec::notification::decode_shutdown_communication(&n.data).unwrap_or_default(),
        )),
        codec::Message::Keepalive => Message::Keepalive,
        codec::Message::RouteRefresh(rr) => {
            Message::RouteRefresh(match (rr.afi_raw, rr.safi_raw) {
                (1, 1) => Some(Family::Ipv4Unicast),
                (2, 1) => Some(Family::Ipv6Unicast),
                _ => None,
            })
        }
        other => {
            return Err(NotificationError::new(
                1,
                3,
                Bytes::new(),
                format!("unsupported message {other}"),
            ));
        }
    })
}

/// Decodes a whole byte stream into messages; the stream must end on a message boundary.
/// Meant for tests and fuzzers (it reaches every header/OPEN/NOTIFICATION decode path).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, NotificationError> {
    let mut framer = Framer::default();
    framer.push(bytes);
    let mut out = Vec::new();
    while let Some(frame) = framer.next_frame()? {
        out.push(decode_frame(frame)?);
    }
    if framer.buffered() > 0 {
        return Err(NotificationError::new(
            1,
            2,
            Bytes::new(),
            "truncated message at end of stream",
        ));
    }
    Ok(out)
}

fn open_from_codec(o: &OpenMessage) -> Open {
    let mut open = Open {
        my_as: o.my_as,
        hold_time: o.hold_time,
        router_id: o.bgp_identifier,
        four_octet_as: None,
        families: BTreeSet::new(),
        multiprotocol: false,
        route_refresh: false,
        other_capabilities: Vec::new(),
    };
    for cap in &o.capabilities {
        match cap {
            Capability::MultiProtocol { afi, safi } => {
                open.multiprotocol = true;
                match (afi, safi) {
                    (Afi::Ipv4, Safi::Unicast) => open.families.insert(Family::Ipv4Unicast),
                    (Afi::Ipv6, Safi::Unicast) => open.families.insert(Family::Ipv6Unicast),
                    _ => false,
                };
            }
            Capability::FourOctetAs { asn } => open.four_octet_as = Some(*asn),
            Capability::RouteRefresh => open.route_refresh = true,
            Capability::Unknown { code: 1, .. } => open.multiprotocol = true,
            other => open.other_capabilities.push(other.code()),
        }
    }
    open
}

/// Encodes an OPEN (version 4, capabilities in one optional parameter).
pub fn encode_open(open: &Open) -> Result<Bytes, EncodeError> {
    let mut capabilities: Vec<Capability> = open
        .families
        .iter()
        .map(|f| {
            let (afi, safi) = afi_safi(*f);
            Capability::MultiProtocol { afi, safi }
        })
        .collect();
    if open.route_refresh {
        capabilities.push(Capability::RouteRefresh);
    }
    if let Some(asn) = open.four_octet_as {
        capabilities.push(Capability::FourOctetAs { asn });
    }
    let msg = codec::Message::Open(OpenMessage {
        version: 4,
        my_as: open.my_as,
        hold_time: open.hold_time,
        bgp_identifier: open.router_id,
        capabilities,
    });
    Ok(codec::encode_message(&msg)
        .map_err(|e| enc_err("OPEN", e))?
        .freeze())
}

/// Encodes a KEEPALIVE (a bare 19-byte header).
pub fn encode_keepalive() -> Bytes {
    let mut b = BytesMut::with_capacity(HEADER_LEN);
    b.extend_from_slice(&[0xff; 16]);
    b.extend_from_slice(&[0, HEADER_LEN as u8, 4]);
    b.freeze()
}

/// Encodes a NOTIFICATION; oversized data is truncated so the message always fits.
pub fn encode_notification(n: &NotificationError) -> Bytes {
    let data = n
        .data
        .slice(..n.data.len().min(MAX_MESSAGE_LEN - HEADER_LEN - 2));
    let msg = NotificationMessage::new(NotificationCode::from_u8(n.code), n.subcode, data);
    let mut b = BytesMut::with_capacity(msg.encoded_len());
    // Cannot fail: the data was truncated to fit above.
    let _ = msg.encode(&mut b);
    b.freeze()
}

/// Encodes a ROUTE-REFRESH request for a family.
pub fn encode_route_refresh(family: Family) -> Result<Bytes, EncodeError> {
    let (afi, safi) = afi_safi(family);
    let msg = codec::Message::RouteRefresh(codec::RouteRefreshMessage::new(afi, safi));
    Ok(codec::encode_message(&msg)
        .map_err(|e| enc_err("ROUTE-REFRESH", e))?
        .freeze())
}

fn afi_safi(f: Family) -> (Afi, Safi) {
    match f {
        Family::Ipv4Unicast => (Afi::Ipv4, Safi::Unicast),
        Family::Ipv6Unicast => (Afi::Ipv6, Safi::Unicast),
    }
}

/// Path attributes Porter attaches to its own announcements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutAttrs {
    /// AS_PATH as one AS_SEQUENCE (`[local_as]` for eBGP, empty for iBGP).
    pub as_path: Vec<u32>,
    /// Next hop: `NEXT_HOP` for IPv4 NLRI, the `MP_REACH_NLRI` next hop for IPv6.
    pub next_hop: IpAddr,
    /// `LOCAL_PREF` (iBGP only).
    pub local_pref: Option<u32>,
    /// Encode AS_PATH with 4-octet ASNs (both sides negotiated RFC 6793).
    pub four_octet_as: bool,
}

/// One outgoing UPDATE: withdrawals and announcements of a single family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutUpdate {
    /// The family of every prefix in this UPDATE.
    pub family: Family,
    /// Prefixes to withdraw.
    pub withdrawn: Vec<Prefix>,
    /// Prefixes to announce with `attrs`.
    pub announced: Vec<Prefix>,
    /// Attributes; required when `announced` is not empty.
    pub attrs: Option<OutAttrs>,
}

fn codec_prefix(p: &Prefix) -> codec::Prefix {
    match p.addr() {
        IpAddr::V4(a) => codec::Prefix::V4(codec::Ipv4Prefix::new(a, p.len())),
        IpAddr::V6(a) => codec::Prefix::V6(codec::Ipv6Prefix::new(a, p.len())),
    }
}

fn v4_entries(ps: &[Prefix]) -> Vec<codec::Ipv4NlriEntry> {
    ps.iter()
        .filter_map(|p| match p.addr() {
            IpAddr::V4(a) => Some(codec::Ipv4NlriEntry {
                path_id: 0,
                prefix: codec::Ipv4Prefix::new(a, p.len()),
            }),
            IpAddr::V6(_) => None,
        })
        .collect()
}

fn nlri_entries(ps: &[Prefix]) -> Vec<codec::NlriEntry> {
    ps.iter()
        .map(|p| codec::NlriEntry {
            path_id: 0,
            prefix: codec_prefix(p),
        })
        .collect()
}

fn mp_unreach(family: Family, withdrawn: &[Prefix]) -> PathAttribute {
    let (afi, safi) = afi_safi(family);
    PathAttribute::MpUnreachNlri(Box::new(MpUnreachNlri {
        afi,
        safi,
        withdrawn: nlri_entries(withdrawn),
        flowspec_withdrawn: Vec::new(),
        evpn_withdrawn: Vec::new(),
        bgpls_withdrawn: Vec::new(),
        vpn_withdrawn: Vec::new(),
        labeled_withdrawn: Vec::new(),
        rtc_withdrawn: Vec::new(),
    }))
}

/// Encodes an UPDATE. IPv4 uses the body fields; IPv6 uses `MP_REACH_NLRI`/`MP_UNREACH_NLRI`.
pub fn encode_update(u: &OutUpdate) -> Result<Bytes, EncodeError> {
    if u.announced
        .iter()
        .chain(&u.withdrawn)
        .any(|p| p.family() != u.family)
    {
        return Err(enc_err("UPDATE", "prefix of another family"));
    }
    let mut attrs = Vec::new();
    if !u.announced.is_empty() {
        let a = u
            .attrs
            .as_ref()
            .ok_or_else(|| enc_err("UPDATE", "announcement without attributes"))?;
        attrs.push(PathAttribute::Origin(Origin::Igp));
        let segments = if a.as_path.is_empty() {
            vec![]
        } else {
            vec![AsPathSegment::AsSequence(a.as_path.clone())]
        };
        attrs.push(PathAttribute::AsPath(AsPath { segments }));
        match (u.family, a.next_hop) {
            (Family::Ipv4Unicast, IpAddr::V4(nh)) => attrs.push(PathAttribute::NextHop(nh)),
            (Family::Ipv6Unicast, nh @ IpAddr::V6(_)) => {
                if let Some(lp) = a.local_pref {
                    attrs.push(PathAttribute::LocalPref(lp));
                }
                attrs.push(PathAttribute::MpReachNlri(Box::new(MpReachNlri {
                    afi: Afi::Ipv6,
                    safi: Safi::Unicast,
                    next_hop: nh,
                    link_local_next_hop: None,
                    announced: nlri_entries(&u.announced),
                    flowspec_announced: Vec::new(),
                    evpn_announced: Vec::new(),
                    bgpls_announced: Vec::new(),
                    vpn_announced: Vec::new(),
                    labeled_announced: Vec::new(),
                    rtc_announced: Vec::new(),
                })));
            }
            _ => {
                return Err(enc_err(
                    "UPDATE",
                    "next hop family does not match the NLRI family",
                ));
            }
        }
        if let (Family::Ipv4Unicast, Some(lp)) = (u.family, a.local_pref) {
            attrs.push(PathAttribute::LocalPref(lp));
        }
    }
    if u.family == Family::Ipv6Unicast && !u.withdrawn.is_empty() {
        attrs.push(mp_unreach(u.family, &u.withdrawn));
    }
    let four = u.attrs.as_ref().is_some_and(|a| a.four_octet_as);
    let msg = codec::UpdateMessage::try_build(
        &v4_entries(&u.announced),
        &v4_entries(&u.withdrawn),
        &attrs,
        four,
        false,
        codec::Ipv4UnicastMode::Body,
    )
    .map_err(|e| enc_err("UPDATE", e))?;
    Ok(codec::encode_message(&codec::Message::Update(msg))
        .map_err(|e| enc_err("UPDATE", e))?
        .freeze())
}

/// Encodes the End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an UPDATE
/// with only an empty `MP_UNREACH_NLRI` for other families.
pub fn encode_end_of_rib(family: Family) -> Result<Bytes, EncodeError> {
    let attrs = match family {
        Family::Ipv4Unicast => vec![],
        Family::Ipv6Unicast => vec![mp_unreach(family, &[])],
    };
    let msg = codec::UpdateMessage::try_build(
        &[],
        &[],
        &attrs,
        true,
        false,
        codec::Ipv4UnicastMode::Body,
    )
    .map_err(|e| enc_err("End-of-RIB", e))?;
    Ok(codec::encode_message(&codec::Message::Update(msg))
        .map_err(|e| enc_err("End-of-RIB", e))?
        .freeze())
}

/// "Cease: Administrative Shutdown" style description of a code/subcode pair.
pub fn describe_notification(code: u8, subcode: u8) -> String {
    let c = NotificationCode::from_u8(code);
    let name = c.to_string();
    let sub = codec::notification::description(c, subcode);
    if sub.starts_with(name.as_str()) {
        sub.to_string()
    } else if sub.starts_with("Unknown") && subcode == 0 {
        name
    } else {
        format!("{name}: {sub}")
    }
}
