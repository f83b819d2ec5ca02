//! Bad transactions and blocks are refused with their own errors and change nothing.

use crate::support::dev_client;
use parity_scale_codec::Encode;
use tessera_consensus::authorship::{self, seal_header};
use tessera_consensus::AuthorityKey;
use tessera_node::client::{Client, ImportError, ImportOutcome};
use tessera_node::pool::{Pool, PoolError};
use tessera_node::validation::ExecutionError;
use tessera_node::workload::{sign, TransferGenerator};
use tessera_relay_chain::{Call, ChainSpec, Event, RelayRuntime, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::{DispatchError, EventRecord};
use tessera_runtime::executive::{fee, InvalidTransaction, Runtime};
use tessera_runtime::extrinsic::{
    ChainContext, Era, Extrinsic, MultiAddress, MultiSignature, SignedExtra,
};
use tessera_runtime::modules::{balances, system};
use tessera_runtime::wasm::BlockRejection;
use tessera_runtime::{AccountId, Block, DigestItem, Nonce, OpaqueExtrinsic, Signature};

fn transfer(client: &Client, from: &str, to: &str, value: u128, nonce: Nonce) -> OpaqueExtrinsic {
    transfer_to(client, from, Pair::dev(to).public(), value, nonce)
}

/// A transfer from dev account `from`, mortal from the best block.
fn transfer_to(
    client: &Client,
    from: &str,
    dest: AccountId,
    value: u128,
    nonce: Nonce,
) -> OpaqueExtrinsic {
    let best = client.best_header().unwrap();
    let call = Call::Balances(balances::Call::Transfer {
        dest: dest.into(),
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
    // The signature sits after the version byte, the address (tag and 32-byte key) and the
    // signature's tag.
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
        dest: Pair::dev("Bob").public().into(),
        value: UNIT,
    });
    let xt = sign(&Pair::dev("Alice"), call, 0, other.header.hash(), &best);
    assert_eq!(
        refused(&client, xt),
        PoolError::Invalid(InvalidTransaction::BadSignature)
    );
}

/// What the dev chain's transactions sign besides their fields, for a transaction born at
/// the best block.
fn chain_context(client: &Client) -> ChainContext {
    let version = client
        .runtime_version(&client.best_header().unwrap().hash())
        .unwrap();
    ChainContext {
        spec_version: version.spec_version,
        transaction_version: version.transaction_version,
        genesis_hash: client.info().unwrap().genesis,
        birth_hash: client.best_header().unwrap().hash(),
    }
}

/// An ed25519 key and its account (the public key, as in Substrate).
fn ed25519_key(seed: u8) -> (ed25519_dalek::SigningKey, AccountId) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let account = AccountId(key.verifying_key().to_bytes());
    (key, account)
}

fn ed25519_transfer(
    client: &Client,
    key: &ed25519_dalek::SigningKey,
    dest: AccountId,
    value: u128,
    nonce: Nonce,
    era: Era,
) -> OpaqueExtrinsic {
    use ed25519_dalek::Signer;
    let mut chain = chain_context(client);
    if era == Era::Immortal {
        chain.birth_hash = chain.genesis_hash;
    }
    let call = Call::Balances(balances::Call::Transfer {
        dest: dest.into(),
        value,
    });
    let extra = SignedExtra { era, nonce, tip: 0 };
    let signer = AccountId(key.verifying_key().to_bytes());
    let sign = |payload: &[u8]| MultiSignature::Ed25519(key.sign(payload).to_bytes());
    Extrinsic::signed_by(signer, sign, call, extra, &chain).to_opaque()
}

/// Includes `xt` in the next block, which must hold it.
fn include(client: &mut Client, xt: OpaqueExtrinsic) -> Block {
    let mut pool = Pool::default();
    client.submit(&mut pool, xt.clone()).unwrap();
    let block = client.author_next(&mut pool).unwrap().block;
    assert!(block.extrinsics.contains(&xt), "#{}", block.header.number);
    block
}

