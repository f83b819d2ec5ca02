//! The slot lottery: the VRF transcript, primary claims and checks, and secondary authors.

use crate::AuthorityKey;
use parity_scale_codec::Encode;
use schnorrkel::vrf::{VRFInOut, VRFPreOut, VRFProof};
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::AccountId;

/// Context of the VRF bytes compared with the threshold.
const THRESHOLD_CONTEXT: &[u8] = b"tessera-babe-threshold";

pub use tessera_runtime::consensus::vrf_transcript;
use tessera_runtime::consensus::RANDOMNESS_CONTEXT;

/// What a verified VRF output yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VrfResult {
    /// Compared with the primary threshold.
    pub lottery: u128,
    /// Folded into epoch randomness.
    pub randomness: [u8; 32],
}

fn result_of(inout: &VRFInOut) -> VrfResult {
    VrfResult {
        lottery: u128::from_le_bytes(inout.make_bytes::<[u8; 16]>(THRESHOLD_CONTEXT)),
        randomness: inout.make_bytes::<[u8; 32]>(RANDOMNESS_CONTEXT),
    }
}

/// A primary claim: the VRF pre-output, proof and result, if `key` wins below `threshold`.
pub fn claim_primary(
    key: &AuthorityKey,
    randomness: &[u8; 32],
    slot: u64,
    epoch: u64,
    threshold: u128,
) -> Option<([u8; 32], [u8; 64], VrfResult)> {
    let transcript = vrf_transcript(randomness, slot, epoch);
    let (inout, proof) =
        key.vrf_sign_if(transcript, |inout| result_of(inout).lottery < threshold)?;
    Some((
        inout.to_preout().to_bytes(),
        proof.to_bytes(),
        result_of(&inout),
    ))
}

/// Checks a primary claim's VRF proof; the result (threshold not yet compared) if valid.
pub fn verify_primary(
    author: &AccountId,
    randomness: &[u8; 32],
    slot: u64,
    epoch: u64,
    output: &[u8; 32],
    proof: &[u8; 64],
) -> Option<VrfResult> {
    let public = schnorrkel::PublicKey::from_bytes(author.as_bytes()).ok()?;
    let output = VRFPreOut::from_bytes(output).ok()?;
    let proof = VRFProof::from_bytes(proof).ok()?;
    let (inout, _) = public
        .vrf_verify(vrf_transcript(randomness, slot, epoch), &output, &proof)
        .ok()?;
    Some(result_of(&inout))
}

/// The secondary author of `slot`: blake2 of `randomness ++ slot`, modulo the authority count.
pub fn secondary_author(randomness: &[u8; 32], slot: u64, authorities: usize) -> Option<u32> {
    let hash = blake2_256(&(randomness, slot).encode());
    let first = hash.0.first_chunk::<16>()?;
    let index = u128::from_le_bytes(*first).checked_rem(authorities as u128)?;
    u32::try_from(index).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_verify_and_bind_slot_and_randomness() {
        let key = AuthorityKey::from_index(3);
        let (output, proof, result) = claim_primary(&key, &[9; 32], 17, 2, u128::MAX).unwrap();
        let verified = verify_primary(&key.public(), &[9; 32], 17, 2, &output, &proof).unwrap();
        assert_eq!(verified, result);
        assert!(verify_primary(&key.public(), &[9; 32], 18, 2, &output, &proof).is_none());
        assert!(verify_primary(&key.public(), &[8; 32], 17, 2, &output, &proof).is_none());
        let other = AuthorityKey::from_index(4).public();
        assert!(verify_primary(&other, &[9; 32], 17, 2, &output, &proof).is_none());
        assert!(claim_primary(&key, &[9; 32], 17, 2, 0).is_none());
    }

    #[test]
    fn primary_rate_matches_c() {
        // One authority holding all the weight wins a fraction c = 1/4 of slots.
        let key = AuthorityKey::from_index(1);
        let threshold = super::super::config::primary_threshold((1, 4), 1, 1);
        let wins = (0..400)
            .filter(|slot| claim_primary(&key, &[0; 32], *slot, 0, threshold).is_some())
            .count();
        assert!((60..=140).contains(&wins), "{wins} wins of 400");
    }

    #[test]
    fn secondary_authors_spread() {
        let mut counts = [0u32; 5];
        for slot in 0..500 {
            counts[secondary_author(&[1; 32], slot, 5).unwrap() as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c > 60), "{counts:?}");
        assert_eq!(secondary_author(&[1; 32], 1, 0), None);
    }
}
