//! The template's genesis state and transaction signing, for tests, tools and dev networks.

use crate::TemplateRuntime;
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::CallError;
use tessera_runtime::parachain::ParaGenesis;
use tessera_runtime::state::StateChanges;
use tessera_runtime::{Hash, Header, Nonce, OpaqueExtrinsic};

/// The genesis header and state of `config`; the header's encoding is the para's genesis head.
pub fn genesis(config: &ParaGenesis) -> Result<(Header, StateChanges), CallError> {
    config.build::<TemplateRuntime>()
}

/// `call` signed by `pair` with `nonce` for the template para whose genesis hash is
/// `genesis_hash`, valid forever.
pub fn sign(pair: &Pair, call: crate::Call, nonce: Nonce, genesis_hash: Hash) -> OpaqueExtrinsic {
    tessera_runtime::parachain::sign::<TemplateRuntime>(pair, call, nonce, genesis_hash)
}
