//! Layer 2 through the real speaker shell: two speakers' memberships over UDP on loopback (no
//! root), and, as root in a network namespace of its own, real ARP and Neighbor Solicitation
//! frames over a veth pair answered with the speaker's MAC.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use porter_l2::{ArpOp, Mac, Packet, build, parse};
use porter_model::ObjectKey;
use porter_model::announce::SpeakerPlan;
use porter_model::layer2::{Layer2Address, Layer2Plan, MemberKeys};
use porter_speaker::{MemberSocket, Speaker, StatusBoard};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::support::WAIT;

fn keys() -> MemberKeys {
    MemberKeys {
        key: b"a key of thirty-two bytes, test!".to_vec(),
        previous: None,
    }
}

/// A plan whose layer 2 part has `members` and `owners` (address, owner, interface).
fn plan(members: &[(&str, IpAddr)], owners: &[(IpAddr, &str, &str)]) -> SpeakerPlan {
    let mut plan = crate::support::plan_of(Vec::new(), &[]);
    plan.bgp.local = Err("layer 2 only".into());
    plan.layer2 = Layer2Plan {
        members: members
            .iter()
            .map(|(n, ip)| ((*n).to_owned(), *ip))
            .collect(),
        owners: owners
            .iter()
            .map(|(ip, owner, interface)| {
                (
                    *ip,
                    Layer2Address {
                        owner: Some((*owner).to_owned()),
                        interface: Some((*interface).to_owned()),
                        eip: "l2".into(),
                        service: ObjectKey::new("default", "web"),
                    },
                )
            })
            .collect(),
        keys: Some(keys()),
    };
    plan
}

/// A speaker on `node` running `plan` until the returned sender fires.
fn start(
    node: &str,
    member: MemberSocket,
    plan: SpeakerPlan,
) -> (
    StatusBoard,
    watch::Receiver<BTreeSet<String>>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let board = StatusBoard::default();
    let speaker = Speaker::new(board.clone()).on_node(node, member);
    let alive = speaker.alive();
    let (_tx, rx) = watch::channel(plan);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _keep = _tx;
        speaker
            .run(rx, async {
                let _ = stopped.await;
            })
            .await;
    });
    (board, alive, stop, task)
}

async fn until_alive(
    alive: &mut watch::Receiver<BTreeSet<String>>,
    what: &str,
    want: impl Fn(&BTreeSet<String>) -> bool,
) {
    let seen = tokio::time::timeout(WAIT, alive.wait_for(|set| want(set)))
        .await
        .map(|r| r.map(|_| ()));
    match seen {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("{what}: the speaker stopped"),
        Err(_) => panic!("{what}: alive is {:?}", alive.borrow()),
    }
}

/// A free UDP port on loopback (bound then released).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a port")
        .port()
}

#[tokio::test]
async fn two_speakers_hear_each_other_and_a_leaving_one_is_dropped_at_once() {
    let port = free_port();
    let (a_ip, b_ip): (IpAddr, IpAddr) =
        ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
    let members = [("a", a_ip), ("b", b_ip)];
    let at = |bind| MemberSocket { bind, port };
    let (a_board, mut a_alive, _a_stop, _a_task) = start("a", at(a_ip), plan(&members, &[]));
    let (_b_board, mut b_alive, b_stop, b_task) = start("b", at(b_ip), plan(&members, &[]));
    let both = |s: &BTreeSet<String>| s.len() == 2;
    until_alive(&mut a_alive, "a hears b", both).await;
    until_alive(&mut b_alive, "b hears a", both).await;
    let (me, status) = a_board.membership().expect("a's membership posts");
    assert_eq!(me, "a");
    assert!(status.ready && !status.isolated, "{status:?}");
    assert_eq!(status.members.len(), 1);
    assert!(status.members[0].alive, "{status:?}");

    // b stops: its goodbye, not its silence, takes it out of a's alive set
    b_stop.send(()).unwrap();
    tokio::time::timeout(WAIT, b_task).await.unwrap().unwrap();
    until_alive(&mut a_alive, "a drops b", |s| !s.contains("b")).await;
    let (_, status) = a_board.membership().expect("a's membership posts");
    assert!(status.members[0].left, "b said it left: {status:?}");
    // a is the member whose name sorts first: half of two with it goes on answering
    until_alive(&mut a_alive, "a alone", |s| s.iter().eq(["a"].iter())).await;
}

