//! `registrar`: onboarding paras without root, as Polkadot's `paras_registrar`.
//!
//! Any account reserves the next free para id (2000 and up) with a deposit, then registers
//! the para's genesis head and validation code, paying a deposit per byte of both. The para
//! is onboarded [`ONBOARDING_DELAY`] blocks later, by the parachains inherent after it has
//! processed that block's candidates, so it gets a core from the next block on and every
//! node's backing groups and bitfields change at one block boundary. The manager (the account
//! that reserved the id) or root can deregister it, before or after onboarding: the para goes
//! and the deposits go back to the manager. Ids are never handed out twice: nodes keep a para's
//! chain under its id.
//!
//! Deposits are held in the module's account ([`POT`]), recorded per para id: the issuance
//! does not change, and what each manager gets back is exactly what it paid.
//!
//! Every para has a core of its own (cores are not sold separately, as Polkadot's coretime
//! does), so registrations stop while there are as many paras, onboarded or waiting, as
//! validators: each core keeps a backing group, and the inherent's work per core stays
//! bounded by the validator set. A para's own code upgrades stay within
//! [`paras::MAX_CODE_SIZE`] with one pending at a time, so what it stores is bounded too.

use crate::prelude::*;

use crate::paras::{self, HeadData, ParaId, ValidationCode};
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{
    CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight,
};
use tessera_runtime::modules::balances::{self, Existence};
use tessera_runtime::modules::system;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{AccountId, Balance, BlockNumber};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Registrar";
/// The first para id [`Call::Reserve`] hands out (ids below are for system paras, by root).
pub const FIRST_PUBLIC_ID: ParaId = ParaId(2000);
/// Deposit for reserving a para id.
pub const PARA_ID_DEPOSIT: Balance = 10 * crate::UNIT;
/// Deposit per byte of a registered para's genesis head and code (what keeping them on every
/// validator costs).
pub const DEPOSIT_PER_BYTE: Balance = crate::UNIT / 100;
/// Blocks between registering a para and its onboarding (at the earliest): time for its
/// collators to start and for validators to prepare its code before candidates come.
pub const ONBOARDING_DELAY: BlockNumber = 10;
/// Most paras waiting for onboarding at once.
pub const MAX_ONBOARDING: usize = 16;
/// Most paras onboarded by one block's inherent (each stores its code); the rest wait for the
/// next block.
pub const MAX_ONBOARDED_PER_BLOCK: usize = 2;

/// The account holding the deposits.
pub const POT: AccountId = AccountId(*b"modl/registrar\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");

/// A reserved para id: who manages it and what it deposited so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Reservation {
    /// The account that reserved it: it registers and deregisters the para.
    pub manager: AccountId,
    /// Deposits held for it (the id's and the data's).
    pub deposit: Balance,
    /// Whether the registrar onboarded the para (so deregistering it removes the para).
    pub onboarded: bool,
}

/// A registered para waiting for its block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Onboarding {
    /// Its genesis head.
    pub genesis_head: HeadData,
    /// Its validation code.
    pub code: ValidationCode,
    /// The block whose inherent onboards it.
    pub at: BlockNumber,
}

/// Reserved para ids.
pub static RESERVATIONS: StorageMap<ParaId, Reservation> = StorageMap::new(NAME, "Reservations");
/// Paras registered and not onboarded yet.
pub static ONBOARDING: StorageMap<ParaId, Onboarding> = StorageMap::new(NAME, "Onboarding");
/// Ids waiting in [`ONBOARDING`], ascending.
pub static ONBOARDING_IDS: StorageValue<Vec<ParaId>> = StorageValue::new(NAME, "OnboardingIds");
/// The next id [`Call::Reserve`] tries.
pub static NEXT_FREE_ID: StorageValue<ParaId> = StorageValue::new(NAME, "NextFreeId");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        RESERVATIONS.metadata(),
        ONBOARDING.metadata(),
        ONBOARDING_IDS.metadata_or_default(),
        NEXT_FREE_ID.metadata(),
    ]
}

/// Calls of `registrar` (signed; deregistration by root too).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Reserves the next free para id for the caller, taking [`PARA_ID_DEPOSIT`].
    #[codec(index = 0)]
    Reserve,
    /// Registers para `id` (reserved by the caller) with its genesis head and validation code,
    /// taking [`DEPOSIT_PER_BYTE`] for each of their bytes; onboarded [`ONBOARDING_DELAY`]
    /// blocks later.
    #[codec(index = 1)]
    Register {
        /// The id.
        id: ParaId,
        /// The genesis head.
        genesis_head: HeadData,
        /// The validation code.
        code: ValidationCode,
    },
    /// Removes para `id` (onboarded or waiting) and its reservation, returning its deposits
    /// to its manager (by the manager or root).
    #[codec(index = 2)]
    Deregister {
        /// The para.
        id: ParaId,
    },
}

