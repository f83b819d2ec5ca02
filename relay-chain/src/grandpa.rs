//! `grandpa`: the finality authority set's id, and the changes the chain schedules for the
//! finality engine: when a session starts with other validators, its first block signals a
//! change to them (no delay: enacted once that block is finalized, by the previous set).

use crate::prelude::*;

use tessera_runtime::consensus::{AuthorityList, ScheduledChange};
use tessera_runtime::dispatch::Context;
use tessera_runtime::modules::system;
use tessera_runtime::storage::StorageValue;

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Grandpa";

/// The id of the latest authority set signalled (0 for genesis's).
pub static CURRENT_SET_ID: StorageValue<u64> = StorageValue::new(NAME, "CurrentSetId");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    vec![CURRENT_SET_ID.metadata_or_default()]
}

/// Signals a change of the finality set to `authorities` in this block.
pub fn schedule_change<E>(
    ctx: &mut Context<'_, E>,
    authorities: AuthorityList,
) -> tessera_runtime::Result<()> {
    let set_id = CURRENT_SET_ID
        .get_or_default(&mut ctx.state)?
        .saturating_add(1);
    CURRENT_SET_ID.put(&mut ctx.state, &set_id);
    let change = ScheduledChange {
        next_authorities: authorities,
        delay: 0,
    };
    system::deposit_log(ctx, change.to_digest_item())
}
