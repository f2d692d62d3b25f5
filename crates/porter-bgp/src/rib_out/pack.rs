//! UPDATE packing: withdrawals and announcements of one family into as few UPDATEs as fit.
//!
//! Packing is greedy and exact: withdrawals first, then one run of UPDATEs per distinct
//! attribute set (an UPDATE carries one set), each packed up to the session's message limit
//! (4096, or 65535 with RFC 8654). IPv4 travels in the body (or `MP_REACH_NLRI` with an IPv6 next
//! hop, RFC 8950); IPv6 in `MP_REACH_NLRI`/`MP_UNREACH_NLRI`. Per-message overheads are measured
//! by encoding a probe, so a new attribute only needs `wire` support.

use crate::attrs::RouteAttrs;
use crate::prefix::{Family, Prefix};
use crate::wire::{self, EncodeError, HEADER_LEN, OutAttrs, OutUpdate};

use super::FamilyOut;

/// Encoded size of a one-prefix UPDATE minus that prefix and the header: the fixed cost of a
/// message part. Attributes carried in `MP_*_NLRI` get one more octet in case they grow past 255
/// octets (extended length).
fn overhead(u: &OutUpdate, per_prefix: usize) -> Result<usize, EncodeError> {
    let in_mp = match (&u.attrs, u.announced.is_empty()) {
        (Some(a), false) => wire::announces_in_mp(u.family, a.next_hop),
        _ => u.family == Family::Ipv6Unicast,
    };
    let len = wire::encode_update_with_limit(u, wire::EXTENDED_MAX_MESSAGE_LEN)?.len();
    Ok(len.saturating_sub(per_prefix + HEADER_LEN) + usize::from(in_mp))
}

/// Packs withdrawals and announcement groups of one family into as few UPDATEs as fit in
/// `max_len` bytes; a group's UPDATEs never carry another group's prefixes.
pub(super) fn plan(
    family: Family,
    withdraw: &[Prefix],
    groups: &[(RouteAttrs, Vec<Prefix>)],
    out: Option<&FamilyOut>,
    max_len: usize,
) -> Result<Vec<OutUpdate>, EncodeError> {
    let path_id = out.and_then(|o| o.path_id);
    let size = |p: &Prefix| p.nlri_len() + if path_id.is_some() { 4 } else { 0 };
    let empty = || OutUpdate {
        family,
        withdrawn: vec![],
        announced: vec![],
        attrs: None,
        path_id,
    };
    let budget = max_len - HEADER_LEN;
    let mut res = Vec::new();
    let mut cur = empty();
    let mut used = 0;
    if let Some(probe) = withdraw.first() {
        let w_over = overhead(
            &OutUpdate {
                withdrawn: vec![*probe],
                ..empty()
            },
            size(probe),
        )?;
        for p in withdraw {
            if cur.withdrawn.is_empty() {
                used += w_over;
            }
            if used + size(p) > budget {
                res.push(std::mem::replace(&mut cur, empty()));
                used = w_over;
            }
            cur.withdrawn.push(*p);
            used += size(p);
        }
    }
    for (route, prefixes) in groups {
        let (Some(fo), Some(probe)) = (out, prefixes.first()) else {
            continue; // ineligible family: nothing to announce
        };
        let attrs = OutAttrs {
            route: route.clone(),
            ..fo.attrs.clone()
        };
        let a_over = overhead(
            &OutUpdate {
                announced: vec![*probe],
                attrs: Some(attrs.clone()),
                ..empty()
            },
            size(probe),
        )?;
        if !cur.announced.is_empty() {
            res.push(std::mem::replace(&mut cur, empty()));
            used = 0;
        }
        used += a_over;
        cur.attrs = Some(attrs.clone());
        for p in prefixes {
            if used + size(p) > budget {
                if cur.announced.is_empty() {
                    cur.attrs = None; // only withdrawals fit in this one
                }
                res.push(std::mem::replace(&mut cur, empty()));
                cur.attrs = Some(attrs.clone());
                used = a_over;
            }
            cur.announced.push(*p);
            used += size(p);
        }
    }
    if !cur.withdrawn.is_empty() || !cur.announced.is_empty() {
        res.push(cur);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib_out::tests::{ctx, one_group, v4, v6};

    #[test]
    fn packs_up_to_the_limit_v4() {
        // 20k /32s: 5 octets each. Body budget 4096-23-attrs(ORIGIN 4 + AS_PATH 9 + NEXT_HOP 7).
        let many: Vec<Prefix> = (0..20_000).map(v4).collect();
        let plan = plan(
            Family::Ipv4Unicast,
            &[],
            &one_group(&many),
            ctx().ipv4.as_ref(),
            4096,
        )
        .unwrap();
        let per = (4096 - 23 - 20) / 5;
        assert_eq!(plan[0].announced.len(), per);
        assert_eq!(plan.len(), 20_000usize.div_ceil(per));
        for u in &plan {
            assert!(wire::encode_update(u).unwrap().len() <= 4096);
        }
        let full = wire::encode_update(&plan[0]).unwrap();
        assert!(
            full.len() > 4096 - 5,
            "first UPDATE is packed full: {}",
            full.len()
        );
        let w = super::plan(Family::Ipv4Unicast, &many, &[], None, 4096).unwrap();
        assert_eq!(w[0].withdrawn.len(), (4096 - 23) / 5);
        // Extended messages: 65535-byte UPDATEs; ADD-PATH: 4 more octets per prefix.
        let big = super::plan(
            Family::Ipv4Unicast,
            &[],
            &one_group(&many),
            ctx().ipv4.as_ref(),
            65535,
        )
        .unwrap();
        assert_eq!(big[0].announced.len(), (65535 - 23 - 20) / 5);
        let mut ap = ctx().ipv4.unwrap();
        ap.path_id = Some(1);
        let ap = super::plan(Family::Ipv4Unicast, &[], &one_group(&many), Some(&ap), 4096).unwrap();
        assert_eq!(ap[0].announced.len(), (4096 - 23 - 20) / 9);
    }

    #[test]
    fn packs_v6_under_the_limit() {
        let many: Vec<Prefix> = (0..2_000).map(v6).collect();
        for max in [4096, 65535] {
            for (w, a) in [
                (&many[..], &[][..]),
                (&[][..], &many[..]),
                (&many[..1000], &many[1000..]),
            ] {
                let plan = plan(
                    Family::Ipv6Unicast,
                    w,
                    &one_group(a),
                    ctx().ipv6.as_ref(),
                    max,
                )
                .unwrap();
                let total: usize = plan
                    .iter()
                    .map(|u| u.withdrawn.len() + u.announced.len())
                    .sum();
                assert_eq!(total, w.len() + a.len());
                for (i, u) in plan.iter().enumerate() {
                    let len = wire::encode_update_with_limit(u, max).unwrap().len();
                    assert!(len <= max, "{len}");
                    // Every UPDATE but the last is packed to within one /128 (17 octets) + slack.
                    assert!(i + 1 == plan.len() || len > max - 24, "{len}");
                }
            }
        }
    }
}
