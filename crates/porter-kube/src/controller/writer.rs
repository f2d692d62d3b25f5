//! The controller's writer: performs the changes of one round on the API, in the order that
//! keeps every address behind a finalizer, reports their Events, and remembers what it wrote
//! until the watches show it.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType, Recorder};
use kube::{Client, Resource};
use porter_api::Eip;
use porter_metrics::Health;
use porter_model::projection::ControllerService;
use porter_model::status::{EVENT_NOTE_MAX, EventType, Note, Reported, within};
use porter_model::view::Written;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::REPORTER;
use super::patches::{EipChange, Round, ServiceChange};
use crate::Error;

/// What the controller remembers between snapshots (reset when it becomes leader).
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Warnings reported per Service, so they are not repeated.
    pub(super) reported: Reported,
    /// Objects as our last writes left them, laid over the snapshot until the watches show
    /// them ([`ControllerView::new`](porter_model::ControllerView::new)).
    pub(super) written: Written,
}

/// The Event reporting `note`, its message within what the API server accepts (a [`Note`]
/// built by the decision already is; one built by hand is cut here).
fn kube_event(note: &Note) -> KubeEvent {
    KubeEvent {
        type_: match note.type_ {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: note.reason.to_owned(),
        note: Some(within(note.message.clone(), EVENT_NOTE_MAX)),
        action: note.action.to_owned(),
        secondary: None,
    }
}

/// The controller's connection to the API.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    recorder: Recorder,
}

impl Writer {
    /// Writes with `client`, reports Events with `recorder`.
    pub fn new(client: Client, recorder: Recorder) -> Self {
        Self { client, recorder }
    }

    async fn report(&self, reference: &ObjectReference, note: &Note) {
        if let Err(error) = self.recorder.publish(&kube_event(note), reference).await {
            tracing::warn!(%error, reason = note.reason, "cannot report event");
        }
    }

    fn params() -> PatchParams {
        PatchParams {
            field_manager: Some(REPORTER.to_owned()),
            ..Default::default()
        }
    }

    /// Performs one Service's change; returns the Service as the last write left it.
    async fn service(&self, change: &ServiceChange) -> Result<Option<Service>, Error> {
        let key = &change.key;
        let api: Api<Service> = Api::namespaced(self.client.clone(), &key.namespace);
        let object = || format!("Service {key}");
        let mut latest: Option<Service> = None;
        let mut steps: Vec<(bool, Value)> = Vec::new();
        let status = change.status.as_ref().map(|s| (true, s.value()));
        let metadata = change.metadata.as_ref().map(|m| (false, m.value()));
        if change.status_first {
            steps.extend(status.into_iter().chain(metadata));
        } else {
            steps.extend(metadata.into_iter().chain(status));
        }
        for (is_status, patch) in steps {
            let result = if is_status {
                api.patch_status(&key.name, &Self::params(), &Patch::Strategic(&patch))
                    .await
            } else {
                let mut patch = patch;
                let rv = match &latest {
                    Some(written) => written.metadata.resource_version.clone(),
                    None => change.resource_version.as_deref().map(str::to_owned),
                };
                if let Some(meta) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("resourceVersion".into(), json!(rv));
                }
                api.patch(&key.name, &Self::params(), &Patch::Merge(&patch))
                    .await
            };
            match result {
                Ok(written) => latest = Some(written),
                // gone already: nothing left to hold or release
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
                Err(e) => {
                    let action = if is_status {
                        "patch status of"
                    } else {
                        "patch metadata of"
                    };
                    return Err(Error::api(action, object(), e));
                }
            }
        }
        let reference = ObjectReference {
            api_version: Some(Service::api_version(&()).into_owned()),
            kind: Some(Service::kind(&()).into_owned()),
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            uid: change.uid.as_deref().map(str::to_owned),
            resource_version: change.resource_version.as_deref().map(str::to_owned),
            field_path: None,
        };
        for note in &change.notes {
            self.report(&reference, note).await;
        }
        Ok(latest)
    }

    async fn eip(&self, eip: &Eip, change: &EipChange) -> Result<Eip, Error> {
        let api: Api<Eip> = Api::all(self.client.clone());
        let written = api
            .patch_status(&change.name, &Self::params(), &Patch::Merge(&change.status))
            .await
            .map_err(|e| Error::api("patch status of", format!("Eip {}", change.name), e))?;
        let reference = eip.object_ref(&());
        for note in &change.notes {
            // Reported once, when the Eip's Ready condition changes: worth the log too.
            tracing::warn!(eip = change.name, reason = note.reason, "{}", note.message);
            self.report(&reference, note).await;
        }
        Ok(written)
    }
}

/// Performs `round` while `leader` says we lead, deciding each Service's change as its turn
/// comes; the first error stops the round (the caller retries from a fresh plan). Every write
/// is progress for `health`. Returns the number of writes made.
pub(super) async fn apply(
    writer: &Writer,
    mut round: Round,
    memory: &mut Memory,
    leader: &watch::Receiver<bool>,
    health: &Health,
) -> Result<usize, Error> {
    let mut writes = 0;
    while let Some(change) = round.next_change(&memory.reported) {
        health.beat();
        if !*leader.borrow() {
            return Ok(writes);
        }
        let written = writer.service(&change).await?;
        writes += usize::from(change.metadata.is_some()) + usize::from(change.status.is_some());
        if let Some(written) = written {
            memory.written.services.insert(
                change.key.clone(),
                (
                    change.resource_version.clone(),
                    Arc::new(ControllerService::of(&written)),
                ),
            );
        }
        match change.reported {
            Some(reason) => memory.reported.insert(change.key, reason),
            None => memory.reported.remove(&change.key),
        };
    }
    for change in round.take_eip_changes() {
        health.beat();
        if !*leader.borrow() {
            return Ok(writes);
        }
        let Some(eip) = round.eip(&change.name) else {
            continue;
        };
        let written = writer.eip(eip, &change).await?;
        writes += 1;
        memory.written.eips.insert(
            change.name.clone(),
            (eip.metadata.resource_version.clone(), written),
        );
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_keeps_the_notes_words_within_what_the_api_server_takes() {
        // built by hand, not by the decision: still cut at a character boundary
        let long = "nœud-001, ".repeat(EVENT_NOTE_MAX / 4);
        let note = Note {
            type_: EventType::Warning,
            reason: "NotAnnounced",
            action: "Announce",
            message: long.clone(),
        };
        let event = kube_event(&note);
        assert!(matches!(event.type_, KubeEventType::Warning));
        assert_eq!(
            (event.reason.as_str(), event.action.as_str()),
            ("NotAnnounced", "Announce")
        );
        let cut = event.note.unwrap();
        assert!(cut.len() <= EVENT_NOTE_MAX, "{}", cut.len());
        assert!(long.starts_with(cut.trim_end_matches('…')));
        let short = Note::normal(
            "Announced",
            "Announce",
            "203.0.113.10: announced by n1".into(),
        );
        assert_eq!(
            kube_event(&short).note.as_deref(),
            Some(short.message.as_str())
        );
        assert!(matches!(kube_event(&short).type_, KubeEventType::Normal));
    }
}
