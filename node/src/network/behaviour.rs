//! The libp2p behaviours a node runs, with their limits.

use super::protocol::*;
use super::{NetworkError, NetworkLimits};
use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{connection_limits, identify, identity, ping};
use std::time::Duration;

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) sync: request_response::Behaviour<SyncCodec>,
    pub(super) direct: request_response::Behaviour<DirectCodec>,
    pub(super) chunks: request_response::Behaviour<ChunkCodec>,
    pub(super) available_data: request_response::Behaviour<AvailableDataCodec>,
    pub(super) para_blocks: request_response::Behaviour<ParaBlocksCodec>,
    pub(super) collations: request_response::Behaviour<CollationCodec>,
}

pub(super) fn behaviour(
    keypair: &identity::Keypair,
    limits: &NetworkLimits,
) -> Result<Behaviour, NetworkError> {
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
    let available_data = request_response::Behaviour::with_codec(
        AvailableDataCodec::default(),
        [(AVAILABLE_DATA_PROTOCOL, ProtocolSupport::Full)],
        // Short (5 MiB in 5 s is 8 Mbit/s): a backer that does not answer only delays the
        // fall-back to chunks, and only one backer is asked.
        request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
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
    let connection_limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(limits.max_connections))
        .with_max_established_incoming(Some(limits.max_inbound))
        .with_max_pending_incoming(Some(limits.max_pending_inbound))
        // One connection per peer is enough; a second covers simultaneous dials.
        .with_max_established_per_peer(Some(2));
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(connection_limits),
        identify: identify::Behaviour::new(identify::Config::new(
            "/tessera/1".into(),
            keypair.public(),
        )),
        ping: ping::Behaviour::new(ping::Config::new()),
        gossipsub,
        sync,
        direct,
        chunks,
        available_data,
        para_blocks,
        collations,
    })
}
