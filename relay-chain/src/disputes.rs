//! `disputes`: disputes concluded among validators, checked and recorded on chain through the
//! parachains inherent, so every node agrees on their outcome and on whom they name.
//!
//! A concluded dispute comes with every vote cast in it ([`DisputeStatementSet`]). The runtime
//! checks that it is about the current session or one of the
//! [`crate::session::DISPUTE_PERIOD`] before it (whose parachain validators the chain keeps),
//! not recorded yet, that its votes are signed by validators of that session (in validator
//! order, with their `para_validator` keys; a backer's backing statement counts as its vote
//! that the candidate is valid, [`VoteKind::Backing`]), and that more than two thirds of that
//! session voted for the outcome it claims. It then records the outcome and names the losing
//! side as offenders: those who said an invalid candidate was valid commit
//! [`Offence::BackedInvalid`], those who said a valid one was invalid
//! [`Offence::DisputedValid`]. Either way the offender is disabled for the rest of the current
//! session (if it is one of its validators),
//! up to [`max_disabled`] validators: its backing statements and availability bitfields no
//! longer count ([`is_disabled`]). A [`Offence::BackedInvalid`] offender is also reported to
//! staking ([`crate::staking::slashing`]): chilled at once, and slashed with its nominators
//! after the deferral.

use crate::prelude::*;

use crate::inclusion::Event;
use crate::session::ParaValidators;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, Context};
use tessera_runtime::state::State;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{AccountId, BlockNumber, Hash, Signature};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "ParasDisputes";

/// The genesis session's index.
pub const GENESIS_SESSION: u32 = 0;

/// Most dispute statement sets one inherent may carry.
pub const MAX_SETS_PER_BLOCK: usize = 16;

/// A validator's signed vote in a dispute.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct DisputeVote {
    /// The candidate.
    pub candidate: Hash,
    /// The session it is judged in.
    pub session: u32,
    /// Whether the validator found it valid.
    pub valid: bool,
    /// The validator's index in the session.
    pub validator: u32,
    /// What the signature is over.
    pub kind: VoteKind,
    /// Its signature over [`VoteKind::payload`].
    pub signature: Signature,
}

/// What a dispute vote's signature is: a vote cast in the dispute, or the statement by which
/// the validator backed the candidate (as Polkadot counts backing statements), so a backer
/// answers for its backing whether or not it votes when the dispute comes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, scale_info::TypeInfo,
)]
pub enum VoteKind {
    /// Over [`dispute_payload`].
    #[codec(index = 0)]
    Explicit,
    /// Over [`crate::inclusion::statement_payload`]; says valid.
    #[codec(index = 1)]
    Backing,
}

impl VoteKind {
    /// The bytes a vote of this kind signs, if it may say `valid` so.
    pub fn payload(self, candidate: &Hash, session: u32, valid: bool) -> Option<Vec<u8>> {
        match self {
            VoteKind::Explicit => Some(dispute_payload(candidate, session, valid)),
            VoteKind::Backing => valid.then(|| crate::inclusion::statement_payload(candidate)),
        }
    }
}

/// What a validator signs to vote in a dispute.
pub fn dispute_payload(candidate: &Hash, session: u32, valid: bool) -> Vec<u8> {
    (b"tessera-dispute", candidate, session, valid).encode()
}

/// A concluded dispute with every vote cast in it, as the inherent carries it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct DisputeStatementSet {
    /// The candidate.
    pub candidate: Hash,
    /// The session.
    pub session: u32,
    /// The outcome: whether the candidate is valid.
    pub valid: bool,
    /// The votes, both sides, ascending by validator and kind: a validator may have a backing
    /// statement and a vote of its own.
    pub votes: Vec<DisputeVote>,
}

impl DisputeStatementSet {
    /// The validators with a statement against the outcome, ascending, each once.
    pub fn losers(&self) -> Vec<u32> {
        let mut losers: Vec<u32> = self
            .votes
            .iter()
            .filter(|vote| vote.valid != self.valid)
            .map(|vote| vote.validator)
            .collect();
        losers.sort_unstable();
        losers.dedup();
        losers
    }
}

/// What a validator on the losing side of a dispute did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Offence {
    /// Said an invalid candidate was valid (its backers, and any who agreed).
    #[codec(index = 0)]
    BackedInvalid,
    /// Said a valid candidate was invalid (the lesser offence).
    #[codec(index = 1)]
    DisputedValid,
}