#[test]
fn ed25519_accounts_transact_and_a_reaped_one_cannot_replay() {
    let mut client = dev_client();
    let (key, account) = ed25519_key(7);
    let bob = Pair::dev("Bob").public();
    let free = |client: &Client, who: &AccountId| {
        let best = client.best_header().unwrap().hash();
        client.account(&best, who).unwrap()
    };
    let fund = transfer_to(&client, "Alice", account, 10 * UNIT, 0);
    include(&mut client, fund);
    // Created in block 1: its nonce starts at `1 << 16` plus its creator's position.
    let created = free(&client, &account);
    assert!(
        created.nonce > 1 << 16 && created.nonce < 2 << 16,
        "{}",
        created.nonce
    );
    assert_eq!(created.data.free, 10 * UNIT);

    // It sends everything but the fee away, immortally, and is reaped.
    let sized = ed25519_transfer(&client, &key, bob, 9 * UNIT, created.nonce, Era::Immortal);
    let fee = fee(
        &RelayRuntime::CONFIG,
        balances::TRANSFER_WEIGHT,
        sized.encoded_len(),
    );
    let leave = ed25519_transfer(
        &client,
        &key,
        bob,
        10 * UNIT - fee,
        created.nonce,
        Era::Immortal,
    );
    assert_eq!(leave.0.len(), sized.0.len());
    let block = include(&mut client, leave.clone());
    assert_eq!(
        client.account(&block.hash(), &account).unwrap().data.free,
        0
    );

    // Funded again later, it cannot be made to send the old transaction again.
    let fund = transfer_to(&client, "Alice", account, 20 * UNIT, 1);
    include(&mut client, fund);
    let again = free(&client, &account);
    assert!(
        again.nonce > created.nonce,
        "{} then {}",
        created.nonce,
        again.nonce
    );
    match refused(&client, leave) {
        PoolError::Invalid(InvalidTransaction::Stale { expected, got }) => {
            assert_eq!((expected, got), (again.nonce, created.nonce));
        }
        other => panic!("replay not refused as stale: {other}"),
    }

    // Its new nonce works, mortally too; another key's signature over the same payload does not.
    let era = Era::mortal(64, u64::from(client.best_header().unwrap().number));
    let next = ed25519_transfer(&client, &key, bob, UNIT, again.nonce, era);
    let mut forged = next.clone();
    let (other_key, _) = ed25519_key(8);
    let other = ed25519_transfer(&client, &other_key, bob, UNIT, again.nonce, era);
    // The signature's 64 bytes follow the version byte, the address and the scheme's tag.
    forged.0[35..99].copy_from_slice(&other.0[35..99]);
    assert_eq!(
        refused(&client, forged),
        PoolError::Invalid(InvalidTransaction::BadSignature)
    );
    include(&mut client, next);
    assert_eq!(free(&client, &account).nonce, again.nonce + 1);
}

#[test]
fn signed_extensions_refuse_with_their_own_errors() {
    let client = dev_client();
    let alice = Pair::dev("Alice");
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public().into(),
        value: UNIT,
    });
    let extra = SignedExtra {
        era: Era::Immortal,
        nonce: 0,
        tip: 0,
    };
    let mut chain = chain_context(&client);
    chain.birth_hash = chain.genesis_hash;
    let signed = Extrinsic::signed(&alice, call.clone(), extra, &chain);

    // An account index names no account here.
    let mut by_index = signed.clone();
    if let Some(data) = by_index.signature.as_mut() {
        data.address = MultiAddress::Index(0);
    }
    assert_eq!(
        refused(&client, by_index.to_opaque()),
        PoolError::Invalid(InvalidTransaction::CannotLookup)
    );
    // `Address32` names the same account as `Id`.
    let mut by_bytes = signed.clone();
    if let Some(data) = by_bytes.signature.as_mut() {
        data.address = MultiAddress::Address32(alice.public().0);
    }
    let mut pool = Pool::default();
    client.submit(&mut pool, by_bytes.to_opaque()).unwrap();

    // The all-zero account.
    let zero = Extrinsic::signed_by(
        AccountId([0; 32]),
        |_| MultiSignature::Sr25519(Signature([0; 64])),
        call.clone(),
        extra,
        &chain,
    );
    assert_eq!(
        refused(&client, zero.to_opaque()),
        PoolError::Invalid(InvalidTransaction::ZeroSender)
    );
    // ECDSA is not verified here.
    let mut ecdsa = signed.clone();
    if let Some(data) = ecdsa.signature.as_mut() {
        data.signature = MultiSignature::Ecdsa([1; 65]);
    }
    assert_eq!(
        refused(&client, ecdsa.to_opaque()),
        PoolError::Invalid(InvalidTransaction::BadSignature)
    );
    // A mortal era whose birth block the chain has not made yet: phase 10 of 64 at block 1.
    let unborn = SignedExtra {
        era: Era::Mortal {
            period: 64,
            phase: 10,
        },
        ..extra
    };
    let xt = Extrinsic::signed(&alice, call.clone(), unborn, &chain);
    assert_eq!(
        refused(&client, xt.to_opaque()),
        PoolError::Invalid(InvalidTransaction::AncientBirthBlock { birth: 10, now: 1 })
    );
    // Another transaction version.
    let other_version = ChainContext {
        transaction_version: chain.transaction_version + 1,
        ..chain
    };
    let xt = Extrinsic::signed(&alice, call, extra, &other_version);
    assert_eq!(
        refused(&client, xt.to_opaque()),
        PoolError::Invalid(InvalidTransaction::BadSignature)
    );
}

