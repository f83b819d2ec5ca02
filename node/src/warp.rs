//! Finality proofs served from the store, to light clients and new nodes: the warp proof of the
//! finalized chain (every authority set change since a set the client knows, each with the
//! justification of the set before it, then the latest justified block; checked by
//! [`tessera_consensus::finality::verify_warp_proof`]), and a `grandpa_proveFinality` proof of
//! one block (Substrate's `FinalityProof` shape; the justification is Tessera's encoding).
//!
//! Both read a clone of the store, never the client's lock, so a caller cannot hold up import;
//! and both are bounded in size, as Substrate's are: a warp proof that would pass
//! [`MAX_WARP_PROOF_BYTES`] stops at a set change and says it is unfinished, to be continued
//! from that set.

use crate::finality::{change_key, current_set_id};
use crate::store::{ChainStore, StoreError};
use parity_scale_codec::{Decode, Encode};
use tessera_consensus::finality::{Justification, WarpFragment, WarpProof, MAX_WARP_FRAGMENTS};
use tessera_runtime::{BlockNumber, Hash, Header};

/// Most headers a finality proof links.
pub const MAX_UNKNOWN_HEADERS: u32 = 4_096;

/// Most bytes of one warp proof (Substrate's budget), within the RPC's 10 MiB response as hex.
pub const MAX_WARP_PROOF_BYTES: usize = 4 * 1024 * 1024;

/// Blocks below the finalized one searched for the latest justification (one is stored for
/// every block a round finalized; sync may finalize a few more at once).
const JUSTIFICATION_SEARCH: u32 = 256;

/// Substrate's `FinalityProof`: the justification of a block at or above the one asked about,
/// and the headers from there up to it, so a client of the block's set can check it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FinalityProof {
    /// The block justified.
    pub block: Hash,
    /// Its SCALE-encoded justification.
    pub justification: Vec<u8>,
    /// The headers after the block asked about, up to `block`, lowest first.
    pub unknown_headers: Vec<Header>,
}

/// A warp proof, and whether it reaches the latest justified block (if not, ask again from
/// the set its last fragment enacted).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WarpResponse {
    /// The proof.
    pub proof: WarpProof,
    /// Whether it ends at the latest justified block.
    pub is_finished: bool,
}

/// Why a proof cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node does not know which block enacted a set (its database predates the index).
    #[error("this node does not know which block enacted finality set {0}")]
    MissingChange(u64),
    /// A block that enacted a set has no justification here.
    #[error("block #{number} enacted finality set {set_id} but has no justification here")]
    MissingJustification {
        /// The block's number.
        number: BlockNumber,
        /// The set it enacted.
        set_id: u64,
    },
    /// The block is too far below the end of its set for its proof's linking headers.
    #[error("block #{number} is {distance} blocks below #{end}, which proves it final; at most {MAX_UNKNOWN_HEADERS} are linked")]
    TooFarBelow {
        /// The block asked about.
        number: BlockNumber,
        /// The justified block.
        end: BlockNumber,
        /// The headers between them.
        distance: BlockNumber,
    },
}

/// The block that enacted set `set_id`; an error if this node enacted that set but did not
/// keep which block did.
fn change_block(store: &ChainStore, set_id: u64) -> Result<Header, ProofError> {
    let bytes = store
        .aux(&change_key(set_id))?
        .ok_or(ProofError::MissingChange(set_id))?;
    let hash = Hash::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt {
        what: "finality set change",
        reason: e.to_string(),
    })?;
    Ok(store.header(&hash)?.ok_or(StoreError::MissingBlock(hash))?)
}

/// `header`'s block with its justification, if it was finalized directly.
fn justified(store: &ChainStore, header: Header) -> Result<Option<WarpFragment>, StoreError> {
    let Some(bytes) = store.justification(&header.hash())? else {
        return Ok(None);
    };
    let justification =
        Justification::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt {
            what: "finality justification",
            reason: e.to_string(),
        })?;
    Ok(Some(WarpFragment {
        header,
        justification,
    }))
}

