//! The swarm task: runs libp2p, turns its events into [`NetworkEvent`]s for the node and
//! carries out the node's commands.

use super::behaviour::{Behaviour, BehaviourEvent};
use super::handle::Command;
use super::limits::{Inbound, NetworkLimits, PerIp, RequestRates, SharedQueue};
use super::protocol::*;
use super::requests::{
    request_event, RequestKinds, AVAILABLE_DATA_EVENTS, CHUNK_EVENTS, COLLATION_EVENTS,
    PARA_BLOCK_EVENTS, SYNC_EVENTS,
};
use super::{Misbehaviour, NetworkError, NetworkEvent, Reputations, Topic, Verdict};
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub(super) struct Task {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) chain: String,
    pub(super) bootnodes: Vec<Multiaddr>,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pub(super) events: Emitter,
    pub(super) limits: NetworkLimits,
    pub(super) rates: RequestRates,
    pub(super) per_ip: PerIp,
    /// Connections closed for the per-IP limit, until they are gone.
    pub(super) refused: std::collections::HashSet<libp2p::swarm::ConnectionId>,
    pub(super) reputations: Reputations,
    pub(super) connected: std::collections::BTreeSet<PeerId>,
    /// Sync requests in flight (the answer names its request by id).
    pub(super) sync_requests: std::collections::HashMap<OutboundRequestId, OutboundRequestId>,
    pub(super) chunk_requests: std::collections::HashMap<OutboundRequestId, ChunkRequest>,
    pub(super) available_data_requests:
        std::collections::HashMap<OutboundRequestId, AvailableDataRequest>,
    pub(super) para_block_requests: std::collections::HashMap<OutboundRequestId, ParaBlocksRequest>,
    pub(super) collations_sent: std::collections::HashMap<OutboundRequestId, tessera_runtime::Hash>,
}

