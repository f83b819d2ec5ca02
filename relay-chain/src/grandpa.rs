//! `grandpa`: the finality authority set's id, and the changes the chain schedules for the
//! finality engine: when a session starts with other validators, its first block signals a
//! change to them (no delay: enacted once that block is finalized, by the previous set).
//!
//! A voter that signs two votes in one round and phase is reported with
//! [`Call::ReportEquivocationUnsigned`] and punished by [`crate::offences`].

use crate::prelude::*;

use crate::offences::{Refusal, TimeSlot};
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::consensus::{vote_payload, AuthorityList, ScheduledChange, Vote};
use tessera_runtime::dispatch::{CallResult, Context, Dispatch, Origin, Weight};
use tessera_runtime::modules::system;
use tessera_runtime::storage::StorageValue;
use tessera_runtime::{AccountId, Signature};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Grandpa";

/// The id of the latest authority set signalled (0 for genesis's).
pub static CURRENT_SET_ID: StorageValue<u64> = StorageValue::new(NAME, "CurrentSetId");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    vec![CURRENT_SET_ID.metadata_or_default()]
}

/// Proof that a voter signed two different votes in one round and phase of a set (Substrate's
/// `EquivocationProof`, flattened; no key ownership proof: a key serves one stash for good).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct EquivocationProof {
    /// The set the votes belong to.
    pub set_id: u64,
    /// The round.
    pub round: u64,
    /// The finality key that signed both.
    pub offender: AccountId,
    /// One vote and its signature.
    pub first: (Vote, Signature),
    /// The other.
    pub second: (Vote, Signature),
}

/// Calls of `grandpa` (FRAME's indices).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Reports a finality equivocation: unsigned, put in a block by its author.
    #[codec(index = 1)]
    ReportEquivocationUnsigned {
        /// The proof.
        equivocation_proof: alloc::boxed::Box<EquivocationProof>,
    },
}

tessera_runtime::module_error! {
    /// Errors of `grandpa` (FRAME's report errors, in their order).
    pub enum Error for NAME {
        /// The offender was no voter of the set, or the set's session is no longer kept.
        InvalidKeyOwnershipProof,
        /// The votes do not prove that the offender signed two in one round and phase.
        InvalidEquivocationProof,
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

fn report_equivocation<E>(ctx: &mut Context<'_, E>, proof: EquivocationProof) -> CallResult
where
    E: From<crate::offences::Event> + crate::staking::Events,
{
    let EquivocationProof {
        set_id,
        round,
        offender,
        first,
        second,
    } = proof;
    let signed = |(vote, signature): &(Vote, Signature)| {
        offender.verify(&vote_payload(vote, round, set_id), signature)
    };
    let same_phase = first.0.phase().is_some() && first.0.phase() == second.0.phase();
    if !same_phase || first.0.target() == second.0.target() || !signed(&first) || !signed(&second) {
        return Err(Error::InvalidEquivocationProof.into());
    }
    let (session, authorities) = crate::session::session_of_set(&mut ctx.state, set_id)?
        .ok_or(Error::InvalidKeyOwnershipProof)?;
    if !authorities.grandpa.contains(&offender) {
        return Err(Error::InvalidKeyOwnershipProof.into());
    }
    let stash = crate::session::KEY_OWNER
        .get(&mut ctx.state, &(*b"gran", offender))?
        .ok_or(Error::InvalidKeyOwnershipProof)?;
    crate::offences::report_equivocation::<E, Error>(
        ctx,
        session,
        authorities.grandpa.len(),
        TimeSlot::Round { set_id, round },
        stash,
    )
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
