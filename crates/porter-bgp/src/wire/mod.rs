//! The BGP wire format: the only module that touches the codec crate (`rustbgpd-wire`, pinned).
//!
//! The codec breaks its API on every minor release, so everything outside this module speaks in
//! Porter's own small types ([`Open`], [`Message`], [`Update`], [`OutUpdate`]). Swapping the codec
//! (for example to `netgauze-bgp-pkt`) means rewriting this module only: `mod.rs` (framing,
//! KEEPALIVE, NOTIFICATION, ROUTE-REFRESH), `open.rs` (capabilities) and `update.rs`.
//!
//! Decoding is public so fuzzers and tests can reach every decode path: [`decode_all`] for a
//! whole byte stream, [`Framer`] + [`decode_frame`] for a stream in arbitrary chunks, and
//! [`RawUpdate::parse`] for the session-dependent part of an UPDATE.

pub mod crafted;
mod open;
mod update;

use bytes::{Bytes, BytesMut};
use rustbgpd_wire as codec;
use rustbgpd_wire::{Afi, DecodeError, NotificationCode, NotificationMessage, Safi};

use crate::error::{NotificationError, code};
use crate::prefix::Family;

use open::open_from_codec;
pub use open::{AddPathMode, GracefulRestartCap, Open, encode_open};
pub use update::{
    Disposition, OutAttrs, OutUpdate, Update, UpdateContext, announces_in_mp, encode_end_of_rib,
    encode_update, encode_update_with_limit,
};

/// Maximum BGP message size without the Extended Message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum BGP message size once both sides advertised Extended Messages (RFC 8654).
pub const EXTENDED_MAX_MESSAGE_LEN: usize = 65535;
/// Size of the fixed BGP header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// The 2-octet placeholder AS sent in My AS by speakers with a 4-octet AS (RFC 6793).
pub const AS_TRANS: u16 = crate::attrs::AS_TRANS;

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
    /// ROUTE-REFRESH (RFC 2918) for a family, or `None` for a family Porter does not know or a
    /// message subtype other than a plain request (RFC 7313 §5: the enhanced route refresh
    /// markers, which Porter did not negotiate, and reserved subtypes are ignored).
    RouteRefresh(Option<Family>),
}

/// A framed UPDATE whose body has not been parsed yet. The codec type stays private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUpdate(codec::UpdateMessage);

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

/// Reassembles BGP messages from a TCP byte stream delivered in arbitrary chunks.
#[derive(Debug, Clone)]
pub struct Framer {
    buf: BytesMut,
    max_len: u16,
}

impl Default for Framer {
    /// A framer accepting messages up to 4096 bytes (no Extended Message capability yet).
    fn default() -> Self {
        Framer {
            buf: BytesMut::new(),
            max_len: MAX_MESSAGE_LEN as u16,
        }
    }
}

impl Framer {
    /// Raises (or lowers) the largest accepted message, e.g. to 65535 once RFC 8654 extended
    /// messages were negotiated; values above 65535 are clamped.
    pub fn set_max_message_len(&mut self, len: usize) {
        self.max_len = u16::try_from(len).unwrap_or(u16::MAX);
    }

    /// The largest message this framer accepts.
    pub fn max_message_len(&self) -> usize {
        usize::from(self.max_len)
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message's bytes, `Ok(None)` if more input is needed, or the header
    /// error (1/x) to send. After an error the stream is unusable; call [`Framer::clear`].
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, NotificationError> {
        match codec::peek_message_length(&self.buf, self.max_len) {
            Err(e) => Err(notification_from_decode(&e)),
            Ok(Some(len)) if self.buf.len() >= usize::from(len) => {
                Ok(Some(self.buf.split_to(usize::from(len)).freeze()))
            }
            Ok(_) => Ok(None),
        }
    }

    /// Drops buffered bytes and returns to the 4096-byte limit (on connection loss, so a new
    /// connection starts clean).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.max_len = MAX_MESSAGE_LEN as u16;
    }

