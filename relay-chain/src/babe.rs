//! `babe`: epochs of the relay chain, counted in slots from the chain's first block, and what
//! the authorship engine needs of them. The first block of each epoch starts a session
//! ([`crate::session::rotate`]) and announces the next epoch's authorities (the queued
//! validators) and randomness in a `NextEpochData` consensus log; every primary block's VRF
//! output is folded into the randomness announced two epochs on. When the validator set
//! changes, [`crate::grandpa`] schedules the finality set change in the same block.
//!
//! An authority that seals two headers for one slot is reported with
//! [`Call::ReportEquivocationUnsigned`] and punished by [`crate::offences`].

use crate::prelude::*;

use crate::offences::{Refusal, TimeSlot};
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::consensus::{
    absorb, next_randomness, split_seal, vrf_randomness, AuthorityList, NextEpochDescriptor,
    PreDigest,
};
use tessera_runtime::dispatch::{CallError, CallResult, Context, Dispatch, Origin, Weight};
use tessera_runtime::executive::AUTHOR_ENGINE;
use tessera_runtime::modules::system;
use tessera_runtime::state::State;
use tessera_runtime::storage::StorageValue;
use tessera_runtime::{AccountId, DigestItem, Header};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Babe";

/// The slot of the chain's first block, where epoch 0 starts.
pub static GENESIS_SLOT: StorageValue<u64> = StorageValue::new(NAME, "GenesisSlot");
/// The slot of the block being executed (or the last one).
pub static CURRENT_SLOT: StorageValue<u64> = StorageValue::new(NAME, "CurrentSlot");
/// The current epoch's index.
pub static EPOCH_INDEX: StorageValue<u64> = StorageValue::new(NAME, "EpochIndex");
/// The current epoch's authorities.
pub static AUTHORITIES: StorageValue<AuthorityList> = StorageValue::new(NAME, "Authorities");
/// The next epoch's authorities, as announced.
pub static NEXT_AUTHORITIES: StorageValue<AuthorityList> =
    StorageValue::new(NAME, "NextAuthorities");
/// The current epoch's randomness.
pub static RANDOMNESS: StorageValue<[u8; 32]> = StorageValue::new(NAME, "Randomness");
/// The next epoch's randomness, as announced.
pub static NEXT_RANDOMNESS: StorageValue<[u8; 32]> = StorageValue::new(NAME, "NextRandomness");
/// What the current epoch's primary blocks on this chain accumulated so far.
pub static UNDER_CONSTRUCTION: StorageValue<[u8; 32]> =
    StorageValue::new(NAME, "UnderConstruction");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    vec![
        GENESIS_SLOT.metadata_or_default(),
        CURRENT_SLOT.metadata_or_default(),
        EPOCH_INDEX.metadata_or_default(),
        AUTHORITIES.metadata_or_default(),
        NEXT_AUTHORITIES.metadata_or_default(),
        RANDOMNESS.metadata_or_default(),
        NEXT_RANDOMNESS.metadata_or_default(),
        UNDER_CONSTRUCTION.metadata_or_default(),
    ]
}

/// Proof that an authority sealed two different headers for one slot (Substrate's
/// `EquivocationProof`; no key ownership proof: a key serves one stash for good).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct EquivocationProof {
    /// The authorship key that sealed both.
    pub offender: AccountId,
    /// The slot both claim.
    pub slot: u64,
    /// One header.
    pub first_header: Header,
    /// The other.
    pub second_header: Header,
}

/// Calls of `babe` (FRAME's indices).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Reports an authorship equivocation: unsigned, put in a block by its author.
    #[codec(index = 1)]
    ReportEquivocationUnsigned {
        /// The proof.
        equivocation_proof: alloc::boxed::Box<EquivocationProof>,
    },
}

tessera_runtime::module_error! {
    /// Errors of `babe` (FRAME's, in its order).
    pub enum Error for NAME {
        /// The headers do not prove that the offender sealed two for the slot.
        InvalidEquivocationProof,
        /// The offender was no authority of the slot's epoch, or that epoch's session is no
        /// longer kept.
        InvalidKeyOwnershipProof,
        /// The offender was reported already (for this session's slots or this set's rounds).
        DuplicateOffenceReport,
        /// As many offenders are reported as the session or set may hold.
        TooManyReports,
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Duplicate => Error::DuplicateOffenceReport,
            Refusal::TooMany => Error::TooManyReports,
        }
    }
}

