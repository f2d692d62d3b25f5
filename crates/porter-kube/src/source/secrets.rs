//! The BgpPeers' password Secrets, read by name, never listed (module docs of [`super`]):
//! which are referenced, what each `GET` returned ([`SecretCache`]), and why one may not be
//! read ([`forbidden_reason`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Api, Client};
use porter_api::BgpPeer;
use porter_model::ObjectKey;

/// The Secrets BgpPeers reference by `spec.conf.authPasswordSecretRef`, as `namespace/name`.
/// A reference whose namespace or name is not a valid object name is left out: it cannot name
/// a Secret, and fetching it could turn the `GET` into another request (an empty name would
/// list every Secret of the namespace).
pub fn referenced_secrets<'a>(peers: impl IntoIterator<Item = &'a BgpPeer>) -> BTreeSet<ObjectKey> {
    peers
        .into_iter()
        .filter_map(|p| p.spec.conf.as_ref()?.auth_password_secret_ref.as_ref())
        .filter(|r| is_object_name(&r.namespace) && is_object_name(&r.name))
        .map(|r| ObjectKey::new(r.namespace.as_str(), r.name.as_str()))
        .collect()
}

/// A DNS-1123 subdomain: what Kubernetes accepts as a namespace or Secret name.
fn is_object_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 253
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-' || *b == b'.')
}

/// The Role of `deploy/porter.yaml` granting the speaker `get` on the BgpPeer password
/// Secrets it names (`resourceNames`), in namespace [`BGP_PASSWORDS_ROLE_NAMESPACE`].
pub const BGP_PASSWORDS_ROLE: &str = "porter-speaker-bgp-passwords";

/// Where `deploy/porter.yaml` puts [`BGP_PASSWORDS_ROLE`] (and the speaker).
pub const BGP_PASSWORDS_ROLE_NAMESPACE: &str = "porter-system";

/// What a `GET` of a referenced Secret returned.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a value moved once from a GET into the cache; boxing would add an allocation per read"
)]
pub enum SecretRead {
    /// The Secret.
    Found(Secret),
    /// 404: it does not exist.
    NotFound,
    /// 403: the speaker may not read it (RBAC).
    Forbidden,
    /// Anything else (unreachable, timeout, 5xx): says nothing about the Secret.
    Failed(String),
}

/// The Role of `deploy/porter.yaml` granting the speaker `get` on its membership key, Secret
/// `porter-member` (in [`BGP_PASSWORDS_ROLE_NAMESPACE`], the speaker's namespace).
pub const MEMBER_ROLE: &str = "porter-speaker-member";

/// Why the speaker cannot read the Secret `key` after a 403, and what to change: the Role
/// that lists the Secrets it may read, or for a Secret in another namespace, a copy of it there.
pub fn forbidden_reason(key: &ObjectKey) -> String {
    let name = &key.name;
    let namespace = &key.namespace;
    let fix = if name == porter_model::layer2::MEMBER_SECRET {
        format!(
            "apply Role {MEMBER_ROLE} and its RoleBinding from deploy/porter.yaml in namespace {namespace}"
        )
    } else if namespace == BGP_PASSWORDS_ROLE_NAMESPACE {
        format!(
            "add {name:?} to the resourceNames of Role {BGP_PASSWORDS_ROLE} in namespace {namespace} (deploy/porter.yaml)"
        )
    } else {
        format!(
            "copy Role {BGP_PASSWORDS_ROLE} and its RoleBinding from deploy/porter.yaml into namespace {namespace} and list {name:?} in its resourceNames"
        )
    };
    format!(
        "cannot be read: forbidden (403), the speaker may read only the Secrets its Role names: {fix}"
    )
}

/// The BgpPeers' password Secrets, read by name: what is referenced, what was read, and what
/// the speaker was refused.
#[derive(Debug, Default)]
pub struct SecretCache {
    wanted: BTreeSet<ObjectKey>,
    held: BTreeMap<ObjectKey, Secret>,
    refused: BTreeMap<ObjectKey, String>,
}

