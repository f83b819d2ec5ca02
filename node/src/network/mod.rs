//! The peer-to-peer network on libp2p: TCP + noise + yamux, identify, ping, gossipsub topics
//! for blocks, finality votes and parachain messages, a request-response protocol for syncing
//! blocks and justifications, one for erasure chunks, and one for messages to a single peer
//! (finality catch-up).
//!
//! The network only moves bytes and keeps score. The node decodes what arrives, checks it and
//! says back whether it was valid ([`NetworkHandle::validated`], [`NetworkHandle::report`]);
//! a peer that keeps sending bad data is disconnected and banned for a while. A gossip message
//! is identified by its bytes and its publication, so copies of one publication arriving over
//! several paths are dropped by gossipsub before the node sees them, while a node may publish
//! the same bytes again later (a vote rebroadcast for peers that joined since).

mod behaviour;
mod gossip;
mod handle;
mod limits;
mod protocol;
mod reputation;
mod requests;
mod task;

pub use gossip::{Topic, Verdict};
pub use handle::NetworkHandle;
pub use limits::NetworkLimits;
pub use protocol::{
    decode_exact, AvailableDataCodec, AvailableDataRequest, AvailableDataResponse, BlockAnnounce,
    ChunkCodec, ChunkRequest, ChunkResponse, CollationCodec, CollationResponse, DirectCodec,
    DirectMessage, FramedCodec, ParaBlocksCodec, ParaBlocksRequest, ParaBlocksResponse, SyncBlock,
    SyncCodec, SyncRequest, SyncResponse, AVAILABLE_DATA_PROTOCOL, CHUNK_PROTOCOL,
    COLLATION_PROTOCOL, DIRECT_PROTOCOL, MAX_BLOCKS_PER_REQUEST, MAX_CHUNK_RESPONSE_SIZE,
    MAX_COLLATION_SIZE, MAX_GOSSIP_SIZE, MAX_PARA_BLOCKS_PER_REQUEST,
    MAX_PARA_BLOCKS_RESPONSE_SIZE, MAX_REQUEST_SIZE, MAX_RESPONSE_SIZE,
    MAX_STATE_NODES_PER_REQUEST, PARA_BLOCKS_PROTOCOL, SYNC_PROTOCOL,
};
pub use reputation::{Misbehaviour, Reputations, BAN_DURATION, BAN_THRESHOLD, HALF_LIFE};

use libp2p::gossipsub::MessageId;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::{identity, noise, tcp, yamux, Multiaddr, PeerId};
use std::time::Duration;
use tokio::sync::mpsc;

/// How to run the network.
pub struct NetworkConfig {
    /// This node's identity.
    pub keypair: identity::Keypair,
    /// Where to listen, e.g. `/ip4/127.0.0.1/tcp/30333` (`/tcp/0` picks a port).
    pub listen: Multiaddr,
    /// Peers to connect to, each `/ip4/…/tcp/…/p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Separates chains: topics are named after it (use the genesis hash).
    pub chain: String,
    /// What peers may take of this node.
    pub limits: NetworkLimits,
}

impl NetworkConfig {
    /// A fresh identity on 127.0.0.1 with a port picked by the system (tests, benchmarks,
    /// in-process networks).
    pub fn loopback(chain: impl Into<String>, bootnodes: Vec<Multiaddr>) -> Self {
        NetworkConfig {
            keypair: identity::Keypair::generate_ed25519(),
            listen: Multiaddr::from(std::net::Ipv4Addr::LOCALHOST)
                .with(libp2p::multiaddr::Protocol::Tcp(0)),
            bootnodes,
            chain: chain.into(),
            // Every peer of an in-process network shares 127.0.0.1.
            limits: NetworkLimits {
                max_inbound_per_ip: 64,
                ..NetworkLimits::default()
            },
        }
    }
}

