//! Validating a template para block of 1,000 transfers: the Wasm validation function under
//! wasmtime against the same function compiled natively.
//!
//! `cargo bench -p tessera-node --bench validation` runs criterion's group, then prints one
//! summary measured in the same run, the two run in turns: the median time of each, and the
//! ratio Wasm / native (the aim is 1.5 or less). Both start from the encoded validation parameters (parent head, block
//! and storage proof) and re-execute the block statelessly; the Wasm side also instantiates the
//! (cached) module and copies the parameters into it. The one-off compile time of the blob is
//! printed too.
//!
//! It then prints what an approval check of the same candidate costs beside validation alone,
//! measured in turns in one run: recovering the available data for 1,000 validators (from a
//! backer's whole copy, checked by recomputing the erasure root; or, the worst case, from the
//! last third of the chunks, all recovery shards, each proof checked, rebuilt and its root
//! recomputed), then validating it in Wasm.
//!
//! Last, what a para node does through the para's runtime API beside the same work natively:
//! importing the block, building it with its proof, checking one transaction and a batch.

use criterion::{Criterion, Throughput};
use parachain_template_runtime::{self as template, GenesisConfig, TemplateRuntime, WASM_BINARY};
use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_node::validation::{ValidationHost, ValidationLimits, ValidationPurpose};
use tessera_relay_chain::availability::{encode_chunks, AvailableData, ErasureChunk};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::{execute_block, Executive};
use tessera_runtime::messaging::RelayInputs;
use tessera_runtime::modules::balances;
use tessera_runtime::parachain::{
    build_block, build_block_with, prove_block, relay_inputs_inherent, BlockData, BuildOptions,
    HeadData, ParaId, ValidationCode, ValidationParams,
};
use tessera_runtime::parachain::{PersistedValidationData, PoV};
use tessera_runtime::state::{NodeStore, State};
use tessera_runtime::wasm::{BuildRequest, ValidateRequest};
use tessera_runtime::{Block, Hash, Header, OpaqueExtrinsic};
use tessera_validity::recovery::{Recovery, Request};

mod common;
use common::median_pair;

const TRANSFERS: usize = 1_000;

/// A template para's state with 1,000 funded senders, its head, and a block of 1,000 transfers
/// (one from each) on it.
struct Fixture {
    nodes: BTreeMap<Hash, Vec<u8>>,
    parent: Header,
    block: Block,
}

/// A template block of 1,000 transfers from 1,000 distinct funded senders, as parameters, and
/// the state it builds on.
fn params() -> (ValidationParams, Fixture) {
    let pairs: Vec<Pair> = (1..=TRANSFERS)
        .map(|i| Pair::from_uri(&format!("0x{i:064x}")).unwrap())
        .collect();
    let mut config = GenesisConfig::dev(ParaId(1000));
    config
        .balances
        .extend(pairs.iter().map(|p| (p.public(), 1_000 * template::UNIT)));
    let (parent, changes) = template::genesis(&config).unwrap();
    let nodes: BTreeMap<Hash, Vec<u8>> = changes.new_nodes.into_iter().collect();
    let extrinsics: Vec<_> = pairs
        .iter()
        .enumerate()
        .map(|(i, pair)| {
            let dest = pairs[(i + 1) % pairs.len()].public();
            let call = template::Call::Balances(balances::Call::Transfer {
                dest: dest.into(),
                value: template::UNIT,
            });
            template::sign(pair, call, 0, parent.hash())
        })
        .collect();
    let inputs = RelayInputs::empty(1);
    let relay_parent_storage_root = inputs.relay_parent_storage_root;
    let extrinsics: Vec<_> = std::iter::once(relay_inputs_inherent::<TemplateRuntime>(inputs))
        .chain(extrinsics)
        .collect();
    let built = build_block::<TemplateRuntime>(&nodes, &parent, &extrinsics, None).unwrap();
    assert_eq!(built.block.extrinsics.len(), TRANSFERS + 1);
    let block = built.block.clone();
    let data = prove_block::<TemplateRuntime>(&nodes, parent.state_root, built.block).unwrap();
    let params = ValidationParams {
        parent_head: HeadData(parent.encode()),
        block_data: BlockData(data.encode()),
        relay_parent_number: 1,
        relay_parent_storage_root,
    };
    (
        params,
        Fixture {
            nodes,
            parent,
            block,
        },
    )
}

