//! BGP path attributes from the API (Porter additions; OpenELB has none): an Eip's `spec.bgp` and a Service's
//! `bgp.porter.kubesphere.io/*` annotations, parsed into `porter_bgp::RouteAttrs`.
//!
//! Here and not in porter-api, which holds the annotation keys: the parsed values are porter-bgp's types, and
//! the API crate depends on no protocol crate.
//!
//! The community syntax and its messages are porter-bgp's ([`porter_bgp::parse_community`],
//! [`porter_bgp::parse_large_community`]), so the API and the speaker agree on what a community is. The link
//! bandwidth is written in bits per second, the unit operators and interface speeds use, and converted here to
//! the bytes per second the extended community carries.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use porter_api::FieldError;
use porter_api::annotations::{
    COMMUNITIES_ANNOTATION, LARGE_COMMUNITIES_ANNOTATION, LINK_BANDWIDTH_ANNOTATION,
    LINK_BANDWIDTH_PER_ENDPOINT_ANNOTATION, LOCAL_PREF_ANNOTATION, MED_ANNOTATION, annotation,
    annotation_field,
};
use porter_bgp::{LinkBandwidth, RouteAttrs, parse_community, parse_large_community};

/// What a Service's annotations change in the attributes of its pool: communities are *added* to the pool's,
/// the other attributes, when set, *replace* the pool's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteAttrsDelta {
    /// Standard communities added to the pool's.
    pub communities: BTreeSet<u32>,
    /// Large communities added to the pool's.
    pub large_communities: BTreeSet<[u32; 3]>,
    /// MED replacing the pool's, when set.
    pub med: Option<u32>,
    /// LOCAL_PREF replacing the pool's, when set.
    pub local_pref: Option<u32>,
    /// Link bandwidth replacing the pool's, when set.
    pub link_bandwidth: Option<LinkBandwidth>,
    /// Link bandwidth per local endpoint replacing the pool's, when set ([`per_endpoint`]).
    pub link_bandwidth_per_endpoint: Option<LinkBandwidth>,
}

impl RouteAttrsDelta {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == RouteAttrsDelta::default()
    }

    /// `base` (the pool's attributes) with this delta applied: communities unioned, the rest overridden.
    pub fn apply(&self, base: &RouteAttrs) -> RouteAttrs {
        let mut out = base.clone();
        out.communities.extend(&self.communities);
        out.large_communities.extend(&self.large_communities);
        if self.med.is_some() {
            out.med = self.med;
        }
        if self.local_pref.is_some() {
            out.local_pref = self.local_pref;
        }
        if self.link_bandwidth.is_some() {
            out.link_bandwidth = self.link_bandwidth;
        }
        out
    }
}

