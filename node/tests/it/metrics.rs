//! The Prometheus endpoint.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tessera_node::metrics::{serve, Metrics};

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text() {
    let metrics = Arc::new(Metrics::new());
    metrics.block(7, 12, Duration::from_millis(3));
    metrics.finalized_height.set(5);
    metrics.pool_size.set(4);
    let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), metrics.clone())
        .await
        .unwrap();
    let body = tokio::task::spawn_blocking(move || get(addr, "/metrics"))
        .await
        .unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for line in [
        "tessera_best_height 7",
        "tessera_finalized_height 5",
        "tessera_pool_size 4",
        "tessera_blocks_imported_total 1",
        "tessera_extrinsics_imported_total 12",
        "tessera_block_import_seconds_count 1",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing `{line}` in:\n{body}"
        );
    }
    let missing = tokio::task::spawn_blocking(move || get(addr, "/nope"))
        .await
        .unwrap();
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    task.abort();
}
