//! The screen of `porter status`, decided purely from what was read: one snapshot of the
//! objects, the speakers' session reports, and (in a cluster) the controller's Lease.
//!
//! Both sources (a manifests folder, a cluster) end here, so they show the same thing for the
//! same objects. The answers come from the cores the roles run, not from a second opinion:
//! `assign::plan` says why a Service has no address, `status::planned_coverage` and
//! `coverage::announcement` which nodes announce it (the controller's
//! `porter.kubesphere.io/Announced` condition), `announce::plan` per node why a node does not.
//! The note of a Service answers "why has it no IP?" or, when it has one, "why does traffic
//! not arrive?"; it is empty when nothing is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use porter_api::{NodePeerStatus, PeerState, TimersState, annotations};
use porter_model::announce::{self, Options, SpeakerPlan};
use porter_model::assign::{self, Outcome, Plan};
use porter_model::coverage;
use porter_model::projection::SliceNodes;
use porter_model::{ObjectKey, Snapshot};

use super::age::human;

/// One BGP session as its speaker last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The speaker's node.
    pub(crate) node: String,
    /// The BgpPeer's name.
    pub(crate) peer: String,
    /// The neighbor's address.
    pub(crate) neighbor: Option<String>,
    /// The neighbor's AS.
    pub(crate) peer_as: Option<u32>,
    /// gobgp's spelling, as BgpPeer status holds it: `ESTABLISHED`, `ACTIVE`, ...
    pub(crate) state: String,
    /// When the session came up.
    pub(crate) up_since: Option<Timestamp>,
    /// Prefixes sent, when the speaker reports the count (its report file; BgpPeer status has
    /// no such field, so in a cluster it is what the node's plan announces).
    pub(crate) advertised: Option<usize>,
    /// Why the session last went down, or why it does not start.
    pub(crate) last_error: Option<String>,
    /// Why the report may be out of date.
    pub(crate) stale: Option<String>,
    /// The BFD session's state, when the BgpPeer enables BFD.
    pub(crate) bfd: Option<String>,
}

/// The sessions speakers reported in BgpPeer `status.nodesPeerStatus` (what a cluster holds).
/// An entry carries no time of writing; one of a node that is gone or NotReady, whose speaker
/// cannot update it, is marked as possibly stale.
pub(crate) fn sessions_from_peers(snapshot: &Snapshot) -> Vec<Session> {
    let mut out = Vec::new();
    for (peer, bgp_peer) in &snapshot.bgp_peers {
        let Some(nodes) = bgp_peer
            .status
            .as_ref()
            .and_then(|s| s.nodes_peer_status.as_ref())
        else {
            continue;
        };
        for (node, entry) in nodes {
            let state = entry.peer_state.clone().unwrap_or_default();
            out.push(Session {
                node: node.clone(),
                peer: peer.clone(),
                neighbor: state.neighbor_address,
                peer_as: state.peer_as,
                state: state.session_state.unwrap_or_else(|| "UNKNOWN".into()),
                up_since: entry
                    .timers_state
                    .as_ref()
                    .and_then(|t| t.uptime.as_deref())
                    .and_then(|t| t.parse().ok()),
                advertised: None,
                last_error: state.last_error,
                stale: staleness(snapshot, node),
                bfd: state.bfd_state,
            });
        }
    }
    out.sort_by(|a, b| (&a.node, &a.peer).cmp(&(&b.node, &b.peer)));
    out
}

/// Why a node's entry may be out of date: its speaker cannot be running normally.
fn staleness(snapshot: &Snapshot, node: &str) -> Option<String> {
    let Some(n) = snapshot.nodes.get(node) else {
        return Some("no Node object: a stale entry".into());
    };
    let not_ready = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status != "True");
    not_ready.then(|| "node not Ready: may be stale".into())
}

