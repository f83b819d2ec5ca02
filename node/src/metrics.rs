//! Prometheus metrics (prometheus-client), served at `/metrics` on `--prometheus-port`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The node's metrics, all prefixed `tessera_`.
pub struct Metrics {
    registry: Registry,
    /// Number of the best block.
    pub best_height: Gauge,
    /// Number of the last finalized block.
    pub finalized_height: Gauge,
    /// Connected peers.
    pub peers: Gauge,
    /// Transactions waiting in the pool.
    pub pool_size: Gauge,
    /// Blocks imported or authored.
    pub blocks_imported: Counter,
    /// Extrinsics in imported or authored blocks.
    pub extrinsics_imported: Counter,
    /// Time to import (or author) one block, in seconds.
    pub block_import_seconds: Histogram,
    /// Gossip messages received (blocks and finality topics).
    pub gossip_in: Counter,
    /// Gossip messages published.
    pub gossip_out: Counter,
    /// The finality voter's current round.
    pub finality_round: Gauge,
    /// Collations this node made and sent straight to their backers.
    pub collations_sent: Counter,
    /// Collations this node made and gossiped (their backers' peers unknown).
    pub collations_gossiped: Counter,
    /// Candidates this node made that can never be included, by para and reason.
    pub candidates_dropped: Family<DroppedLabels, Counter>,
}

/// Labels of [`Metrics::candidates_dropped`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DroppedLabels {
    /// The para's id.
    pub para: u32,
    /// Why (see `parachains::tracking::DropReason::label`).
    pub reason: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let metrics = Metrics {
            best_height: Gauge::default(),
            finalized_height: Gauge::default(),
            peers: Gauge::default(),
            pool_size: Gauge::default(),
            blocks_imported: Counter::default(),
            extrinsics_imported: Counter::default(),
            // 0.5 ms .. 4 s.
            block_import_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            gossip_in: Counter::default(),
            gossip_out: Counter::default(),
            finality_round: Gauge::default(),
            collations_sent: Counter::default(),
            collations_gossiped: Counter::default(),
            candidates_dropped: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "best_height",
            "Number of the best block",
            metrics.best_height.clone(),
        );
        registry.register(
            "finalized_height",
            "Number of the last finalized block",
            metrics.finalized_height.clone(),
        );
        registry.register("peers", "Connected peers", metrics.peers.clone());
        registry.register(
            "pool_size",
            "Transactions waiting in the pool",
            metrics.pool_size.clone(),
        );
        registry.register(
            "blocks_imported",
            "Blocks imported or authored",
            metrics.blocks_imported.clone(),
        );
        registry.register(
            "extrinsics_imported",
            "Extrinsics in imported or authored blocks",
            metrics.extrinsics_imported.clone(),
        );
        registry.register(
            "block_import_seconds",
            "Time to import or author one block",
            metrics.block_import_seconds.clone(),
        );
        registry.register(
            "gossip_messages_received",
            "Gossip messages received",
            metrics.gossip_in.clone(),
        );
        registry.register(
            "gossip_messages_sent",
            "Gossip messages published",
            metrics.gossip_out.clone(),
        );
        registry.register(
            "finality_round",
            "The finality voter's current round",
            metrics.finality_round.clone(),
        );
        registry.register(
            "collations_sent",
            "Collations made here and sent straight to their backers",
            metrics.collations_sent.clone(),
        );
        registry.register(
            "collations_gossiped",
            "Collations made here and gossiped, their backers' peers unknown",
            metrics.collations_gossiped.clone(),
        );
        registry.register(
            "candidates_dropped",
            "Candidates made here that can never be included, by para and reason",
            metrics.candidates_dropped.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Records an imported block of `extrinsics` that took `elapsed` and the best height.
    pub fn block(&self, best: u32, extrinsics: usize, elapsed: Duration) {
        self.best_height.set(i64::from(best));
        self.blocks_imported.inc();
        self.extrinsics_imported.inc_by(extrinsics as u64);
        self.block_import_seconds.observe(elapsed.as_secs_f64());
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Why the metrics server did not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {source}")]
pub struct MetricsError {
    addr: SocketAddr,
    source: std::io::Error,
}

async fn respond(
    request: Request<hyper::body::Incoming>,
    metrics: Arc<Metrics>,
) -> Result<Response<Full<Bytes>>, hyper::http::Error> {
    if request.method() == Method::GET && request.uri().path() == "/metrics" {
        return Response::builder()
            .header(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .body(Full::new(Bytes::from(metrics.render())));
    }
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(Full::new(Bytes::from_static(b"try /metrics\n")))
}

/// Serves `metrics` at `http://addr/metrics` until the task is dropped; returns the bound
/// address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), MetricsError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsError { addr, source })?;
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(%err, "metrics server cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| respond(request, metrics.clone()));
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%err, "metrics connection failed");
                }
            });
        }
    });
    Ok((bound, task))
}
