//! The writes that bring the cluster in line with the status decision
//! ([`porter_model::status::decide`]): JSON merge patches holding only the fields that change.
//!
//! A Service's `/status` is a strategic merge patch, so that `conditions` merge by `type` and
//! other controllers' conditions are kept; the address and the conditions go in one write. Its
//! metadata (finalizer, label) is a merge patch to which the writer adds the `resourceVersion`
//! it was computed from, so the finalizer list is never overwritten with a stale copy.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use porter_api::Eip;
use porter_api::annotations::{EIP_POOL_LABEL, SERVICE_FINALIZER};
use porter_model::assign::{Plan, ServicePlan};
use porter_model::projection::ControllerService;
use porter_model::status::{
    self, ConditionUpdate, Coverage, Decision, EipDecision, Marks, Note, Reported, ServiceDecision,
};
use porter_model::{ControllerView, ObjectKey, Snapshot};
use serde_json::{Value, json};

use crate::merge;

/// The writes and Events for one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceChange {
    /// The Service.
    pub key: ObjectKey,
    /// Its `resourceVersion` when decided: the precondition of the metadata patch.
    pub resource_version: Option<Box<str>>,
    /// Its uid, for the Events' reference.
    pub uid: Option<Box<str>>,
    /// Merge patch of the Service itself (labels, finalizers); the shell adds the
    /// `resourceVersion` precondition.
    pub metadata: Option<JsonPatch>,
    /// Strategic merge patch of its `/status` (`status.conditions` merge by `type`, so other
    /// controllers' conditions are kept; every other field as in a JSON merge patch).
    pub status: Option<JsonPatch>,
    /// A release: the status is cleared before the finalizer goes. Otherwise the metadata
    /// (finalizer) is written first.
    pub status_first: bool,
    /// Events to report once the writes succeeded.
    pub notes: Vec<Note>,
    /// The warning reason to remember as reported (so it is not repeated), or `None`.
    pub reported: Option<String>,
}

/// A patch held as its JSON text until it is sent. As a `Value`, every JSON object of it is a
/// map with a B-tree node of over 600 bytes, however few its fields: 2 to 4 KiB per patch,
/// and a controller allocating 100k Services decides 200k patches at once. As text, a
/// patch is its 100 to 400 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPatch(Box<str>);

impl JsonPatch {
    /// `value` as a patch.
    pub fn new(value: &Value) -> Self {
        Self(value.to_string().into())
    }

