//! A 4-validator network on loopback under a steady stream of signed transfers: finalized
//! transfers per second and finality lag (best minus finalized, in blocks), printed beside the
//! raw single-core sr25519 verification rate measured in the same run.
//!
//! `cargo bench -p tessera-node --bench network` (or `make bench`). Each validator is a full
//! node of its own (libp2p peer, RocksDB in a temporary directory, authorship and finality
//! engines) inside this process. Transfers are signed ahead and fed to every validator's pool
//! at a fixed rate, each validator getting its own senders (the pool does not gossip), so the
//! chain carries what it can and the rest waits in pools. Knobs (environment):
//! `BENCH_SECONDS` (measured window, default 30), `BENCH_RATE` (transfers offered per second,
//! default 2000; a comma-separated list runs a fresh network for each rate and ends with the
//! curve of offered against finalized, so a cliff shows), `BENCH_SLOT_MS` (default 1000).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::network::NetworkConfig;
use tessera_node::run::{Authoring, Node, RunningNode};
use tessera_node::service::Shared;
use tessera_node::store::RocksDb;
use tessera_node::workload::TransferGenerator;
use tessera_relay_chain::{Address, ChainSpec, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::OpaqueExtrinsic;

const VALIDATORS: usize = 4;
/// Senders per validator: each sends at most one transfer per block it is included in.
const SENDERS_PER_VALIDATOR: u32 = 1_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn senders(validator: usize) -> Vec<Pair> {
    let first = validator as u32 * SENDERS_PER_VALIDATOR + 1;
    (first..first + SENDERS_PER_VALIDATOR)
        .map(|i| Pair::from_uri(&format!("0x{i:064x}")).unwrap())
        .collect()
}

/// Signatures per second verified one by one on one core (keys and signatures parsed in the
/// timed part, as block import does).
fn raw_verification_rate() -> f64 {
    let context = schnorrkel::signing_context(b"substrate");
    let signed: Vec<_> = (0..2_000u32)
        .map(|i| {
            let keypair = schnorrkel::Keypair::generate();
            let message = i.to_le_bytes().repeat(30);
            let signature = keypair.sign(context.bytes(&message)).to_bytes();
            (message, signature, keypair.public.to_bytes())
        })
        .collect();
    let started = Instant::now();
    let mut verified = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        for (message, signature, public) in &signed {
            let public = schnorrkel::PublicKey::from_bytes(public).unwrap();
            let signature = schnorrkel::Signature::from_bytes(signature).unwrap();
            public
                .verify_simple(b"substrate", message, &signature)
                .unwrap();
        }
        verified += signed.len() as u64;
    }
    verified as f64 / started.elapsed().as_secs_f64()
}

struct Validator {
    shared: Arc<Shared>,
    running: RunningNode,
    _dir: tempfile::TempDir,
}

async fn start_network(spec: &ChainSpec) -> Vec<Validator> {
    let genesis = spec.build_genesis().unwrap();
    let mut bootnodes = Vec::new();
    let mut validators = Vec::new();
    for name in ["Alice", "Bob", "Charlie", "Dave"] {
        let dir = tempfile::tempdir().unwrap();
        let db = RocksDb::open(dir.path()).unwrap();
        let client = Client::open(Box::new(db), &genesis).unwrap();
        let shared = Arc::new(Shared::new(client, spec.name.clone()));
        let network = NetworkConfig::loopback(genesis.header.hash().to_string(), bootnodes.clone());
        let authoring = Authoring {
            key: AuthorityKey::from_pair(&Pair::dev(name)),
            transfers: None,
            malus: Default::default(),
        };
        let mut node = Node::start(shared.clone(), network, Some(authoring)).unwrap();
        bootnodes.push(node.listening().await.unwrap());
        let running = node.spawn();
        validators.push(Validator {
            shared,
            running,
            _dir: dir,
        });
    }
    validators
}

/// Transfers in the canonical blocks numbered `from..=to` of `shared`'s chain.
fn transfers_in(shared: &Shared, from: u32, to: u32) -> u64 {
    let client = shared.client();
    (from..=to)
        .filter_map(|n| client.store().canonical_hash(n).ok().flatten())
        .filter_map(|hash| client.store().body(&hash).ok().flatten())
        .map(|body| body.len() as u64)
        .sum()
}

/// One measured run's figures.
struct Row {
    rate: u64,
    offered: f64,
    refused: u64,
    finalized: f64,
    blocks: u32,
    mean_lag: f64,
    max_lag: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env("BENCH_SECONDS", 30);
    let rates: Vec<u64> = std::env::var("BENCH_RATE")
        .unwrap_or_else(|_| "2000".into())
        .split(',')
        .filter_map(|rate| rate.trim().parse().ok())
        .collect();
    let slot_ms = env("BENCH_SLOT_MS", 1_000);