/// A node's work through the para's Wasm (`:code`) beside the same work natively, measured in
/// turns: importing the block on the full state, building it (with the proof, as a collator
/// does), checking one transaction (what each RPC submission costs) and 1,000 in one batch.
fn runtime_api(fixture: &Fixture, host: &ValidationHost) {
    let Fixture {
        nodes,
        parent,
        block,
    } = fixture;
    let code_hash = ValidationCode(WASM_BINARY.to_vec()).hash();
    let shared: Arc<dyn NodeStore> = Arc::new(nodes.clone());
    let code = || Ok(WASM_BINARY.to_vec());
    let min = Duration::from_secs(4);
    println!();
    println!("the node's runtime calls, wasm (the para's :code) vs native, median of turns:");
    let row = |what: &str, (native, wasm): (Duration, Duration)| {
        println!(
            "  {what:<34} native {native:>9.2?}  wasm {wasm:>9.2?}  ratio {:.2}",
            wasm.as_secs_f64() / native.as_secs_f64()
        );
    };
    row(
        "import 1,000 transfers",
        median_pair(
            min,
            || {
                execute_block::<TemplateRuntime>(nodes, parent.state_root, block, false).unwrap();
            },
            || {
                host.execute_block(
                    code_hash,
                    code,
                    shared.clone(),
                    parent.state_root,
                    block,
                    false,
                )
                .unwrap();
            },
        ),
    );
    let deadline = || Instant::now() + Duration::from_secs(60);
    row(
        "build 1,000 transfers, with proof",
        median_pair(
            min,
            || {
                let options = BuildOptions {
                    record_proof: true,
                    out_of_time: &mut || false,
                };
                build_block_with::<TemplateRuntime>(
                    nodes,
                    parent,
                    &block.extrinsics,
                    None,
                    options,
                )
                .unwrap();
            },
            || {
                let request = BuildRequest {
                    parent: parent.clone(),
                    author: None,
                    extrinsics: block.extrinsics.clone(),
                    pre_runtime: Vec::new(),
                };
                host.build_block(code_hash, code, shared.clone(), &request, true, deadline())
                    .unwrap();
            },
        ),
    );
    let check = |count: usize| {
        let transactions: Vec<OpaqueExtrinsic> = block.extrinsics[1..=count].to_vec();
        let request = ValidateRequest {
            parent_hash: parent.hash(),
            number: parent.number + 1,
            transactions: transactions.clone(),
            check_signatures: true,
        };
        median_pair(
            min,
            || {
                let state = State::new(nodes, parent.state_root);
                let mut executive =
                    Executive::<TemplateRuntime>::initialize(state, 1, parent.hash(), None)
                        .unwrap();
                for xt in &transactions {
                    executive.validate(xt).unwrap();
                }
            },
            || {
                host.validate_transactions(
                    code_hash,
                    code,
                    shared.clone(),
                    parent.state_root,
                    &request,
                )
                .unwrap();
            },
        )
    };
    row("check 1 transaction (a submission)", check(1));
    row("check 1,000 transactions in a batch", check(TRANSFERS));
}

fn host() -> ValidationHost {
    ValidationHost::new(ValidationLimits::default()).unwrap()
}

fn benches(c: &mut Criterion, params: &ValidationParams, host: &ValidationHost) {
    let code_hash = ValidationCode(WASM_BINARY.to_vec()).hash();
    let mut group = c.benchmark_group("validate_1000_transfers");
    group
        .throughput(Throughput::Elements(TRANSFERS as u64))
        .sample_size(20);
    group.bench_function("native", |b| {
        b.iter(|| template::validate(params.clone()).unwrap())
    });
    group.bench_function("wasm (wasmtime)", |b| {
        b.iter(|| {
            host.validate(code_hash, WASM_BINARY, params, ValidationPurpose::Backing)
                .unwrap()
        })
    });
    group.finish();
}