    /// The patch as a JSON value (parsed from its text, which [`Self::new`] wrote).
    pub fn value(&self) -> Value {
        // Never `Null`: the text is serde_json's own serialization of a `Value`.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// The write and Events for one Eip.
#[derive(Debug, Clone, PartialEq)]
pub struct EipChange {
    /// The Eip's name.
    pub name: String,
    /// Merge patch of its `/status`.
    pub status: Value,
    /// Events to report once the write succeeded.
    pub notes: Vec<Note>,
}

/// Everything to do to bring the cluster in line with a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Service changes, releases first (so a released address is free before it is reused).
    pub services: Vec<ServiceChange>,
    /// Eip status changes.
    pub eips: Vec<EipChange>,
}

impl Changes {
    /// Number of API writes (patches) these changes take.
    pub fn writes(&self) -> usize {
        self.services
            .iter()
            .map(|c| usize::from(c.metadata.is_some()) + usize::from(c.status.is_some()))
            .sum::<usize>()
            + self.eips.len()
    }
}

/// What to write and report so the cluster matches `plan`, given the warnings already
/// reported (`reported`: Service → last reason). `now` stamps new condition transitions.
pub fn changes(snapshot: &Snapshot, plan: &Plan, reported: &Reported, now: Timestamp) -> Changes {
    let kept = snapshot.for_controller();
    Round::new(&ControllerView::of(&kept), plan.clone(), reported, now).all(reported)
}

/// The writes that bring the objects of `snapshot` to `decision`: only what differs, and a
/// change of a Service whose remembered warning changes (`reported`) even without a write.
pub fn patches(snapshot: &Snapshot, decision: Decision, reported: &Reported) -> Changes {
    let mut services = Vec::new();
    for d in decision.services {
        let Some(svc) = snapshot.services.get(&d.key) else {
            continue;
        };
        services.extend(service_change(&ControllerService::of(svc), d, reported));
    }
    services.sort_by_key(|c| !c.status_first);
    let eips = eip_changes(&snapshot.eips, decision.eips);
    Changes { services, eips }
}

/// The change bringing `svc` to decision `d`, if there is anything to write, report or
/// remember.
fn service_change(
    svc: &ControllerService,
    d: ServiceDecision,
    reported: &Reported,
) -> Option<ServiceChange> {
    let metadata = d
        .marks
        .as_ref()
        .and_then(|m| metadata_patch(svc, m))
        .map(|p| JsonPatch::new(&p));
    let status = status_patch(d.ingress.as_deref(), &d.conditions).map(|p| JsonPatch::new(&p));
    let memory_changes = reported.get(&d.key) != d.reported.as_ref();
    (status.is_some() || metadata.is_some() || !d.notes.is_empty() || memory_changes).then(|| {
        ServiceChange {
            status_first: !d.holds(),
            key: d.key,
            resource_version: svc.resource_version.clone(),
            uid: svc.uid.as_ref().map(|uid| uid.to_string().into()),
            metadata,
            status,
            notes: d.notes,
            reported: d.reported,
        }
    })
}

fn eip_changes(eips: &BTreeMap<String, Eip>, decisions: Vec<EipDecision>) -> Vec<EipChange> {
    let mut changes = Vec::new();
    for d in decisions {
        let Some(eip) = eips.get(&d.name) else {
            continue;
        };
        let current = eip.status.clone().unwrap_or_default();
        let (Ok(cur_v), Ok(want_v)) = (
            serde_json::to_value(&current),
            serde_json::to_value(&d.status),
        ) else {
            continue;
        };
        let Some(patch) = merge::diff(&cur_v, &want_v) else {
            continue;
        };
        changes.push(EipChange {
            name: d.name,
            status: json!({ "status": patch }),
            notes: d.notes,
        });
    }
    changes
}

/// One round of writes, each Service's decided only when its turn comes
/// ([`Round::next_change`]): at 100k Services, every decision and patch held at once would
/// be about a kilobyte each. A round holds the plan, the coverage and the Services it covers
/// (shared with the snapshot), so it outlives the borrow of the snapshot it was planned from.
///
/// Services come in the order the writes must go: those giving an address back (and those
/// the plan no longer covers) first, so a released address is free before it is reused; then
/// the others, each group in key order.
#[derive(Debug)]
pub struct Round {
    /// The planned Services, in key order: the plan's own entries in its own buffer, not
    /// copied (`None` once decided, so what the round holds shrinks as it goes).
    planned: Vec<Option<(ObjectKey, ServicePlan)>>,
    /// The object of each planned Service (`None` once decided, or when the view has none).
    objects: Vec<Option<Arc<ControllerService>>>,
    /// Services the plan does not cover that have something to change (`None` once decided).
    unplanned: Vec<Option<(ObjectKey, Arc<ControllerService>)>>,
    coverage: Coverage,
    eips: BTreeMap<String, Eip>,
    eip_changes: Vec<EipChange>,
    now: Timestamp,
    /// Where the next change is looked for: 0 releases, 1 unplanned, 2 holders; and the index.
    cursor: (u8, usize),
}

impl Round {
    /// The round of `plan`, made from `view` (what `plan` was made from) and the warnings
    /// already `reported`. `now` stamps new condition transitions.
    pub fn new(view: &ControllerView<'_>, plan: Plan, reported: &Reported, now: Timestamp) -> Self {
        let coverage = status::planned_coverage_view(view, &plan);
        let eip_changes = eip_changes(view.eips(), status::decide_eips(view.eips(), &plan, now));
        // Deciding a Service reads its Eip's spec; the statuses (at 100k Services, 100k
        // `used` entries) are not copied into the round.
        let eips: BTreeMap<String, Eip> = view
            .eips()
            .iter()
            .map(|(name, eip)| {
                let spec_only = Eip {
                    metadata: eip.metadata.clone(),
                    spec: eip.spec.clone(),
                    status: None,
                };
                (name.clone(), spec_only)
            })
            .collect();
        let unplanned = view
            .services()
            .filter(|(key, _)| !plan.services.contains_key(key))
            .filter(|(key, svc)| {
                status::decide_service(key, svc, None, &eips, &coverage, reported.get(*key), now)
                    .is_some()
            })
            .map(|(key, svc)| Some((key.clone(), Arc::clone(svc))))
            .collect();
        // the plan's buffer, reused (collected from its own `IntoIter`, `Option` adding no size)
        let planned: Vec<Option<(ObjectKey, ServicePlan)>> =
            plan.services.into_iter().map(Some).collect();
        let objects = planned
            .iter()
            .map(|entry| {
                let (key, _) = entry.as_ref()?;
                view.service(key).map(Arc::clone)
            })
            .collect();
        Self {
            planned,
            objects,
            unplanned,
            coverage,
            eips,
            eip_changes,
            now,
            cursor: (0, 0),
        }
    }

