//! Per-route path attributes Porter lets operators attach to a Service IP, and the parsers for
//! the strings they write in resources (`"65000:100"`, `"no-export"`, `"65000:1:2"`).
//!
//! Only attributes an originating node has a reason to set are modelled: MED and LOCAL_PREF to
//! steer between nodes or sites, communities to tag routes for router policy, and the
//! link-bandwidth extended community so routers can weight ECMP by node capacity (unequal-cost
//! multipath, as FRR, Junos and EOS support).

use std::collections::BTreeSet;
use std::fmt;

/// The 2-octet placeholder for a 4-octet AS (RFC 6793); also the link-bandwidth global admin
/// when the local AS does not fit two octets.
pub const AS_TRANS: u16 = 23456;

/// RFC 1997 / IANA well-known communities, by the names FRR, BIRD and GoBGP accept.
pub mod well_known {
    /// RFC 8326: lower the route's preference during maintenance.
    pub const GRACEFUL_SHUTDOWN: u32 = 0xFFFF_0000;
    /// RFC 7611: accept the route even though it carries our own originator.
    pub const ACCEPT_OWN: u32 = 0xFFFF_0001;
    /// RFC 9494: the route is stale (long-lived graceful restart).
    pub const LLGR_STALE: u32 = 0xFFFF_0006;
    /// RFC 9494: do not keep the route as long-lived stale.
    pub const NO_LLGR: u32 = 0xFFFF_0007;
    /// RFC 7999: drop traffic to this prefix (remote-triggered blackhole).
    pub const BLACKHOLE: u32 = 0xFFFF_029A;
    /// RFC 1997: do not advertise outside the AS (confederation).
    pub const NO_EXPORT: u32 = 0xFFFF_FF01;
    /// RFC 1997: do not advertise to any peer.
    pub const NO_ADVERTISE: u32 = 0xFFFF_FF02;
    /// RFC 1997: do not advertise to external peers, even within a confederation.
    pub const NO_EXPORT_SUBCONFED: u32 = 0xFFFF_FF03;
    /// RFC 3765: do not advertise to bilateral peers.
    pub const NO_PEER: u32 = 0xFFFF_FF04;

    /// Name and value of every well-known community [`super::parse_community`] accepts.
    pub const NAMES: [(&str, u32); 10] = [
        ("graceful-shutdown", GRACEFUL_SHUTDOWN),
        ("accept-own", ACCEPT_OWN),
        ("llgr-stale", LLGR_STALE),
        ("no-llgr", NO_LLGR),
        ("blackhole", BLACKHOLE),
        ("no-export", NO_EXPORT),
        ("no-advertise", NO_ADVERTISE),
        ("no-export-subconfed", NO_EXPORT_SUBCONFED),
        ("local-as", NO_EXPORT_SUBCONFED),
        ("no-peer", NO_PEER),
    ];
}

/// Link bandwidth (draft-ietf-idr-link-bandwidth), in bytes per second.
///
/// Stored as an integer so that [`RouteAttrs`] can be `Eq`/`Ord` (the Adj-RIB-Out groups and
/// diffs by attributes); the wire carries an IEEE float32, so values above 2^24 are rounded to
/// the nearest float on the wire (1 GB/s and other round numbers are exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkBandwidth {
    /// Bandwidth in bytes per second (not bits: the draft's unit).
    pub bytes_per_second: u32,
}

impl LinkBandwidth {
    /// Extended community type: two-octet AS specific, non-transitive (0x40), so the weight
    /// stays between the node and its router and never leaks further.
    pub const TYPE: u8 = 0x40;
    /// Extended community sub-type for link bandwidth.
    pub const SUBTYPE: u8 = 0x04;

