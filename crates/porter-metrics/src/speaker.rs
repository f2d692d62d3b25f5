//! The speaker's metrics: its BGP and BFD sessions, health probes and layer 2 responders and
//! membership, read from its status board at scrape time (the board's entries), and the
//! addresses it announces.

use porter_bgp::State;
use porter_speaker::{BfdState, PeerStatus, ResponderStatus, StatusBoard};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// The RFC 4271 states, in FSM order: the values of the `state` label.
const STATES: [State; 6] = [
    State::Idle,
    State::Connect,
    State::Active,
    State::OpenSent,
    State::OpenConfirm,
    State::Established,
];

/// The RFC 5880 states: the values of the BFD `state` label.
const BFD_STATES: [BfdState; 4] = [
    BfdState::AdminDown,
    BfdState::Down,
    BfdState::Init,
    BfdState::Up,
];

/// Everything the speaker exports. Cheap to clone; clones share their state.
#[derive(Debug, Clone, Default)]
pub struct SpeakerMetrics {
    announced: Gauge,
}

impl SpeakerMetrics {
    /// The speaker's metrics, registered in `registry`; the sessions' come from `board`, read
    /// on every scrape (the board is what the sessions already post to, so nothing is counted
    /// twice and a removed peer's series disappear with it).
    pub fn register(registry: &mut Registry, board: StatusBoard) -> Self {
        let metrics = Self::default();
        registry.register_collector(Box::new(Sessions(board)));
        registry.register(
            "porter_speaker_announced_addresses",
            "Addresses this node announces (its plan: Services with an address from a BGP Eip and a ready endpoint it may announce), to each of its peers",
            metrics.announced.clone(),
        );
        metrics
    }

