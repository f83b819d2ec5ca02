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

mod protocol;
mod reputation;

pub use protocol::{
    decode_exact, BlockAnnounce, ChunkCodec, ChunkRequest, ChunkResponse, CollationCodec,
    CollationResponse, DirectCodec, DirectMessage, FramedCodec, ParaBlocksCodec, ParaBlocksRequest,
    ParaBlocksResponse, SyncBlock, SyncCodec, SyncRequest, SyncResponse, CHUNK_PROTOCOL,
    COLLATION_PROTOCOL, DIRECT_PROTOCOL, MAX_BLOCKS_PER_REQUEST, MAX_CHUNK_RESPONSE_SIZE,
    MAX_COLLATION_SIZE, MAX_GOSSIP_SIZE, MAX_PARA_BLOCKS_PER_REQUEST,
    MAX_PARA_BLOCKS_RESPONSE_SIZE, MAX_REQUEST_SIZE, MAX_RESPONSE_SIZE, PARA_BLOCKS_PROTOCOL,
    SYNC_PROTOCOL,
};
pub use reputation::{Misbehaviour, Reputations, BAN_DURATION, BAN_THRESHOLD};

use futures::StreamExt;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, ValidationMode,
};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Gossip topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Block announcements and status.
    Blocks,
    /// Finality votes and commits.
    Finality,
    /// Collations, backing statements and availability bitfields.
    Parachains,
    /// Para transactions, from the node that received them to the para's collators.
    ParaTransactions,
}

impl Topic {
    const ALL: [Topic; 4] = [
        Topic::Blocks,
        Topic::Finality,
        Topic::Parachains,
        Topic::ParaTransactions,
    ];

    fn ident(self, chain: &str) -> IdentTopic {
        let name = match self {
            Topic::Blocks => "blocks",
            Topic::Finality => "finality",
            Topic::Parachains => "parachains",
            Topic::ParaTransactions => "para-transactions",
        };
        IdentTopic::new(format!("/tessera/{chain}/{name}/1"))
    }
}

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
        /// The collation.
        collation: Box<crate::collation::Collation>,
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
        /// The bytes.
        data: Vec<u8>,
    },
    /// A peer was banned for misbehaviour and disconnected.
    Banned(PeerId),
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

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    direct: request_response::Behaviour<DirectCodec>,
    chunks: request_response::Behaviour<ChunkCodec>,
    para_blocks: request_response::Behaviour<ParaBlocksCodec>,
    collations: request_response::Behaviour<CollationCodec>,
}

enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    Validated {
        id: MessageId,
        peer: PeerId,
        valid: bool,
    },
    Ignored {
        id: MessageId,
        peer: PeerId,
    },
    Request {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<OutboundRequestId>,
    },
    Respond {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    Report {
        peer: PeerId,
        what: Misbehaviour,
    },
    Direct {
        peer: PeerId,
        data: Vec<u8>,
    },
    RequestChunk {
        peer: PeerId,
        request: ChunkRequest,
    },
    RespondChunk {
        channel: ResponseChannel<ChunkResponse>,
        response: ChunkResponse,
    },
    SendCollation {
        peer: PeerId,
        collation: Box<crate::collation::Collation>,
    },
    RespondCollation {
        channel: ResponseChannel<CollationResponse>,
        response: CollationResponse,
    },
    RequestParaBlocks {
        peer: PeerId,
        request: ParaBlocksRequest,
    },
    RespondParaBlocks {
        channel: ResponseChannel<ParaBlocksResponse>,
        response: ParaBlocksResponse,
    },
    Peers(oneshot::Sender<Vec<PeerId>>),
}

/// Talks to the running network task.
#[derive(Clone)]
pub struct NetworkHandle {
    commands: mpsc::UnboundedSender<Command>,
    local_peer_id: PeerId,
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    fn send(&self, command: Command) -> Result<(), NetworkError> {
        self.commands
            .send(command)
            .map_err(|_| NetworkError::Stopped)
    }

    /// Gossips `data` on `topic`.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Publish { topic, data, reply })?;
        answer.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Tells gossipsub whether a received message was valid: valid ones are forwarded,
    /// invalid ones dropped and their sender penalized.
    pub fn validated(&self, id: MessageId, peer: PeerId, valid: bool) -> Result<(), NetworkError> {
        self.send(Command::Validated { id, peer, valid })
    }

    /// Drops a received message without forwarding it or blaming its sender (for messages that
    /// honest peers may forward unchecked, such as collations for another backing group).
    pub fn ignore(&self, id: MessageId, peer: PeerId) -> Result<(), NetworkError> {
        self.send(Command::Ignored { id, peer })
    }

