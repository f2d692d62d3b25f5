//! Health-driven withdrawal: what a Service's `health.porter.kubesphere.io/*` annotations ask
//! for, the probes a node's plan holds, and the pure [`Tally`] turning probe results into an
//! endpoint's verdict.
//!
//! Readiness as the kubelet sees it can be wrong for the traffic a load balancer sends: a
//! readiness probe on another port, a Pod that accepts connections but hangs, a node whose
//! path to its Pods broke. A Service that opts in (`health.porter.kubesphere.io/probe`, only
//! with `externalTrafficPolicy: Local`) is probed by each speaker at its node's own ready
//! endpoints; a node whose endpoints of the Service all fail stops announcing it, and
//! announces it again once one passes. Failing endpoints also leave the node's weight under
//! weighted ECMP. An endpoint not probed yet counts as healthy: the kubelet already called it
//! Ready, and a restarted speaker must not withdraw every Service while its first probes run.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use porter_api::FieldError;
use porter_api::annotations::{
    HEALTH_INTERVAL_ANNOTATION, HEALTH_PATH_ANNOTATION, HEALTH_PORT_ANNOTATION,
    HEALTH_PROBE_ANNOTATION, HEALTH_THRESHOLD_ANNOTATION, annotation, annotation_field,
};

use crate::ObjectKey;

/// The default time between two probes of one endpoint.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// The default number of results in a row that change an endpoint's verdict.
pub const DEFAULT_THRESHOLD: u32 = 3;
/// The shortest interval accepted: probes closer than this would load the Pods for little gain
/// (the withdrawal still takes the BGP update's way to the router).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest interval accepted.
pub const MAX_INTERVAL: Duration = Duration::from_secs(300);
/// The highest threshold accepted.
pub const MAX_THRESHOLD: u32 = 100;
/// The longest a probe waits for its answer (the kubelet's default probe timeout); shorter
/// when the interval is.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(1);

/// How an endpoint is probed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// A TCP connection is opened and closed.
    Tcp,
    /// An HTTP/1.1 `GET` of `path`; a status from 200 to 399 passes.
    Http {
        /// The path asked for, starting with `/`.
        path: Box<str>,
    },
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeKind::Tcp => f.write_str("tcp"),
            ProbeKind::Http { path } => write!(f, "http {path}"),
        }
    }
}

/// Which port of an endpoint is probed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortRef {
    /// The EndpointSlice's first TCP port.
    First,
    /// This port number.
    Number(u16),
    /// The EndpointSlice's port of this name.
    Name(Box<str>),
}

/// What a Service's `health.porter.kubesphere.io/*` annotations ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HealthCheck {
    /// How each endpoint is probed.
    pub kind: ProbeKind,
    /// Which port.
    pub port: PortRef,
    /// The time between two probes of an endpoint.
    pub interval: Duration,
    /// How many results in a row change an endpoint's verdict, either way.
    pub threshold: u32,
}