impl Task {
    pub(super) async fn run(mut self) {
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
                _ = redial.tick() => {
                    self.redial_bootnodes();
                    let now = Instant::now();
                    let reputations = &mut self.reputations;
                    self.events.queue.retain_banned(|peer| reputations.is_banned(peer, now));
                }
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
            Command::Validated {
                id,
                peer,
                source,
                verdict,
            } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                    Verdict::Reject(_) => MessageAcceptance::Reject,
                };
                behaviour
                    .gossipsub
                    .report_message_validation_result(&id, &peer, acceptance);
                if let (Verdict::Reject(what), Some(source)) = (verdict, source) {
                    self.report(source, what);
                }
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = behaviour.sync.send_request(&peer, request);
                self.sync_requests.insert(id, id);
                let _caller_gone = reply.send(id);
            }
            Command::Respond { channel, response } => {
                // Fails only if the peer went away; nothing to do then.
                let _peer_gone = behaviour.sync.send_response(channel, response);
            }
            Command::Report { peer, what } => self.report(peer, what),
            Command::Direct { peer, topic, data } => {
                behaviour
                    .direct
                    .send_request(&peer, DirectMessage { topic, data });
            }
            Command::RequestChunk { peer, request } => {
                let id = behaviour.chunks.send_request(&peer, request);
                self.chunk_requests.insert(id, request);
            }
            Command::RespondChunk { channel, response } => {
                let _peer_gone = behaviour.chunks.send_response(channel, response);
            }
            Command::SendCollation { peer, collation } => {
                let candidate = collation.collation.candidate.hash();
                let id = behaviour.collations.send_request(&peer, *collation);
                self.collations_sent.insert(id, candidate);
            }
            Command::RespondCollation { channel, response } => {
                let _peer_gone = behaviour.collations.send_response(channel, response);
            }
            Command::RequestAvailableData { peer, request } => {
                let id = behaviour.available_data.send_request(&peer, request);
                self.available_data_requests.insert(id, request);
            }
            Command::RespondAvailableData { channel, response } => {
                let _peer_gone = behaviour.available_data.send_response(channel, response);
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

    /// Takes a request of `peer` on `protocol` within its rate; over it, charges the peer
    /// (the request is dropped, which fails it).
    fn admit(&mut self, peer: PeerId, protocol: Inbound) -> bool {
        let admitted = self.rates.admit(peer, protocol, Instant::now());
        if !admitted {
            self.report(peer, Misbehaviour::Flood);
        }
        admitted
    }

    fn report(&mut self, peer: PeerId, what: Misbehaviour) {
        if self.reputations.report(peer, what, Instant::now()) {
            // At info, bounded by the bans; each offence before it is logged at debug where
            // it was found, so a hostile peer cannot fill the log.
            tracing::info!(%peer, ?what, "banning peer");
            self.events.queue.set_banned(peer, true);
            let _not_connected = self.swarm.disconnect_peer_id(peer);
            let _full = self.events.sender.try_send((NetworkEvent::Banned(peer), 0));
        }
    }

    async fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> Result<(), ()> {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.with(libp2p::multiaddr::Protocol::P2p(
                    *self.swarm.local_peer_id(),
                ));
                self.events.emit(NetworkEvent::Listening(full)).await?;
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let over_ip_limit = inbound_ip(&endpoint).is_some_and(|ip| {
                    !self.per_ip.add(ip, peer_id, self.limits.max_inbound_per_ip)
                });
                if over_ip_limit {
                    tracing::debug!(%peer_id, "too many connections from one address");
                    self.refused.insert(connection_id);
                    self.swarm.close_connection(connection_id);
                } else if self.reputations.is_banned(&peer_id, Instant::now()) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                } else {
                    self.events.queue.set_banned(peer_id, false);
                    // The first connection kept (an earlier one may have been refused).
                    if self.connected.insert(peer_id) {
                        self.events
                            .emit(NetworkEvent::PeerConnected(peer_id))
                            .await?;
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                // A refused connection was never counted.
                if !self.refused.remove(&connection_id) {
                    if let Some(ip) = inbound_ip(&endpoint) {
                        self.per_ip.remove(ip, peer_id);
                    }
                }
                if num_established == 0 && self.connected.remove(&peer_id) {
                    self.rates.forget(&peer_id);
                    self.events
                        .emit(NetworkEvent::PeerDisconnected(peer_id))
                        .await?;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => match self.topic_of(&message.topic) {
                Some(topic) => {
                    let event = NetworkEvent::Gossip {
                        peer: propagation_source,
                        source: message.source,
                        topic,
                        id: message_id.clone(),
                        data: message.data,
                    };
                    if !self.events.emit(event).await? {
                        // The node is behind: drop it unforwarded rather than queue more.
                        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
                        gossip.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    }
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
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => {
                self.on_requests(
                    event,
                    |task| &mut task.sync_requests,
                    SYNC_EVENTS,
                    Inbound::Sync,
                )
                .await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(event)) => {
                self.direct_event(event).await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::Chunks(event)) => {
                self.on_requests(
                    event,
                    |task| &mut task.chunk_requests,
                    CHUNK_EVENTS,
                    Inbound::Chunks,
                )
                .await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::Collations(event)) => {
                self.on_requests(
                    event,
                    |task| &mut task.collations_sent,
                    COLLATION_EVENTS,
                    Inbound::Collations,
                )
                .await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::AvailableData(event)) => {
                self.on_requests(
                    event,
                    |task| &mut task.available_data_requests,
                    AVAILABLE_DATA_EVENTS,
                    Inbound::AvailableData,
                )
                .await?
            }
            SwarmEvent::Behaviour(BehaviourEvent::ParaBlocks(event)) => {
                self.on_requests(
                    event,
                    |task| &mut task.para_block_requests,
                    PARA_BLOCK_EVENTS,
                    Inbound::ParaBlocks,
                )
                .await?
            }
            _ => {}
        }
        Ok(())
    }

    /// Passes on an event of a request-response protocol whose requests in flight are in
    /// `pending`, and charges the peers that sent malformed bytes or too many requests.
    async fn on_requests<Req, Resp, Tag>(
        &mut self,
        event: request_response::Event<Req, Resp>,
        pending: fn(&mut Task) -> &mut std::collections::HashMap<OutboundRequestId, Tag>,
        kinds: RequestKinds<Req, Resp, Tag>,
        inbound: Inbound,
    ) -> Result<(), ()> {
        let events = self.events.clone();
        if let request_response::Event::Message {
            peer,
            message: request_response::Message::Request { .. },
            ..
        } = &event
        {
            if !self.admit(*peer, inbound) {
                return Ok(());
            }
        }
        let reports = request_event(event, pending(self), kinds, &events).await?;
        for peer in reports {
            self.report(peer, Misbehaviour::Malformed);
        }
        Ok(())
    }

    async fn direct_event(
        &mut self,
        event: request_response::Event<DirectMessage, ()>,
    ) -> Result<(), ()> {
        match event {
            request_response::Event::Message {
                peer,
                message: request_response::Message::Request { .. },
                ..
            } if !self.admit(peer, Inbound::Direct) => {}
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let _peer_gone = self.swarm.behaviour_mut().direct.send_response(channel, ());
                self.events
                    .emit(NetworkEvent::Direct {
                        peer,
                        topic: request.topic,
                        data: request.data,
                    })
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

/// The network's end of the node's event queue.
#[derive(Clone)]
pub(super) struct Emitter {
    pub(super) sender: mpsc::Sender<(NetworkEvent, usize)>,
    pub(super) queue: SharedQueue,
    pub(super) max_bytes: usize,
}

impl Emitter {
    /// Hands an event to the node, waiting while the queue is full: `Ok(false)` if it was
    /// dropped because the unsolicited bytes queued are at their limit, `Err` when the node
    /// has stopped listening.
    pub(super) async fn emit(&self, event: NetworkEvent) -> Result<bool, ()> {
        let bytes = event.unsolicited_bytes();
        if bytes > 0 && !self.queue.reserve(bytes, self.max_bytes) {
            return Ok(false);
        }
        self.sender.send((event, bytes)).await.map_err(drop)?;
        Ok(true)
    }
}

/// The IP address an inbound connection came from.
fn inbound_ip(endpoint: &ConnectedPoint) -> Option<std::net::IpAddr> {
    let ConnectedPoint::Listener { send_back_addr, .. } = endpoint else {
        return None;
    };
    send_back_addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => Some(ip.into()),
        libp2p::multiaddr::Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    })
}
