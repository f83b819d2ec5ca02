//! A relay network with two parachains on loopback, in one process: four validators and one
//! collator node per para (the template as 1000, the example as 1001), each its own libp2p
//! peer, and a full node of the template para. Both paras advance, are approved by every
//! validator's approval checking, and are finalized; a relay transfer submitted to a node that
//! does not author reaches a block by gossip; a
//! transfer submitted to the para full node reaches the collator and shows in the finalized
//! state; a para the genesis did not know is registered by an account through the registrar
//! (no root), onboarded, collated and finalized, then deregistered; the template para
//! upgrades itself to its next version (refusing a bad blob first) and every node and
//! validator switches with it; when one para's collator stops, that para stalls alone.

use example_parachain_runtime::{self as example, ExampleRuntime};
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::{Decode, Encode};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_node::client::Client;
use tessera_node::parachains::chain::ParaView;
use tessera_node::parachains::collator::Collate;
use tessera_node::parachains::{para_statuses, Collator, ParaChain, ParaStatus};
use tessera_node::run::{spawn_loopback_collator, spawn_loopback_validators};
use tessera_node::service::Shared;
use tessera_node::store::MemoryDb;
use tessera_relay_chain::paras::{self, HeadData, ParaId, ValidationCode};
use tessera_relay_chain::{registrar, Call, ChainSpec, GenesisPara, HexBytes, RelayRuntime};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::modules::{balances, parachain_system, sudo, system};
use tessera_runtime::parachain::{sign, ParaGenesis};
use tessera_runtime::Hash;

const TEMPLATE: ParaId = ParaId(1000);
const EXAMPLE: ParaId = ParaId(1001);
/// Registered by Bob through the registrar while the network runs: the first public id.
const ONBOARDED: ParaId = ParaId(2000);

const CHAIN: &str = "paranet-test";

async fn wait_for(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(seconds), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

fn spec() -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    // A para's new code rides in a candidate of about twice its size (its block and its
    // commitments): 1 s slots leave backers the time to check it on a loaded test machine.
    spec.genesis.slot_duration_ms = 1_000;
    let template_head = ParaGenesis::dev(TEMPLATE)
        .head::<TemplateRuntime>()
        .unwrap();
    let example_head = example_genesis().head::<ExampleRuntime>().unwrap();
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
    spec
}

fn example_genesis() -> ParaGenesis {
    ParaGenesis {
        sudo: None,
        ..ParaGenesis::dev(EXAMPLE)
    }
}

fn client(spec: &ChainSpec) -> Client {
    Client::open(
        Box::new(MemoryDb::default()),
        &spec.build_genesis().unwrap(),
    )
    .unwrap()
}

fn status(shared: &Shared, para: ParaId) -> ParaStatus {
    let approved = tessera_node::parachains::approval::best_approved(&shared.approval);
    para_statuses(&shared.client(), approved)
        .unwrap()
        .into_iter()
        .find(|s| s.id == para)
        .unwrap()
}

fn included(shared: &Shared, para: ParaId) -> u32 {
    status(shared, para).included.number.unwrap()
}

fn approved(shared: &Shared, para: ParaId) -> u32 {
    status(shared, para)
        .approved
        .and_then(|head| head.number)
        .unwrap_or(0)
}

fn finalized(shared: &Shared, para: ParaId) -> (u32, Hash) {
    let head = status(shared, para).finalized.unwrap();
    (head.number.unwrap(), head.hash)
}

/// What each dev account holds at a dev para's genesis.
const DEV_BALANCE: u128 = 1_000_000 * template::UNIT;

/// `who`'s free balance at the para head of `view`.
fn head_balance(view: &Arc<Mutex<dyn ParaView>>, who: &tessera_runtime::AccountId) -> u128 {
    let view = view.lock().unwrap();
    let head = view.head().hash();
    let value = view
        .storage(&head, &system::ACCOUNT.key(who))
        .unwrap()
        .unwrap_or_default();
    system::AccountInfo::decode(&mut &value[..])
        .map(|info| info.data.free)
        .unwrap_or(0)
}

/// `call` signed by `pair` for the template para under runtime version `spec_version`.
fn sign_for_version(
    pair: &Pair,
    call: template::Call,
    nonce: tessera_runtime::Nonce,
    genesis_hash: Hash,
    spec_version: u32,
) -> tessera_runtime::OpaqueExtrinsic {
    use tessera_runtime::extrinsic::{ChainContext, Era, Extrinsic, SignedExtra};
    let extra = SignedExtra {
        era: Era::Immortal,
        nonce,
        tip: 0,
    };
    let chain = ChainContext {
        spec_version,
        transaction_version: 1,
        genesis_hash,
        birth_hash: genesis_hash,
    };
    Extrinsic::signed(pair, call, extra, &chain).to_opaque()
}

