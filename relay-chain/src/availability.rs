//! Availability: a candidate's PoV erasure-coded (reed-solomon-simd) into one chunk per
//! validator, any [`recovery_threshold`] of which rebuild it, and a Merkle proof of each chunk
//! against the chunks' root, the receipt's erasure root.
//!
//! The data is prefixed with its length (u32, little endian) and cut into `k` equal original
//! shards, `k = (n - 1) / 3 + 1` for `n` validators; `n - k` recovery shards follow. Chunk `i`
//! is shard `i`. The Merkle tree is binary over blake2-256 with domain-separated leaves
//! (`0x00 ++ chunk`) and nodes (`0x01 ++ left ++ right`); an odd node at the end of a level
//! moves up unchanged, so a proof is the list of siblings that exist on the way up.
//!
//! ```
//! use tessera_relay_chain::availability::{encode_chunks, reconstruct, verify_chunk};
//! let pov = vec![7u8; 1000];
//! let (root, chunks) = encode_chunks(&pov, 10).unwrap();
//! assert!(chunks.iter().all(|c| verify_chunk(&root, 10, c).is_ok()));
//! // Any 4 of 10 chunks rebuild it.
//! let some = chunks.iter().rev().take(4).map(|c| (c.index as usize, c.chunk.as_slice()));
//! assert_eq!(reconstruct(10, some).unwrap(), pov);
//! ```

use parity_scale_codec::{Decode, Encode};
use std::collections::BTreeMap;
use tessera_runtime::hashing::blake2_256_of;
use tessera_runtime::Hash;

/// Most validators a PoV can be coded for (reed-solomon-simd allows up to 65,535 shards).
pub const MAX_VALIDATORS: usize = 16_384;

/// Bytes of the length prefix.
const PREFIX: usize = 4;

/// Why coding, rebuilding or checking a chunk failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErasureError {
    /// Coding needs at least two validators.
    #[error("{0} validators: erasure coding needs at least 2")]
    TooFewValidators(usize),
    /// More validators than the coding supports.
    #[error("{got} validators: erasure coding supports at most {max}")]
    TooManyValidators {
        /// Validators asked for.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// The data is too long for its length prefix.
    #[error("{0} bytes is too long to erasure-code")]
    TooLong(usize),
    /// Fewer distinct chunks than the recovery threshold.
    #[error("{got} distinct chunks, {need} needed to recover the data")]
    TooFewChunks {
        /// Distinct valid chunks given.
        got: usize,
        /// The recovery threshold.
        need: usize,
    },
    /// A chunk index at or above the number of validators.
    #[error("chunk index {index} is out of range for {validators} validators")]
    BadIndex {
        /// The index.
        index: usize,
        /// The number of validators.
        validators: usize,
    },
    /// Chunks of different lengths, or of an odd or zero length.
    #[error("chunk {index} is {len} bytes; all chunks must have one even, non-zero length")]
    BadChunkLength {
        /// The chunk's index.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// The decoded length prefix does not fit the decoded data.
    #[error("the recovered data's length prefix ({0}) exceeds its size")]
    BadLengthPrefix(u32),
    /// The Reed-Solomon library refused the shards.
    #[error("reed-solomon: {0}")]
    Codec(String),
    /// The chunk does not hash up to the root with its proof.
    #[error("chunk {0} does not match the erasure root")]
    BadProof(usize),
}

/// One validator's chunk with its Merkle proof.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ErasureChunk {
    /// The validator index the chunk belongs to.
    pub index: u32,
    /// The chunk.
    pub chunk: Vec<u8>,
    /// Sibling hashes from the leaf up to the root.
    pub proof: Vec<Hash>,
}

/// How many chunks rebuild the data for `validators` validators: `(n - 1) / 3 + 1`.
pub fn recovery_threshold(validators: usize) -> Result<usize, ErasureError> {
    if validators < 2 {
        return Err(ErasureError::TooFewValidators(validators));
    }
    if validators > MAX_VALIDATORS {
        return Err(ErasureError::TooManyValidators {
            got: validators,
            max: MAX_VALIDATORS,
        });
    }
    // validators >= 1 here: at least one chunk is needed.
    Ok((validators.saturating_sub(1) / 3).saturating_add(1))
}

