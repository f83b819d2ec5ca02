//! Cross-para transfer latency: four validators and one collator node per dev para (template
//! 1000, example 1001, channels both ways) on loopback in this process; para 1000 sends Bob
//! a reserve transfer to para 1001, again and again. For each, the latency is the number of
//! relay blocks from the relay block that includes the sending para block to the relay block
//! that includes the para 1001 block crediting Bob (aim: 2 or fewer); and from the relay best
//! block when the transfer was submitted to the sending para's collator to that inclusion.
//!
//! `cargo bench -p tessera-node --bench xcm`. Knobs (environment): `BENCH_TRANSFERS` (default
//! 8), `BENCH_SLOT_MS` (relay slot, default 500), `BENCH_RECEIVER_DELAY_MS` (start the
//! receiver's collator this much after the sender's, default 0).

use example_parachain_runtime::{self as example, ExampleRuntime};
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::Decode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_node::client::Client;
use tessera_node::parachains::chain::ParaView;
use tessera_node::parachains::collator::Collate;
use tessera_node::parachains::{para_statuses, Collator, ParaChain};
use tessera_node::run::{spawn_loopback_collator, spawn_loopback_validators};
use tessera_node::service::Shared;
use tessera_node::store::MemoryDb;
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::parachain::ParaGenesis;
use tessera_runtime::Hash;
use tessera_xcm::module::{self as xcm, account_location, account_of, FOREIGN_BALANCES};
use tessera_xcm::v5::{Asset, AssetId, Assets, Location, WeightLimit};
use tessera_xcm::{VersionedAssets, VersionedLocation};

const CHAIN: &str = "xcm-bench";
const SENDER: ParaId = ParaId(1000);
const RECEIVER: ParaId = ParaId(1001);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn spec(slot_ms: u64) -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.slot_duration_ms = slot_ms;
    let paras = [
        (
            SENDER,
            ParaGenesis::dev(SENDER).head::<TemplateRuntime>().unwrap(),
            template::WASM_BINARY,
        ),
        (
            RECEIVER,
            ParaGenesis::dev(RECEIVER).head::<ExampleRuntime>().unwrap(),
            example::WASM_BINARY,
        ),
    ];
    for (id, head, code) in paras {
        spec.genesis.paras.push(GenesisPara {
            id: id.0,
            head: HexBytes(head.0),
            code: HexBytes(code.to_vec()),
        });
    }
    spec.genesis.open_all_channels();
    spec
}

fn client(spec: &ChainSpec) -> Client {
    Client::open(
        Box::new(MemoryDb::default()),
        &spec.build_genesis().unwrap(),
    )
    .unwrap()
}

/// The included head of `para` as `relay` sees it, and the relay best number.
fn included(relay: &Shared, para: ParaId) -> (Option<Hash>, u32) {
    let client = relay.client();
    let best = client.best_header().unwrap().number;
    let status = para_statuses(&client, None)
        .unwrap()
        .into_iter()
        .find(|s| s.id == para);
    (status.map(|s| s.included.hash), best)
}

/// The value under `key` decoded by `decode` at block `at` of `view`; `None` while the para
/// node has not imported that block yet (it follows the relay chain on its own ticks), so that
/// a lagging node is never read as a zero balance.
fn read<T: Default>(
    view: &Arc<Mutex<dyn ParaView>>,
    at: Option<Hash>,
    key: &[u8],
    decode: impl FnOnce(&[u8]) -> Option<T>,
) -> Option<T> {
    let Some(at) = at else {
        return Some(T::default());
    };
    let view = view.lock().unwrap();
    let bytes = view.storage(&at, key).ok()?;
    Some(bytes.and_then(|bytes| decode(&bytes)).unwrap_or_default())
}

fn read_u128(view: &Arc<Mutex<dyn ParaView>>, at: Option<Hash>, key: &[u8]) -> Option<u128> {
    read(view, at, key, |mut bytes| u128::decode(&mut bytes).ok())
}

fn read_free(view: &Arc<Mutex<dyn ParaView>>, at: Option<Hash>, key: &[u8]) -> Option<u128> {
    read(view, at, key, |mut bytes| {
        tessera_runtime::modules::system::AccountInfo::decode(&mut bytes)
            .ok()
            .map(|info| info.data.free)
    })
}