    /// Asks `peer` for blocks; the answer arrives as [`NetworkEvent::SyncResponse`].
    pub async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<OutboundRequestId, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Request {
            peer,
            request,
            reply,
        })?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }

    /// Answers a [`NetworkEvent::SyncRequest`].
    pub fn respond(
        &self,
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    ) -> Result<(), NetworkError> {
        self.send(Command::Respond { channel, response })
    }

    /// Charges `peer` for misbehaviour (banning it below the threshold).
    pub fn report(&self, peer: PeerId, what: Misbehaviour) -> Result<(), NetworkError> {
        self.send(Command::Report { peer, what })
    }

    /// Sends `data` to `peer` alone; it arrives there as [`NetworkEvent::Direct`].
    pub fn send_direct(&self, peer: PeerId, data: Vec<u8>) -> Result<(), NetworkError> {
        self.send(Command::Direct { peer, data })
    }

    /// Asks `peer` for an erasure chunk; the answer arrives as [`NetworkEvent::ChunkResponse`].
    pub fn request_chunk(&self, peer: PeerId, request: ChunkRequest) -> Result<(), NetworkError> {
        self.send(Command::RequestChunk { peer, request })
    }

    /// Sends a collation to a backer `peer`; its answer arrives as
    /// [`NetworkEvent::CollationResponse`].
    pub fn send_collation(
        &self,
        peer: PeerId,
        collation: crate::collation::Collation,
    ) -> Result<(), NetworkError> {
        self.send(Command::SendCollation {
            peer,
            collation: Box::new(collation),
        })
    }

    /// Answers a [`NetworkEvent::Collation`].
    pub fn respond_collation(
        &self,
        channel: ResponseChannel<CollationResponse>,
        response: CollationResponse,
    ) -> Result<(), NetworkError> {
        self.send(Command::RespondCollation { channel, response })
    }

    /// Asks `peer` for blocks of a para; the answer arrives as
    /// [`NetworkEvent::ParaBlocksResponse`].
    pub fn request_para_blocks(
        &self,
        peer: PeerId,
        request: ParaBlocksRequest,
    ) -> Result<(), NetworkError> {
        self.send(Command::RequestParaBlocks { peer, request })
    }

    /// Answers a [`NetworkEvent::ParaBlocksRequest`].
    pub fn respond_para_blocks(
        &self,
        channel: ResponseChannel<ParaBlocksResponse>,
        response: ParaBlocksResponse,
    ) -> Result<(), NetworkError> {
        self.send(Command::RespondParaBlocks { channel, response })
    }

    /// Answers a [`NetworkEvent::ChunkRequest`].
    pub fn respond_chunk(
        &self,
        channel: ResponseChannel<ChunkResponse>,
        response: ChunkResponse,
    ) -> Result<(), NetworkError> {
        self.send(Command::RespondChunk { channel, response })
    }

    /// Currently connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Peers(reply))?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }
}

