//! XCM across a live loopback network: four relay validators, the template para (1000) and
//! the example para (1001) with HRMP channels both ways, one collator node each. Assets go
//! para 1000 to para 1001 and back, and relay chain to para 1000 and back; each side changes
//! by exactly the amount sent (less the execution fee the receiving chain's fee account
//! collects), and every token is accounted for: the relay chain's and the template's
//! issuance do not move, and each chain's derivatives equal its sovereign account on the
//! token's reserve.

use example_parachain_runtime::{self as example, ExampleRuntime};
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::Decode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_node::client::Client;
use tessera_node::parachains::chain::ParaView;
use tessera_node::parachains::collator::Collate;
use tessera_node::parachains::{Collator, ParaChain};
use tessera_node::run::{spawn_loopback_collator, spawn_loopback_validators};
use tessera_node::store::MemoryDb;
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, GenesisPara, HexBytes};
use tessera_runtime::crypto::{AccountId, Pair};
use tessera_runtime::messaging::XCM_FEE_ACCOUNT;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::parachain::{sign, ParaGenesis};
use tessera_runtime::Hash;
use tessera_xcm::module::{
    self as xcm, account_location, account_of, FOREIGN_ASSETS, FOREIGN_BALANCES,
};
use tessera_xcm::v5::{Asset, AssetId, Assets, Location, WeightLimit};
use tessera_xcm::{VersionedAssets, VersionedLocation};

const TEMPLATE: ParaId = ParaId(1000);
const EXAMPLE: ParaId = ParaId(1001);
const CHAIN: &str = "xcmnet-test";
const UNIT: u128 = template::UNIT;

fn spec() -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.slot_duration_ms = 500;
    let template_head = ParaGenesis::dev(TEMPLATE)
        .head::<TemplateRuntime>()
        .unwrap();
    let example_head = ParaGenesis::dev(EXAMPLE).head::<ExampleRuntime>().unwrap();
    spec.genesis.paras = vec![
        GenesisPara {
            id: TEMPLATE.0,
            head: HexBytes(template_head.0),
            code: HexBytes(template::WASM_BINARY.to_vec()),
        },
        GenesisPara {
            id: EXAMPLE.0,
            head: HexBytes(example_head.0),
            code: HexBytes(example::WASM_BINARY.to_vec()),
        },
    ];
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