    let raw = tokio::task::spawn_blocking(raw_verification_rate)
        .await
        .unwrap();
    let mut rows = Vec::new();
    for rate in rates {
        let row = measure(rate, seconds, slot_ms).await;
        println!(
            "\n== {VALIDATORS}-validator loopback network, {slot_ms} ms slots, {seconds} s measured =="
        );
        println!(
            "offered:                    {:>9.0} transfers/s ({} refused by pools)",
            row.offered, row.refused
        );
        println!(
            "finalized:                  {:>9.0} transfers/s ({} blocks)",
            row.finalized, row.blocks
        );
        println!(
            "finality lag (best - fin.): mean {:.2}, max {} blocks",
            row.mean_lag, row.max_lag
        );
        println!("raw sr25519 verify, 1 core: {raw:>9.0} signatures/s");
        println!(
            "finalized transfers / raw verification rate: {:.3}",
            row.finalized / raw
        );
        rows.push(row);
    }
    if rows.len() > 1 {
        println!("\n== curve: offered -> finalized ({slot_ms} ms slots, {seconds} s each) ==");
        println!("BENCH_RATE  offered/s  finalized/s  finalized blocks  mean lag  max lag");
        for row in &rows {
            println!(
                "{:>10}  {:>9.0}  {:>11.0}  {:>16}  {:>8.2}  {:>7}",
                row.rate, row.offered, row.finalized, row.blocks, row.mean_lag, row.max_lag
            );
        }
    }
}

/// A fresh network offered `rate` transfers per second for a warm-up and `seconds`.
async fn measure(rate: u64, seconds: u64, slot_ms: u64) -> Row {
    let mut spec = ChainSpec::dev_with_validators(VALIDATORS);
    spec.genesis.slot_duration_ms = slot_ms;
    for v in 0..VALIDATORS {
        spec.genesis.balances.extend(
            senders(v)
                .iter()
                .map(|p| (Address(p.public()), 1_000_000 * UNIT)),
        );
    }
    let validators = start_network(&spec).await;
    let mut generators: Vec<TransferGenerator> = (0..VALIDATORS)
        .map(|v| TransferGenerator::new(senders(v), v as u64))
        .collect();
    // Offer transfers every 100 ms, split evenly, for a warm-up slot and the measured window.
    let per_tick = (rate / 10 / VALIDATORS as u64).max(1) as usize;
    let warm_up = Duration::from_millis(slot_ms * 3);
    let started = Instant::now();
    let mut window_start: Option<(Instant, u32)> = None;
    let mut lags = Vec::new();
    let mut offered = 0u64;
    let mut refused = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < warm_up + Duration::from_secs(seconds) {
        tick.tick().await;
        for (validator, generator) in validators.iter().zip(&mut generators) {
            let batch: Vec<OpaqueExtrinsic> = {
                let client = validator.shared.client();
                generator.next_batch(&client, per_tick).unwrap()
            };
            let client = validator.shared.client();
            let mut pool = validator.shared.pool();
            for xt in batch {
                offered += 1;
                if client.submit(&mut pool, xt).is_err() {
                    refused += 1;
                    generator.reset_nonces();
                }
            }
        }
        let meta = validators[0].shared.client().info().unwrap();
        if started.elapsed() >= warm_up {
            window_start.get_or_insert_with(|| (Instant::now(), meta.finalized_number));
            lags.push(meta.best_number.saturating_sub(meta.finalized_number));
        }
    }
    let (window_began, finalized_before) = window_start.unwrap();
    let elapsed = window_began.elapsed().as_secs_f64();
    let meta = validators[0].shared.client().info().unwrap();
    let finalized_transfers = transfers_in(
        &validators[0].shared,
        finalized_before + 1,
        meta.finalized_number,
    );
    let blocks = meta.finalized_number - finalized_before;
    lags.sort_unstable();
    let mean_lag = lags.iter().map(|l| f64::from(*l)).sum::<f64>() / lags.len().max(1) as f64;
    let max_lag = lags.last().copied().unwrap_or_default();
    let tps = finalized_transfers as f64 / elapsed;

    let row = Row {
        rate,
        offered: offered as f64 / started.elapsed().as_secs_f64(),
        refused,
        finalized: tps,
        blocks,
        mean_lag,
        max_lag,
    };
    for validator in validators {
        validator.running.stop().await.unwrap();
    }
    row
}