/// What the Service's `bgp.porter.kubesphere.io/*` annotations change in the BGP attributes of its addresses
/// (communities added to the Eip's; MED, LOCAL_PREF and link bandwidth replacing the Eip's). Empty values count
/// as absent, and so do empty entries of a comma-separated list (a trailing comma). Every malformed value is
/// reported, each naming its annotation (`metadata.annotations[bgp.porter.kubesphere.io/communities]`).
pub fn from_annotations(svc: &Service) -> Result<RouteAttrsDelta, Vec<FieldError>> {
    let mut errors = Vec::new();
    let list = |key: &str| -> Vec<&str> {
        annotation(svc, key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let communities = communities(
        list(COMMUNITIES_ANNOTATION),
        |_| annotation_field(COMMUNITIES_ANNOTATION),
        &mut errors,
    );
    let large_communities = large_communities(
        list(LARGE_COMMUNITIES_ANNOTATION),
        |_| annotation_field(LARGE_COMMUNITIES_ANNOTATION),
        &mut errors,
    );
    let mut number = |key: &str| -> Option<u32> {
        let v = annotation(svc, key)?;
        v.parse()
            .map_err(|_| {
                errors.push(FieldError::new(
                    annotation_field(key),
                    format!("{v:?} is not an integer (0-4294967295)"),
                ));
            })
            .ok()
    };
    let med = number(MED_ANNOTATION);
    let local_pref = number(LOCAL_PREF_ANNOTATION);
    let mut bandwidth = |key: &str| {
        let v = annotation(svc, key)?;
        parse_link_bandwidth(v)
            .map_err(|e| errors.push(FieldError::new(annotation_field(key), e)))
            .ok()
    };
    let link_bandwidth = bandwidth(LINK_BANDWIDTH_ANNOTATION);
    let link_bandwidth_per_endpoint = bandwidth(LINK_BANDWIDTH_PER_ENDPOINT_ANNOTATION);
    if errors.is_empty() {
        Ok(RouteAttrsDelta {
            communities,
            large_communities,
            med,
            local_pref,
            link_bandwidth,
            link_bandwidth_per_endpoint,
        })
    } else {
        Err(errors)
    }
}

/// Weighted ECMP: the link bandwidth a node announces for a Service with `unit` per endpoint and
/// `endpoints` usable endpoints on the node: their product, at most 2^32-1 bytes per second (what the
/// community as porter-bgp models it can carry; a router weights by ratios, and a unit chosen as the
/// docs say never gets there). `None` for no endpoint: such a node does not announce a `Local` Service.
pub fn per_endpoint(unit: LinkBandwidth, endpoints: u32) -> Option<LinkBandwidth> {
    (endpoints > 0).then(|| LinkBandwidth {
        bytes_per_second: unit.bytes_per_second.saturating_mul(endpoints),
    })
}

/// The syntax of a link bandwidth, for messages.
const BANDWIDTH_SYNTAX: &str = "expected bits per second with an optional K, M, G or T suffix, e.g. 10G, 2.5G, 100M or 1250000000";

/// Parses a link bandwidth in bits per second with an optional decimal suffix (`K`, `M`, `G`, `T`, powers of
/// 1000, case-insensitive) and an optional fraction (`2.5G`): `"10G"` is 1 250 000 000 bytes per second.
/// Errors (the message quotes the input): not a number, below 8 bits/s (0 bytes/s), or above 2^32-1 bytes/s
/// (about 34.36 Gbit/s; the extended community as porter-bgp models it counts bytes in 32 bits).
pub fn parse_link_bandwidth(text: &str) -> Result<LinkBandwidth, String> {
    let t = text.trim();
    let bad = || format!("{text:?} is not a bandwidth: {BANDWIDTH_SYNTAX}");
    let (number, multiplier): (&str, u128) = match t.as_bytes().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                b'K' => 1_000,
                b'M' => 1_000_000,
                b'G' => 1_000_000_000,
                b'T' => 1_000_000_000_000,
                _ => return Err(bad()),
            };
            (&t[..t.len() - 1], m)
        }
        _ => (t, 1),
    };
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) if !f.is_empty() => (i, f),
        Some(_) => return Err(bad()),
        None => (number, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // Length limits keep the mantissa within u128.
    if int.is_empty() || int.len() > 20 || frac.len() > 12 || !digits(int) || !digits(frac) {
        return Err(bad());
    }
    let scale = 10u128.pow(u32::try_from(frac.len()).map_err(|_| bad())?);
    let mantissa = format!("{int}{frac}").parse::<u128>().map_err(|_| bad())?;
    // An overflow is far above the largest bandwidth: report it as such.
    let bytes = mantissa
        .checked_mul(multiplier)
        .map_or(u128::MAX, |bits| bits / scale / 8);
    if bytes == 0 {
        return Err(format!(
            "{text:?} is less than 8 bits per second, the smallest link bandwidth (1 byte per second)"
        ));
    }
    let bytes_per_second = u32::try_from(bytes).map_err(|_| {
        format!(
            "{text:?} is more than the largest link bandwidth Porter can send ({} bits per second, 2^32-1 bytes per second)",
            u64::from(u32::MAX) * 8
        )
    })?;
    Ok(LinkBandwidth { bytes_per_second })
}