impl HealthCheck {
    /// What `svc`'s annotations ask for: `None` without `health.porter.kubesphere.io/probe`;
    /// every malformed annotation reported, each naming its key.
    pub fn of(svc: &Service) -> Result<Option<Self>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut bad =
            |key: &str, why: String| errors.push(FieldError::new(annotation_field(key), why));
        let Some(probe) = annotation(svc, HEALTH_PROBE_ANNOTATION) else {
            return Ok(None);
        };
        let path = annotation(svc, HEALTH_PATH_ANNOTATION);
        let kind = match probe {
            "tcp" => {
                if path.is_some() {
                    bad(
                        HEALTH_PATH_ANNOTATION,
                        format!("a path is for an http probe; {HEALTH_PROBE_ANNOTATION} is tcp"),
                    );
                }
                Some(ProbeKind::Tcp)
            }
            "http" => match path.unwrap_or("/") {
                p if !p.starts_with('/') => {
                    bad(
                        HEALTH_PATH_ANNOTATION,
                        format!("{p:?} does not start with /"),
                    );
                    None
                }
                p if !p.bytes().all(|b| b.is_ascii_graphic()) => {
                    bad(
                        HEALTH_PATH_ANNOTATION,
                        format!(
                            "{p:?} holds a space or a character that is not printable ASCII (percent-encode it)"
                        ),
                    );
                    None
                }
                p => Some(ProbeKind::Http { path: p.into() }),
            },
            other => {
                bad(
                    HEALTH_PROBE_ANNOTATION,
                    format!("{other:?} is not a probe: tcp or http"),
                );
                None
            }
        };
        let port = match annotation(svc, HEALTH_PORT_ANNOTATION) {
            None => Some(PortRef::First),
            Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => match v.parse::<u16>() {
                Ok(n) if n > 0 => Some(PortRef::Number(n)),
                _ => {
                    bad(
                        HEALTH_PORT_ANNOTATION,
                        format!("{v:?} is not a port (1-65535)"),
                    );
                    None
                }
            },
            Some(v) if is_port_name(v) => Some(PortRef::Name(v.into())),
            Some(v) => {
                bad(
                    HEALTH_PORT_ANNOTATION,
                    format!("{v:?} is neither a port number nor a port name"),
                );
                None
            }
        };
        let interval = match annotation(svc, HEALTH_INTERVAL_ANNOTATION) {
            None => Some(DEFAULT_INTERVAL),
            Some(v) => match parse_duration(v) {
                Some(d) if (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) => Some(d),
                Some(_) => {
                    bad(
                        HEALTH_INTERVAL_ANNOTATION,
                        format!("{v:?} is out of range (100ms to 300s)"),
                    );
                    None
                }
                None => {
                    bad(
                        HEALTH_INTERVAL_ANNOTATION,
                        format!("{v:?} is not a duration such as 500ms, 2s or 1m"),
                    );
                    None
                }
            },
        };
        let threshold = match annotation(svc, HEALTH_THRESHOLD_ANNOTATION) {
            None => Some(DEFAULT_THRESHOLD),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=MAX_THRESHOLD).contains(&n) => Some(n),
                _ => {
                    bad(
                        HEALTH_THRESHOLD_ANNOTATION,
                        format!("{v:?} is not a count from 1 to {MAX_THRESHOLD}"),
                    );
                    None
                }
            },
        };
        match (kind, port, interval, threshold) {
            (Some(kind), Some(port), Some(interval), Some(threshold)) if errors.is_empty() => {
                Ok(Some(Self {
                    kind,
                    port,
                    interval,
                    threshold,
                }))
            }
            _ => Err(errors),
        }
    }

    /// How long one probe waits for its answer: the interval, at most [`MAX_TIMEOUT`].
    pub fn timeout(&self) -> Duration {
        self.interval.min(MAX_TIMEOUT)
    }
}

/// An IANA_SVC_NAME as Kubernetes names ports: up to 15 lowercase letters, digits and
/// hyphens, with a letter, no hyphen at either end and none doubled.
fn is_port_name(v: &str) -> bool {
    (1..=15).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && v.bytes().any(|b| b.is_ascii_lowercase())
        && !v.starts_with('-')
        && !v.ends_with('-')
        && !v.contains("--")
}

/// `500ms`, `2s`, `1m`, or a bare number of seconds.
fn parse_duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

/// One probe: an endpoint of a Service, as one node's speaker probes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProbeKey {
    /// The Service.
    pub service: ObjectKey,
    /// The endpoint's address and the probed port.
    pub endpoint: SocketAddr,
}

impl fmt::Display for ProbeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.service, self.endpoint)
    }
}

/// How a probe runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeSpec {
    /// TCP or HTTP.
    pub kind: ProbeKind,
    /// The time between two probes.
    pub interval: Duration,
    /// How long one probe waits for its answer.
    pub timeout: Duration,
    /// How many results in a row change the verdict.
    pub threshold: u32,
}

impl ProbeSpec {
    /// The spec of `check`'s probes.
    pub fn of(check: &HealthCheck) -> Self {
        Self {
            kind: check.kind.clone(),
            interval: check.interval,
            timeout: check.timeout(),
            threshold: check.threshold,
        }
    }
}

/// The endpoints whose probes currently fail (a [`Tally`] said so): what the plan reads of
/// the probes. An endpoint not in it counts as healthy, probed or not.
pub type Failing = BTreeSet<ProbeKey>;

/// An endpoint's verdict from its probe results: it fails once `threshold` probes in a row
/// failed, and is healthy again once `threshold` in a row passed; it starts healthy. Requiring
/// the same streak both ways keeps a flapping endpoint from flapping the route (each change
/// is a BGP update, which routers may dampen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    threshold: u32,
    failing: bool,
    /// Results in a row that disagree with the verdict.
    streak: u32,
}