impl<E> Dispatch<E> for Call
where
    E: From<crate::offences::Event> + crate::staking::Events,
{
    fn weight(&self) -> Weight {
        crate::offences::REPORT_WEIGHT
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        origin.ensure_none()?;
        match self {
            Call::ReportEquivocationUnsigned { equivocation_proof } => {
                report_equivocation(ctx, *equivocation_proof)
            }
        }
    }

    fn is_report(&self) -> bool {
        true
    }
}

/// The header `header` without its seal, if the seal is a BABE signature by `author` of it.
fn sealed_by(header: &Header, author: &AccountId) -> Option<Header> {
    let (unsealed, signature) = split_seal(header)?;
    author
        .verify(unsealed.hash().as_bytes(), &signature)
        .then_some(unsealed)
}

/// The epoch of `slot`, as the engines count it, if it is not before the chain's first block.
fn epoch_of(state: &mut State<'_>, slot: u64) -> tessera_runtime::Result<Option<u64>> {
    let genesis_slot = GENESIS_SLOT.get_or_default(state)?;
    // Genesis refuses a zero length.
    let epoch_length = crate::session::EPOCH_LENGTH.get_or_default(state)?;
    Ok(slot
        .checked_sub(genesis_slot)
        .and_then(|since| since.checked_div(epoch_length)))
}

