//! Block import of 1,000 transfers against the raw schnorrkel verification bound, and proof
//! recording and proof-only re-execution of the same block.
//!
//! `cargo bench -p tessera-node --bench import` runs criterion's groups, then prints one summary
//! measured in the same run: transfers per second imported (through the relay runtime's Wasm,
//! as the node does) beside signatures per second verified by schnorrkel alone and in a batch,
//! with the ratio, and the block's execution through the Wasm beside the same runtime compiled
//! natively (the aim is 1.3 or less). Both sides start from bytes (keys and signatures are
//! parsed in the timed part) and both have 1,000 distinct signers.

use criterion::{BatchSize, Criterion, Throughput};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::pool::Pool;
use tessera_node::store::{MemoryDb, RocksDb};
use tessera_node::validation::{with_runtime_at, CodeSubstitutes};
use tessera_node::workload::TransferGenerator;
use tessera_relay_chain::{Address, ChainSpec, Genesis, RelayRuntime, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::execute_block;
use tessera_runtime::{Block, Header};

mod common;
use common::median_pair;

const TRANSFERS: usize = 1_000;
/// Distinct funded senders: blocks of real chains come from many accounts.
const ACCOUNTS: u32 = 1_000;

struct Fixture {
    genesis: Genesis,
    parent: Header,
    block: Block,
    client: Client,
}

fn bench_pairs() -> Vec<Pair> {
    (1..=ACCOUNTS)
        .map(|i| Pair::from_uri(&format!("0x{i:064x}")).unwrap())
        .collect()
}

fn fixture() -> Fixture {
    let pairs = bench_pairs();
    let mut spec = ChainSpec::dev();
    spec.genesis
        .balances
        .extend(pairs.iter().map(|p| (Address(p.public()), 1_000 * UNIT)));
    let genesis = spec.build_genesis().unwrap();
    let mut client = Client::open(Box::new(MemoryDb::default()), &genesis).unwrap();
    client
        .set_author(AuthorityKey::from_pair(&Pair::dev("Alice")))
        .unwrap();
    let mut pool = Pool::default();
    for xt in TransferGenerator::new(pairs, 1)
        .next_batch(&client, TRANSFERS)
        .unwrap()
    {
        client.submit(&mut pool, xt).unwrap();
    }
    let parent = client.best_header().unwrap();
    let block = client.author_next(&mut pool).unwrap().block;
    assert_eq!(block.extrinsics.len(), TRANSFERS);
    Fixture {
        genesis,
        parent,
        block,
        client,
    }
}

/// What a verifier receives: message, signature bytes and public key bytes, 1,000 signers.
struct Signed {
    message: Vec<u8>,
    signature: [u8; 64],
    public: [u8; 32],
}

fn signatures() -> Vec<Signed> {
    let context = schnorrkel::signing_context(b"substrate");
    (0..TRANSFERS as u32)
        .map(|i| {
            let keypair = schnorrkel::Keypair::generate();
            let message = i.to_le_bytes().repeat(30);
            let signature = keypair.sign(context.bytes(&message)).to_bytes();
            Signed {
                message,
                signature,
                public: keypair.public.to_bytes(),
            }
        })
        .collect()
}

fn verify_single(signed: &[Signed]) {
    for item in signed {
        let public = schnorrkel::PublicKey::from_bytes(&item.public).unwrap();
        let signature = schnorrkel::Signature::from_bytes(&item.signature).unwrap();
        public
            .verify_simple(b"substrate", &item.message, &signature)
            .unwrap();
    }
}

fn verify_batch(signed: &[Signed]) {
    let context = schnorrkel::signing_context(b"substrate");
    let transcripts = signed.iter().map(|item| context.bytes(&item.message));
    let signatures: Vec<_> = signed
        .iter()
        .map(|i| schnorrkel::Signature::from_bytes(&i.signature).unwrap())
        .collect();
    let publics: Vec<_> = signed
        .iter()
        .map(|i| schnorrkel::PublicKey::from_bytes(&i.public).unwrap())
        .collect();
    schnorrkel::verify_batch(transcripts, &signatures, &publics, false).unwrap();
}

fn import_fresh(genesis: &Genesis, block: &Block) {
    let mut client = Client::open(Box::new(MemoryDb::default()), genesis).unwrap();
    client.import_block(block).unwrap();
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let signed = signatures();

    let mut group = c.benchmark_group("import_1000_transfers");
    group
        .throughput(Throughput::Elements(TRANSFERS as u64))
        .sample_size(20);
    group.bench_function("import (memory store)", |b| {
        b.iter_batched(
            || Client::open(Box::new(MemoryDb::default()), &f.genesis).unwrap(),
            |mut client| client.import_block(&f.block).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("import (rocksdb, synced)", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let db = RocksDb::open(dir.path()).unwrap();
                (dir, Client::open(Box::new(db), &f.genesis).unwrap())
            },
            |(_dir, mut client)| client.import_block(&f.block).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("schnorrkel verify, one by one", |b| {
        b.iter(|| verify_single(&signed))
    });
    group.bench_function("schnorrkel verify, batch", |b| {
        b.iter(|| verify_batch(&signed))
    });
    group.finish();

    let mut group = c.benchmark_group("proof_1000_transfers");
    group
        .throughput(Throughput::Elements(TRANSFERS as u64))
        .sample_size(20);
    let store = f.client.store();
    group.bench_function("execute", |b| {
        b.iter(|| {
            execute_block::<RelayRuntime>(store, f.parent.state_root, &f.block, false).unwrap()
        })
    });
    group.bench_function("execute and record proof", |b| {
        b.iter(|| {
            execute_block::<RelayRuntime>(store, f.parent.state_root, &f.block, true).unwrap()
        })
    });
    let proof = execute_block::<RelayRuntime>(store, f.parent.state_root, &f.block, true)
        .unwrap()
        .proof
        .unwrap();
    let proof_store = proof.clone().into_store();
    group.bench_function("re-execute against proof only", |b| {
        b.iter(|| {
            execute_block::<RelayRuntime>(&proof_store, f.parent.state_root, &f.block, false)
                .unwrap()
        })
    });
    group.finish();
    println!(
        "proof of a {TRANSFERS}-transfer block: {} nodes, {} KiB",
        proof.nodes.len(),
        proof.encoded_size() / 1024
    );
}

/// Mean time of `op` over at least `min` of wall time.
fn mean(min: Duration, mut op: impl FnMut()) -> Duration {
    op();
    let started = Instant::now();
    let mut runs = 0u32;
    while started.elapsed() < min {
        op();
        runs += 1;
    }
    started.elapsed() / runs
}

fn summary() {
    let f = fixture();
    let signed = signatures();
    let window = Duration::from_secs(3);
    let import = mean(window, || import_fresh(&f.genesis, &f.block));
    let open = mean(window, || {
        drop(Client::open(Box::new(MemoryDb::default()), &f.genesis).unwrap())
    });
    let import = import.saturating_sub(open);
    let single = mean(window, || verify_single(&signed));
    let batch = mean(window, || verify_batch(&signed));
    let rate = |d: Duration| TRANSFERS as f64 / d.as_secs_f64();
    println!("\n== block import of {TRANSFERS} transfers (one core, same run) ==");
    println!(
        "import (memory store):       {:>9.0} transfers/s",
        rate(import)
    );
    println!(
        "schnorrkel verify one by one: {:>9.0} signatures/s",
        rate(single)
    );
    println!(
        "schnorrkel verify in batch:   {:>9.0} signatures/s",
        rate(batch)
    );
    println!(
        "import / batch bound: {:.0}%   import / single bound: {:.0}%  (aim: >= 70% of batch)",
        100.0 * rate(import) / rate(batch),
        100.0 * rate(import) / rate(single)
    );

    // The same execution (no store writes) natively and through the relay blob under `:code`,
    // in turns; the module is compiled once, before.
    let store = f.client.store();
    let root = f.parent.state_root;
    let through_wasm = || {
        with_runtime_at(
            Arc::new(store.clone()),
            root,
            &CodeSubstitutes::NONE,
            |host, code_hash, code, nodes| {
                host.execute_block(code_hash, code, nodes, root, &f.block, false)
            },
        )
        .unwrap()
    };
    let (native, wasm) = median_pair(
        window,
        || drop(execute_block::<RelayRuntime>(store, root, &f.block, false).unwrap()),
        || drop(through_wasm()),
    );
    println!(
        "execution, native:           {:>9.0} transfers/s\n\
         execution, relay Wasm:       {:>9.0} transfers/s\n\
         ratio wasm / native: {:.2}  (aim: at most 1.3)",
        rate(native),
        rate(wasm),
        wasm.as_secs_f64() / native.as_secs_f64()
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    summary();
}
