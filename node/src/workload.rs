//! Signed transfers between dev accounts: the dev network's traffic, and test and bench input.

use crate::client::{Client, QueryError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use tessera_relay_chain::{Call, RelayExtrinsic, RelayRuntime, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::Runtime;
use tessera_runtime::extrinsic::{ChainContext, Era, SignedExtra};
use tessera_runtime::modules::balances;
use tessera_runtime::wasm::VersionInfo;
use tessera_runtime::{AccountId, Hash, Header, Nonce, OpaqueExtrinsic};

pub use tessera_relay_chain::DEV_ACCOUNTS;

/// Signs a relay call for the chain whose genesis is `genesis_hash`, mortal from block `best`,
/// for the runtime this node was built with (the dev chains' genesis runtime).
pub fn sign(
    pair: &Pair,
    call: Call,
    nonce: Nonce,
    genesis_hash: Hash,
    best: &Header,
) -> OpaqueExtrinsic {
    sign_for(
        pair,
        call,
        nonce,
        genesis_hash,
        best,
        &RelayRuntime::VERSION.into(),
    )
}

/// [`sign`] for the runtime of `version` (every signature covers it).
pub fn sign_for(
    pair: &Pair,
    call: Call,
    nonce: Nonce,
    genesis_hash: Hash,
    best: &Header,
    version: &VersionInfo,
) -> OpaqueExtrinsic {
    let era = Era::mortal(64, u64::from(best.number));
    let extra = SignedExtra { era, nonce, tip: 0 };
    // The era is born at the best block (the phase is its number modulo the period).
    let chain = ChainContext {
        spec_version: version.spec_version,
        transaction_version: version.transaction_version,
        genesis_hash,
        birth_hash: best.hash(),
    };
    RelayExtrinsic::signed(pair, call, extra, &chain).to_opaque()
}

/// Random transfers among a set of signers, tracking their nonces.
pub struct TransferGenerator {
    signers: Vec<Pair>,
    recipients: Vec<AccountId>,
    nonces: HashMap<AccountId, Nonce>,
    rng: ChaCha8Rng,
}

impl TransferGenerator {
    /// Transfers from the six dev accounts to each other, from a seeded RNG.
    pub fn dev(seed: u64) -> Self {
        let signers: Vec<Pair> = DEV_ACCOUNTS.iter().map(|name| Pair::dev(name)).collect();
        Self::new(signers, seed)
    }

    /// Transfers from `signers` to each other.
    pub fn new(signers: Vec<Pair>, seed: u64) -> Self {
        let recipients = signers.iter().map(Pair::public).collect();
        TransferGenerator {
            signers,
            recipients,
            nonces: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The accounts transfers go between.
    pub fn accounts(&self) -> &[AccountId] {
        &self.recipients
    }

    /// Forgets tracked nonces, so they are read from the chain again (after a restart).
    pub fn reset_nonces(&mut self) {
        self.nonces.clear();
    }

    /// `count` signed transfers valid on top of the client's best block.
    pub fn next_batch(
        &mut self,
        client: &Client,
        count: usize,
    ) -> Result<Vec<OpaqueExtrinsic>, QueryError> {
        let best = client.best_header()?;
        let best_hash = best.hash();
        let genesis = client.info()?.genesis;
        let version = client.runtime_version(&best_hash)?;
        let mut batch = Vec::with_capacity(count);
        for _ in 0..count {
            let from = self.rng.gen_range(0..self.signers.len());
            let mut to = self.rng.gen_range(0..self.recipients.len());
            if to == from {
                to = (to + 1) % self.recipients.len();
            }
            let Some(pair) = self.signers.get(from) else {
                continue;
            };
            let Some(dest) = self.recipients.get(to).copied() else {
                continue;
            };
            let signer = pair.public();
            let nonce = match self.nonces.get(&signer) {
                Some(nonce) => *nonce,
                None => client.account(&best_hash, &signer)?.nonce,
            };
            self.nonces.insert(signer, nonce.saturating_add(1));
            let value = self.rng.gen_range(1..=10) * UNIT / 10;
            let call = Call::Balances(balances::Call::Transfer {
                dest: dest.into(),
                value,
            });
            batch.push(sign_for(pair, call, nonce, genesis, &best, &version));
        }
        Ok(batch)
    }
}
