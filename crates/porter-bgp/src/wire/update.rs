//! UPDATE messages: parsing what the peer sends, encoding what Porter announces.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use rustbgpd_wire as codec;
use rustbgpd_wire::{
    Afi, AsPath, AsPathSegment, ErrorDisposition, ExtendedCommunity, LargeCommunity, MpReachNlri,
    MpUnreachNlri, Origin, PathAttribute, Safi,
};

use super::{EncodeError, MAX_MESSAGE_LEN, RawUpdate, afi_safi, enc_err, notification_from_decode};
use crate::attrs::{LinkBandwidth, RouteAttrs};
use crate::error::{NotificationError, code};
use crate::prefix::{Family, Prefix};

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
    /// ADD-PATH path identifiers, parallel to `withdrawn` (0 without ADD-PATH).
    pub withdrawn_path_ids: Vec<u32>,
    /// ADD-PATH path identifiers, parallel to `announced` (0 without ADD-PATH).
    pub announced_path_ids: Vec<u32>,
    /// `NEXT_HOP`, or the `MP_REACH_NLRI` next hop for an UPDATE without body NLRI.
    pub next_hop: Option<IpAddr>,
    /// AS_PATH flattened to its ASNs in order.
    pub as_path: Vec<u32>,
    /// `LOCAL_PREF`, if present.
    pub local_pref: Option<u32>,
    /// `MULTI_EXIT_DISC`, if present.
    pub med: Option<u32>,
    /// RFC 1997 communities, in wire order.
    pub communities: Vec<u32>,
    /// RFC 4360 extended communities (raw 8 octets), in wire order.
    pub extended_communities: Vec<u64>,
    /// RFC 8092 large communities, in wire order.
    pub large_communities: Vec<[u32; 3]>,
    /// RFC 7606 outcome.
    pub disposition: Disposition,
    /// The End-of-RIB marker (RFC 4724) this UPDATE is, if any.
    pub end_of_rib: Option<Family>,
}

impl Update {
    /// The announced routes' attributes in Porter's terms (what a Porter peer set, read back).
    pub fn route_attrs(&self) -> RouteAttrs {
        RouteAttrs {
            med: self.med,
            local_pref: self.local_pref,
            communities: self.communities.iter().copied().collect(),
            large_communities: self.large_communities.iter().copied().collect(),
            link_bandwidth: self
                .extended_communities
                .iter()
                .find_map(|c| LinkBandwidth::from_extended_community(*c)),
        }
    }
}