    /// The next Service change, given the warnings `reported` so far; `None` when every
    /// Service is done. A Service's object is let go of once decided, so the round stops
    /// holding Services the watches have since replaced.
    pub fn next_change(&mut self, reported: &Reported) -> Option<ServiceChange> {
        loop {
            let (phase, i) = self.cursor;
            self.cursor.1 += 1;
            let (key, planned, svc) = match phase {
                0 | 2 => match self.planned.get_mut(i) {
                    None => {
                        self.cursor = (phase + 1, 0);
                        if phase == 2 {
                            return None;
                        }
                        continue;
                    }
                    // releases first, holders after
                    Some(Some((_, p))) if p.ingress.is_empty() != (phase == 0) => continue,
                    Some(entry) => match (entry.take(), self.objects[i].take()) {
                        (Some((key, planned)), Some(svc)) => (key, Some(planned), svc),
                        _ => continue,
                    },
                },
                1 => match self.unplanned.get_mut(i) {
                    None => {
                        self.cursor = (2, 0);
                        continue;
                    }
                    Some(entry) => match entry.take() {
                        Some((key, svc)) => (key, None, svc),
                        None => continue,
                    },
                },
                _ => return None,
            };
            let decision = status::decide_service(
                &key,
                &svc,
                planned.as_ref(),
                &self.eips,
                &self.coverage,
                reported.get(&key),
                self.now,
            );
            if let Some(change) = decision.and_then(|d| service_change(&svc, d, reported)) {
                return Some(change);
            }
        }
    }

    /// The Eip changes (after every Service's: an Eip's `used` lists them).
    pub fn take_eip_changes(&mut self) -> Vec<EipChange> {
        std::mem::take(&mut self.eip_changes)
    }

    /// The Eip of `name` as the round saw it: its metadata and spec (the round keeps no status).
    pub fn eip(&self, name: &str) -> Option<&Eip> {
        self.eips.get(name)
    }

