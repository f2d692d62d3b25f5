//! Annotation, label and finalizer keys shared with OpenELB, and helpers that read them from a Service.
//!
//! Porter honours OpenELB's keys (and the older Porter spellings from before OpenELB's rename) so that Services
//! and pools annotated for OpenELB keep working after a migration. The helpers here are the only place that
//! interprets these keys, so every controller reads them the same way.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;

use crate::{Eip, FieldError};

/// Opt-in annotation on a Service: its value must be one of [`OPT_IN_VALUES`] for Porter to handle the
/// Service (OpenELB requires it too; without it a Service is ignored and any address it held is released).
pub const LB_ANNOTATION: &str = "lb.kubesphere.io/v1alpha1";

/// Values of [`LB_ANNOTATION`] that opt a Service in: `openelb` (OpenELB v0.4.4+) and `porter` (Porter and
/// OpenELB up to v0.4.3). Compared exactly (case-sensitive), as OpenELB does.
pub const OPT_IN_VALUES: [&str; 2] = ["openelb", "porter"];

/// Service annotation naming the Eip to allocate from. Namespace bindings of that Eip are not checked, as in
/// OpenELB: naming a pool is an explicit choice.
pub const EIP_POOL_ANNOTATION: &str = "eip.openelb.kubesphere.io/v1alpha2";

/// Service label the controller writes with the name of the Eip that served the allocation (same key as
/// [`EIP_POOL_ANNOTATION`]). OpenELB also treats a Service carrying this label as its own, so the address is
/// released when the Service stops asking for one.
pub const EIP_POOL_LABEL: &str = EIP_POOL_ANNOTATION;

/// Service annotation requesting a specific address. It overrides `spec.loadBalancerIP`. An address already
/// used by another Service is shared, as in OpenELB.
pub const EIP_IP_ANNOTATION: &str = "eip.openelb.kubesphere.io/v1alpha1";

/// Pre-rename (Porter, OpenELB up to v0.4.3) spelling of [`EIP_POOL_ANNOTATION`]; read after it.
pub const PORTER_EIP_POOL_ANNOTATION: &str = "eip.porter.kubesphere.io/v1alpha2";

/// Pre-rename (Porter, OpenELB up to v0.4.3) spelling of [`EIP_IP_ANNOTATION`]; read after it.
pub const PORTER_EIP_IP_ANNOTATION: &str = "eip.porter.kubesphere.io/v1alpha1";

/// Eip annotation marking the cluster's default pool (value `true`, compared case-insensitively). A Service
/// that names no pool and matches no namespace-bound pool gets its address from the default pool.
pub const DEFAULT_EIP_ANNOTATION: &str = "eip.openelb.kubesphere.io/is-default-eip";

/// Service annotation that chose the announcement protocol before OpenELB v0.6. Ignored (the protocol comes from
/// the Eip), as in OpenELB v0.6.
pub const PROTOCOL_ANNOTATION: &str = "protocol.openelb.kubesphere.io/v1alpha1";

/// Service annotation selecting OpenELB's NodeProxy mode (`deployment` or `daemonset`). Not implemented by
/// Porter; a Service carrying it should get a warning.
pub const NODE_PROXY_TYPE_ANNOTATION: &str = "node-proxy.openelb.kubesphere.io/type";

/// Label on BgpConf/BgpPeer/Eip that made OpenELB leave announcements to the CNI (e.g. Calico). Not
/// implemented by Porter.
pub const CNI_LABEL: &str = "openelb.kubesphere.io/cni";

/// Finalizer the controller puts on a Service that holds an address, so the address is released before the
/// Service disappears. OpenELB's speakers also put this same string on BgpConf and BgpPeer.
pub const SERVICE_FINALIZER: &str = "finalizer.lb.kubesphere.io/v1alpha1";

/// Finalizer the controller puts on an Eip, so its status (the allocation record) is handled before deletion.
pub const EIP_FINALIZER: &str = "finalizer.ipam.kubesphere.io/v1alpha1";

/// Node label naming the node's rack: used by BgpConf `asPerRack` and, in OpenELB's docs, as the BgpPeer
/// `nodeSelector` key to peer each rack with its own switch.
pub const RACK_LABEL: &str = "openelb.kubesphere.io/rack";