/// A recorded dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct DisputeRecord {
    /// Whether the candidate was found valid.
    pub valid: bool,
    /// The block that recorded it.
    pub recorded_at: BlockNumber,
}

/// Offences recorded against a validator, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct OffenceCount {
    /// [`Offence::BackedInvalid`].
    pub backed_invalid: u32,
    /// [`Offence::DisputedValid`].
    pub disputed_valid: u32,
}

/// Recorded disputes, by candidate.
pub static RECORDED: StorageMap<Hash, DisputeRecord> = StorageMap::new(NAME, "Recorded");
/// Offences recorded, by the offender's stash.
pub static OFFENCES: StorageMap<AccountId, OffenceCount> = StorageMap::new(NAME, "Offences");
/// Validators disabled, by their index in the current session, ascending (carried into the
/// next sessions at their new indices while they stay).
pub static DISABLED: StorageValue<Vec<u32>> = StorageValue::new(NAME, "Disabled");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        RECORDED.metadata(),
        OFFENCES.metadata(),
        DISABLED.metadata_or_default(),
    ]
}

/// Whether validator `index` is disabled.
pub fn is_disabled(state: &mut State<'_>, index: u32) -> tessera_runtime::Result<bool> {
    Ok(DISABLED
        .get_or_default(state)?
        .binary_search(&index)
        .is_ok())
}

/// The disabled validators, ascending.
pub fn disabled(state: &mut State<'_>) -> tessera_runtime::Result<Vec<u32>> {
    DISABLED.get_or_default(state)
}

