//! `sudo`: one key (set in genesis, for dev and test chains) that may dispatch any call as
//! root.

use super::system;
use crate::crypto::AccountId;
use crate::dispatch::{CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight};
use crate::storage::StorageValue;
use alloc::boxed::Box;
use parity_scale_codec::{Decode, Encode};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Sudo";

/// The sudo key, if the chain has one.
pub static KEY: StorageValue<AccountId> = StorageValue::new(NAME, "Key");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<crate::metadata::StorageEntryMetadata> {
    alloc::vec![KEY.metadata(),]
}

/// Calls of `sudo`; `C` is the runtime's call type.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call<C> {
    /// Dispatches `call` with the root origin.
    #[codec(index = 0)]
    Sudo {
        /// The call.
        call: Box<C>,
    },
    /// Hands the sudo key to `new`.
    #[codec(index = 2)]
    SetKey {
        /// The new key.
        new: AccountId,
    },
}

/// Events of `sudo`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A root call was made; its own result.
    #[codec(index = 0)]
    Sudid {
        /// `Err` if the inner call failed.
        result: Result<(), DispatchError>,
    },
    /// The key changed.
    #[codec(index = 1)]
    KeyChanged {
        /// The new key.
        new: AccountId,
    },
}

crate::module_error! {
    /// Errors of `sudo`.
    pub enum Error for NAME {
        /// The caller is not the sudo key.
        RequireSudo,
    }
}

const SUDO_WEIGHT: Weight = 10_000_000;

fn ensure_sudo<E>(ctx: &mut Context<'_, E>, origin: &Origin) -> Result<(), CallError> {
    let who = origin.ensure_signed()?;
    match KEY.get(&mut ctx.state)? {
        Some(key) if key == *who => Ok(()),
        _ => Err(Error::RequireSudo.into()),
    }
}

impl<E, C> Dispatch<E> for Call<C>
where
    E: From<Event> + From<system::Event>,
    C: Dispatch<E>,
{
    fn weight(&self) -> Weight {
        match self {
            Call::Sudo { call } => SUDO_WEIGHT.saturating_add(call.weight()),
            Call::SetKey { .. } => SUDO_WEIGHT,
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        ensure_sudo(ctx, &origin)?;
        match self {
            Call::Sudo { call } => {
                // The inner call's failure is reported in the event; the sudo call succeeds
                // (and the inner changes roll back), as in Substrate.
                ctx.state.start_transaction();
                let events = ctx.event_count();
                let result = match call.dispatch(ctx, Origin::Root) {
                    Ok(()) => {
                        ctx.state.commit_transaction()?;
                        Ok(())
                    }
                    Err(CallError::Dispatch(error)) => {
                        ctx.state.rollback_transaction()?;
                        ctx.truncate_events(events);
                        Err(error)
                    }
                    Err(state_error @ CallError::State(_)) => return Err(state_error),
                };
                ctx.deposit_event(Event::Sudid { result });
            }
            Call::SetKey { new } => {
                KEY.put(&mut ctx.state, &new);
                ctx.deposit_event(Event::KeyChanged { new });
            }
        }
        Ok(())
    }
}
