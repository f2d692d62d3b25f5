//! The datagram speakers send each other, version 1, and its authentication.
//!
//! ```text
//!  0      4 magic "PRTM"
//!  4      1 version (1)
//!  5      1 kind: 1 heartbeat, 2 leaving
//!  6      1 flags: bit 0 "I hear you" (the sender accepted a fresh message from the
//!           destination within the isolation time), bit 1 "ready" (the sender answers for
//!           the addresses it owns); other bits sent 0, ignored
//!  7      1 reserved, sent 0, ignored
//!  8      8 boot id of the sender (random per start, never 0)
//! 16      8 sequence number (per boot, from 1, one counter for all destinations)
//! 24      8 echo: the destination's boot id as the sender last learnt it, 0 if unknown
//! 32      1 length of the sender's node name, 1..=253, then the name (UTF-8)
//!  .      1 length of the destination's node name, 1..=253, then the name
//!  .     32 HMAC-SHA-256 under the shared key of every byte before it
//! ```
//!
//! Integers are big-endian. A datagram is decoded only as far as its length fields say, and
//! nothing but a well-formed datagram with a valid tag reaches the membership core: a receiver
//! with another key, or a version it does not know, learns nothing from it. The destination's
//! name is inside the tag, so a message sent to one node cannot be replayed to another.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The first bytes of every message.
pub const MAGIC: [u8; 4] = *b"PRTM";
/// The version this crate writes and reads.
pub const VERSION: u8 = 1;
/// The UDP port speakers use (the shell's choice; memberlist's 7946 plus one, so both can run
/// during a migration from OpenELB).
pub const PORT: u16 = 7947;
/// The length of the tag.
pub const TAG_LEN: usize = 32;
/// The longest node name (a DNS subdomain, as Kubernetes names nodes).
pub const MAX_NAME: usize = 253;
/// The shortest key accepted: HMAC-SHA-256 keys shorter than 128 bits are guessable.
pub const MIN_KEY: usize = 16;

const HEADER: usize = 32;
const FLAG_HEARS_YOU: u8 = 1;
const FLAG_READY: u8 = 2;

/// What a message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// "I am alive" (and, in the flag, whether the sender hears the destination).
    Heartbeat,
    /// "I am stopping": the receiver counts the sender dead at once, until a new boot.
    Leaving,
}

/// A message, decoded and authenticated, or about to be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Heartbeat or leaving.
    pub kind: Kind,
    /// The sender accepted a fresh message from the destination recently.
    pub hears_you: bool,
    /// The sender answers for the addresses it owns (not starting, reconnecting or cut off).
    pub ready: bool,
    /// The sender's boot id (never 0).
    pub boot: u64,
    /// The sender's sequence number in this boot.
    pub seq: u64,
    /// The destination's boot id as the sender knows it; 0 if it knows none.
    pub echo: u64,
    /// The sender's node name.
    pub from: String,
    /// The destination's node name.
    pub to: String,
}

/// Why a datagram was not taken. Each is a counter for the shell's metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than its fields say, longer than they say, or a name of length 0 or over 253.
    #[error("malformed datagram")]
    Malformed,
    /// Not a Porter membership message.
    #[error("bad magic")]
    BadMagic,
    /// A version this speaker does not read (a newer Porter during an upgrade).
    #[error("unsupported version {0}")]
    Version(u8),
    /// A kind this speaker does not know.
    #[error("unknown kind {0}")]
    Kind(u8),
    /// The tag does not verify under any accepted key: another cluster's key, a stale Secret,
    /// or forged.
    #[error("authentication failed")]
    BadTag,
    /// A boot id of 0 or a name that is not UTF-8, though authenticated: a sender's bug.
    #[error("invalid field")]
    Invalid,
}