/// What the controller's Lease says, in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControllerLease {
    /// The Lease does not exist.
    Missing,
    /// It could not be read (the error, one line).
    Unreadable(String),
    /// Its spec.
    Found {
        /// `holderIdentity` (empty or absent: released).
        holder: Option<String>,
        /// `renewTime`.
        renewed: Option<Timestamp>,
        /// `leaseDurationSeconds`.
        duration_secs: Option<i32>,
    },
}

/// Everything the screen is decided from.
#[derive(Debug, Clone)]
pub(crate) struct Inputs<'a> {
    /// The objects.
    pub(crate) snapshot: &'a Snapshot,
    /// The speakers' sessions.
    pub(crate) sessions: &'a [Session],
    /// The controller's Lease `(namespace/name, state)`; `None` without a cluster.
    pub(crate) controller: Option<(&'a str, &'a ControllerLease)>,
    /// What each speaker said it answers ARP/NDP for (a folder's report files); `None` in a
    /// cluster, where speakers report it only in their metrics and log.
    pub(crate) answering: Option<&'a [Answering]>,
    /// Only this Service (and then no sessions or Eips).
    pub(crate) only: Option<&'a ObjectKey>,
    /// The time relative ages are measured to.
    pub(crate) now: Timestamp,
}

/// The controller line: whether one is live, and in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControllerLine {
    /// `Some(false)` when no controller holds the Lease; `None` when unknown.
    pub(crate) live: Option<bool>,
    /// The text after `CONTROLLER`.
    pub(crate) text: String,
}

/// One Service line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceRow {
    pub(crate) service: String,
    pub(crate) eip: String,
    pub(crate) pool: String,
    pub(crate) announced_by: String,
    pub(crate) note: String,
}

/// One session line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub(crate) node: String,
    pub(crate) peer: String,
    pub(crate) neighbor: String,
    pub(crate) state: String,
    pub(crate) up: String,
    pub(crate) prefixes: String,
    pub(crate) last_error: String,
}

/// What one speaker said it answers ARP/NDP for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answering {
    /// The speaker's node.
    pub(crate) node: String,
    /// The addresses it answers for.
    pub(crate) addresses: BTreeSet<IpAddr>,
    /// Its report is too old to trust (the speaker is down?).
    pub(crate) stale: bool,
}

/// One layer 2 address line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer2Row {
    pub(crate) address: String,
    pub(crate) service: String,
    pub(crate) interface: String,
    /// The owner while every speaker hears the others: what the objects say.
    pub(crate) owner: String,
    /// The speakers whose reports say they answer it; `None` without reports.
    pub(crate) answered_by: Option<String>,
    pub(crate) note: String,
}

/// One Eip line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EipRow {
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) protocol: String,
    pub(crate) used: String,
    pub(crate) problems: String,
}

/// The whole screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Screen {
    pub(crate) controller: Option<ControllerLine>,
    pub(crate) services: Vec<ServiceRow>,
    /// `None` with `--service` (not shown).
    pub(crate) sessions: Option<Vec<SessionRow>>,
    /// `None` with `--service` (not shown).
    pub(crate) layer2: Option<Vec<Layer2Row>>,
    /// `None` with `--service` (not shown).
    pub(crate) eips: Option<Vec<EipRow>>,
}

/// Decides the screen.
pub(crate) fn screen(inputs: &Inputs<'_>) -> Screen {
    let snapshot = with_sessions(inputs.snapshot, inputs.sessions);
    let plan = assign::plan(&snapshot);
    let cover = porter_model::status::planned_coverage(&snapshot, &plan);
    let nodes = node_plans(&snapshot);
    let controller = inputs
        .controller
        .map(|(name, lease)| controller_line(name, lease, inputs.now));
    let live = controller.as_ref().and_then(|c| c.live);
    let ctx = Context {
        snapshot: &snapshot,
        plan: &plan,
        cover: &cover,
        nodes: &nodes,
        live,
    };

    let mut services = Vec::new();
    match inputs.only {
        Some(key) => services.push(ctx.service_row(key)),
        None => {
            for key in plan.services.keys() {
                services.push(ctx.service_row(key));
            }
        }
    }
    let (sessions, layer2, eips) = if inputs.only.is_some() {
        (None, None, None)
    } else {
        (
            Some(session_rows(inputs.sessions, &nodes, inputs.now)),
            Some(layer2_rows(&nodes, inputs.answering)),
            Some(eip_rows(&snapshot, &plan)),
        )
    };
    Screen {
        controller,
        services,
        sessions,
        layer2,
        eips,
    }
}