fn behaviour(keypair: &identity::Keypair) -> Result<Behaviour, NetworkError> {
    let setup = |e: &dyn std::fmt::Display| NetworkError::Setup(e.to_string());
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_SIZE)
        .heartbeat_interval(Duration::from_millis(500))
        // Validating a collation can take a good part of a slot: keep messages long enough
        // to forward them once validated (12 heartbeats, 6 s).
        .history_length(12)
        .message_id_fn(|message| {
            use tessera_runtime::hashing::blake2_256;
            let content = blake2_256(&message.data);
            let sequence = message.sequence_number.unwrap_or_default().to_le_bytes();
            MessageId::from(blake2_256(&[&content.0[..], &sequence].concat()).0.to_vec())
        })
        .build()
        .map_err(|e| setup(&e))?;
    let gossipsub =
        gossipsub::Behaviour::new(MessageAuthenticity::Signed(keypair.clone()), gossip_config)
            .map_err(|e| setup(&e))?;
    let sync = request_response::Behaviour::with_codec(
        SyncCodec::default(),
        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
    );
    let direct = request_response::Behaviour::with_codec(
        DirectCodec::default(),
        [(DIRECT_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    );
    let chunks = request_response::Behaviour::with_codec(
        ChunkCodec::default(),
        [(CHUNK_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    );
    let para_blocks = request_response::Behaviour::with_codec(
        ParaBlocksCodec::default(),
        [(PARA_BLOCKS_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
    );
    let collations = request_response::Behaviour::with_codec(
        CollationCodec::default(),
        [(COLLATION_PROTOCOL, ProtocolSupport::Full)],
        // A backer answers once it has run the para's code (2 s backing deadline).
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    );
    Ok(Behaviour {
        identify: identify::Behaviour::new(identify::Config::new(
            "/tessera/1".into(),
            keypair.public(),
        )),
        ping: ping::Behaviour::new(ping::Config::new()),
        gossipsub,
        sync,
        direct,
        chunks,
        para_blocks,
        collations,
    })
}

/// Starts the network task on the current tokio runtime.
pub fn start(
    config: NetworkConfig,
) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>), NetworkError> {
    let setup = |e: &dyn std::fmt::Display| NetworkError::Setup(e.to_string());
    let local_peer_id = config.keypair.public().to_peer_id();
    let behaviour = behaviour(&config.keypair)?;
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
            reason: e.to_string(),
        })?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::channel(1024);
    let task = Task {
        swarm,
        chain: config.chain,
        bootnodes: config.bootnodes,
        commands: command_rx,
        events: event_tx,
        reputations: Reputations::default(),
        connected: Default::default(),
        chunk_requests: Default::default(),
        para_block_requests: Default::default(),
        collations_sent: Default::default(),
    };
    tokio::spawn(task.run());
    Ok((
        NetworkHandle {
            commands,
            local_peer_id,
        },
        events,
    ))
}

struct Task {
    swarm: Swarm<Behaviour>,
    chain: String,
    bootnodes: Vec<Multiaddr>,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<NetworkEvent>,
    reputations: Reputations,
    connected: std::collections::BTreeSet<PeerId>,
    chunk_requests: std::collections::HashMap<OutboundRequestId, ChunkRequest>,
    para_block_requests: std::collections::HashMap<OutboundRequestId, ParaBlocksRequest>,
    collations_sent: std::collections::HashMap<OutboundRequestId, tessera_runtime::Hash>,
}

impl Task {
    async fn run(mut self) {
        self.dial_bootnodes();
        let mut redial = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command),
                    // Every handle is gone: the node is shutting down.
                    None => return,
                },
                event = self.swarm.select_next_some() => {
                    if self.swarm_event(event).await.is_err() {
                        return;
                    }
                }
                _ = redial.tick() => self.redial_bootnodes(),
            }
        }
    }

    fn dial_bootnodes(&mut self) {
        for addr in self.bootnodes.clone() {
            if let Err(err) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, %err, "cannot dial bootnode");
            }
        }
    }

    /// Dials the bootnodes not connected now (those given without a peer id only while no
    /// peer at all is connected): a restarted peer is found again at its address.
    fn redial_bootnodes(&mut self) {
        for addr in self.bootnodes.clone() {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            });
            let wanted = match peer {
                Some(peer) => !self.connected.contains(&peer),
                None => self.connected.is_empty(),
            };
            if wanted && !peer.is_some_and(|p| self.reputations.is_banned(&p, Instant::now())) {
                if let Err(err) = self.swarm.dial(addr.clone()) {
                    tracing::debug!(%addr, %err, "cannot dial bootnode");
                }
            }
        }
    }

    fn topic_of(&self, hash: &gossipsub::TopicHash) -> Option<Topic> {
        Topic::ALL
            .into_iter()
            .find(|topic| topic.ident(&self.chain).hash() == *hash)
    }

    fn command(&mut self, command: Command) {
        let behaviour = self.swarm.behaviour_mut();
        match command {
            Command::Publish { topic, data, reply } => {
                let result = behaviour
                    .gossipsub
                    .publish(topic.ident(&self.chain), data)
                    .map(drop)
                    .map_err(|e| match e {
                        gossipsub::PublishError::NoPeersSubscribedToTopic
                        | gossipsub::PublishError::AllQueuesFull(_) => NetworkError::NoPeers,
                        other => NetworkError::Publish(other.to_string()),
                    });
                let _caller_gone = reply.send(result);
            }
            Command::Validated { id, peer, valid } => {
                let acceptance = if valid {
                    MessageAcceptance::Accept
                } else {
                    MessageAcceptance::Reject
                };
                behaviour
                    .gossipsub
                    .report_message_validation_result(&id, &peer, acceptance);
            }
            Command::Ignored { id, peer } => {
                behaviour.gossipsub.report_message_validation_result(
                    &id,
                    &peer,
                    MessageAcceptance::Ignore,
                );
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = behaviour.sync.send_request(&peer, request);
                let _caller_gone = reply.send(id);
            }
            Command::Respond { channel, response } => {
                // Fails only if the peer went away; nothing to do then.
                let _peer_gone = behaviour.sync.send_response(channel, response);
            }
            Command::Report { peer, what } => self.report(peer, what),
            Command::Direct { peer, data } => {
                behaviour.direct.send_request(&peer, DirectMessage(data));
            }
            Command::RequestChunk { peer, request } => {
                let id = behaviour.chunks.send_request(&peer, request);
                self.chunk_requests.insert(id, request);
            }
            Command::RespondChunk { channel, response } => {
                let _peer_gone = behaviour.chunks.send_response(channel, response);
            }
            Command::SendCollation { peer, collation } => {
                let candidate = collation.candidate.hash();
                let id = behaviour.collations.send_request(&peer, *collation);
                self.collations_sent.insert(id, candidate);
            }
            Command::RespondCollation { channel, response } => {
                let _peer_gone = behaviour.collations.send_response(channel, response);
            }
            Command::RequestParaBlocks { peer, request } => {
                let id = behaviour.para_blocks.send_request(&peer, request);
                self.para_block_requests.insert(id, request);
            }
            Command::RespondParaBlocks { channel, response } => {
                let _peer_gone = behaviour.para_blocks.send_response(channel, response);
            }
            Command::Peers(reply) => {
                let _caller_gone = reply.send(self.connected.iter().copied().collect());
            }
        }
    }

    fn report(&mut self, peer: PeerId, what: Misbehaviour) {
        if self.reputations.report(peer, what, Instant::now()) {
            tracing::info!(%peer, ?what, "banning peer");
            let _not_connected = self.swarm.disconnect_peer_id(peer);
            let _full = self.events.try_send(NetworkEvent::Banned(peer));
        }
    }

    async fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> Result<(), ()> {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.with(libp2p::multiaddr::Protocol::P2p(
                    *self.swarm.local_peer_id(),
                ));
                emit(&self.events, NetworkEvent::Listening(full)).await?;
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if self.reputations.is_banned(&peer_id, Instant::now()) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                } else if num_established.get() == 1 {
                    self.connected.insert(peer_id);
                    emit(&self.events, NetworkEvent::PeerConnected(peer_id)).await?;
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.connected.remove(&peer_id) => {
                self.reputations.forget(&peer_id);
                emit(&self.events, NetworkEvent::PeerDisconnected(peer_id)).await?;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => match self.topic_of(&message.topic) {
                Some(topic) => {
                    emit(
                        &self.events,
                        NetworkEvent::Gossip {
                            peer: propagation_source,
                            source: message.source,
                            topic,
                            id: message_id,
                            data: message.data,
                        },
                    )
                    .await?;
                }
                None => {
                    let gossip = &mut self.swarm.behaviour_mut().gossipsub;
                    gossip.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        MessageAcceptance::Reject,
                    );
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.sync_event(event).await?,
            SwarmEvent::Behaviour(BehaviourEvent::Direct(event)) => {
                self.direct_event(event).await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::Chunks(event)) => {
                self.on_requests(event, |task| &mut task.chunk_requests, CHUNK_EVENTS)
                    .await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::Collations(event)) => {
                self.on_requests(event, |task| &mut task.collations_sent, COLLATION_EVENTS)
                    .await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::ParaBlocks(event)) => {
                self.on_requests(
                    event,
                    |task| &mut task.para_block_requests,
                    PARA_BLOCK_EVENTS,
                )
                .await?
            }
            _ => {}
        }
        Ok(())
    }

    /// Passes on an event of a request-response protocol whose requests in flight are in
    /// `pending`, and reports the peers that sent malformed bytes.
    async fn on_requests<Req, Resp, Tag>(
        &mut self,
        event: request_response::Event<Req, Resp>,
        pending: fn(&mut Task) -> &mut std::collections::HashMap<OutboundRequestId, Tag>,
        kinds: RequestKinds<Req, Resp, Tag>,
    ) -> Result<(), ()> {
        let events = self.events.clone();
        let reports = request_event(event, pending(self), kinds, &events).await?;
        for peer in reports {
            self.report(peer, Misbehaviour::Malformed);
        }
        Ok(())
    }

    async fn sync_event(
        &mut self,
        event: request_response::Event<SyncRequest, SyncResponse>,
    ) -> Result<(), ()> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    emit(
                        &self.events,
                        NetworkEvent::SyncRequest {
                            peer,
                            request,
                            channel,
                        },
                    )
                    .await?;
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    emit(
                        &self.events,
                        NetworkEvent::SyncResponse {
                            peer,
                            request: request_id,
                            response: Ok(response),
                        },
                    )
                    .await?;
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if matches!(&error, request_response::OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.report(peer, Misbehaviour::Malformed);
                }
                emit(
                    &self.events,
                    NetworkEvent::SyncResponse {
                        peer,
                        request: request_id,
                        response: Err(error.to_string()),
                    },
                )
                .await?;
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                if matches!(&error, request_response::InboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.report(peer, Misbehaviour::Malformed);
                }
            }
            request_response::Event::ResponseSent { .. } => {}
        }
        Ok(())
    }
}

