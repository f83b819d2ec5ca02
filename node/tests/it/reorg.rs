//! Forks: a transaction in a block that loses the fork choice goes back to the pool, and two
//! blocks sealed for one slot by one author are reported.

use crate::support::dev_client;
use parity_scale_codec::Decode;
use tessera_node::client::ImportOutcome;
use tessera_node::pool::Pool;
use tessera_node::workload::sign;
use tessera_relay_chain::{babe, offences, Call, Event, UNIT};
use tessera_runtime::consensus::PreDigest;
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::{Block, Hash};

#[test]
fn a_retracted_blocks_transactions_return_to_the_pool() {
    // Node A includes a transfer at #1; node B builds #1' and #2' on the same genesis.
    let mut a = dev_client();
    let mut b = dev_client();
    let best = a.best_header().unwrap();
    let genesis = a.info().unwrap().genesis;
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public().into(),
        value: UNIT,
    });
    let xt = sign(&Pair::dev("Eve"), call, 0, genesis, &best);
    let mut pool = Pool::default();
    a.submit(&mut pool, xt.clone()).unwrap();
    let ours = a.author_next(&mut pool).unwrap().block;
    assert_eq!(ours.extrinsics, vec![xt.clone()]);
    assert!(a.take_retracted().is_empty());

    let mut empty = Pool::default();
    let theirs_1 = b.author_next(&mut empty).unwrap().block;
    let theirs_2 = b.author_next(&mut empty).unwrap().block;
    assert_ne!(theirs_1.hash(), ours.hash());
    assert_eq!(
        a.import_block(&theirs_1).unwrap(),
        ImportOutcome::Imported { best: false }
    );
    assert_eq!(
        a.import_block(&theirs_2).unwrap(),
        ImportOutcome::Imported { best: true }
    );
    // The transfer left the best chain with #1: it is handed back, and valid again.
    let retracted = a.take_retracted();
    assert_eq!(retracted, vec![xt.clone()]);
    let mut pool = Pool::default();
    a.submit(&mut pool, xt).unwrap();
    assert!(a.take_retracted().is_empty());
}

/// The relay events of block `at`.
fn events(client: &tessera_node::client::Client, at: &Hash) -> Vec<Event> {
    let bytes = client.storage(at, &system::events_key()).unwrap().unwrap();
    Vec::<EventRecord<Event>>::decode(&mut &bytes[..])
        .unwrap()
        .into_iter()
        .map(|record| record.event)
        .collect()
}

#[test]
fn two_blocks_sealed_for_one_slot_are_reported_in_the_next_block_and_once() {
    // Two nodes with Alice's key each author a block in the same slot: an equivocation.
    let mut a = dev_client();
    let mut b = dev_client();
    // (B's holds a transfer, so the two differ.)
    let mut pool = Pool::default();
    let ours = a.author_next(&mut pool).unwrap().block;
    let genesis = b.info().unwrap().genesis;
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public().into(),
        value: UNIT,
    });
    let xt = sign(
        &Pair::dev("Eve"),
        call,
        0,
        genesis,
        &b.best_header().unwrap(),
    );
    let mut b_pool = Pool::default();
    b.submit(&mut b_pool, xt).unwrap();
    let theirs = b.author_next(&mut b_pool).unwrap().block;
    let slot = |block: &Block| PreDigest::from_header(&block.header).unwrap().slot();
    assert_eq!(slot(&ours), slot(&theirs));
    assert_ne!(ours.hash(), theirs.hash());
    assert_eq!(a.pending_reports(), 0);

    // A, seeing both, reports it in the next block it authors, unsigned, and the chain takes
    // it.
    a.import_block(&theirs).unwrap();
    assert_eq!(a.pending_reports(), 1);
    let next = a.author_next(&mut pool).unwrap().block;
    let report = next
        .extrinsics
        .iter()
        .map(|xt| Extrinsic::<Call>::decode_exact(&xt.0).unwrap())
        .find_map(|xt| match xt.call {
            Call::Babe(babe::Call::ReportEquivocationUnsigned { equivocation_proof }) => {
                Some((xt.signature, equivocation_proof))
            }
            _ => None,
        });
    let (signature, proof) = report.expect("the report is in the block");
    assert!(signature.is_none());
    assert_eq!(proof.offender, Pair::dev("Alice").public());
    assert_eq!(proof.slot, slot(&ours));
    assert_eq!(a.pending_reports(), 0);
    let offences: Vec<offences::Event> = events(&a, &next.hash())
        .into_iter()
        .filter_map(|event| match event {
            Event::Offences(event) => Some(event),
            _ => None,
        })
        .collect();
    assert!(matches!(
        offences[..],
        [offences::Event::Offence {
            time_slot: offences::TimeSlot::Slot(s),
            offender,
            ..
        }] if s == slot(&ours) && offender == Pair::dev("Alice").public()
    ));

    // B imports the blocks and the report; it saw the equivocation too, but its own report
    // is refused as known when it authors, and dropped.
    b.import_block(&ours).unwrap();
    assert_eq!(b.pending_reports(), 1);
    assert!(matches!(
        b.import_block(&next).unwrap(),
        ImportOutcome::Imported { .. }
    ));
    let after = b.author_next(&mut pool).unwrap().block;
    assert_eq!(b.pending_reports(), 0);
    assert!(after.extrinsics.iter().all(|xt| !xt.0.is_empty()
        && !matches!(
            Extrinsic::<Call>::decode_exact(&xt.0).unwrap().call,
            Call::Babe(_)
        )));
}