    /// Number of buffered bytes not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Decodes one complete framed message. `Err` is the NOTIFICATION to send (1/x, 2/x, 3/1 ...).
pub fn decode_frame(frame: Bytes) -> Result<Message, NotificationError> {
    decode_frame_with_limit(frame, MAX_MESSAGE_LEN)
}

/// [`decode_frame`] for a session whose largest message is `max_len` (RFC 8654).
pub fn decode_frame_with_limit(frame: Bytes, max_len: usize) -> Result<Message, NotificationError> {
    let limit = u16::try_from(max_len).unwrap_or(u16::MAX);
    // The codec checks the header's own bounds; the per-type lengths are checked here, before
    // the codec reads a body too short for its type.
    if let Ok(Some(_)) = codec::peek_message_length(&frame, limit) {
        check_type_length(&frame)?;
    }
    let mut buf = frame;
    let msg = codec::decode_message(&mut buf, limit).map_err(|e| notification_from_decode(&e))?;
    Ok(match msg {
        codec::Message::Open(o) => Message::Open(open_from_codec(&o)?),
        codec::Message::Update(u) => Message::Update(RawUpdate(u)),
        codec::Message::Notification(n) => Message::Notification(NotificationError::new(
            n.code.as_u8(),
            n.subcode,
            n.data.clone(),
            codec::notification::decode_shutdown_communication(&n.data).unwrap_or_default(),
        )),
        codec::Message::Keepalive => Message::Keepalive,
        codec::Message::RouteRefresh(rr) => {
            Message::RouteRefresh(match (rr.afi_raw, rr.subtype_raw, rr.safi_raw) {
                (1, 0, 1) => Some(Family::Ipv4Unicast),
                (2, 0, 1) => Some(Family::Ipv6Unicast),
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

/// Length of a ROUTE-REFRESH message without ORF entries (RFC 2918 §3), the only kind Porter
/// accepts: it negotiates no Outbound Route Filtering (RFC 5291).
const ROUTE_REFRESH_LEN: u16 = 23;

/// The per-type length checks of RFC 4271 §6.1 that the codec does not make, on a frame whose
/// header it accepted (marker, 19..=limit, known type).
///
/// OPEN shorter than 29 octets, UPDATE shorter than 23, NOTIFICATION shorter than 21 and
/// KEEPALIVE other than 19 are Bad Message Length (1/2) with the erroneous Length field as data;
/// the codec would report them as the body error of their type (2/0, 3/1, even an OPEN error
/// for a NOTIFICATION). A ROUTE-REFRESH other than 23 octets is ROUTE-REFRESH Message Error /
/// Invalid Message Length (7/1) with the whole message as data (RFC 7313 §5).
fn check_type_length(frame: &[u8]) -> Result<(), NotificationError> {
    let (Some(&hi), Some(&lo), Some(&msg_type)) = (frame.get(16), frame.get(17), frame.get(18))
    else {
        return Ok(());
    };
    let len = u16::from_be_bytes([hi, lo]);
    let minimum = match msg_type {
        1 => Some(("OPEN", 29)),
        2 => Some(("UPDATE", 23)),
        3 => Some(("NOTIFICATION", 21)),
        _ => None,
    };
    if let Some((name, min)) = minimum.filter(|(_, min)| len < *min) {
        return Err(bad_message_length(
            len,
            format!("{name} of {len} octets, shorter than its minimum {min}"),
        ));
    }
    if msg_type == 4 && usize::from(len) != HEADER_LEN {
        return Err(bad_message_length(
            len,
            format!("KEEPALIVE of {len} octets, not 19"),
        ));
    }
    if msg_type == 5 && len != ROUTE_REFRESH_LEN {
        return Err(NotificationError::new(
            code::ROUTE_REFRESH,
            1,
            Bytes::copy_from_slice(frame.get(..usize::from(len)).unwrap_or(frame)),
            format!("ROUTE-REFRESH of {len} octets, not 23"),
        ));
    }
    Ok(())
}

/// Message Header Error / Bad Message Length (1/2) with the erroneous Length field as data.
fn bad_message_length(len: u16, detail: String) -> NotificationError {
    NotificationError::new(
        code::MESSAGE_HEADER,
        2,
        Bytes::copy_from_slice(&len.to_be_bytes()),
        detail,
    )
}

/// Decodes a whole byte stream into messages; the stream must end on a message boundary.
/// Meant for tests and fuzzers (it reaches every header/OPEN/NOTIFICATION decode path).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, NotificationError> {
    decode_all_with_limit(bytes, MAX_MESSAGE_LEN)
}

/// [`decode_all`] for a stream of a session with extended messages (RFC 8654).
pub fn decode_all_with_limit(
    bytes: &[u8],
    max_len: usize,
) -> Result<Vec<Message>, NotificationError> {
    let mut framer = Framer::default();
    framer.set_max_message_len(max_len);
    framer.push(bytes);
    let mut out = Vec::new();
    while let Some(frame) = framer.next_frame()? {
        out.push(decode_frame_with_limit(frame, max_len)?);
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

fn family_of(afi: Afi, safi: Safi) -> Option<Family> {
    match (afi, safi) {
        (Afi::Ipv4, Safi::Unicast) => Some(Family::Ipv4Unicast),
        (Afi::Ipv6, Safi::Unicast) => Some(Family::Ipv6Unicast),
        _ => None,
    }
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
