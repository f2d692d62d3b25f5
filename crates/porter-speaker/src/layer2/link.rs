//! Which interface an Eip's `spec.interface` means, and its index and MAC: a name, or
//! `can_reach:<IP>` (the interface of this node's route to that address), never loopback;
//! unset, the interface whose subnet holds the address ([`by_subnet`]), never a bridge,
//! veth or CNI device.

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

/// What an interface is, as far as answering on it by default goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A NIC, or a bond, VLAN, macvlan or ipvlan on one: the node's own segment.
    Own,
    /// Nobody asks there.
    Loopback,
    /// A virtual device of another kind, as the kernel names it (`veth`, `bridge`, `dummy`,
    /// `vxlan`...): a Pod's link, a CNI's or VM host's bridge, kube-proxy's `kube-ipvs0`, an
    /// overlay. Its segment is not the one clients ask on.
    Virtual(String),
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Own => f.write_str("the node's own link"),
            Kind::Loopback => f.write_str("the loopback"),
            Kind::Virtual(kind) => write!(f, "a {kind} device"),
        }
    }
}

/// One interface with the subnets it holds, for [`choose`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Its addresses with their prefix lengths.
    pub(crate) networks: Vec<(IpAddr, u8)>,
}

/// Whether `network/len` holds `addr` (and is a subnet: a host route, such as the address
/// itself on `kube-ipvs0` or `lo`, holds nothing).
fn holds((network, len): (IpAddr, u8), addr: IpAddr) -> bool {
    match (network, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len < 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len < 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The interface to answer for `addr` on when the Eip names none: the one whose subnet holds
/// it, the longest prefix winning as in routing. One that is not the node's own segment
/// (loopback, or a virtual device: veth, bridge, dummy, overlay) is refused, naming it:
/// answering there would put the address where no client asks, so the operator must name it to
/// mean it.
pub(crate) fn choose(addr: IpAddr, candidates: &[Candidate]) -> Result<String, String> {
    let best = candidates
        .iter()
        .flat_map(|c| {
            c.networks
                .iter()
                .filter(|n| holds(**n, addr))
                .map(move |n| (n.1, c))
        })
        // the longest prefix; between equals, the first name, so every run picks the same
        .max_by(|(la, a), (lb, b)| la.cmp(lb).then_with(|| b.name.cmp(&a.name)));
    match best {
        None => Err(format!(
            "no interface of this node has a subnet holding {addr}: set the Eip's spec.interface (a name, or can_reach:<IP>)"
        )),
        Some((_, c)) if c.kind == Kind::Own => Ok(c.name.clone()),
        Some((len, c)) => Err(format!(
            "the interface whose subnet (/{len}) holds {addr} is {}, {}, which Porter answers on only when the Eip names it in spec.interface",
            c.name, c.kind
        )),
    }
}

/// [`choose`] among this node's interfaces, for many addresses: their addresses from
/// `getifaddrs`, their kinds from the kernel (a netlink link dump, which sees the speaker's own
/// network namespace), read once, at the first address.
pub(crate) fn by_subnet() -> impl FnMut(IpAddr) -> Result<String, String> {
    let mut interfaces: Option<Result<Vec<Candidate>, String>> = None;
    move |addr| match interfaces.get_or_insert_with(node_interfaces) {
        Ok(list) => choose(addr, list),
        Err(why) => Err(why.clone()),
    }
}

/// This node's interfaces as [`choose`] takes them.
fn node_interfaces() -> Result<Vec<Candidate>, String> {
    let kinds = link_kinds()?;
    let all = getifaddrs().map_err(|e| format!("cannot list interfaces: {e}"))?;
    let mut by_name: std::collections::BTreeMap<String, Candidate> = Default::default();
    for entry in all {
        let network = entry
            .address
            .as_ref()
            .zip(entry.netmask.as_ref())
            .and_then(|(a, m)| {
                if let (Some(a), Some(m)) = (a.as_sockaddr_in(), m.as_sockaddr_in()) {
                    return Some((IpAddr::V4(a.ip()), u32::from(m.ip()).count_ones()));
                }
                let (a, m) = (a.as_sockaddr_in6()?, m.as_sockaddr_in6()?);
                Some((IpAddr::V6(a.ip()), u128::from(m.ip()).count_ones()))
            });
        let loopback = entry.flags.contains(InterfaceFlags::IFF_LOOPBACK);
        let name = entry.interface_name;
        let candidate = by_name.entry(name.clone()).or_insert_with(|| Candidate {
            kind: if loopback {
                Kind::Loopback
            } else {
                kinds.get(&name).cloned().unwrap_or(Kind::Own)
            },
            name,
            networks: Vec::new(),
        });
        if let Some((ip, len)) = network {
            candidate
                .networks
                .push((ip, u8::try_from(len).unwrap_or(0)));
        }
    }
    Ok(by_name.into_values().collect())
}

/// The kernel's kind of each interface by name (`IFLA_INFO_KIND`; a NIC has none): a
/// bond, VLAN, macvlan or ipvlan carries its lower link's segment, any other kind is virtual.
fn link_kinds() -> Result<std::collections::BTreeMap<String, Kind>, String> {
    use netlink_packet_core::{
        NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    };
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

    let fail = |e: std::io::Error| format!("cannot list links over netlink: {e}");
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(fail)?;
    socket.bind_auto().map_err(fail)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(fail)?;
    let mut request = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
    );
    request.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    request.header.sequence_number = 1;
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0).map_err(fail)?;

    let mut kinds = std::collections::BTreeMap::new();
    loop {
        let (datagram, _) = socket.recv_from_full().map_err(fail)?;
        let mut rest = &datagram[..];
        while !rest.is_empty() {
            let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(rest)
                .map_err(|e| format!("cannot read the link dump: {e}"))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => return Ok(kinds),
                NetlinkPayload::Error(e) => return Err(format!("the link dump failed: {e:?}")),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                    let mut name = None;
                    let mut kind = Kind::Own;
                    for attribute in link.attributes {
                        match attribute {
                            LinkAttribute::IfName(n) => name = Some(n),
                            LinkAttribute::LinkInfo(infos) => {
                                for info in infos {
                                    if let LinkInfo::Kind(k) = info {
                                        kind = match k {
                                            InfoKind::Bond
                                            | InfoKind::Vlan
                                            | InfoKind::MacVlan
                                            | InfoKind::IpVlan
                                            | InfoKind::Team => Kind::Own,
                                            other => Kind::Virtual(other.to_string()),
                                        };
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    if let Some(name) = name {
                        kinds.insert(name, kind);
                    }
                }
                _ => {}
            }
            if length == 0 || length > rest.len() {
                break;
            }
            rest = &rest[length..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn virtual_(kind: &str) -> Kind {
        Kind::Virtual(kind.into())
    }

    fn candidate(name: &str, kind: Kind, networks: &[(&str, u8)]) -> Candidate {
        Candidate {
            name: name.into(),
            kind,
            networks: networks
                .iter()
                .map(|(a, l)| (a.parse().unwrap(), *l))
                .collect(),
        }
    }

    #[test]
    fn the_default_is_the_interface_whose_subnet_holds_the_address() {
        let node = [
            candidate("lo", Kind::Loopback, &[("127.0.0.1", 8), ("::1", 128)]),
            candidate("eth0", Kind::Own, &[("10.0.0.5", 24), ("2001:db8::5", 64)]),
            candidate("bond0", Kind::Own, &[("10.1.0.5", 16)]),
            candidate("bond0.7", Kind::Own, &[("10.1.7.5", 24)]),
            // kube-proxy's IPVS dummy holds every LoadBalancer address as a host route
            candidate(
                "kube-ipvs0",
                virtual_("dummy"),
                &[("10.0.0.100", 32), ("10.1.7.100", 32)],
            ),
            candidate("cni0", virtual_("bridge"), &[("10.244.0.1", 24)]),
            candidate("flannel.1", virtual_("vxlan"), &[("10.244.0.0", 32)]),
            candidate("br-vm", virtual_("bridge"), &[("192.168.122.1", 24)]),
            candidate("veth1", virtual_("veth"), &[("172.16.0.1", 30)]),
        ];
        let choose = |a: &str| choose(a.parse().unwrap(), &node);
        assert_eq!(choose("10.0.0.100"), Ok("eth0".into()));
        assert_eq!(choose("2001:db8::100"), Ok("eth0".into()));
        assert_eq!(choose("10.1.0.100"), Ok("bond0".into()));
        assert_eq!(
            choose("10.1.7.100"),
            Ok("bond0.7".into()),
            "the longest prefix"
        );
        for (addr, refused) in [
            ("10.244.0.100", "cni0, a bridge device"),
            ("192.168.122.100", "br-vm, a bridge device"),
            ("172.16.0.2", "veth1, a veth device"),
            ("127.0.0.2", "lo, the loopback"),
        ] {
            let e = choose(addr).unwrap_err();
            assert!(
                e.contains(refused) && e.contains("spec.interface"),
                "{addr}: {e}"
            );
        }
        let e = choose("198.51.100.1").unwrap_err();
        assert!(
            e.contains("no interface") && e.contains("spec.interface"),
            "{e}"
        );
    }

    #[test]
    fn a_subnet_holds_its_addresses_and_a_host_route_none() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert!(holds((ip("10.0.0.5"), 24), ip("10.0.0.255")));
        assert!(!holds((ip("10.0.0.5"), 24), ip("10.0.1.0")));
        assert!(holds((ip("10.0.0.5"), 0), ip("192.0.2.1")));
        assert!(!holds((ip("10.0.0.5"), 32), ip("10.0.0.5")));
        assert!(!holds((ip("2001:db8::1"), 128), ip("2001:db8::1")));
        assert!(holds((ip("2001:db8::1"), 64), ip("2001:db8::ffff")));
        assert!(!holds((ip("2001:db8::1"), 64), ip("10.0.0.1")), "families");
    }

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

    /// This machine's own interfaces: an address in a loopback subnet is refused, one in no
    /// subnet names the field to set.
    #[test]
    fn the_node_s_own_interfaces_are_classified() {
        let e = by_subnet()("127.0.0.99".parse().unwrap()).unwrap_err();
        assert!(e.contains("lo, the loopback"), "{e}");
        let e = by_subnet()("198.51.100.77".parse().unwrap()).unwrap_err();
        assert!(e.contains("no interface"), "{e}");
    }

    /// The kernel's kinds, in a network namespace of the test's own (root): a veth and a
    /// bridge holding the address's subnet are refused, naming their kind.
    #[test]
    fn a_veth_or_bridge_holding_the_subnet_is_refused_by_its_kernel_kind() {
        let outcome = std::thread::spawn(|| {
            if !nix::unistd::geteuid().is_root()
                || nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_err()
            {
                eprintln!("skipped: needs root and a network namespace of its own");
                return;
            }
            let ip = |args: &str| {
                let ok = std::process::Command::new("ip")
                    .args(args.split(' '))
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "ip {args}");
            };
            ip("link add va type veth peer name vb");
            ip("link add br9 type bridge");
            ip("addr add 10.77.0.1/24 dev va");
            ip("addr add 10.78.0.1/24 dev br9");
            let kinds = link_kinds().unwrap();
            assert_eq!(kinds["va"], Kind::Virtual("veth".into()));
            assert_eq!(kinds["br9"], Kind::Virtual("bridge".into()));
            let e = by_subnet()("10.77.0.9".parse().unwrap()).unwrap_err();
            assert!(
                e.contains("va, a veth device") && e.contains("spec.interface"),
                "{e}"
            );
            let e = by_subnet()("10.78.0.9".parse().unwrap()).unwrap_err();
            assert!(e.contains("br9, a bridge device"), "{e}");
        })
        .join();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
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
