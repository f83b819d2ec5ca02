//! Signature checking behind a small trait, so a node can batch or offload it and the simulator
//! can share one cache between its nodes.

use std::collections::BTreeMap;
use tessera_runtime::crypto::{verify_batch, SIGNING_CONTEXT};
use tessera_runtime::{AccountId, Signature};

/// One signature to check: who signed which bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The claimed signer.
    pub signer: AccountId,
    /// The signed bytes.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: Signature,
}

/// Checks sr25519 signatures, many at a time.
pub trait SignatureVerifier: Send + Sync {
    /// One validity flag per item, in order.
    fn verify(&mut self, items: &[SignatureCheck]) -> Vec<bool>;
}

/// Most decompressed public keys a [`BatchVerifier`] keeps.
const MAX_CACHED_KEYS: usize = 100_000;

/// The default verifier: one schnorrkel batch (with the signers' public keys decompressed once
/// and kept), and one by one only when the batch fails.
#[derive(Clone, Debug, Default)]
pub struct BatchVerifier {
    keys: BTreeMap<AccountId, schnorrkel::PublicKey>,
}

impl BatchVerifier {
    fn public(&mut self, id: &AccountId) -> Option<schnorrkel::PublicKey> {
        if let Some(key) = self.keys.get(id) {
            return Some(*key);
        }
        let key = schnorrkel::PublicKey::from_bytes(id.as_bytes()).ok()?;
        if self.keys.len() >= MAX_CACHED_KEYS {
            self.keys.clear();
        }
        self.keys.insert(*id, key);
        Some(key)
    }

    fn batch(&mut self, items: &[SignatureCheck]) -> Option<bool> {
        let context = schnorrkel::signing_context(SIGNING_CONTEXT);
        let mut transcripts = Vec::with_capacity(items.len());
        let mut signatures = Vec::with_capacity(items.len());
        let mut publics = Vec::with_capacity(items.len());
        for item in items {
            publics.push(self.public(&item.signer)?);
            signatures.push(schnorrkel::Signature::from_bytes(&item.signature.0).ok()?);
            transcripts.push(context.bytes(&item.message));
        }
        Some(schnorrkel::verify_batch(transcripts, &signatures, &publics, false).is_ok())
    }
}

impl SignatureVerifier for BatchVerifier {
    fn verify(&mut self, items: &[SignatureCheck]) -> Vec<bool> {
        if items.len() > 1 && self.batch(items) == Some(true) {
            return vec![true; items.len()];
        }
        verify_checks(items)
    }
}

/// Verifies `items` with one batch, falling back to single checks to find the bad ones.
pub fn verify_checks(items: &[SignatureCheck]) -> Vec<bool> {
    let all_valid = match items {
        [] => true,
        [one] => one.signer.verify(&one.message, &one.signature),
        _ => verify_batch(
            items
                .iter()
                .map(|c| (&c.signer, c.message.as_slice(), &c.signature)),
        ),
    };
    if all_valid {
        return vec![true; items.len()];
    }
    items
        .iter()
        .map(|c| c.signer.verify(&c.message, &c.signature))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthorityKey;

    #[test]
    fn batch_finds_the_bad_signature() {
        let key = AuthorityKey::from_index(1);
        let mut items: Vec<SignatureCheck> = (0u8..4)
            .map(|i| SignatureCheck {
                signer: key.public(),
                message: vec![i],
                signature: key.sign(&[i]),
            })
            .collect();
        assert_eq!(BatchVerifier::default().verify(&items), vec![true; 4]);
        items[2].message = vec![9];
        assert_eq!(
            BatchVerifier::default().verify(&items),
            vec![true, true, false, true]
        );
    }
}
