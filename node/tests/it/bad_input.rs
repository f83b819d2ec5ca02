//! Bad transactions and blocks are refused with their own errors and change nothing.

use crate::support::dev_client;
use parity_scale_codec::Encode;
use tessera_consensus::authorship::{self, seal_header};
use tessera_consensus::AuthorityKey;
use tessera_node::client::{Client, ImportError, ImportOutcome};
use tessera_node::pool::{Pool, PoolError};
use tessera_node::validation::ExecutionError;
use tessera_node::workload::{sign, TransferGenerator};
use tessera_relay_chain::{Call, ChainSpec, Event, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::{DispatchError, EventRecord};
use tessera_runtime::executive::InvalidTransaction;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::wasm::BlockRejection;
use tessera_runtime::{Block, DigestItem, OpaqueExtrinsic};

fn transfer(client: &Client, from: &str, to: &str, value: u128, nonce: u32) -> OpaqueExtrinsic {
    let best = client.best_header().unwrap();
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev(to).public(),
        value,
    });
    sign(
        &Pair::dev(from),
        call,
        nonce,
        client.info().unwrap().genesis,
        &best,
    )
}

fn refused(client: &Client, xt: OpaqueExtrinsic) -> PoolError {
    let before = client.info().unwrap();
    let mut pool = Pool::default();
    let err = client.submit(&mut pool, xt).unwrap_err();
    assert!(pool.is_empty());
    assert_eq!(client.info().unwrap(), before);
    err
}

#[test]
fn bad_signature_is_refused() {
    let client = dev_client();
    let mut xt = transfer(&client, "Alice", "Bob", UNIT, 0);
    // The signature sits after the 1-byte option tag and 32-byte signer.
    xt.0[40] ^= 1;
    assert_eq!(
        refused(&client, xt),
        PoolError::Invalid(InvalidTransaction::BadSignature)
    );
}

#[test]
fn signature_for_another_genesis_is_refused() {
    let client = dev_client();
    let other = ChainSpec::dev_with_validators(4).build_genesis().unwrap();
    let best = client.best_header().unwrap();
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public(),
        value: UNIT,
    });
    let xt = sign(&Pair::dev("Alice"), call, 0, other.header.hash(), &best);
    assert_eq!(
        refused(&client, xt),
        PoolError::Invalid(InvalidTransaction::BadSignature)
    );
}

#[test]
fn replayed_nonce_is_stale() {
    let mut client = dev_client();
    let mut pool = Pool::default();
    let xt = transfer(&client, "Alice", "Bob", UNIT, 0);
    client.submit(&mut pool, xt.clone()).unwrap();
    let authored = client.author_next(&mut pool).unwrap();
    assert_eq!(authored.block.extrinsics, vec![xt.clone()]);
    assert_eq!(
        refused(&client, xt),
        PoolError::Invalid(InvalidTransaction::Stale {
            expected: 1,
            got: 0
        })
    );
}

#[test]
fn unpayable_fee_is_refused() {
    let client = dev_client();
    let best = client.best_header().unwrap();
    let (pauper, _) = Pair::generate(12).unwrap();
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public(),
        value: 1,
    });
    let xt = sign(&pauper, call, 0, client.info().unwrap().genesis, &best);
    assert!(matches!(
        refused(&client, xt),
        PoolError::Invalid(InvalidTransaction::Payment { free: 0, .. })
    ));
}

#[test]
fn overdrawn_transfer_fails_and_only_pays_the_fee() {
    let mut client = dev_client();
    let mut pool = Pool::default();
    let alice = Pair::dev("Alice").public();
    let bob = Pair::dev("Bob").public();
    let genesis = client.info().unwrap().genesis;
    let before_bob = client.account(&genesis, &bob).unwrap().data.free;
    let xt = transfer(&client, "Bob", "Charlie", 10_000_000 * UNIT, 0);
    client.submit(&mut pool, xt).unwrap();
    let block = client.author_next(&mut pool).unwrap().block;
    let at = block.hash();
    let bob_after = client.account(&at, &bob).unwrap();
    assert_eq!(bob_after.nonce, 1);
    let fee = before_bob - bob_after.data.free;
    assert!(fee > 0 && fee < UNIT, "fee {fee}");
    // The author got the fee; issuance is unchanged.
    assert_eq!(
        client.account(&at, &alice).unwrap().data.free,
        1_000_000 * UNIT + fee
    );
    assert_eq!(
        client.total_issuance(&at).unwrap(),
        client.total_issuance(&genesis).unwrap()
    );
    let events: Vec<EventRecord<Event>> = parity_scale_codec::Decode::decode(
        &mut &client.storage(&at, &system::events_key()).unwrap().unwrap()[..],
    )
    .unwrap();
    assert!(events.iter().any(|record| matches!(
        &record.event,
        Event::System(system::Event::ExtrinsicFailed { error: DispatchError::Module { error, .. }, .. })
            if error == "InsufficientBalance"
    )));
}

#[test]
fn malformed_bytes_are_refused() {
    let client = dev_client();
    let err = refused(&client, OpaqueExtrinsic(vec![1, 2, 3]));
    assert!(
        matches!(err, PoolError::Invalid(InvalidTransaction::Malformed(_))),
        "{err:?}"
    );
    // Calls nested past the depth limit (sudo inside sudo...) are refused, not a stack overflow.
    let mut call = Call::System(system::Call::Remark { remark: vec![] });
    for _ in 0..100 {
        call = Call::Sudo(tessera_runtime::modules::sudo::Call::Sudo {
            call: Box::new(call),
        });
    }
    let best = client.best_header().unwrap();
    let deep = sign(
        &Pair::dev("Alice"),
        call,
        0,
        client.info().unwrap().genesis,
        &best,
    );
    assert!(matches!(
        refused(&client, deep),
        PoolError::Invalid(InvalidTransaction::Malformed(_))
    ));
}

