//! Which interface an Eip's `spec.interface` means, and its index and MAC: a name, or
//! `can_reach:<IP>` (the interface of this node's route to that address), never loopback.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use porter_l2::Mac;

/// An interface to answer on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// Its name.
    pub(crate) name: String,
    /// Its index (for the AF_PACKET socket).
    pub(crate) index: u32,
    /// Its MAC: the answers' sender.
    pub(crate) mac: Mac,
}

/// The `can_reach:` prefix of an Eip's `spec.interface` (OpenELB's spelling).
const CAN_REACH: &str = "can_reach:";

/// The interface `spec` (an Eip's `spec.interface`) names on this node.
pub(crate) fn resolve(spec: &str) -> Result<Link, String> {
    let name = match spec.strip_prefix(CAN_REACH) {
        Some(target) => {
            let target: IpAddr = target
                .trim()
                .parse()
                .map_err(|_| format!("{spec:?}: {target:?} is not an IP address"))?;
            route_interface(target)?
        }
        None if spec.is_empty() => {
            return Err("the Eip sets no spec.interface to answer on".to_owned());
        }
        None => spec.to_owned(),
    };
    link(&name)
}

/// The name, index and MAC of interface `name`; loopback is refused (nothing on it asks).
fn link(name: &str) -> Result<Link, String> {
    let all = getifaddrs().map_err(|e| format!("cannot list interfaces: {e}"))?;
    let mut found = false;
    for entry in all.filter(|e| e.interface_name == name) {
        found = true;
        if entry.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            return Err(format!("interface {name} is loopback: nobody asks there"));
        }
        let Some(link) = entry.address.as_ref().and_then(|a| a.as_link_addr()) else {
            continue;
        };
        let Some(mac) = link.addr() else { continue };
        let index = u32::try_from(link.ifindex()).map_err(|_| format!("{name}: bad index"))?;
        if mac == [0; 6] {
            return Err(format!(
                "interface {name} has no Ethernet address (not an Ethernet link)"
            ));
        }
        return Ok(Link {
            name: name.to_owned(),
            index,
            mac: Mac(mac),
        });
    }
    Err(if found {
        format!("interface {name} has no link-layer address")
    } else {
        format!("no interface named {name} on this node")
    })
}

/// The interface this node's route to `target` goes out of: a connected UDP socket's source
/// address (connecting sends nothing; the kernel only picks the route), then the interface
/// holding that address.
fn route_interface(target: IpAddr) -> Result<String, String> {
    let unspecified: IpAddr = match target {
        IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))
        .map_err(|e| format!("can_reach:{target}: {e}"))?;
    socket
        .connect(SocketAddr::new(target, 9))
        .map_err(|e| format!("can_reach:{target}: no route ({e})"))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("can_reach:{target}: {e}"))?
        .ip();
    let all = getifaddrs().map_err(|e| format!("cannot list interfaces: {e}"))?;
    for entry in all {
        let address = entry.address.as_ref().and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        });
        if address == Some(local) {
            return Ok(entry.interface_name);
        }
    }
    Err(format!(
        "can_reach:{target}: no interface holds the route's source address {local}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_nonsense_are_refused_with_reasons() {
        assert!(resolve("lo").unwrap_err().contains("loopback"), "lo");
        assert!(
            resolve("can_reach:127.0.0.1")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(resolve("no-such-if0").unwrap_err().contains("no interface"));
        assert!(
            resolve("can_reach:not-an-ip")
                .unwrap_err()
                .contains("not an IP address")
        );
        assert!(resolve("").unwrap_err().contains("spec.interface"));
    }

    /// The interface of the default route, where there is one (not in every sandbox).
    #[test]
    fn can_reach_finds_the_interface_a_route_goes_out_of() {
        let Ok(link) = resolve("can_reach:192.0.2.1") else {
            eprintln!("skipped: no route to 192.0.2.1 through an Ethernet interface here");
            return;
        };
        assert_ne!(link.name, "lo");
        assert_eq!(resolve(&link.name), Ok(link));
    }
}
