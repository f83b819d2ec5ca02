//! sr25519 accounts and signatures, compatible with Substrate, and ed25519 verification.
//!
//! Signatures use schnorrkel with the signing context `b"substrate"`, so keys and signatures made
//! by Substrate tooling verify here and the reverse.

mod ss58;

#[cfg(feature = "std")]
mod pair;
#[cfg(feature = "std")]
pub use pair::{Pair, SecretUri, DEV_ACCOUNTS, DEV_PHRASE};

pub use ss58::Ss58;

use crate::error::{Error, Result};
use alloc::vec::Vec;
use core::fmt;
use parity_scale_codec::{Decode, Encode};

/// The schnorrkel signing context of every Tessera and Substrate sr25519 signature.
pub const SIGNING_CONTEXT: &[u8] = b"substrate";

/// An account: the 32 bytes of an sr25519 public key.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct AccountId(pub [u8; 32]);

/// An sr25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Signature(pub [u8; 64]);

/// Described as Substrate's `AccountId32`, which clients show as an SS58 address.
impl scale_info::TypeInfo for AccountId {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        crate::metadata::newtype::<[u8; 32]>("AccountId32", "sp_core::crypto")
    }
}

/// Described as Substrate's sr25519 `Signature`.
impl scale_info::TypeInfo for Signature {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        crate::metadata::newtype::<[u8; 64]>("Signature", "sp_core::sr25519")
    }
}

impl AccountId {
    /// The public key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `signature` is a valid signature of `message` by this account.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
        let valid = crate::wasm::guest::host_sr25519_verify(&signature.0, message, &self.0);
        #[cfg(not(all(target_arch = "wasm32", not(feature = "std"))))]
        let valid = self.verify_natively(message, signature);
        valid
    }

    /// [`Self::verify`] in this process.
    pub fn verify_natively(&self, message: &[u8], signature: &Signature) -> bool {
        let Ok(public) = schnorrkel::PublicKey::from_bytes(&self.0) else {
            return false;
        };
        let Ok(signature) = schnorrkel::Signature::from_bytes(&signature.0) else {
            return false;
        };
        public
            .verify_simple(SIGNING_CONTEXT, message, &signature)
            .is_ok()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58(Ss58::DEFAULT_PREFIX))
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::str::FromStr for AccountId {
    type Err = Error;

    /// Parses an SS58 address (any prefix) or `0x`-prefixed hex public key.
    fn from_str(s: &str) -> Result<Self> {
        if let Some(hex_key) = s.strip_prefix("0x") {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_key, &mut bytes)
                .map_err(|_| Error::InvalidKey("expected 32 bytes of hex"))?;
            return Ok(AccountId(bytes));
        }
        Self::from_ss58(s).map(|(account, _prefix)| account)
    }
}

impl Signature {
    /// The signature's bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// Whether `signature` is a valid ed25519 signature of `message` by the key `public`.
pub fn ed25519_verify(signature: &[u8; 64], message: &[u8], public: &[u8; 32]) -> bool {
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    let valid = crate::wasm::guest::host_ed25519_verify(signature, message, public);
    #[cfg(not(all(target_arch = "wasm32", not(feature = "std"))))]
    let valid = ed25519_verify_natively(signature, message, public);
    valid
}

/// [`ed25519_verify`] in this process.
#[cfg(not(target_arch = "wasm32"))]
pub fn ed25519_verify_natively(signature: &[u8; 64], message: &[u8], public: &[u8; 32]) -> bool {
    use ed25519_dalek::Verifier;
    let Ok(public) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        return false;
    };
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    public.verify(message, &signature).is_ok()
}

/// Verifies many `(signer, message, signature)` triples at once; `true` only if all are valid.
///
/// Batch verification is about twice as fast as one-by-one for large batches; it tells only
/// whether the whole batch is valid, so callers fall back to [`AccountId::verify`] to find which
/// one failed.
pub fn verify_batch<'a>(
    items: impl IntoIterator<Item = (&'a AccountId, &'a [u8], &'a Signature)>,
) -> bool {
    // In chunks the host takes: a block may carry more signed transactions than one call.
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    let valid = items
        .into_iter()
        .collect::<Vec<_>>()
        .chunks(crate::wasm::MAX_VERIFY_BATCH)
        .all(|chunk| crate::wasm::guest::host_sr25519_verify_batch(&chunk.encode()));
    #[cfg(not(all(target_arch = "wasm32", not(feature = "std"))))]
    let valid = verify_batch_natively(items);
    valid
}

/// [`verify_batch`] in this process.
pub fn verify_batch_natively<'a>(
    items: impl IntoIterator<Item = (&'a AccountId, &'a [u8], &'a Signature)>,
) -> bool {
    let context = schnorrkel::signing_context(SIGNING_CONTEXT);
    let mut transcripts = Vec::new();
    let mut signatures = Vec::new();
    let mut publics = Vec::new();
    for (signer, message, signature) in items {
        let (Ok(public), Ok(signature)) = (
            schnorrkel::PublicKey::from_bytes(&signer.0),
            schnorrkel::Signature::from_bytes(&signature.0),
        ) else {
            return false;
        };
        transcripts.push(context.bytes(message));
        signatures.push(signature);
        publics.push(public);
    }
    if signatures.is_empty() {
        return true;
    }
    #[cfg(feature = "std")]
    let verified = schnorrkel::verify_batch(transcripts, &signatures, &publics, false);
    #[cfg(not(feature = "std"))]
    let verified =
        schnorrkel::verify_batch_deterministic(transcripts, &signatures, &publics, false);
    verified.is_ok()
}