async fn wait_for(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(seconds), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Reads para state at the para node's head.
struct Para {
    view: Arc<Mutex<dyn ParaView>>,
}

impl Para {
    fn read<T: Decode + Default>(&self, key: &[u8]) -> T {
        let view = self.view.lock().unwrap();
        let head = view.head().hash();
        view.storage(&head, key)
            .unwrap()
            .map(|bytes| T::decode(&mut &bytes[..]).unwrap())
            .unwrap_or_default()
    }

    fn balance(&self, who: &AccountId) -> u128 {
        self.read::<system::AccountInfo>(&system::ACCOUNT.key(who))
            .data
            .free
    }

    fn foreign(&self, id: &Location, who: &AccountId) -> u128 {
        self.read(&FOREIGN_BALANCES.key(&(AssetId(id.clone()), *who)))
    }

    fn foreign_issuance(&self, id: &Location) -> u128 {
        self.read(&FOREIGN_ASSETS.key(&AssetId(id.clone())))
    }

    fn issuance(&self) -> u128 {
        self.read(&balances::TOTAL_ISSUANCE.key())
    }

    fn genesis_hash(&self) -> Hash {
        self.view.lock().unwrap().canonical_hash(0).unwrap()
    }

    fn submit(&self, xt: tessera_runtime::OpaqueExtrinsic) {
        self.view.lock().unwrap().submit(xt).unwrap();
    }
}

fn transfer(dest: Location, beneficiary: &AccountId, asset: Location, amount: u128) -> xcm::Call {
    xcm::Call::TransferAssets {
        dest: VersionedLocation::V5(dest),
        beneficiary: VersionedLocation::V5(account_location(beneficiary)),
        assets: VersionedAssets::V5(
            Assets::from_unsorted(vec![Asset::fungible(asset, amount)]).unwrap(),
        ),
        fee_asset_item: 0,
        weight_limit: WeightLimit::Unlimited,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_go_between_paras_and_the_relay_chain_and_every_token_is_accounted_for() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tessera_node=info")
        .with_test_writer()
        .try_init();
    let spec = spec();
    let (shareds, mut bootnodes, mut tasks) =
        spawn_loopback_validators(CHAIN, &["Alice", "Bob", "Charlie", "Dave"], || {
            client(&spec)
        })
        .await
        .unwrap();
    let relay = shareds[0].clone();

    let (header, state) = ParaGenesis::dev(TEMPLATE)
        .build::<TemplateRuntime>()
        .unwrap();
    let template_collator = Collator::new(
        ParaChain::in_memory(TEMPLATE, header, state.new_nodes).unwrap(),
        Pair::dev("Ferdie"),
    );
    let para_a = Para {
        view: template_collator.view(),
    };
    let (header, state) = ParaGenesis::dev(EXAMPLE).build::<ExampleRuntime>().unwrap();
    let example_collator = Collator::new(
        ParaChain::in_memory(EXAMPLE, header, state.new_nodes).unwrap(),
        Pair::dev("Eve"),
    );
    let para_b = Para {
        view: example_collator.view(),
    };
    for collator in [
        Box::new(template_collator) as Box<dyn Collate>,
        Box::new(example_collator),
    ] {
        let (_, running) = spawn_loopback_collator(CHAIN, client(&spec), &mut bootnodes, collator)
            .await
            .unwrap();
        tasks.push(running);
    }
    wait_for("both paras to build a block", 60, || {
        para_a.view.lock().unwrap().head().number >= 1
            && para_b.view.lock().unwrap().head().number >= 1
    })
    .await;

    let alice = Pair::dev("Alice");
    let bob = Pair::dev("Bob");
    let a_token = Location::sibling_para(TEMPLATE.0);
    let relay_token = Location::parent();
    let b_on_a = account_of(&Location::sibling_para(EXAMPLE.0)).unwrap();
    let a_on_relay = account_of(&Location::child_para(TEMPLATE.0)).unwrap();
    let relay_balance = |who: &AccountId| {
        let client = relay.client();
        let best = client.best_header().unwrap().hash();
        client.account(&best, who).unwrap().data.free
    };
    let relay_issuance = || {
        let client = relay.client();
        let best = client.best_header().unwrap().hash();
        client.total_issuance(&best).unwrap()
    };
    let a_issuance = para_a.issuance();
    let relay_issuance_before = relay_issuance();

    // Para 1000 to para 1001: the template's token is reserve-backed by the template.
    let call = template::Call::PolkadotXcm(transfer(
        Location::sibling_para(EXAMPLE.0),
        &bob.public(),
        Location::here(),
        10 * UNIT,
    ));
    para_a.submit(template::sign(&alice, call, 0, para_a.genesis_hash()));
    wait_for("para 1001 to credit Bob", 90, || {
        para_b.foreign(&a_token, &bob.public()) > 0
    })
    .await;
    let fee_b = para_b.foreign(&a_token, &XCM_FEE_ACCOUNT);
    assert!(fee_b > 0, "execution on 1001 is paid");
    assert_eq!(para_b.foreign(&a_token, &bob.public()), 10 * UNIT - fee_b);
    // Each collator follows the relay chain on a node of its own, which may lag a little.
    wait_for("para 1000 to follow", 30, || {
        para_a.balance(&b_on_a) == 10 * UNIT
    })
    .await;
    assert_eq!(para_b.foreign_issuance(&a_token), para_a.balance(&b_on_a));

    // And back: 1001 burns its derivatives, 1000 releases them from 1001's account.
    let fees_a_before = para_a.balance(&XCM_FEE_ACCOUNT);
    let alice_a_before = para_a.balance(&alice.public());
    let call = example::Call::PolkadotXcm(transfer(
        Location::sibling_para(TEMPLATE.0),
        &alice.public(),
        a_token.clone(),
        4 * UNIT,
    ));
    para_b.submit(sign::<ExampleRuntime>(&bob, call, 0, para_b.genesis_hash()));
    wait_for("para 1000 to release 4 units", 90, || {
        para_a.balance(&b_on_a) == 6 * UNIT
    })
    .await;
    wait_for("para 1000 to credit Alice", 30, || {
        para_a.balance(&alice.public()) > alice_a_before
    })
    .await;
    let fee_a = para_a.balance(&XCM_FEE_ACCOUNT) - fees_a_before;
    assert!(fee_a > 0);
    assert_eq!(
        para_a.balance(&alice.public()),
        alice_a_before + 4 * UNIT - fee_a
    );
    wait_for("para 1001 to follow", 30, || {
        para_b.foreign(&a_token, &bob.public()) == 6 * UNIT - fee_b
    })
    .await;
    assert_eq!(para_b.foreign_issuance(&a_token), para_a.balance(&b_on_a));

    // Relay chain to para 1000, and back.
    let best = relay.client().best_header().unwrap();
    let relay_genesis = relay.client().info().unwrap().genesis;
    let call = tessera_relay_chain::Call::PolkadotXcm(transfer(
        Location::child_para(TEMPLATE.0),
        &bob.public(),
        Location::here(),
        5 * UNIT,
    ));
    let nonce = relay
        .client()
        .account(&best.hash(), &alice.public())
        .unwrap()
        .nonce;
    let xt = tessera_node::workload::sign(&alice, call, nonce, relay_genesis, &best);
    for shared in &shareds {
        let client = shared.client();
        client.submit(&mut shared.pool(), xt.clone()).unwrap();
    }
    wait_for("para 1000 to credit Bob relay tokens", 90, || {
        para_a.foreign(&relay_token, &bob.public()) > 0
    })
    .await;
    let fee_relay_token = para_a.foreign(&relay_token, &XCM_FEE_ACCOUNT);
    assert_eq!(relay_balance(&a_on_relay), 5 * UNIT);
    assert_eq!(
        para_a.foreign(&relay_token, &bob.public()),
        5 * UNIT - fee_relay_token
    );

    let relay_fees_before = relay_balance(&XCM_FEE_ACCOUNT);
    let call = template::Call::PolkadotXcm(transfer(
        Location::parent(),
        &bob.public(),
        relay_token.clone(),
        2 * UNIT,
    ));
    para_a.submit(template::sign(&bob, call, 0, para_a.genesis_hash()));
    wait_for("the relay chain to release 2 units", 90, || {
        relay_balance(&a_on_relay) == 3 * UNIT
    })
    .await;
    assert!(
        relay_balance(&XCM_FEE_ACCOUNT) > relay_fees_before,
        "execution on the relay chain is paid"
    );
    // The collator's relay node may see the inclusion a moment after Alice's.
    wait_for("para 1000 to follow the inclusion", 30, || {
        para_a.foreign(&relay_token, &bob.public()) == 3 * UNIT - fee_relay_token
    })
    .await;
    assert_eq!(
        para_a.foreign_issuance(&relay_token),
        relay_balance(&a_on_relay)
    );

    // Every token is accounted for.
    assert_eq!(para_a.issuance(), a_issuance);
    assert_eq!(relay_issuance(), relay_issuance_before);

    for running in tasks {
        running.stop().await.unwrap();
    }
}