/// The snapshot with BgpPeer `status.nodesPeerStatus` as the sessions say, so that coverage
/// reads session states the same way from a folder's report files as from a cluster.
fn with_sessions(snapshot: &Snapshot, sessions: &[Session]) -> Snapshot {
    let mut out = snapshot.clone();
    let mut by_peer: BTreeMap<&str, BTreeMap<String, NodePeerStatus>> = BTreeMap::new();
    for s in sessions {
        by_peer.entry(&s.peer).or_default().insert(
            s.node.clone(),
            NodePeerStatus {
                peer_state: Some(PeerState {
                    neighbor_address: s.neighbor.clone(),
                    peer_as: s.peer_as,
                    session_state: Some(s.state.clone()),
                    last_error: s.last_error.clone(),
                    ..Default::default()
                }),
                timers_state: Some(TimersState {
                    uptime: s.up_since.map(|t| t.to_string()),
                    ..Default::default()
                }),
            },
        );
    }
    for (name, peer) in &mut out.bgp_peers {
        let status = peer.status.get_or_insert_with(Default::default);
        status.nodes_peer_status = by_peer.remove(name.as_str());
    }
    out
}

/// Every node's speaker plan, as its speaker would decide it. Secrets are not read, so a
/// peer keeping its password in one counts as configured (as in the controller's coverage).
fn node_plans(snapshot: &Snapshot) -> BTreeMap<String, SpeakerPlan> {
    let mut projected = snapshot.for_speaker();
    for peer in projected.bgp_peers.values_mut() {
        if let Some(conf) = peer.spec.conf.as_mut() {
            conf.auth_password_secret_ref = None;
        }
    }
    projected
        .nodes
        .keys()
        .map(|node| {
            let plan = announce::plan_projected(&projected, node, &Options::default());
            (node.clone(), plan)
        })
        .collect()
}

/// The controller line from its Lease.
pub(crate) fn controller_line(
    name: &str,
    lease: &ControllerLease,
    now: Timestamp,
) -> ControllerLine {
    let dead = |text: String| ControllerLine {
        live: Some(false),
        text,
    };
    match lease {
        ControllerLease::Missing => dead(format!(
            "none: Lease {name} does not exist (has porter controller ever run in this namespace?)"
        )),
        ControllerLease::Unreadable(error) => ControllerLine {
            live: None,
            text: format!("unknown: cannot read Lease {name}: {error}"),
        },
        ControllerLease::Found {
            holder,
            renewed,
            duration_secs,
        } => {
            let Some(holder) = holder.as_deref().filter(|h| !h.is_empty()) else {
                return dead(format!(
                    "none: Lease {name} is held by nobody (the last controller stopped)"
                ));
            };
            // Measured on this machine's clock against the holder's: a live controller renews
            // every third of its term, which leaves two thirds for clock skew. 15 s is the
            // controller's own term, for a Lease that does not say.
            let term = i64::from(duration_secs.unwrap_or(15).max(1));
            match renewed {
                Some(at) if now.as_second() - at.as_second() > term => dead(format!(
                    "none live: {holder} stopped renewing Lease {name} {} ago (is the porter-controller Deployment running?)",
                    human(now.as_second() - at.as_second())
                )),
                _ => ControllerLine {
                    live: Some(true),
                    text: format!("{holder} (holds Lease {name})"),
                },
            }
        }
    }
}

struct Context<'a> {
    snapshot: &'a Snapshot,
    plan: &'a Plan,
    cover: &'a porter_model::status::Coverage,
    nodes: &'a BTreeMap<String, SpeakerPlan>,
    live: Option<bool>,
}

