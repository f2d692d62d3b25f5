//! IP prefixes as announced in the Adj-RIB-Out.
//!
//! Porter announces Service IPs (host routes), but the type accepts any valid prefix so that the
//! same code can carry aggregated pools later. Host bits must be zero: a prefix with host bits set
//! is almost always a configuration bug, and silently masking it would announce something else than
//! what the operator wrote.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address family (AFI/SAFI pair) Porter can negotiate and announce.
///
/// Kept to the two families Porter needs so that every `match` stays exhaustive; adding a family
/// is a deliberate change that the compiler walks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 unicast (AFI 1, SAFI 1): carried in the UPDATE body (RFC 4271).
    Ipv4Unicast,
    /// IPv6 unicast (AFI 2, SAFI 1): carried in `MP_REACH_NLRI` / `MP_UNREACH_NLRI` (RFC 4760).
    Ipv6Unicast,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4Unicast => "ipv4-unicast",
            Family::Ipv6Unicast => "ipv6-unicast",
        })
    }
}

/// Why a prefix could not be built; returned instead of silently masking or clamping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The length is longer than the address (more than 32 for IPv4, 128 for IPv6).
    #[error("prefix length {len} exceeds {max} for {addr}")]
    LengthTooLong {
        /// The address given.
        addr: IpAddr,
        /// The length given.
        len: u8,
        /// The maximum for this family.
        max: u8,
    },
    /// Bits beyond the prefix length are set (e.g. `10.0.0.1/24`).
    #[error("host bits set in {addr}/{len}")]
    HostBitsSet {
        /// The address given.
        addr: IpAddr,
        /// The length given.
        len: u8,
    },
    /// The text is not `ADDR/LEN` or `ADDR`.
    #[error("invalid prefix syntax {0:?}")]
    Syntax(String),
}

/// An IPv4 or IPv6 prefix with zero host bits, the unit of the Adj-RIB-Out.
///
/// `Ord` sorts IPv4 before IPv6 and then by address and length, which makes UPDATE contents
/// deterministic when prefixes are drained from a `BTreeSet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// Builds a prefix, rejecting over-long lengths and set host bits so a typo never turns into a
    /// different announcement.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let max = max_len(addr);
        if len > max {
            return Err(PrefixError::LengthTooLong { addr, len, max });
        }
        let host_bits_set = match addr {
            IpAddr::V4(a) => len < 32 && u32::from(a) & (u32::MAX >> len) != 0,
            IpAddr::V6(a) => len < 128 && u128::from(a) & (u128::MAX >> len) != 0,
        };
        if host_bits_set {
            return Err(PrefixError::HostBitsSet { addr, len });
        }
        Ok(Prefix { addr, len })
    }

    /// The host route for one address (/32 or /128): what a LoadBalancer Service IP is announced as.
    pub fn host(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: max_len(addr),
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[expect(
        clippy::len_without_is_empty,
        reason = "a prefix length, not a container size"
    )]
    pub fn len(&self) -> u8 {
        self.len
    }

    /// The family this prefix is announced in; decides body NLRI versus `MP_REACH_NLRI`.
    pub fn family(&self) -> Family {
        match self.addr {
            IpAddr::V4(_) => Family::Ipv4Unicast,
            IpAddr::V6(_) => Family::Ipv6Unicast,
        }
    }

    /// Octets this prefix takes in an NLRI field (length octet plus significant address octets);
    /// the UPDATE packer sums these to stay under the 4096-byte message limit.
    pub fn nlri_len(&self) -> usize {
        1 + usize::from(self.len).div_ceil(8)
    }
}

fn max_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Parses `203.0.113.10/32`, `2001:db8::/32`, or a bare address (a host route).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PrefixError::Syntax(s.to_string());
        match s.split_once('/') {
            Some((a, l)) => {
                let addr: IpAddr = a.parse().map_err(|_| syntax())?;
                let len: u8 = l.parse().map_err(|_| syntax())?;
                Prefix::new(addr, len)
            }
            None => Ok(Prefix::host(s.parse().map_err(|_| syntax())?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn host_routes() {
        let v4 = Prefix::host(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)));
        assert_eq!(v4.to_string(), "203.0.113.10/32");
        assert_eq!(v4.len(), 32);
        assert_eq!(v4.family(), Family::Ipv4Unicast);
        let v6 = Prefix::host(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(v6.len(), 128);
        assert_eq!(v6.family(), Family::Ipv6Unicast);
    }

    #[test]
    fn rejects_host_bits_and_long_lengths() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert!(matches!(
            Prefix::new(a, 24),
            Err(PrefixError::HostBitsSet { .. })
        ));
        assert!(matches!(
            Prefix::new(a, 33),
            Err(PrefixError::LengthTooLong { .. })
        ));
        assert!(Prefix::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 24).is_ok());
        assert!(Prefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).is_ok());
        let b = IpAddr::V6("2001:db8::1".parse().unwrap());
        assert!(matches!(
            Prefix::new(b, 64),
            Err(PrefixError::HostBitsSet { .. })
        ));
        assert!(matches!(
            Prefix::new(b, 129),
            Err(PrefixError::LengthTooLong { .. })
        ));
    }

    #[test]
    fn parse_and_order() {
        let p: Prefix = "10.1.0.0/16".parse().unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert_eq!(p.nlri_len(), 3);
        let h: Prefix = "2001:db8::10".parse().unwrap();
        assert_eq!(h.to_string(), "2001:db8::10/128");
        assert_eq!(h.nlri_len(), 17);
        assert!(p < h, "IPv4 sorts before IPv6");
        assert!("10.0.0.1/8".parse::<Prefix>().is_err());
        assert!("nonsense".parse::<Prefix>().is_err());
    }
}
