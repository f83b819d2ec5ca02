//! Para transfers finalized per second: four validators and a collator node running both dev
//! paras (the template as 1000, the example as 1001) on loopback in this process, with the
//! collator filling each para block with signed transfers between the dev accounts.
//!
//! `cargo bench -p tessera-node --bench paras` (or `make bench`). A para transfer counts once
//! the relay block that included its para block is finalized; the relay-inputs inherent is not
//! counted. Knobs (environment): `BENCH_SECONDS` (measured window, default 30),
//! `BENCH_PARA_TRANSFERS` (transfers offered per para block, default 1000; a comma-separated
//! list runs a fresh network for each and ends with the curve of offered against finalized,
//! so a cliff shows), `BENCH_SLOT_MS` (relay slot, default 1000), `BENCH_PARA_STORE` (`memory`,
//! the default, or `rocksdb`: the collator keeps each para's chain in RocksDB in a temporary
//! directory, as the node does). Candidates the collator
//! dropped are counted by reason (`RUST_LOG=tessera_node::parachains=info` says each). The
//! relay chain's finality lag (best minus finalized) is sampled at a validator throughout:
//! finality waits for approval checking, so this is its cost under the load.

use example_parachain_runtime::{self as example, ExampleRuntime};
use parachain_template_runtime::{self as template, TemplateRuntime};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_node::client::Client;
use tessera_node::network::NetworkConfig;
use tessera_node::parachains::chain::ParaView;
use tessera_node::parachains::collator::Collate;
use tessera_node::parachains::{para_statuses, Collator, ParaChain};
use tessera_node::run::{spawn_loopback_validators, Node};
use tessera_node::service::Shared;
use tessera_node::store::{Database, MemoryDb, RocksDb};
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::parachain::ParaGenesis;

const PARAS: [ParaId; 2] = [ParaId(1000), ParaId(1001)];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const CHAIN: &str = "paras-bench";

fn network(bootnodes: Vec<libp2p::Multiaddr>) -> NetworkConfig {
    NetworkConfig::loopback(CHAIN, bootnodes)
}

fn example_genesis() -> ParaGenesis {
    ParaGenesis {
        sudo: None,
        ..ParaGenesis::dev(PARAS[1])
    }
}

/// Finalized para number of each para, as the relay node `shared` sees it.
fn finalized(shared: &Shared) -> Vec<u32> {
    let statuses = para_statuses(&shared.client(), None).unwrap();
    PARAS
        .iter()
        .map(|id| {
            statuses
                .iter()
                .find(|s| s.id == *id)
                .and_then(|s| s.finalized)
                .and_then(|h| h.number)
                .unwrap_or(0)
        })
        .collect()
}

/// Transfers (extrinsics after the relay-inputs inherent) in para blocks `from+1..=to`.
fn transfers(view: &Arc<Mutex<dyn ParaView>>, from: u32, to: u32) -> usize {
    let view = view.lock().unwrap();
    (from + 1..=to)
        .filter_map(|n| view.canonical_hash(n))
        .filter_map(|hash| view.block(&hash))
        .map(|block| block.extrinsics.len().saturating_sub(1))
        .sum()
}

/// One measured run: para blocks and transfers finalized for each para, relay blocks
/// finalized, seconds, and candidates dropped by reason.
struct Run {
    per_block: usize,
    blocks: Vec<u32>,
    transfers: Vec<usize>,
    relay_blocks: u32,
    elapsed: f64,
    dropped: String,
    /// Relay finality lag (best minus finalized, in blocks) sampled at a validator: mean, max.
    lag: (f64, u32),
}