/// Events of `registrar`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A para id was reserved.
    #[codec(index = 0)]
    Reserved {
        /// The id.
        id: ParaId,
        /// Its manager.
        manager: AccountId,
    },
    /// A para was registered, to be onboarded at block `at`.
    #[codec(index = 1)]
    Registered {
        /// The para.
        id: ParaId,
        /// Its manager.
        manager: AccountId,
        /// The block it is onboarded in.
        at: BlockNumber,
    },
    /// A registered para was onboarded: it has a core from the next block on.
    #[codec(index = 2)]
    Onboarded {
        /// The para.
        id: ParaId,
    },
    /// A para was deregistered and its deposits returned.
    #[codec(index = 3)]
    Deregistered {
        /// The para.
        id: ParaId,
        /// What went back to its manager.
        refunded: Balance,
    },
}

const BASE_WEIGHT: Weight = 50_000_000;
/// Weight per byte of head and code (hashing and writing).
const WEIGHT_PER_BYTE: Weight = 2_000;

tessera_runtime::module_error! {
    /// Errors of `registrar`.
    pub enum Error for NAME {
        /// The para id is reserved by another account.
        Reserved,
        /// The para id is not reserved.
        NotReserved,
        /// The caller does not manage this para id.
        NotManager,
        /// The para is registered already.
        AlreadyRegistered,
        /// The validation code is empty.
        EmptyCode,
        /// The validation code is larger than the chain accepts.
        CodeTooLarge,
        /// The head data is larger than the chain accepts.
        HeadTooLarge,
        /// Too many paras are onboarding at once.
        TooManyOnboarding,
        /// No core is free for another para.
        NoFreeCore,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

/// The deposit for keeping `bytes` bytes of head and code.
pub fn data_deposit(bytes: usize) -> Balance {
    DEPOSIT_PER_BYTE.saturating_mul(bytes as Balance)
}

/// What root registering para `id` outside the registrar means to it: an id reserved here is
/// refused (its manager registers it, or root deregisters it here first), and the ids handed
/// out move past it, so it is never handed out later.
pub fn claim_for_root(state: &mut tessera_runtime::state::State<'_>, id: ParaId) -> CallResult {
    if RESERVATIONS.get(state, &id)?.is_some() {
        return Err(error(Error::Reserved));
    }
    let next = NEXT_FREE_ID.get(state)?.unwrap_or(FIRST_PUBLIC_ID);
    if id >= next {
        let after = ParaId(id.0.checked_add(1).ok_or(DispatchError::OVERFLOW)?);
        NEXT_FREE_ID.put(state, &after);
    }
    Ok(())
}

fn reserve<E: From<Event> + From<balances::Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
) -> CallResult {
    let mut id = NEXT_FREE_ID
        .get(&mut ctx.state)?
        .unwrap_or(FIRST_PUBLIC_ID)
        .max(FIRST_PUBLIC_ID);
    // Ids root registered (or genesis) are skipped; there are few.
    while paras::PARAS.get(&mut ctx.state, &id)?.is_some()
        || RESERVATIONS.get(&mut ctx.state, &id)?.is_some()
    {
        id = ParaId(id.0.checked_add(1).ok_or(DispatchError::OVERFLOW)?);
    }
    balances::transfer(ctx, who, &POT, PARA_ID_DEPOSIT, Existence::KeepAlive)?;
    let reservation = Reservation {
        manager: *who,
        deposit: PARA_ID_DEPOSIT,
        onboarded: false,
    };
    RESERVATIONS.insert(&mut ctx.state, &id, &reservation);
    let next = ParaId(id.0.checked_add(1).ok_or(DispatchError::OVERFLOW)?);
    NEXT_FREE_ID.put(&mut ctx.state, &next);
    ctx.deposit_event(Event::Reserved { id, manager: *who });
    Ok(())
}

fn register<E: From<Event> + From<balances::Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    id: ParaId,
    genesis_head: HeadData,
    code: ValidationCode,
) -> CallResult {
    let mut reservation = RESERVATIONS
        .get(&mut ctx.state, &id)?
        .ok_or_else(|| error(Error::NotReserved))?;
    if reservation.manager != *who {
        return Err(error(Error::NotManager));
    }
    if paras::PARAS.get(&mut ctx.state, &id)?.is_some()
        || ONBOARDING.get(&mut ctx.state, &id)?.is_some()
    {
        return Err(error(Error::AlreadyRegistered));
    }
    if code.0.is_empty() {
        return Err(error(Error::EmptyCode));
    }
    if code.0.len() > paras::MAX_CODE_SIZE {
        return Err(error(Error::CodeTooLarge));
    }
    if genesis_head.0.len() > paras::MAX_HEAD_SIZE {
        return Err(error(Error::HeadTooLarge));
    }
    let mut waiting = ONBOARDING_IDS.get_or_default(&mut ctx.state)?;
    if waiting.len() >= MAX_ONBOARDING {
        return Err(error(Error::TooManyOnboarding));
    }
    let paras = paras::para_ids(&mut ctx.state)?.len();
    let validators = crate::session::validators(&mut ctx.state)?.len();
    if paras.saturating_add(waiting.len()) >= validators {
        return Err(error(Error::NoFreeCore));
    }
    let deposit = data_deposit(genesis_head.0.len().saturating_add(code.0.len()));
    balances::transfer(ctx, who, &POT, deposit, Existence::KeepAlive)?;
    reservation.deposit = reservation
        .deposit
        .checked_add(deposit)
        .ok_or(DispatchError::OVERFLOW)?;
    RESERVATIONS.insert(&mut ctx.state, &id, &reservation);
    let at = ctx.block_number.saturating_add(ONBOARDING_DELAY);
    let onboarding = Onboarding {
        genesis_head,
        code,
        at,
    };
    ONBOARDING.insert(&mut ctx.state, &id, &onboarding);
    if let Err(position) = waiting.binary_search(&id) {
        waiting.insert(position, id);
    }
    ONBOARDING_IDS.put(&mut ctx.state, &waiting);
    ctx.deposit_event(Event::Registered {
        id,
        manager: *who,
        at,
    });
    Ok(())
}

