//! Two nodes on loopback: a validator authors, a fresh full node syncs from genesis and then
//! follows by gossip.

use crate::support::{client_of, fast_dev_spec};
use std::sync::Arc;
use std::time::Duration;
use tessera_consensus::AuthorityKey;
use tessera_node::network::NetworkConfig;
use tessera_node::run::{Authoring, Node};
use tessera_node::service::Shared;
use tessera_node::workload::TransferGenerator;
use tessera_runtime::crypto::Pair;

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
    let best = |shared: &Shared| shared.client().info().unwrap().best_number;
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