impl Tally {
    /// A healthy endpoint not probed yet; a `threshold` of 0 counts as 1.
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            failing: false,
            streak: 0,
        }
    }

    /// Records one probe's result; returns the new verdict (`true` = failing) when it changed.
    pub fn record(&mut self, passed: bool) -> Option<bool> {
        if passed != self.failing {
            // agrees with the verdict
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak < self.threshold {
            return None;
        }
        self.streak = 0;
        self.failing = !passed;
        Some(self.failing)
    }

    /// Whether the endpoint currently counts as failing.
    pub fn failing(&self) -> bool {
        self.failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn svc(annotations: &[(&str, &str)]) -> Service {
        let mut s = Service::default();
        s.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        s
    }

    fn errors(annotations: &[(&str, &str)]) -> Vec<String> {
        HealthCheck::of(&svc(annotations))
            .expect_err("malformed")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn without_the_probe_annotation_nothing_is_probed() {
        assert_eq!(HealthCheck::of(&svc(&[])).unwrap(), None);
        // the others alone do not opt in
        assert_eq!(
            HealthCheck::of(&svc(&[(HEALTH_INTERVAL_ANNOTATION, "1s")])).unwrap(),
            None
        );
    }

    #[test]
    fn defaults_and_every_setting_read() {
        let tcp = HealthCheck::of(&svc(&[(HEALTH_PROBE_ANNOTATION, "tcp")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            tcp,
            HealthCheck {
                kind: ProbeKind::Tcp,
                port: PortRef::First,
                interval: DEFAULT_INTERVAL,
                threshold: DEFAULT_THRESHOLD,
            }
        );
        assert_eq!(tcp.timeout(), MAX_TIMEOUT);
        let http = HealthCheck::of(&svc(&[
            (HEALTH_PROBE_ANNOTATION, "http"),
            (HEALTH_PATH_ANNOTATION, "/healthz?full=1"),
            (HEALTH_PORT_ANNOTATION, "metrics"),
            (HEALTH_INTERVAL_ANNOTATION, "500ms"),
            (HEALTH_THRESHOLD_ANNOTATION, "2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            http.kind,
            ProbeKind::Http {
                path: "/healthz?full=1".into()
            }
        );
        assert_eq!(http.port, PortRef::Name("metrics".into()));
        assert_eq!(http.interval, Duration::from_millis(500));
        assert_eq!(http.timeout(), Duration::from_millis(500));
        assert_eq!(http.threshold, 2);
        let numbered = HealthCheck::of(&svc(&[
            (HEALTH_PROBE_ANNOTATION, "http"),
            (HEALTH_PORT_ANNOTATION, "8080"),
            (HEALTH_INTERVAL_ANNOTATION, "1m"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(numbered.port, PortRef::Number(8080));
        assert_eq!(numbered.kind, ProbeKind::Http { path: "/".into() });
        assert_eq!(numbered.interval, Duration::from_secs(60));
        assert_eq!(
            HealthCheck::of(&svc(&[
                (HEALTH_PROBE_ANNOTATION, "tcp"),
                (HEALTH_INTERVAL_ANNOTATION, "3")
            ]))
            .unwrap()
            .unwrap()
            .interval,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn every_malformed_annotation_is_named() {
        let all = errors(&[
            (HEALTH_PROBE_ANNOTATION, "icmp"),
            (HEALTH_PORT_ANNOTATION, "70000"),
            (HEALTH_INTERVAL_ANNOTATION, "2h"),
            (HEALTH_THRESHOLD_ANNOTATION, "0"),
        ]);
        assert_eq!(all.len(), 4, "{all:#?}");
        for (key, what) in [
            (HEALTH_PROBE_ANNOTATION, "\"icmp\" is not a probe"),
            (HEALTH_PORT_ANNOTATION, "\"70000\" is not a port"),
            (HEALTH_INTERVAL_ANNOTATION, "\"2h\" is not a duration"),
            (HEALTH_THRESHOLD_ANNOTATION, "\"0\" is not a count"),
        ] {
            assert!(
                all.iter().any(|e| e.contains(key) && e.contains(what)),
                "{key}: {all:#?}"
            );
        }
        for (annotations, what) in [
            (
                &[
                    (HEALTH_PROBE_ANNOTATION, "tcp"),
                    (HEALTH_PATH_ANNOTATION, "/x"),
                ][..],
                "a path is for an http probe",
            ),
            (
                &[
                    (HEALTH_PROBE_ANNOTATION, "http"),
                    (HEALTH_PATH_ANNOTATION, "healthz"),
                ],
                "does not start with /",
            ),
            (
                &[
                    (HEALTH_PROBE_ANNOTATION, "http"),
                    (HEALTH_PATH_ANNOTATION, "/a b"),
                ],
                "percent-encode",
            ),
            (
                &[
                    (HEALTH_PROBE_ANNOTATION, "tcp"),
                    (HEALTH_PORT_ANNOTATION, "0"),
                ],
                "is not a port",
            ),
            (
                &[
                    (HEALTH_PROBE_ANNOTATION, "tcp"),
                    (HEALTH_PORT_ANNOTATION, "Web_1"),
                ],
                "neither a port number nor a port name",
            ),
            (
                &[
                    (HEALTH_PROBE_ANNOTATION, "tcp"),
                    (HEALTH_INTERVAL_ANNOTATION, "50ms"),
                ],
                "out of range",
            ),
            (
                &[
                    (HEALTH_PROBE_ANNOTATION, "tcp"),
                    (HEALTH_THRESHOLD_ANNOTATION, "101"),
                ],
                "from 1 to 100",
            ),
        ] {
            let all = errors(annotations);
            assert!(
                all.len() == 1 && all[0].contains(what),
                "{annotations:?}: {all:#?}"
            );
        }
    }

    #[test]
    fn port_names_follow_kubernetes() {
        for ok in ["http", "metrics-1", "a", "h2c"] {
            assert!(is_port_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-http",
            "http-",
            "a--b",
            "HTTP",
            "123",
            "sixteen-letters1",
        ] {
            assert!(!is_port_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_tally_needs_a_streak_either_way() {
        let mut t = Tally::new(3);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None, "a pass breaks the streak");
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(true));
        assert!(t.failing());
        assert_eq!(t.record(false), None, "still failing: no change");
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(false));
        assert!(!t.failing());
        let mut once = Tally::new(0);
        assert_eq!(once.record(false), Some(true));
        assert_eq!(once.record(true), Some(false));
    }

    proptest! {
        /// The verdict changes exactly when the last `threshold` results all disagree with
        /// the verdict before them (and no change happened within them).
        #[test]
        fn a_tally_follows_its_model(threshold in 1u32..5, results in prop::collection::vec(any::<bool>(), 0..64)) {
            let mut t = Tally::new(threshold);
            let mut failing = false;
            let mut streak = 0;
            for passed in results {
                let before = t.failing();
                let changed = t.record(passed);
                if passed == failing { streak += 1 } else { streak = 0 }
                if streak == threshold {
                    failing = !failing;
                    streak = 0;
                    prop_assert_eq!(changed, Some(failing));
                } else {
                    prop_assert_eq!(changed, None);
                }
                prop_assert_eq!(t.failing(), failing);
                prop_assert!(changed.is_none() || before != t.failing());
            }
        }

        /// No annotation value panics or is half read: a probe is checked entirely, or every
        /// malformed annotation is reported.
        #[test]
        fn any_annotations_read_whole(probe in "tcp|http|x|", port in "[a-z0-9-]{0,17}", interval in "[0-9]{0,4}(ms|s|m|h)?", threshold in "[0-9]{0,3}") {
            let s = svc(&[
                (HEALTH_PROBE_ANNOTATION, &probe),
                (HEALTH_PORT_ANNOTATION, &port),
                (HEALTH_INTERVAL_ANNOTATION, &interval),
                (HEALTH_THRESHOLD_ANNOTATION, &threshold),
            ]);
            match HealthCheck::of(&s) {
                Ok(Some(check)) => {
                    prop_assert!((MIN_INTERVAL..=MAX_INTERVAL).contains(&check.interval));
                    prop_assert!((1..=MAX_THRESHOLD).contains(&check.threshold));
                    prop_assert!(check.timeout() <= check.interval && check.timeout() <= MAX_TIMEOUT);
                }
                Ok(None) => prop_assert!(probe.is_empty()),
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
        }
    }
}
