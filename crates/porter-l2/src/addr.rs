//! Link-layer addresses and the IPv6 multicast groups Neighbor Discovery uses.

use std::fmt;
use std::net::Ipv6Addr;

/// An Ethernet (IEEE 802 MAC-48) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// 00:00:00:00:00:00, which names no station.
    pub const ZERO: Mac = Mac([0; 6]);
    /// 33:33:00:00:00:01, the Ethernet group of ff02::1 (all nodes).
    pub const ALL_NODES: Mac = Mac([0x33, 0x33, 0, 0, 0, 1]);

    /// The group bit is set (broadcast included).
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// An address one station may own: neither a group nor all zeros.
    pub fn is_unicast(self) -> bool {
        !self.is_multicast() && self != Mac::ZERO
    }

    /// The Ethernet group an IPv6 multicast address maps to (RFC 2464 §7: 33:33 and its last
    /// four bytes).
    pub fn ipv6_multicast(group: Ipv6Addr) -> Mac {
        let o = group.octets();
        Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// ff02::1, where unsolicited advertisements and answers to duplicate address detection go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast group of `addr` (RFC 4291 §2.7.1: ff02::1:ff00:0/104 and the
/// address's last 24 bits): where other hosts send their solicitations for it, so the shell
/// joins it for every owned IPv6 address.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// `addr` lies in ff02::1:ff00:0/104, whichever address it solicits.
pub fn is_solicited_node(addr: Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        let a: Ipv6Addr = "2001:db8::12:3456".parse().unwrap();
        let g = solicited_node(a);
        assert_eq!(g, "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
        assert!(is_solicited_node(g));
        assert!(!is_solicited_node(ALL_NODES));
        assert_eq!(Mac::ipv6_multicast(g).to_string(), "33:33:ff:12:34:56");
        assert_eq!(Mac::ipv6_multicast(ALL_NODES), Mac::ALL_NODES);
        assert!(Mac::BROADCAST.is_multicast() && !Mac::BROADCAST.is_unicast());
        assert!(!Mac::ZERO.is_unicast());
        assert!(Mac([2, 0, 0, 0, 0, 1]).is_unicast());
    }
}
