//! Hostile validators against honest ones, in one process on loopback: seven validators and
//! two paras, where two validators of one backing group back garbage candidates together and
//! a third disputes every candidate it checks. Checkers catch the garbage, the disputes
//! conclude invalid on chain, the blocks that included it are reverted and never finalized,
//! its backers are disabled, and both paras go on from their last valid heads; the disputes
//! about valid candidates conclude valid and disable the one who opened them, and finality
//! goes on throughout.

use example_parachain_runtime::{self as example, ExampleRuntime};
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::DecodeAll;
use std::collections::BTreeSet;
use std::time::Duration;
use tessera_node::client::Client;
use tessera_node::malus::{Behaviour, Malus};
use tessera_node::parachains::collator::Collate;
use tessera_node::parachains::{para_statuses, Collator, ParaChain};
use tessera_node::run::{spawn_loopback_collator, spawn_loopback_validators_with};
use tessera_node::service::Shared;
use tessera_node::store::MemoryDb;
use tessera_relay_chain::disputes::{self, OffenceCount};
use tessera_relay_chain::inclusion::Event as InclusionEvent;
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{Address, ApprovalConfig, ChainSpec, Event, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::modules::system;
use tessera_runtime::parachain::ParaGenesis;
use tessera_runtime::state::State;
use tessera_runtime::Hash;

const TEMPLATE: ParaId = ParaId(1000);
const EXAMPLE: ParaId = ParaId(1001);
const CHAIN: &str = "malus-test";
/// In validator order: groups are {0, 1, 2, 3} and {4, 5, 6}.
const VALIDATORS: [&str; 7] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie", "Grace"];
const DISPUTER: u32 = 3;
const GARBAGE_BACKERS: [u32; 2] = [4, 5];

fn spec() -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(6);
    spec.genesis
        .validators
        .push(Address(Pair::dev("Grace").public()));
    spec.genesis.approval = Some(ApprovalConfig::dev_for(VALIDATORS.len()));
    // Seven validators in one process: slots long enough for a loaded test machine.
    spec.genesis.slot_duration_ms = 1_000;
    let example_genesis = ParaGenesis {
        sudo: None,
        ..ParaGenesis::dev(EXAMPLE)
    };
    spec.genesis.paras = vec![
        GenesisPara {
            id: TEMPLATE.0,
            head: HexBytes(
                ParaGenesis::dev(TEMPLATE)
                    .head::<TemplateRuntime>()
                    .unwrap()
                    .0,
            ),
            code: HexBytes(template::WASM_BINARY.to_vec()),
        },
        GenesisPara {
            id: EXAMPLE.0,
            head: HexBytes(example_genesis.head::<ExampleRuntime>().unwrap().0),
            code: HexBytes(example::WASM_BINARY.to_vec()),
        },
    ];
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
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// The offences recorded against `validator` on `shared`'s best chain.
fn offences(shared: &Shared, validator: u32) -> OffenceCount {
    let client = shared.client();
    let best = client.best_header().unwrap();
    let mut state = State::new(client.store(), best.state_root);
    disputes::OFFENCES
        .get(&mut state, &validator)
        .unwrap()
        .unwrap_or_default()
}

fn disabled(shared: &Shared) -> Vec<u32> {
    let client = shared.client();
    let best = client.best_header().unwrap();
    let mut state = State::new(client.store(), best.state_root);
    disputes::disabled(&mut state).unwrap()
}

fn finalized_head(shared: &Shared, para: ParaId) -> u32 {
    let statuses = para_statuses(&shared.client(), None).unwrap();
    let status = statuses.into_iter().find(|s| s.id == para).unwrap();
    status.finalized.and_then(|head| head.number).unwrap_or(0)
}

/// On `shared`'s finalized chain: the candidates included, and those a dispute concluded
/// invalid.
fn finalized_candidates(shared: &Shared) -> (BTreeSet<Hash>, BTreeSet<Hash>) {
    let client = shared.client();
    let mut hash = client.info().unwrap().finalized_hash;
    let (mut included, mut invalid) = (BTreeSet::new(), BTreeSet::new());
    // Genesis has no parachains events.
    while let Some(header) = client.header(&hash).unwrap().filter(|h| h.number > 0) {
        let mut state = State::new(client.store(), header.state_root);
        let bytes = state
            .get(&system::events_key())
            .unwrap()
            .unwrap_or_default();
        for record in Vec::<EventRecord<Event>>::decode_all(&mut &bytes[..]).unwrap() {
            match record.event {
                Event::Inclusion(InclusionEvent::CandidateIncluded { candidate_hash, .. }) => {
                    included.insert(candidate_hash);
                }
                Event::Inclusion(InclusionEvent::DisputeConcluded {
                    candidate_hash,
                    valid: false,
                }) => {
                    invalid.insert(candidate_hash);
                }
                _ => {}
            }
        }
        hash = header.parent_hash;
    }
    (included, invalid)
}

// Not in `make test` yet: it passes alone (`cargo test -p tessera-node --test it malus --
// --ignored`) but under the whole suite's load a false disputer is sometimes not disabled
// within the wait, or para candidates miss their relay block (issue 14's note).
#[ignore = "flaky under the whole suite's load; run alone with --ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_caught_reverted_and_never_finalized_and_false_disputes_are_punished() {
    // Shown only when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tessera_node=info")
        .with_test_writer()
        .try_init();
    let spec = spec();
    let malus = |index: u32| {
        if index == DISPUTER {
            Malus::of(&[Behaviour::DisputeValid])
        } else if GARBAGE_BACKERS.contains(&index) {
            Malus::of(&[Behaviour::BackGarbage])
        } else {
            Malus::default()
        }
    };
    let validators: Vec<(&str, Malus)> = (0u32..)
        .zip(VALIDATORS)
        .map(|(index, name)| (name, malus(index)))
        .collect();
    let (shareds, mut bootnodes, _validators) =
        spawn_loopback_validators_with(CHAIN, &validators, || client(&spec))
            .await
            .unwrap();
    let alice = shareds[0].clone();

    let mut collators = Vec::new();
    let (header, state) = ParaGenesis::dev(TEMPLATE)
        .build::<TemplateRuntime>()
        .unwrap();
    let template_collator = Collator::new(
        ParaChain::<TemplateRuntime>::new(TEMPLATE, header, state.new_nodes),
        Pair::dev("Collator1000"),
        template::validate,
    );
    let example_genesis = ParaGenesis {
        sudo: None,
        ..ParaGenesis::dev(EXAMPLE)
    };
    let (header, state) = example_genesis.build::<ExampleRuntime>().unwrap();
    let example_collator = Collator::new(
        ParaChain::<ExampleRuntime>::new(EXAMPLE, header, state.new_nodes),
        Pair::dev("Collator1001"),
        example::validate,
    );
    for collator in [
        Box::new(template_collator) as Box<dyn Collate>,
        Box::new(example_collator),
    ] {
        let (_, running) = spawn_loopback_collator(CHAIN, client(&spec), &mut bootnodes, collator)
            .await
            .unwrap();
        collators.push(running);
    }

    // The garbage backers' group backs one para at a time, and only garbage (the honest
    // member alone cannot back). Honest checkers find it invalid, every validator votes,
    // and the dispute concludes invalid on chain: both backers are offenders and disabled.
    wait_for("the garbage backers to be disabled", 180, || {
        let disabled = disabled(&alice);
        GARBAGE_BACKERS.iter().all(|v| disabled.contains(v))
    })
    .await;
    for backer in GARBAGE_BACKERS {
        assert!(offences(&alice, backer).backed_invalid >= 1);
    }
    // The disputer's disputes about valid candidates conclude valid: it is the offender.
    wait_for("the false disputer to be disabled", 120, || {
        disabled(&alice).contains(&DISPUTER)
    })
    .await;
    assert!(offences(&alice, DISPUTER).disputed_valid >= 1);
    let honest: Vec<u32> = (0..7)
        .filter(|v| *v != DISPUTER && !GARBAGE_BACKERS.contains(v))
        .collect();
    for validator in &honest {
        assert_eq!(offences(&alice, *validator), OffenceCount::default());
    }

    // Finality and both paras go on from their last valid heads.
    let paras_then = [
        finalized_head(&alice, TEMPLATE),
        finalized_head(&alice, EXAMPLE),
    ];
    let finalized_then = alice.client().info().unwrap().finalized_number;
    let mut polls = 0u32;
    wait_for(
        "both paras and the relay chain to finalize more",
        180,
        || {
            polls += 1;
            if polls % 50 == 0 {
                let info = alice.client().info().unwrap();
                eprintln!(
                    "best #{} finalized #{} paras {} {} (then {paras_then:?}, #{finalized_then})",
                    info.best_number,
                    info.finalized_number,
                    finalized_head(&alice, TEMPLATE),
                    finalized_head(&alice, EXAMPLE)
                );
            }
            finalized_head(&alice, TEMPLATE) >= paras_then[0] + 2
                && finalized_head(&alice, EXAMPLE) >= paras_then[1] + 2
                && alice.client().info().unwrap().finalized_number >= finalized_then + 4
        },
    )
    .await;

    // No block of the finalized chain included a candidate concluded invalid: the blocks
    // that did were reverted, and the disputes were recorded on the chain that replaced them.
    let (included, invalid) = finalized_candidates(&alice);
    assert!(!invalid.is_empty(), "no invalid conclusion is finalized");
    assert!(
        included.is_disjoint(&invalid),
        "a candidate concluded invalid is in a finalized block"
    );
    // Every honest validator agrees on the finalized chain.
    let finalized = alice.client().info().unwrap().finalized_number;
    for shared in honest.iter().map(|v| &shareds[*v as usize]) {
        let theirs = shared
            .client()
            .info()
            .unwrap()
            .finalized_number
            .min(finalized);
        let theirs_hash = shared.client().store().canonical_hash(theirs).unwrap();
        let alices = alice.client().store().canonical_hash(theirs).unwrap();
        assert_eq!(theirs_hash, alices);
    }
}
