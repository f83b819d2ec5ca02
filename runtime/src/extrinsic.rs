//! Extrinsics: calls from outside the chain, signed by an account or (for inherents) unsigned.
//!
//! The signature covers the SCALE encoding of the call, the [`SignedExtra`] (era, nonce, tip)
//! and what the chain adds on its own: its spec version, its genesis hash and the hash of the
//! era's birth block. A transaction therefore cannot be replayed on another chain, under
//! another runtime version, or on a fork that does not contain its birth block.

use crate::crypto::{AccountId, Signature};
use crate::hashing::{blake2_256, Hash};
use crate::header::BlockNumber;
use crate::{Balance, Nonce};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, DecodeLimit, Encode};

/// How deep a call may nest (e.g. `sudo(sudo(...))`) before decoding refuses it.
pub const MAX_CALL_DEPTH: u32 = 32;

/// Longest period a mortal transaction may have: the chain keeps this many block hashes.
pub const MAX_ERA_PERIOD: BlockNumber = 256;

/// When a transaction is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Era {
    /// Valid at any height (replayable after the account is reaped: prefer mortal).
    #[codec(index = 0)]
    Immortal,
    /// Valid in blocks `birth + 1 ..= birth + period`, only on chains containing block `birth`.
    #[codec(index = 1)]
    Mortal {
        /// A block the signer has seen; its hash is part of the signed payload.
        #[codec(compact)]
        birth: BlockNumber,
        /// How many blocks after `birth` the transaction stays valid (1..=256).
        #[codec(compact)]
        period: BlockNumber,
    },
}

impl Era {
    /// A mortal era of `period` blocks starting after the block the signer has as best.
    pub fn mortal(best: BlockNumber, period: BlockNumber) -> Era {
        Era::Mortal {
            birth: best,
            period: period.clamp(1, MAX_ERA_PERIOD),
        }
    }

    /// The birth block whose hash the signed payload includes (genesis for immortal).
    pub fn birth(&self) -> BlockNumber {
        match self {
            Era::Immortal => 0,
            Era::Mortal { birth, .. } => *birth,
        }
    }
}

/// The signed fields besides the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedExtra {
    /// When the transaction is valid.
    pub era: Era,
    /// The signer's transaction index; each nonce is used once.
    #[codec(compact)]
    pub nonce: Nonce,
    /// Paid to the block author on top of the fee; raises the transaction's priority.
    #[codec(compact)]
    pub tip: Balance,
}

/// What the chain adds to the signed payload without sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChainContext {
    /// The runtime's spec version.
    pub spec_version: u32,
    /// The chain's genesis hash.
    pub genesis_hash: Hash,
    /// Hash of the era's birth block (the genesis hash for immortal transactions).
    pub birth_hash: Hash,
}

/// Signer, signature and signed fields of a signed extrinsic.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignatureData {
    /// The signing account.
    pub signer: AccountId,
    /// sr25519 signature over the [`signing_payload`].
    pub signature: Signature,
    /// Era, nonce and tip.
    pub extra: SignedExtra,
}

/// An extrinsic of a runtime whose calls are `Call`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Extrinsic<Call> {
    /// `None` for inherents, which the block author inserts and every node checks.
    pub signature: Option<SignatureData>,
    /// What to do.
    pub call: Call,
}

/// The bytes a signer signs: blake2b-256 of the payload when it is over 256 bytes, as in
/// Substrate.
pub fn signing_payload<Call: Encode>(
    call: &Call,
    extra: &SignedExtra,
    chain: &ChainContext,
) -> Vec<u8> {
    let payload = (call, extra, chain).encode();
    if payload.len() > 256 {
        blake2_256(&payload).0.to_vec()
    } else {
        payload
    }
}

impl<Call: Encode + Decode> Extrinsic<Call> {
    /// Signs `call` with `pair` for the chain described by `chain`.
    #[cfg(feature = "std")]
    pub fn signed(
        pair: &crate::crypto::Pair,
        call: Call,
        extra: SignedExtra,
        chain: &ChainContext,
    ) -> Self {
        let signature = pair.sign(&signing_payload(&call, &extra, chain));
        Extrinsic {
            signature: Some(SignatureData {
                signer: pair.public(),
                signature,
                extra,
            }),
            call,
        }
    }

    /// Decodes an extrinsic from exactly `bytes`, refusing calls nested deeper than
    /// [`MAX_CALL_DEPTH`] and trailing bytes.
    pub fn decode_exact(mut bytes: &[u8]) -> Result<Self, parity_scale_codec::Error> {
        let extrinsic = Self::decode_with_depth_limit(MAX_CALL_DEPTH, &mut bytes)?;
        if !bytes.is_empty() {
            return Err("trailing bytes after extrinsic".into());
        }
        Ok(extrinsic)
    }

    /// The extrinsic as opaque bytes for a block body or the pool.
    pub fn to_opaque(&self) -> crate::OpaqueExtrinsic {
        crate::OpaqueExtrinsic(self.encode())
    }
}
