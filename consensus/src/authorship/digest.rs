//! The authorship pre-digest (slot, author, VRF output and proof, or the secondary marker) and
//! the header seal.

use crate::AuthorityKey;
use parity_scale_codec::Encode;
use tessera_runtime::header::EngineId;
use tessera_runtime::{DigestItem, Header, Signature};

pub use tessera_runtime::consensus::PreDigest;

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
