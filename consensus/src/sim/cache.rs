//! A signature cache shared by all simulated nodes: every distinct signature is verified once
//! for real, however many nodes check it.

use crate::verify::{verify_checks, SignatureCheck, SignatureVerifier};
use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tessera_runtime::hashing::blake2_256;

#[derive(Default)]
struct Inner {
    results: BTreeMap<[u8; 32], bool>,
    requested: u64,
    verified: u64,
}

/// A cloneable handle to one shared cache.
#[derive(Clone, Default)]
pub struct SharedVerifier {
    inner: Arc<Mutex<Inner>>,
}

impl SharedVerifier {
    /// Signatures asked about, and signatures verified for real.
    pub fn counts(&self) -> (u64, u64) {
        self.inner
            .lock()
            .map(|inner| (inner.requested, inner.verified))
            .unwrap_or_default()
    }
}

impl SignatureVerifier for SharedVerifier {
    fn verify(&mut self, items: &[SignatureCheck]) -> Vec<bool> {
        let Ok(mut inner) = self.inner.lock() else {
            return verify_checks(items);
        };
        inner.requested = inner.requested.saturating_add(items.len() as u64);
        let keys: Vec<[u8; 32]> = items
            .iter()
            .map(|c| blake2_256(&(c.signer, &c.message, c.signature).encode()).0)
            .collect();
        let unknown: Vec<SignatureCheck> = items
            .iter()
            .zip(&keys)
            .filter(|(_, key)| !inner.results.contains_key(*key))
            .map(|(c, _)| c.clone())
            .collect();
        if !unknown.is_empty() {
            inner.verified = inner.verified.saturating_add(unknown.len() as u64);
            let results = verify_checks(&unknown);
            for (check, ok) in unknown.iter().zip(results) {
                let key = blake2_256(&(check.signer, &check.message, check.signature).encode()).0;
                inner.results.insert(key, ok);
            }
        }
        keys.iter()
            .map(|key| inner.results.get(key).copied().unwrap_or(false))
            .collect()
    }
}