impl Context<'_> {
    fn service_row(&self, key: &ObjectKey) -> ServiceRow {
        let svc = self.snapshot.services.get(key);
        let ips = svc.map(assign::ingress_ips).unwrap_or_default();
        let eip = if ips.is_empty() {
            "<pending>".to_owned()
        } else {
            join(ips.iter())
        };
        // Nodes that announce to some router (a node no BgpPeer selects announces to nobody),
        // or answer ARP/NDP.
        let announcing: BTreeSet<&str> = ips
            .iter()
            .filter_map(|ip| self.cover.bgp.get(ip))
            .flat_map(|nodes| nodes.iter())
            .filter(|(_, sessions)| sessions.peers > 0)
            .map(|(node, _)| node.as_str())
            .chain(
                ips.iter()
                    .filter_map(|ip| self.cover.layer2.get(ip))
                    .filter_map(Option::as_deref),
            )
            .collect();
        let announced_by = if announcing.is_empty() {
            "-".to_owned()
        } else {
            join(announcing.iter())
        };
        let planned = self.plan.services.get(key);
        let pool = planned
            .and_then(|p| p.pool.as_deref().map(str::to_owned))
            .unwrap_or_else(|| "-".into());
        let note = match (svc, planned) {
            (None, _) => "no such Service".to_owned(),
            (Some(svc), None) => why_not_porters(svc),
            (Some(svc), Some(planned)) => match &planned.outcome {
                Outcome::Released => "released: it no longer asks Porter for an address".into(),
                Outcome::Failed(reason) => format!("no IP: {reason}"),
                Outcome::Orphaned(reason) => format!("not announced: {reason}"),
                Outcome::Assigned => {
                    let to = format!(
                        "{} from Eip {}",
                        join(planned.ingress.iter()),
                        planned.pool.as_deref().unwrap_or("-")
                    );
                    match (ips.is_empty(), self.live) {
                        (true, Some(false)) => format!(
                            "no IP: no controller is running (see CONTROLLER); it would assign {to}"
                        ),
                        (true, Some(true)) => {
                            format!("no IP yet: the controller is assigning {to}")
                        }
                        // a folder has no Lease: whether a controller runs is unknown
                        (true, None) => {
                            format!("no IP yet: the controller would assign {to} (is it running?)")
                        }
                        (false, _) => format!("the controller is moving it to {to}"),
                    }
                }
                Outcome::Kept => self.traffic_note(key, svc, &ips, planned.pool.as_deref()),
            },
        };
        ServiceRow {
            service: key.to_string(),
            eip,
            pool,
            announced_by,
            note,
        }
    }

    /// Why traffic to a Service holding `ips` does not arrive (empty when it does).
    fn traffic_note(
        &self,
        key: &ObjectKey,
        svc: &Service,
        ips: &[IpAddr],
        pool: Option<&str>,
    ) -> String {
        let eip = pool.and_then(|p| {
            let eip = self.snapshot.eips.get(p)?;
            Some((p, eip.spec.protocol.unwrap_or_default()))
        });
        // The words of the controller's condition, so `porter status` and `kubectl describe`
        // say the same.
        let verdict = coverage::announcement(key, ips, eip, self.cover);
        let all: BTreeMap<&String, coverage::NodeSessions> = ips
            .iter()
            .filter_map(|ip| self.cover.bgp.get(ip))
            .flat_map(|nodes| nodes.iter().map(|(n, s)| (n, *s)))
            .collect();
        // The nodes that peer, when some do: a node no BgpPeer selects is expected to have no
        // session, and only explains anything when no node peers at all.
        let peering: Vec<&String> = all
            .iter()
            .filter(|(_, s)| s.peers > 0)
            .map(|(n, _)| *n)
            .collect();
        let announcing = if peering.is_empty() {
            all.keys().copied().collect()
        } else {
            peering
        };
        match verdict.reason {
            "Announced" => {
                let down: Vec<&str> = announcing
                    .iter()
                    .filter(|n| all.get(**n).is_some_and(|s| s.established == 0))
                    .map(|n| n.as_str())
                    .collect();
                if down.is_empty() {
                    String::new()
                } else {
                    format!("no Established BGP session on {}", down.join(", "))
                }
            }
            "NoEstablishedSession" => {
                let why: Vec<String> = announcing
                    .iter()
                    .map(|n| format!("{n}: {}", self.why_no_session(n)))
                    .collect();
                let which = if local_traffic(svc) {
                    "externalTrafficPolicy is Local and no node with a ready endpoint has"
                } else {
                    "no announcing node has"
                };
                format!(
                    "no traffic: {which} an Established BGP session ({})",
                    why.join("; ")
                )
            }
            _ => format!("no traffic: {}", self.why_no_node(key, svc)),
        }
    }

    /// Why an announcing node has no Established session.
    fn why_no_session(&self, node: &str) -> String {
        let Some(plan) = self.nodes.get(node) else {
            return "no Node object".into();
        };
        if let Err(e) = &plan.bgp.local {
            return e.clone();
        }
        if plan.bgp.peers.is_empty() {
            return "no BgpPeer selects this node (spec.nodeSelector)".into();
        }
        "its sessions are not Established (see the sessions below)".into()
    }

    /// Why no node announces the Service's address.
    fn why_no_node(&self, key: &ObjectKey, svc: &Service) -> String {
        let slices: Vec<SliceNodes> = self
            .snapshot
            .slices_of(key)
            .filter_map(SliceNodes::of)
            .collect();
        let mut endpoint_nodes: BTreeSet<&str> =
            slices.iter().flat_map(SliceNodes::nodes).collect();
        if endpoint_nodes.is_empty() {
            // No ready endpoint: the nodes still serving terminating ones announce (see
            // `porter_model::announce`).
            endpoint_nodes = slices.iter().flat_map(SliceNodes::draining_nodes).collect();
        }
        let off_node = slices.iter().any(|s| s.usable_off_node);
        if endpoint_nodes.is_empty() && !off_node {
            return "no ready endpoint, so no node announces it".into();
        }
        let local = local_traffic(svc);
        let candidates: Vec<&str> = if local {
            endpoint_nodes.iter().copied().collect()
        } else {
            self.nodes.keys().map(String::as_str).collect()
        };
        let reasons: Vec<String> = candidates
            .iter()
            .map(|n| match self.nodes.get(*n) {
                None => format!("node {n} is not known (no Node object)"),
                Some(plan) => plan
                    .ineligible
                    .clone()
                    .unwrap_or_else(|| format!("node {n} does not announce it")),
            })
            .collect();
        if local {
            if candidates.is_empty() {
                return "externalTrafficPolicy is Local and no ready endpoint has a nodeName"
                    .into();
            }
            return format!(
                "externalTrafficPolicy is Local and no node with a ready endpoint may announce ({})",
                reasons.join("; ")
            );
        }
        if candidates.is_empty() {
            return "no Node objects: no node may announce".into();
        }
        format!("no node may announce ({})", reasons.join("; "))
    }
}

