//! What peers send each other: SCALE messages with size limits, checked before use.

use super::gossip::Topic;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use parity_scale_codec::{Decode, DecodeLimit, Encode};
use std::io;
use std::marker::PhantomData;
use tessera_runtime::{Block, BlockNumber, Hash};

/// Largest gossip message (a block announcement with its body, or a vote).
pub const MAX_GOSSIP_SIZE: usize = 4 * 1024 * 1024;
/// Largest sync request (a request for state nodes names up to
/// [`MAX_STATE_NODES_PER_REQUEST`] hashes).
pub const MAX_REQUEST_SIZE: usize = 16 * 1024;
/// Most state trie nodes one request may ask for.
pub const MAX_STATE_NODES_PER_REQUEST: usize = 256;
/// Largest sync response.
pub const MAX_RESPONSE_SIZE: usize = 16 * 1024 * 1024;
/// Most blocks one request may ask for.
pub const MAX_BLOCKS_PER_REQUEST: u32 = 128;
/// Nesting limit when decoding anything a peer sent.
const DECODE_DEPTH: u32 = 32;

/// The sync protocol's name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/tessera/sync/3");
/// The protocol of messages sent to one peer (finality and approval catch-up); version 2
/// says each message's topic, version 3's approval catch-up carries dispute messages too.
pub const DIRECT_PROTOCOL: StreamProtocol = StreamProtocol::new("/tessera/direct/3");
/// The protocol validators fetch their erasure chunks from backers with.
pub const CHUNK_PROTOCOL: StreamProtocol = StreamProtocol::new("/tessera/chunks/1");
/// Largest chunk response (a chunk of a 5 MiB PoV for very few validators, with its proof).
pub const MAX_CHUNK_RESPONSE_SIZE: usize = 8 * 1024 * 1024;

/// A request for one erasure chunk of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChunkRequest {
    /// The candidate.
    pub candidate_hash: Hash,
    /// The chunk's index (the asker's validator index).
    pub index: u32,
}

/// The chunk, if the responder holds it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChunkResponse(pub Option<tessera_relay_chain::availability::ErasureChunk>);

/// The chunk protocol's codec.
pub type ChunkCodec = FramedCodec<ChunkRequest, ChunkResponse>;

impl Default for ChunkCodec {
    fn default() -> Self {
        FramedCodec::new(64, MAX_CHUNK_RESPONSE_SIZE)
    }
}

/// The protocol approval checkers fetch a candidate's whole available data from its backers
/// with (before falling back to chunks).
pub const AVAILABLE_DATA_PROTOCOL: StreamProtocol =
    StreamProtocol::new("/tessera/available-data/1");

/// A request for a candidate's whole available data (its PoV and validation data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AvailableDataRequest {
    /// The candidate.
    pub candidate_hash: Hash,
}

/// The candidate's available data, if the responder keeps it (a backer does).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AvailableDataResponse(pub Option<tessera_relay_chain::availability::AvailableData>);

/// The available data protocol's codec: responses up to a collation's size.
pub type AvailableDataCodec = FramedCodec<AvailableDataRequest, AvailableDataResponse>;

impl Default for AvailableDataCodec {
    fn default() -> Self {
        FramedCodec::new(64, MAX_COLLATION_SIZE)
    }
}

/// The protocol a collator sends its collation to each backer of its para with.
pub const COLLATION_PROTOCOL: StreamProtocol = StreamProtocol::new("/tessera/collation/2");
/// Largest collation: a PoV at the size limit with its candidate, whose commitments may carry
/// new code and messages, and declaration.
pub const MAX_COLLATION_SIZE: usize = tessera_relay_chain::inclusion::MAX_POV_SIZE as usize
    + tessera_runtime::parachain::MAX_UPGRADE_CODE_SIZE
    + 2 * 1024 * 1024;

/// What a backer did with a collation sent to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum CollationResponse {
    /// Valid: it seconded the candidate.
    #[codec(index = 0)]
    Seconded,
    /// Not its to check now (not in the group, already seen, or an unknown relay parent).
    #[codec(index = 1)]
    Ignored,
    /// Invalid, or over the collations a collator may send per relay parent.
    #[codec(index = 2)]
    Refused,
}

