//! `session`: the relay chain's validator set, the accounts that author and seal blocks.
//!
//! Set in genesis for now; session rotation comes with the consensus work.

use tessera_runtime::state::State;
use tessera_runtime::storage::StorageValue;
use tessera_runtime::AccountId;

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Session";

/// The current validators, in authority-index order.
pub static VALIDATORS: StorageValue<Vec<AccountId>> = StorageValue::new(NAME, "Validators");

/// The validator set in `state`.
pub fn validators(state: &mut State<'_>) -> tessera_runtime::Result<Vec<AccountId>> {
    VALIDATORS.get_or_default(state)
}