impl Task {
    async fn direct_event(
        &mut self,
        event: request_response::Event<DirectMessage, ()>,
    ) -> Result<(), ()> {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let _peer_gone = self.swarm.behaviour_mut().direct.send_response(channel, ());
                emit(
                    &self.events,
                    NetworkEvent::Direct {
                        peer,
                        data: request.0,
                    },
                )
                .await?;
            }
            request_response::Event::InboundFailure {
                peer,
                error: request_response::InboundFailure::Io(error),
                ..
            } if error.kind() == std::io::ErrorKind::InvalidData => {
                self.report(peer, Misbehaviour::Malformed);
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "direct message not delivered");
            }
            _ => {}
        }
        Ok(())
    }
}

/// How the events of one request-response protocol become [`NetworkEvent`]s; `Tag` is what
/// is kept of each request sent, to say what its answer answers.
struct RequestKinds<Req, Resp, Tag> {
    request: fn(PeerId, Req, ResponseChannel<Resp>) -> NetworkEvent,
    response: fn(PeerId, Tag, Result<Resp, String>) -> NetworkEvent,
}

const CHUNK_EVENTS: RequestKinds<ChunkRequest, ChunkResponse, ChunkRequest> = RequestKinds {
    request: |peer, request, channel| NetworkEvent::ChunkRequest {
        peer,
        request,
        channel,
    },
    response: |peer, request, response| NetworkEvent::ChunkResponse {
        peer,
        request,
        response,
    },
};