/// The collation protocol's codec.
pub type CollationCodec = FramedCodec<crate::collation::DeclaredCollation, CollationResponse>;

impl Default for CollationCodec {
    fn default() -> Self {
        FramedCodec::new(MAX_COLLATION_SIZE, 16)
    }
}

/// The protocol para nodes fetch the blocks of their para's chain with, to catch up.
pub const PARA_BLOCKS_PROTOCOL: StreamProtocol = StreamProtocol::new("/tessera/para-blocks/1");
/// Largest para blocks response.
pub const MAX_PARA_BLOCKS_RESPONSE_SIZE: usize = 16 * 1024 * 1024;
/// Most para blocks one request may ask for.
pub const MAX_PARA_BLOCKS_PER_REQUEST: u32 = 64;

/// A request for blocks of a para's included chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ParaBlocksRequest {
    /// The para.
    pub para: tessera_relay_chain::paras::ParaId,
    /// The first block number.
    pub from: BlockNumber,
    /// How many (at most [`MAX_PARA_BLOCKS_PER_REQUEST`]).
    pub count: u32,
}

/// Blocks of the responder's chain of the para in ascending order: fewer than asked if its
/// chain is shorter or they would not fit in a response, none if it runs no node of the para.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ParaBlocksResponse(pub Vec<Block>);

/// The para blocks protocol's codec.
pub type ParaBlocksCodec = FramedCodec<ParaBlocksRequest, ParaBlocksResponse>;

impl Default for ParaBlocksCodec {
    fn default() -> Self {
        FramedCodec::new(64, MAX_PARA_BLOCKS_RESPONSE_SIZE)
    }
}

/// A request for blocks of the responder's best chain, for a block it holds by hash, or for
/// finality proofs.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// Up to `count` canonical blocks from `from` upwards, with their justifications.
    #[codec(index = 0)]
    Blocks {
        /// The first block number.
        from: BlockNumber,
        /// How many (at most [`MAX_BLOCKS_PER_REQUEST`]).
        count: u32,
    },
    /// The justification of the responder's last finalized block.
    #[codec(index = 1)]
    LatestJustification,
    /// The block `hash` (on any fork the responder holds) and its ancestors below it, `count`
    /// blocks at most, answered parents first as [`SyncResponse::Blocks`]. For blocks a peer
    /// named (a vote it forwarded) that are not on its best chain, or not above ours.
    #[codec(index = 2)]
    Ancestry {
        /// The highest block wanted.
        hash: Hash,
        /// How many (at most [`MAX_BLOCKS_PER_REQUEST`]).
        count: u32,
    },
    /// The warp proof of the responder's finalized chain from finality set `from_set`,
    /// answered as [`SyncResponse::WarpProof`].
    #[codec(index = 3)]
    WarpProof {
        /// The last set the asker knows (0: the genesis validators').
        from_set: u64,
    },
    /// State trie nodes (or values kept in nodes of their own) by hash, at most
    /// [`MAX_STATE_NODES_PER_REQUEST`]; answered as [`SyncResponse::StateNodes`].
    #[codec(index = 4)]
    StateNodes(Vec<Hash>),
}

/// A block with the justification that finalized it, if it was finalized directly.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SyncBlock {
    /// The block.
    pub block: Block,
    /// The SCALE-encoded finality justification.
    pub justification: Option<Vec<u8>>,
}

/// The answer to a [`SyncRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// Blocks in ascending order (fewer than asked if the chain is shorter).
    #[codec(index = 0)]
    Blocks(Vec<SyncBlock>),
    /// The request was refused (for example, too many blocks).
    #[codec(index = 1)]
    Refused,
    /// The last finalized block's number and justification (none at genesis).
    #[codec(index = 2)]
    Justification(Option<(BlockNumber, Vec<u8>)>),
    /// A warp proof ([`crate::warp::WarpResponse`]).
    #[codec(index = 3)]
    WarpProof(crate::warp::WarpResponse),
    /// The nodes asked for, in the order asked, up to the first the responder lacks or past
    /// its response budget.
    #[codec(index = 4)]
    StateNodes(Vec<Vec<u8>>),
}

