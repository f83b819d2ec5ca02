//! `disputes`: disputes concluded among validators, checked and recorded on chain through the
//! parachains inherent, so every node agrees on their outcome and on whom they name.
//!
//! A concluded dispute comes with every vote cast in it ([`DisputeStatementSet`]). The runtime
//! checks that it is about the current session or one of the
//! [`crate::session::DISPUTE_PERIOD`] before it (whose parachain validators the chain keeps),
//! not recorded yet, that its votes are signed by validators of that session (in validator
//! order, with their `para_validator` keys; a backer's backing statement counts as its vote
//! that the candidate is valid, [`VoteKind::Backing`]), that one validator's own vote says
//! invalid, and that more than two thirds of that session voted for the outcome it claims and
//! not as many against it. It then records the outcome and names the losing side as
//! offenders, with the backers this chain recorded for the candidate ([`BACKERS`], kept for the
//! dispute period) when it is invalid, whether or not the set carries their statements: those
//! who said an invalid candidate was valid commit
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

/// Who backed a candidate on this chain, kept for the dispute period: a dispute concluding it
/// invalid names them whatever statements its author put in the set (an author may leave
/// theirs out).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BackingRecord {
    /// The session whose validators backed it.
    pub session: u32,
    /// Their indices in it.
    pub backers: Vec<u32>,
}

/// The candidates backed in one block, with the session whose validators backed them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BackedIn {
    /// The session.
    pub session: u32,
    /// The candidates.
    pub candidates: Vec<Hash>,
}

/// Most blocks of backing records forgotten in one block (a few a block keep up with the
/// chain: one block's are forgotten for each block added).
const MAX_PRUNED_BLOCKS: u32 = 4;