/// The events of the template para's blocks after `from`, up to the head of `view`.
fn events_after(view: &Arc<Mutex<dyn ParaView>>, from: u32) -> Vec<template::Event> {
    let view = view.lock().unwrap();
    let mut events = Vec::new();
    for number in from.saturating_add(1)..=view.head().number {
        let Some(hash) = view.canonical_hash(number) else {
            continue;
        };
        let Ok(Some(bytes)) = view.storage(&hash, &system::events_key()) else {
            continue;
        };
        let records: Vec<EventRecord<template::Event>> = Decode::decode(&mut &bytes[..]).unwrap();
        events.extend(records.into_iter().map(|record| record.event));
    }
    events
}

/// A relay transfer submitted to a node that does not author (a collator's relay node, as a
/// wallet would through its RPC) is gossiped to the validators and goes into a block.
async fn relay_transfer_reaches_the_authors(non_author: &Arc<Shared>, author: &Shared) {
    let eve = Pair::dev("Eve");
    let (xt, nonce) = {
        let client = non_author.client();
        let best = client.best_header().unwrap();
        // Its era is born on a finalized block, as a wallet's should be: one born on a block a
        // reorg takes back is invalid on the chain that wins.
        let info = client.info().unwrap();
        let finalized = client.header(&info.finalized_hash).unwrap().unwrap();
        let genesis = info.genesis;
        let nonce = client.account(&best.hash(), &eve.public()).unwrap().nonce;
        let call = Call::Balances(balances::Call::Transfer {
            dest: Pair::dev("Ferdie").public().into(),
            value: tessera_relay_chain::UNIT,
        });
        let xt = tessera_node::workload::sign(&eve, call, nonce, genesis, &finalized);
        (xt, nonce)
    };
    non_author.submit(xt).await.unwrap();
    wait_for("the transfer to reach a block through gossip", 30, || {
        let client = author.client();
        let best = client.info().unwrap().best_hash;
        client.account(&best, &eve.public()).unwrap().nonce > nonce
    })
    .await;
}

/// The `paras` events of the relay chain's best chain, oldest first.
fn relay_paras_events(shared: &Shared) -> Vec<paras::Event> {
    let client = shared.client();
    let mut hash = client.info().unwrap().best_hash;
    let mut events = Vec::new();
    while let Some(header) = client.header(&hash).unwrap() {
        if let Some(bytes) = client.storage(&hash, &system::events_key()).unwrap() {
            let records: Vec<EventRecord<tessera_relay_chain::Event>> =
                Decode::decode(&mut &bytes[..]).unwrap();
            let block = records.into_iter().filter_map(|record| match record.event {
                tessera_relay_chain::Event::Paras(event) => Some(event),
                _ => None,
            });
            events.splice(0..0, block);
        }
        if header.number == 0 {
            break;
        }
        hash = header.parent_hash;
    }
    events
}