/// Polls `value` until the para node can answer it.
async fn settled(mut value: impl FnMut() -> Option<u128>) -> u128 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = value() {
            return value;
        }
        assert!(Instant::now() < deadline, "a para node never caught up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let transfers = env("BENCH_TRANSFERS", 8);
    let slot_ms = env("BENCH_SLOT_MS", 500);
    let receiver_delay_ms = env("BENCH_RECEIVER_DELAY_MS", 0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let spec = spec(slot_ms);
        let (shareds, mut bootnodes, mut tasks) =
            spawn_loopback_validators(CHAIN, &["Alice", "Bob", "Charlie", "Dave"], || client(&spec)).await.unwrap();
        let relay = shareds[0].clone();
        let (header, state) = ParaGenesis::dev(SENDER).build::<TemplateRuntime>().unwrap();
        let sender = Collator::new(ParaChain::in_memory(SENDER, header, state.new_nodes).unwrap(), Pair::dev("Ferdie"));
        let sender_view = sender.view();
        let (header, state) = ParaGenesis::dev(RECEIVER).build::<ExampleRuntime>().unwrap();
        let receiver = Collator::new(ParaChain::in_memory(RECEIVER, header, state.new_nodes).unwrap(), Pair::dev("Eve"));
        let receiver_view = receiver.view();
        let node = spawn_loopback_collator(CHAIN, client(&spec), &mut bootnodes, Box::new(sender));
        tasks.push(node.await.unwrap().1);
        // A later start puts the receiver's blocks out of step with the sender's.
        tokio::time::sleep(Duration::from_millis(receiver_delay_ms)).await;
        let node = spawn_loopback_collator(CHAIN, client(&spec), &mut bootnodes, Box::new(receiver));
        tasks.push(node.await.unwrap().1);

        let alice = Pair::dev("Alice");
        let bob = Pair::dev("Bob").public();
        let sovereign_key = tessera_runtime::modules::system::ACCOUNT.key(&account_of(&Location::sibling_para(RECEIVER.0)).unwrap());
        let credit_key = FOREIGN_BALANCES.key(&(AssetId(Location::sibling_para(SENDER.0)), bob));
        let genesis_hash = sender_view.lock().unwrap().canonical_hash(0).unwrap();
        let mut latencies = Vec::new();
        let mut end_to_end = Vec::new();
        let started = Instant::now();
        for nonce in 0..transfers {
            let sent_before = settled(|| read_free(&sender_view, included(&relay, SENDER).0, &sovereign_key)).await;
            let credited_before = settled(|| read_u128(&receiver_view, included(&relay, RECEIVER).0, &credit_key)).await;
            let call = template::Call::PolkadotXcm(xcm::Call::TransferAssets {
                dest: VersionedLocation::V5(Location::sibling_para(RECEIVER.0)),
                beneficiary: VersionedLocation::V5(account_location(&bob)),
                assets: VersionedAssets::V5(Assets::from_unsorted(vec![Asset::fungible(Location::here(), template::UNIT)]).unwrap()),
                fee_asset_item: 0,
                weight_limit: WeightLimit::Unlimited,
            });
            sender_view.lock().unwrap().submit(template::sign(&alice, call, nonce, genesis_hash)).unwrap();
            let submitted_at = included(&relay, SENDER).1;
            let deadline = Instant::now() + Duration::from_secs(120);
            // The relay block each included head was first seen at: a para node may import a
            // head a little after the relay chain includes it.
            let mut first_seen: HashMap<Option<Hash>, u32> = HashMap::new();
            let mut sent_at = None;
            loop {
                assert!(Instant::now() < deadline, "transfer {nonce} did not arrive");
                let (head, best) = included(&relay, SENDER);
                let seen = *first_seen.entry(head).or_insert(best);
                if sent_at.is_none() && read_free(&sender_view, head, &sovereign_key).is_some_and(|sent| sent > sent_before) {
                    sent_at = Some(seen);
                }
                let (head, best) = included(&relay, RECEIVER);
                let seen = *first_seen.entry(head).or_insert(best);
                if read_u128(&receiver_view, head, &credit_key).is_some_and(|credit| credit > credited_before) {
                    let sent_at = sent_at.unwrap_or(seen);
                    latencies.push(seen.saturating_sub(sent_at));
                    end_to_end.push(seen.saturating_sub(submitted_at));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let elapsed = started.elapsed();
        latencies.sort_unstable();
        println!("cross-para transfer latency ({transfers} transfers, {slot_ms} ms relay slots, {elapsed:.1?}):");
        println!("  relay blocks from the sender's inclusion to the credit's inclusion: {latencies:?}");
        println!("  median {}, worst {}", latencies[latencies.len() / 2], latencies[latencies.len() - 1]);
        end_to_end.sort_unstable();
        println!("  relay blocks from the submission to the credit's inclusion: {end_to_end:?}");
        println!("  median {}, worst {}", end_to_end[end_to_end.len() / 2], end_to_end[end_to_end.len() - 1]);
        for running in tasks {
            running.stop().await.unwrap();
        }
    });
}