#[tokio::test]
async fn without_a_key_or_a_node_name_nothing_runs() {
    let port = free_port();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let mut keyless = plan(&[("a", ip)], &[(ip, "a", "lo")]);
    keyless.layer2.keys = None;
    let (board, alive, stop, task) = start("a", MemberSocket { bind: ip, port }, keyless);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(board.snapshot().is_empty(), "{:?}", board.snapshot());
    assert!(alive.borrow().is_empty());
    stop.send(()).unwrap();
    task.await.unwrap();
}

/// MACs of the veth pair: the speaker's end and the client's.
const SPEAKER_MAC: Mac = Mac([0x02, 0, 0, 0, 0x11, 0x01]);
const CLIENT_MAC: Mac = Mac([0x02, 0, 0, 0, 0x11, 0x02]);

fn sh(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// In a network namespace of this thread's own: `veth0` (the speaker's, SPEAKER_MAC) and
/// `veth1` (the client's, CLIENT_MAC), both up, and loopback up for the membership.
fn veth_namespace() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not root".into());
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    let (speaker, client) = (SPEAKER_MAC.to_string(), CLIENT_MAC.to_string());
    sh(&["link", "set", "lo", "up"])?;
    sh(&[
        "link", "add", "veth0", "address", &speaker, "type", "veth", "peer", "name", "veth1",
        "address", &client,
    ])?;
    sh(&["link", "set", "veth0", "up"])?;
    sh(&["link", "set", "veth1", "up"])?;
    // the speaker's end is on 10.99.1.0/24: `can_reach:10.99.1.2` names it
    sh(&["addr", "add", "10.99.1.1/24", "dev", "veth0"])?;
    Ok(())
}