/// A block authored by another node on the same chain, to import here.
fn foreign_block(xts: &[(&str, &str, u128, u32)]) -> Block {
    let mut author = dev_client();
    let mut pool = Pool::default();
    for &(from, to, value, nonce) in xts {
        let xt = transfer(&author, from, to, value, nonce);
        author.submit(&mut pool, xt).unwrap();
    }
    author.author_next(&mut pool).unwrap().block
}

fn reseal(mut block: Block, signer: &Pair) -> Block {
    block.header.digest.logs.pop();
    block.header = seal_header(&AuthorityKey::from_pair(signer), block.header);
    block
}

fn rejected(block: &Block) -> ImportError {
    let mut client = dev_client();
    let before = client.info().unwrap();
    let err = client.import_block(block).unwrap_err();
    assert_eq!(client.info().unwrap(), before);
    assert!(client.header(&block.hash()).unwrap().is_none());
    err
}

#[test]
fn valid_foreign_block_imports_once() {
    let block = foreign_block(&[("Alice", "Bob", UNIT, 0), ("Bob", "Eve", UNIT, 0)]);
    let mut client = dev_client();
    assert_eq!(
        client.import_block(&block).unwrap(),
        ImportOutcome::Imported { best: true }
    );
    assert_eq!(
        client.import_block(&block).unwrap(),
        ImportOutcome::AlreadyKnown
    );
    assert_eq!(client.info().unwrap().best_hash, block.hash());
}

/// A block may carry more signed transactions than one batch verification by the host takes
/// (the runtime verifies them in chunks): its author's peers import it. Before, they found
/// such a block invalid and banned the honest node that built it under load.
#[test]
fn a_block_with_more_signatures_than_one_host_batch_imports() {
    let count = tessera_runtime::wasm::MAX_VERIFY_BATCH + 100;
    let mut author = dev_client();
    let mut pool = Pool::new(count);
    let transfers = TransferGenerator::dev(3)
        .next_batch(&author, count)
        .unwrap();
    let admitted = author.submit_all(&mut pool, transfers, true);
    assert!(
        admitted.iter().all(Result::is_ok),
        "{:?}",
        admitted.iter().find(|r| r.is_err())
    );
    let block = author.author_next(&mut pool).unwrap().block;
    assert_eq!(block.extrinsics.len(), count);

    let mut peer = dev_client();
    assert_eq!(
        peer.import_block(&block).unwrap(),
        ImportOutcome::Imported { best: true }
    );
    assert_eq!(peer.best_header().unwrap(), block.header);
}

#[test]
fn truncated_block_is_refused() {
    let block = foreign_block(&[("Alice", "Bob", UNIT, 0)]);
    let bytes = block.encode();
    let mut client = dev_client();
    let before = client.info().unwrap();
    let err = client
        .import_encoded(&bytes[..bytes.len() - 7])
        .unwrap_err();
    assert!(matches!(err, ImportError::Decode(_)), "{err:?}");
    assert_eq!(client.info().unwrap(), before);
}

#[test]
fn tampered_blocks_are_refused_with_their_own_errors() {
    let alice = Pair::dev("Alice");
    let block = foreign_block(&[("Alice", "Bob", UNIT, 0), ("Bob", "Eve", UNIT, 0)]);

    let mut wrong_root = block.clone();
    wrong_root.header.state_root.0[0] ^= 1;
    assert!(matches!(
        rejected(&reseal(wrong_root, &alice)),
        ImportError::Execution(ExecutionError::InvalidBlock(
            BlockRejection::StateRoot { .. }
        ))
    ));

    let mut bad_xt = block.clone();
    bad_xt.extrinsics[1].0[40] ^= 1;
    bad_xt.header.extrinsics_root = tessera_runtime::block::extrinsics_root(&bad_xt.extrinsics);
    assert!(matches!(
        rejected(&reseal(bad_xt, &alice)),
        ImportError::Execution(ExecutionError::InvalidBlock(
            BlockRejection::InvalidExtrinsic {
                index: 1,
                error: InvalidTransaction::BadSignature
            }
        ))
    ));

    let mut swapped_body = block.clone();
    swapped_body.extrinsics.reverse();
    assert!(matches!(
        rejected(&swapped_body),
        ImportError::Execution(ExecutionError::InvalidBlock(
            BlockRejection::ExtrinsicsRoot { .. }
        ))
    ));

    assert!(matches!(
        rejected(&reseal(block.clone(), &Pair::dev("Bob"))),
        ImportError::Authorship(authorship::ImportError::BadSeal)
    ));

    // The runtime's author digest must name the authority that claimed the slot.
    let mut other_author = block.clone();
    other_author.header.digest.logs[1] = DigestItem::PreRuntime(
        tessera_runtime::executive::AUTHOR_ENGINE,
        Pair::dev("Bob").public().encode(),
    );
    assert!(matches!(
        rejected(&reseal(other_author, &alice)),
        ImportError::AuthorMismatch { .. }
    ));

    let mut unknown_parent = block.clone();
    unknown_parent.header.parent_hash.0[0] ^= 1;
    assert!(matches!(
        rejected(&unknown_parent),
        ImportError::UnknownParent(_)
    ));

    let mut unsealed = block;
    unsealed.header.digest.logs.pop();
    assert!(matches!(
        rejected(&unsealed),
        ImportError::Authorship(authorship::ImportError::MissingSeal)
    ));
}
