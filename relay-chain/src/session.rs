//! `session`: the relay chain's validator set (the accounts that author, seal and vote on
//! finality), the authorship timing every node must agree on, and the count of sessions.
//!
//! A session lasts [`SESSION_LENGTH`] blocks; the parachains inherent of the first block past
//! that starts the next one and tells [`crate::staking`], which plans and starts eras at
//! session boundaries. The validator set is still the one genesis set: sessions do not yet
//! change the authorities the consensus engines use.

use crate::prelude::*;

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallResult, Context};
use tessera_runtime::state::State;
use tessera_runtime::storage::StorageValue;
use tessera_runtime::{AccountId, BlockNumber};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Session";

/// The current validators, in authority-index order.
pub static VALIDATORS: StorageValue<Vec<AccountId>> = StorageValue::new(NAME, "Validators");

/// Milliseconds per authorship slot.
pub static SLOT_DURATION: StorageValue<u64> = StorageValue::new(NAME, "SlotDuration");

/// Slots per epoch.
pub static EPOCH_LENGTH: StorageValue<u64> = StorageValue::new(NAME, "EpochLength");

/// The current session's index.
pub static CURRENT_INDEX: StorageValue<u32> = StorageValue::new(NAME, "CurrentIndex");

/// Blocks per session (none: sessions do not advance).
pub static SESSION_LENGTH: StorageValue<BlockNumber> = StorageValue::new(NAME, "SessionLength");

/// The block the current session started in.
pub static SESSION_START: StorageValue<BlockNumber> = StorageValue::new(NAME, "SessionStart");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        VALIDATORS.metadata_or_default(),
        SLOT_DURATION.metadata(),
        EPOCH_LENGTH.metadata(),
        CURRENT_INDEX.metadata_or_default(),
        SESSION_LENGTH.metadata(),
        SESSION_START.metadata_or_default(),
    ]
}

/// Events of `session`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A new session started (FRAME's event).
    #[codec(index = 0)]
    NewSession {
        /// Its index.
        session_index: u32,
    },
}

/// Starts the next session if this block is past the current one's end (one per block, so a
/// chain that skipped blocks catches up a session at a time).
pub fn on_block<E>(ctx: &mut Context<'_, E>) -> CallResult
where
    E: From<Event> + crate::staking::Events,
{
    let Some(length) = SESSION_LENGTH.get(&mut ctx.state)?.filter(|l| *l > 0) else {
        return Ok(());
    };
    let start = SESSION_START.get_or_default(&mut ctx.state)?;
    if ctx.block_number < start.saturating_add(length) {
        return Ok(());
    }
    let index = CURRENT_INDEX
        .get_or_default(&mut ctx.state)?
        .saturating_add(1);
    CURRENT_INDEX.put(&mut ctx.state, &index);
    SESSION_START.put(&mut ctx.state, &ctx.block_number);
    ctx.deposit_event(Event::NewSession {
        session_index: index,
    });
    crate::staking::new_session(ctx, index)
}

/// The validator set in `state`.
pub fn validators(state: &mut State<'_>) -> tessera_runtime::Result<Vec<AccountId>> {
    VALIDATORS.get_or_default(state)
}
