//! Address ranges as written in an Eip's `spec.address`: a single IP, a CIDR or `first-last`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::RangeError;

/// IP address family; IPv4 and IPv6 are separate address spaces and never compared as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Family {
    /// IPv4 (the default, as in Kubernetes single-stack clusters).
    #[default]
    V4,
    /// IPv6, including IPv4-mapped addresses such as `::ffff:1.2.3.4`.
    V6,
}

impl Family {
    /// The family of an address, so callers need not match on `IpAddr` themselves.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Address width in bits: the longest valid CIDR prefix.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Integer value of an address within its own family's space.
fn to_int(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Address of `family` with integer value `v`, if it fits the family.
fn from_int(family: Family, v: u128) -> Option<IpAddr> {
    match family {
        Family::V4 => u32::try_from(v).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        Family::V6 => Some(IpAddr::V6(Ipv6Addr::from(v))),
    }
}

/// The next address of the same family, if any.
pub(crate) fn succ(ip: IpAddr) -> Option<IpAddr> {
    from_int(Family::of(ip), to_int(ip).checked_add(1)?)
}

/// The previous address of the same family, if any.
pub(crate) fn pred(ip: IpAddr) -> Option<IpAddr> {
    from_int(Family::of(ip), to_int(ip).checked_sub(1)?)
}

/// Whether `ip` is an IPv4 address ending in `.0` or `.255`: what MetalLB's `avoidBuggyIPs` (and
/// Porter's Eip `avoidBuggyIPs`) skips, because some clients and routers take any such address for
/// a network or broadcast address, whatever the prefix. IPv6 has no such addresses.
pub fn is_buggy_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => matches!(a.octets()[3], 0 | 255),
        IpAddr::V6(_) => false,
    }
}

/// A non-empty, inclusive range of addresses of one family: the unit an Eip pool owns.
///
/// Invariant: `first` and `last` have the same family and `first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpRange {
    first: IpAddr,
    last: IpAddr,
}

impl IpRange {
    /// Parses an Eip `spec.address`: `192.168.0.100`, `192.168.0.0/24` (network and broadcast
    /// included) or `192.168.0.91-192.168.0.100`, IPv4 or IPv6.
    pub fn parse(s: &str) -> Result<IpRange, RangeError> {
        let input = s.trim();
        if input.is_empty() {
            return Err(RangeError::Empty);
        }
        let invalid = || RangeError::Invalid {
            input: s.to_owned(),
        };
        if let Some((a, b)) = input.split_once('-') {
            let first: IpAddr = a.trim().parse().map_err(|_| invalid())?;
            let last: IpAddr = b.trim().parse().map_err(|_| invalid())?;
            return Self::checked(first, last, s);
        }
        if let Some((a, p)) = input.split_once('/') {
            let addr: IpAddr = a.parse().map_err(|_| invalid())?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            let family = Family::of(addr);
            let max = family.bits();
            let prefix = match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(RangeError::PrefixTooLong {
                        input: s.to_owned(),
                        family,
                        max,
                    });
                }
            };
            let width = u32::from(max);
            let host_bits = width - u32::from(prefix);
            // Mask of host bits within the family's width; computed in u128 so /0 does not overflow.
            let host_mask: u128 = if host_bits == 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            let v = to_int(addr);
            let network = v & !host_mask;
            let (Some(first), Some(last)) = (
                from_int(family, network),
                from_int(family, network | host_mask),
            ) else {
                return Err(invalid());
            };
            if network != v {
                return Err(RangeError::HostBitsSet {
                    input: s.to_owned(),
                    suggestion: format!("{first}/{prefix}"),
                });
            }
            return Ok(IpRange { first, last });
        }
        let ip: IpAddr = input.parse().map_err(|_| invalid())?;
        Ok(IpRange::from(ip))
    }

    /// Builds a range from its bounds; they must be of the same family with `first <= last`.
    pub fn new(first: IpAddr, last: IpAddr) -> Result<IpRange, RangeError> {
        Self::checked(first, last, &format!("{first}-{last}"))
    }

    fn checked(first: IpAddr, last: IpAddr, input: &str) -> Result<IpRange, RangeError> {
        if Family::of(first) != Family::of(last) {
            return Err(RangeError::MixedFamilies {
                input: input.to_owned(),
            });
        }
        if first > last {
            return Err(RangeError::Reversed {
                input: input.to_owned(),
            });
        }
        Ok(IpRange { first, last })
    }

    /// Lowest address of the range.
    pub fn first(&self) -> IpAddr {
        self.first
    }

    /// Highest address of the range (inclusive).
    pub fn last(&self) -> IpAddr {
        self.last
    }

    /// Family of every address in the range.
    pub fn family(&self) -> Family {
        Family::of(self.first)
    }

    /// Whether `ip` is in the range; always false for an address of the other family.
    pub fn contains(&self, ip: IpAddr) -> bool {
        Family::of(ip) == self.family() && self.first <= ip && ip <= self.last
    }

    /// Number of addresses, saturating at `u128::MAX` (only `::/0`, with 2^128 addresses, saturates).
    pub fn size(&self) -> u128 {
        (to_int(self.last) - to_int(self.first)).saturating_add(1)
    }

    /// How many addresses of the range [`is_buggy_ip`] (IPv4 addresses ending in `.0` or `.255`).
    pub fn buggy_count(&self) -> u128 {
        if self.family() != Family::V4 {
            return 0;
        }
        // Addresses <= n whose last octet is `octet`.
        let upto = |n: u128, octet: u128| if n < octet { 0 } else { (n - octet) / 256 + 1 };
        let (first, last) = (to_int(self.first), to_int(self.last));
        [0, 255]
            .into_iter()
            .map(|octet| upto(last, octet) - first.checked_sub(1).map_or(0, |n| upto(n, octet)))
            .sum()
    }

    /// Whether the two ranges share an address; ranges of different families never overlap.
    pub fn overlaps(&self, other: &IpRange) -> bool {
        self.family() == other.family() && self.first <= other.last && other.first <= self.last
    }

    /// The address `offset` places after `first`, if still inside the range.
    pub fn nth(&self, offset: u128) -> Option<IpAddr> {
        let v = to_int(self.first).checked_add(offset)?;
        let ip = from_int(self.family(), v)?;
        (ip <= self.last).then_some(ip)
    }

    /// How far `ip` is from `first`, if it is inside the range.
    pub fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        self.contains(ip).then(|| to_int(ip) - to_int(self.first))
    }
}