/// What the network reports to the node.
#[derive(Debug)]
pub enum NetworkEvent {
    /// Listening on this address (with `/p2p/<id>`, ready to give to peers).
    Listening(Multiaddr),
    /// A peer connected.
    PeerConnected(PeerId),
    /// A peer's last connection closed.
    PeerDisconnected(PeerId),
    /// A gossip message to check and answer with [`NetworkHandle::validated`].
    Gossip {
        /// The peer it came from.
        peer: PeerId,
        /// The peer that published it (gossip is signed).
        source: Option<PeerId>,
        /// Its topic.
        topic: Topic,
        /// Its id, for the validation answer.
        id: MessageId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A peer asks for blocks; answer with [`NetworkHandle::respond`].
    SyncRequest {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: SyncRequest,
        /// Where the answer goes.
        channel: ResponseChannel<SyncResponse>,
    },
    /// The answer to one of our requests, or why there is none.
    SyncResponse {
        /// Who answered.
        peer: PeerId,
        /// The request it answers.
        request: OutboundRequestId,
        /// The answer.
        response: Result<SyncResponse, String>,
    },
    /// A peer asks for an erasure chunk; answer with [`NetworkHandle::respond_chunk`].
    ChunkRequest {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: ChunkRequest,
        /// Where the answer goes.
        channel: ResponseChannel<ChunkResponse>,
    },
    /// The answer to one of our chunk requests, or why there is none.
    ChunkResponse {
        /// Who answered.
        peer: PeerId,
        /// What we asked.
        request: ChunkRequest,
        /// The answer.
        response: Result<ChunkResponse, String>,
    },
    /// A collator sends this node a collation to back; answer with
    /// [`NetworkHandle::respond_collation`].
    Collation {
        /// Who sent it.
        peer: PeerId,
        /// The collation with its collator's declaration.
        collation: Box<crate::collation::DeclaredCollation>,
        /// Where the answer goes.
        channel: ResponseChannel<CollationResponse>,
    },
    /// What a backer did with a collation we sent it.
    CollationResponse {
        /// The backer.
        peer: PeerId,
        /// The candidate's hash.
        candidate: tessera_runtime::Hash,
        /// Its answer, or why there is none.
        response: Result<CollationResponse, String>,
    },
    /// A peer asks for a candidate's whole available data; answer with
    /// [`NetworkHandle::respond_available_data`].
    AvailableDataRequest {
        /// The asker.
        peer: PeerId,
        /// What it asks.
        request: AvailableDataRequest,
        /// Where the answer goes.
        channel: ResponseChannel<AvailableDataResponse>,
    },
    /// The answer to one of our available data requests, or why there is none.
    AvailableDataResponse {
        /// Who answered.
        peer: PeerId,
        /// What we asked.
        request: AvailableDataRequest,
        /// The answer.
        response: Result<AvailableDataResponse, String>,
    },
    /// A peer asks for blocks of a para; answer with [`NetworkHandle::respond_para_blocks`].
    ParaBlocksRequest {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: ParaBlocksRequest,
        /// Where the answer goes.
        channel: ResponseChannel<ParaBlocksResponse>,
    },
    /// The answer to one of our para blocks requests, or why there is none.
    ParaBlocksResponse {
        /// Who answered.
        peer: PeerId,
        /// What we asked.
        request: ParaBlocksRequest,
        /// The answer.
        response: Result<ParaBlocksResponse, String>,
    },
    /// A message sent to this node alone (already acknowledged).
    Direct {
        /// The sender.
        peer: PeerId,
        /// Whose kind of message it is.
        topic: Topic,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A peer was banned for misbehaviour and disconnected.
    Banned(PeerId),
}

impl NetworkEvent {
    /// Bytes an unsolicited event (gossip, a direct message, a collation) holds while queued;
    /// 0 for the others, which this node asked for or which are small.
    fn unsolicited_bytes(&self) -> usize {
        use parity_scale_codec::Encode;
        match self {
            NetworkEvent::Gossip { data, .. } | NetworkEvent::Direct { data, .. } => data.len(),
            NetworkEvent::Collation { collation, .. } => collation.encoded_size(),
            _ => 0,
        }
    }

    /// The peer an unsolicited event came from (forwarder or sender).
    fn peer(&self) -> Option<PeerId> {
        match self {
            NetworkEvent::Gossip { peer, .. }
            | NetworkEvent::Direct { peer, .. }
            | NetworkEvent::Collation { peer, .. }
            | NetworkEvent::SyncRequest { peer, .. }
            | NetworkEvent::ChunkRequest { peer, .. }
            | NetworkEvent::ParaBlocksRequest { peer, .. }
            | NetworkEvent::AvailableDataRequest { peer, .. } => Some(*peer),
            _ => None,
        }
    }
}

/// The node's end of the network's bounded event queue.
pub struct NetworkEvents {
    receiver: mpsc::Receiver<(NetworkEvent, usize)>,
    queue: limits::SharedQueue,
}

impl NetworkEvents {
    /// The next event, `None` once the network has stopped. What a peer sent before it was
    /// banned is dropped unread.
    pub async fn recv(&mut self) -> Option<NetworkEvent> {
        loop {
            let (event, bytes) = self.receiver.recv().await?;
            self.queue.release(bytes);
            if event.peer().is_some_and(|peer| self.queue.is_banned(&peer)) {
                continue;
            }
            return Some(event);
        }
    }
}

/// Why the network could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Setting up the transport or behaviours failed.
    #[error("network setup: {0}")]
    Setup(String),
    /// The listen address cannot be used.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// No peer subscribed to the topic, or none could take the message now: later may work.
    #[error("no peer can take the message yet")]
    NoPeers,
    /// Publishing failed.
    #[error("publish failed: {0}")]
    Publish(String),
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// Starts the network task on the current tokio runtime.
pub fn start(config: NetworkConfig) -> Result<(NetworkHandle, NetworkEvents), NetworkError> {
    let setup = |e: &dyn std::fmt::Display| NetworkError::Setup(e.to_string());
    let local_peer_id = config.keypair.public().to_peer_id();
    let behaviour = behaviour::behaviour(&config.keypair, &config.limits)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    for topic in Topic::ALL {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic.ident(&config.chain))
            .map_err(|e| setup(&e))?;
    }
    swarm
        .listen_on(config.listen.clone())
        .map_err(|e| NetworkError::Listen {
            addr: config.listen.clone(),
            reason: with_sources(&e),
        })?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, receiver) = mpsc::channel(1024);
    let queue = limits::SharedQueue::default();
    let task = task::Task {
        swarm,
        chain: config.chain,
        bootnodes: config.bootnodes,
        commands: command_rx,
        events: task::Emitter {
            sender: event_tx,
            queue: queue.clone(),
            max_bytes: config.limits.max_queued_bytes,
        },
        limits: config.limits,
        rates: Default::default(),
        per_ip: Default::default(),
        refused: Default::default(),
        reputations: Reputations::default(),
        connected: Default::default(),
        sync_requests: Default::default(),
        chunk_requests: Default::default(),
        available_data_requests: Default::default(),
        para_block_requests: Default::default(),
        collations_sent: Default::default(),
    };
    tokio::spawn(task.run());
    Ok((
        NetworkHandle {
            commands,
            local_peer_id,
        },
        NetworkEvents { receiver, queue },
    ))
}

/// An error with its causes, `outer: inner: …` (libp2p's transport errors say nothing
/// themselves and keep the I/O error as their source).
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
