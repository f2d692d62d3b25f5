//! What the controller plans from: the snapshot its source keeps, with the objects as the
//! controller's own writes left them laid over it until the watches show those writes.
//!
//! The writes are kept beside the snapshot, not applied to a copy of it: the controller plans
//! from the source's snapshot in place, so 100k Services are held once.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use porter_api::Eip;

use crate::ObjectKey;
use crate::projection::{ControllerService, ControllerSnapshot};

/// Objects as the controller's last writes left them, each with the `resourceVersion` it had
/// before the write: while the snapshot still shows that version, the snapshot is stale and
/// the written object stands in for it (no duplicate writes or Events).
#[derive(Debug, Default)]
pub struct Written {
    /// Services by key.
    pub services: BTreeMap<ObjectKey, (Option<Box<str>>, Arc<ControllerService>)>,
    /// Eips by name.
    pub eips: BTreeMap<String, (Option<String>, Eip)>,
}

impl Written {
    /// Forgets the writes `snapshot` shows (or shows overtaken by another change).
    pub fn prune(&mut self, snapshot: &ControllerSnapshot) {
        self.services
            .retain(|key, (before, _)| match snapshot.services.get(key) {
                Some(seen) => seen.resource_version == *before,
                None => false,
            });
        self.eips
            .retain(|name, (before, _)| match snapshot.eips.get(name) {
                Some(seen) => seen.metadata.resource_version == *before,
                None => false,
            });
    }
}

/// A [`ControllerSnapshot`] with [`Written`] laid over it: what the controller plans from.
#[derive(Debug)]
pub struct ControllerView<'a> {
    snapshot: &'a ControllerSnapshot,
    written: Option<&'a Written>,
    eips: Cow<'a, BTreeMap<String, Eip>>,
}

impl<'a> ControllerView<'a> {
    /// `snapshot` as it is.
    pub fn of(snapshot: &'a ControllerSnapshot) -> Self {
        Self {
            snapshot,
            written: None,
            eips: Cow::Borrowed(&snapshot.eips),
        }
    }

    /// `snapshot` with `written` laid over it where it still shows the version from before a
    /// write.
    pub fn new(snapshot: &'a ControllerSnapshot, written: &'a Written) -> Self {
        let stale = |name: &String| {
            let (before, _) = &written.eips[name];
            snapshot
                .eips
                .get(name)
                .is_some_and(|seen| seen.metadata.resource_version == *before)
        };
        let eips = if written.eips.keys().any(stale) {
            // a few dozen Eips: copied, with what was written in place
            let mut eips = snapshot.eips.clone();
            for (name, (_, eip)) in &written.eips {
                if stale(name) {
                    eips.insert(name.clone(), eip.clone());
                }
            }
            Cow::Owned(eips)
        } else {
            Cow::Borrowed(&snapshot.eips)
        };
        Self {
            snapshot,
            written: Some(written),
            eips,
        }
    }

    /// The snapshot underneath (for the kinds the controller never writes).
    pub fn snapshot(&self) -> &'a ControllerSnapshot {
        self.snapshot
    }

    /// Every Eip, as written where the snapshot is stale.
    pub fn eips(&self) -> &BTreeMap<String, Eip> {
        &self.eips
    }

    fn laid<'b>(
        &'b self,
        key: &ObjectKey,
        seen: &'b Arc<ControllerService>,
    ) -> &'b Arc<ControllerService> {
        match self.written.and_then(|w| w.services.get(key)) {
            Some((before, written)) if seen.resource_version == *before => written,
            _ => seen,
        }
    }

    /// The Service `key`, as written where the snapshot is stale.
    pub fn service(&self, key: &ObjectKey) -> Option<&Arc<ControllerService>> {
        let seen = self.snapshot.services.get(key)?;
        Some(self.laid(key, seen))
    }

    /// Every Service by key, as written where the snapshot is stale.
    pub fn services(&self) -> impl Iterator<Item = (&ObjectKey, &Arc<ControllerService>)> {
        self.snapshot
            .services
            .iter()
            .map(|(key, seen)| (key, self.laid(key, seen)))
    }
}