/// Standard Kubernetes node label: nodes carrying it must not receive load-balancer traffic, so they are
/// never used as next hops or layer-2 responders.
pub const EXCLUDE_FROM_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Service annotation (Porter addition; OpenELB ignores it): RFC 1997 communities, comma-separated
/// (`65000:100, no-export`), *added* to those of the Service's Eip (`spec.bgp.communities`).
pub const COMMUNITIES_ANNOTATION: &str = "bgp.porter.kubesphere.io/communities";

/// Service annotation (Porter addition; OpenELB ignores it): RFC 8092 large communities, comma-separated
/// (`65000:1:2, 65000:1:3`), *added* to those of the Service's Eip (`spec.bgp.largeCommunities`).
pub const LARGE_COMMUNITIES_ANNOTATION: &str = "bgp.porter.kubesphere.io/large-communities";

/// Service annotation (Porter addition; OpenELB ignores it): the MED of the Service's routes, replacing the
/// Eip's `spec.bgp.med`.
pub const MED_ANNOTATION: &str = "bgp.porter.kubesphere.io/med";

/// Service annotation (Porter addition; OpenELB ignores it): the LOCAL_PREF of the Service's routes (iBGP
/// only), replacing the Eip's `spec.bgp.localPref`.
pub const LOCAL_PREF_ANNOTATION: &str = "bgp.porter.kubesphere.io/local-pref";

/// Service annotation (Porter addition; OpenELB ignores it): the link bandwidth of the Service's routes in
/// bits per second (`10G`, `100M`), replacing the Eip's `spec.bgp.linkBandwidth` and, being the Service's own,
/// its `spec.bgp.linkBandwidthPerEndpoint` (a Service opts out of its pool's weighting with it).
pub const LINK_BANDWIDTH_ANNOTATION: &str = "bgp.porter.kubesphere.io/link-bandwidth";

/// Service annotation (Porter addition; OpenELB ignores it): weighted ECMP, the link bandwidth per ready
/// endpoint on the node (`1M`), replacing the Eip's `spec.bgp.linkBandwidthPerEndpoint` (and, under `Local`, the
/// `link-bandwidth` annotation). Only with `externalTrafficPolicy: Local`, where a node forwards to its own pods
/// only: each node's routes carry this times its ready endpoints of the Service.
pub const LINK_BANDWIDTH_PER_ENDPOINT_ANNOTATION: &str =
    "bgp.porter.kubesphere.io/link-bandwidth-per-endpoint";

/// Service annotation (Porter addition; OpenELB has no such feature): health-driven withdrawal. `tcp` or
/// `http`: each speaker probes the Service's ready endpoints on its node, and a node whose endpoints all fail
/// the probe stops announcing the Service until they pass again. Only with `externalTrafficPolicy: Local`,
/// where a node forwards to its own pods only.
pub const HEALTH_PROBE_ANNOTATION: &str = "health.porter.kubesphere.io/probe";

/// Service annotation: the endpoint port the health probe connects to, a number or the name of a port of the
/// EndpointSlice; default: the EndpointSlice's first port.
pub const HEALTH_PORT_ANNOTATION: &str = "health.porter.kubesphere.io/port";

/// Service annotation: the path an `http` health probe asks for with GET (default `/`); a status from 200
/// to 399 passes, as a kubelet's HTTP probe.
pub const HEALTH_PATH_ANNOTATION: &str = "health.porter.kubesphere.io/path";

/// Service annotation: the time between two probes of an endpoint (`500ms`, `2s`, `1m`; a bare number is
/// seconds), default 2 s; each probe times out after the interval or 1 s, whichever is shorter.
pub const HEALTH_INTERVAL_ANNOTATION: &str = "health.porter.kubesphere.io/interval";

/// Service annotation: how many probes in a row must fail for an endpoint to count as failing, and pass for it
/// to count as healthy again (default 3).
pub const HEALTH_THRESHOLD_ANNOTATION: &str = "health.porter.kubesphere.io/threshold";

/// The field path of an annotation, as used in [`FieldError`]s: `metadata.annotations[KEY]`.
pub fn annotation_field(key: &str) -> String {
    format!("metadata.annotations[{key}]")
}

/// A non-empty (after trimming) annotation value. An empty value is treated as absent so that a template
/// rendering `""` does not block the next source. Every reader of Porter's annotations goes through here (the
/// BGP ones too: `porter_model::route_attrs`), so they all read a value the same way.
pub fn annotation<'a>(svc: &'a Service, key: &str) -> Option<&'a str> {
    svc.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// The `spec.loadBalancerClass` Porter serves: a Service of this class is Porter's without
