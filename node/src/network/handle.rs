//! The handle the node talks to the network task with.

use super::protocol::*;
use super::{Misbehaviour, NetworkError, Topic, Verdict};
use libp2p::gossipsub::MessageId;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

pub(super) enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    Validated {
        id: MessageId,
        peer: PeerId,
        source: Option<PeerId>,
        verdict: Verdict,
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
        topic: Topic,
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
        collation: Box<crate::collation::DeclaredCollation>,
    },
    RespondCollation {
        channel: ResponseChannel<CollationResponse>,
        response: CollationResponse,
    },
    RequestAvailableData {
        peer: PeerId,
        request: AvailableDataRequest,
    },
    RespondAvailableData {
        channel: ResponseChannel<AvailableDataResponse>,
        response: AvailableDataResponse,
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
    pub(super) commands: mpsc::UnboundedSender<Command>,
    pub(super) local_peer_id: PeerId,
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

    /// Answers a [`NetworkEvent::Gossip`]: forwards it if accepted, charges its `source` (the
    /// peer that signed it, never `peer`, who only forwarded it) if rejected.
    pub fn validated(
        &self,
        id: MessageId,
        peer: PeerId,
        source: Option<PeerId>,
        verdict: Verdict,
    ) -> Result<(), NetworkError> {
        self.send(Command::Validated {
            id,
            peer,
            source,
            verdict,
        })
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

    /// Sends `data`, a message of `topic`'s kind, to `peer` alone; it arrives there as
    /// [`NetworkEvent::Direct`].
    pub fn send_direct(
        &self,
        peer: PeerId,
        topic: Topic,
        data: Vec<u8>,
    ) -> Result<(), NetworkError> {
        self.send(Command::Direct { peer, topic, data })
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
        collation: crate::collation::DeclaredCollation,
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

    /// Asks `peer` (a backer) for a candidate's whole available data; the answer arrives as
    /// [`NetworkEvent::AvailableDataResponse`].
    pub fn request_available_data(
        &self,
        peer: PeerId,
        request: AvailableDataRequest,
    ) -> Result<(), NetworkError> {
        self.send(Command::RequestAvailableData { peer, request })
    }

    /// Answers a [`NetworkEvent::AvailableDataRequest`].
    pub fn respond_available_data(
        &self,
        channel: ResponseChannel<AvailableDataResponse>,
        response: AvailableDataResponse,
    ) -> Result<(), NetworkError> {
        self.send(Command::RespondAvailableData { channel, response })
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
