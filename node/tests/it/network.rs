//! The libp2p network on loopback: connect, gossip, sync requests, banning a peer that sends
//! garbage (and never the peer that only forwarded it), and the limits on what one peer may
//! take (request rates, connections per address).

use crate::support::dev_client;
use libp2p::{identity, Multiaddr, PeerId};
use parity_scale_codec::Encode;
use std::time::Duration;
use tessera_node::network::{
    self, decode_exact, BlockAnnounce, Misbehaviour, NetworkConfig, NetworkEvent, NetworkEvents,
    NetworkHandle, NetworkLimits, SyncBlock, SyncRequest, SyncResponse, Topic, Verdict,
};
use tessera_node::pool::Pool;

const WAIT: Duration = Duration::from_secs(15);

fn start(bootnodes: Vec<Multiaddr>) -> (NetworkHandle, NetworkEvents) {
    start_with(bootnodes, NetworkConfig::loopback("test", vec![]).limits)
}

fn start_with(bootnodes: Vec<Multiaddr>, limits: NetworkLimits) -> (NetworkHandle, NetworkEvents) {
    network::start(NetworkConfig {
        keypair: identity::Keypair::generate_ed25519(),
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootnodes,
        chain: "test".into(),
        limits,
    })
    .unwrap()
}

/// The first event `pick` accepts, skipping others; panics after [`WAIT`].
async fn expect<T>(
    events: &mut NetworkEvents,
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

async fn listening(events: &mut NetworkEvents) -> Multiaddr {
    expect(events, |e| match e {
        NetworkEvent::Listening(addr) => Some(addr),
        _ => None,
    })
    .await
}

async fn connected(events: &mut NetworkEvents, peer: PeerId) {
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

    let mut chain = dev_client();
    let block = chain.author_next(&mut Pool::default()).unwrap().block;
    let status = BlockAnnounce::Status {
        best: block.header.clone(),
        finalized: 0,
    };
    publish(&b, Topic::Blocks, status.encode()).await;
    let (peer, source, id, data) = expect(&mut a_events, |e| match e {
        NetworkEvent::Gossip {
            peer,
            source,
            topic: Topic::Blocks,
            id,
            data,
        } => Some((peer, source, id, data)),
        _ => None,
    })
    .await;
    assert_eq!(peer, b.local_peer_id());
    assert_eq!(source, Some(b.local_peer_id()));
    assert_eq!(decode_exact::<BlockAnnounce>(&data).unwrap(), status);
    a.validated(id, peer, source, Verdict::Ignore).unwrap();

    // B serves a block from its chain.
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

    // Malformed gossip: the node fails to decode it and rejects it; the network charges the
    // peer that signed it. Three such offences in a row ban.
    for round in 0u8..3 {
        publish(&bad, Topic::Blocks, vec![0xff, round, 1, 2, 3]).await;
        let (peer, source, id, data) = expect(&mut a_events, |e| match e {
            NetworkEvent::Gossip {
                peer,
                source,
                id,
                data,
                ..
            } => Some((peer, source, id, data)),
            _ => None,
        })
        .await;
        assert!(decode_exact::<BlockAnnounce>(&data).is_err());
        a.validated(id, peer, source, Verdict::Reject(Misbehaviour::Malformed))
            .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_blames_its_source_never_the_peer_that_forwarded_it() {
    // source -- forwarder -- judge: the judge hears the source's messages only through the
    // forwarder, which accepted them (as an honest node that could not tell would).
    let (forwarder, mut forwarder_events) = start(vec![]);
    let forwarder_addr = listening(&mut forwarder_events).await;
    let (judge, mut judge_events) = start(vec![forwarder_addr.clone()]);
    let (source, _source_events) = start(vec![forwarder_addr]);
    connected(&mut judge_events, forwarder.local_peer_id()).await;
    let mut waiting = vec![judge.local_peer_id(), source.local_peer_id()];
    expect(&mut forwarder_events, |e| match e {
        NetworkEvent::PeerConnected(peer) => {
            waiting.retain(|p| *p != peer);
            waiting.is_empty().then_some(())
        }
        _ => None,
    })
    .await;
    // Let the judge's subscription reach the forwarder.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for round in 0u8..3 {
        publish(&source, Topic::Finality, vec![0xee, round]).await;
        let (peer, from, id) = expect(&mut forwarder_events, |e| match e {
            NetworkEvent::Gossip {
                peer, source, id, ..
            } => Some((peer, source, id)),
            _ => None,
        })
        .await;
        forwarder
            .validated(id, peer, from, Verdict::Accept)
            .unwrap();
        let (peer, from, id) = expect(&mut judge_events, |e| match e {
            NetworkEvent::Gossip {
                peer, source, id, ..
            } => Some((peer, source, id)),
            _ => None,
        })
        .await;
        assert_eq!(peer, forwarder.local_peer_id());
        assert_eq!(from, Some(source.local_peer_id()));
        judge
            .validated(id, peer, from, Verdict::Reject(Misbehaviour::Invalid))
            .unwrap();
    }
    let banned = expect(&mut judge_events, |e| match e {
        NetworkEvent::Banned(peer) => Some(peer),
        _ => None,
    })
    .await;
    assert_eq!(banned, source.local_peer_id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        judge.peers().await.unwrap(),
        vec![forwarder.local_peer_id()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_request_rate_is_refused_then_banned() {
    let (a, mut a_events) = start(vec![]);
    let a_addr = listening(&mut a_events).await;
    let (flooder, mut flooder_events) = start(vec![a_addr]);
    connected(&mut a_events, flooder.local_peer_id()).await;
    // 200 sync requests at once: the burst (20) reaches the node, the rest are refused and
    // charged until the flooder is banned.
    for _ in 0..200 {
        flooder
            .request(a.local_peer_id(), SyncRequest::Blocks { from: 1, count: 1 })
            .await
            .unwrap();
    }
    let mut served = 0;
    let banned = expect(&mut a_events, |e| match e {
        NetworkEvent::SyncRequest { .. } => {
            served += 1;
            None
        }
        NetworkEvent::Banned(peer) => Some(peer),
        _ => None,
    })
    .await;
    assert_eq!(banned, flooder.local_peer_id());
    assert!(served <= 21, "{served} requests passed the rate limit");
    expect(&mut flooder_events, |e| {
        matches!(e, NetworkEvent::PeerDisconnected(p) if p == a.local_peer_id()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_connections_from_one_address_are_limited() {
    let limits = NetworkLimits {
        max_inbound_per_ip: 2,
        ..NetworkLimits::default()
    };
    let (a, mut a_events) = start_with(vec![], limits);
    let a_addr = listening(&mut a_events).await;
    let mut peers = Vec::new();
    for _ in 0..4 {
        peers.push(start(vec![a_addr.clone()]));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connected = a.peers().await.unwrap();
    assert_eq!(connected.len(), 2, "{connected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validators_peer_is_learnt_only_from_an_identity_it_signed() {
    use std::sync::Arc;
    use tessera_consensus::AuthorityKey;
    use tessera_node::parachains::{ParachainService, ValidatorIdentity};
    use tessera_node::service::Shared;
    use tessera_runtime::crypto::Pair;
    let (handle, _events) = start(vec![]);
    let shared = Arc::new(Shared::new(dev_client(), "Development".into()));
    let validation = Arc::new(crate::validation::host());
    let mut service = ParachainService::new(shared, handle, None, validation, Default::default());
    let alice = AuthorityKey::from_pair(&Pair::dev("Alice"));
    let mallory = AuthorityKey::from_pair(&Pair::dev("Mallory"));
    let (one, two) = (PeerId::random(), PeerId::random());
    let now = tessera_node::client::unix_time_ms();

    let identity = ValidatorIdentity::sign(&alice, &one, now);
    assert_eq!(service.on_identity(identity.clone()), Verdict::Accept);
    assert_eq!(service.validator_peer(&alice.public()), Some(one));
    // The same again, or an older one, changes nothing and is not forwarded.
    assert_eq!(service.on_identity(identity), Verdict::Ignore);
    let older = ValidatorIdentity::sign(&alice, &two, now - 1);
    assert_eq!(service.on_identity(older), Verdict::Ignore);
    // Someone else's peer under Alice's name does not verify, and its sender is blamed.
    let mut forged = ValidatorIdentity::sign(&alice, &one, now + 1);
    forged.peer = two.to_bytes();
    assert_eq!(
        service.on_identity(forged),
        Verdict::Reject(Misbehaviour::Invalid)
    );
    // Who is not a validator here names nobody.
    let stranger = ValidatorIdentity::sign(&mallory, &two, now);
    assert_eq!(service.on_identity(stranger), Verdict::Ignore);
    assert_eq!(service.validator_peer(&mallory.public()), None);
    // A newer identity moves the validator to its new peer.
    let moved = ValidatorIdentity::sign(&alice, &two, now + 2);
    assert_eq!(service.on_identity(moved), Verdict::Accept);
    assert_eq!(service.validator_peer(&alice.public()), Some(two));
}
