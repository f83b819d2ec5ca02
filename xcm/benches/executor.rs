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
use tessera_xcm::simulator::{account, ChainId, Event, Network, FEE_ACCOUNT, UNIT};
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

fn raw_writes(net: &mut Network) {
    let a_token = Location::sibling_para(1000);
    let bob = account(&Pair::dev("Bob").public());
    let fees = account(&FEE_ACCOUNT);
    for _ in 0..BATCH {
        net.with(ChainId::Para(1001), |ctx| {
            ChainConfig::<Event>::deposit_asset(
                ctx,
                &Asset::fungible(a_token.clone(), UNIT - 6_000_000),
                &bob,
            )
            .unwrap();
            ChainConfig::<Event>::deposit_asset(
                ctx,
                &Asset::fungible(a_token.clone(), 6_000_000),
                &fees,
            )
            .unwrap();
        });
    }
}

fn bench(c: &mut Criterion) {
    let bytes = message();
    let mut ours = network();
    let mut raw = network();
    let mut group = c.benchmark_group("xcm");
    group.sample_size(10);
    group.bench_function("reserve transfer messages (batch of 100)", |b| {
        b.iter(|| run_messages(&mut ours, &bytes))
    });
    group.bench_function("raw ledger writes (batch of 100)", |b| {
        b.iter(|| raw_writes(&mut raw))
    });
    group.finish();

    // In turns, so that neither measures in the other's leftovers.
    let (mut executed, mut written) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) || executed.len() < 5 {
        let mut ours = network();
        let mut raw = network();
        let at = Instant::now();
        run_messages(&mut ours, &bytes);
        executed.push(at.elapsed());
        let at = Instant::now();
        raw_writes(&mut raw);
        written.push(at.elapsed());
    }
    let median = |mut runs: Vec<Duration>| {
        runs.sort();
        runs[runs.len() / 2]
    };
    let (executed, written) = (median(executed), median(written));
    let per_second = |batch: Duration| BATCH as f64 / batch.as_secs_f64();
    println!("executor throughput (median of runs in turns, one block per message):");
    println!(
        "  reserve-transfer messages: {:>9.0} /s",
        per_second(executed)
    );
    println!(
        "  raw ledger writes:         {:>9.0} /s",
        per_second(written)
    );
    println!(
        "  ratio ours / raw:          {:>9.2}",
        per_second(executed) / per_second(written)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
