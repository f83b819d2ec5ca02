//! Hostile and failing validators against honest ones, in one process on loopback: seven
//! validators (tolerating two faults) and two paras with their collators.
//! - Two validators of one backing group back garbage candidates together: checkers catch it,
//!   the dispute concludes invalid on chain, the blocks that included it are reverted and
//!   never finalized, its backers are disabled, and both paras go on from their last valid
//!   heads.
//! - One validator disputes every valid candidate and another withholds every chunk it is
//!   asked for: the disputes conclude valid and disable the disputer, and recovery still
//!   succeeds. (Killed and restarted validators are in `processes.rs`, as real processes.)

use example_parachain_runtime::{self as example, ExampleRuntime};
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::DecodeAll;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tessera_node::client::Client;
use tessera_node::malus::{Behaviour, Malus};
use tessera_node::parachains::collator::Collate;
use tessera_node::parachains::{para_statuses, Collator, ParaChain};
use tessera_node::run::{spawn_loopback_collator, spawn_loopback_validators_with, RunningNode};
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
const GARBAGE_BACKERS: [u32; 2] = [4, 5];

/// A chain of `validators` (dev names) with the template and example paras.
pub(crate) fn spec(validators: &[&str]) -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(6);
    spec.genesis.validators = validators
        .iter()
        .map(|name| Address(Pair::dev(name).public()))
        .collect();
    spec.genesis.approval = Some(ApprovalConfig::dev_for(validators.len()));
    // Six or seven validators in one process: slots long enough for a loaded test machine.
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

/// Logs for the test writer (shown only when a test fails); `TESSERA_TEST_LOG` filters them.
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("TESSERA_TEST_LOG").unwrap_or_else(|_| "tessera_node=info".into()),
        )
        .with_test_writer()
        .try_init();
}

async fn wait_for(what: &str, seconds: u64, done: impl FnMut() -> bool) {
    wait_or_say(what, seconds, done, String::new).await
}

/// [`wait_for`], saying what `state` tells when it times out.
async fn wait_or_say(
    what: &str,
    seconds: u64,
    mut done: impl FnMut() -> bool,
    state: impl FnOnce() -> String,
) {
    let waited = tokio::time::timeout(Duration::from_secs(seconds), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if waited.is_err() {
        panic!("timed out waiting for {what}; {}", state());
    }
}

/// Validators (each with its behaviours) and a collator node per para, running until dropped.
async fn network(
    validators: &[(&str, Malus)],
) -> (Vec<Arc<Shared>>, Vec<RunningNode>, Vec<RunningNode>) {
    let names: Vec<&str> = validators.iter().map(|(name, _)| *name).collect();
    let spec = spec(&names);
    let (shareds, mut bootnodes, nodes) =
        spawn_loopback_validators_with(CHAIN, validators, || client(&spec))
            .await
            .unwrap();
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
    (shareds, nodes, collators)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_caught_reverted_and_never_finalized() {
    let _turn = crate::EXCLUSIVE.lock().await;
    init_logs();
    let validators: Vec<(&str, Malus)> = (0u32..)
        .zip(VALIDATORS)
        .map(|(index, name)| {
            let malus = if GARBAGE_BACKERS.contains(&index) {
                Malus::of(&[Behaviour::BackGarbage])
            } else {
                Malus::default()
            };
            (name, malus)
        })
        .collect();
    let (shareds, _nodes, _collators) = network(&validators).await;
    let alice = shareds[0].clone();

    // The garbage backers' group backs one para at a time, and only garbage (the honest
    // member alone cannot back). Honest checkers find it invalid, every validator votes,
    // and the dispute concludes invalid on chain: both backers are offenders and disabled.
    wait_for("the garbage backers to be disabled", 180, || {
        let disabled = disabled(&alice);
        GARBAGE_BACKERS.iter().all(|v| disabled.contains(v))
    })
    .await;
    let honest: Vec<u32> = (0..7).filter(|v| !GARBAGE_BACKERS.contains(v)).collect();
    for backer in GARBAGE_BACKERS {
        assert!(offences(&alice, backer).backed_invalid >= 1);
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_disputes_and_withheld_chunks_do_not_stop_approval_or_finality() {
    let _turn = crate::EXCLUSIVE.lock().await;
    init_logs();
    const DISPUTER: usize = 3;
    const WITHHOLDER: usize = 5;
    let validators: Vec<(&str, Malus)> = VALIDATORS
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let malus = match index {
                DISPUTER => Malus::of(&[Behaviour::DisputeValid]),
                WITHHOLDER => Malus::of(&[Behaviour::WithholdChunks]),
                _ => Malus::default(),
            };
            (*name, malus)
        })
        .collect();
    let (shareds, _nodes, _collators) = network(&validators).await;
    let alice = shareds[0].clone();
    let approved_heads = |v: usize| {
        let shared = &shareds[v];
        let approved = tessera_node::parachains::approval::best_approved(&shared.approval);
        let statuses = para_statuses(&shared.client(), approved).unwrap();
        [TEMPLATE, EXAMPLE].map(|para| {
            statuses
                .iter()
                .find(|s| s.id == para)
                .and_then(|s| s.approved.as_ref())
                .and_then(|head| head.number)
                .unwrap_or(0)
        })
    };
    let approved_by_all = |at_least: [u32; 2], live: &[usize]| {
        live.iter().all(|v| {
            let heads = approved_heads(*v);
            heads[0] >= at_least[0] && heads[1] >= at_least[1]
        })
    };
    let say = || {
        let heads: Vec<[u32; 2]> = (0..VALIDATORS.len()).map(approved_heads).collect();
        let info = alice.client().info().unwrap();
        format!(
            "approved para heads by validator {heads:?}, relay best #{} finalized #{}, para \
             finalized heads {} {}",
            info.best_number,
            info.finalized_number,
            finalized_head(&alice, TEMPLATE),
            finalized_head(&alice, EXAMPLE)
        )
    };
    // The disputer disputes every candidate; the disputes conclude valid and it is disabled,
    // after which what it opens is ignored. Meanwhile every validator approves both paras'
    // blocks, recovering them without the withholder's chunks.
    wait_for("the false disputer to be disabled", 180, || {
        disabled(&alice).contains(&(DISPUTER as u32))
    })
    .await;
    assert!(offences(&alice, DISPUTER as u32).disputed_valid >= 1);
    // The disputer's own approval checking finds everything invalid: it approves nothing.
    let all: Vec<usize> = (0..VALIDATORS.len()).filter(|v| *v != DISPUTER).collect();
    wait_or_say(
        "every other validator to approve two blocks of each para",
        120,
        || approved_by_all([2, 2], &all),
        say,
    )
    .await;

    // Only the disputer is named: withholding chunks is not provable.
    for validator in (0..VALIDATORS.len() as u32).filter(|v| *v != DISPUTER as u32) {
        assert_eq!(offences(&alice, validator), OffenceCount::default());
    }
}
