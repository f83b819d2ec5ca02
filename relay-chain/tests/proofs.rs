//! Proof recording and proof-only re-execution of relay blocks (proptest).

use parity_scale_codec::Encode;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tessera_relay_chain::{Call, ChainSpec, RelayExtrinsic, RelayRuntime, UNIT};
use tessera_runtime::block::extrinsics_root;
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::{execute_block, BlockError, Executive, Runtime, AUTHOR_ENGINE};
use tessera_runtime::extrinsic::{ChainContext, Era, SignedExtra};
use tessera_runtime::modules::balances;
use tessera_runtime::state::State;
use tessera_runtime::{Block, Digest, DigestItem, Error, Hash, Header};

const NAMES: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];

/// Builds block 1 on the dev genesis from `(from, to, amount)` transfers.
fn block_of(transfers: &[(usize, usize, u128)]) -> (BTreeMap<Hash, Vec<u8>>, Header, Block) {
    let genesis = ChainSpec::dev().build_genesis().unwrap();
    let store: BTreeMap<Hash, Vec<u8>> = genesis.state.new_nodes.iter().cloned().collect();
    let pairs: Vec<Pair> = NAMES.iter().map(|n| Pair::dev(n)).collect();
    let chain = ChainContext {
        spec_version: RelayRuntime::VERSION.spec_version,
        transaction_version: RelayRuntime::VERSION.transaction_version,
        genesis_hash: genesis.header.hash(),
        birth_hash: genesis.header.hash(),
    };
    let mut nonces = [0u64; 4];
    let extrinsics: Vec<_> = transfers
        .iter()
        .map(|&(from, to, amount)| {
            let call = Call::Balances(balances::Call::Transfer {
                dest: pairs[to].public().into(),
                value: amount,
            });
            let extra = SignedExtra {
                era: Era::Immortal,
                nonce: nonces[from],
                tip: 0,
            };
            nonces[from] += 1;
            RelayExtrinsic::signed(&pairs[from], call, extra, &chain).to_opaque()
        })
        .collect();
    let author = pairs[0].public();
    let state = State::new(&store, genesis.header.state_root);
    let mut executive =
        Executive::<RelayRuntime>::initialize(state, 1, genesis.header.hash(), Some(author))
            .unwrap();
    for xt in &extrinsics {
        executive.apply(xt).unwrap().ok();
    }
    let changes = executive.finalize().unwrap();
    let header = Header {
        parent_hash: genesis.header.hash(),
        number: 1,
        state_root: changes.root,
        extrinsics_root: extrinsics_root(&extrinsics),
        digest: Digest {
            logs: vec![DigestItem::PreRuntime(AUTHOR_ENGINE, author.encode())],
        },
    };
    (store, genesis.header, Block { header, extrinsics })
}

fn transfers() -> impl Strategy<Value = Vec<(usize, usize, u128)>> {
    // Amounts up to twice a balance, so some transfers fail and roll back.
    proptest::collection::vec((0..4usize, 0..4usize, 0..2_000_000 * UNIT), 0..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn proof_alone_replays_the_block(transfers in transfers()) {
        let (store, parent, block) = block_of(&transfers);
        let full = execute_block::<RelayRuntime>(&store, parent.state_root, &block, true).unwrap();
        prop_assert_eq!(full.root, block.header.state_root);
        let proof = full.proof.clone().unwrap();

        // Only the proof: the same root, and the proof it records is the same proof.
        let proof_store = proof.clone().into_store();
        let replay = execute_block::<RelayRuntime>(&proof_store, parent.state_root, &block, true).unwrap();
        prop_assert_eq!(replay.root, full.root);
        prop_assert_eq!(replay.proof.unwrap(), proof.clone());

        // Any node missing from the proof makes replay fail, never succeed with another root.
        let mut nodes = proof.into_store();
        let first = *nodes.keys().next().unwrap();
        nodes.remove(&first);
        let err = execute_block::<RelayRuntime>(&nodes, parent.state_root, &block, false).unwrap_err();
        prop_assert!(matches!(err, BlockError::State(Error::MissingTrieNode(_))), "{err:?}");
    }
}

#[test]
fn proof_is_much_smaller_than_the_state() {
    let (store, parent, block) = block_of(&[(0, 1, UNIT), (1, 2, UNIT)]);
    let full = execute_block::<RelayRuntime>(&store, parent.state_root, &block, true).unwrap();
    let proof = full.proof.unwrap();
    assert!(proof.nodes.len() <= store.len());
    assert!(!proof.nodes.is_empty());
}