/// `externalTrafficPolicy: Local`: traffic may enter only where an endpoint runs.
fn local_traffic(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
        == Some("Local")
}

/// Why a Service Porter does not plan for gets nothing.
fn why_not_porters(svc: &Service) -> String {
    let spec = svc.spec.as_ref();
    let type_ = spec.and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
    if type_ != "LoadBalancer" {
        return format!("not Porter's: spec.type is {type_}, not LoadBalancer");
    }
    if let Some(class) = spec.and_then(|s| s.load_balancer_class.as_deref()) {
        return format!("not Porter's: spec.loadBalancerClass {class} is another load balancer's");
    }
    format!(
        "not Porter's: set annotation {}: porter (or spec.loadBalancerClass: {})",
        annotations::LB_ANNOTATION,
        annotations::LOAD_BALANCER_CLASS
    )
}

fn join<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// The sessions, and a line for every session a node should run but no speaker reported.
fn session_rows(
    sessions: &[Session],
    nodes: &BTreeMap<String, SpeakerPlan>,
    now: Timestamp,
) -> Vec<SessionRow> {
    let mut rows: BTreeMap<(String, String), SessionRow> = BTreeMap::new();
    for s in sessions {
        // As the controller counts it: Established, and BFD up where it runs.
        let established = porter_api::is_established(&s.state)
            && s.bfd.as_deref().is_none_or(porter_api::is_bfd_up);
        let planned = nodes.get(&s.node).map_or(0, |p| p.bgp.prefixes.len());
        let prefixes = s
            .advertised
            .unwrap_or(if established { planned } else { 0 });
        let mut last_error = s.last_error.clone().unwrap_or_else(|| "-".into());
        if let Some(stale) = &s.stale {
            last_error = format!("{last_error} ({stale})");
        }
        let neighbor = match (&s.neighbor, s.peer_as) {
            (Some(a), Some(asn)) => format!("{a} AS{asn}"),
            (Some(a), None) => a.clone(),
            (None, Some(asn)) => format!("AS{asn}"),
            (None, None) => "-".into(),
        };
        rows.insert(
            (s.node.clone(), s.peer.clone()),
            SessionRow {
                node: s.node.clone(),
                peer: s.peer.clone(),
                neighbor,
                state: match &s.bfd {
                    Some(bfd) => format!(
                        "{} BFD:{}",
                        s.state.to_ascii_uppercase(),
                        bfd.to_ascii_uppercase()
                    ),
                    None => s.state.to_ascii_uppercase(),
                },
                up: match (established, s.up_since) {
                    (true, Some(t)) => human(now.as_second() - t.as_second()),
                    _ => "-".into(),
                },
                prefixes: prefixes.to_string(),
                last_error,
            },
        );
    }
    for (node, plan) in nodes {
        for (peer, valid) in &plan.bgp.peers {
            rows.entry((node.clone(), peer.clone()))
                .or_insert_with(|| SessionRow {
                    node: node.clone(),
                    peer: peer.clone(),
                    neighbor: format!("{} AS{}", valid.address, valid.peer_as),
                    state: "-".into(),
                    up: "-".into(),
                    prefixes: "-".into(),
                    last_error: "no report from this node's speaker (not running?)".into(),
                });
        }
    }
    rows.into_values().collect()
}