impl SecretCache {
    /// Follows a new set of references: forgets the Secrets no longer referenced and returns
    /// the newly referenced ones (to fetch).
    pub fn want(&mut self, refs: BTreeSet<ObjectKey>) -> Vec<ObjectKey> {
        let added = refs.difference(&self.wanted).cloned().collect();
        self.held.retain(|key, _| refs.contains(key));
        self.refused.retain(|key, _| refs.contains(key));
        self.wanted = refs;
        added
    }

    /// Every referenced Secret (to read again).
    pub fn wanted(&self) -> Vec<ObjectKey> {
        self.wanted.iter().cloned().collect()
    }

    /// The Secrets read, by `namespace/name`.
    pub fn held(&self) -> &BTreeMap<ObjectKey, Secret> {
        &self.held
    }

    /// The Secrets the speaker was refused (403), with the reason to report
    /// ([`forbidden_reason`]): `Snapshot::unreadable_secrets`.
    pub fn refused(&self) -> &BTreeMap<ObjectKey, String> {
        &self.refused
    }

    /// Records what a `GET` of `key` returned; true when the held or refused Secrets changed.
    /// Only `data` (and the identity) is kept. A Secret that does not exist or may not be read
    /// is dropped (the API server's answer is authoritative: the peer stops, as when the Secret
    /// is deleted); any other failure keeps the last value read, as an unreachable API keeps
    /// the last snapshot.
    pub fn record(&mut self, key: ObjectKey, result: SecretRead) -> bool {
        if !self.wanted.contains(&key) {
            return false;
        }
        match result {
            SecretRead::Found(secret) => {
                let kept = Secret {
                    metadata: ObjectMeta {
                        name: secret.metadata.name,
                        namespace: secret.metadata.namespace,
                        resource_version: secret.metadata.resource_version,
                        ..ObjectMeta::default()
                    },
                    data: secret.data,
                    type_: secret.type_,
                    ..Secret::default()
                };
                let was_refused = self.refused.remove(&key).is_some();
                if self.held.get(&key) == Some(&kept) {
                    return was_refused;
                }
                self.held.insert(key, kept);
                true
            }
            SecretRead::NotFound => {
                let was_refused = self.refused.remove(&key).is_some();
                self.held.remove(&key).is_some() || was_refused
            }
            SecretRead::Forbidden => {
                let reason = forbidden_reason(&key);
                let dropped = self.held.remove(&key).is_some();
                if self.refused.get(&key) == Some(&reason) {
                    return dropped;
                }
                tracing::warn!(secret = %key, role = BGP_PASSWORDS_ROLE, "the BgpPeer password Secret {key} {reason}");
                self.refused.insert(key, reason);
                true
            }
            SecretRead::Failed(error) => {
                tracing::warn!(secret = %key, %error, "cannot read the BgpPeer password Secret; keeping the last value read");
                false
            }
        }
    }
}