fn report_equivocation<E>(ctx: &mut Context<'_, E>, proof: EquivocationProof) -> CallResult
where
    E: From<crate::offences::Event> + crate::staking::Events,
{
    let EquivocationProof {
        offender,
        slot,
        first_header,
        second_header,
    } = proof;
    let claims = (
        PreDigest::from_header(&first_header),
        PreDigest::from_header(&second_header),
    );
    let (Some(first), Some(second)) = claims else {
        return Err(Error::InvalidEquivocationProof.into());
    };
    let index = first.authority_index();
    if first.slot() != slot || second.slot() != slot || second.authority_index() != index {
        return Err(Error::InvalidEquivocationProof.into());
    }
    let sealed = (
        sealed_by(&first_header, &offender),
        sealed_by(&second_header, &offender),
    );
    let (Some(first), Some(second)) = sealed else {
        return Err(Error::InvalidEquivocationProof.into());
    };
    if first.hash() == second.hash() {
        return Err(Error::InvalidEquivocationProof.into());
    }
    // The slot's epoch and the session it fell in.
    let epoch = epoch_of(&mut ctx.state, slot)?.ok_or(Error::InvalidKeyOwnershipProof)?;
    if epoch > EPOCH_INDEX.get_or_default(&mut ctx.state)? {
        return Err(Error::InvalidKeyOwnershipProof.into());
    }
    let (session, authorities) = crate::session::session_of_epoch(&mut ctx.state, epoch)?
        .ok_or(Error::InvalidKeyOwnershipProof)?;
    if authorities.babe.get(index as usize) != Some(&offender) {
        return Err(Error::InvalidKeyOwnershipProof.into());
    }
    let stash = crate::session::KEY_OWNER
        .get(&mut ctx.state, &(*b"babe", offender))?
        .ok_or(Error::InvalidKeyOwnershipProof)?;
    crate::offences::report_equivocation::<E, Error>(
        ctx,
        session,
        authorities.babe.len(),
        TimeSlot::Slot(slot),
        stash,
    )
}

/// The genesis state: epochs 0 and 1 are held by the authorship keys `authorities` with
/// `randomness`.
pub fn genesis(state: &mut State<'_>, authorities: &[AccountId], randomness: [u8; 32]) {
    let authorities = weighted(authorities);
    AUTHORITIES.put(state, &authorities);
    NEXT_AUTHORITIES.put(state, &authorities);
    RANDOMNESS.put(state, &randomness);
    NEXT_RANDOMNESS.put(state, &randomness);
}

/// Each validator with authorship weight 1.
pub fn weighted(validators: &[AccountId]) -> AuthorityList {
    validators.iter().map(|v| (*v, 1)).collect()
}

/// Runs first in every block with a slot claim: starts an epoch (and a session) when the slot
/// is in a later epoch than the last block's, then folds a primary claim's VRF output in.
pub fn on_initialize<E>(ctx: &mut Context<'_, E>) -> CallResult
where
    E: From<crate::session::Event>
        + From<crate::inclusion::Event>
        + From<crate::approval_rewards::Event>
        + crate::staking::Events,
{
    let digest = system::DIGEST.get_or_default(&mut ctx.state)?;
    let Some(claim) = PreDigest::from_logs(&digest.logs) else {
        return Ok(());
    };
    let slot = claim.slot();
    let first = CURRENT_SLOT.get(&mut ctx.state)?.is_none();
    if GENESIS_SLOT.get(&mut ctx.state)?.is_none() {
        GENESIS_SLOT.put(&mut ctx.state, &slot);
    }
    CURRENT_SLOT.put(&mut ctx.state, &slot);
    // As the engines count (`AuthorshipConfig::epoch_of`).
    let epoch = epoch_of(&mut ctx.state, slot)?.unwrap_or_default();
    if first || epoch > EPOCH_INDEX.get_or_default(&mut ctx.state)? {
        start_epoch(ctx, epoch, first)?;
    }
    // Fees and era points go to the `auth` digest's account: it must be the validator whose
    // authorship key claimed the slot.
    if let Some(named) = block_author(&digest.logs) {
        let index = claim.authority_index() as usize;
        let validator = crate::session::VALIDATORS
            .get_or_default(&mut ctx.state)?
            .get(index)
            .copied();
        if validator != Some(named) {
            return Err(CallError::State(tessera_runtime::Error::InvalidBlock(
                "the author digest names another validator than the slot's",
            )));
        }
    }
    if let PreDigest::Primary {
        authority_index,
        vrf_output,
        ..
    } = claim
    {
        let authorities = AUTHORITIES.get_or_default(&mut ctx.state)?;
        let randomness = RANDOMNESS.get_or_default(&mut ctx.state)?;
        let author = authorities.get(authority_index as usize).map(|(id, _)| *id);
        if let Some(output) =
            author.and_then(|a| vrf_randomness(&a, &randomness, slot, epoch, &vrf_output))
        {
            let accumulated = UNDER_CONSTRUCTION.get_or_default(&mut ctx.state)?;
            UNDER_CONSTRUCTION.put(&mut ctx.state, &absorb(&accumulated, &output));
        }
    }
    Ok(())
}

/// The account the `auth` pre-runtime item names, if there is one that decodes.
fn block_author(logs: &[DigestItem]) -> Option<AccountId> {
    logs.iter().find_map(|item| match item {
        DigestItem::PreRuntime(engine, data) if *engine == AUTHOR_ENGINE => {
            AccountId::decode(&mut data.as_slice()).ok()
        }
        _ => None,
    })
}

/// Enacts epoch `epoch`: the announced authorities and randomness take over, a session starts
/// (except in the chain's first block, which starts session 0), and the next epoch is announced.
fn start_epoch<E>(ctx: &mut Context<'_, E>, epoch: u64, first: bool) -> CallResult
where
    E: From<crate::session::Event>
        + From<crate::inclusion::Event>
        + From<crate::approval_rewards::Event>
        + crate::staking::Events,
{
    let previous = RANDOMNESS.get_or_default(&mut ctx.state)?;
    let accumulated = UNDER_CONSTRUCTION.get_or_default(&mut ctx.state)?;
    let current = NEXT_RANDOMNESS.get_or_default(&mut ctx.state)?;
    let announced = next_randomness(&previous, epoch, &accumulated);
    RANDOMNESS.put(&mut ctx.state, &current);
    NEXT_RANDOMNESS.put(&mut ctx.state, &announced);
    UNDER_CONSTRUCTION.kill(&mut ctx.state);
    EPOCH_INDEX.put(&mut ctx.state, &epoch);
    let next_authorities = NEXT_AUTHORITIES.get_or_default(&mut ctx.state)?;
    AUTHORITIES.put(&mut ctx.state, &next_authorities);
    let (changed, queued) = if first {
        let session = crate::session::CURRENT_INDEX.get_or_default(&mut ctx.state)?;
        let queued = crate::session::queue_next(ctx, session.saturating_add(1))?;
        (false, queued)
    } else {
        let changed = crate::session::rotate(ctx)?;
        let queued = crate::session::QUEUED_KEYS.get_or_default(&mut ctx.state)?;
        (changed, queued)
    };
    let babe_keys: Vec<AccountId> = queued.iter().map(|keys| keys.babe).collect();
    let next = weighted(&babe_keys);
    NEXT_AUTHORITIES.put(&mut ctx.state, &next);
    let descriptor = NextEpochDescriptor {
        authorities: next,
        randomness: announced,
    };
    system::deposit_log(ctx, descriptor.to_digest_item())?;
    if changed {
        let keys = crate::session::validator_keys(&mut ctx.state)?;
        let grandpa_keys: Vec<AccountId> = keys.iter().map(|keys| keys.grandpa).collect();
        crate::grandpa::schedule_change(ctx, weighted(&grandpa_keys))?;
    }
    let set_id = crate::grandpa::CURRENT_SET_ID.get_or_default(&mut ctx.state)?;
    let authors = next_authorities.iter().map(|(id, _)| *id).collect();
    crate::session::note_authorities(&mut ctx.state, epoch, set_id, authors)?;
    Ok(())
}
