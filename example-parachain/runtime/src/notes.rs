//! `notes`: each account may keep one short note on chain, for a deposit while it is there.
//!
//! This module is what makes the example para's state transition differ from the template's:
//! a relay validator validates its blocks with this code (in the para's Wasm) without knowing
//! anything about notes.

use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, CallResult, Context, Dispatch, Origin, Weight};
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::storage::StorageMap;
use tessera_runtime::{AccountId, Balance, Hash};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Notes";
/// Longest note, in bytes.
pub const MAX_NOTE_LEN: usize = 256;
/// Burnt per note written, so storage is not free.
pub const NOTE_FEE: Balance = crate::UNIT / 100;

/// Each account's note.
pub static NOTES: StorageMap<AccountId, Vec<u8>> = StorageMap::new(NAME, "Notes");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![NOTES.metadata(),]
}

/// Calls of `notes`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Keeps `text` as the sender's note (replacing any), burning [`NOTE_FEE`].
    #[codec(index = 0)]
    Write {
        /// At most [`MAX_NOTE_LEN`] bytes.
        text: Vec<u8>,
    },
    /// Removes the sender's note.
    #[codec(index = 1)]
    Erase,
}

/// Events of `notes`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// An account wrote its note.
    #[codec(index = 0)]
    Written {
        /// The account.
        who: AccountId,
        /// Hash of the note.
        hash: Hash,
    },
    /// An account erased its note.
    #[codec(index = 1)]
    Erased {
        /// The account.
        who: AccountId,
    },
}

tessera_runtime::module_error! {
    /// Errors of `notes`.
    pub enum Error for NAME {
        /// The note is longer than a note may be.
        NoteTooLong,
        /// The account has no note.
        NoNote,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

impl<E: From<Event> + From<balances::Event> + From<system::Event>> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        match self {
            Call::Write { text } => 20_000_000u64.saturating_add(text.len() as Weight * 1_000),
            Call::Erase => 10_000_000,
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        let who = *origin.ensure_signed()?;
        match self {
            Call::Write { text } => {
                if text.len() > MAX_NOTE_LEN {
                    return Err(error(Error::NoteTooLong));
                }
                balances::withdraw(ctx, &who, NOTE_FEE, balances::Existence::KeepAlive)?;
                balances::burn(ctx, NOTE_FEE)?;
                let hash = blake2_256(&text);
                NOTES.insert(&mut ctx.state, &who, &text);
                ctx.deposit_event(Event::Written { who, hash });
            }
            Call::Erase => {
                if NOTES.get(&mut ctx.state, &who)?.is_none() {
                    return Err(error(Error::NoNote));
                }
                NOTES.remove(&mut ctx.state, &who);
                ctx.deposit_event(Event::Erased { who });
            }
        }
        Ok(())
    }
}