#[test]
fn a_mortal_transaction_dies_with_its_era() {
    let mut client = dev_client();
    let best = client.best_header().unwrap();
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public().into(),
        value: UNIT,
    });
    let extra = SignedExtra {
        era: Era::mortal(4, u64::from(best.number)),
        nonce: 0,
        tip: 0,
    };
    let xt = Extrinsic::signed(&Pair::dev("Alice"), call, extra, &chain_context(&client));
    client.submit(&mut Pool::default(), xt.to_opaque()).unwrap();
    // Four blocks of others' transfers later, its era (four blocks from genesis) is over.
    for nonce in 0..4 {
        let other = transfer(&client, "Bob", "Charlie", UNIT, nonce);
        include(&mut client, other);
    }
    assert_eq!(
        refused(&client, xt.to_opaque()),
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
        dest: Pair::dev("Bob").public().into(),
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
    let before_alice = client.account(&genesis, &alice).unwrap().data.free;
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
        before_alice + fee
    );
    assert_eq!(
        client.total_issuance(&at).unwrap(),
        client.total_issuance(&genesis).unwrap()
    );
    let events: Vec<EventRecord<Event>> = parity_scale_codec::Decode::decode(
        &mut &client.storage(&at, &system::events_key()).unwrap().unwrap()[..],
    )
    .unwrap();
    // Recorded as Substrate records it: `Balances` (index 1), its first error.
    let insufficient = tessera_relay_chain::dispatch_error(balances::Error::InsufficientBalance);
    assert_eq!(
        insufficient.encode(),
        [3, 1, 0, 0, 0, 0],
        "Module(ModuleError {{ index, error }})"
    );
    assert!(events.iter().any(|record| matches!(
        &record.event,
        Event::System(system::Event::ExtrinsicFailed {
                dispatch_error: error,
                ..
            }) if *error == insufficient
    )));
}

/// A call naming an account by an address this chain cannot look up (an account index) fails
/// as Substrate's `CannotLookup`; the signer pays its fee and nothing moves.
#[test]
fn a_transfer_to_an_address_that_names_no_account_fails_as_cannot_lookup() {
    let mut client = dev_client();
    let mut pool = Pool::default();
    let bob = Pair::dev("Bob");
    let genesis = client.info().unwrap().genesis;
    let best = client.best_header().unwrap();
    let call = Call::Balances(balances::Call::TransferKeepAlive {
        dest: MultiAddress::Index(7),
        value: UNIT,
    });
    client
        .submit(&mut pool, sign(&bob, call, 0, genesis, &best))
        .unwrap();
    let at = client.author_next(&mut pool).unwrap().block.hash();
    let after = client.account(&at, &bob.public()).unwrap();
    assert_eq!(after.nonce, 1);
    let fee = client.account(&genesis, &bob.public()).unwrap().data.free - after.data.free;
    assert!(fee > 0 && fee < UNIT, "only the fee was taken: {fee}");
    let events: Vec<EventRecord<Event>> = parity_scale_codec::Decode::decode(
        &mut &client.storage(&at, &system::events_key()).unwrap().unwrap()[..],
    )
    .unwrap();
    assert!(events.iter().any(|record| matches!(
        &record.event,
        Event::System(system::Event::ExtrinsicFailed {
            dispatch_error: DispatchError::CannotLookup,
            ..
        })
    )));
    assert_eq!(DispatchError::CannotLookup.encode(), [1]);
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
fn foreign_block(xts: &[(&str, &str, u128, Nonce)]) -> Block {
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

    // The runtime's author digest must name the validator that claimed the slot.
    let mut other_author = block.clone();
    other_author.header.digest.logs[1] = DigestItem::PreRuntime(
        tessera_runtime::executive::AUTHOR_ENGINE,
        Pair::dev("Bob").public().encode(),
    );
    assert!(matches!(
        rejected(&reseal(other_author, &alice)),
        ImportError::Execution(ExecutionError::InvalidBlock(BlockRejection::Rule(_)))
    ));
    let mut no_author = block.clone();
    no_author.header.digest.logs.remove(1);
    assert!(matches!(
        rejected(&reseal(no_author, &alice)),
        ImportError::AuthorMismatch { named: None, .. }
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