/// Every layer 2 address a Service holds, with its owner as the objects say and, from the
/// speakers' reports, who answers it. The owners are the same in every node's plan.
fn layer2_rows(
    nodes: &BTreeMap<String, SpeakerPlan>,
    answering: Option<&[Answering]>,
) -> Vec<Layer2Row> {
    let Some(plan) = nodes.values().next() else {
        return Vec::new();
    };
    plan.layer2
        .owners
        .iter()
        .map(|(ip, address)| {
            let owner = address.owner.as_deref();
            let answered_by = answering.map(|reports| {
                reports
                    .iter()
                    .filter(|r| !r.stale && r.addresses.contains(ip))
                    .map(|r| r.node.as_str())
                    .collect::<Vec<_>>()
            });
            let note = match (owner, answered_by.as_deref()) {
                (None, Some(nodes)) if !nodes.is_empty() => format!(
                    "{} answers though no node may (a speaker behind on the objects?)",
                    nodes.join(", ")
                ),
                (None, _) => "nobody answers: no eligible node with a ready endpoint".to_owned(),
                (Some(_), None) => String::new(),
                (Some(owner), Some([])) => {
                    format!("no speaker reports answering it (is {owner}'s running?)")
                }
                (Some(owner), Some([one])) if *one == owner => String::new(),
                (Some(owner), Some([one])) => {
                    format!("{one} answers: the speakers do not hear {owner}'s (down or cut off?)")
                }
                (Some(_), Some(many)) => format!(
                    "{} answer at once: their speakers do not hear each other",
                    many.join(", ")
                ),
            };
            Layer2Row {
                address: ip.to_string(),
                service: address.service.to_string(),
                interface: address
                    .interface
                    .clone()
                    .unwrap_or_else(|| "(by subnet)".into()),
                owner: owner.unwrap_or("-").to_owned(),
                answered_by: answered_by.map(|nodes| {
                    if nodes.is_empty() {
                        "-".to_owned()
                    } else {
                        nodes.join(",")
                    }
                }),
                note,
            }
        })
        .collect()
}