fn main() {
    // Node logs on stderr with RUST_LOG (e.g. RUST_LOG=tessera_node=debug).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let seconds = env("BENCH_SECONDS", 30);
    let loads: Vec<usize> = std::env::var("BENCH_PARA_TRANSFERS")
        .unwrap_or_else(|_| "1000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let slot_ms = env("BENCH_SLOT_MS", 1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runs = Vec::new();
    for per_block in loads {
        let run = runtime.block_on(measure(per_block, seconds, slot_ms));
        println!();
        println!(
            "== para transfers finalized: 4 validators + a collator node on loopback, {slot_ms} ms relay slots, {per_block} transfers offered per para block, {:.0} s ==",
            run.elapsed
        );
        for (i, para) in PARAS.iter().enumerate() {
            println!(
                "para {}: {} para blocks finalized over {} relay blocks, {} transfers, {:.0} transfers/s",
                para.0,
                run.blocks[i],
                run.relay_blocks,
                run.transfers[i],
                run.transfers[i] as f64 / run.elapsed
            );
        }
        println!(
            "both paras: {:.0} finalized para transfers/s; candidates dropped: {}",
            run.total() as f64 / run.elapsed,
            run.dropped
        );
        println!(
            "relay finality lag (best - finalized, with approval checking): mean {:.2}, max {} blocks",
            run.lag.0, run.lag.1
        );
        runs.push(run);
    }
    if runs.len() > 1 {
        println!("\n== curve: offered per para block -> finalized ({slot_ms} ms slots, {seconds} s each) ==");
        println!("offered/block  para blocks (1000, 1001)  relay blocks  finalized transfers/s (both)  dropped");
        for run in &runs {
            println!(
                "{:>13}  {:>24}  {:>12}  {:>28.0}  {}",
                run.per_block,
                format!("{}, {}", run.blocks[0], run.blocks[1]),
                run.relay_blocks,
                run.total() as f64 / run.elapsed,
                run.dropped
            );
        }
    }
}

impl Run {
    fn total(&self) -> usize {
        self.transfers.iter().sum()
    }
}

/// A fresh network whose collator offers `per_block` transfers to each para block, measured
/// for `seconds` after both paras finalized a block (or gave up after 60 s of warm-up).
async fn measure(per_block: usize, seconds: u64, slot_ms: u64) -> Run {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.slot_duration_ms = slot_ms;
    spec.genesis.paras = vec![
        GenesisPara {
            id: PARAS[0].0,
            head: HexBytes(
                ParaGenesis::dev(PARAS[0])
                    .head::<TemplateRuntime>()
                    .unwrap()
                    .0,
            ),
            code: HexBytes(template::WASM_BINARY.to_vec()),
        },
        GenesisPara {
            id: PARAS[1].0,
            head: HexBytes(example_genesis().head::<ExampleRuntime>().unwrap().0),
            code: HexBytes(example::WASM_BINARY.to_vec()),
        },
    ];
    let genesis = spec.build_genesis().unwrap();
    let client = || Client::open(Box::new(MemoryDb::default()), &genesis).unwrap();
    let validators = ["Alice", "Bob", "Charlie", "Dave"];
    let (shareds, bootnodes, mut stops) = spawn_loopback_validators(CHAIN, &validators, client)
        .await
        .unwrap();
    let alice = shareds[0].clone();
    let para_dir = tempfile::tempdir().unwrap();
    let para_db = |para: ParaId| -> Box<dyn Database> {
        match std::env::var("BENCH_PARA_STORE").as_deref() {
            Ok("rocksdb") => {
                Box::new(RocksDb::open(&para_dir.path().join(para.0.to_string())).unwrap())
            }
            _ => Box::<MemoryDb>::default(),
        }
    };
    let (header, state) = ParaGenesis::dev(PARAS[0])
        .build::<TemplateRuntime>()
        .unwrap();
    let chain = ParaChain::open(PARAS[0], para_db(PARAS[0]), header, state.new_nodes);
    let mut template_collator = Collator::new(chain.unwrap(), Pair::dev("Ferdie"));
    let (header, state) = example_genesis().build::<ExampleRuntime>().unwrap();
    let chain = ParaChain::open(PARAS[1], para_db(PARAS[1]), header, state.new_nodes);
    let mut example_collator = Collator::new(chain.unwrap(), Pair::dev("Ferdie"));
    template_collator.set_dev_transfers(per_block);
    example_collator.set_dev_transfers(per_block);
    let views = [template_collator.view(), example_collator.view()];
    let shared = Arc::new(Shared::new(client(), "bench".into()));
    let mut node = Node::start(shared.clone(), network(bootnodes.clone()), None).unwrap();
    node.listening().await.unwrap();
    node.add_collator(Box::new(template_collator));
    node.add_collator(Box::new(example_collator));
    stops.push(node.spawn());

    // Warm up: both paras finalized a block (modules compiled, peers meshed).
    let warm_up = Instant::now();
    while finalized(&alice).iter().any(|n| *n < 1) && warm_up.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let start = finalized(&alice);
    let relay_start = alice.client().info().unwrap().finalized_number;
    let started = Instant::now();
    // Finality waits for approval checking: its lag under this load, sampled 4 times a slot.
    let mut lags = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(slot_ms / 4)).await;
        let meta = alice.client().info().unwrap();
        lags.push(meta.best_number.saturating_sub(meta.finalized_number));
    }
    let end = finalized(&alice);
    let elapsed = started.elapsed().as_secs_f64();
    let relay_end = alice.client().info().unwrap().finalized_number;
    let run = Run {
        per_block,
        blocks: (0..PARAS.len()).map(|i| end[i] - start[i]).collect(),
        transfers: views
            .iter()
            .enumerate()
            .map(|(i, view)| transfers(view, start[i], end[i]))
            .collect(),
        relay_blocks: relay_end - relay_start,
        elapsed,
        dropped: dropped(&shared),
        lag: (
            lags.iter().map(|l| f64::from(*l)).sum::<f64>() / lags.len().max(1) as f64,
            lags.iter().copied().max().unwrap_or(0),
        ),
    };
    for running in stops {
        running.stop().await.unwrap();
    }
    run
}

/// The collator node's `candidates_dropped` counters, as `reason=count` pairs.
fn dropped(shared: &Shared) -> String {
    let text = shared.metrics.render();
    let counts: Vec<String> = text
        .lines()
        .filter(|line| line.starts_with("tessera_candidates_dropped_total{"))
        .map(|line| {
            let para = line
                .split("para=\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            let reason = line
                .split("reason=\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            let count = line.rsplit(' ').next().unwrap_or("?");
            format!("{}:{}={count}", para.unwrap_or("?"), reason.unwrap_or("?"))
        })
        .collect();
    if counts.is_empty() {
        "none".into()
    } else {
        counts.join(" ")
    }
}