use reed_solomon_simd::ReedSolomonEncoder;

fn codec_error(err: reed_solomon_simd::Error) -> ErasureError {
    ErasureError::Codec(err.to_string())
}

/// Codes `data` into one chunk per validator (original shards first, then recovery shards).
pub fn encode(data: &[u8], validators: usize) -> Result<Vec<Vec<u8>>, ErasureError> {
    let k = recovery_threshold(validators)?;
    let len = u32::try_from(data.len()).map_err(|_| ErasureError::TooLong(data.len()))?;
    let payload = data.len().saturating_add(PREFIX);
    // Shards must have one even length; round up.
    let shard = payload.div_ceil(k).next_multiple_of(2).max(2);
    // The original shards are the chunks themselves: the data is copied once, into them.
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(validators);
    let prefix = len.to_le_bytes();
    let (mut prefix, mut rest) = (&prefix[..], data);
    for _ in 0..k {
        let mut chunk = Vec::with_capacity(shard);
        for source in [&mut prefix, &mut rest] {
            let take = shard.saturating_sub(chunk.len()).min(source.len());
            let (head, tail) = source.split_at(take);
            chunk.extend_from_slice(head);
            *source = tail;
        }
        chunk.resize(shard, 0);
        chunks.push(chunk);
    }
    ENCODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let encoder = match slot.as_mut() {
            Some(encoder) => {
                encoder
                    .reset(k, validators.saturating_sub(k), shard)
                    .map_err(codec_error)?;
                encoder
            }
            None => {
                let recovery = validators.saturating_sub(k);
                slot.insert(ReedSolomonEncoder::new(k, recovery, shard).map_err(codec_error)?)
            }
        };
        for chunk in &chunks {
            encoder.add_original_shard(chunk).map_err(codec_error)?;
        }
        let recovery: Vec<Vec<u8>> = encoder
            .encode()
            .map_err(codec_error)?
            .recovery_iter()
            .map(<[u8]>::to_vec)
            .collect();
        chunks.extend(recovery);
        Ok(chunks)
    })
}

thread_local! {
    /// One encoder per thread, reset for each PoV: its work buffers (about three PoVs) are
    /// allocated once instead of on every call, which made encoding 5x slower than the
    /// library's bound (measured in benches/erasure.rs).
    static ENCODER: std::cell::RefCell<Option<ReedSolomonEncoder>> =
        const { std::cell::RefCell::new(None) };
}

/// Rebuilds the data from `(index, chunk)` pairs of at least [`recovery_threshold`] distinct
/// validators (duplicates are ignored).
pub fn reconstruct<'a>(
    validators: usize,
    chunks: impl IntoIterator<Item = (usize, &'a [u8])>,
) -> Result<Vec<u8>, ErasureError> {
    let k = recovery_threshold(validators)?;
    let mut distinct: BTreeMap<usize, &[u8]> = BTreeMap::new();
    let mut shard = None;
    for (index, chunk) in chunks {
        if index >= validators {
            return Err(ErasureError::BadIndex { index, validators });
        }
        let len = chunk.len();
        if len == 0 || len % 2 != 0 || shard.is_some_and(|s| s != len) {
            return Err(ErasureError::BadChunkLength { index, len });
        }
        shard = Some(len);
        distinct.entry(index).or_insert(chunk);
    }
    if distinct.len() < k {
        return Err(ErasureError::TooFewChunks {
            got: distinct.len(),
            need: k,
        });
    }
    let originals: Vec<(usize, &[u8])> = distinct.range(..k).map(|(i, c)| (*i, *c)).collect();
    let mut restored: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    if originals.len() < k {
        let recovery = distinct.range(k..).map(|(i, c)| (i.saturating_sub(k), *c));
        let recovery_count = validators.saturating_sub(k);
        restored.extend(
            reed_solomon_simd::decode(k, recovery_count, originals.iter().copied(), recovery)
                .map_err(codec_error)?,
        );
    }
    let mut payload = Vec::with_capacity(shard.unwrap_or(0).saturating_mul(k));
    for index in 0..k {
        match distinct.get(&index) {
            Some(chunk) => payload.extend_from_slice(chunk),
            None => payload.extend_from_slice(
                restored
                    .get(&index)
                    .ok_or_else(|| ErasureError::Codec(format!("shard {index} not restored")))?,
            ),
        }
    }
    let (prefix, rest) = payload.split_at(PREFIX.min(payload.len()));
    let len = u32::from_le_bytes(prefix.try_into().unwrap_or_default());
    let data = rest
        .get(..len as usize)
        .ok_or(ErasureError::BadLengthPrefix(len))?;
    Ok(data.to_vec())
}