/// A real ARP request and Neighbor Solicitation, sent on the client's end of a veth pair, are
/// answered with the speaker's MAC; the owned addresses are announced when acquired.
#[test]
fn a_real_arp_request_and_neighbor_solicitation_get_the_speaker_s_mac() {
    // A thread of its own: the namespace is the thread's, and so are the sockets a
    // current-thread runtime on it opens.
    let outcome = std::thread::spawn(|| {
        if let Err(why) = veth_namespace() {
            eprintln!("skipped: needs root and a network namespace of its own ({why})");
            return;
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(answered_on_veth());
    })
    .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn answered_on_veth() {
    let vip4 = Ipv4Addr::new(10, 99, 0, 100);
    let vip6: Ipv6Addr = "fd00:99::100".parse().expect("an address");
    let other = Ipv4Addr::new(10, 99, 0, 101);
    // an address of an Eip naming the interface by a route: `can_reach:`
    let routed = Ipv4Addr::new(10, 99, 0, 102);
    let lo: IpAddr = Ipv4Addr::LOCALHOST.into();
    let veth1 = nix::net::if_::if_nametoindex("veth1").expect("veth1");
    // the client listens before the speaker announces
    let client = porter_sys::packet_socket(veth1).expect("client packet socket");
    let (board, _alive, stop, task) = start(
        "n1",
        MemberSocket {
            bind: lo,
            port: free_port(),
        },
        plan(
            &[("n1", lo)],
            &[
                (vip4.into(), "n1", "veth0"),
                (vip6.into(), "n1", "veth0"),
                (other.into(), "n2", "veth0"),
                (routed.into(), "n1", "can_reach:10.99.1.2"),
            ],
        ),
    );
    // Announced at once: a gratuitous ARP from the speaker's MAC.
    let gratuitous = next_frame(
        &client,
        |p| matches!(p, Packet::Arp(a) if a.sender_ip == vip4 && a.target_ip == vip4),
    )
    .await;
    let Packet::Arp(g) = gratuitous else {
        unreachable!()
    };
    assert_eq!(g.sender_mac, SPEAKER_MAC);

    // a client asks who has the address: the answer comes to it, with the speaker's MAC
    let client_ip = Ipv4Addr::new(10, 99, 0, 2);
    porter_sys::send_frame(
        &client,
        veth1,
        &build::arp_request(CLIENT_MAC, client_ip, vip4),
    )
    .expect("send the request");
    let reply = next_frame(
        &client,
        |p| matches!(p, Packet::Arp(a) if a.op == ArpOp::Reply && a.target_mac == CLIENT_MAC),
    )
    .await;
    let Packet::Arp(reply) = reply else {
        unreachable!()
    };
    assert_eq!(
        (
            reply.sender_mac,
            reply.sender_ip,
            reply.target_ip,
            reply.eth_dst
        ),
        (SPEAKER_MAC, vip4, client_ip, CLIENT_MAC)
    );

    // IPv6: a Neighbor Solicitation to the solicited-node group gets an advertisement
    let client6: Ipv6Addr = "fd00:99::2".parse().expect("an address");
    porter_sys::send_frame(
        &client,
        veth1,
        &build::neighbor_solicitation(CLIENT_MAC, client6, vip6),
    )
    .expect("send the solicitation");
    let na = next_frame(
        &client,
        |p| matches!(p, Packet::Advertisement(a) if a.solicited && a.target == vip6),
    )
    .await;
    let Packet::Advertisement(na) = na else {
        unreachable!()
    };
    assert_eq!(
        (na.target_mac, na.eth_src, na.dst),
        (Some(SPEAKER_MAC), SPEAKER_MAC, client6)
    );

    // the Eip naming the interface by a route is answered there too, by a responder of its own
    porter_sys::send_frame(
        &client,
        veth1,
        &build::arp_request(CLIENT_MAC, client_ip, routed),
    )
    .expect("send the request");
    let reply = next_frame(
        &client,
        |p| matches!(p, Packet::Arp(a) if a.op == ArpOp::Reply && a.sender_ip == routed),
    )
    .await;
    assert!(
        matches!(reply, Packet::Arp(a) if a.sender_mac == SPEAKER_MAC && a.target_mac == CLIENT_MAC)
    );

    // an address another node owns is not answered, and the board counts what happened
    porter_sys::send_frame(
        &client,
        veth1,
        &build::arp_request(CLIENT_MAC, client_ip, other),
    )
    .expect("send the request");
    let responders = tokio::time::timeout(WAIT, async {
        loop {
            let r = board.layer2_responders();
            if r.get("veth0").is_some_and(|s| s.requests >= 3)
                && r.get("can_reach:10.99.1.2").is_some_and(|s| s.replies >= 1)
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the counters are posted");
    let veth0 = &responders["veth0"];
    assert_eq!(veth0.device.as_deref(), Some("veth0"));
    assert_eq!(veth0.mac.as_deref(), Some("02:00:00:00:11:01"));
    assert_eq!(veth0.owned, [IpAddr::from(vip4), IpAddr::from(vip6)]);
    // three asked (the kernel's own solicitations for its link-local addresses count too),
    // two answered
    assert!(veth0.requests >= 3, "{veth0:?}");
    assert_eq!(veth0.replies, 2, "{veth0:?}");
    let routed_status = &responders["can_reach:10.99.1.2"];
    assert_eq!(routed_status.device.as_deref(), Some("veth0"));
    assert_eq!(routed_status.owned, [IpAddr::from(routed)]);
    assert_eq!(routed_status.replies, 1, "{routed_status:?}");
    assert!(veth0.gratuitous >= 3, "{veth0:?}");

    // the interface's MAC changes: the responder opens it again and announces the new one
    let changed = Mac([0x02, 0, 0, 0, 0x11, 0x03]);
    sh(&["link", "set", "veth0", "address", &changed.to_string()]).expect("a new MAC");
    let announced = next_frame(
        &client,
        |p| matches!(p, Packet::Arp(a) if a.sender_ip == vip4 && a.sender_mac == changed),
    )
    .await;
    assert!(matches!(announced, Packet::Arp(a) if a.target_ip == vip4));

    stop.send(()).expect("the speaker runs");
    task.await.expect("the speaker ends");
    assert!(board.layer2_responders().is_empty());
}

/// The next frame on `client` that `want`s, waiting in async sleeps: the speaker runs on this
/// thread's runtime meanwhile.
async fn next_frame(client: &socket2::Socket, want: impl Fn(&Packet) -> bool) -> Packet {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 2048];
    loop {
        match (&*client).read(&mut buf) {
            Ok(n) => {
                if let Ok(p) = parse(&buf[..n])
                    && want(&p)
                {
                    return p;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no such frame");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("client receive: {e}"),
        }
    }
}
