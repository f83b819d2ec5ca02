//! The libp2p network on loopback: connect, gossip, sync requests, and banning a peer that
//! sends garbage.

use crate::support::dev_client;
use libp2p::{identity, Multiaddr, PeerId};
use parity_scale_codec::Encode;
use std::time::Duration;
use tessera_node::network::{
    self, decode_exact, BlockAnnounce, Misbehaviour, NetworkConfig, NetworkEvent, NetworkHandle,
    SyncBlock, SyncRequest, SyncResponse, Topic,
};
use tessera_node::pool::Pool;
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(15);

fn start(bootnodes: Vec<Multiaddr>) -> (NetworkHandle, Receiver<NetworkEvent>) {
    network::start(NetworkConfig {
        keypair: identity::Keypair::generate_ed25519(),
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootnodes,
        chain: "test".into(),
    })
    .unwrap()
}

/// The first event `pick` accepts, skipping others; panics after [`WAIT`].
async fn expect<T>(
    events: &mut Receiver<NetworkEvent>,
    mut pick: impl FnMut(NetworkEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("network stopped");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("event did not arrive in time")
}

async fn listening(events: &mut Receiver<NetworkEvent>) -> Multiaddr {
    expect(events, |e| match e {
        NetworkEvent::Listening(addr) => Some(addr),
        _ => None,
    })
    .await
}

async fn connected(events: &mut Receiver<NetworkEvent>, peer: PeerId) {
    expect(events, |e| {
        matches!(e, NetworkEvent::PeerConnected(p) if p == peer).then_some(())
    })
    .await
}

/// Publishes until a subscriber is known (gossipsub refuses before that).
async fn publish(handle: &NetworkHandle, topic: Topic, data: Vec<u8>) {
    tokio::time::timeout(WAIT, async {
        while handle.publish(topic, data.clone()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("no subscriber appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_gossip_and_sync_blocks() {
    let (a, mut a_events) = start(vec![]);
    let a_addr = listening(&mut a_events).await;
    let (b, mut b_events) = start(vec![a_addr]);
    connected(&mut a_events, b.local_peer_id()).await;
    connected(&mut b_events, a.local_peer_id()).await;

    let status = BlockAnnounce::Status {
        best: 3,
        best_hash: Default::default(),
        finalized: 2,
    };
    publish(&b, Topic::Blocks, status.encode()).await;
    let (peer, id, data) = expect(&mut a_events, |e| match e {
        NetworkEvent::Gossip {
            peer,
            topic: Topic::Blocks,
            id,
            data,
            ..
        } => Some((peer, id, data)),
        _ => None,
    })
    .await;
    assert_eq!(peer, b.local_peer_id());
    assert_eq!(decode_exact::<BlockAnnounce>(&data).unwrap(), status);
    a.validated(id, peer, true).unwrap();

    // B serves a block from its chain.
    let mut chain = dev_client();
    let block = chain.author_next(&mut Pool::default()).unwrap().block;
    let request = a
        .request(b.local_peer_id(), SyncRequest::Blocks { from: 1, count: 1 })
        .await
        .unwrap();
    let channel = expect(&mut b_events, |e| match e {
        NetworkEvent::SyncRequest {
            request: SyncRequest::Blocks { from: 1, count: 1 },
            channel,
            ..
        } => Some(channel),
        _ => None,
    })
    .await;
    let served = SyncBlock {
        block,
        justification: None,
    };
    b.respond(channel, SyncResponse::Blocks(vec![served.clone()]))
        .unwrap();
    let response = expect(&mut a_events, |e| match e {
        NetworkEvent::SyncResponse {
            request: r,
            response,
            ..
        } if r == request => Some(response),
        _ => None,
    })
    .await;
    assert_eq!(response.unwrap(), SyncResponse::Blocks(vec![served]));
    assert_eq!(a.peers().await.unwrap(), vec![b.local_peer_id()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_is_banned_and_disconnected() {
    let (a, mut a_events) = start(vec![]);
    let a_addr = listening(&mut a_events).await;
    let (bad, mut bad_events) = start(vec![a_addr]);
    connected(&mut a_events, bad.local_peer_id()).await;

    // Malformed gossip: the node fails to decode it, rejects it and reports the sender.
    for round in 0u8..2 {
        publish(&bad, Topic::Blocks, vec![0xff, round, 1, 2, 3]).await;
        let (peer, id, data) = expect(&mut a_events, |e| match e {
            NetworkEvent::Gossip { peer, id, data, .. } => Some((peer, id, data)),
            _ => None,
        })
        .await;
        assert!(decode_exact::<BlockAnnounce>(&data).is_err());
        a.validated(id, peer, false).unwrap();
        a.report(peer, Misbehaviour::Malformed).unwrap();
    }
    let banned = expect(&mut a_events, |e| match e {
        NetworkEvent::Banned(peer) => Some(peer),
        _ => None,
    })
    .await;
    assert_eq!(banned, bad.local_peer_id());
    expect(&mut bad_events, |e| {
        matches!(e, NetworkEvent::PeerDisconnected(p) if p == a.local_peer_id()).then_some(())
    })
    .await;
    // A no longer counts it as a peer (redials are refused while the ban lasts).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!a.peers().await.unwrap().contains(&bad.local_peer_id()));
}
