//! What peers send each other: SCALE messages with size limits, checked before use.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use parity_scale_codec::{Decode, DecodeLimit, Encode};
use std::io;
use tessera_runtime::{Block, BlockNumber, Hash};

/// Largest gossip message (a block announcement with its body, or a vote).
pub const MAX_GOSSIP_SIZE: usize = 4 * 1024 * 1024;
/// Largest sync request.
pub const MAX_REQUEST_SIZE: usize = 1024;
/// Largest sync response.
pub const MAX_RESPONSE_SIZE: usize = 16 * 1024 * 1024;
/// Most blocks one request may ask for.
pub const MAX_BLOCKS_PER_REQUEST: u32 = 128;
/// Nesting limit when decoding anything a peer sent.
const DECODE_DEPTH: u32 = 32;

/// The sync protocol's name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/tessera/sync/1");

/// A request for blocks of the responder's best chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// Up to `count` canonical blocks from `from` upwards.
    #[codec(index = 0)]
    Blocks {
        /// The first block number.
        from: BlockNumber,
        /// How many (at most [`MAX_BLOCKS_PER_REQUEST`]).
        count: u32,
    },
}

/// The answer to a [`SyncRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// Blocks in ascending order (fewer than asked if the chain is shorter).
    #[codec(index = 0)]
    Blocks(Vec<Block>),
    /// The request was refused (for example, too many blocks).
    #[codec(index = 1)]
    Refused,
}

/// Gossip on the blocks topic.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BlockAnnounce {
    /// A new block, in full.
    #[codec(index = 0)]
    Block(Block),
    /// The sender's best and finalized heads, so peers know whom to sync from.
    #[codec(index = 1)]
    Status {
        /// Best block number.
        best: BlockNumber,
        /// Best block hash.
        best_hash: Hash,
        /// Finalized block number.
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

/// Length-prefixed SCALE framing of [`SyncRequest`] and [`SyncResponse`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncRequest> {
        read_frame(io, MAX_REQUEST_SIZE).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncResponse> {
        read_frame(io, MAX_RESPONSE_SIZE).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: SyncRequest,
    ) -> io::Result<()> {
        write_frame(io, &request, MAX_REQUEST_SIZE).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: SyncResponse,
    ) -> io::Result<()> {
        write_frame(io, &response, MAX_RESPONSE_SIZE).await
    }
}
