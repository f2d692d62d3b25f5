//! An in-process HTTP double of the Kubernetes API server, for testing Porter's kube-rs shells.
//!
//! There is no cluster in CI and kube-rs has no in-memory API server, so Porter's controller and speaker are
//! tested against this: a real HTTP/1.1 server on `127.0.0.1` that a real [`kube::Client`] talks to, backed
//! by a schema-less store of `serde_json::Value` objects. Everything kube's `Api<K>` and
//! `kube::runtime::watcher` send is served the way the API server serves it: list (with label/field
//! selectors and `limit`/`continue`), watch (list-then-watch and streaming lists, bookmarks, timeouts,
//! 410 Gone), get, create, replace, the four patch types, delete with finalizers, and the `/status`
//! subresource. The handle doubles as the rest of the cluster: seed and change objects, read the request
//! log, simulate an outage, compact the watch history.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use porter_fake_api::FakeApiServer;
//! let server = FakeApiServer::start().await;
//! server.insert(serde_json::json!({
//!     "apiVersion": "v1", "kind": "Service",
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"type": "LoadBalancer"},
//! }))?;
//! let client = server.client(); // hand this to the code under test
//! # let _ = client;
//! assert_eq!(server.writes().len(), 0);
//! # Ok(()) }
//! ```
//!
//! # Simplifications (known differences from a real API server)
//! - No schema, defaulting or validation beyond object shape, names and `kind`/`apiVersion`; no admission,
//!   no RBAC, no namespace existence checks, no garbage collection (`propagationPolicy` and
//!   ownerReferences are ignored; `gracePeriodSeconds` too: deletion is immediate without finalizers).
//! - Strategic merge patch knows only a few merge keys (see [`patch`](crate#patch-types)); server-side apply
//!   is a merge plus removal of fields the same manager stopped applying, with lists atomic and no
//!   ownership conflicts (a non-forced apply never gets 409). `Update` managers are not recorded in
//!   `managedFields`.
//! - `resourceVersion`/`resourceVersionMatch` on list and get are ignored (always the latest state); a
//!   paginated list is not a snapshot (later pages show live objects, tagged with the first page's RV).
//! - Field selectors accept any dotted path, where the real server allows only a few per resource.
//!
//! # Patch types
//! merge (RFC 7386), JSON patch (RFC 6902), strategic merge (merge with set/keyed merging of finalizers,
//! ownerReferences, conditions, node addresses and service ports; 415 for custom resources) and apply.
#![warn(missing_docs, unreachable_pub)]

mod clock;
mod error;
mod http;
mod patch;
mod paths;
mod resources;
mod response;
mod selectors;
mod server;
mod store;
mod watch;

pub use error::ApiError;
pub use resources::{DEFAULT_RESOURCES, ResourceInfo};
pub use server::{FakeApiServer, FakeApiServerBuilder, Outage, RecordedRequest};
