//! Blocks: a header and a body of opaque extrinsics.

use crate::header::Header;
use crate::trie;
use crate::Hash;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// A SCALE-encoded extrinsic whose call type only the runtime knows.
///
/// Nodes, stores and the network handle extrinsics as bytes; the runtime decodes them (with a
/// depth limit) when it validates or applies them.
#[derive(Clone, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct OpaqueExtrinsic(pub Vec<u8>);

impl core::fmt::Debug for OpaqueExtrinsic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OpaqueExtrinsic(0x{})", hex::encode(&self.0))
    }
}

impl OpaqueExtrinsic {
    /// The extrinsic's hash, as transaction pools and RPC name it: blake2b-256 of its SCALE
    /// encoding with the length prefix, as Substrate computes it.
    pub fn hash(&self) -> Hash {
        crate::hashing::blake2_256(&self.encode())
    }

    /// The length a transaction pays for and a block counts: its encoding with the length
    /// prefix, as in Substrate, so a fee quoted for the submitted bytes is the fee charged.
    pub fn encoded_len(&self) -> usize {
        self.encoded_size()
    }
}

/// A block: the header and the extrinsics it commits to.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The body.
    pub extrinsics: Vec<OpaqueExtrinsic>,
}

impl Block {
    /// The block's hash (its header's).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
}

/// The root of the trie mapping each extrinsic's SCALE-compact index to its bytes.
pub fn extrinsics_root(extrinsics: &[OpaqueExtrinsic]) -> Hash {
    trie::ordered_root(extrinsics.iter().map(|xt| xt.0.as_slice()))
}
