//! The server handle: start/stop, the kube client, and the test controls (seed, inspect, request log,
//! outage, refusals, history compaction).

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::ApiError;
use crate::resources::{ResourceId, ResourceInfo, Resources};
use crate::store::{Store, WriteOpts};

/// How the simulated API server fails while it is "down".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outage {
    /// Serving normally.
    #[default]
    None,
    /// Every request's connection is closed without a response and open watch streams are reset, as when
    /// the API server process is gone. kube reports these at once (its retry layer only retries responses).
    ConnectionDrop,
    /// Every request gets `503 ServiceUnavailable` and open watch streams end, as behind a load balancer
    /// with no healthy backend. kube's default client retries 503s with exponential backoff (up to 15
    /// times), so calls made during a short outage tend to stall and then succeed rather than fail.
    ServiceUnavailable,
}

/// One request as the server received it, for asserting exactly what the code under test sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Path and query as sent, e.g. `/api/v1/namespaces/default/services/web/status?fieldManager=porter`.
    pub uri: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body (lossily decoded as UTF-8; every Kubernetes body is JSON or YAML text).
    pub body: String,
}

impl RecordedRequest {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.uri
            .split_once('?')
            .map_or(self.uri.as_str(), |(p, _)| p)
    }

    /// One decoded query parameter.
    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.uri.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// The body parsed as JSON (`None` when empty or not JSON).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// Whether this is a watch request (`?watch=true`).
    pub fn is_watch(&self) -> bool {
        matches!(self.query("watch").as_deref(), Some("true" | "1"))
    }
}

/// State shared by the connection tasks, the watch streams and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) bookmark_interval: Duration,
    outage: Mutex<Outage>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Objects every request for gets 403, as `(plural, namespace, name)`.
    forbidden: Mutex<BTreeSet<(String, Option<String>, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn outage(&self) -> Outage {
        *lock(&self.outage)
    }

    pub(crate) fn is_forbidden(&self, plural: &str, namespace: Option<&str>, name: &str) -> bool {
        lock(&self.forbidden).contains(&(
            plural.to_owned(),
            namespace.map(str::to_owned),
            name.to_owned(),
        ))
    }

    pub(crate) fn record(&self, req: RecordedRequest) {
        lock(&self.requests).push(req);
    }
}

/// Options for [`FakeApiServer`]; [`FakeApiServer::start`] uses the defaults.
#[derive(Debug, Clone)]
pub struct FakeApiServerBuilder {
    history: usize,
    bookmark_interval: Duration,
    extra: Vec<ResourceInfo>,
}

impl Default for FakeApiServerBuilder {
    fn default() -> Self {
        Self {
            history: 1000,
            bookmark_interval: Duration::from_secs(5),
            extra: Vec::new(),
        }
    }
}

impl FakeApiServerBuilder {
    /// How many changes watches can replay (default 1000); older resourceVersions get 410 Gone.
    pub fn history(mut self, changes: usize) -> Self {
        self.history = changes;
        self
    }

    /// How often an idle watch with `allowWatchBookmarks=true` gets a BOOKMARK (default 5 s; zero: only when
    /// the watch times out). The real API server sends one about every minute.
    pub fn bookmark_interval(mut self, every: Duration) -> Self {
        self.bookmark_interval = every;
        self
    }

    /// Serves one more resource (or replaces a default with the same group, version and plural).
    pub fn resource(mut self, info: ResourceInfo) -> Self {
        self.extra.push(info);
        self
    }

    /// Binds 127.0.0.1 on an ephemeral port and starts serving.
    pub async fn try_start(self) -> io::Result<FakeApiServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Store::new(Resources::new(&self.extra), self.history),
            bookmark_interval: self.bookmark_interval,
            outage: Mutex::new(Outage::None),
            requests: Mutex::new(Vec::new()),
            forbidden: Mutex::new(BTreeSet::new()),
        });
        let task = tokio::spawn(serve(listener, shared.clone()));
        Ok(FakeApiServer { addr, shared, task })
    }

    /// Like [`Self::try_start`], panicking if the loopback listener cannot be bound (a broken test host).
    pub async fn start(self) -> FakeApiServer {
        self.try_start()
            .await
            .expect("binding 127.0.0.1:0 must work on a test host")
    }
}

/// Accepts connections until aborted; dropping the `JoinSet` (on abort) closes every connection.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| crate::http::handle(shared.clone(), req));
                    // A connection error is the client's problem or a simulated outage; nothing to report.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// An in-process double of the Kubernetes API server on `127.0.0.1`, with an in-memory, schema-less store.
///
/// Use [`Self::client`] for the code under test, and the other methods to play the rest of the cluster:
/// seed and change objects as kubectl or the kubelet would ([`Self::insert`], [`Self::update`],
/// [`Self::delete`]), read what the code wrote ([`Self::get`], [`Self::requests`]), and break things
/// ([`Self::set_unavailable`], [`Self::forbid`], [`Self::compact_history`]). Dropping the handle stops the server.
#[derive(Debug)]
pub struct FakeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeApiServer {
    /// Starts a server with default options.
    pub async fn start() -> Self {
        FakeApiServerBuilder::default().start().await
    }