impl From<IpAddr> for IpRange {
    /// A range holding exactly one address.
    fn from(ip: IpAddr) -> IpRange {
        IpRange {
            first: ip,
            last: ip,
        }
    }
}

impl FromStr for IpRange {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<IpRange, RangeError> {
        IpRange::parse(s)
    }
}

impl fmt::Display for IpRange {
    /// Canonical form: `a` for a single address, `first-last` otherwise; it parses back to the same range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn r(s: &str) -> IpRange {
        IpRange::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        match IpRange::parse(s) {
            Ok(r) => panic!("{s} parsed as {r}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn single_v4_and_v6() {
        let a = r("192.168.0.100");
        assert_eq!(
            (a.first(), a.last(), a.size()),
            (ip("192.168.0.100"), ip("192.168.0.100"), 1)
        );
        assert_eq!(a.family(), Family::V4);
        let b = r("2001:db8::1");
        assert_eq!(
            (b.first(), b.size(), b.family()),
            (ip("2001:db8::1"), 1, Family::V6)
        );
        assert_eq!(r("  10.0.0.1 ").to_string(), "10.0.0.1");
    }

    #[test]
    fn cidr_includes_network_and_broadcast() {
        let a = r("192.168.0.0/24");
        assert_eq!(
            (a.first(), a.last(), a.size()),
            (ip("192.168.0.0"), ip("192.168.0.255"), 256)
        );
        assert_eq!(r("10.0.0.7/32").size(), 1);
        assert_eq!(r("0.0.0.0/0").size(), 1 << 32);
        assert_eq!(r("0.0.0.0/0").last(), ip("255.255.255.255"));
        let b = r("2001:db8::/64");
        assert_eq!(
            (b.last(), b.size()),
            (ip("2001:db8::ffff:ffff:ffff:ffff"), 1 << 64)
        );
        assert_eq!(r("::/0").size(), u128::MAX);
        assert_eq!(r("::/1").size(), 1 << 127);
        assert_eq!(r("2001:db8::1/128").size(), 1);
    }

    #[test]
    fn dash_range_tolerates_whitespace() {
        let a = r("192.168.0.91-192.168.0.100");
        assert_eq!(
            (a.first(), a.last(), a.size()),
            (ip("192.168.0.91"), ip("192.168.0.100"), 10)
        );
        assert_eq!(r("192.168.0.91 - 192.168.0.100"), a);
        assert_eq!(r("192.168.0.91\t-  192.168.0.100 "), a);
        assert_eq!(r("10.0.0.1-10.0.0.1").to_string(), "10.0.0.1");
        assert_eq!(r("2001:db8::1-2001:db8::ff").size(), 255);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "10.0.0.0/8",
            "1.2.3.4",
            "1.2.3.4 - 1.2.3.9",
            "::/0",
            "fd00::5-fd00::1:0",
            "::ffff:1.2.3.4",
        ] {
            let a = r(s);
            assert_eq!(r(&a.to_string()), a, "{s}");
            assert_eq!(a.to_string().parse::<IpRange>(), Ok(a));
        }
        assert_eq!(r("10.0.0.0/30").to_string(), "10.0.0.0-10.0.0.3");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            err("10.0.0.5/24"),
            r#""10.0.0.5/24" has host bits set; did you mean "10.0.0.0/24"?"#
        );
        assert_eq!(
            err("2001:db8::1/64"),
            r#""2001:db8::1/64" has host bits set; did you mean "2001:db8::/64"?"#
        );
        assert_eq!(
            err("10.0.0.0/33"),
            r#""10.0.0.0/33" has a prefix length that is too long for IPv4 (at most 32)"#
        );
        assert_eq!(
            err("::/129"),
            r#""::/129" has a prefix length that is too long for IPv6 (at most 128)"#
        );
        assert_eq!(
            err("::/99999999999"),
            r#""::/99999999999" has a prefix length that is too long for IPv6 (at most 128)"#
        );
        assert_eq!(
            err("banana"),
            r#""banana" is not an IP address, a CIDR or a first-last range"#
        );
        assert_eq!(
            err("10.0.0.1-2001:db8::1"),
            r#""10.0.0.1-2001:db8::1" mixes IPv4 and IPv6 addresses"#
        );
        assert_eq!(
            err("10.0.0.9-10.0.0.1"),
            r#""10.0.0.9-10.0.0.1" has its first address greater than its last"#
        );
        assert_eq!(
            err("  "),
            "address range is empty; expected an IP address, a CIDR or a first-last range"
        );
        assert_eq!(IpRange::parse(""), Err(RangeError::Empty));
    }

    #[test]
    fn malformed_inputs_are_invalid() {
        for s in [
            "10.0.0.0/",
            "/24",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0 /8",
            "10.0.0.1-",
            "-10.0.0.1",
            "10.0.0.1-10.0.0.2-10.0.0.3",
            "10.0.0.0/24-10.0.1.0/24",
            "010.0.0.1",
            "10.0.0",
            "fe80::1%eth0",
            "1.2.3.4.5",
        ] {
            assert!(
                matches!(IpRange::parse(s), Err(RangeError::Invalid { .. })),
                "{s}: {:?}",
                IpRange::parse(s)
            );
        }
    }

    #[test]
    fn new_checks_bounds() {
        assert_eq!(
            IpRange::new(ip("10.0.0.1"), ip("10.0.0.3")),
            Ok(r("10.0.0.1-10.0.0.3"))
        );
        assert_eq!(
            IpRange::new(ip("10.0.0.3"), ip("10.0.0.1")).map_err(|e| e.to_string()),
            Err(r#""10.0.0.3-10.0.0.1" has its first address greater than its last"#.to_owned())
        );
        assert!(matches!(
            IpRange::new(ip("::1"), ip("10.0.0.1")),
            Err(RangeError::MixedFamilies { .. })
        ));
    }

    #[test]
    fn ipv4_mapped_is_ipv6_and_separate() {
        let mapped = r("::ffff:10.0.0.0/120");
        assert_eq!(mapped.family(), Family::V6);
        assert_eq!(mapped.size(), 256);
        let v4 = r("10.0.0.0/24");
        assert!(!mapped.overlaps(&v4) && !v4.overlaps(&mapped));
        assert!(!v4.contains(ip("::ffff:10.0.0.1")));
        assert!(!mapped.contains(ip("10.0.0.1")));
        assert!(mapped.contains(ip("::ffff:10.0.0.1")));
        assert_eq!(v4.offset_of(ip("::ffff:10.0.0.1")), None);
        // Same integers in both families: still not the same addresses.
        assert!(!r("0.0.0.0/0").overlaps(&r("::/96")));
        assert!(matches!(
            IpRange::parse("10.0.0.1-::ffff:10.0.0.2"),
            Err(RangeError::MixedFamilies { .. })
        ));
    }

    #[test]
    fn contains_overlaps_nth_offset() {
        let a = r("10.0.0.10-10.0.0.20");
        assert!(a.contains(ip("10.0.0.10")) && a.contains(ip("10.0.0.20")));
        assert!(
            !a.contains(ip("10.0.0.9")) && !a.contains(ip("10.0.0.21")) && !a.contains(ip("::1"))
        );
        assert!(a.overlaps(&r("10.0.0.20-10.0.0.30")));
        assert!(a.overlaps(&r("10.0.0.0/8")));
        assert!(!a.overlaps(&r("10.0.0.21-10.0.0.30")));
        assert!(!a.overlaps(&r("::/0")));
        assert_eq!(a.nth(0), Some(ip("10.0.0.10")));
        assert_eq!(a.nth(10), Some(ip("10.0.0.20")));
        assert_eq!(a.nth(11), None);
        assert_eq!(a.nth(u128::MAX), None);
        assert_eq!(a.offset_of(ip("10.0.0.15")), Some(5));
        assert_eq!(a.offset_of(ip("10.0.0.21")), None);
        let all4 = r("0.0.0.0/0");
        assert_eq!(all4.nth(u128::from(u32::MAX)), Some(ip("255.255.255.255")));
        assert_eq!(all4.nth(1 << 32), None);
        let all6 = r("::/0");
        assert_eq!(
            all6.nth(u128::MAX),
            Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(
            all6.offset_of(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
            Some(u128::MAX)
        );
    }

    #[test]
    fn succ_pred_stay_in_family() {
        assert_eq!(succ(ip("255.255.255.255")), None);
        assert_eq!(pred(ip("0.0.0.0")), None);
        assert_eq!(succ(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), None);
        assert_eq!(pred(ip("::")), None);
        assert_eq!(succ(ip("10.0.0.255")), Some(ip("10.0.1.0")));
        assert_eq!(pred(ip("::1:0")), Some(ip("::ffff")));
    }
}
