//! `session`: the relay chain's validator set (the accounts that author, seal and vote on
//! finality), the authorship timing every node must agree on, and the count of sessions.
//!
//! A session is an epoch: [`crate::babe`] starts the next one in the first block of each
//! epoch. At that point the queued validators (chosen a session earlier) take over, and the
//! validators of the session after are queued from [`crate::staking`]'s plan, so the
//! authorship and finality engines learn every set a session before it holds.

use crate::prelude::*;

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, Context};
use tessera_runtime::state::State;
use tessera_runtime::storage::StorageValue;
use tessera_runtime::{AccountId, BlockNumber};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Session";

/// The current validators, in authority-index order.
pub static VALIDATORS: StorageValue<Vec<AccountId>> = StorageValue::new(NAME, "Validators");

/// The validators of the next session (none before the chain's first block).
pub static QUEUED_VALIDATORS: StorageValue<Vec<AccountId>> =
    StorageValue::new(NAME, "QueuedValidators");

/// Milliseconds per authorship slot.
pub static SLOT_DURATION: StorageValue<u64> = StorageValue::new(NAME, "SlotDuration");

/// Slots per epoch.
pub static EPOCH_LENGTH: StorageValue<u64> = StorageValue::new(NAME, "EpochLength");

/// The current session's index.
pub static CURRENT_INDEX: StorageValue<u32> = StorageValue::new(NAME, "CurrentIndex");

/// The block the current session started in.
pub static SESSION_START: StorageValue<BlockNumber> = StorageValue::new(NAME, "SessionStart");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        VALIDATORS.metadata_or_default(),
        QUEUED_VALIDATORS.metadata_or_default(),
        SLOT_DURATION.metadata(),
        EPOCH_LENGTH.metadata(),
        CURRENT_INDEX.metadata_or_default(),
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

/// Starts the next session: the queued validators take over and the next session's are
/// queued. Returns whether the validator set changed.
pub fn rotate<E>(ctx: &mut Context<'_, E>) -> Result<bool, CallError>
where
    E: From<Event> + crate::staking::Events,
{
    let index = CURRENT_INDEX
        .get_or_default(&mut ctx.state)?
        .saturating_add(1);
    CURRENT_INDEX.put(&mut ctx.state, &index);
    SESSION_START.put(&mut ctx.state, &ctx.block_number);
    ctx.deposit_event(Event::NewSession {
        session_index: index,
    });
    crate::staking::new_session(ctx, index)?;
    let previous = VALIDATORS.get_or_default(&mut ctx.state)?;
    let current = match QUEUED_VALIDATORS.get(&mut ctx.state)? {
        Some(queued) => queued,
        None => previous.clone(),
    };
    VALIDATORS.put(&mut ctx.state, &current);
    queue_next(ctx, index.saturating_add(1))?;
    Ok(current != previous)
}

/// Queues the validators of session `session` (staking's, in the current validators' order
/// where they stay, so the authority indices of those who stay change as little as possible);
/// returns them.
pub fn queue_next<E>(ctx: &mut Context<'_, E>, session: u32) -> Result<Vec<AccountId>, CallError> {
    let current = VALIDATORS.get_or_default(&mut ctx.state)?;
    let next = match crate::staking::validators_for_session(&mut ctx.state, session)? {
        Some(elected) if !elected.is_empty() => {
            let mut ordered: Vec<AccountId> = current
                .iter()
                .filter(|v| elected.contains(v))
                .copied()
                .collect();
            ordered.extend(elected.iter().filter(|v| !current.contains(v)));
            ordered
        }
        _ => current,
    };
    QUEUED_VALIDATORS.put(&mut ctx.state, &next);
    Ok(next)
}

/// The validator set in `state`.
pub fn validators(state: &mut State<'_>) -> tessera_runtime::Result<Vec<AccountId>> {
    VALIDATORS.get_or_default(state)
}