    /// Every change of the round at once, with `reported` as it is now.
    pub fn all(mut self, reported: &Reported) -> Changes {
        let services = std::iter::from_fn(|| self.next_change(reported)).collect();
        Changes {
            services,
            eips: self.take_eip_changes(),
        }
    }
}

fn ingress_patch(ips: &[std::net::IpAddr]) -> Value {
    if ips.is_empty() {
        json!({"status": {"loadBalancer": {"ingress": null}}})
    } else {
        let ingress: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
        json!({"status": {"loadBalancer": {"ingress": ingress}}})
    }
}

/// The metadata patch giving `svc` the finalizer and label of `marks`, if anything differs.
fn metadata_patch(svc: &ControllerService, marks: &Marks) -> Option<Value> {
    let mut meta = serde_json::Map::new();
    if svc.finalizer != marks.finalizer {
        // the whole list: the others as they are, then Porter's when it is to be held
        let others = svc.other_finalizers.iter().map(|f| &**f);
        let list: Vec<&str> = if marks.finalizer {
            others.chain([SERVICE_FINALIZER]).collect()
        } else {
            others.collect()
        };
        meta.insert("finalizers".into(), json!(list));
    }
    if svc.pool_label.as_deref() != marks.pool_label.as_deref() {
        meta.insert("labels".into(), json!({ EIP_POOL_LABEL: marks.pool_label }));
    }
    (!meta.is_empty()).then(|| json!({ "metadata": meta }))
}

/// The `/status` patch: the addresses when they move, and the conditions (by type) that change.
fn status_patch(
    ingress: Option<&[std::net::IpAddr]>,
    conditions: &[(&str, ConditionUpdate)],
) -> Option<Value> {
    let status = ingress.map(ingress_patch);
    let entries: Vec<Value> = conditions
        .iter()
        .filter_map(|(type_, update)| match update {
            ConditionUpdate::Unchanged => None,
            ConditionUpdate::Set(c) => Some(serde_json::to_value(c).unwrap_or(Value::Null)),
            ConditionUpdate::Remove => Some(json!({"type": type_, "$patch": "delete"})),
        })
        .collect();
    if entries.is_empty() {
        return status;
    }
    let mut patch = status.unwrap_or_else(|| json!({"status": {}}));
    patch["status"]["conditions"] = Value::Array(entries);
    Some(patch)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use porter_api::{Eip, Protocol};
    use porter_model::assign::plan;
    use porter_model::status::{
        ALLOCATION_FAILED, ANNOUNCED, EIP_INVALID, IP_ALLOCATED, IP_RELEASED, NOT_ANNOUNCED,
    };

    use super::*;

    fn eip(name: &str, address: &str) -> Eip {
        serde_json::from_value(json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": name, "resourceVersion": "1", "generation": 1},
            "spec": {"address": address}
        }))
        .unwrap()
    }

    fn svc(name: &str, status_ip: Option<&str>) -> Service {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "5",
                "annotations": {"lb.kubesphere.io/v1alpha1": "openelb",
                                "eip.openelb.kubesphere.io/v1alpha2": "pool"}},
            "spec": {"type": "LoadBalancer"}
        });
        if let Some(ip) = status_ip {
            v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
            v["metadata"]["finalizers"] = json!([SERVICE_FINALIZER]);
            v["metadata"]["labels"] = json!({EIP_POOL_LABEL: "pool"});
        }
        serde_json::from_value(v).unwrap()
    }

    fn snapshot(services: Vec<Service>) -> Snapshot {
        let mut s = Snapshot::default();
        s.eips
            .insert("pool".into(), eip("pool", "203.0.113.10-203.0.113.12"));
        for svc in services {
            s.services
                .insert(ObjectKey::of(&svc.metadata).unwrap(), svc);
        }
        s
    }

    /// Applies the changes the way the API server would, for replay.
    fn apply_locally(snapshot: &mut Snapshot, changes: &Changes) {
        for c in &changes.services {
            let svc = snapshot.services.get_mut(&c.key).unwrap();
            let mut v = serde_json::to_value(&*svc).unwrap();
            for p in c.metadata.iter().chain(c.status.iter()) {
                merge::apply(&mut v, &p.value());
            }
            *svc = serde_json::from_value(v).unwrap();
        }
        for c in &changes.eips {
            let eip = snapshot.eips.get_mut(&c.name).unwrap();
            let mut v = serde_json::to_value(&*eip).unwrap();
            merge::apply(&mut v, &c.status);
            *eip = serde_json::from_value(v).unwrap();
        }
    }

    #[test]
    fn a_new_service_gets_finalizer_label_status_and_an_event() {
        let s = snapshot(vec![svc("web", None)]);
        let c = changes(&s, &plan(&s), &BTreeMap::new(), Timestamp::now());
        assert_eq!(c.services.len(), 1);
        let web = &c.services[0];
        assert!(!web.status_first);
        assert_eq!(
            web.metadata.as_ref().map(JsonPatch::value),
            Some(
                json!({"metadata": {"finalizers": [SERVICE_FINALIZER], "labels": {EIP_POOL_LABEL: "pool"}}})
            )
        );
        let status = web.status.as_ref().unwrap().value();
        assert_eq!(
            status["status"]["loadBalancer"],
            json!({"ingress": [{"ip": "203.0.113.10"}]})
        );
        // no node in this snapshot: the address is held but not announced
        let announced = &status["status"]["conditions"][0];
        assert_eq!(announced["type"], ANNOUNCED);
        assert_eq!(announced["status"], "False");
        assert_eq!(announced["reason"], NOT_ANNOUNCED);
        assert_eq!(web.notes[0].reason, IP_ALLOCATED);
        assert_eq!(web.notes[0].message, "assigned 203.0.113.10 from Eip pool");
        assert_eq!(web.notes[1].reason, NOT_ANNOUNCED);
        assert!(web.notes[1].is_warning());
        assert_eq!(c.eips.len(), 1);
        assert_eq!(c.eips[0].status["status"]["usage"], json!(1));
        assert_eq!(
            c.eips[0].status["status"]["conditions"][0]["reason"],
            "Valid"
        );
    }

    #[test]
    fn applying_the_changes_converges_to_no_writes() {
        let mut s = snapshot(vec![svc("web", None), svc("api", None)]);
        let t = Timestamp::now();
        let first = changes(&s, &plan(&s), &BTreeMap::new(), t);
        assert_eq!(first.writes(), 5);
        apply_locally(&mut s, &first);
        let again = changes(&s, &plan(&s), &BTreeMap::new(), t);
        assert_eq!(again, Changes::default());
        // a later clock does not move the condition's transition time
        let later = Timestamp::now() + Duration::from_secs(60);
        assert_eq!(
            changes(&s, &plan(&s), &BTreeMap::new(), later),
            Changes::default()
        );
    }

    #[test]
    fn a_deleted_service_is_released_status_first_then_finalizer() {
        let mut deleting = svc("web", Some("203.0.113.10"));
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        let s = snapshot(vec![deleting]);
        let c = changes(&s, &plan(&s), &BTreeMap::new(), Timestamp::now());
        let web = &c.services[0];
        assert!(web.status_first);
        assert_eq!(
            web.status.as_ref().map(JsonPatch::value),
            Some(json!({"status": {"loadBalancer": {"ingress": null}}}))
        );
        assert_eq!(
            web.metadata.as_ref().map(JsonPatch::value),
            Some(json!({"metadata": {"finalizers": [], "labels": {EIP_POOL_LABEL: null}}}))
        );
        assert_eq!(web.notes[0].reason, IP_RELEASED);
        // the released address leaves the Eip's record
        assert_eq!(c.eips[0].status["status"]["usage"], json!(0));
    }

    #[test]
    fn failures_are_reported_once_per_reason() {
        let mut other = svc("other", None);
        other.metadata.annotations.as_mut().unwrap().insert(
            "eip.openelb.kubesphere.io/v1alpha2".into(),
            "missing".into(),
        );
        let s = snapshot(vec![other]);
        let p = plan(&s);
        let c = changes(&s, &p, &BTreeMap::new(), Timestamp::now());
        let change = c.services.iter().find(|c| c.key.name == "other").unwrap();
        assert_eq!(change.notes[0].reason, ALLOCATION_FAILED);
        assert!(change.metadata.is_none() && change.status.is_none());
        let reported = BTreeMap::from([(change.key.clone(), change.reported.clone().unwrap())]);
        let again = changes(&s, &p, &reported, Timestamp::now());
        assert!(again.services.iter().all(|c| c.key.name != "other"));
    }

    #[test]
    fn an_invalid_eip_gets_ready_false_naming_the_field() {
        let mut s = snapshot(vec![]);
        let mut newer = eip("newer", "203.0.113.11/32");
        newer.metadata.creation_timestamp = Some(Time(Timestamp::now()));
        s.eips.insert("newer".into(), newer);
        let c = changes(&s, &plan(&s), &BTreeMap::new(), Timestamp::now());
        let bad = c.eips.iter().find(|c| c.name == "newer").unwrap();
        let cond = &bad.status["status"]["conditions"][0];
        assert_eq!(cond["status"], "False");
        assert_eq!(cond["reason"], "Invalid");
        assert!(cond["message"].as_str().unwrap().contains("spec.address"));
        assert_eq!(bad.notes[0].reason, EIP_INVALID);
    }

    #[test]
    fn an_address_from_a_layer2_eip_is_assigned_and_says_who_answers_arp() {
        // no Node: nobody may answer; the model's tests name owners, this one the patches
        let mut s = snapshot(vec![svc("web", None)]);
        let pool = s.eips.get_mut("pool").unwrap();
        pool.spec.protocol = Some(Protocol::Layer2);
        pool.spec.interface = Some("eth0".into());
        let t = Timestamp::now();
        let first = changes(&s, &plan(&s), &BTreeMap::new(), t);
        let web = &first.services[0];
        let status = web.status.as_ref().unwrap().value();
        assert_eq!(
            status["status"]["loadBalancer"]["ingress"][0]["ip"],
            "203.0.113.10"
        );
        let announced = &status["status"]["conditions"][0];
        assert_eq!(announced["type"], ANNOUNCED);
        assert_eq!(announced["status"], "False");
        assert_eq!(announced["reason"], NOT_ANNOUNCED);
        let why =
            "203.0.113.10: no node answers ARP for it (no eligible node with a ready endpoint)";
        assert_eq!(announced["message"], why);
        assert_eq!(web.notes[0].reason, IP_ALLOCATED);
        assert_eq!(
            web.notes[1],
            Note::warning(NOT_ANNOUNCED, "Announce", why.to_owned())
        );
        // the Eip: valid, nothing to warn of
        let ready = &first.eips[0].status["status"]["conditions"][0];
        assert_eq!(
            (&ready["status"], &ready["reason"]),
            (&json!("True"), &json!("Valid"))
        );
        assert!(first.eips[0].notes.is_empty());
        // written: nothing more to write or report
        apply_locally(&mut s, &first);
        assert_eq!(
            changes(&s, &plan(&s), &BTreeMap::new(), t),
            Changes::default()
        );
    }
}
