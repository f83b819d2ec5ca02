//! The authorship pre-digest (slot, author, VRF output and proof, or the secondary marker) and
//! the header seal.

use crate::AuthorityKey;
use parity_scale_codec::Encode;
use tessera_runtime::header::EngineId;
use tessera_runtime::{DigestItem, Header};

/// The engine id of authorship digests and seals.
pub const ENGINE_ID: EngineId = tessera_runtime::consensus::BABE_ENGINE_ID;

/// Seals `header` with `key`: appends a `Seal(BABE)` item signing the unsealed header's hash.
pub fn seal_header(key: &AuthorityKey, mut header: Header) -> Header {
    let signature = key.sign(header.hash().as_bytes());
    header
        .digest
        .logs
        .push(DigestItem::Seal(ENGINE_ID, signature.encode()));
    header
}

pub use tessera_runtime::consensus::{split_seal, PreDigest};

/// Hash of the header without its seal: what the author signed, and what identifies "one
/// header" when judging equivocation.
pub fn pre_seal_hash(header: &Header) -> tessera_runtime::Hash {
    match header.split_seal() {
        Some((unsealed, _, _)) => unsealed.hash(),
        None => header.hash(),
    }
}