/// any annotation (the Kubernetes-native way to pick an implementation; OpenELB ignored the
/// field, issue #367).
pub const LOAD_BALANCER_CLASS: &str = "porter.kubesphere.io/bgp";

/// Whether Porter should handle this Service: `type: LoadBalancer`, and either
/// `spec.loadBalancerClass` is [`LOAD_BALANCER_CLASS`], or no class is set and the opt-in
/// annotation [`LB_ANNOTATION`] is exactly `openelb` or `porter`. A Service that names
/// another class belongs to another implementation and is never touched, annotation or not.
pub fn opted_in(svc: &Service) -> bool {
    let spec = svc.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
        return false;
    }
    if let Some(class) = spec.and_then(|s| s.load_balancer_class.as_deref()) {
        return class == LOAD_BALANCER_CLASS;
    }
    let value = svc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LB_ANNOTATION));
    value.is_some_and(|v| OPT_IN_VALUES.contains(&v.as_str()))
}

/// The Eip the Service names ([`EIP_POOL_ANNOTATION`], else [`PORTER_EIP_POOL_ANNOTATION`]), if any.
pub fn requested_pool(svc: &Service) -> Option<&str> {
    annotation(svc, EIP_POOL_ANNOTATION).or_else(|| annotation(svc, PORTER_EIP_POOL_ANNOTATION))
}

/// The Eip the controller recorded in the [`EIP_POOL_LABEL`] label, i.e. where the current address came from.
pub fn allocated_pool(svc: &Service) -> Option<&str> {
    svc.metadata
        .labels
        .as_ref()?
        .get(EIP_POOL_LABEL)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The specific address the Service asks for: [`EIP_IP_ANNOTATION`], else [`PORTER_EIP_IP_ANNOTATION`], else
/// `spec.loadBalancerIP` (the annotation wins, as in OpenELB). `Ok(None)` = any address. A value that is not an
/// IP address is an error naming the field it came from, so the user sees what to fix instead of getting a
/// random address.
pub fn requested_ip(svc: &Service) -> Result<Option<IpAddr>, FieldError> {
    let source = [EIP_IP_ANNOTATION, PORTER_EIP_IP_ANNOTATION]
        .into_iter()
        .find_map(|key| annotation(svc, key).map(|v| (annotation_field(key), v)))
        .or_else(|| {
            svc.spec
                .as_ref()
                .and_then(|s| s.load_balancer_ip.as_deref())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| ("spec.loadBalancerIP".to_owned(), v))
        });
    match source {
        None => Ok(None),
        Some((field, value)) => value
            .parse::<IpAddr>()
            .map(Some)
            .map_err(|_| FieldError::new(field, format!("{value:?} is not an IP address"))),
    }
}