/// Parses each community of `list`, reporting a bad one at `field(index)`.
pub(crate) fn communities<'a>(
    list: impl IntoIterator<Item = &'a str>,
    field: impl Fn(usize) -> String,
    errors: &mut Vec<FieldError>,
) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for (i, text) in list.into_iter().enumerate() {
        match parse_community(text) {
            Ok(c) => {
                out.insert(c);
            }
            Err(e) => errors.push(FieldError::new(field(i), e.to_string())),
        }
    }
    out
}

/// Parses each large community of `list`, reporting a bad one at `field(index)`.
pub(crate) fn large_communities<'a>(
    list: impl IntoIterator<Item = &'a str>,
    field: impl Fn(usize) -> String,
    errors: &mut Vec<FieldError>,
) -> BTreeSet<[u32; 3]> {
    let mut out = BTreeSet::new();
    for (i, text) in list.into_iter().enumerate() {
        match parse_large_community(text) {
            Ok(c) => {
                out.insert(c);
            }
            Err(e) => errors.push(FieldError::new(field(i), e.to_string())),
        }
    }
    out
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

    fn bps(s: &str) -> Result<u32, String> {
        parse_link_bandwidth(s).map(|b| b.bytes_per_second)
    }

    #[test]
    fn link_bandwidth_units() {
        assert_eq!(bps("10G"), Ok(1_250_000_000));
        assert_eq!(bps("10g"), Ok(1_250_000_000));
        assert_eq!(bps(" 100M "), Ok(12_500_000));
        assert_eq!(bps("1250000000"), Ok(156_250_000));
        assert_eq!(bps("2.5G"), Ok(312_500_000));
        assert_eq!(bps("8"), Ok(1));
        assert_eq!(bps("1K"), Ok(125));
        assert_eq!(bps("34359738360"), Ok(u32::MAX));
        assert_eq!(bps("0.008T"), Ok(1_000_000_000));
    }

    #[test]
    fn link_bandwidth_errors() {
        for bad in [
            "", "G", "10X", "1.G", ".5G", "-1G", "1,5G", "10 G", "1e9", "10Gbps",
        ] {
            assert_eq!(
                bps(bad),
                Err(format!("{bad:?} is not a bandwidth: {BANDWIDTH_SYNTAX}")),
                "{bad}"
            );
        }
        assert_eq!(
            bps("7"),
            Err("\"7\" is less than 8 bits per second, the smallest link bandwidth (1 byte per second)".into())
        );
        assert_eq!(
            bps("100G"),
            Err("\"100G\" is more than the largest link bandwidth Porter can send (34359738360 bits per second, 2^32-1 bytes per second)".into())
        );
        assert!(
            bps("99999999999999999999.999999999999T")
                .unwrap_err()
                .contains("more than")
        );
    }

    #[test]
    fn delta_adds_communities_and_overrides_the_rest() {
        let base = RouteAttrs {
            med: Some(10),
            local_pref: Some(200),
            communities: [1, 2].into(),
            large_communities: [[1, 2, 3]].into(),
            link_bandwidth: Some(LinkBandwidth {
                bytes_per_second: 5,
            }),
        };
        assert_eq!(RouteAttrsDelta::default().apply(&base), base);
        assert!(RouteAttrsDelta::default().is_empty());
        let delta = RouteAttrsDelta {
            communities: [2, 3].into(),
            large_communities: [[4, 5, 6]].into(),
            med: Some(5),
            local_pref: None,
            link_bandwidth: Some(LinkBandwidth {
                bytes_per_second: 9,
            }),
            link_bandwidth_per_endpoint: None,
        };
        let got = delta.apply(&base);
        assert_eq!(got.communities, [1, 2, 3].into());
        assert_eq!(got.large_communities, [[1, 2, 3], [4, 5, 6]].into());
        assert_eq!((got.med, got.local_pref), (Some(5), Some(200)));
        assert_eq!(got.link_bandwidth.map(|b| b.bytes_per_second), Some(9));
    }

    #[test]
    fn route_attrs_from_annotations() {
        let s = svc("LoadBalancer", &[], None);
        assert_eq!(from_annotations(&s), Ok(RouteAttrsDelta::default()));
        let s = svc(
            "LoadBalancer",
            &[
                (COMMUNITIES_ANNOTATION, "65000:100, no-export,"),
                (LARGE_COMMUNITIES_ANNOTATION, "65000:1:2,65000:1:3"),
                (MED_ANNOTATION, " 50 "),
                (LOCAL_PREF_ANNOTATION, "300"),
                (LINK_BANDWIDTH_ANNOTATION, "10G"),
                (LINK_BANDWIDTH_PER_ENDPOINT_ANNOTATION, "1M"),
            ],
            None,
        );
        let d = from_annotations(&s).unwrap();
        assert_eq!(
            d.link_bandwidth_per_endpoint.unwrap().bytes_per_second,
            125_000
        );
        assert_eq!(d.communities, [65000 << 16 | 100, 0xFFFF_FF01].into());
        assert_eq!(d.large_communities, [[65000, 1, 2], [65000, 1, 3]].into());
        assert_eq!((d.med, d.local_pref), (Some(50), Some(300)));
        assert_eq!(d.link_bandwidth.unwrap().bytes_per_second, 1_250_000_000);
        let s = svc(
            "LoadBalancer",
            &[(MED_ANNOTATION, ""), (COMMUNITIES_ANNOTATION, " , ")],
            None,
        );
        assert!(from_annotations(&s).unwrap().is_empty());
    }

    #[test]
    fn malformed_route_attrs_are_all_reported() {
        let s = svc(
            "LoadBalancer",
            &[
                (COMMUNITIES_ANNOTATION, "65000:abc,no-export,70000:1"),
                (LARGE_COMMUNITIES_ANNOTATION, "1:2"),
                (MED_ANNOTATION, "-1"),
                (LOCAL_PREF_ANNOTATION, "high"),
                (LINK_BANDWIDTH_ANNOTATION, "fast"),
                (LINK_BANDWIDTH_PER_ENDPOINT_ANNOTATION, "1 pod"),
            ],
            None,
        );
        let errors: Vec<String> = from_annotations(&s)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        let wk = "no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr";
        assert_eq!(
            errors,
            [
                format!("metadata.annotations[bgp.porter.kubesphere.io/communities]: invalid community \"65000:abc\": \"abc\" is not a decimal number; expected ASN:VALUE (each 0..=65535) or one of {wk}"),
                format!("metadata.annotations[bgp.porter.kubesphere.io/communities]: invalid community \"70000:1\": 70000 is out of range; expected ASN:VALUE (each 0..=65535) or one of {wk}"),
                "metadata.annotations[bgp.porter.kubesphere.io/large-communities]: invalid large community \"1:2\": 2 colon-separated parts, not 3; expected GLOBAL:LOCAL1:LOCAL2 (each 0..=4294967295)".to_owned(),
                "metadata.annotations[bgp.porter.kubesphere.io/med]: \"-1\" is not an integer (0-4294967295)".to_owned(),
                "metadata.annotations[bgp.porter.kubesphere.io/local-pref]: \"high\" is not an integer (0-4294967295)".to_owned(),
                "metadata.annotations[bgp.porter.kubesphere.io/link-bandwidth]: \"fast\" is not a bandwidth: expected bits per second with an optional K, M, G or T suffix, e.g. 10G, 2.5G, 100M or 1250000000".to_owned(),
                "metadata.annotations[bgp.porter.kubesphere.io/link-bandwidth-per-endpoint]: \"1 pod\" is not a bandwidth: expected bits per second with an optional K, M, G or T suffix, e.g. 10G, 2.5G, 100M or 1250000000".to_owned(),
            ]
        );
    }

    #[test]
    fn per_endpoint_bandwidth_is_unit_times_count_up_to_the_largest() {
        let unit = LinkBandwidth {
            bytes_per_second: 125_000,
        };
        let bw = |n| per_endpoint(unit, n).map(|b| b.bytes_per_second);
        assert_eq!(bw(0), None, "no endpoint: not announced, no weight");
        assert_eq!(bw(1), Some(125_000));
        assert_eq!(bw(3), Some(375_000));
        assert_eq!(bw(u32::MAX), Some(u32::MAX), "saturates, never wraps");
    }
}
