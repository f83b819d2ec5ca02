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
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Digest {
    /// The items in order; a seal, if any, is last.
    pub logs: Vec<DigestItem>,
}

/// One digest log (indices as in Substrate's `DigestItem`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
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

/// A digest item's engine id and data, as `PreRuntime`, `Consensus` and `Seal` carry them.
fn engine_and_data(
) -> scale_info::build::FieldsBuilder<scale_info::form::MetaForm, scale_info::build::UnnamedFields>
{
    scale_info::build::Fields::unnamed()
        .field(|f| f.ty::<EngineId>().type_name("ConsensusEngineId"))
        .field(|f| f.ty::<Vec<u8>>().type_name("Vec<u8>"))
}

/// Described under Substrate's path, `sp_runtime::generic::digest::Digest`.
impl scale_info::TypeInfo for Digest {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        scale_info::Type::builder()
            .path(scale_info::Path::new(
                "Digest",
                "sp_runtime::generic::digest",
            ))
            .composite(scale_info::build::Fields::named().field(|f| {
                f.ty::<Vec<DigestItem>>()
                    .name("logs")
                    .type_name("Vec<DigestItem>")
            }))
    }
}

/// Described under Substrate's path, `sp_runtime::generic::digest::DigestItem`, by which
/// clients (py-substrate-interface) find how to decode a header's logs.
impl scale_info::TypeInfo for DigestItem {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::build::{Fields, Variants};
        scale_info::Type::builder()
            .path(scale_info::Path::new(
                "DigestItem",
                "sp_runtime::generic::digest",
            ))
            .variant(
                Variants::new()
                    .variant("PreRuntime", |v| v.index(6).fields(engine_and_data()))
                    .variant("Consensus", |v| v.index(4).fields(engine_and_data()))
                    .variant("Seal", |v| v.index(5).fields(engine_and_data()))
                    .variant("Other", |v| {
                        v.index(0)
                            .fields(Fields::unnamed().field(|f| f.ty::<Vec<u8>>()))
                    }),
            )
    }
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
