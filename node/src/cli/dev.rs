//! `tessera dev`: a single-validator development chain that authors blocks of transfers
//! between the dev accounts and prints one line per block.

use super::{database_path, ChainArgs};
use crate::client::Client;
use crate::metrics::{self, Metrics};
use crate::rpc;
use crate::service::{ChainEvent, Shared};
use crate::store::RocksDb;
use crate::workload::TransferGenerator;
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tessera_relay_chain::{ChainSpec, UNIT};
use tessera_runtime::crypto::Pair;

/// Arguments of `tessera dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Keep the chain here (default: a temporary directory removed on exit).
    #[arg(long, value_name = "PATH")]
    base_path: Option<PathBuf>,
    /// Exit with status 0 after this many finalized blocks.
    #[arg(long, value_name = "N")]
    blocks: Option<u32>,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    block_time: u64,
    /// Dev transfers submitted before each block.
    #[arg(long, default_value_t = 10, value_name = "N")]
    transfers: usize,
    /// Seed of the dev transfers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Interface of the JSON-RPC server (HTTP and WebSocket on one port).
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    rpc_addr: std::net::IpAddr,
    /// Port of the JSON-RPC server (0 picks a free one).
    #[arg(long, default_value_t = 9944, value_name = "PORT")]
    rpc_port: u16,
    /// Port of the Prometheus metrics endpoint `/metrics` on the RPC interface (0 picks one).
    #[arg(long, default_value_t = 9615, value_name = "PORT")]
    prometheus_port: u16,
    /// The chain (its first validator must be a dev account: Alice for `dev`).
    #[command(flatten)]
    chain: ChainArgs,
}

/// Runs the dev chain until Ctrl-C or `--blocks`.
pub(super) fn run(args: DevArgs) -> anyhow::Result<()> {
    let spec = ChainSpec::load(&args.chain.chain)?;
    let genesis = spec.build_genesis()?;
    let author = spec
        .genesis
        .validators
        .first()
        .and_then(|validator| {
            crate::workload::DEV_ACCOUNTS
                .iter()
                .map(|name| Pair::dev(name))
                .find(|pair| pair.public() == validator.0)
        })
        .context("the chain's first validator is not a dev account, so `dev` cannot author")?;
    let temp_dir;
    let base_path = match &args.base_path {
        Some(path) => path.clone(),
        None => {
            temp_dir = tempfile::Builder::new().prefix("tessera-dev-").tempdir()?;
            temp_dir.path().to_path_buf()
        }
    };
    let path = database_path(&base_path, &spec.id);
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let db =
        RocksDb::open(&path).with_context(|| format!("cannot open database {}", path.display()))?;
    let client = Client::open(Box::new(db), &genesis)?;
    let meta = client.info()?;
    println!(
        "Tessera dev chain `{}` · genesis {} · database {} · best #{}",
        spec.name,
        meta.genesis,
        path.display(),
        meta.best_number
    );
    println!("Author: {}", author.public());
    let shared = Arc::new(Shared::new(client, spec.name.clone()));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let rpc_addr = SocketAddr::new(args.rpc_addr, args.rpc_port);
        let (bound, rpc) = rpc::start(rpc_addr, shared.clone()).await?;
        println!("JSON-RPC: http://{bound} and ws://{bound}");
        let metrics = Arc::new(Metrics::new());
        let metrics_addr = SocketAddr::new(args.rpc_addr, args.prometheus_port);
        let (metrics_bound, metrics_task) = metrics::serve(metrics_addr, metrics.clone()).await?;
        println!("Prometheus: http://{metrics_bound}/metrics");
        let mut transfers = TransferGenerator::dev(args.seed);
        let mut ticker = tokio::time::interval(Duration::from_millis(args.block_time.max(1)));
        let mut authored = 0u32;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {
                    println!("Ctrl-C: stopping; the chain is saved up to the last block printed.");
                    break;
                }
                _ = ticker.tick() => {}
            }
            let started = std::time::Instant::now();
            let (block, issuance, pool_len) = {
                let mut client = shared.client();
                let mut pool = shared.pool();
                for xt in transfers.next_batch(&client, args.transfers)? {
                    if let Err(err) = client.submit(&mut pool, xt) {
                        tracing::warn!(%err, "dev transfer refused");
                        transfers.reset_nonces();
                    }
                }
                let block = client.author_block(&author, &mut pool, true)?;
                let issuance = client.total_issuance(&block.block.hash())?;
                (block, issuance, pool.len())
            };
            for (hash, reason) in &block.dropped {
                tracing::info!(%hash, %reason, "dropped transaction");
            }
            let header = &block.block.header;
            shared.publish(ChainEvent::Imported {
                header: header.clone(),
                extrinsics: block.block.extrinsics.iter().map(|xt| xt.hash()).collect(),
                best: true,
            });
            shared.publish(ChainEvent::Finalized(header.clone()));
            metrics.block(
                header.number,
                block.block.extrinsics.len(),
                started.elapsed(),
                Some(header.number),
            );
            metrics.pool_size.set(pool_len as i64);
            println!(
                "#{:<5} {} · finalized #{} · {} txs · pool {} · issuance {} UNIT · {} ms",
                header.number,
                short(&header.hash().to_string()),
                header.number,
                block.block.extrinsics.len(),
                pool_len,
                issuance / UNIT,
                started.elapsed().as_millis()
            );
            authored = authored.saturating_add(1);
            if args.blocks.is_some_and(|target| authored >= target) {
                break;
            }
        }
        rpc.stop()?;
        rpc.stopped().await;
        metrics_task.abort();
        anyhow::Ok(())
    })
}

fn short(hash: &str) -> String {
    format!(
        "{}…{}",
        &hash[..8.min(hash.len())],
        &hash[hash.len().saturating_sub(4)..]
    )
}