fn eip_rows(snapshot: &Snapshot, plan: &Plan) -> Vec<EipRow> {
    snapshot
        .eips
        .iter()
        .map(|(name, eip)| {
            let planned = plan.eips.get(name);
            let status = planned.map(|p| &p.status);
            let mut problems: Vec<String> = planned
                .map(|p| p.errors.iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            if eip.spec.disable == Some(true) {
                problems.push("disabled (spec.disable)".into());
            }
            let used = match (
                status.and_then(|s| s.usage),
                status.and_then(|s| s.pool_size),
            ) {
                (Some(u), Some(t)) => format!("{u}/{t}"),
                _ => "-".into(),
            };
            EipRow {
                name: name.clone(),
                address: eip.spec.address.clone(),
                protocol: eip.spec.protocol.unwrap_or_default().as_str().into(),
                used,
                problems: if problems.is_empty() {
                    "-".into()
                } else {
                    problems.join("; ")
                },
            }
        })
        .collect()
}

/// The screen as text: a controller line, then tables separated by blank lines.
pub(crate) fn render(screen: &Screen) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &screen.controller {
        parts.push(format!("CONTROLLER  {}\n", c.text));
    }
    parts.push(table(
        &["SERVICE", "EIP", "POOL", "ANNOUNCED BY", "NOTE"],
        screen.services.iter().map(|r| {
            vec![
                r.service.clone(),
                r.eip.clone(),
                r.pool.clone(),
                r.announced_by.clone(),
                r.note.clone(),
            ]
        }),
    ));
    if let Some(sessions) = screen.sessions.as_ref().filter(|s| !s.is_empty()) {
        parts.push(table(
            &[
                "NODE",
                "PEER",
                "NEIGHBOR",
                "STATE",
                "UP",
                "PREFIXES",
                "LAST ERROR",
            ],
            sessions.iter().map(|r| {
                vec![
                    r.node.clone(),
                    r.peer.clone(),
                    r.neighbor.clone(),
                    r.state.clone(),
                    r.up.clone(),
                    r.prefixes.clone(),
                    r.last_error.clone(),
                ]
            }),
        ));
    }
    if let Some(layer2) = screen.layer2.as_ref().filter(|l| !l.is_empty()) {
        // the reports' column only where there are reports (a folder)
        let reports = layer2.iter().any(|r| r.answered_by.is_some());
        let mut headers = vec!["LAYER 2 ADDRESS", "SERVICE", "INTERFACE", "OWNER"];
        if reports {
            headers.push("ANSWERED BY");
        }
        headers.push("NOTE");
        parts.push(table(
            &headers,
            layer2.iter().map(|r| {
                let mut row = vec![
                    r.address.clone(),
                    r.service.clone(),
                    r.interface.clone(),
                    r.owner.clone(),
                ];
                if reports {
                    row.push(r.answered_by.clone().unwrap_or_else(|| "-".into()));
                }
                row.push(r.note.clone());
                row
            }),
        ));
    }
    if let Some(eips) = &screen.eips {
        parts.push(table(
            &["EIP", "ADDRESS", "PROTOCOL", "USED", "PROBLEMS"],
            eips.iter().map(|r| {
                vec![
                    r.name.clone(),
                    r.address.clone(),
                    r.protocol.clone(),
                    r.used.clone(),
                    r.problems.clone(),
                ]
            }),
        ));
    }
    parts.join("\n")
}

/// Columns padded to their widest cell, three spaces apart (as `kubectl get`), the last one
/// not padded.
fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(headers.iter().map(|h| (*h).to_owned()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; headers.len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