fn leaf_hash(chunk: &[u8]) -> Hash {
    blake2_256_of(&[&[0], chunk])
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    blake2_256_of(&[&[1], &left.0, &right.0])
}

/// Every level of the tree over `leaves`, leaves first, root last.
fn levels(leaves: Vec<Hash>) -> Vec<Vec<Hash>> {
    let mut levels = vec![leaves];
    while levels.last().is_some_and(|level| level.len() > 1) {
        let below = levels.last().map(Vec::as_slice).unwrap_or_default();
        let above = below
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [single] => *single,
                _ => Hash::default(),
            })
            .collect();
        levels.push(above);
    }
    levels
}

/// The erasure root of `chunks` and each chunk with its proof.
pub fn chunks_with_proofs(chunks: Vec<Vec<u8>>) -> (Hash, Vec<ErasureChunk>) {
    let levels = levels(chunks.iter().map(|c| leaf_hash(c)).collect());
    let root = levels
        .last()
        .and_then(|top| top.first())
        .copied()
        .unwrap_or_default();
    let with_proofs = chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            let mut proof = Vec::new();
            let mut position = index;
            for level in levels.iter().take(levels.len().saturating_sub(1)) {
                if let Some(sibling) = level.get(position ^ 1) {
                    proof.push(*sibling);
                }
                position /= 2;
            }
            ErasureChunk {
                index: index as u32,
                chunk,
                proof,
            }
        })
        .collect();
    (root, with_proofs)
}

/// What availability keeps of a candidate, erasure-coded: enough to validate it again.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    parity_scale_codec::Encode,
    parity_scale_codec::Decode,
    scale_info::TypeInfo,
)]
pub struct AvailableData {
    /// The candidate's PoV.
    pub pov: tessera_runtime::parachain::PoV,
    /// The validation data it was checked against.
    pub validation_data: tessera_runtime::parachain::PersistedValidationData,
}

impl AvailableData {
    /// The erasure root of its chunks for `validators` validators (what descriptors name).
    pub fn erasure_root(&self, validators: usize) -> Result<Hash, ErasureError> {
        let chunks = encode(&parity_scale_codec::Encode::encode(self), validators)?;
        let leaves = chunks.iter().map(|c| leaf_hash(c)).collect();
        Ok(levels(leaves)
            .last()
            .and_then(|top| top.first())
            .copied()
            .unwrap_or_default())
    }
}

/// Codes `data` for `validators` validators: the erasure root and every chunk with its proof.
pub fn encode_chunks(
    data: &[u8],
    validators: usize,
) -> Result<(Hash, Vec<ErasureChunk>), ErasureError> {
    Ok(chunks_with_proofs(encode(data, validators)?))
}

/// Checks that `chunk` is chunk `chunk.index` of the `validators` chunks under `root`.
pub fn verify_chunk(
    root: &Hash,
    validators: usize,
    chunk: &ErasureChunk,
) -> Result<(), ErasureError> {
    let index = chunk.index as usize;
    if index >= validators {
        return Err(ErasureError::BadIndex { index, validators });
    }
    let mut hash = leaf_hash(&chunk.chunk);
    let mut siblings = chunk.proof.iter();
    let (mut position, mut width) = (index, validators);
    while width > 1 {
        let sibling = position ^ 1;
        if sibling < width {
            let other = siblings.next().ok_or(ErasureError::BadProof(index))?;
            hash = if position % 2 == 0 {
                node_hash(&hash, other)
            } else {
                node_hash(other, &hash)
            };
        }
        position /= 2;
        width = width.div_ceil(2);
    }
    if siblings.next().is_some() || hash != *root {
        return Err(ErasureError::BadProof(index));
    }
    Ok(())
}
