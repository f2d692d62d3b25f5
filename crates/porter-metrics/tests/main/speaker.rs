//! The speaker's metrics, read from its status board at scrape time.

use porter_bgp::State;
use porter_metrics::SpeakerMetrics;
use porter_speaker::{
    BfdDiag, BfdState, BfdStatus, PeerStatus, ProbeStatus, Protocol, Status, StatusBoard,
};

use crate::sample;

fn status(address: &str, state: State, advertised: usize, flaps: u64) -> PeerStatus {
    PeerStatus {
        address: address.parse().unwrap(),
        peer_as: 64512,
        state,
        established_since: None,
        advertised,
        received: 2,
        flaps,
        last_error: None,
        timers: None,
        bfd: None,
    }
}

#[test]
fn sessions_are_exposed_as_the_board_shows_them() {
    let board = StatusBoard::default();
    let mut registry = porter_metrics::build_info("9.9.9");
    let metrics = SpeakerMetrics::register(&mut registry, board.clone());
    board.set_bgp("tor1", status("10.0.0.1", State::Established, 3, 1));
    board.set_bgp("tor2", status("2001:db8::1", State::Active, 0, 0));
    metrics.set_announced(3);

    let text = porter_metrics::encode(&registry);
    for line in [
        "# TYPE porter_bgp_session_state gauge",
        "# TYPE porter_bgp_prefixes_advertised gauge",
        "# TYPE porter_bgp_prefixes_received gauge",
        "# TYPE porter_bgp_session_flaps counter",
        "# TYPE porter_speaker_announced_addresses gauge",
        "porter_speaker_announced_addresses 3",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    // a state set: one series per RFC 4271 state, 1 for the current one
    let state = |peer: &str, address: &str, state: &str| {
        sample(
            &registry,
            &format!(
                r#"porter_bgp_session_state{{peer="{peer}",address="{address}",state="{state}"}}"#
            ),
        )
    };
    for s in ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm"] {
        assert_eq!(state("tor1", "10.0.0.1", s), Some(0.0), "{s}");
    }
    assert_eq!(state("tor1", "10.0.0.1", "Established"), Some(1.0));
    assert_eq!(state("tor2", "2001:db8::1", "Active"), Some(1.0));
    assert_eq!(state("tor2", "2001:db8::1", "Established"), Some(0.0));
    assert_eq!(
        sample(&registry, r#"porter_bgp_prefixes_advertised{peer="tor1"}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(&registry, r#"porter_bgp_prefixes_received{peer="tor1"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&registry, r#"porter_bgp_session_flaps_total{peer="tor1"}"#),
        Some(1.0)
    );

    // BFD, for the peers that enable it
    board.set(
        "tor1",
        Status::Bfd(BfdStatus {
            address: "10.0.0.1".parse().unwrap(),
            state: BfdState::Down,
            diag: BfdDiag::DetectionTimeExpired,
            remote_state: BfdState::Up,
            detection_time: std::time::Duration::from_millis(900),
            flaps: 4,
            error: None,
        }),
    );
    let bfd = |state: &str| {
        sample(
            &registry,
            &format!(
                r#"porter_bfd_session_state{{peer="tor1",address="10.0.0.1",state="{state}"}}"#
            ),
        )
    };
    assert_eq!(bfd("Down"), Some(1.0));
    assert_eq!(bfd("Up"), Some(0.0));
    assert_eq!(
        sample(&registry, r#"porter_bfd_session_flaps_total{peer="tor1"}"#),
        Some(4.0)
    );
    assert!(
        sample(&registry, r#"porter_bfd_session_flaps_total{peer="tor2"}"#).is_none(),
        "no BFD, no series"
    );

    // health probes, one series per probed endpoint
    board.set(
        "default/web 10.244.1.5:8080",
        Status::Health(ProbeStatus {
            service: "default/web".into(),
            endpoint: "10.244.1.5:8080".parse().unwrap(),
            failing: true,
            probes: 10,
            failures: 4,
            last_error: Some("connect: refused".into()),
        }),
    );
    let series = r#"{service="default/web",endpoint="10.244.1.5:8080"}"#;
    assert_eq!(
        sample(
            &registry,
            &format!("porter_health_endpoint_failing{series}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &registry,
            &format!("porter_health_probe_failures_total{series}")
        ),
        Some(4.0)
    );

    // layer 2: a series per interface answered on, and the membership's view
    assert!(
        sample(&registry, "porter_layer2_members_alive").is_none(),
        "layer 2 off, no series"
    );
    board.set(
        "eth0",
        Status::Layer2(porter_speaker::ResponderStatus {
            device: Some("eth0".into()),
            mac: Some("02:00:00:00:00:01".into()),
            owned: vec!["192.0.2.10".parse().unwrap(), "192.0.2.11".parse().unwrap()],
            requests: 7,
            replies: 5,
            gratuitous: 8,
            conflicts: 0,
            last_error: None,
        }),
    );
    board.set(
        "n1",
        Status::Membership(porter_speaker::MembershipStatus {
            ready: true,
            alive: vec!["n1".into(), "n2".into()],
            ..Default::default()
        }),
    );
    let eth0 = |name: &str| sample(&registry, &format!(r#"{name}{{interface="eth0"}}"#));
    assert_eq!(eth0("porter_layer2_owned_addresses"), Some(2.0));
    assert_eq!(eth0("porter_layer2_requests_total"), Some(7.0));
    assert_eq!(eth0("porter_layer2_replies_total"), Some(5.0));
    assert_eq!(eth0("porter_layer2_gratuitous_total"), Some(8.0));
    assert_eq!(sample(&registry, "porter_layer2_members_alive"), Some(2.0));
    assert_eq!(sample(&registry, "porter_layer2_ready"), Some(1.0));

    // the session flaps, the other peer is removed: the next scrape shows it
    board.set_bgp("tor1", status("10.0.0.1", State::Idle, 0, 2));
    board.remove(Protocol::Bgp, "tor2");
    metrics.set_announced(0);
    assert_eq!(state("tor1", "10.0.0.1", "Established"), Some(0.0));
    assert_eq!(state("tor1", "10.0.0.1", "Idle"), Some(1.0));
    assert_eq!(
        sample(&registry, r#"porter_bgp_session_flaps_total{peer="tor1"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&registry, r#"porter_bgp_prefixes_advertised{peer="tor1"}"#),
        Some(0.0)
    );
    let text = porter_metrics::encode(&registry);
    assert!(!text.contains("tor2"), "{text}");
    assert_eq!(
        sample(&registry, "porter_speaker_announced_addresses"),
        Some(0.0)
    );
}