/// Gossip on the blocks topic.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BlockAnnounce {
    /// A new block, in full.
    #[codec(index = 0)]
    Block(Block),
    /// The sender's best and finalized heads, so peers know whom to sync from. The best block
    /// is a sealed header, so no one but an authority can claim a height, and never beyond
    /// the slot clock.
    #[codec(index = 1)]
    Status {
        /// Best block header.
        best: tessera_runtime::Header,
        /// Finalized block number (believed up to `best`'s number).
        finalized: BlockNumber,
    },
}

/// Decodes exactly `bytes` as `T` with the depth limit, or says why not.
pub fn decode_exact<T: Decode>(mut bytes: &[u8]) -> Result<T, String> {
    let value = T::decode_with_depth_limit(DECODE_DEPTH, &mut bytes).map_err(|e| e.to_string())?;
    if !bytes.is_empty() {
        return Err(format!("{} trailing bytes", bytes.len()));
    }
    Ok(value)
}

async fn read_frame<T: AsyncRead + Unpin + Send, M: Decode>(
    io: &mut T,
    limit: usize,
) -> io::Result<M> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_le_bytes(length) as usize;
    if length > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length} bytes exceeds {limit}"),
        ));
    }
    let mut bytes = vec![0u8; length];
    io.read_exact(&mut bytes).await?;
    decode_exact(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_frame<T: AsyncWrite + Unpin + Send, M: Encode>(
    io: &mut T,
    message: &M,
    limit: usize,
) -> io::Result<()> {
    let bytes = message.encode();
    if bytes.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes exceeds {limit}", bytes.len()),
        ));
    }
    let length = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    io.write_all(&length.to_le_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

/// Length-prefixed SCALE framing of a request-response protocol, with a size limit each way.
pub struct FramedCodec<Req, Resp> {
    request_limit: usize,
    response_limit: usize,
    _messages: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for FramedCodec<Req, Resp> {
    fn clone(&self) -> Self {
        FramedCodec {
            request_limit: self.request_limit,
            response_limit: self.response_limit,
            _messages: PhantomData,
        }
    }
}

impl<Req, Resp> FramedCodec<Req, Resp> {
    /// A codec refusing requests over `request_limit` and responses over `response_limit`.
    pub const fn new(request_limit: usize, response_limit: usize) -> Self {
        FramedCodec {
            request_limit,
            response_limit,
            _messages: PhantomData,
        }
    }
}

/// The sync protocol's codec: [`SyncRequest`] up to 1 KiB, [`SyncResponse`] up to 16 MiB.
pub type SyncCodec = FramedCodec<SyncRequest, SyncResponse>;

impl Default for SyncCodec {
    fn default() -> Self {
        FramedCodec::new(MAX_REQUEST_SIZE, MAX_RESPONSE_SIZE)
    }
}

/// A message for one peer: the SCALE bytes of a message of one gossip topic's kind (finality
/// catch-up, approval catch-up), decoded by the node as that topic's messages are.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DirectMessage {
    /// Whose kind of message it is.
    pub topic: Topic,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// The direct protocol's codec: messages up to the gossip limit, an empty acknowledgement.
pub type DirectCodec = FramedCodec<DirectMessage, ()>;

impl Default for DirectCodec {
    fn default() -> Self {
        FramedCodec::new(MAX_GOSSIP_SIZE, 16)
    }
}

impl<Req, Resp> libp2p::request_response::Codec for FramedCodec<Req, Resp>
where
    Req: Encode + Decode + Send + Sync + 'static,
    Resp: Encode + Decode + Send + Sync + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Req> {
        read_frame(io, self.request_limit).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Resp> {
        read_frame(io, self.response_limit).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Req,
    ) -> io::Result<()> {
        write_frame(io, &request, self.request_limit).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Resp,
    ) -> io::Result<()> {
        write_frame(io, &response, self.response_limit).await
    }
}
