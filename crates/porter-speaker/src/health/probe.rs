//! One endpoint's probe task: a TCP connection or an HTTP `GET` every interval, each result
//! given to the endpoint's [`Tally`], the verdict posted to the failing set when it turns.

use std::net::SocketAddr;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use porter_model::health::{Failing, ProbeKey, ProbeKind, Tally};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Probe, ProbeStatus};
use crate::status::{Protocol, Status, StatusBoard};
use crate::supervisor::Stop;

/// What a probe task is told: only to stop.
pub(crate) struct Command;

impl From<Stop> for Command {
    fn from(_: Stop) -> Self {
        Command
    }
}

/// Takes the endpoint out of the failing set when the task ends, however it ends (aborted
/// in the middle of a probe included): a probe no longer running must not keep its endpoint
/// failing.
struct Verdict {
    key: ProbeKey,
    failing: watch::Sender<Failing>,
}

impl Verdict {
    fn post(&self, failing: bool) {
        self.failing.send_if_modified(|set| {
            if failing {
                set.insert(self.key.clone())
            } else {
                set.remove(&self.key)
            }
        });
    }
}

impl Drop for Verdict {
    fn drop(&mut self) {
        self.post(false);
    }
}

/// Starts probing `probe.key.endpoint`, posting to `board` under `name`.
pub(super) fn spawn(
    name: String,
    probe: Probe,
    failing: watch::Sender<Failing>,
    board: StatusBoard,
    mut commands: mpsc::Receiver<Command>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Probe { key, spec } = probe;
        let verdict = Verdict {
            key: key.clone(),
            failing,
        };
        let mut tally = Tally::new(spec.threshold);
        let mut status = ProbeStatus {
            service: key.service.to_string(),
            endpoint: key.endpoint,
            failing: false,
            probes: 0,
            failures: 0,
            last_error: None,
        };
        board.set(&name, Status::Health(status.clone()));
        // The first probe at a random point of the first interval: the many probes one plan
        // starts do not all hit their Pods at once.
        let first = spec
            .interval
            .mul_f64((crate::seed() % 1000) as f64 / 1000.0);
        let mut next = Instant::now() + first;
        loop {
            tokio::select! {
                // a stop, or the supervisor gone
                _ = commands.recv() => break,
                () = tokio::time::sleep_until(next) => {}
            }
            let result =
                match tokio::time::timeout(spec.timeout, once(&spec.kind, key.endpoint)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {:?}", spec.timeout)),
                };
            next = (next + spec.interval).max(Instant::now());
            status.probes += 1;
            if let Err(why) = &result {
                status.failures += 1;
                status.last_error = Some(why.clone());
            }
            if let Some(failing) = tally.record(result.is_ok()) {
                status.failing = failing;
                verdict.post(failing);
                if failing {
                    tracing::warn!(
                        service = %key.service, endpoint = %key.endpoint,
                        error = status.last_error.as_deref().unwrap_or(""),
                        threshold = spec.threshold,
                        "endpoint failed its health probes: no longer counted on this node"
                    );
                } else {
                    tracing::info!(service = %key.service, endpoint = %key.endpoint, "endpoint passes its health probes again");
                }
            }
            board.set(&name, Status::Health(status.clone()));
        }
        board.remove(Protocol::Health, &name);
        drop(verdict);
    })
}

/// One probe of `endpoint`.
async fn once(kind: &ProbeKind, endpoint: SocketAddr) -> Result<(), String> {
    let stream = TcpStream::connect(endpoint)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    match kind {
        // connected: that is all a TCP probe asks
        ProbeKind::Tcp => Ok(()),
        ProbeKind::Http { path } => http_get(stream, endpoint, path).await,
    }
}