/// Reads `keys` into `cache`, one `GET` each (10 s at most, so a hung API server cannot stall
/// the source); true when the held or refused Secrets changed.
pub(super) async fn fetch_secrets(
    client: &Client,
    cache: &mut SecretCache,
    keys: Vec<ObjectKey>,
) -> bool {
    const TIMEOUT: Duration = Duration::from_secs(10);
    let mut changed = false;
    for key in keys {
        let api: Api<Secret> = Api::namespaced(client.clone(), &key.namespace);
        let result = match tokio::time::timeout(TIMEOUT, api.get_opt(&key.name)).await {
            Ok(Ok(Some(secret))) => SecretRead::Found(secret),
            Ok(Ok(None)) => SecretRead::NotFound,
            Ok(Err(kube::Error::Api(status))) if status.code == 403 => SecretRead::Forbidden,
            Ok(Err(error)) => SecretRead::Failed(error.to_string()),
            Err(_) => SecretRead::Failed(format!("no answer within {TIMEOUT:?}")),
        };
        changed |= cache.record(key, result);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(namespace: &str, name: &str) -> BgpPeer {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("p-{name}")},
            "spec": {"conf": {"authPasswordSecretRef": {"namespace": namespace, "name": name, "key": "k"}}}
        }))
        .unwrap()
    }

    #[test]
    fn references_that_cannot_name_a_secret_are_never_fetched() {
        let peers = [
            peer("porter-system", "bgp"),
            peer("porter-system", ""),
            peer("", "bgp"),
            peer("porter-system", "../../secrets"),
            peer("porter-system", "Upper"),
            peer("porter-system", "bgp"),
        ];
        assert_eq!(
            referenced_secrets(&peers),
            BTreeSet::from([ObjectKey::new("porter-system", "bgp")])
        );
    }

    #[test]
    fn the_cache_follows_references_and_keeps_the_last_value_on_errors() {
        let key = ObjectKey::new("porter-system", "bgp");
        let mut secret = Secret::default();
        secret.metadata.name = Some("bgp".into());
        secret.metadata.annotations = Some(BTreeMap::from([("a".into(), "b".into())]));
        let mut cache = SecretCache::default();
        // not referenced: ignored
        assert!(!cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert_eq!(cache.want(BTreeSet::from([key.clone()])), vec![key.clone()]);
        assert!(cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert!(cache.held()[&key].metadata.annotations.is_none());
        assert!(!cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert!(!cache.record(key.clone(), SecretRead::Failed("unreachable".into())));
        assert!(cache.held().contains_key(&key));
        assert!(cache.want(BTreeSet::from([key.clone()])).is_empty());
        assert!(cache.record(key.clone(), SecretRead::NotFound));
        assert!(cache.held().is_empty());

        // refused: dropped (like a deleted one) and reported with the Role to extend, once
        assert!(cache.record(key.clone(), SecretRead::Found(secret.clone())));
        assert!(cache.record(key.clone(), SecretRead::Forbidden));
        assert!(cache.held().is_empty());
        assert_eq!(cache.refused()[&key], forbidden_reason(&key));
        assert!(!cache.record(key.clone(), SecretRead::Forbidden));
        // an outage after the refusal changes nothing; readable again: no longer refused
        assert!(!cache.record(key.clone(), SecretRead::Failed("unreachable".into())));
        assert!(cache.refused().contains_key(&key));
        assert!(cache.record(key.clone(), SecretRead::Found(secret)));
        assert!(cache.refused().is_empty() && cache.held().contains_key(&key));
        assert!(cache.record(key.clone(), SecretRead::Forbidden));
        assert!(cache.record(key.clone(), SecretRead::NotFound));
        assert!(cache.refused().is_empty());

        cache.want(BTreeSet::new());
        assert!(cache.wanted().is_empty());
    }

    #[test]
    fn a_refusal_names_the_role_to_extend_or_to_copy() {
        let here = forbidden_reason(&ObjectKey::new("porter-system", "bgp-password"));
        assert_eq!(
            here,
            "cannot be read: forbidden (403), the speaker may read only the Secrets its Role names: add \"bgp-password\" to the resourceNames of Role porter-speaker-bgp-passwords in namespace porter-system (deploy/porter.yaml)"
        );
        let elsewhere = forbidden_reason(&ObjectKey::new("network", "tor-md5"));
        assert!(
            elsewhere.contains("copy Role porter-speaker-bgp-passwords and its RoleBinding from deploy/porter.yaml into namespace network and list \"tor-md5\""),
            "{elsewhere}"
        );
        let key = forbidden_reason(&ObjectKey::new("lb", "porter-member"));
        assert!(
            key.ends_with("apply Role porter-speaker-member and its RoleBinding from deploy/porter.yaml in namespace lb"),
            "{key}"
        );
    }
}
