//! The template's genesis state.

use crate::TemplateRuntime;
use tessera_runtime::dispatch::CallError;
use tessera_runtime::executive::build_genesis;
use tessera_runtime::modules::{balances, sudo};
use tessera_runtime::parachain::{HeadData, ParaId, PARA_ID};
use tessera_runtime::state::StateChanges;
use tessera_runtime::{AccountId, Balance, Header};

/// What the template's genesis state holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisConfig {
    /// The para's id on the relay chain.
    pub para_id: ParaId,
    /// Endowed accounts.
    pub balances: Vec<(AccountId, Balance)>,
    /// The sudo key, if any.
    pub sudo: Option<AccountId>,
}

/// The genesis header and state of `config`; the header's encoding is the para's genesis head.
pub fn genesis(config: &GenesisConfig) -> Result<(Header, StateChanges), CallError> {
    build_genesis::<TemplateRuntime>(|ctx| {
        PARA_ID.put(&mut ctx.state, &config.para_id);
        for (who, balance) in &config.balances {
            balances::force_set_balance(ctx, who, *balance)?;
        }
        if let Some(key) = config.sudo {
            sudo::KEY.put(&mut ctx.state, &key);
        }
        Ok(())
    })
}

impl GenesisConfig {
    /// The genesis head to register on the relay chain.
    pub fn head(&self) -> Result<HeadData, CallError> {
        genesis(self).map(|(header, _)| HeadData(parity_scale_codec::Encode::encode(&header)))
    }
}

/// The dev accounts, endowed at genesis of a dev para (Alice is sudo).
pub const DEV_ACCOUNTS: [&str; 6] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];

impl GenesisConfig {
    /// A dev para with id `para_id`: each dev account holds a million units, Alice is sudo.
    pub fn dev(para_id: ParaId) -> Self {
        let account = |name: &str| tessera_runtime::crypto::Pair::dev(name).public();
        GenesisConfig {
            para_id,
            balances: DEV_ACCOUNTS
                .iter()
                .map(|name| (account(name), 1_000_000 * crate::UNIT))
                .collect(),
            sudo: Some(account("Alice")),
        }
    }
}

/// `call` signed by `pair` with `nonce` for the para whose genesis hash is `genesis_hash`,
/// valid forever.
pub fn sign(
    pair: &tessera_runtime::crypto::Pair,
    call: crate::Call,
    nonce: tessera_runtime::Nonce,
    genesis_hash: tessera_runtime::Hash,
) -> tessera_runtime::OpaqueExtrinsic {
    use tessera_runtime::executive::Runtime;
    use tessera_runtime::extrinsic::{ChainContext, Era, Extrinsic, SignedExtra};
    let extra = SignedExtra {
        era: Era::Immortal,
        nonce,
        tip: 0,
    };
    let chain = ChainContext {
        spec_version: TemplateRuntime::VERSION.spec_version,
        genesis_hash,
        birth_hash: genesis_hash,
    };
    Extrinsic::signed(pair, call, extra, &chain).to_opaque()
}
