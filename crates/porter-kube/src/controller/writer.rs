//! The controller's writer: performs the changes of one round on the API, in the order that
//! keeps every address behind a finalizer, reports their Events, and remembers what it wrote
//! until the watches show it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType, Recorder};
use kube::{Client, Resource};
use porter_api::Eip;
use porter_metrics::Health;
use porter_model::status::{EVENT_NOTE_MAX, EventType, Note, Reported, within};
use porter_model::{ObjectKey, Snapshot};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::REPORTER;
use super::patches::{Changes, EipChange, ServiceChange};
use crate::Error;

/// What the controller remembers between snapshots (reset when it becomes leader).
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Warnings reported per Service, so they are not repeated.
    pub(super) reported: Reported,
    /// Objects as our last write left them, keyed by the resourceVersion they had before:
    /// until the watch catches up, a snapshot still showing that version is stale and the
    /// written object is planned from instead (no duplicate writes or Events).
    services: BTreeMap<ObjectKey, (Option<String>, Service)>,
    eips: BTreeMap<String, (Option<String>, Eip)>,
}

impl Memory {
    /// Lays the objects as this controller's writes left them over `snapshot` where the
    /// watches still show the version from before the write.
    pub(super) fn overlay(&mut self, snapshot: &mut Snapshot) {
        self.services.retain(
            |key, (before, written)| match snapshot.services.get_mut(key) {
                Some(seen) if seen.metadata.resource_version == *before => {
                    *seen = written.clone();
                    true
                }
                _ => false,
            },
        );
        self.eips.retain(
            |name, (before, written)| match snapshot.eips.get_mut(name) {
                Some(seen) if seen.metadata.resource_version == *before => {
                    *seen = written.clone();
                    true
                }
                _ => false,
            },
        );
    }
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
    async fn service(
        &self,
        svc: &Service,
        change: &ServiceChange,
    ) -> Result<Option<Service>, Error> {
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
                let rv = latest
                    .as_ref()
                    .unwrap_or(svc)
                    .metadata
                    .resource_version
                    .clone();
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
        let reference = svc.object_ref(&());
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

/// Applies `changes` while `leader` says we lead; the first error stops the round (the
/// caller retries from a fresh plan). Every write is progress for `health`.
pub(super) async fn apply(
    writer: &Writer,
    snapshot: &Snapshot,
    changes: Changes,
    memory: &mut Memory,
    leader: &watch::Receiver<bool>,
    health: &Health,
) -> Result<(), Error> {
    for change in changes.services {
        health.beat();
        if !*leader.borrow() {
            return Ok(());
        }
        let Some(svc) = snapshot.services.get(&change.key) else {
            continue;
        };
        match writer.service(svc, &change).await {
            Ok(written) => {
                if let Some(written) = written {
                    memory.services.insert(
                        change.key.clone(),
                        (svc.metadata.resource_version.clone(), written),
                    );
                }
                match change.reported {
                    Some(reason) => memory.reported.insert(change.key, reason),
                    None => memory.reported.remove(&change.key),
                };
            }
            Err(e) => return Err(e),
        }
    }
    for change in changes.eips {
        health.beat();
        if !*leader.borrow() {
            return Ok(());
        }
        let Some(eip) = snapshot.eips.get(&change.name) else {
            continue;
        };
        let written = writer.eip(eip, &change).await?;
        memory.eips.insert(
            change.name.clone(),
            (eip.metadata.resource_version.clone(), written),
        );
    }
    Ok(())
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
