//! Leader election on a `coordination.k8s.io/v1` Lease: only one controller writes.
//!
//! The algorithm is client-go's `resourcelock.LeaseLock`: read the Lease; if we hold it,
//! renew it (`renewTime`); if nobody holds it, or its record has not changed for a whole
//! `leaseDurationSeconds` *as measured on our own clock* (so clock skew between nodes does
//! not matter), take it over. Every write is a full `replace` carrying the `resourceVersion`
//! that was read, so of two candidates racing for the same Lease exactly one wins (the other
//! gets `409 Conflict`). A leader whose renewal fails steps down at once: it stops writing at
//! most one renew interval after its last successful renewal, well before anyone else may
//! take over (one lease duration after the last renewal they saw).
//!
//! Why not `kube-lease-manager`: it compiles against kube 5, but takes orphaned leases with
//! server-side apply and relies on SSA field-ownership conflicts plus unconditional strategic
//! merge patches for renewals; get/replace with `resourceVersion` is simpler to reason about,
//! needs nothing beyond plain optimistic concurrency from the API server (or its test double),
//! and is what client-go does.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Error;

/// The Lease's name, as OpenELB's is `openelb-controller`.
pub const LEASE_NAME: &str = "porter-controller";

/// Which Lease and how long a term lasts.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the controller's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This candidate's identity (the Pod name).
    pub identity: String,
    /// How long a leader's term lasts without renewal (`leaseDurationSeconds`).
    pub duration: Duration,
    /// How often the Lease is read and renewed (a third of the duration by default).
    pub renew_every: Duration,
}

impl LeaseConfig {
    /// `porter-controller` in `namespace`, 15 s terms renewed every 5 s.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self::with_duration(namespace, identity, Duration::from_secs(15))
    }

    /// Like [`new`](Self::new) with another term length (whole seconds, at least 1).
    pub fn with_duration(
        namespace: impl Into<String>,
        identity: impl Into<String>,
        duration: Duration,
    ) -> Self {
        let duration = duration.max(Duration::from_secs(1));
        Self {
            namespace: namespace.into(),
            name: LEASE_NAME.to_owned(),
            identity: identity.into(),
            duration,
            renew_every: duration / 3,
        }
    }
}

/// What a candidate should do with the Lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew.
    Renew,
    /// Nobody holds it, or the holder stopped renewing: take it over.
    TakeOver,
    /// Someone else holds it.
    Follow(String),
}

/// Decides from the Lease's spec and how long its record has been unchanged on our clock.
pub fn decide(
    spec: &LeaseSpec,
    identity: &str,
    unchanged_for: Duration,
    default_duration: Duration,
) -> Decision {
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map_or(default_duration, Duration::from_secs);
    if unchanged_for >= duration {
        Decision::TakeOver
    } else {
        Decision::Follow(holder.to_owned())
    }
}

/// One candidate: reads, renews or takes over the Lease.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// resourceVersion of the record last seen, and when (our clock) it was first seen.
    observed: Option<(String, Instant)>,
}

impl Elector {
    /// A candidate for `config`'s Lease.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn object(&self) -> String {
        format!("Lease {}/{}", self.config.namespace, self.config.name)
    }

    fn term_secs(&self) -> i32 {
        i32::try_from(self.config.duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// One round: true when we hold the Lease afterwards.
    pub async fn step(&mut self) -> Result<bool, Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| Error::api("get", self.object(), e))?
        else {
            let mut lease = Lease::default();
            lease.metadata.name = Some(self.config.name.clone());
            lease.metadata.namespace = Some(self.config.namespace.clone());
            lease.spec = Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(self.term_secs()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            });
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                // another candidate created it first
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(Error::api("create", self.object(), e)),
            };
        };
        let rv = lease.resource_version().unwrap_or_default();
        let unchanged_for = match &self.observed {
            Some((seen, at)) if *seen == rv => at.elapsed(),
            _ => {
                self.observed = Some((rv, Instant::now()));
                Duration::ZERO
            }
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let decision = decide(
            &spec,
            &self.config.identity,
            unchanged_for,
            self.config.duration,
        );
        let new_spec = match &decision {
            Decision::Follow(_) => return Ok(false),
            Decision::Renew => LeaseSpec {
                renew_time: Some(now),
                lease_duration_seconds: Some(self.term_secs()),
                ..spec
            },
            Decision::TakeOver => LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(self.term_secs()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + 1),
                ..spec
            },
        };
        lease.spec = Some(new_spec);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                if decision == Decision::TakeOver {
                    tracing::info!(identity = %self.config.identity, "acquired the leader lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 && decision == Decision::TakeOver => {
                Ok(false)
            }
            Err(e) => Err(Error::api("renew", self.object(), e)),
        }
    }

    /// Gives the Lease up if we hold it, so a successor need not wait for it to expire.
    pub async fn release(&mut self) -> Result<(), Error> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| Error::api("get", self.object(), e))?
        else {
            return Ok(());
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        lease.spec = Some(spec);
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
            .map_err(|e| Error::api("release", self.object(), e))?;
        Ok(())
    }
}

/// A running election: `is_leader` follows the Lease; [`stop`](Self::stop) releases it.
#[derive(Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Runs `config`'s election in the background.
    pub fn start(client: Client, config: LeaseConfig) -> Self {
        let (tx, rx) = watch::channel(false);
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel();
        let every = config.renew_every;
        let mut elector = Elector::new(client, config);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = &mut stop_rx => break,
                }
                let leader = match elector.step().await {
                    Ok(leader) => leader,
                    Err(error) => {
                        tracing::warn!(error = %error, kind = error.kind(), "leader election failed; not leading until it succeeds");
                        false
                    }
                };
                tx.send_if_modified(|current| {
                    if *current == leader {
                        return false;
                    }
                    if leader {
                        tracing::info!("leading: this controller writes");
                    } else {
                        tracing::warn!("not leading: this controller stops writing");
                    }
                    *current = leader;
                    true
                });
            }
            tx.send_replace(false);
            if let Err(error) = elector.release().await {
                tracing::warn!(error = %error, "cannot release the leader lease");
            }
        });
        Self {
            rx,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// Follows whether we lead.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Stops leading and releases the Lease.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(Into::into),
            lease_duration_seconds: Some(secs),
            ..Default::default()
        }
    }

    #[test]
    fn decisions() {
        let d = Duration::from_secs(15);
        assert_eq!(
            decide(&spec(Some("me"), 15), "me", Duration::ZERO, d),
            Decision::Renew
        );
        assert_eq!(
            decide(&spec(None, 15), "me", Duration::ZERO, d),
            Decision::TakeOver
        );
        assert_eq!(
            decide(&spec(Some(""), 15), "me", Duration::ZERO, d),
            Decision::TakeOver
        );
        assert_eq!(
            decide(&spec(Some("other"), 15), "me", Duration::from_secs(14), d),
            Decision::Follow("other".into())
        );
        assert_eq!(
            decide(&spec(Some("other"), 15), "me", Duration::from_secs(15), d),
            Decision::TakeOver
        );
        // the holder's own term length counts, not ours
        assert_eq!(
            decide(&spec(Some("other"), 60), "me", Duration::from_secs(30), d),
            Decision::Follow("other".into())
        );
    }
}