/// Whether the Eip is the cluster's default pool ([`DEFAULT_EIP_ANNOTATION`] = `true`, any case, as OpenELB's
/// webhook compares it).
pub fn is_default_eip(eip: &Eip) -> bool {
    eip.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_EIP_ANNOTATION))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ServiceSpec;

    use super::*;

    fn svc(type_: &str, annotations: &[(&str, &str)], lb_ip: Option<&str>) -> Service {
        let mut s = Service::default();
        s.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        s.spec = Some(ServiceSpec {
            type_: Some(type_.into()),
            load_balancer_ip: lb_ip.map(Into::into),
            ..ServiceSpec::default()
        });
        s
    }

    #[test]
    fn opt_in_needs_load_balancer_and_exact_value() {
        assert!(opted_in(&svc(
            "LoadBalancer",
            &[(LB_ANNOTATION, "openelb")],
            None
        )));
        assert!(opted_in(&svc(
            "LoadBalancer",
            &[(LB_ANNOTATION, "porter")],
            None
        )));
        assert!(!opted_in(&svc(
            "LoadBalancer",
            &[(LB_ANNOTATION, "OpenELB")],
            None
        )));
        assert!(!opted_in(&svc(
            "LoadBalancer",
            &[(LB_ANNOTATION, "metallb")],
            None
        )));
        assert!(!opted_in(&svc("LoadBalancer", &[], None)));
        assert!(!opted_in(&svc(
            "NodePort",
            &[(LB_ANNOTATION, "openelb")],
            None
        )));
        assert!(!opted_in(&Service::default()));
    }

    #[test]
    fn load_balancer_class_decides_when_set() {
        let with_class = |class: &str, annotations: &[(&str, &str)]| {
            let mut s = svc("LoadBalancer", annotations, None);
            if let Some(spec) = s.spec.as_mut() {
                spec.load_balancer_class = Some(class.into());
            }
            s
        };
        assert!(
            opted_in(&with_class(LOAD_BALANCER_CLASS, &[])),
            "Porter's class needs no annotation"
        );
        assert!(
            !opted_in(&with_class(
                "metallb.io/metallb",
                &[(LB_ANNOTATION, "porter")]
            )),
            "another implementation's Service is never touched, annotation or not"
        );
        let mut node_port = with_class(LOAD_BALANCER_CLASS, &[]);
        if let Some(spec) = node_port.spec.as_mut() {
            spec.type_ = Some("NodePort".into());
        }
        assert!(!opted_in(&node_port));
    }

    #[test]
    fn pool_prefers_openelb_key_then_porter_key() {
        let both = svc(
            "LoadBalancer",
            &[
                (EIP_POOL_ANNOTATION, "a"),
                (PORTER_EIP_POOL_ANNOTATION, "b"),
            ],
            None,
        );
        assert_eq!(requested_pool(&both), Some("a"));
        let porter = svc("LoadBalancer", &[(PORTER_EIP_POOL_ANNOTATION, "b")], None);
        assert_eq!(requested_pool(&porter), Some("b"));
        let empty = svc("LoadBalancer", &[(EIP_POOL_ANNOTATION, " ")], None);
        assert_eq!(requested_pool(&empty), None);
    }

    #[test]
    fn allocated_pool_reads_the_label() {
        let mut s = svc("LoadBalancer", &[], None);
        assert_eq!(allocated_pool(&s), None);
        s.metadata.labels = Some(BTreeMap::from([(
            EIP_POOL_LABEL.to_string(),
            "pool".to_string(),
        )]));
        assert_eq!(allocated_pool(&s), Some("pool"));
    }

    #[test]
    fn requested_ip_annotation_overrides_spec() {
        let s = svc(
            "LoadBalancer",
            &[(EIP_IP_ANNOTATION, "10.0.0.7")],
            Some("10.0.0.8"),
        );
        assert_eq!(requested_ip(&s), Ok(Some("10.0.0.7".parse().unwrap())));
        let s = svc(
            "LoadBalancer",
            &[(PORTER_EIP_IP_ANNOTATION, "2001:db8::1")],
            Some("10.0.0.8"),
        );
        assert_eq!(requested_ip(&s), Ok(Some("2001:db8::1".parse().unwrap())));
        let s = svc("LoadBalancer", &[], Some("10.0.0.8"));
        assert_eq!(requested_ip(&s), Ok(Some("10.0.0.8".parse().unwrap())));
        let s = svc("LoadBalancer", &[(EIP_IP_ANNOTATION, "")], None);
        assert_eq!(requested_ip(&s), Ok(None));
    }

    #[test]
    fn malformed_requested_ip_names_its_field() {
        let s = svc("LoadBalancer", &[(EIP_IP_ANNOTATION, "10.0.0.300")], None);
        let err = requested_ip(&s).unwrap_err();
        assert_eq!(
            err.field,
            "metadata.annotations[eip.openelb.kubesphere.io/v1alpha1]"
        );
        assert_eq!(
            err.to_string(),
            "metadata.annotations[eip.openelb.kubesphere.io/v1alpha1]: \"10.0.0.300\" is not an IP address"
        );
        let s = svc("LoadBalancer", &[], Some("nope"));
        assert_eq!(
            requested_ip(&s).unwrap_err().to_string(),
            "spec.loadBalancerIP: \"nope\" is not an IP address"
        );
    }

    #[test]
    fn default_eip_is_case_insensitive() {
        let mut eip = Eip::default();
        assert!(!is_default_eip(&eip));
        for (v, want) in [
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("false", false),
            ("yes", false),
        ] {
            eip.metadata.annotations = Some(BTreeMap::from([(
                DEFAULT_EIP_ANNOTATION.to_string(),
                v.to_string(),
            )]));
            assert_eq!(is_default_eip(&eip), want, "{v}");
        }
    }
}
