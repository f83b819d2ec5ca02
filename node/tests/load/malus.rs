//! Hostile validators against honest ones, as separate `tessera` processes on loopback
//! (`tessera run --malus …`): seven validators (tolerating two faults) and two paras, each
//! collated on a relay full node of its own.
//! - Two validators of one backing group back garbage candidates together and keep out of
//!   the disputes: checkers catch it, the dispute concludes invalid on chain, the blocks that
//!   included it are reverted and never finalized, its backers are named by their backing
//!   statements and disabled, and both paras go on from their last valid heads.
//! - One validator disputes every valid candidate and another withholds every chunk it is
//!   asked for: the disputes conclude valid and disable the disputer, and recovery still
//!   succeeds. (Killed and restarted validators are in `processes.rs`.)

use crate::process::{finalized_number, print_logs, request};
use crate::processes::{para_heads, start_network};
use example_parachain_runtime::{self as example, ExampleRuntime};
use jsonrpsee_core::rpc_params;
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::DecodeAll;
use serde_json::Value;
use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tessera_relay_chain::disputes::{self, OffenceCount};
use tessera_relay_chain::inclusion::Event as InclusionEvent;
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{Address, ApprovalConfig, ChainSpec, Event, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::modules::system;
use tessera_runtime::parachain::ParaGenesis;
use tessera_runtime::Hash;

const TEMPLATE: ParaId = ParaId(1000);
const EXAMPLE: ParaId = ParaId(1001);
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
    // Six or seven validator processes: slots long enough for a loaded test machine.
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

/// Polls `missing` every 250 ms until it says nothing is missing; after `seconds`, prints the
/// logs under `dir` and panics with what it last said was missing.
async fn wait_until<F: Future<Output = Option<String>>>(
    what: &str,
    seconds: u64,
    dir: &Path,
    mut missing: impl FnMut() -> F,
) {
    let mut last = String::new();
    let waited = tokio::time::timeout(Duration::from_secs(seconds), async {
        loop {
            match missing().await {
                None => return,
                Some(state) => last = state,
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    if waited.is_err() {
        print_logs(dir);
        panic!("timed out waiting for {what}; {last}");
    }
}

/// The value at storage `key` of the node at `port`, at block `at` (its best if none).
async fn storage<T: DecodeAll>(port: u16, key: &[u8], at: Option<&str>) -> Option<T> {
    let key = format!("0x{}", hex::encode(key));
    let value: Option<String> = request(port, "state_getStorage", rpc_params![key, at]).await;
    value.map(|hex| {
        let bytes = hex::decode(hex.trim_start_matches("0x")).unwrap();
        T::decode_all(&mut &bytes[..]).unwrap()
    })
}

/// The offences recorded against validator `validator` (its index in the session) on the
/// best chain of the node at `port`.
async fn offences(port: u16, validator: u32) -> OffenceCount {
    let validators: Vec<tessera_runtime::AccountId> =
        storage(port, &tessera_relay_chain::session::VALIDATORS.key(), None)
            .await
            .unwrap_or_default();
    let key = disputes::OFFENCES.key(&validators[validator as usize]);
    storage(port, &key, None).await.unwrap_or_default()
}

/// The validators disabled on the best chain of the node at `port`.
async fn disabled(port: u16) -> Vec<u32> {
    let key = disputes::DISABLED.key();
    storage(port, &key, None).await.unwrap_or_default()
}

/// On the finalized chain of the node at `port`: the candidates included, and those a
/// dispute concluded invalid.
async fn finalized_candidates(port: u16) -> (BTreeSet<Hash>, BTreeSet<Hash>) {
    let mut hash: String = request(port, "chain_getFinalizedHead", rpc_params![]).await;
    let (mut included, mut invalid) = (BTreeSet::new(), BTreeSet::new());
    loop {
        let header: Value = request(port, "chain_getHeader", rpc_params![&hash]).await;
        // Genesis has no parachains events.
        if header["number"] == "0x0" {
            return (included, invalid);
        }
        let events: Vec<EventRecord<Event>> = storage(port, &system::events_key(), Some(&hash))
            .await
            .unwrap_or_default();
        for record in events {
            match record.event {
                Event::ParaInclusion(InclusionEvent::CandidateIncluded {
                    candidate_hash, ..
                }) => {
                    included.insert(candidate_hash);
                }
                Event::ParaInclusion(InclusionEvent::DisputeConcluded {
                    candidate_hash,
                    valid: false,
                }) => {
                    invalid.insert(candidate_hash);
                }
                _ => {}
            }
        }
        hash = header["parentHash"].as_str().unwrap().to_string();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_caught_reverted_and_never_finalized() {
    let _turn = crate::EXCLUSIVE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (validators, _collators) = start_network(
        dir.path(),
        &VALIDATORS,
        |index| {
            GARBAGE_BACKERS
                .contains(&(index as u32))
                .then_some("back-garbage")
        },
        None,
    );
    let alice = validators[0].rpc;

    // The garbage backers' group backs one para at a time, and only garbage (the honest
    // member alone cannot back). Honest checkers find it invalid and vote; the backers keep
    // out of the dispute, which concludes invalid on chain all the same, and their backing
    // statements name both as offenders: they are disabled.
    wait_until(
        "the garbage backers to be disabled",
        180,
        dir.path(),
        || async move {
            let disabled = disabled(alice).await;
            let done = GARBAGE_BACKERS.iter().all(|v| disabled.contains(v));
            (!done).then(|| format!("disabled {disabled:?}"))
        },
    )
    .await;
    let honest: Vec<u32> = (0..7).filter(|v| !GARBAGE_BACKERS.contains(v)).collect();
    for backer in GARBAGE_BACKERS {
        assert!(offences(alice, backer).await.backed_invalid >= 1);
    }
    for validator in &honest {
        assert_eq!(offences(alice, *validator).await, OffenceCount::default());
    }

    // Finality and both paras go on from their last valid heads.
    let paras_then = para_heads(alice, "finalized").await;
    let finalized_then = finalized_number(alice).await;
    wait_until(
        "both paras and the relay chain to finalize more",
        180,
        dir.path(),
        || async move {
            let paras = para_heads(alice, "finalized").await;
            let finalized = finalized_number(alice).await;
            let done = paras[0] >= paras_then[0] + 2
                && paras[1] >= paras_then[1] + 2
                && finalized >= finalized_then + 4;
            (!done).then(|| {
                format!(
                    "finalized #{finalized} paras {paras:?} (then #{finalized_then} \
                     {paras_then:?})"
                )
            })
        },
    )
    .await;

    // No block of the finalized chain included a candidate concluded invalid: the blocks
    // that did were reverted, and the disputes were recorded on the chain that replaced them.
    let (included, invalid) = finalized_candidates(alice).await;
    assert!(!invalid.is_empty(), "no invalid conclusion is finalized");
    assert!(
        included.is_disjoint(&invalid),
        "a candidate concluded invalid is in a finalized block"
    );
    // Every honest validator agrees on the finalized chain.
    let finalized = finalized_number(alice).await;
    for validator in honest.iter().map(|v| &validators[*v as usize]) {
        let theirs = finalized_number(validator.rpc).await.min(finalized);
        let theirs_hash: String =
            request(validator.rpc, "chain_getBlockHash", rpc_params![theirs]).await;
        let alices_there: String = request(alice, "chain_getBlockHash", rpc_params![theirs]).await;
        assert_eq!(theirs_hash, alices_there, "{} at #{theirs}", validator.rpc);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_disputes_and_withheld_chunks_do_not_stop_approval_or_finality() {
    let _turn = crate::EXCLUSIVE.lock().await;
    const DISPUTER: usize = 3;
    const WITHHOLDER: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let (validators, _collators) = start_network(
        dir.path(),
        &VALIDATORS,
        |index| match index {
            DISPUTER => Some("dispute-valid"),
            WITHHOLDER => Some("withhold-chunks"),
            _ => None,
        },
        None,
    );
    let alice = validators[0].rpc;
    // The disputer disputes every candidate; the disputes conclude valid and it is disabled,
    // after which what it opens is ignored. Meanwhile every validator approves both paras'
    // blocks, recovering them without the withholder's chunks.
    wait_until(
        "the false disputer to be disabled",
        180,
        dir.path(),
        || async move {
            let disabled = disabled(alice).await;
            (!disabled.contains(&(DISPUTER as u32))).then(|| format!("disabled {disabled:?}"))
        },
    )
    .await;
    assert!(offences(alice, DISPUTER as u32).await.disputed_valid >= 1);
    // The disputer's own approval checking finds everything invalid: it approves nothing.
    let others: Vec<u16> = (0..VALIDATORS.len())
        .filter(|v| *v != DISPUTER)
        .map(|v| validators[v].rpc)
        .collect();
    let others = &others;
    wait_until(
        "every other validator to approve two blocks of each para",
        120,
        dir.path(),
        || async move {
            let mut heads = Vec::new();
            for port in others {
                heads.push(para_heads(*port, "approved").await);
            }
            let done = heads.iter().all(|h| h[0] >= 2 && h[1] >= 2);
            (!done).then(|| format!("approved para heads by validator {heads:?}"))
        },
    )
    .await;

    // Only the disputer is named: withholding chunks is not provable.
    for validator in (0..VALIDATORS.len() as u32).filter(|v| *v != DISPUTER as u32) {
        assert_eq!(offences(alice, validator).await, OffenceCount::default());
    }
}