    /// The raw 8-octet extended community; the global admin is `local_as`, or `AS_TRANS` when
    /// it needs four octets (the two-octet-AS-specific format has no room for it).
    pub fn to_extended_community(self, local_as: u32) -> u64 {
        let [a0, a1] = u16::try_from(local_as).unwrap_or(AS_TRANS).to_be_bytes();
        #[expect(
            clippy::cast_precision_loss,
            reason = "the wire format is float32; documented on the type"
        )]
        let [f0, f1, f2, f3] = (self.bytes_per_second as f32).to_bits().to_be_bytes();
        u64::from_be_bytes([Self::TYPE, Self::SUBTYPE, a0, a1, f0, f1, f2, f3])
    }

    /// Decodes a link-bandwidth extended community (also the transitive 0x00 variant some
    /// vendors send); `None` for any other community or a negative / non-finite value.
    pub fn from_extended_community(raw: u64) -> Option<LinkBandwidth> {
        let b = raw.to_be_bytes();
        if b[0] & !0x40 != 0 || b[1] != Self::SUBTYPE {
            return None;
        }
        let f = f32::from_bits(u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
        if !f.is_finite() || f < 0.0 {
            return None;
        }
        // `as` saturates at u32::MAX, which is the right reading of "more than we can count".
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked finite and non-negative; saturation intended"
        )]
        let bytes_per_second = f.round() as u32;
        Some(LinkBandwidth { bytes_per_second })
    }
}

/// The path attributes of one announced prefix, beyond the ones every announcement carries
/// (ORIGIN, AS_PATH, next hop).
///
/// `Default` is "no extra attributes", which is what callers without policy use. `Ord` exists so
/// the Adj-RIB-Out can group prefixes with identical attributes into one UPDATE
/// deterministically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteAttrs {
    /// MULTI_EXIT_DISC: lets the routers prefer one node (or site) over another.
    pub med: Option<u32>,
    /// LOCAL_PREF, sent on iBGP only (100 when `None`); never sent to an eBGP peer (RFC 4271
    /// §5.1.5), so a value here has no effect on eBGP sessions.
    pub local_pref: Option<u32>,
    /// RFC 1997 standard communities, `ASN << 16 | VALUE` (see [`parse_community`]).
    pub communities: BTreeSet<u32>,
    /// RFC 8092 large communities `[global admin, local data 1, local data 2]`.
    pub large_communities: BTreeSet<[u32; 3]>,
    /// Link-bandwidth extended community, for unequal-cost multipath on the routers.
    pub link_bandwidth: Option<LinkBandwidth>,
}

/// LOCAL_PREF of a route in graceful shutdown (RFC 8326 §4.1: the lowest, so any other path
/// wins).
pub const GSHUT_LOCAL_PREF: u32 = 0;

impl RouteAttrs {
    /// These attributes as a route in graceful shutdown (RFC 8326) carries them: the
    /// GRACEFUL_SHUTDOWN community added, and LOCAL_PREF 0, which only iBGP peers receive (an
    /// eBGP router lowers the preference itself, by import policy matching the community).
    pub fn graceful_shutdown(&self) -> RouteAttrs {
        let mut a = self.clone();
        a.communities.insert(well_known::GRACEFUL_SHUTDOWN);
        a.local_pref = Some(GSHUT_LOCAL_PREF);
        a
    }
}

/// Why a community string was rejected; the message names the accepted syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    /// A standard community that is neither `ASN:VALUE` (each 0..=65535) nor a known name.
    #[error(
        "invalid community {input:?}: {reason}; expected ASN:VALUE (each 0..=65535) or one of \
         no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, \
         accept-own, llgr-stale, no-llgr"
    )]
    Standard {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A large community that is not `GLOBAL:LOCAL1:LOCAL2` (each 0..=4294967295).
    #[error(
        "invalid large community {input:?}: {reason}; expected GLOBAL:LOCAL1:LOCAL2 (each 0..=4294967295)"
    )]
    Large {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn parts<T: std::str::FromStr>(s: &str, n: usize) -> Result<Vec<T>, String> {
    let fields: Vec<&str> = s.split(':').collect();
    if fields.len() != n {
        return Err(format!("{} colon-separated parts, not {n}", fields.len()));
    }
    fields
        .iter()
        .map(|f| {
            let f = f.trim();
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{f:?} is not a decimal number"));
            }
            f.parse::<T>().map_err(|_| format!("{f} is out of range"))
        })
        .collect()
}

/// Parses a standard community: `"65000:100"` or a well-known name (`"no-export"`,
/// `"blackhole"`, `"graceful-shutdown"`, ... case-insensitive).
pub fn parse_community(s: &str) -> Result<u32, CommunityError> {
    let t = s.trim();
    if let Some((_, v)) = well_known::NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(t))
    {
        return Ok(*v);
    }
    let err = |reason| CommunityError::Standard {
        input: s.to_string(),
        reason,
    };
    let p: Vec<u16> = parts(t, 2).map_err(err)?;
    Ok(u32::from(p[0]) << 16 | u32::from(p[1]))
}