/// Recorded disputes, by candidate.
pub static RECORDED: StorageMap<Hash, DisputeRecord> = StorageMap::new(NAME, "Recorded");
/// Offences recorded, by the offender's stash.
pub static OFFENCES: StorageMap<AccountId, OffenceCount> = StorageMap::new(NAME, "Offences");
/// Validators disabled, by their index in the current session, ascending (carried into the
/// next sessions at their new indices while they stay).
pub static DISABLED: StorageValue<Vec<u32>> = StorageValue::new(NAME, "Disabled");
/// The backers of candidates backed within the dispute period, by candidate.
pub static BACKERS: StorageMap<Hash, BackingRecord> = StorageMap::new(NAME, "Backers");
/// The candidates backed in each block still kept in [`BACKERS`].
pub static BACKED_AT: StorageMap<BlockNumber, BackedIn> = StorageMap::new(NAME, "BackedAt");
/// The first block whose backed candidates are still kept.
pub static BACKERS_KEPT_FROM: StorageValue<BlockNumber> =
    StorageValue::new(NAME, "BackersKeptFrom");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        RECORDED.metadata(),
        OFFENCES.metadata(),
        DISABLED.metadata_or_default(),
        BACKERS.metadata(),
        BACKED_AT.metadata_or_default(),
        BACKERS_KEPT_FROM.metadata_or_default(),
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
        /// No validator's own vote says invalid: there was no dispute.
        DisputeWithoutInvalidVote,
        /// Both sides reach a supermajority (validators that said both ways).
        DisputeBothWays,
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
        let mut losers = set.losers();
        // Backers answer for what they backed here even if the set leaves their statements out.
        if !set.valid {
            if let Some(record) = BACKERS.get(&mut ctx.state, &set.candidate)? {
                if record.session == set.session {
                    losers.extend(record.backers);
                    losers.sort_unstable();
                    losers.dedup();
                }
            }
        }
        for loser in losers {
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

/// Keeps who backed `candidate` (in block `block`, by validators of `session`) for the
/// dispute period.
pub fn note_backed(
    state: &mut State<'_>,
    block: BlockNumber,
    candidate: Hash,
    session: u32,
    backers: Vec<u32>,
) -> tessera_runtime::Result<()> {
    BACKERS.insert(state, &candidate, &BackingRecord { session, backers });
    let mut backed = BACKED_AT.get_or_default(state, &block)?;
    backed.session = session;
    backed.candidates.push(candidate);
    BACKED_AT.insert(state, &block, &backed);
    if BACKERS_KEPT_FROM.get(state)?.is_none() {
        BACKERS_KEPT_FROM.put(state, &block);
    }
    Ok(())
}

/// Forgets the backers of candidates of sessions before `oldest` (the dispute period's
/// first), block by block from the oldest kept, a few blocks at a time, stopping at the first
/// block with a candidate still in the period.
pub fn prune_backers(
    state: &mut State<'_>,
    now: BlockNumber,
    oldest: u32,
) -> tessera_runtime::Result<()> {
    let Some(mut from) = BACKERS_KEPT_FROM.get(state)? else {
        return Ok(());
    };
    for _ in 0..MAX_PRUNED_BLOCKS {
        if from >= now {
            break;
        }
        if let Some(backed) = BACKED_AT.get(state, &from)? {
            if backed.session >= oldest {
                break;
            }
            for candidate in &backed.candidates {
                BACKERS.remove(state, candidate);
            }
            BACKED_AT.remove(state, &from);
        }
        from = from.saturating_add(1);
    }
    BACKERS_KEPT_FROM.put(state, &from);
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
/// recorded, validators of that session in validator and kind order, every signature, an
/// explicit invalid vote (a dispute opens with one), a supermajority for its outcome and none
/// against it (each validator counted once per side). Returns that session's validators.
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
    // Distinct validators on each side (a validator's statements are next to each other).
    let (mut valid, mut invalid) = (0usize, 0usize);
    let (mut last_valid, mut last_invalid) = (None, None);
    let mut explicit_invalid = false;
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
        let (count, last) = if vote.valid {
            (&mut valid, &mut last_valid)
        } else {
            explicit_invalid |= vote.kind == VoteKind::Explicit;
            (&mut invalid, &mut last_invalid)
        };
        if *last != Some(vote.validator) {
            *count = count.saturating_add(1);
            *last = Some(vote.validator);
        }
    }
    // A dispute opens with an invalid vote; without one, backing statements alone could
    // make a "valid" verdict about any candidate in any session.
    if !explicit_invalid {
        return Err(error(Error::DisputeWithoutInvalidVote));
    }
    let (for_outcome, against) = if set.valid {
        (valid, invalid)
    } else {
        (invalid, valid)
    };
    let needed = supermajority(validators.len());
    if for_outcome < needed {
        return Err(error(Error::DisputeNotConcluded));
    }
    if against >= needed {
        return Err(error(Error::DisputeBothWays));
    }
    Ok(validators)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backers_are_kept_through_the_dispute_period_then_forgotten_a_few_blocks_at_a_time() {
        let nodes = alloc::collections::BTreeMap::new();
        let mut state = State::new(&nodes, tessera_runtime::trie::empty_root());
        let candidate = |block: u32| Hash([block as u8; 32]);
        // Blocks 1 to 6 back a candidate each, two blocks a session (0, 0, 1, 1, 2, 2).
        for block in 1..=6 {
            note_backed(
                &mut state,
                block,
                candidate(block),
                (block - 1) / 2,
                vec![block],
            )
            .unwrap();
        }
        let backers = |state: &mut State<'_>, block: u32| {
            BACKERS
                .get(state, &candidate(block))
                .unwrap()
                .map(|record| record.backers)
        };
        // Session 1 is the oldest in the period: session 0's go, the rest stay.
        prune_backers(&mut state, 7, 1).unwrap();
        assert_eq!(backers(&mut state, 2), None);
        assert_eq!(backers(&mut state, 3), Some(vec![3]));
        assert_eq!(BACKERS_KEPT_FROM.get(&mut state).unwrap(), Some(3));
        // Past the period, at most four blocks' worth a block, never the current one.
        prune_backers(&mut state, 6, 10).unwrap();
        assert_eq!(BACKERS_KEPT_FROM.get(&mut state).unwrap(), Some(6));
        assert_eq!(backers(&mut state, 5), None);
        assert_eq!(backers(&mut state, 6), Some(vec![6]));
        assert!(BACKED_AT.get(&mut state, &5).unwrap().is_none());
    }
}