fn main() {
    let (params, fixture) = params();
    let host = host();
    let code_hash = ValidationCode(WASM_BINARY.to_vec()).hash();
    let started = Instant::now();
    host.prepare(code_hash, WASM_BINARY).unwrap();
    let compile = started.elapsed();

    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &params, &host);
    criterion.final_summary();

    let (native, wasm) = median_pair(
        Duration::from_secs(6),
        || {
            template::validate(params.clone()).unwrap();
        },
        || {
            host.validate(code_hash, WASM_BINARY, &params, ValidationPurpose::Backing)
                .unwrap();
        },
    );
    println!();
    println!(
        "summary, {TRANSFERS} transfers, PoV {} KiB, blob {} KiB:",
        params.block_data.0.len() / 1024,
        WASM_BINARY.len() / 1024
    );
    println!("  compile the blob once (cranelift): {compile:.2?}");
    println!("  native validate_block:             {native:.2?}");
    println!("  wasm validate_block (wasmtime):    {wasm:.2?}");
    println!(
        "  ratio wasm / native:               {:.2} (aim: at most 1.5)",
        wasm.as_secs_f64() / native.as_secs_f64()
    );
    approval_check(&params, &host);
    runtime_api(&fixture, &host);
}

/// Validators the approval check's data is coded for.
const VALIDATORS: u32 = 1_000;

/// Recovers `available` through a [`Recovery`] whose answers come from `chunks` (none from
/// the backer) or from the backer's `full` copy.
fn recover(root: Hash, chunks: &[ErasureChunk], full: Option<&AvailableData>) -> AvailableData {
    // The backer is validator 0; with no copy it is silent, and the chunks come from the last
    // third of validators, as if the first two thirds withheld theirs.
    let mut recovery = Recovery::new(root, VALIDATORS, &[0], 0).unwrap();
    let from_last = VALIDATORS as usize - chunks.len();
    loop {
        let requests = recovery.requests(64);
        if let Some(outcome) = recovery.take_outcome() {
            return outcome.unwrap();
        }
        for request in requests {
            match request {
                Request::Full { from } => {
                    recovery.on_full(from, full.cloned());
                }
                Request::Chunk { from } => {
                    let chunk = (from as usize)
                        .checked_sub(from_last)
                        .and_then(|i| chunks.get(i))
                        .cloned();
                    recovery.on_chunk(from, chunk);
                }
            }
        }
    }
}

fn approval_check(params: &ValidationParams, host: &ValidationHost) {
    let code_hash = ValidationCode(WASM_BINARY.to_vec()).hash();
    let available = AvailableData {
        pov: PoV {
            block_data: params.block_data.clone(),
        },
        validation_data: PersistedValidationData {
            parent_head: params.parent_head.clone(),
            relay_parent_number: params.relay_parent_number,
            relay_parent_storage_root: params.relay_parent_storage_root,
            max_pov_size: 5 << 20,
        },
    };
    let (root, chunks) = encode_chunks(&available.encode(), VALIDATORS as usize).unwrap();
    let threshold = (VALIDATORS as usize - 1) / 3 + 1;
    let last = chunks[chunks.len() - threshold..].to_vec();
    let validate = |data: &AvailableData| {
        let params = ValidationParams {
            parent_head: data.validation_data.parent_head.clone(),
            block_data: data.pov.block_data.clone(),
            relay_parent_number: data.validation_data.relay_parent_number,
            relay_parent_storage_root: data.validation_data.relay_parent_storage_root,
        };
        host.validate(code_hash, WASM_BINARY, &params, ValidationPurpose::Approval)
            .unwrap();
    };
    let timed = |op: &dyn Fn()| {
        let started = Instant::now();
        op();
        started.elapsed()
    };
    let alone = || validate(&available);
    let from_backer = || validate(&recover(root, &last, Some(&available)));
    let from_chunks = || validate(&recover(root, &last, None));
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) || a.len() < 5 {
        a.push(timed(&alone));
        b.push(timed(&from_backer));
        c.push(timed(&from_chunks));
    }
    let median = |mut runs: Vec<Duration>| {
        runs.sort();
        runs[runs.len() / 2]
    };
    let (alone, from_backer, from_chunks) = (median(a), median(b), median(c));
    println!();
    println!(
        "approval check, {VALIDATORS} validators, available data {} KiB, medians in turns:",
        available.encoded_size() / 1024
    );
    println!("  validation alone (wasm):                  {alone:.2?}");
    println!(
        "  recovery from a backer + validation:      {from_backer:.2?} ({:.2}x)",
        from_backer.as_secs_f64() / alone.as_secs_f64()
    );
    println!(
        "  recovery from {threshold} chunks + validation:    {from_chunks:.2?} ({:.2}x)",
        from_chunks.as_secs_f64() / alone.as_secs_f64()
    );
}
