//! `session`: the relay chain's validator set (the accounts that author, seal and vote on
//! finality) and the authorship timing every node must agree on.
//!
//! Set in genesis; session rotation (authority set changes) is not implemented yet.

use crate::prelude::*;

use tessera_runtime::state::State;
use tessera_runtime::storage::StorageValue;
use tessera_runtime::AccountId;

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Session";

/// The current validators, in authority-index order.
pub static VALIDATORS: StorageValue<Vec<AccountId>> = StorageValue::new(NAME, "Validators");

/// Milliseconds per authorship slot.
pub static SLOT_DURATION: StorageValue<u64> = StorageValue::new(NAME, "SlotDuration");

/// Slots per epoch.
pub static EPOCH_LENGTH: StorageValue<u64> = StorageValue::new(NAME, "EpochLength");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        VALIDATORS.metadata_or_default(),
        SLOT_DURATION.metadata(),
        EPOCH_LENGTH.metadata(),
    ]
}

/// The validator set in `state`.
pub fn validators(state: &mut State<'_>) -> tessera_runtime::Result<Vec<AccountId>> {
    VALIDATORS.get_or_default(state)
}