/// Parses an RFC 8092 large community, `"65000:1:2"`.
pub fn parse_large_community(s: &str) -> Result<[u32; 3], CommunityError> {
    let p: Vec<u32> = parts(s.trim(), 3).map_err(|reason| CommunityError::Large {
        input: s.to_string(),
        reason,
    })?;
    Ok([p[0], p[1], p[2]])
}

/// A standard community as operators write it: its well-known name, or `ASN:VALUE`.
pub fn format_community(c: u32) -> String {
    match well_known::NAMES.iter().find(|(_, v)| *v == c) {
        Some((name, _)) => (*name).to_string(),
        None => format!("{}:{}", c >> 16, c & 0xffff),
    }
}

impl fmt::Display for LinkBandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B/s", self.bytes_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_communities() {
        assert_eq!(parse_community("65000:100"), Ok(65000 << 16 | 100));
        assert_eq!(parse_community(" 0:0 "), Ok(0));
        assert_eq!(parse_community("no-export"), Ok(0xFFFF_FF01));
        assert_eq!(parse_community("NO-ADVERTISE"), Ok(0xFFFF_FF02));
        assert_eq!(parse_community("blackhole"), Ok(0xFFFF_029A));
        assert_eq!(parse_community("graceful-shutdown"), Ok(0xFFFF_0000));
        for bad in [
            "65536:1", "1:65536", "1", "1:2:3", "a:1", ":1", "-1:2", "no-such",
        ] {
            let e = parse_community(bad).unwrap_err();
            assert!(e.to_string().contains("expected ASN:VALUE"), "{e}");
        }
        assert!(
            parse_community("65536:1")
                .unwrap_err()
                .to_string()
                .contains("65536 is out of range")
        );
        assert_eq!(format_community(65000 << 16 | 100), "65000:100");
        assert_eq!(format_community(well_known::NO_EXPORT), "no-export");
    }

    #[test]
    fn graceful_shutdown_adds_the_community_and_the_lowest_local_pref() {
        let a = RouteAttrs {
            med: Some(5),
            local_pref: Some(200),
            communities: [65000 << 16 | 1].into(),
            ..RouteAttrs::default()
        };
        let g = a.graceful_shutdown();
        assert_eq!(
            g.communities,
            [65000 << 16 | 1, well_known::GRACEFUL_SHUTDOWN].into()
        );
        assert_eq!((g.med, g.local_pref), (Some(5), Some(0)));
        assert_eq!(g.graceful_shutdown(), g, "idempotent");
    }

    #[test]
    fn large_communities() {
        assert_eq!(parse_large_community("65000:1:2"), Ok([65000, 1, 2]));
        assert_eq!(
            parse_large_community("4294967295:0:4294967295"),
            Ok([u32::MAX, 0, u32::MAX])
        );
        for bad in ["1:2", "1:2:3:4", "4294967296:1:1", "x:1:2", "1::2"] {
            let e = parse_large_community(bad).unwrap_err();
            assert!(e.to_string().contains("GLOBAL:LOCAL1:LOCAL2"), "{e}");
        }
    }

    #[test]
    fn link_bandwidth_round_trip() {
        let lb = LinkBandwidth {
            bytes_per_second: 1_250_000_000,
        };
        let raw = lb.to_extended_community(65001);
        // 0x40 0x04, AS 65001 = fde9, 1.25e9 as f32 = 0x4e9502f9.
        assert_eq!(raw, 0x4004_fde9_4e95_02f9);
        assert_eq!(LinkBandwidth::from_extended_community(raw), Some(lb));
        assert_eq!(
            lb.to_extended_community(4_200_000_000) >> 32,
            0x4004_5ba0,
            "AS_TRANS"
        );
        assert_eq!(
            LinkBandwidth::from_extended_community(0x0002_fde9_0000_0064),
            None
        );
        let negative = 0x4004_0000_0000_0000 | u64::from((-1.0f32).to_bits());
        assert_eq!(LinkBandwidth::from_extended_community(negative), None);
    }
}
