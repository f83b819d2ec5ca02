//! Authority keys: sr25519 signing and schnorrkel VRF evaluation for one validator.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use schnorrkel::context::attach_rng;
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey};
use tessera_runtime::crypto::{Pair, SIGNING_CONTEXT};
use tessera_runtime::{AccountId, Signature};

/// The secret key of one authority, used to sign votes and seals and to claim slots.
///
/// Signatures are derandomized (the witness depends on the secret nonce and the message only),
/// so a seeded simulation produces the same bytes on every run; they verify like any Substrate
/// sr25519 signature.
#[derive(Clone)]
pub struct AuthorityKey {
    keypair: Keypair,
    public: AccountId,
}

impl core::fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AuthorityKey({})", self.public)
    }
}

impl AuthorityKey {
    /// The key whose 32-byte mini secret is `seed` (Substrate's "seed" of a pair).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        // A 32-byte mini secret always parses; the fallback is never taken.
        let mini = MiniSecretKey::from_bytes(&seed).unwrap_or_else(|_| MiniSecretKey::generate());
        let keypair = mini.expand_to_keypair(ExpansionMode::Ed25519);
        let public = AccountId(keypair.public.to_bytes());
        AuthorityKey { keypair, public }
    }

    /// The key of a runtime [`Pair`] (any derivation path).
    pub fn from_pair(pair: &Pair) -> Self {
        AuthorityKey {
            keypair: pair.schnorrkel().clone(),
            public: pair.public(),
        }
    }

    /// A deterministic test key for authority number `index` (fast: no BIP39 derivation).
    pub fn from_index(index: u64) -> Self {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&index.to_le_bytes());
        seed[8..16].copy_from_slice(b"tessera!");
        Self::from_seed(seed)
    }

    /// The public key, which is the authority's id.
    pub fn public(&self) -> AccountId {
        self.public
    }

    /// Signs `message` with Substrate's signing context.
    pub fn sign(&self, message: &[u8]) -> Signature {
        let context = schnorrkel::signing_context(SIGNING_CONTEXT);
        let transcript = attach_rng(context.bytes(message), ChaCha20Rng::from_seed([0; 32]));
        Signature(self.keypair.sign(transcript).to_bytes())
    }

    /// Evaluates the VRF on `transcript`: the output and its proof.
    pub fn vrf_sign(
        &self,
        transcript: merlin::Transcript,
    ) -> (schnorrkel::vrf::VRFInOut, schnorrkel::vrf::VRFProof) {
        let inout = self.keypair.vrf_create_hash(transcript);
        let proof = self.vrf_prove(&inout);
        (inout, proof)
    }

    /// The proof of a VRF output of this key (derandomized, like signatures).
    fn vrf_prove(&self, inout: &schnorrkel::vrf::VRFInOut) -> schnorrkel::vrf::VRFProof {
        let extra = attach_rng(
            merlin::Transcript::new(b"VRF"),
            ChaCha20Rng::from_seed([0; 32]),
        );
        let (proof, _) = self
            .keypair
            .dleq_proove(extra, inout, schnorrkel::vrf::KUSAMA_VRF);
        proof
    }

    /// Evaluates the VRF on `transcript`: the output and, if `wanted(output)`, a proof.
    pub(crate) fn vrf_sign_if(
        &self,
        transcript: merlin::Transcript,
        wanted: impl FnOnce(&schnorrkel::vrf::VRFInOut) -> bool,
    ) -> Option<(schnorrkel::vrf::VRFInOut, schnorrkel::vrf::VRFProof)> {
        let inout = self.keypair.vrf_create_hash(transcript);
        if !wanted(&inout) {
            return None;
        }
        let proof = self.vrf_prove(&inout);
        Some((inout, proof))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_pair_and_authority_key_agree() {
        let pair = Pair::dev("Alice");
        let key = AuthorityKey::from_pair(&pair);
        assert_eq!(key.public(), pair.public());
        let signature = key.sign(b"vote");
        assert!(pair.public().verify(b"vote", &signature));
        assert!(!pair.public().verify(b"vote!", &signature));
    }

    #[test]
    fn soft_derived_pairs_work_too() {
        let pair = Pair::from_uri("//Alice/soft").unwrap();
        let key = AuthorityKey::from_pair(&pair);
        assert!(pair.public().verify(b"vote", &key.sign(b"vote")));
    }

    #[test]
    fn signing_is_deterministic() {
        let key = AuthorityKey::from_index(7);
        assert_eq!(key.sign(b"m").0, key.sign(b"m").0);
        assert_ne!(key.sign(b"m").0, key.sign(b"n").0);
    }
}
