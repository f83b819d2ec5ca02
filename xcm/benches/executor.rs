//! Executor throughput: reserve-transfer messages (`ReserveAssetDeposited`, `ClearOrigin`,
//! `SetHints`, `BuyExecution`, `DepositAsset`, `SetTopic`, as `transfer_assets` sends them)
//! received and run by a simulated para, each in a block of its own, against the raw bound:
//! the same ledger writes (the beneficiary's and the fee account's credits) without decoding,
//! barrier, weighing, holding or events. The two run in turns and their medians are compared.
// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use parity_scale_codec::Encode;
use std::time::{Duration, Instant};
use tessera_runtime::crypto::Pair;
use tessera_xcm::executor::{Config, Outcome};
use tessera_xcm::module::ChainConfig;
use tessera_xcm::simulator::{
    account, ChainId, Event, Network, FEE_ACCOUNT, MESSAGE_WEIGHT_LIMIT, UNIT,
};
use tessera_xcm::v5::{
    Asset, AssetFilter, Assets, Hint, Instruction, Location, WeightLimit, WildAsset, Xcm,
};
use tessera_xcm::VersionedXcm;

const BATCH: usize = 100;

fn message() -> Vec<u8> {
    let a_token = Location::sibling_para(1000);
    let bob = account(&Pair::dev("Bob").public());
    let hints = tessera_xcm::v5::BoundedVec::new(vec![Hint::AssetClaimer {
        location: bob.clone(),
    }])
    .unwrap();
    VersionedXcm::V5(Xcm(vec![
        Instruction::ReserveAssetDeposited(
            Assets::from_unsorted(vec![Asset::fungible(a_token.clone(), UNIT)]).unwrap(),
        ),
        Instruction::ClearOrigin,
        Instruction::SetHints { hints },
        Instruction::BuyExecution {
            fees: Asset::fungible(a_token, UNIT),
            weight_limit: WeightLimit::Unlimited,
        },
        Instruction::DepositAsset {
            assets: AssetFilter::Wild(WildAsset::AllCounted(1)),
            beneficiary: bob,
        },
        Instruction::SetTopic([7; 32]),
    ]))
    .encode()
}

fn network() -> Network {
    Network::new(
        &[1000, 1001],
        &[Pair::dev("Alice").public(), Pair::dev("Bob").public()],
        1_000 * UNIT,
    )
}

fn run_messages(net: &mut Network, bytes: &[u8]) {
    for _ in 0..BATCH {
        let (_, outcome) = net.receive(ChainId::Para(1001), Location::sibling_para(1000), bytes);
        assert!(matches!(outcome, Outcome::Complete { .. }), "{outcome:?}");
    }
}

/// The ledger writes of one message: Bob's credit and the fee account's.
struct Writes {
    asset: Location,
    bob: Location,
    fees: Location,
}

impl Writes {
    fn new() -> Writes {
        // Deriving a dev key takes milliseconds: once, outside the measured loops.
        Writes {
            asset: Location::sibling_para(1000),
            bob: account(&Pair::dev("Bob").public()),
            fees: account(&FEE_ACCOUNT),
        }
    }

    fn apply(&self, ctx: &mut tessera_runtime::dispatch::Context<'_, Event>) {
        let credit = Asset::fungible(self.asset.clone(), UNIT - 6_000_000);
        ChainConfig::<Event>::deposit_asset(ctx, &credit, &self.bob).unwrap();
        let fee = Asset::fungible(self.asset.clone(), 6_000_000);
        ChainConfig::<Event>::deposit_asset(ctx, &fee, &self.fees).unwrap();
    }
}

fn raw_writes(net: &mut Network, writes: &Writes) {
    for _ in 0..BATCH {
        net.with(ChainId::Para(1001), |ctx| writes.apply(ctx));
    }
}

/// The batch in one block, as a para block that receives many messages runs them.
fn run_messages_in_one_block(net: &mut Network, bytes: &[u8]) {
    net.with(ChainId::Para(1001), |ctx| {
        for _ in 0..BATCH {
            let (_, outcome) = tessera_xcm::module::receive(
                ctx,
                Location::sibling_para(1000),
                bytes,
                MESSAGE_WEIGHT_LIMIT,
            )
            .unwrap();
            assert!(matches!(outcome, Outcome::Complete { .. }), "{outcome:?}");
        }
    });
}

fn raw_writes_in_one_block(net: &mut Network, writes: &Writes) {
    net.with(ChainId::Para(1001), |ctx| {
        for _ in 0..BATCH {
            writes.apply(ctx);
        }
    });
}

/// Medians of `ours` and `raw` run in turns on fresh networks for at least six seconds.
fn in_turns(ours: impl Fn(&mut Network), raw: impl Fn(&mut Network)) -> (f64, f64) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) || a.len() < 5 {
        let (mut first, mut second) = (network(), network());
        let at = Instant::now();
        ours(&mut first);
        a.push(at.elapsed());
        let at = Instant::now();
        raw(&mut second);
        b.push(at.elapsed());
    }
    let per_second = |mut runs: Vec<Duration>| {
        runs.sort();
        BATCH as f64 / runs[runs.len() / 2].as_secs_f64()
    };
    (per_second(a), per_second(b))
}

fn bench(c: &mut Criterion) {
    let bytes = message();
    let writes = Writes::new();
    let mut ours = network();
    let mut raw = network();
    let mut group = c.benchmark_group("xcm");
    group.sample_size(10);
    group.bench_function("reserve transfer messages (batch of 100)", |b| {
        b.iter(|| run_messages(&mut ours, &bytes))
    });
    group.bench_function("raw ledger writes (batch of 100)", |b| {
        b.iter(|| raw_writes(&mut raw, &writes))
    });
    group.finish();

    // In turns, so that neither measures in the other's leftovers.
    let (own_blocks, raw_own_blocks) = in_turns(
        |net| run_messages(net, &bytes),
        |net| raw_writes(net, &writes),
    );
    let (one_block, raw_one_block) = in_turns(
        |net| run_messages_in_one_block(net, &bytes),
        |net| raw_writes_in_one_block(net, &writes),
    );
    println!("executor throughput (medians of runs in turns):");
    println!("  one block per message: {own_blocks:>9.0} reserve transfers/s, raw ledger writes {raw_own_blocks:>9.0}/s, ratio {:.2}", own_blocks / raw_own_blocks);
    println!("  {BATCH} messages a block:  {one_block:>9.0} reserve transfers/s, raw ledger writes {raw_one_block:>9.0}/s, ratio {:.2}", one_block / raw_one_block);
}

criterion_group!(benches, bench);
criterion_main!(benches);