const COLLATION_EVENTS: RequestKinds<
    crate::collation::Collation,
    CollationResponse,
    tessera_runtime::Hash,
> = RequestKinds {
    request: |peer, collation, channel| NetworkEvent::Collation {
        peer,
        collation: Box::new(collation),
        channel,
    },
    response: |peer, candidate, response| NetworkEvent::CollationResponse {
        peer,
        candidate,
        response,
    },
};

const PARA_BLOCK_EVENTS: RequestKinds<ParaBlocksRequest, ParaBlocksResponse, ParaBlocksRequest> =
    RequestKinds {
        request: |peer, request, channel| NetworkEvent::ParaBlocksRequest {
            peer,
            request,
            channel,
        },
        response: |peer, request, response| NetworkEvent::ParaBlocksResponse {
            peer,
            request,
            response,
        },
    };

/// Passes on a request-response event of a protocol whose outbound requests are `pending`;
/// the peers that sent malformed bytes, to report.
async fn request_event<Req, Resp, Tag>(
    event: request_response::Event<Req, Resp>,
    pending: &mut std::collections::HashMap<OutboundRequestId, Tag>,
    kinds: RequestKinds<Req, Resp, Tag>,
    events: &mpsc::Sender<NetworkEvent>,
) -> Result<Vec<PeerId>, ()> {
    let malformed = |e: &std::io::Error| e.kind() == std::io::ErrorKind::InvalidData;
    let mut reports = Vec::new();
    match event {
        request_response::Event::Message { peer, message, .. } => match message {
            request_response::Message::Request {
                request, channel, ..
            } => emit(events, (kinds.request)(peer, request, channel)).await?,
            request_response::Message::Response {
                request_id,
                response,
            } => {
                if let Some(request) = pending.remove(&request_id) {
                    emit(events, (kinds.response)(peer, request, Ok(response))).await?;
                }
            }
        },
        request_response::Event::OutboundFailure {
            peer,
            request_id,
            error,
            ..
        } => {
            if matches!(&error, request_response::OutboundFailure::Io(e) if malformed(e)) {
                reports.push(peer);
            }
            if let Some(request) = pending.remove(&request_id) {
                emit(
                    events,
                    (kinds.response)(peer, request, Err(error.to_string())),
                )
                .await?;
            }
        }
        request_response::Event::InboundFailure { peer, error, .. } => {
            if matches!(&error, request_response::InboundFailure::Io(e) if malformed(e)) {
                reports.push(peer);
            }
        }
        request_response::Event::ResponseSent { .. } => {}
    }
    Ok(reports)
}

/// Hands an event to the node; `Err` when the node has stopped listening.
async fn emit(events: &mpsc::Sender<NetworkEvent>, event: NetworkEvent) -> Result<(), ()> {
    events.send(event).await.map_err(drop)
}
