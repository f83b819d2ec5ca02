//! The authorship pre-digest (slot, author, VRF output and proof, or the secondary marker) and
//! the header seal.

use crate::codec::decode_bounded;
use crate::AuthorityKey;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::header::EngineId;
use tessera_runtime::{DigestItem, Header, Signature};

/// The engine id of authorship digests and seals.
pub const ENGINE_ID: EngineId = *b"BABE";

/// Largest encoded pre-digest accepted.
const MAX_PRE_DIGEST_BYTES: usize = 256;

/// Who authored a block and by which right, carried in a `PreRuntime(BABE)` digest item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum PreDigest {
    /// Won the slot's VRF lottery.
    #[codec(index = 1)]
    Primary {
        /// Position of the author in the authority list.
        authority_index: u32,
        /// The slot.
        slot: u64,
        /// The VRF pre-output.
        vrf_output: [u8; 32],
        /// The VRF proof.
        vrf_proof: [u8; 64],
    },
    /// The round-robin author of a slot.
    #[codec(index = 2)]
    Secondary {
        /// Position of the author in the authority list.
        authority_index: u32,
        /// The slot.
        slot: u64,
    },
}

impl PreDigest {
    /// The slot.
    pub fn slot(&self) -> u64 {
        match self {
            PreDigest::Primary { slot, .. } | PreDigest::Secondary { slot, .. } => *slot,
        }
    }

    /// The author's position in the authority list.
    pub fn authority_index(&self) -> u32 {
        match self {
            PreDigest::Primary {
                authority_index, ..
            }
            | PreDigest::Secondary {
                authority_index, ..
            } => *authority_index,
        }
    }

    /// Whether the author won the VRF lottery.
    pub fn is_primary(&self) -> bool {
        matches!(self, PreDigest::Primary { .. })
    }

    /// The digest item carrying this pre-digest.
    pub fn to_digest_item(&self) -> DigestItem {
        DigestItem::PreRuntime(ENGINE_ID, self.encode())
    }

    /// The pre-digest of `header`, if it has a well-formed one.
    pub fn from_header(header: &Header) -> Option<PreDigest> {
        decode_bounded(header.pre_runtime(ENGINE_ID)?, MAX_PRE_DIGEST_BYTES).ok()
    }
}

/// Seals `header` with `key`: appends a `Seal(BABE)` item signing the unsealed header's hash.
pub fn seal_header(key: &AuthorityKey, mut header: Header) -> Header {
    let signature = key.sign(header.hash().as_bytes());
    header
        .digest
        .logs
        .push(DigestItem::Seal(ENGINE_ID, signature.encode()));
    header
}

/// The unsealed header and the seal signature, if `header` ends with a `Seal(BABE)` item.
pub fn split_seal(header: &Header) -> Option<(Header, Signature)> {
    let (unsealed, engine, data) = header.split_seal()?;
    if engine != ENGINE_ID {
        return None;
    }
    // Exactly 64 bytes: trailing bytes would give a relayer a second hash for the same
    // signed header, and with it a way to frame the author for equivocation.
    let signature = Signature(<[u8; 64]>::try_from(data.as_slice()).ok()?);
    Some((unsealed, signature))
}

/// Hash of the header without its seal: what the author signed, and what identifies "one
/// header" when judging equivocation.
pub fn pre_seal_hash(header: &Header) -> tessera_runtime::Hash {
    match header.split_seal() {
        Some((unsealed, _, _)) => unsealed.hash(),
        None => header.hash(),
    }
}
