//! Finality proofs served from the store, to light clients and new nodes: the warp proof of the
//! finalized chain (every authority set change since genesis, each with the justification of
//! the set before it, then the latest justified block; checked by
//! [`tessera_consensus::finality::verify_warp_proof`] from the genesis validators alone), and
//! Substrate's `grandpa_proveFinality` proof of one block.

use crate::client::Client;
use crate::finality::change_key;
use crate::store::StoreError;
use parity_scale_codec::{Decode, Encode};
use tessera_consensus::finality::{Justification, WarpFragment, WarpProof, MAX_WARP_FRAGMENTS};
use tessera_runtime::{BlockNumber, Hash, Header};

/// Most headers a finality proof links (Substrate's bound).
pub const MAX_UNKNOWN_HEADERS: u32 = 100_000;

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

fn corrupt(what: &'static str, reason: String) -> StoreError {
    StoreError::Corrupt { what, reason }
}

/// The block that enacted set `set_id`, if this node enacted that set.
fn change_block(client: &Client, set_id: u64) -> Result<Option<Header>, StoreError> {
    let Some(bytes) = client.store().aux(&change_key(set_id))? else {
        return Ok(None);
    };
    let hash =
        Hash::decode(&mut &bytes[..]).map_err(|e| corrupt("finality set change", e.to_string()))?;
    client
        .header(&hash)?
        .map(Some)
        .ok_or(StoreError::MissingBlock(hash))
}

/// `header`'s block with its justification, if it was finalized directly.
fn justified(client: &Client, header: Header) -> Result<Option<WarpFragment>, StoreError> {
    let Some(bytes) = client.justification(&header.hash())? else {
        return Ok(None);
    };
    let justification = Justification::decode(&mut &bytes[..])
        .map_err(|e| corrupt("finality justification", e.to_string()))?;
    Ok(Some(WarpFragment {
        header,
        justification,
    }))
}

/// The latest finalized block above `floor` with a justification.
fn latest_justified(
    client: &Client,
    floor: BlockNumber,
) -> Result<Option<WarpFragment>, StoreError> {
    let finalized = client.info()?.finalized_hash;
    let mut cursor = client.header(&finalized)?;
    for _ in 0..JUSTIFICATION_SEARCH {
        let Some(header) = cursor.filter(|header| header.number > floor) else {
            return Ok(None);
        };
        let parent = header.parent_hash;
        if let Some(fragment) = justified(client, header)? {
            return Ok(Some(fragment));
        }
        cursor = client.header(&parent)?;
    }
    Ok(None)
}

/// The warp proof of this node's finalized chain.
pub fn warp_proof(client: &Client) -> Result<WarpProof, StoreError> {
    let mut fragments = Vec::new();
    let mut set_id = 1;
    while fragments.len() + 1 < MAX_WARP_FRAGMENTS {
        let Some(header) = change_block(client, set_id)? else {
            break;
        };
        let number = header.number;
        let fragment = justified(client, header)?.ok_or_else(|| {
            corrupt(
                "finality set change",
                format!("block #{number} enacted set {set_id} without a justification"),
            )
        })?;
        fragments.push(fragment);
        set_id += 1;
    }
    let floor = fragments.last().map_or(0, |f| f.header.number);
    fragments.extend(latest_justified(client, floor)?);
    Ok(WarpProof { fragments })
}

/// The finality proof of finalized block `number`: the justification of the block that ended
/// its authority set (the change block enacting the next one), or of the latest justified
/// block if its set is the current one; none if `number` is not finalized here.
pub fn prove_finality(
    client: &Client,
    number: BlockNumber,
) -> Result<Option<FinalityProof>, StoreError> {
    if number > client.info()?.finalized_number {
        return Ok(None);
    }
    let mut end = None;
    for set_id in 1..MAX_WARP_FRAGMENTS as u64 {
        let Some(header) = change_block(client, set_id)? else {
            break;
        };
        if header.number >= number {
            end = justified(client, header)?;
            break;
        }
    }
    let end = match end {
        Some(end) => end,
        None => match latest_justified(client, number.saturating_sub(1))? {
            Some(end) => end,
            None => return Ok(None),
        },
    };
    if end.header.number.saturating_sub(number) > MAX_UNKNOWN_HEADERS {
        return Ok(None);
    }
    let mut unknown_headers = Vec::new();
    let mut cursor = end.header.clone();
    while cursor.number > number {
        let parent = cursor.parent_hash;
        unknown_headers.push(cursor);
        cursor = client
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