fn deregister<E>(ctx: &mut Context<'_, E>, origin: &Origin, id: ParaId) -> CallResult
where
    E: From<Event> + From<paras::Event> + From<balances::Event> + From<system::Event>,
{
    let reservation = RESERVATIONS
        .get(&mut ctx.state, &id)?
        .ok_or_else(|| error(Error::NotReserved))?;
    match origin {
        Origin::Root => {}
        Origin::Signed(who) if *who == reservation.manager => {}
        _ => return Err(DispatchError::BadOrigin.into()),
    }
    if ONBOARDING.get(&mut ctx.state, &id)?.is_some() {
        ONBOARDING.remove(&mut ctx.state, &id);
        let mut waiting = ONBOARDING_IDS.get_or_default(&mut ctx.state)?;
        waiting.retain(|other| *other != id);
        ONBOARDING_IDS.put(&mut ctx.state, &waiting);
    }
    if reservation.onboarded && paras::PARAS.get(&mut ctx.state, &id)?.is_some() {
        paras::deregister(ctx, id)?;
    }
    // The id is not handed out again: nodes keep a para's chain under its id.
    release(ctx, id, reservation)
}

/// Drops `id`'s reservation and returns its deposits to its manager.
fn release<E: From<Event> + From<balances::Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    reservation: Reservation,
) -> CallResult {
    RESERVATIONS.remove(&mut ctx.state, &id);
    // The pot holds at least this: every deposit went in, and only its own comes out.
    balances::transfer(
        ctx,
        &POT,
        &reservation.manager,
        reservation.deposit,
        Existence::AllowDeath,
    )?;
    ctx.deposit_event(Event::Deregistered {
        id,
        refunded: reservation.deposit,
    });
    Ok(())
}

/// Onboards the registered paras whose block has come (called by the parachains inherent,
/// after it processed the block's candidates).
pub fn onboard_due<E: From<Event> + From<balances::Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
) -> CallResult {
    let waiting = ONBOARDING_IDS.get_or_default(&mut ctx.state)?;
    if waiting.is_empty() {
        return Ok(());
    }
    let mut still_waiting = Vec::with_capacity(waiting.len());
    let mut onboarded = 0;
    for id in waiting {
        let Some(onboarding) = ONBOARDING.get(&mut ctx.state, &id)? else {
            continue;
        };
        if onboarding.at > ctx.block_number || onboarded >= MAX_ONBOARDED_PER_BLOCK {
            still_waiting.push(id);
            continue;
        }
        onboarded = onboarded.saturating_add(1);
        ONBOARDING.remove(&mut ctx.state, &id);
        let Some(mut reservation) = RESERVATIONS.get(&mut ctx.state, &id)? else {
            continue;
        };
        // Checked when registered; root may have taken the id since with `paras.register`,
        // in which case that registration stays, and this one is dropped and refunded.
        match paras::register(&mut ctx.state, id, onboarding.genesis_head, onboarding.code) {
            Ok(_) => {
                reservation.onboarded = true;
                RESERVATIONS.insert(&mut ctx.state, &id, &reservation);
                ctx.deposit_event(Event::Onboarded { id });
            }
            Err(CallError::Dispatch(_)) => release(ctx, id, reservation)?,
            Err(err @ CallError::State(_)) => return Err(err),
        }
    }
    ONBOARDING_IDS.put(&mut ctx.state, &still_waiting);
    Ok(())
}

impl<E> Dispatch<E> for Call
where
    E: From<Event> + From<paras::Event> + From<balances::Event> + From<system::Event>,
{
    fn weight(&self) -> Weight {
        let bytes = match self {
            Call::Register {
                genesis_head, code, ..
            } => genesis_head.0.len().saturating_add(code.0.len()),
            Call::Reserve | Call::Deregister { .. } => 0,
        };
        BASE_WEIGHT.saturating_add(WEIGHT_PER_BYTE.saturating_mul(bytes as Weight))
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        match self {
            Call::Reserve => {
                let who = *origin.ensure_signed()?;
                reserve(ctx, &who)
            }
            Call::Register {
                id,
                genesis_head,
                code,
            } => {
                let who = *origin.ensure_signed()?;
                register(ctx, &who, id, genesis_head, code)
            }
            Call::Deregister { id } => deregister(ctx, &origin, id),
        }
    }
}
