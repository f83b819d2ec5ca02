//! Forks: a transaction in a block that loses the fork choice goes back to the pool.

use crate::support::dev_client;
use tessera_node::client::ImportOutcome;
use tessera_node::pool::Pool;
use tessera_node::workload::sign;
use tessera_relay_chain::{Call, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::modules::balances;

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
