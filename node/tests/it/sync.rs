//! Nodes on loopback: a validator authors, a fresh full node syncs from genesis and then
//! follows by gossip; a node fetches a block a peer voted for on a fork it never saw.

use crate::support::{client_of, fast_dev_spec};
use parity_scale_codec::Encode;
use std::sync::Arc;
use std::time::Duration;
use tessera_consensus::finality::{FinalityMessage, SignedVote, Target, Vote};
use tessera_consensus::AuthorityKey;
use tessera_node::client::unix_time_ms;
use tessera_node::network::{self, NetworkConfig, NetworkEvent, SyncRequest, SyncResponse, Topic};
use tessera_node::pool::Pool;
use tessera_node::run::{Authoring, Node};
use tessera_node::service::Shared;
use tessera_node::sync::ancestry;
use tessera_node::workload::TransferGenerator;
use tessera_relay_chain::ChainSpec;
use tessera_runtime::crypto::Pair;

fn best(shared: &Shared) -> u32 {
    shared.client().info().unwrap().best_number
}

fn network(bootnodes: Vec<libp2p::Multiaddr>) -> NetworkConfig {
    NetworkConfig::loopback("sync-test", bootnodes)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_syncs_from_genesis_and_follows() {
    // Shown only when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tessera_node=debug")
        .with_test_writer()
        .try_init();
    let spec = fast_dev_spec();
    let validator = Arc::new(Shared::new(client_of(&spec), "dev".into()));
    let authoring = Authoring {
        key: AuthorityKey::from_pair(&Pair::dev("Alice")),
        transfers: Some((TransferGenerator::dev(3), 5)),
        malus: Default::default(),
    };
    let mut node_a = Node::start(validator.clone(), network(vec![]), Some(authoring)).unwrap();
    let a_addr = node_a.listening().await.unwrap();
    let running_a = node_a.spawn();
    wait_for("the validator to author 20 blocks", || {
        best(&validator) >= 20
    })
    .await;

    let follower = Arc::new(Shared::new(client_of(&spec), "dev".into()));
    let mut node_b = Node::start(follower.clone(), network(vec![a_addr]), None).unwrap();
    node_b.listening().await.unwrap();
    let running_b = node_b.spawn();
    wait_for("the follower to catch up", || best(&follower) >= 30).await;

    // Same chain on both, checked block by block up to the follower's best.
    let b_best = best(&follower);
    for number in 1..=b_best {
        let ours = follower.client().store().canonical_hash(number).unwrap();
        let theirs = validator.client().store().canonical_hash(number).unwrap();
        assert_eq!(ours, theirs, "block #{number}");
    }
    assert!(follower.metrics.peers.get() >= 1);
    running_a.stop().await.unwrap();
    running_b.stop().await.unwrap();
}

/// A node that lacks a block a peer voted for fetches it by hash from that peer, even on a
/// fork below its best (sync by number follows only peers' best chains), and serves it by
/// hash in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_voted_for_on_an_unseen_fork_is_fetched_by_hash() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tessera_node=debug")
        .with_test_writer()
        .try_init();
    // Alice authors; Bob never runs, so nothing is finalized and forks stay open.
    let mut spec = ChainSpec::dev_with_validators(2);
    spec.genesis.slot_duration_ms = 50;
    let validator = Arc::new(Shared::new(client_of(&spec), "dev".into()));
    let authoring = Authoring {
        key: AuthorityKey::from_pair(&Pair::dev("Alice")),
        transfers: None,
        malus: Default::default(),
    };
    let mut node_a = Node::start(validator.clone(), network(vec![]), Some(authoring)).unwrap();
    let a_addr = node_a.listening().await.unwrap();
    let running_a = node_a.spawn();
    wait_for("block #3", || best(&validator) >= 3).await;

    // Alice's second block on #3, in a later slot, that never reaches the network.
    let mut holder = client_of(&spec);
    for number in 1..=3 {
        let hash = validator.client().store().canonical_hash(number).unwrap();
        let block = validator.client().block(&hash.unwrap()).unwrap().unwrap();
        holder.import_block(&block).unwrap();
    }
    let fork = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(claim) = holder.claim_slot(unix_time_ms()) {
            break holder.author_block(&mut Pool::new(8), claim).unwrap().block;
        }
    };
    assert_eq!(fork.header.number, 4);

    let follower = Arc::new(Shared::new(client_of(&spec), "dev".into()));
    let mut node_b = Node::start(follower.clone(), network(vec![a_addr]), None).unwrap();
    let b_addr = node_b.listening().await.unwrap();
    let running_b = node_b.spawn();
    wait_for("the follower to pass the fork", || best(&follower) >= 8).await;
    assert!(follower.client().header(&fork.hash()).unwrap().is_none());

    // A peer holding the fork forwards Bob's prevote for it, and answers what it is asked.
    let (peer, mut events) = network::start(network(vec![b_addr.clone()])).unwrap();
    let bob = AuthorityKey::from_pair(&Pair::dev("Bob"));
    let target = Target {
        hash: fork.hash(),
        number: fork.header.number,
    };
    let has_fork = |shared: &Shared| shared.client().header(&fork.hash()).unwrap().is_some();
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut vote_every = tokio::time::interval(Duration::from_millis(200));
        while !has_fork(&follower) {
            tokio::select! {
                _ = vote_every.tick() => {
                    let round = follower.metrics.finality_round.get() as u64;
                    let vote = SignedVote::sign(&bob, Vote::Prevote(target), round, 0);
                    let message = FinalityMessage::Vote(vote).encode();
                    let _no_subscriber_yet = peer.publish(Topic::Finality, message).await;
                }
                Some(event) = events.recv() => {
                    if let NetworkEvent::SyncRequest { request, channel, .. } = event {
                        let response = match request {
                            SyncRequest::Ancestry { hash, count } => {
                                SyncResponse::Blocks(ancestry(&holder, hash, count))
                            }
                            _ => SyncResponse::Blocks(Vec::new()),
                        };
                        peer.respond(channel, response).unwrap();
                    }
                }
            }
        }
    })
    .await
    .expect("the follower fetched the block voted for");
    assert!(
        best(&follower) > fork.header.number,
        "it stays on the longer chain"
    );

    // The follower serves the fork by hash, parents first.
    let b_id = b_addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::P2p(id) => Some(id),
            _ => None,
        })
        .unwrap();
    let asked = peer
        .request(
            b_id,
            SyncRequest::Ancestry {
                hash: fork.hash(),
                count: 2,
            },
        )
        .await
        .unwrap();
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(NetworkEvent::SyncResponse {
                request, response, ..
            }) = events.recv().await
            {
                if request == asked {
                    return response.unwrap();
                }
            }
        }
    })
    .await
    .expect("the follower answered");
    let SyncResponse::Blocks(blocks) = served else {
        panic!("blocks expected, got {served:?}");
    };
    let hashes: Vec<_> = blocks.iter().map(|b| b.block.hash()).collect();
    assert_eq!(hashes, vec![fork.header.parent_hash, fork.hash()]);
    running_a.stop().await.unwrap();
    running_b.stop().await.unwrap();
}
