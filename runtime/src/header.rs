//! Block headers and their digest.

use crate::hashing::{blake2_256, Hash};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// Height of a block; genesis is 0.
pub type BlockNumber = u32;

/// A four-byte tag naming the consensus engine a digest item belongs to.
pub type EngineId = [u8; 4];

/// A block header; its blake2b-256 hash is the block's hash.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Header {
    /// Hash of the parent block.
    pub parent_hash: Hash,
    /// Height of this block.
    #[codec(compact)]
    pub number: BlockNumber,
    /// Root of the state trie after executing this block.
    pub state_root: Hash,
    /// Root of the trie of this block's extrinsics, keyed by index.
    pub extrinsics_root: Hash,
    /// Consensus data: pre-runtime items, seals, and other logs.
    pub digest: Digest,
}

/// Logs attached to a header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Digest {
    /// The items in order; a seal, if any, is last.
    pub logs: Vec<DigestItem>,
}

/// One digest log (indices as in Substrate's `DigestItem`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum DigestItem {
    /// Consensus data the author sets before execution (e.g. slot and author).
    #[codec(index = 6)]
    PreRuntime(EngineId, Vec<u8>),
    /// Data the runtime passes to consensus (e.g. authority set changes).
    #[codec(index = 4)]
    Consensus(EngineId, Vec<u8>),
    /// The author's signature over the rest of the header; always the last item.
    #[codec(index = 5)]
    Seal(EngineId, Vec<u8>),
    /// Anything else.
    #[codec(index = 0)]
    Other(Vec<u8>),
}

impl Header {
    /// The block hash: blake2b-256 of the SCALE-encoded header.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }

    /// The pre-runtime digest data of `engine`, if present.
    pub fn pre_runtime(&self, engine: EngineId) -> Option<&[u8]> {
        self.digest.logs.iter().find_map(|item| match item {
            DigestItem::PreRuntime(id, data) if *id == engine => Some(data.as_slice()),
            _ => None,
        })
    }

    /// Splits off a trailing seal: the header as it was signed, and the seal's engine and data.
    pub fn split_seal(&self) -> Option<(Header, EngineId, Vec<u8>)> {
        match self.digest.logs.last() {
            Some(DigestItem::Seal(engine, data)) => {
                let mut unsealed = self.clone();
                unsealed.digest.logs.pop();
                Some((unsealed, *engine, data.clone()))
            }
            _ => None,
        }
    }
}