/// A shared key from the Secret, ready to tag and verify.
#[derive(Clone)]
pub struct Key(Hmac<Sha256>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// A key shorter than [`MIN_KEY`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the membership key must have at least {MIN_KEY} bytes, it has {0}")]
pub struct ShortKey(pub usize);

impl Key {
    /// The key from the Secret's bytes (32 random bytes are what to put there).
    pub fn new(bytes: &[u8]) -> Result<Key, ShortKey> {
        if bytes.len() < MIN_KEY {
            return Err(ShortKey(bytes.len()));
        }
        // HMAC takes a key of any length: this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(bytes).map_err(|_| ShortKey(bytes.len()))?;
        Ok(Key(mac))
    }

    fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }
}

impl Message {
    /// The datagram, tagged with `key`. Names longer than [`MAX_NAME`] are the caller's bug
    /// (Kubernetes names are shorter); they are cut there so the datagram stays well-formed.
    pub fn encode(&self, key: &Key) -> Vec<u8> {
        let from = cut(&self.from);
        let to = cut(&self.to);
        let mut out = Vec::with_capacity(HEADER + 2 + from.len() + to.len() + TAG_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(match self.kind {
            Kind::Heartbeat => 1,
            Kind::Leaving => 2,
        });
        let mut flags = 0;
        if self.hears_you {
            flags |= FLAG_HEARS_YOU;
        }
        if self.ready {
            flags |= FLAG_READY;
        }
        out.push(flags);
        out.push(0);
        out.extend_from_slice(&self.boot.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.echo.to_be_bytes());
        for name in [from, to] {
            out.push(name.len() as u8);
            out.extend_from_slice(name);
        }
        let tag = key.tag(&out);
        out.extend_from_slice(&tag);
        out
    }

    /// Decodes and authenticates a datagram against each of `keys` (the current key first, then
    /// one being rotated out). Nothing is trusted before the tag verifies, except the lengths
    /// needed to find it.
    pub fn decode(bytes: &[u8], keys: &[Key]) -> Result<Message, DecodeError> {
        if bytes.len() < 4 || bytes[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if bytes.len() < HEADER + 2 + 2 + TAG_LEN {
            return Err(DecodeError::Malformed);
        }
        if bytes[4] != VERSION {
            return Err(DecodeError::Version(bytes[4]));
        }
        let from_len = usize::from(bytes[HEADER]);
        let to_at = HEADER + 1 + from_len;
        let to_len = usize::from(*bytes.get(to_at).ok_or(DecodeError::Malformed)?);
        let tag_at = to_at + 1 + to_len;
        let valid_len = |n| (1..=MAX_NAME).contains(&n);
        if !valid_len(from_len) || !valid_len(to_len) || bytes.len() != tag_at + TAG_LEN {
            return Err(DecodeError::Malformed);
        }
        let (signed, tag) = bytes.split_at(tag_at);
        if !keys.iter().any(|key| key.verify(signed, tag)) {
            return Err(DecodeError::BadTag);
        }
        let kind = match bytes[5] {
            1 => Kind::Heartbeat,
            2 => Kind::Leaving,
            other => return Err(DecodeError::Kind(other)),
        };
        let u64_at = |at: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let name = |at: usize, len: usize| {
            std::str::from_utf8(&bytes[at..at + len])
                .map(str::to_owned)
                .map_err(|_| DecodeError::Invalid)
        };
        let boot = u64_at(8);
        if boot == 0 {
            return Err(DecodeError::Invalid);
        }
        Ok(Message {
            kind,
            hears_you: bytes[6] & FLAG_HEARS_YOU != 0,
            ready: bytes[6] & FLAG_READY != 0,
            boot,
            seq: u64_at(16),
            echo: u64_at(24),
            from: name(HEADER + 1, from_len)?,
            to: name(to_at + 1, to_len)?,
        })
    }
}

/// At most [`MAX_NAME`] bytes, on a character boundary, never empty for a non-empty name.
fn cut(name: &str) -> &[u8] {
    let mut end = name.len().min(MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name.as_bytes()[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::new(&[b; 32]).unwrap()
    }

    fn message() -> Message {
        Message {
            kind: Kind::Heartbeat,
            hears_you: true,
            ready: true,
            boot: 0x0102_0304_0506_0708,
            seq: 9,
            echo: 0x1112_1314_1516_1718,
            from: "a".into(),
            to: "bc".into(),
        }
    }

    /// The layout, byte for byte, and the tag: an independent HMAC-SHA-256 (Python's hmac
    /// module) gives the same 32 bytes for this key and message.
    #[test]
    fn known_answer() {
        let bytes = message().encode(&key(0x42));
        let head: Vec<u8> = [
            &b"PRTM"[..],
            &[1, 1, 3, 0],
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &[0, 0, 0, 0, 0, 0, 0, 9],
            &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18],
            &[1, b'a', 2, b'b', b'c'],
        ]
        .concat();
        assert_eq!(bytes[..head.len()], head[..]);
        assert_eq!(bytes.len(), head.len() + TAG_LEN);
        assert_eq!(
            bytes[head.len()..],
            hex("a18e4f078d2499b5d09d3d887ec23f54c7ee0b83d0cb13d1a8b4d69903050b23"),
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn round_trip_under_either_key() {
        let m = message();
        let bytes = m.encode(&key(1));
        assert_eq!(Message::decode(&bytes, &[key(1)]), Ok(m.clone()));
        assert_eq!(Message::decode(&bytes, &[key(2), key(1)]), Ok(m.clone()));
        assert_eq!(Message::decode(&bytes, &[key(2)]), Err(DecodeError::BadTag));
        let leaving = Message {
            kind: Kind::Leaving,
            hears_you: false,
            ready: false,
            ..m
        };
        assert_eq!(
            Message::decode(&leaving.encode(&key(1)), &[key(1)]),
            Ok(leaving)
        );
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let bytes = message().encode(&key(1));
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            // Bits 2..8 of the flags and the reserved byte are ignored by the decoder but
            // covered by the tag, so they are rejected too.
            assert!(Message::decode(&b, &[key(1)]).is_err(), "bit {i}");
        }
    }

    #[test]
    fn malformed() {
        let bytes = message().encode(&key(1));
        let keys = [key(1)];
        assert_eq!(Message::decode(&[], &keys), Err(DecodeError::BadMagic));
        assert_eq!(Message::decode(b"XXXX", &keys), Err(DecodeError::BadMagic));
        for len in 4..bytes.len() {
            assert_eq!(
                Message::decode(&bytes[..len], &keys),
                Err(DecodeError::Malformed),
                "{len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Message::decode(&longer, &keys), Err(DecodeError::Malformed));
        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert_eq!(Message::decode(&v2, &keys), Err(DecodeError::Version(2)));
        let mut empty_name = message();
        empty_name.from = String::new();
        assert_eq!(
            Message::decode(&empty_name.encode(&key(1)), &keys),
            Err(DecodeError::Malformed)
        );
    }

    #[test]
    fn authenticated_but_invalid() {
        let keys = [key(1)];
        let zero_boot = Message {
            boot: 0,
            ..message()
        };
        assert_eq!(
            Message::decode(&zero_boot.encode(&key(1)), &keys),
            Err(DecodeError::Invalid)
        );
        let mut bytes = message().encode(&key(1));
        bytes[5] = 9;
        let tag_at = bytes.len() - TAG_LEN;
        let tag = key(1).tag(&bytes[..tag_at]);
        bytes[tag_at..].copy_from_slice(&tag);
        assert_eq!(Message::decode(&bytes, &keys), Err(DecodeError::Kind(9)));
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let m = Message {
            from: "é".repeat(200),
            ..message()
        };
        let decoded = Message::decode(&m.encode(&key(1)), &[key(1)]).unwrap();
        assert_eq!(decoded.from, "é".repeat(126));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(Key::new(&[0; 15]).err(), Some(ShortKey(15)));
        assert!(Key::new(&[0; 16]).is_ok());
    }
}