/// `GET path` over `stream`: a status from 200 to 399 passes, as a kubelet's HTTP probe.
/// hyper's client connection, not a hand-written request: header parsing, chunked and
/// malformed answers are hyper's, well tested.
async fn http_get(stream: TcpStream, endpoint: SocketAddr, path: &str) -> Result<(), String> {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, endpoint.to_string())
        .header(
            hyper::header::USER_AGENT,
            concat!("porter-health/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("http: {e}"))?;
    let answer = sender.send_request(request).await;
    connection.abort();
    let status = answer.map_err(|e| format!("http: {e}"))?.status();
    if (200..400).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(format!("http: status {status}"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server answering every request with `status` and the request's first line.
    async fn server(status: &'static str) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let _ = tx.send(head);
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn an_http_probe_passes_on_2xx_and_3xx_only() {
        for (status, passes) in [
            ("200 OK", true),
            ("302 Found", true),
            ("404 Not Found", false),
            ("503 Service Unavailable", false),
        ] {
            let (addr, mut heads) = server(status).await;
            let kind = ProbeKind::Http {
                path: "/healthz".into(),
            };
            let result = once(&kind, addr).await;
            assert_eq!(result.is_ok(), passes, "{status}: {result:?}");
            let head = heads.recv().await.unwrap();
            assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
            assert!(
                head.to_lowercase().contains(&format!("host: {addr}")),
                "{head}"
            );
        }
    }

    #[tokio::test]
    async fn a_probe_of_a_closed_port_fails_and_of_an_open_one_passes() {
        let (addr, _) = server("200 OK").await;
        assert_eq!(once(&ProbeKind::Tcp, addr).await, Ok(()));
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = closed.local_addr().unwrap();
        drop(closed);
        let error = once(&ProbeKind::Tcp, gone).await.unwrap_err();
        assert!(error.starts_with("connect:"), "{error}");
    }

    #[tokio::test]
    async fn a_server_that_closes_without_answering_fails_an_http_probe() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                drop(s);
            }
        });
        let kind = ProbeKind::Http { path: "/".into() };
        assert!(once(&kind, addr).await.is_err());
    }

    /// The task's verdicts reach the failing set after `threshold` failures, and a stopped
    /// task leaves nothing behind. Real time (the probes connect for real), short intervals.
    #[tokio::test]
    async fn a_probe_task_posts_its_verdicts_and_cleans_up() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key = ProbeKey {
            service: porter_model::ObjectKey::new("default", "web"),
            endpoint: addr,
        };
        let spec = porter_model::health::ProbeSpec {
            kind: ProbeKind::Tcp,
            interval: Duration::from_millis(20),
            timeout: Duration::from_secs(1),
            threshold: 2,
        };
        let failing = watch::Sender::new(Failing::new());
        let mut seen = failing.subscribe();
        let board = StatusBoard::default();
        let (commands, rx) = mpsc::channel(1);
        let task = spawn(
            "p".into(),
            Probe {
                key: key.clone(),
                spec,
            },
            failing.clone(),
            board.clone(),
            rx,
        );
        let probed = |board: &StatusBoard| {
            board
                .snapshot()
                .get(&(Protocol::Health, "p".to_owned()))
                .and_then(Status::as_health)
                .cloned()
        };
        // open (the kernel accepts into the backlog): probes pass
        while probed(&board).map_or(0, |s| s.probes) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(failing.borrow().is_empty());
        assert!(!probed(&board).unwrap().failing);
        drop(listener);
        tokio::time::timeout(Duration::from_secs(10), seen.changed())
            .await
            .expect("the verdict turns")
            .unwrap();
        assert!(seen.borrow_and_update().contains(&key));
        let status = probed(&board).unwrap();
        assert!(status.failing && status.failures >= 2, "{status:?}");
        assert!(status.last_error.is_some());
        commands.send(Command).await.unwrap();
        task.await.unwrap();
        assert!(
            failing.borrow().is_empty(),
            "a stopped probe leaves no verdict"
        );
        assert!(board.snapshot().is_empty());
    }
}