    /// Options: history size, bookmark interval, extra resources.
    pub fn builder() -> FakeApiServerBuilder {
        FakeApiServerBuilder::default()
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kube client for this server: `kube::Config::new(url)` with default namespace `default`, no TLS, no
    /// auth, and kube's default layers (including its retry of 429/503/504).
    ///
    /// Must be called inside a Tokio runtime (kube spawns its buffer task).
    pub fn client(&self) -> kube::Client {
        let uri: http::Uri = self
            .url()
            .parse()
            .expect("an http://ip:port URL is a valid URI");
        kube::Client::try_from(kube::Config::new(uri))
            .expect("a plain-HTTP kube config without auth always builds")
    }

    fn resource(&self, resource: &str) -> ResourceId {
        self.shared
            .store
            .resources()
            .by_name(resource)
            .unwrap_or_else(|| {
                panic!("resource {resource:?} is not registered with the fake API server")
            })
    }

    /// Creates or overwrites an object (status included, no resourceVersion check), as another actor
    /// would; the resource comes from `apiVersion` and `kind`, a namespaced object without a namespace goes
    /// to `default`. Bumps the resourceVersion and emits a watch event unless nothing changed.
    pub fn insert(&self, object: Value) -> Result<Value, ApiError> {
        self.shared.store.upsert(object)
    }

    /// One object; `resource` is a plural (`services`) or `plural.group` (`events.events.k8s.io`),
    /// `namespace` is `None` for cluster-scoped resources.
    ///
    /// # Panics
    /// If `resource` is not registered (a typo in the test).
    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.shared
            .store
            .get(self.resource(resource), namespace, name)
            .ok()
    }

    /// Every object of a resource, across namespaces, in (namespace, name) order.
    ///
    /// # Panics
    /// If `resource` is not registered.
    pub fn list(&self, resource: &str) -> Vec<Value> {
        self.shared.store.all(self.resource(resource))
    }

    /// Read-modify-write of one object by another actor: `f` may change anything, status included (identity
    /// metadata is kept). Finalizer semantics apply: emptying the finalizers of a deleting object deletes it.
    ///
    /// # Panics
    /// If `resource` is not registered.
    pub fn update(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        self.shared
            .store
            .update_with(self.resource(resource), namespace, name, f)
    }

    /// Deletes an object as another actor would: with finalizers it only gets a deletionTimestamp. Returns
    /// the object's last state.
    ///
    /// # Panics
    /// If `resource` is not registered.
    pub fn delete(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.shared
            .store
            .delete(
                self.resource(resource),
                namespace,
                name,
                None,
                None,
                &WriteOpts::default(),
            )
            .map(|(obj, _)| obj)
    }

    /// Waits until `check` returns `Some` (re-checked after every change to the store, and every 20 ms for
    /// conditions on the request log), or `None` after `timeout`. For "wait until the controller has written
    /// the status" without sleeping a fixed time.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> Option<T> {
        let mut ticks = self.shared.store.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            ticks.borrow_and_update();
            if let Some(found) = check(self) {
                return Some(found);
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return check(self),
                _ = ticks.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.current_rv()
    }

    /// How many stored objects list requests have looked at since start, every page's and those
    /// a selector skipped included: what paging through a large list costs the server, for
    /// tests that check it stays linear without timing anything.
    pub fn list_examined(&self) -> u64 {
        self.shared.store.list_examined()
    }

    /// Every request received since start or the last [`Self::clear_requests`], in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The recorded requests that are not watches and not plain reads: what the code under test wrote.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// `true`: [`Outage::ConnectionDrop`] until set back; `false`: serve normally.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.set_outage(if unavailable {
            Outage::ConnectionDrop
        } else {
            Outage::None
        });
    }

    /// Chooses how the server fails (or [`Outage::None`] to recover). Open watch streams are cut at once.
    pub fn set_outage(&self, outage: Outage) {
        *lock(&self.shared.outage) = outage;
        self.shared.store.notify();
    }

    /// Refuses every request for one object with `403 Forbidden`, as the real API server does when RBAC
    /// grants the caller nothing on it (a Secret missing from a Role's `resourceNames`). The object itself is
    /// untouched, and lists and watches of its collection are still served. Undo with [`Self::allow`].
    ///
    /// # Panics
    /// If `resource` is not registered.
    pub fn forbid(&self, resource: &str, namespace: Option<&str>, name: &str) {
        let key = self.object_id(resource, namespace, name);
        lock(&self.shared.forbidden).insert(key);
    }

    /// Serves an object [`Self::forbid`] refused again.
    ///
    /// # Panics
    /// If `resource` is not registered.
    pub fn allow(&self, resource: &str, namespace: Option<&str>, name: &str) {
        let key = self.object_id(resource, namespace, name);
        lock(&self.shared.forbidden).remove(&key);
    }

    /// How [`Self::forbid`] names an object: its resource's plural, namespace and name.
    fn object_id(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> (String, Option<String>, String) {
        let plural = self
            .shared
            .store
            .resources()
            .get(self.resource(resource))
            .plural;
        (
            plural.to_owned(),
            namespace.map(str::to_owned),
            name.to_owned(),
        )
    }

    /// Drops the retained watch history: open watches get a 410 `Expired` ERROR event and end, and any
    /// later watch from a resourceVersion seen so far gets 410, forcing kube's watcher to relist.
    pub fn compact_history(&self) {
        self.shared.store.compact();
    }

    /// Stops serving and closes every connection (also done on drop).
    pub async fn stop(self) {
        let mut this = self;
        this.task.abort();
        // The task was aborted: its JoinError says so and nothing else.
        let _ = (&mut this.task).await;
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