/// Sudo on the template para offers a blob that is not a runtime (refused in its block, the
/// para going on), then the template's next version (`spec_version` 2): its candidate carries
/// the code, the validators compile it and vote it through, the relay chain schedules it, the
/// para switches at the go-ahead, the relay chain enacts it with that block, and the collator,
/// the full node and the validators all run it.
async fn upgrades_itself(
    alice: &Shared,
    collator: &Arc<Mutex<dyn ParaView>>,
    full_node: &Arc<Mutex<dyn ParaView>>,
    genesis_hash: Hash,
) {
    let next = std::fs::read(env!("TEMPLATE_NEXT_WASM")).unwrap();
    let set_code = |code: Vec<u8>, nonce| {
        let call = template::Call::Sudo(sudo::Call::Sudo {
            call: Box::new(template::Call::System(system::Call::SetCode { code })),
        });
        template::sign(&Pair::dev("Alice"), call, nonce, genesis_hash)
    };
    let from = full_node.lock().unwrap().head().number;
    full_node
        .lock()
        .unwrap()
        .submit(set_code(b"\0asm not a runtime".to_vec(), 0))
        .unwrap();
    let refused = Err(parachain_template_runtime::dispatch_error(
        tessera_runtime::modules::system::Error::InvalidCode,
    ));
    wait_for("the bad blob to be refused in a para block", 30, || {
        events_after(full_node, from).contains(&template::Event::Sudo(sudo::Event::Sudid {
            result: refused,
        }))
    })
    .await;

    let from = full_node.lock().unwrap().head().number;
    full_node
        .lock()
        .unwrap()
        .submit(set_code(next.clone(), 1))
        .unwrap();
    let next_hash = ValidationCode(next).hash();
    let relay_code = || {
        let client = alice.client();
        let best = client.info().unwrap().best_hash;
        let info = client
            .storage(&best, &paras::PARAS.key(&TEMPLATE))
            .unwrap()
            .unwrap();
        paras::ParaInfo::decode(&mut &info[..]).unwrap().code_hash
    };
    let spec_version =
        |view: &Arc<Mutex<dyn ParaView>>| crate::support::para_version(view).spec_version;
    wait_for("the relay chain and the para nodes to switch", 90, || {
        relay_code() == next_hash && spec_version(collator) == 2 && spec_version(full_node) == 2
    })
    .await;
    let events = events_after(full_node, from);
    assert!(events.iter().any(|event| matches!(
        event,
        template::Event::System(system::Event::CodeUpdateScheduled { code_hash }) if *code_hash == next_hash
    )));
    let relay_events = relay_paras_events(alice);
    let checked = [
        paras::Event::PvfCheckStarted {
            id: TEMPLATE,
            code_hash: next_hash,
        },
        paras::Event::PvfCheckAccepted {
            code_hash: next_hash,
            paras: vec![TEMPLATE],
        },
    ];
    let position = |wanted: &paras::Event| relay_events.iter().position(|e| e == wanted);
    let [started, accepted] = checked.map(|event| position(&event));
    assert!(started.is_some() && started < accepted, "{relay_events:?}");
    assert!(events.iter().any(|event| matches!(
        event,
        template::Event::ParachainSystem(parachain_system::Event::ValidationFunctionApplied { code_hash, .. }) if *code_hash == next_hash
    )));
    // Blocks under the new code are validated, approved and finalized with it.
    let switched = full_node.lock().unwrap().head().number;
    wait_for("para blocks under the new code to be finalized", 60, || {
        finalized(alice, TEMPLATE).0 >= switched + 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paras_advance_finalize_carry_a_transfer_onboard_without_root_and_stall_alone() {
    // Shown only when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tessera_node=info,tessera_node::parachains::approval=debug")
        .with_test_writer()
        .try_init();
    let spec = spec();
    let validators = ["Alice", "Bob", "Charlie", "Dave"];
    let (shareds, mut bootnodes, mut tasks) =
        spawn_loopback_validators(CHAIN, &validators, || client(&spec))
            .await
            .unwrap();
    let alice = shareds[0].clone();

    // One collator node per para, without dev load: the transfer below is the only one.
    let (header, state) = ParaGenesis::dev(TEMPLATE)
        .build::<TemplateRuntime>()
        .unwrap();
    let template_collator = Collator::new(
        ParaChain::in_memory(TEMPLATE, header, state.new_nodes).unwrap(),
        Pair::dev("Ferdie"),
    );
    let template_view: Arc<Mutex<dyn ParaView>> = template_collator.view();
    let (header, state) = example_genesis().build::<ExampleRuntime>().unwrap();
    let example_collator = Collator::new(
        ParaChain::in_memory(EXAMPLE, header, state.new_nodes).unwrap(),
        Pair::dev("Eve"),
    );
    // Para 2000 is not in the genesis: Bob reserves its id and registers the template's code
    // with its genesis head, paying the deposits; its collator waits for it meanwhile.
    let (header, state) = ParaGenesis::dev(ONBOARDED)
        .build::<TemplateRuntime>()
        .unwrap();
    let onboarded_collator = Collator::new(
        ParaChain::in_memory(ONBOARDED, header.clone(), state.new_nodes).unwrap(),
        Pair::dev("Ferdie"),
    );
    let submit = |call: Call, nonce: tessera_runtime::Nonce| {
        let client = alice.client();
        let genesis = client.info().unwrap().genesis;
        let xt = sign::<RelayRuntime>(&Pair::dev("Bob"), call, nonce, genesis);
        client.submit(&mut alice.pool(), xt).unwrap();
    };
    submit(Call::Registrar(registrar::Call::Reserve), 0);
    let register = registrar::Call::Register {
        id: ONBOARDED,
        genesis_head: HeadData(header.encode()),
        code: ValidationCode(template::WASM_BINARY.to_vec()),
    };
    submit(Call::Registrar(register), 1);

    let mut collator_stops = Vec::new();
    let mut collator_nodes = Vec::new();
    for collator in [
        Box::new(template_collator) as Box<dyn Collate>,
        Box::new(example_collator),
        Box::new(onboarded_collator),
    ] {
        let (shared, running) =
            spawn_loopback_collator(CHAIN, client(&spec), &mut bootnodes, collator)
                .await
                .unwrap();
        collator_nodes.push(shared);
        collator_stops.push(running);
    }
    wait_for("both paras to finalize two blocks", 90, || {
        finalized(&alice, TEMPLATE).0 >= 2 && finalized(&alice, EXAMPLE).0 >= 2
    })
    .await;
    relay_transfer_reaches_the_authors(&collator_nodes[0], &alice).await;
    // Every validator re-checks what was included: approval checkers recover each candidate
    // from the chunks, validate it, and approve, so both paras' blocks are approved everywhere.
    wait_for(
        "every validator to approve two blocks of each para",
        60,
        || {
            shareds
                .iter()
                .all(|s| approved(s, TEMPLATE) >= 2 && approved(s, EXAMPLE) >= 2)
        },
    )
    .await;

    // A full node of the template para joins late, on a relay node of its own: it fetches the
    // para blocks it missed from the collator's node. Users submit to it.
    let (header, state) = ParaGenesis::dev(TEMPLATE)
        .build::<TemplateRuntime>()
        .unwrap();
    let full_node =
        Collator::full_node(ParaChain::in_memory(TEMPLATE, header, state.new_nodes).unwrap());
    let full_view: Arc<Mutex<dyn ParaView>> = full_node.view();
    let (_, running) =
        spawn_loopback_collator(CHAIN, client(&spec), &mut bootnodes, Box::new(full_node))
            .await
            .unwrap();
    tasks.push(running);

    wait_for("the para full node to catch up", 30, || {
        full_view.lock().unwrap().head().number >= finalized(&alice, TEMPLATE).0
    })
    .await;

    // A transfer on the template para, submitted to its full node, reaches the collator by
    // gossip and shows in the finalized state of both.
    let dest = Pair::dev("Tessera").public();
    let genesis_hash = full_view.lock().unwrap().canonical_hash(0).unwrap();
    let call = template::Call::Balances(balances::Call::Transfer {
        dest: dest.into(),
        value: 5 * template::UNIT,
    });
    let xt = template::sign(&Pair::dev("Bob"), call, 0, genesis_hash);
    full_view.lock().unwrap().submit(xt).unwrap();
    let key = system::ACCOUNT.key(&dest);
    let finalized_balance = |view: &Arc<Mutex<dyn ParaView>>| {
        let (_, hash) = finalized(&alice, TEMPLATE);
        let view = view.lock().unwrap();
        let value = view.storage(&hash, &key).ok().flatten()?;
        Some(system::AccountInfo::decode(&mut &value[..]).ok()?.data.free)
    };
    wait_for("the para transfer to be finalized", 60, || {
        finalized_balance(&full_view) == Some(5 * template::UNIT)
    })
    .await;
    assert_eq!(finalized_balance(&template_view), Some(5 * template::UNIT));
    let bob = Pair::dev("Bob").public();
    let first_fee = DEV_BALANCE - 5 * template::UNIT - head_balance(&full_view, &bob);

    upgrades_itself(&alice, &template_view, &full_view, genesis_hash).await;
    // The new runtime's visible change: a transaction pays half the base fee. Signed for
    // spec version 2, as wallets do after reading the new version.
    let before = head_balance(&full_view, &bob);
    let call = template::Call::Balances(balances::Call::Transfer {
        dest: dest.into(),
        value: 5 * template::UNIT,
    });
    let xt = sign_for_version(&Pair::dev("Bob"), call, 1, genesis_hash, 2);
    full_view.lock().unwrap().submit(xt).unwrap();
    wait_for(
        "a transfer under the new runtime to be finalized",
        60,
        || finalized_balance(&full_view) == Some(10 * template::UNIT),
    )
    .await;
    let second_fee = before - 5 * template::UNIT - head_balance(&full_view, &bob);
    assert_eq!(first_fee - second_fee, template::UNIT / 2_000);

    // The para registered without root was onboarded, and its blocks are finalized like the
    // others'. Deregistered by Bob, it goes, and the other paras go on (below).
    wait_for("the onboarded para to finalize two blocks", 60, || {
        finalized(&alice, ONBOARDED).0 >= 2
    })
    .await;
    // Once the collators know their backers' peers (from the identities they sign), collations
    // go straight to the backers instead of to everyone.
    for shared in &collator_nodes {
        assert!(shared.metrics.collations_sent.get() > 0);
    }
    submit(
        Call::Registrar(registrar::Call::Deregister { id: ONBOARDED }),
        2,
    );
    wait_for("the onboarded para to be deregistered", 30, || {
        let statuses = para_statuses(&alice.client(), None).unwrap();
        !statuses.iter().any(|s| s.id == ONBOARDED)
    })
    .await;

    // The template's collator stops: its para stalls, the example para goes on.
    collator_stops.remove(0).stop().await.unwrap();
    let stalled_at = included(&alice, TEMPLATE);
    let example_before = included(&alice, EXAMPLE);
    wait_for("the example para to advance three blocks", 60, || {
        included(&alice, EXAMPLE) >= example_before + 3
    })
    .await;
    // The candidate pending availability, and the one built on it already with its backers,
    // may still be included after their collator went away; nothing after them.
    assert!(included(&alice, TEMPLATE) <= stalled_at + 2);

    for running in collator_stops.into_iter().chain(tasks) {
        running.stop().await.unwrap();
    }
}