/// The change block that enacted `set_id`, with its justification (by the set before).
fn change_fragment(store: &ChainStore, set_id: u64) -> Result<WarpFragment, ProofError> {
    let header = change_block(store, set_id)?;
    let number = header.number;
    justified(store, header)?.ok_or(ProofError::MissingJustification { number, set_id })
}

/// The latest finalized block above `floor` with a justification.
fn latest_justified(
    store: &ChainStore,
    floor: BlockNumber,
) -> Result<Option<WarpFragment>, StoreError> {
    let finalized = store.meta()?.finalized_hash;
    let mut cursor = store.header(&finalized)?;
    for _ in 0..JUSTIFICATION_SEARCH {
        let Some(header) = cursor.filter(|header| header.number > floor) else {
            return Ok(None);
        };
        let parent = header.parent_hash;
        if let Some(fragment) = justified(store, header)? {
            return Ok(Some(fragment));
        }
        cursor = store.header(&parent)?;
    }
    Ok(None)
}

/// The warp proof from set `from_set` (0: the genesis validators') of this node's finalized
/// chain, within [`MAX_WARP_PROOF_BYTES`] and [`MAX_WARP_FRAGMENTS`].
pub fn warp_proof(store: &ChainStore, from_set: u64) -> Result<WarpResponse, ProofError> {
    let current = current_set_id(store)?;
    let mut fragments = Vec::new();
    let mut size = 0usize;
    for set_id in from_set.saturating_add(1)..=current {
        let fragment = change_fragment(store, set_id)?;
        size = size.saturating_add(fragment.encoded_size());
        let full = fragments.len().saturating_add(1) >= MAX_WARP_FRAGMENTS;
        if !fragments.is_empty() && (size > MAX_WARP_PROOF_BYTES || full) {
            let proof = WarpProof { fragments };
            return Ok(WarpResponse {
                proof,
                is_finished: false,
            });
        }
        fragments.push(fragment);
    }
    let floor = match fragments.last() {
        Some(last) => last.header.number,
        None if from_set == 0 => 0,
        None => change_block(store, from_set)?.number,
    };
    fragments.extend(latest_justified(store, floor)?);
    Ok(WarpResponse {
        proof: WarpProof { fragments },
        is_finished: true,
    })
}

/// The finality proof of finalized block `number`: the justification of the block that ended
/// its authority set (the change block enacting the next one), or of the latest justified
/// block if its set is the current one; none if `number` is not finalized here.
pub fn prove_finality(
    store: &ChainStore,
    number: BlockNumber,
) -> Result<Option<FinalityProof>, ProofError> {
    if number > store.meta()?.finalized_number {
        return Ok(None);
    }
    // The first change block at or above `number` ends its set; change blocks ascend, so the
    // search halves the sets each step.
    let current = current_set_id(store)?;
    let (mut low, mut high) = (1u64, current.saturating_add(1));
    while low < high {
        let middle = low + (high - low) / 2;
        if change_block(store, middle)?.number >= number {
            high = middle;
        } else {
            low = middle.saturating_add(1);
        }
    }
    let end = if low <= current {
        change_fragment(store, low)?
    } else {
        match latest_justified(store, number.saturating_sub(1))? {
            Some(end) => end,
            None => return Ok(None),
        }
    };
    let distance = end.header.number.saturating_sub(number);
    if distance > MAX_UNKNOWN_HEADERS {
        return Err(ProofError::TooFarBelow {
            number,
            end: end.header.number,
            distance,
        });
    }
    let mut unknown_headers = Vec::new();
    let mut cursor = end.header.clone();
    while cursor.number > number {
        let parent = cursor.parent_hash;
        unknown_headers.push(cursor);
        cursor = store
            .header(&parent)?
            .ok_or(StoreError::MissingBlock(parent))?;
    }
    unknown_headers.reverse();
    Ok(Some(FinalityProof {
        block: end.header.hash(),
        justification: end.justification.encode(),
        unknown_headers,
    }))
}