fn masked(addr: IpAddr, len: u8) -> Option<Prefix> {
    let addr = match addr {
        IpAddr::V4(a) if len <= 32 => IpAddr::V4(Ipv4Addr::from(
            u32::from(a) & !(u32::MAX.checked_shr(len.into()).unwrap_or(0)),
        )),
        IpAddr::V6(a) if len <= 128 => IpAddr::V6(Ipv6Addr::from(
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

fn push_entries(
    prefixes: &mut Vec<Prefix>,
    ids: &mut Vec<u32>,
    entries: impl Iterator<Item = (u32, codec::Prefix)>,
) {
    for (id, p) in entries {
        if let Some(p) = from_codec_prefix(&p) {
            prefixes.push(p);
            ids.push(id);
        }
    }
}

fn disposition_of(d: ErrorDisposition) -> Option<Disposition> {
    match d {
        ErrorDisposition::AttributeDiscard => Some(Disposition::AttributeDiscard),
        ErrorDisposition::TreatAsWithdraw => Some(Disposition::TreatAsWithdraw),
        ErrorDisposition::SessionReset => None,
    }
}

impl RawUpdate {
    /// Parses the UPDATE with RFC 7606 revised error handling, without ADD-PATH.
    ///
    /// `Err` is a session-reset error: the NOTIFICATION to send. Treat-as-withdraw and
    /// attribute-discard come back as `Ok` with [`Update::disposition`] set.
    pub fn parse(&self, ctx: UpdateContext) -> Result<Update, NotificationError> {
        self.parse_add_path(ctx, &BTreeSet::new())
    }

    /// Like [`RawUpdate::parse`], for a session where the peer sends ADD-PATH path identifiers
    /// (RFC 7911) in the NLRI of the families in `add_path` (it negotiated send, we receive).
    pub fn parse_add_path(
        &self,
        ctx: UpdateContext,
        add_path: &BTreeSet<Family>,
    ) -> Result<Update, NotificationError> {
        let mp_families: Vec<(Afi, Safi)> = add_path.iter().map(|f| afi_safi(*f)).collect();
        let (rev, _) = self
            .0
            .parse_revised_observed_with_error_context(
                ctx.four_octet_as,
                ctx.is_ibgp,
                add_path.contains(&Family::Ipv4Unicast),
                &mp_families,
            )
            .map_err(|e| session_reset(e.type_code, &e.error))?;
        let mut disposition = Disposition::Clean;
        // The first error that withdraws the routes: sent instead when there are none (§5.2).
        let mut withdraw_error = None;
        for m in &rev.malformed {
            let d = disposition_of(m.disposition)
                .ok_or_else(|| session_reset(Some(m.type_code), &m.error))?;
            if d == Disposition::TreatAsWithdraw && withdraw_error.is_none() {
                withdraw_error = Some(notification_from_decode(&m.error));
            }
            disposition = disposition.max(d);
        }
        let parsed = rev.update;
        unrecognized_well_known(&parsed.attributes)?;
        let mut upd = Update {
            withdrawn: Vec::new(),
            announced: Vec::new(),
            withdrawn_path_ids: Vec::new(),
            announced_path_ids: Vec::new(),
            next_hop: None,
            as_path: Vec::new(),
            local_pref: None,
            med: None,
            communities: Vec::new(),
            extended_communities: Vec::new(),
            large_communities: Vec::new(),
            disposition,
            end_of_rib: None,
        };
        let v4 = |es: &[codec::Ipv4NlriEntry]| -> Vec<(u32, codec::Prefix)> {
            es.iter()
                .map(|e| (e.path_id, codec::Prefix::V4(e.prefix)))
                .collect()
        };
        push_entries(
            &mut upd.withdrawn,
            &mut upd.withdrawn_path_ids,
            v4(&parsed.withdrawn).into_iter(),
        );
        push_entries(
            &mut upd.announced,
            &mut upd.announced_path_ids,
            v4(&parsed.announced).into_iter(),
        );
        let mut mp_nlri = false;
        for attr in &parsed.attributes {
            match attr {
                PathAttribute::NextHop(nh) => upd.next_hop = Some(IpAddr::V4(*nh)),
                PathAttribute::AsPath(p) => upd.as_path = p.asns().collect(),
                // RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored (RFC 7606 §7.5).
                PathAttribute::LocalPref(lp) if ctx.is_ibgp => upd.local_pref = Some(*lp),
                PathAttribute::Med(m) => upd.med = Some(*m),
                PathAttribute::Communities(c) | PathAttribute::CommunitiesPartial(c) => {
                    upd.communities.extend(c);
                }
                PathAttribute::ExtendedCommunities(c)
                | PathAttribute::ExtendedCommunitiesPartial(c) => {
                    upd.extended_communities
                        .extend(c.iter().map(|c| c.as_u64()));
                }
                PathAttribute::LargeCommunities(c) | PathAttribute::LargeCommunitiesPartial(c) => {
                    upd.large_communities.extend(
                        c.iter()
                            .map(|c| [c.global_admin, c.local_data1, c.local_data2]),
                    );
                }
                PathAttribute::MpReachNlri(mp) if mp.safi == Safi::Unicast => {
                    mp_nlri |= !mp.announced.is_empty();
                    upd.next_hop.get_or_insert(mp.next_hop);
                    push_entries(
                        &mut upd.announced,
                        &mut upd.announced_path_ids,
                        mp.announced.iter().map(|e| (e.path_id, e.prefix)),
                    );
                }
                PathAttribute::MpUnreachNlri(mp) if mp.safi == Safi::Unicast => {
                    if mp.withdrawn.is_empty() && parsed.attributes.len() == 1 {
                        upd.end_of_rib = super::family_of(mp.afi, mp.safi);
                    }
                    push_entries(
                        &mut upd.withdrawn,
                        &mut upd.withdrawn_path_ids,
                        mp.withdrawn.iter().map(|e| (e.path_id, e.prefix)),
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
        let validated = codec::validate::validate_update_attributes(
            &parsed.attributes,
            has_body_nlri || mp_nlri,
            has_body_nlri,
            !ctx.is_ibgp,
        )
        .map_err(|e| {
            let n = NotificationError::new(
                code::UPDATE_MESSAGE,
                e.subcode,
                Bytes::from(e.data),
                "UPDATE attribute validation failed",
            );
            (disposition_of(e.disposition), n)
        })
        .and_then(|()| {
            missing_internal_attribute(&parsed.attributes, has_body_nlri, ctx)
                .map_or(Ok(()), |n| Err((Some(Disposition::TreatAsWithdraw), n)))
        });
        if let Err((d, n)) = validated {
            let d = d.ok_or_else(|| n.clone())?;
            if d == Disposition::TreatAsWithdraw && withdraw_error.is_none() {
                withdraw_error = Some(n);
            }
            upd.disposition = upd.disposition.max(d);
        }
        // RFC 7606 §5.2: an UPDATE with path attributes (other than MP_UNREACH_NLRI) but no
        // reachable NLRI gives no confidence that its NLRI were located, so an error asking for
        // more than attribute discard resets the session. (A malformed MP_UNREACH_NLRI never gets
        // here: it is a session reset of its own, RFC 4760 §7.)
        let reachable = has_body_nlri
            || parsed
                .attributes
                .iter()
                .any(|a| matches!(a, PathAttribute::MpReachNlri(_)));
        if upd.disposition == Disposition::TreatAsWithdraw
            && !reachable
            && let Some(n) = withdraw_error
        {
            return Err(n);
        }
        Ok(upd)
    }
}

/// The NOTIFICATION for an UPDATE error that resets the session. An incorrect MP_REACH_NLRI or
/// MP_UNREACH_NLRI is Optional Attribute Error (3/9) whatever the defect (RFC 4760 §7), where
/// the codec names the defect (3/5 for a truncated one); the data (the attribute) is kept. A
/// repeated one stays Malformed Attribute List (3/1, RFC 7606 §3 (g)).
fn session_reset(type_code: Option<u8>, e: &codec::DecodeError) -> NotificationError {
    let mut n = notification_from_decode(e);
    if matches!(type_code, Some(ATTR_MP_REACH | ATTR_MP_UNREACH))
        && n.code == code::UPDATE_MESSAGE
        && n.subcode != 1
    {
        n.subcode = 9;
    }
    n
}

const ATTR_MP_REACH: u8 = 14;
const ATTR_MP_UNREACH: u8 = 15;

/// RFC 4271 §6.3: an attribute whose flags say well-known (Optional bit 0) but whose type
/// Porter does not recognise is Unrecognized Well-known Attribute (3/2), with the attribute
/// as data. RFC 7606 revises the errors of recognised attributes only, so this stays a
/// session reset. (Unknown optional attributes are kept or ignored, RFC 4271 §5.)
fn unrecognized_well_known(attrs: &[PathAttribute]) -> Result<(), NotificationError> {
    for attr in attrs {
        if let PathAttribute::Unknown(raw) = attr
            && raw.flags & FLAG_OPTIONAL == 0
        {
            return Err(NotificationError::new(
                code::UPDATE_MESSAGE,
                2,
                Bytes::from(attribute_bytes(raw.flags, raw.type_code, &raw.data)),
                format!("unrecognized well-known attribute type {}", raw.type_code),
            ));
        }
    }
    Ok(())
}

/// The Optional bit of the attribute flags (RFC 4271 §4.3).
const FLAG_OPTIONAL: u8 = 0x80;
/// The Extended Length bit of the attribute flags (RFC 4271 §4.3).
const FLAG_EXTENDED_LENGTH: u8 = 0x10;
const ATTR_NEXT_HOP: u8 = 3;
const ATTR_LOCAL_PREF: u8 = 5;

/// An attribute as it was on the wire (flags, type, length, value): the data of the UPDATE
/// errors that carry "the erroneous attribute" (RFC 4271 §6.3).
fn attribute_bytes(flags: u8, type_code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![flags, type_code];
    match u8::try_from(value.len()) {
        Ok(len) if flags & FLAG_EXTENDED_LENGTH == 0 => out.push(len),
        _ => {
            out[0] |= FLAG_EXTENDED_LENGTH;
            let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(value);
    out
}

/// The well-known attributes an internal peer must send that the codec checks for external
/// peers only: NEXT_HOP with NLRI in the body (RFC 4271 §5.1.3, mandatory for every peer) and
/// LOCAL_PREF with any NLRI (RFC 4271 §5.1.5: "SHALL be included in all UPDATE messages ... to
/// other internal peers"). Missing, they are Missing Well-known Attribute (3/3) with the type as
/// data, handled as treat-as-withdraw (RFC 7606 §3 (d)).
fn missing_internal_attribute(
    attrs: &[PathAttribute],
    has_body_nlri: bool,
    ctx: UpdateContext,
) -> Option<NotificationError> {
    let announces = has_body_nlri
        || attrs
            .iter()
            .any(|a| matches!(a, PathAttribute::MpReachNlri(mp) if !mp.announced.is_empty()));
    if !ctx.is_ibgp || !announces {
        return None;
    }
    let has = |t: u8| attrs.iter().any(|a| a.type_code() == t);
    let missing = if has_body_nlri && !has(ATTR_NEXT_HOP) {
        ATTR_NEXT_HOP
    } else if !has(ATTR_LOCAL_PREF) {
        ATTR_LOCAL_PREF
    } else {
        return None;
    };
    Some(NotificationError::new(
        code::UPDATE_MESSAGE,
        3,
        Bytes::copy_from_slice(&[missing]),
        format!("missing well-known attribute type {missing} from an internal peer"),
    ))
}

/// Path attributes of one outgoing announcement: the session's part plus the route's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutAttrs {
    /// AS_PATH as one AS_SEQUENCE (`[local_as]` for eBGP, empty for iBGP).
    pub as_path: Vec<u32>,
    /// Next hop: `NEXT_HOP` when IPv4 (IPv4 NLRI only), else the `MP_REACH_NLRI` next hop
    /// (IPv6 NLRI, or IPv4 NLRI with an IPv6 next hop per RFC 8950).
    pub next_hop: IpAddr,
    /// The session's `LOCAL_PREF` default: `None` never sends one (eBGP); `Some(d)` sends
    /// `route.local_pref`, or `d` when the route has none (iBGP).
    pub local_pref: Option<u32>,
    /// Encode AS_PATH with 4-octet ASNs (both sides negotiated RFC 6793).
    pub four_octet_as: bool,
    /// Our AS: the global administrator of the link-bandwidth extended community.
    pub local_as: u32,
    /// The route's own attributes (MED, communities, ...).
    pub route: RouteAttrs,
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
    /// ADD-PATH (RFC 7911): every NLRI carries this path identifier; `None` when the peer did
    /// not negotiate receiving paths for this family.
    pub path_id: Option<u32>,
}

fn v4_entries(ps: &[Prefix], path_id: u32) -> Vec<codec::Ipv4NlriEntry> {
    ps.iter()
        .filter_map(|p| match p.addr() {
            IpAddr::V4(a) => Some(codec::Ipv4NlriEntry {
                path_id,
                prefix: codec::Ipv4Prefix::new(a, p.len()),
            }),
            IpAddr::V6(_) => None,
        })
        .collect()
}

fn nlri_entries(ps: &[Prefix], path_id: u32) -> Vec<codec::NlriEntry> {
    ps.iter()
        .map(|p| codec::NlriEntry {
            path_id,
            prefix: match p.addr() {
                IpAddr::V4(a) => codec::Prefix::V4(codec::Ipv4Prefix::new(a, p.len())),
                IpAddr::V6(a) => codec::Prefix::V6(codec::Ipv6Prefix::new(a, p.len())),
            },
        })
        .collect()
}

fn mp_unreach(family: Family, withdrawn: &[Prefix], path_id: u32) -> PathAttribute {
    let (afi, safi) = afi_safi(family);
    PathAttribute::MpUnreachNlri(Box::new(MpUnreachNlri {
        afi,
        safi,
        withdrawn: nlri_entries(withdrawn, path_id),
        flowspec_withdrawn: Vec::new(),
        evpn_withdrawn: Vec::new(),
        bgpls_withdrawn: Vec::new(),
        vpn_withdrawn: Vec::new(),
        labeled_withdrawn: Vec::new(),
        rtc_withdrawn: Vec::new(),
    }))
}

fn mp_reach(family: Family, next_hop: IpAddr, announced: &[Prefix], path_id: u32) -> PathAttribute {
    let (afi, safi) = afi_safi(family);
    PathAttribute::MpReachNlri(Box::new(MpReachNlri {
        afi,
        safi,
        next_hop,
        link_local_next_hop: None,
        announced: nlri_entries(announced, path_id),
        flowspec_announced: Vec::new(),
        evpn_announced: Vec::new(),
        bgpls_announced: Vec::new(),
        vpn_announced: Vec::new(),
        labeled_announced: Vec::new(),
        rtc_announced: Vec::new(),
    }))
}

/// Whether announcements of `family` with `next_hop` travel in `MP_REACH_NLRI` (IPv6, and IPv4
/// with an IPv6 next hop) rather than the UPDATE body.
pub fn announces_in_mp(family: Family, next_hop: IpAddr) -> bool {
    family == Family::Ipv6Unicast || next_hop.is_ipv6()
}

/// Encodes an UPDATE limited to 4096 bytes; see [`encode_update_with_limit`].
pub fn encode_update(u: &OutUpdate) -> Result<Bytes, EncodeError> {
    encode_update_with_limit(u, MAX_MESSAGE_LEN)
}

/// Encodes an UPDATE of at most `max_len` bytes (65535 with RFC 8654 extended messages).
///
/// IPv4 uses the body fields (IPv4 announcements with an IPv6 next hop go in `MP_REACH_NLRI`,
/// RFC 8950); IPv6 uses `MP_REACH_NLRI`/`MP_UNREACH_NLRI`. Attributes are in type-code order.
pub fn encode_update_with_limit(u: &OutUpdate, max_len: usize) -> Result<Bytes, EncodeError> {
    if u.announced
        .iter()
        .chain(&u.withdrawn)
        .any(|p| p.family() != u.family)
    {
        return Err(enc_err("UPDATE", "prefix of another family"));
    }
    let path_id = u.path_id.unwrap_or(0);
    let mut attrs = Vec::new();
    let mut body_announced: &[Prefix] = &[];
    let mut after_mp = Vec::new();
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
        let mut mp = None;
        match (u.family, a.next_hop) {
            (Family::Ipv4Unicast, IpAddr::V4(nh)) => {
                attrs.push(PathAttribute::NextHop(nh));
                body_announced = &u.announced;
            }
            (_, nh @ IpAddr::V6(_)) => mp = Some(mp_reach(u.family, nh, &u.announced, path_id)),
            (Family::Ipv6Unicast, IpAddr::V4(_)) => {
                return Err(enc_err(
                    "UPDATE",
                    "IPv6 NLRI with an IPv4 next hop is not supported",
                ));
            }
        }
        let r = &a.route;
        if let Some(med) = r.med {
            attrs.push(PathAttribute::Med(med));
        }
        if let Some(default) = a.local_pref {
            attrs.push(PathAttribute::LocalPref(r.local_pref.unwrap_or(default)));
        }
        if !r.communities.is_empty() {
            attrs.push(PathAttribute::Communities(
                r.communities.iter().copied().collect(),
            ));
        }
        attrs.extend(mp);
        if let Some(lb) = r.link_bandwidth {
            after_mp.push(PathAttribute::ExtendedCommunities(vec![
                ExtendedCommunity::new(lb.to_extended_community(a.local_as)),
            ]));
        }
        if !r.large_communities.is_empty() {
            after_mp.push(PathAttribute::LargeCommunities(
                r.large_communities
                    .iter()
                    .map(|[g, l1, l2]| LargeCommunity::new(*g, *l1, *l2))
                    .collect(),
            ));
        }
    }
    if u.family == Family::Ipv6Unicast && !u.withdrawn.is_empty() {
        attrs.push(mp_unreach(u.family, &u.withdrawn, path_id));
    }
    attrs.extend(after_mp);
    let four = u.attrs.as_ref().is_some_and(|a| a.four_octet_as);
    let msg = codec::UpdateMessage::try_build(
        &v4_entries(body_announced, path_id),
        &v4_entries(&u.withdrawn, path_id),
        &attrs,
        four,
        u.path_id.is_some(),
        codec::Ipv4UnicastMode::Body,
    )
    .map_err(|e| enc_err("UPDATE", e))?;
    let limit = u16::try_from(max_len).unwrap_or(u16::MAX);
    Ok(
        codec::encode_message_with_limit(&codec::Message::Update(msg), limit)
            .map_err(|e| enc_err("UPDATE", e))?
            .freeze(),
    )
}

/// Encodes the End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an UPDATE
/// with only an empty `MP_UNREACH_NLRI` for other families.
pub fn encode_end_of_rib(family: Family) -> Result<Bytes, EncodeError> {
    let attrs = match family {
        Family::Ipv4Unicast => vec![],
        Family::Ipv6Unicast => vec![mp_unreach(family, &[], 0)],
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