tessera_runtime::module_error! {
    /// Errors of `disputes`.
    pub enum Error for NAME {
        /// The block records more disputes than a block may.
        TooManyDisputes,
        /// The dispute is about a session the chain does not hold.
        DisputeWrongSession,
        /// The dispute was recorded already.
        DisputeAlreadyRecorded,
        /// Dispute votes are not in ascending validator and kind order.
        DisputeVotesNotAscending,
        /// A backing statement is counted as an invalid vote.
        DisputeInvalidBacking,
        /// A vote is about another candidate or session.
        DisputeVoteForAnotherDispute,
        /// A dispute vote is by a validator outside the session's set.
        DisputeUnknownValidator,
        /// A dispute vote's signature does not verify.
        DisputeBadSignature,
        /// The votes do not reach a supermajority either way.
        DisputeNotConcluded,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

/// Most validators disabled at once among `validators`: the byzantine threshold, below a
/// third. More would leave too few to make candidates available or finalize (an offender past
/// it is still recorded, for slashing).
pub fn max_disabled(validators: usize) -> usize {
    validators.saturating_sub(1) / 3
}

/// Votes needed to conclude among `validators`: more than two thirds.
pub fn supermajority(validators: usize) -> usize {
    (validators.saturating_mul(2) / 3).saturating_add(1)
}

/// Checks every set and records it, naming and disabling its offenders; any bad set fails the
/// whole inherent.
pub fn record<E: From<Event> + crate::staking::Events>(
    ctx: &mut Context<'_, E>,
    current: &ParaValidators,
    sets: Vec<DisputeStatementSet>,
) -> Result<(), CallError> {
    if sets.len() > MAX_SETS_PER_BLOCK {
        return Err(error(Error::TooManyDisputes));
    }
    for set in sets {
        let validators = check(&mut ctx.state, current, &set)?;
        // Slashes are measured on the era of the dispute's session.
        let offence_era = crate::staking::slashing::era_of_session(&mut ctx.state, set.session)?;
        let record = DisputeRecord {
            valid: set.valid,
            recorded_at: ctx.block_number,
        };
        RECORDED.insert(&mut ctx.state, &set.candidate, &record);
        ctx.deposit_event(Event::DisputeConcluded {
            candidate_hash: set.candidate,
            valid: set.valid,
        });
        let offence = if set.valid {
            Offence::DisputedValid
        } else {
            Offence::BackedInvalid
        };
        let mut disabled = DISABLED.get_or_default(&mut ctx.state)?;
        for loser in set.losers() {
            let Some(offender) = validators.stash(loser).copied() else {
                continue;
            };
            let mut count = OFFENCES.get(&mut ctx.state, &offender)?.unwrap_or_default();
            match offence {
                Offence::BackedInvalid => {
                    count.backed_invalid = count.backed_invalid.saturating_add(1)
                }
                Offence::DisputedValid => {
                    count.disputed_valid = count.disputed_valid.saturating_add(1)
                }
            }
            OFFENCES.insert(&mut ctx.state, &offender, &count);
            disable_in(&mut disabled, &current.stashes, &offender);
            ctx.deposit_event(Event::ValidatorOffence {
                validator: loser,
                candidate_hash: set.candidate,
                offence,
            });
            // Backing an invalid candidate costs all the stake behind it, as on Polkadot;
            // disputing a valid one only disables.
            if offence == Offence::BackedInvalid {
                let all = crate::staking::Perbill(crate::staking::PERBILL_ONE);
                crate::staking::slashing::report_in(ctx, &offender, all, offence_era)?;
            }
        }
        DISABLED.put(&mut ctx.state, &disabled);
    }
    Ok(())
}

/// Disables `offender` (a stash) at its place among the current validators `stashes`, if it
/// has one, while fewer than [`max_disabled`] are.
fn disable_in(disabled: &mut Vec<u32>, stashes: &[AccountId], offender: &AccountId) {
    let now_at = stashes.iter().position(|v| v == offender);
    if let Some(index) = now_at.and_then(|i| u32::try_from(i).ok()) {
        if let Err(at) = disabled.binary_search(&index) {
            if disabled.len() < max_disabled(stashes.len()) {
                disabled.insert(at, index);
            }
        }
    }
}

/// Disables `offender` (a stash) for the rest of the current session, if it is one of its
/// validators, while fewer than [`max_disabled`] are.
pub fn disable(state: &mut State<'_>, offender: &AccountId) -> tessera_runtime::Result<()> {
    let stashes = crate::session::validators(state)?;
    let mut disabled = DISABLED.get_or_default(state)?;
    disable_in(&mut disabled, &stashes, offender);
    DISABLED.put(state, &disabled);
    Ok(())
}

/// Carries the disabled validators into a session whose validators are `current` (they were
/// `previous`): each keeps its disablement at its new index, and those who left drop out.
pub fn on_new_session(
    state: &mut tessera_runtime::state::State<'_>,
    previous: &[AccountId],
    current: &[AccountId],
) -> tessera_runtime::Result<()> {
    if previous == current {
        return Ok(());
    }
    let mut disabled: Vec<u32> = DISABLED
        .get_or_default(state)?
        .iter()
        .filter_map(|index| previous.get(*index as usize))
        .filter_map(|who| current.iter().position(|v| v == who))
        .filter_map(|index| u32::try_from(index).ok())
        .collect();
    disabled.sort_unstable();
    DISABLED.put(state, &disabled);
    Ok(())
}

/// Checks one set: of the current session or one of the [`DISPUTE_PERIOD`] before it, not
/// recorded, distinct validators of that session in order, every signature, and a
/// supermajority for its outcome. Returns that session's validators.
///
/// [`DISPUTE_PERIOD`]: crate::session::DISPUTE_PERIOD
pub fn check(
    state: &mut State<'_>,
    current: &ParaValidators,
    set: &DisputeStatementSet,
) -> Result<ParaValidators, CallError> {
    let validators = if set.session == current.session {
        current.clone()
    } else {
        crate::session::para_validators_of(state, set.session)?
            .ok_or_else(|| error(Error::DisputeWrongSession))?
    };
    if RECORDED.get(state, &set.candidate)?.is_some() {
        return Err(error(Error::DisputeAlreadyRecorded));
    }
    let ascending = set
        .votes
        .windows(2)
        .all(|pair| matches!(pair, [a, b] if (a.validator, a.kind) < (b.validator, b.kind)));
    if !ascending {
        return Err(error(Error::DisputeVotesNotAscending));
    }
    let mut for_outcome = 0usize;
    let mut last_for_outcome = None;
    for vote in &set.votes {
        if vote.candidate != set.candidate || vote.session != set.session {
            return Err(error(Error::DisputeVoteForAnotherDispute));
        }
        let signer = validators
            .key(vote.validator)
            .ok_or_else(|| error(Error::DisputeUnknownValidator))?;
        let payload = vote
            .kind
            .payload(&vote.candidate, vote.session, vote.valid)
            .ok_or_else(|| error(Error::DisputeInvalidBacking))?;
        if !signer.verify(&payload, &vote.signature) {
            return Err(error(Error::DisputeBadSignature));
        }
        // A validator counts once, however many of its statements say so.
        if vote.valid == set.valid && last_for_outcome != Some(vote.validator) {
            for_outcome = for_outcome.saturating_add(1);
            last_for_outcome = Some(vote.validator);
        }
    }
    if for_outcome < supermajority(validators.len()) {
        return Err(error(Error::DisputeNotConcluded));
    }
    Ok(validators)
}