    /// This node's plan now announces `count` addresses.
    pub fn set_announced(&self, count: usize) {
        self.announced.set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// A state set (a gauge per peer and state, 1 for the state the peer's session is in), from
/// `(peer, address, state)` of each session.
fn encode_state_set<'a, S: Copy + PartialEq + std::fmt::Display>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    all: &[S],
    sessions: impl Iterator<Item = (&'a String, std::net::IpAddr, S)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (peer, address, now) in sessions {
        let address = address.to_string();
        for &state in all {
            let state_name = state.to_string();
            let labels = [
                ("peer", peer.as_str()),
                ("address", address.as_str()),
                ("state", state_name.as_str()),
            ];
            ConstGauge::new(i64::from(now == state)).encode(metric.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// A gauge with a series per peer: its name, its help, and its value from the peer's status.
type PeerGauge = (&'static str, &'static str, fn(&PeerStatus) -> usize);

/// Collects the per-peer session metrics from the status board.
#[derive(Debug)]
struct Sessions(StatusBoard);

impl Collector for Sessions {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let peers = self.0.bgp_sessions();
        let states = peers.iter().map(|(peer, s)| (peer, s.address, s.state));
        encode_state_set(
            &mut encoder,
            "porter_bgp_session_state",
            "BGP session state per peer (BgpPeer name): 1 for the state the session is in, 0 for the other RFC 4271 states (alert on state=\"Established\" == 0)",
            &STATES,
            states,
        )?;
        let counts: [PeerGauge; 2] = [
            (
                "porter_bgp_prefixes_advertised",
                "Prefixes currently advertised to the peer",
                |s| s.advertised,
            ),
            (
                "porter_bgp_prefixes_received",
                "Prefixes the peer currently announces to this node (Porter installs none)",
                |s| s.received,
            ),
        ];
        for (name, help, value) in counts {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (peer, status) in &peers {
                let labels = [("peer", peer.as_str())];
                let count = i64::try_from(value(status)).unwrap_or(i64::MAX);
                ConstGauge::new(count).encode(metric.encode_family(&labels)?)?;
            }
        }
        let mut metric = encoder.encode_descriptor(
            "porter_bgp_session_flaps",
            "Times the session left Established since this speaker started it",
            None,
            MetricType::Counter,
        )?;
        for (peer, status) in &peers {
            let labels = [("peer", peer.as_str())];
            ConstCounter::new(status.flaps).encode(metric.encode_family(&labels)?)?;
        }

        let bfd = self.0.bfd_sessions();
        let states = bfd.iter().map(|(peer, s)| (peer, s.address, s.state));
        encode_state_set(
            &mut encoder,
            "porter_bfd_session_state",
            "BFD session state per peer (BgpPeer name) that enables BFD: 1 for the state the session is in, 0 for the other RFC 5880 states (alert on state=\"Up\" == 0)",
            &BFD_STATES,
            states,
        )?;

        let mut metric = encoder.encode_descriptor(
            "porter_bfd_session_flaps",
            "Times the BFD session left Up (each took the peer's BGP session down) since this speaker started it",
            None,
            MetricType::Counter,
        )?;
        for (peer, status) in &bfd {
            let labels = [("peer", peer.as_str())];
            ConstCounter::new(status.flaps).encode(metric.encode_family(&labels)?)?;
        }

        // health probes: one series per endpoint of this node a Service asks to probe
        let probes = self.0.health_probes();
        let endpoints: Vec<(String, String)> = probes
            .values()
            .map(|p| (p.service.clone(), p.endpoint.to_string()))
            .collect();
        let mut metric = encoder.encode_descriptor(
            "porter_health_endpoint_failing",
            "1 while the endpoint failed its last health probes in a row (it is not counted on this node: the node withdraws the Service when all its endpoints fail), else 0",
            None,
            MetricType::Gauge,
        )?;
        for ((service, endpoint), probe) in endpoints.iter().zip(probes.values()) {
            let labels = [
                ("service", service.as_str()),
                ("endpoint", endpoint.as_str()),
            ];
            ConstGauge::new(i64::from(probe.failing)).encode(metric.encode_family(&labels)?)?;
        }
        let mut metric = encoder.encode_descriptor(
            "porter_health_probe_failures",
            "Health probes of the endpoint that failed since this speaker started probing it",
            None,
            MetricType::Counter,
        )?;
        for ((service, endpoint), probe) in endpoints.iter().zip(probes.values()) {
            let labels = [
                ("service", service.as_str()),
                ("endpoint", endpoint.as_str()),
            ];
            ConstCounter::new(probe.failures).encode(metric.encode_family(&labels)?)?;
        }
        encode_layer2(&self.0, &mut encoder)
    }
}

/// A counter with a series per layer 2 interface: its name, help, and value from the status.
type InterfaceCounter = (&'static str, &'static str, fn(&ResponderStatus) -> u64);

/// Layer 2: one series per interface this node answers on, and the membership's view.
fn encode_layer2(
    board: &StatusBoard,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let responders = board.layer2_responders();
    let mut metric = encoder.encode_descriptor(
        "porter_layer2_owned_addresses",
        "Layer 2 addresses this node answers ARP/NDP for on the interface (an Eip's spec.interface)",
        None,
        MetricType::Gauge,
    )?;
    for (interface, status) in &responders {
        let owned = i64::try_from(status.owned.len()).unwrap_or(i64::MAX);
        ConstGauge::new(owned)
            .encode(metric.encode_family(&[("interface", interface.as_str())])?)?;
    }
    let counters: [InterfaceCounter; 4] = [
        (
            "porter_layer2_requests",
            "ARP requests and Neighbor Solicitations seen on the interface (for this node's addresses or not)",
            |s| s.requests,
        ),
        (
            "porter_layer2_replies",
            "ARP replies and Neighbor Advertisements sent in answer on the interface",
            |s| s.replies,
        ),
        (
            "porter_layer2_gratuitous",
            "Gratuitous ARPs and unsolicited Neighbor Advertisements sent on the interface (when this node takes an address)",
            |s| s.gratuitous,
        ),
        (
            "porter_layer2_conflicts",
            "Frames of another host announcing an address this node answers for",
            |s| s.conflicts,
        ),
    ];
    for (name, help, value) in counters {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (interface, status) in &responders {
            ConstCounter::new(value(status))
                .encode(metric.encode_family(&[("interface", interface.as_str())])?)?;
        }
    }
    let membership = board.membership();
    let metric = encoder.encode_descriptor(
        "porter_layer2_members_alive",
        "Layer 2 speakers this node's membership counts alive, itself included while ready (absent while layer 2 is off)",
        None,
        MetricType::Gauge,
    )?;
    if let Some((_, status)) = &membership {
        let alive = i64::try_from(status.alive.len()).unwrap_or(i64::MAX);
        ConstGauge::new(alive).encode(metric)?;
    }
    let metric = encoder.encode_descriptor(
        "porter_layer2_ready",
        "1 while this node may answer for layer 2 addresses (it hears a quorum of the speakers and is not leaving), else 0",
        None,
        MetricType::Gauge,
    )?;
    if let Some((_, status)) = &membership {
        ConstGauge::new(i64::from(status.ready)).encode(metric)?;
    }
    Ok(())
}
