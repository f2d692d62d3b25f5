//! Watch responses: a chunked body of newline-delimited `{"type": ..., "object": ...}` events.
//!
//! A watch replays the retained history after its resourceVersion, then follows new changes as they are
//! committed. Like the real API server it answers a too-old resourceVersion with HTTP 200 and a single
//! `ERROR` event carrying a 410 `Expired` Status (kube's watcher then relists), sends `BOOKMARK`s when
//! `allowWatchBookmarks=true`, and ends the stream when `timeoutSeconds` elapse. During a simulated outage
//! the stream is cut: the connection is reset for [`crate::Outage::ConnectionDrop`], the body ends cleanly
//! for [`crate::Outage::ServiceUnavailable`].

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::response::{Body, View};
use crate::server::{Outage, Shared};
use crate::store::Filter;

/// What a watch request asked for.
#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    pub(crate) res: ResourceId,
    pub(crate) filter: Filter,
    /// `None`: start with synthetic `ADDED` events for the current state.
    pub(crate) from: Option<u64>,
    /// `sendInitialEvents=true`: mark the end of the initial events with a bookmark.
    pub(crate) initial_events_end: bool,
    pub(crate) bookmarks: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) view: View,
}

/// Starts a watch and returns its streaming response.
pub(crate) fn respond(shared: Arc<Shared>, req: WatchRequest) -> Response<Body> {
    let info = *shared.store.resources().get(req.res);
    let bookmark_type = match req.view {
        View::Full => (info.kind.to_string(), info.api_version()),
        View::Metadata => (
            "PartialObjectMetadata".to_string(),
            "meta.k8s.io/v1".to_string(),
        ),
    };
    let ticks = shared.store.subscribe();
    let mut state = WatchState {
        next_bookmark: Instant::now() + shared.bookmark_interval,
        deadline: req.timeout.map(|t| Instant::now() + t),
        shared,
        ticks,
        cursor: 0,
        pending: VecDeque::new(),
        finished: false,
        bookmark_type,
        req,
    };
    match state
        .shared
        .store
        .watch_start(state.req.res, &state.req.filter, state.req.from)
    {
        Ok((cursor, initial)) => {
            state.cursor = cursor;
            for obj in initial {
                state.push_event("ADDED", obj);
            }
            if state.req.initial_events_end {
                state.push_bookmark(true);
            }
        }
        Err(err) => state.push_error(&err),
    }
    let stream = futures::stream::unfold(state, WatchState::next_frame).boxed();
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

struct WatchState {
    shared: Arc<Shared>,
    req: WatchRequest,
    ticks: watch::Receiver<u64>,
    cursor: u64,
    pending: VecDeque<Bytes>,
    finished: bool,
    deadline: Option<Instant>,
    next_bookmark: Instant,
    bookmark_type: (String, String),
}

impl WatchState {
    fn push_line(&mut self, value: &Value) {
        let mut line = serde_json::to_vec(value).unwrap_or_default();
        line.push(b'\n');
        self.pending.push_back(Bytes::from(line));
    }

    fn push_event(&mut self, kind: &str, obj: Value) {
        let obj = self.req.view.object(obj);
        self.push_line(&json!({"type": kind, "object": obj}));
    }

    fn push_bookmark(&mut self, initial_events_end: bool) {
        let mut metadata = json!({"resourceVersion": self.cursor.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, api_version) = &self.bookmark_type;
        let obj = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
        self.push_line(&json!({"type": "BOOKMARK", "object": obj}));
    }

    fn push_error(&mut self, err: &ApiError) {
        self.push_line(&json!({"type": "ERROR", "object": err.to_status()}));
        self.finished = true;
    }

    /// The next chunk of the body, or `None` to end it.
    async fn next_frame(mut self) -> Option<(Result<Frame<Bytes>, io::Error>, Self)> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some((Ok(Frame::data(chunk)), self));
            }
            if self.finished {
                return None;
            }
            match self.shared.outage() {
                Outage::None => {}
                Outage::ServiceUnavailable => return None,
                Outage::ConnectionDrop => {
                    self.finished = true;
                    let err = io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "simulated API server outage",
                    );
                    return Some((Err(err), self));
                }
            }
            // Mark the current tick seen before reading, so a change committed after the read wakes us.
            self.ticks.borrow_and_update();
            match self
                .shared
                .store
                .changes_since(self.req.res, &self.req.filter, self.cursor)
            {
                Err(err) => {
                    self.push_error(&err);
                    continue;
                }
                Ok((items, cursor)) => {
                    self.cursor = cursor;
                    if !items.is_empty() {
                        for (kind, obj) in items {
                            self.push_event(kind, obj);
                        }
                        continue;
                    }
                }
            }
            let deadline = self.deadline;
            let next_bookmark = self.bookmarks_on().then_some(self.next_bookmark);
            tokio::select! {
                changed = self.ticks.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = sleep_until(deadline) => {
                    if self.req.bookmarks {
                        self.push_bookmark(false);
                    }
                    self.finished = true;
                }
                () = sleep_until(next_bookmark) => {
                    self.push_bookmark(false);
                    self.next_bookmark = Instant::now() + self.shared.bookmark_interval;
                }
            }
        }
    }

    fn bookmarks_on(&self) -> bool {
        self.req.bookmarks && !self.shared.bookmark_interval.is_zero()
    }
}

/// Sleeps until `at`, or forever for `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
