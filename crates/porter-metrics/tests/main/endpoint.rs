//! The HTTP endpoint on loopback: /metrics, /healthz, /readyz.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use porter_metrics::{ApiErrors, Health, ListenAddress, Server, server::OPENMETRICS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 request; returns the status code, the headers (lowercase) and the body.
async fn request(address: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: porter\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_owned())
}

async fn serve(health: Health) -> (SocketAddr, ApiErrors) {
    let mut registry = porter_metrics::build_info("9.9.9");
    let errors = ApiErrors::register(&mut registry);
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), registry, health)
        .await
        .unwrap();
    let address = server.local_addr().unwrap();
    tokio::spawn(server.run());
    (address, errors)
}

#[tokio::test]
async fn metrics_health_and_readiness_over_http() {
    let health = Health::starting("waiting for the initial lists from the Kubernetes API");
    let (address, errors) = serve(health.clone()).await;

    let (status, head, body) = request(address, "GET", "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "waiting for the initial lists from the Kubernetes API\n"
    );
    assert!(head.contains("content-type: text/plain"), "{head}");
    let (status, _, body) = request(address, "GET", "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    errors.count("watch", "services", "unreachable");
    let (status, head, body) = request(address, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.contains(&format!("content-type: {}", OPENMETRICS.to_lowercase())),
        "{head}"
    );
    assert!(
        body.lines()
            .any(|l| l == r#"porter_build_info{version="9.9.9"} 1"#),
        "{body}"
    );
    assert!(
        body.lines().any(|l| l
            == r#"porter_kube_api_errors_total{operation="watch",resource="services",error="unreachable"} 1"#),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");

    health.set_ready();
    let (status, _, body) = request(address, "GET", "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    let (status, _, _) = request(address, "GET", "/nope").await;
    assert_eq!(status, 404);
    let (status, _, _) = request(address, "POST", "/metrics").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn an_address_in_use_is_an_error_naming_it() {
    let (address, _) = serve(Health::default()).await;
    let error = Server::bind(
        address,
        porter_metrics::Registry::default(),
        Health::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("cannot serve metrics and health on {address}")
    );
    assert_eq!(error.source.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn a_main_loop_without_progress_is_not_live() {
    let health = Health::starting("starting");
    let now = Instant::now();
    assert_eq!(health.liveness_at(now), Ok(()));
    let later = now + Health::STALLED_AFTER + Duration::from_secs(5);
    let reason = health.liveness_at(later).unwrap_err();
    assert!(
        reason.starts_with("main loop stalled: no progress for "),
        "{reason}"
    );
    // a beat (at `now` or after) resets it
    health.beat();
    assert_eq!(health.liveness_at(now + Health::STALLED_AFTER), Ok(()));
}

#[test]
fn listen_addresses_parse_or_say_what_is_expected() {
    let parse = |s: &str| s.parse::<ListenAddress>();
    assert_eq!(parse("off"), Ok(ListenAddress(None)));
    assert_eq!(parse(""), Ok(ListenAddress(None)));
    assert_eq!(
        parse("0.0.0.0:7578"),
        Ok(ListenAddress(Some("0.0.0.0:7578".parse().unwrap())))
    );
    assert_eq!(parse("[::]:7579").unwrap().to_string(), "[::]:7579");
    assert_eq!(ListenAddress(None).to_string(), "off");
    let error = parse("7578").unwrap_err();
    assert!(
        error.contains("\"7578\" is not an address and port"),
        "{error}"
    );
}
