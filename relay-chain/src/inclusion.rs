//! `inclusion`: a candidate's way from backed to included.
//!
//! The block author puts one [`Call::Enter`] inherent in each relay block, carrying the
//! availability bitfields validators signed and the candidates their backing groups backed,
//! with concluded disputes and votes on new para code. It runs in this order:
//!
//! 0. Disputes ([`crate::disputes`]), then votes on code under check ([`crate::pvf_check`]).
//! 1. Bitfields: each validator's bit per core says whether it holds its erasure chunk of the
//!    candidate pending on that core. A candidate that more than 2/3 of validators hold is
//!    **included**: its para's head becomes the candidate's head (the para's own upgrade is
//!    enacted if the candidate switched to it, and new code, if any, is put under validators'
//!    check ([`crate::pvf_check`]) or refused),
//!    with a [`Event::CandidateIncluded`].
//! 2. Timeouts: a candidate still unavailable [`AVAILABILITY_TIMEOUT`] blocks after it was
//!    backed is dropped ([`Event::CandidateTimedOut`]), freeing its core.
//! 3. Backed candidates: a candidate built on this block's parent, with validation data equal
//!    to the para's state now, the code for it ([`paras::code_for_candidate`]), a valid
//!    collator signature, and
//!    enough valid statements from the group assigned to its core, becomes **pending
//!    availability** on that core ([`Event::CandidateBacked`]).
//!
//! Because bitfields come first, a candidate built on the one pending at the parent (see
//! [`persisted_validation_data`]) is backed in the block that includes its predecessor: a para
//! can have a block included in every relay block, not every other one.
//!
//! Validators are the session's ([`session::para_validators`]): indices into its set, each
//! signing with its `para_validator` session key. When other validators take over at a session
//! start, the candidates pending availability are dropped ([`on_new_validators`]) and that
//! block's inherent carries no bitfields or backed candidates: both were signed on the parent
//! by the validators who left.
//!
//! Anything invalid in the inherent makes the whole block invalid, so an author cannot include
//! a candidate its group did not back, or claim availability validators did not sign.

use crate::prelude::*;

use crate::messaging;
use crate::paras::{self, HeadData, ParaId};
use crate::scheduler::{group_for_core, validator_groups, GROUP_ROTATION_FREQUENCY};
use crate::session::{self, ParaValidators};
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{
    CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight,
};
use tessera_runtime::modules::system;
use tessera_runtime::parachain::{
    CandidateCommitments, CandidateDescriptor, CommittedCandidateReceipt, PersistedValidationData,
};
use tessera_runtime::state::State;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{AccountId, BlockNumber, Hash, Header, Signature};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "ParaInclusion";
/// Blocks after its backing in which a candidate may become available; it is dropped in the
/// last of them if it has not.
pub const AVAILABILITY_TIMEOUT: BlockNumber = 10;
/// Largest PoV a candidate may have.
pub const MAX_POV_SIZE: u32 = 5 * 1024 * 1024;
/// Statements needed to back a candidate (or the whole group, if smaller), as in Polkadot.
pub const MIN_BACKING_VOTES: usize = 2;

/// A backer's signed statement that a candidate is valid.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ValidityVote {
    /// The backer's index in the validator set.
    pub validator: u32,
    /// Its signature over [`statement_payload`].
    pub signature: Signature,
}

/// A candidate with its backers' statements, as an author puts it in a block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BackedCandidate {
    /// The candidate.
    pub candidate: CommittedCandidateReceipt,
    /// Statements of its backing group.
    pub votes: Vec<ValidityVote>,
}

/// A validator's signed availability bitfield: one bit per core.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct SignedBitfield {
    /// The validator's index.
    pub validator: u32,
    /// Bit `c`: it holds its chunk of the candidate pending on core `c`.
    pub bits: Vec<bool>,
    /// Its signature over [`bitfield_payload`].
    pub signature: Signature,
}

/// A candidate waiting for availability on a core.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PendingCandidate {
    /// The candidate's hash.
    pub hash: Hash,
    /// Its descriptor.
    pub descriptor: CandidateDescriptor,
    /// Its commitments.
    pub commitments: CandidateCommitments,
    /// The relay block that backed it.
    pub backed_in: BlockNumber,
    /// Validators (by index) that hold their chunk.
    pub availability: Vec<bool>,
    /// Its backers' statements: what they answer for in a dispute about it.
    pub backing: Vec<ValidityVote>,
}

impl PendingCandidate {
    /// The validators that backed it.
    pub fn backers(&self) -> impl Iterator<Item = u32> + '_ {
        self.backing.iter().map(|vote| vote.validator)
    }

    /// The number of its relay parent, the parent of the block that backed it.
    pub fn relay_parent_number(&self) -> BlockNumber {
        self.backed_in.saturating_sub(1)
    }
}

/// Candidates pending availability, by para (one core per para).
pub static PENDING: StorageMap<ParaId, PendingCandidate> = StorageMap::new(NAME, "Pending");
/// The last block that had the inherent (at most one per block).
pub static ENTERED: StorageValue<BlockNumber> = StorageValue::new(NAME, "Entered");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![PENDING.metadata(), ENTERED.metadata(),]
}

/// What a backer signs: the candidate's hash, domain-separated.
pub fn statement_payload(candidate_hash: &Hash) -> Vec<u8> {
    (b"tessera/valid", candidate_hash).encode()
}

/// What a validator signs for its bitfield: the bits and the block they are for (the parent of
/// the block that includes them), so a bitfield cannot be replayed in another block.
pub fn bitfield_payload(parent_hash: &Hash, bits: &[bool]) -> Vec<u8> {
    (b"tessera/available", parent_hash, bits).encode()
}

/// Calls of `inclusion`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// The inherent: bitfields and backed candidates (author only, once per block).
    #[codec(index = 0)]
    Enter {
        /// The parent block's header, for its state root (the candidates' relay parent).
        parent_header: Header,
        /// Availability bitfields signed against the parent.
        bitfields: Vec<SignedBitfield>,
        /// Candidates backed on the parent.
        backed: Vec<BackedCandidate>,
        /// Disputes concluded among validators, with their votes (see [`crate::disputes`]).
        disputes: Vec<crate::disputes::DisputeStatementSet>,
        /// Validators' votes on new para code under check (see [`crate::pvf_check`]).
        pvf_checks: Vec<crate::pvf_check::PvfCheckStatement>,
    },
}

/// Events of `inclusion`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A candidate was backed and waits for availability.
    #[codec(index = 0)]
    CandidateBacked {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
        /// Hash of its head.
        head_hash: Hash,
    },
    /// A candidate became available: its head is the para's head now.
    #[codec(index = 1)]
    CandidateIncluded {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
        /// Hash of the para's new head.
        head_hash: Hash,
    },
    /// A candidate did not become available in time and was dropped.
    #[codec(index = 2)]
    CandidateTimedOut {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
    },
    /// A backed candidate's messages cannot be taken now; it was dropped.
    #[codec(index = 3)]
    CandidateDropped {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
        /// Why its outputs cannot be taken.
        reason: String,
    },
    /// An included candidate's new code was not scheduled (another upgrade is pending, or the
    /// code is empty or too large); the para keeps its code, and drops its own pending code
    /// when it does not find it listed.
    #[codec(index = 4)]
    CodeUpgradeRefused {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
        /// Why.
        reason: String,
    },
    /// A dispute concluded and was recorded.
    #[codec(index = 5)]
    DisputeConcluded {
        /// The candidate.
        candidate_hash: Hash,
        /// Whether it was found valid.
        valid: bool,
    },
    /// A validator was on the losing side of a dispute: an offender, disabled for the rest of
    /// the session.
    #[codec(index = 6)]
    ValidatorOffence {
        /// The validator's index in the dispute's session.
        validator: u32,
        /// The disputed candidate.
        candidate_hash: Hash,
        /// What it did.
        offence: crate::disputes::Offence,
    },
    /// A candidate pending availability was concluded invalid and dropped, freeing its core.
    #[codec(index = 7)]
    CandidateInvalidated {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
    },
}

/// Why a backed candidate's outputs cannot be taken in the block that would back it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// Its messages do not fit.
    #[error(transparent)]
    Messages(#[from] messaging::CommitmentError),
}

/// Whether the outputs of a candidate of `para` on the relay block `relay_parent` can be
/// taken now, as of `state`: its messages fit the queues. New code that cannot be
/// scheduled does not stop a candidate: it is refused when the candidate is included
/// ([`Event::CodeUpgradeRefused`]), as dropping the candidate would have its collator build
/// the same block again and stall the para.
pub fn check_outputs(
    state: &mut State<'_>,
    para: ParaId,
    commitments: &CandidateCommitments,
    relay_parent: BlockNumber,
) -> tessera_runtime::Result<Result<(), OutputError>> {
    if let Err(why) = messaging::check_commitments(state, para, commitments, relay_parent)? {
        return Ok(Err(why.into()));
    }
    Ok(Ok(()))
}

const BASE_WEIGHT: Weight = 100_000_000;
/// Weight of one signature check (bitfields, statements, collator).
const WEIGHT_PER_SIGNATURE: Weight = 60_000_000;

tessera_runtime::module_error! {
    /// Errors of `inclusion`.
    pub enum Error for NAME {
        /// The validator is not in the session's set.
        UnknownValidator,
        /// A validator signed two bitfields in one block.
        DuplicateBitfield,
        /// An availability bitfield does not have one bit per core.
        BitfieldWrongLength,
        /// An availability bitfield's signature does not verify.
        BadBitfieldSignature,
        /// The candidate's relay parent is not one the block allows.
        WrongRelayParent,
        /// The para's core holds a candidate pending availability.
        CoreOccupied,
        /// The para is not registered.
        NotRegistered,
        /// The candidate's validation data is not the relay chain's.
        ValidationDataMismatch,
        /// The candidate names code other than the para's.
        WrongValidationCode,
        /// The candidate does not build on the para's head.
        ParaHeadMismatch,
        /// The candidate was disputed and found invalid.
        ConcludedInvalid,
        /// The head data is larger than the chain accepts.
        HeadTooLarge,
        /// The candidate's new validation code is refused.
        BadNewCode,
        /// The candidate's collator signature does not verify.
        BadCollatorSignature,
        /// The para has no core.
        NoCore,
        /// A backer is not in the para's backing group.
        NotInBackingGroup,
        /// A validator backs the candidate twice.
        DuplicateStatement,
        /// A backer is disabled for misbehaviour.
        DisabledBacker,
        /// A backing statement's signature does not verify.
        BadStatementSignature,
        /// Fewer backers than the group's threshold.
        InsufficientBacking,
        /// The parachains inherent was already applied in this block.
        AlreadyEntered,
        /// The candidate's relay parent is unknown.
        NoParent,
        /// The block's parent header is not its parent's.
        WrongParentHeader,
        /// The block backs two candidates of one para.
        TwoCandidatesForOnePara,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

/// The validation data a candidate of `para` on the relay block `relay_parent` must commit to,
/// as of `state` (the relay parent's state, or the state of the block backing the candidate).
///
/// The candidate builds on the one pending availability on the para's core, if any, else on
/// the included head: a collator need not wait for its last candidate to be included, so the
/// next one can be backed in the very block whose bitfields include the last (Polkadot's
/// asynchronous backing, one candidate deep). The block that backs it must find the core free
/// by then ([`Call::Enter`] includes before it backs), so its parent head is the included one.
pub fn persisted_validation_data(
    state: &mut State<'_>,
    para: ParaId,
    relay_parent: &Header,
) -> tessera_runtime::Result<Option<PersistedValidationData>> {
    let at = relay_parent.number.saturating_add(1);
    let Some(info) = paras::para_at(state, para, at)? else {
        return Ok(None);
    };
    let parent_head = match PENDING.get(state, &para)? {
        Some(pending) => pending.commitments.head_data,
        None => info.head,
    };
    Ok(Some(PersistedValidationData {
        parent_head,
        relay_parent_number: relay_parent.number,
        relay_parent_storage_root: relay_parent.state_root,
        max_pov_size: MAX_POV_SIZE,
    }))
}

/// The validators (by index) assigned to back `para` in block `number`, given the current
/// validator and para sets; `None` if `para` has no core.
pub fn backing_group(
    validators: u32,
    paras: &[ParaId],
    para: ParaId,
    number: BlockNumber,
) -> Option<Vec<u32>> {
    let core = paras.iter().position(|p| *p == para)?;
    let groups = validator_groups(validators, paras.len());
    let group = group_for_core(core, groups.len(), 0, number, GROUP_ROTATION_FREQUENCY);
    groups.into_iter().nth(group)
}

/// Statements needed from a group of `group_size` to back a candidate.
pub fn backing_threshold(group_size: usize) -> usize {
    group_size.min(MIN_BACKING_VOTES)
}

/// Whether `votes` of `validators` make a candidate available (strictly more than 2/3).
pub fn availability_reached(votes: usize, validators: usize) -> bool {
    votes.saturating_mul(3) > validators.saturating_mul(2)
}

fn validator(validators: &ParaValidators, index: u32) -> Result<&AccountId, CallError> {
    validators
        .key(index)
        .ok_or_else(|| error(Error::UnknownValidator))
}

/// What the runtime's event type must convert from.
pub trait Bounds:
    From<Event>
    + From<session::Event>
    + From<crate::staking::Event>
    + From<paras::Event>
    + From<messaging::Event>
    + From<crate::registrar::Event>
    + tessera_xcm::module::XcmRuntime
{
}

impl<E> Bounds for E where
    E: From<Event>
        + From<session::Event>
        + From<crate::staking::Event>
        + From<paras::Event>
        + From<messaging::Event>
        + From<crate::registrar::Event>
        + tessera_xcm::module::XcmRuntime
{
}

/// Step 1: records the bitfields' votes and includes what became available.
fn process_bitfields<E: Bounds>(
    ctx: &mut Context<'_, E>,
    parent_hash: &Hash,
    validators: &ParaValidators,
    cores: &[ParaId],
    bitfields: Vec<SignedBitfield>,
) -> Result<(), CallError> {
    let mut seen = vec![false; validators.len()];
    let mut pending: Vec<Option<PendingCandidate>> = Vec::with_capacity(cores.len());
    for para in cores {
        pending.push(PENDING.get(&mut ctx.state, para)?);
    }
    for bitfield in bitfields {
        let signer = validator(validators, bitfield.validator)?;
        let first = seen
            .get_mut(bitfield.validator as usize)
            .map(|seen| !core::mem::replace(seen, true))
            .unwrap_or(false);
        if !first {
            return Err(error(Error::DuplicateBitfield));
        }
        if bitfield.bits.len() != cores.len() {
            return Err(error(Error::BitfieldWrongLength));
        }
        let payload = bitfield_payload(parent_hash, &bitfield.bits);
        if !signer.verify(&payload, &bitfield.signature) {
            return Err(error(Error::BadBitfieldSignature));
        }
        if crate::disputes::is_disabled(&mut ctx.state, bitfield.validator)? {
            // Valid, but a disabled validator's availability does not count.
            continue;
        }
        for (bit, candidate) in bitfield.bits.iter().zip(pending.iter_mut()) {
            let (true, Some(candidate)) = (bit, candidate) else {
                continue;
            };
            if let Some(vote) = candidate.availability.get_mut(bitfield.validator as usize) {
                *vote = true;
            }
        }
    }
    for (para, candidate) in cores.iter().zip(pending) {
        let Some(candidate) = candidate else { continue };
        let votes = candidate.availability.iter().filter(|v| **v).count();
        if availability_reached(votes, validators.len()) {
            enact(ctx, validators, *para, candidate)?;
        } else {
            PENDING.insert(&mut ctx.state, para, &candidate);
        }
    }
    Ok(())
}

/// Makes an available candidate's head the para's head and applies its messages.
fn enact<E: Bounds>(
    ctx: &mut Context<'_, E>,
    validators: &ParaValidators,
    para: ParaId,
    candidate: PendingCandidate,
) -> Result<(), CallError> {
    PENDING.remove(&mut ctx.state, &para);
    let points = crate::staking::rewards::BACKING_POINTS;
    let backers = candidate
        .backers()
        .filter_map(|backer| validators.stash(backer))
        .map(|validator| (*validator, points));
    crate::staking::rewards::reward_all(ctx, backers)?;
    let head_hash = candidate.commitments.head_data.hash();
    messaging::enact(ctx, para, &candidate.commitments)?;
    paras::enact_para_upgrade(ctx, para, candidate.relay_parent_number())?;
    paras::set_head(&mut ctx.state, para, candidate.commitments.head_data)?;
    if let Some(code) = candidate.commitments.new_validation_code {
        // Refused, not dropped: the para finds its code unlisted and drops it in time.
        match paras::upgrade_refusal(&mut ctx.state, para, &code, ctx.block_number)? {
            None => crate::pvf_check::start(ctx, para, code)?,
            Some(why) => ctx.deposit_event(Event::CodeUpgradeRefused {
                para,
                candidate_hash: candidate.hash,
                reason: why.to_string(),
            }),
        }
    }
    ctx.deposit_event(Event::CandidateIncluded {
        para,
        candidate_hash: candidate.hash,
        head_hash,
    });
    Ok(())
}

/// Step 2: drops candidates that waited too long.
fn time_out<E: From<Event>>(ctx: &mut Context<'_, E>, cores: &[ParaId]) -> Result<(), CallError> {
    let now = ctx.block_number;
    for para in cores {
        let Some(candidate) = PENDING.get(&mut ctx.state, para)? else {
            continue;
        };
        if now.saturating_sub(candidate.backed_in) < AVAILABILITY_TIMEOUT {
            continue;
        }
        PENDING.remove(&mut ctx.state, para);
        ctx.deposit_event(Event::CandidateTimedOut {
            para: *para,
            candidate_hash: candidate.hash,
        });
    }
    Ok(())
}

/// Drops every candidate pending availability when other validators take over the parachain
/// work: their chunks were coded for, and are held by, the validators who leave, by their
/// indices ([`Event::CandidateTimedOut`]; their paras build on their included heads again).
pub fn on_new_validators<E: From<Event>>(ctx: &mut Context<'_, E>) -> Result<(), CallError> {
    for para in paras::para_ids(&mut ctx.state)? {
        let Some(candidate) = PENDING.get(&mut ctx.state, &para)? else {
            continue;
        };
        PENDING.remove(&mut ctx.state, &para);
        ctx.deposit_event(Event::CandidateTimedOut {
            para,
            candidate_hash: candidate.hash,
        });
    }
    Ok(())
}

/// Drops candidates pending availability that a dispute concluded invalid, freeing their
/// cores: they never become included, and the para goes on from its last valid head.
fn drop_invalid<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    cores: &[ParaId],
) -> Result<(), CallError> {
    for para in cores {
        let Some(candidate) = PENDING.get(&mut ctx.state, para)? else {
            continue;
        };
        let record = crate::disputes::RECORDED.get(&mut ctx.state, &candidate.hash)?;
        if record.is_some_and(|record| !record.valid) {
            PENDING.remove(&mut ctx.state, para);
            ctx.deposit_event(Event::CandidateInvalidated {
                para: *para,
                candidate_hash: candidate.hash,
            });
        }
    }
    Ok(())
}

/// What step 3 refuses a backed candidate for on `parent`, as of `state` (the state of the
/// block being built, after steps 1 and 2): the block author runs it too, so that it never
/// proposes a candidate that would make the whole inherent fail. Changes nothing.
pub fn check_backed(
    state: &mut State<'_>,
    parent: &Header,
    block_number: BlockNumber,
    validators: &ParaValidators,
    cores: &[ParaId],
    backed: &BackedCandidate,
) -> Result<(), CallError> {
    let BackedCandidate { candidate, votes } = backed;
    let descriptor = &candidate.descriptor;
    let para = descriptor.para_id;
    if descriptor.relay_parent != parent.hash() {
        return Err(error(Error::WrongRelayParent));
    }
    if PENDING.get(state, &para)?.is_some() {
        return Err(error(Error::CoreOccupied));
    }
    let pvd = persisted_validation_data(state, para, parent)?
        .ok_or_else(|| error(Error::NotRegistered))?;
    if descriptor.persisted_validation_data_hash != pvd.hash() {
        return Err(error(Error::ValidationDataMismatch));
    }
    let code_hash = paras::code_for_candidate(state, para, block_number)?
        .ok_or_else(|| error(Error::NotRegistered))?;
    if descriptor.validation_code_hash != code_hash {
        return Err(error(Error::WrongValidationCode));
    }
    if descriptor.para_head != candidate.commitments.head_data.hash() {
        return Err(error(Error::ParaHeadMismatch));
    }
    let disputed = crate::disputes::RECORDED.get(state, &candidate.hash())?;
    if disputed.is_some_and(|record| !record.valid) {
        return Err(error(Error::ConcludedInvalid));
    }
    if candidate.commitments.head_data.0.len() > paras::MAX_HEAD_SIZE {
        return Err(error(Error::HeadTooLarge));
    }
    // What a para sends itself by `set_code`: anything else is no honest para's.
    let new_code = candidate.commitments.new_validation_code.as_ref();
    if new_code.and_then(paras::para_code_refusal).is_some() {
        return Err(error(Error::BadNewCode));
    }
    if !descriptor.check_collator_signature() {
        return Err(error(Error::BadCollatorSignature));
    }
    let group = backing_group(validators.len() as u32, cores, para, block_number)
        .ok_or_else(|| error(Error::NoCore))?;
    let payload = statement_payload(&candidate.hash());
    let mut backers: Vec<u32> = Vec::with_capacity(votes.len());
    for vote in votes {
        if !group.contains(&vote.validator) {
            return Err(error(Error::NotInBackingGroup));
        }
        if backers.contains(&vote.validator) {
            return Err(error(Error::DuplicateStatement));
        }
        if crate::disputes::is_disabled(state, vote.validator)? {
            return Err(error(Error::DisabledBacker));
        }
        if !validator(validators, vote.validator)?.verify(&payload, &vote.signature) {
            return Err(error(Error::BadStatementSignature));
        }
        backers.push(vote.validator);
    }
    if backers.len() < backing_threshold(group.len()) {
        return Err(error(Error::InsufficientBacking));
    }
    Ok(())
}

/// Step 3: checks a backed candidate and puts it pending availability.
fn back<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    parent: &Header,
    validators: &ParaValidators,
    cores: &[ParaId],
    backed: BackedCandidate,
) -> Result<(), CallError> {
    check_backed(
        &mut ctx.state,
        parent,
        ctx.block_number,
        validators,
        cores,
        &backed,
    )?;
    let BackedCandidate { candidate, votes } = backed;
    let descriptor = &candidate.descriptor;
    let para = descriptor.para_id;
    let candidate_hash = candidate.hash();
    // Messages that cannot be taken now (another candidate included in this block filled a
    // channel) drop the candidate, not the block: it was valid when it was backed.
    if let Err(why) = check_outputs(&mut ctx.state, para, &candidate.commitments, parent.number)? {
        ctx.deposit_event(Event::CandidateDropped {
            para,
            candidate_hash,
            reason: why.to_string(),
        });
        return Ok(());
    }
    let head_hash = descriptor.para_head;
    PENDING.insert(
        &mut ctx.state,
        &para,
        &PendingCandidate {
            hash: candidate_hash,
            descriptor: candidate.descriptor,
            commitments: candidate.commitments,
            backed_in: ctx.block_number,
            availability: vec![false; validators.len()],
            backing: votes.clone(),
        },
    );
    let backers = votes.iter().map(|vote| vote.validator).collect();
    crate::disputes::note_backed(
        &mut ctx.state,
        ctx.block_number,
        candidate_hash,
        validators.session,
        backers,
    )?;
    ctx.deposit_event(Event::CandidateBacked {
        para,
        candidate_hash,
        head_hash,
    });
    Ok(())
}

impl<E: Bounds> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        let Call::Enter {
            bitfields,
            backed,
            disputes,
            pvf_checks,
            ..
        } = self;
        let signatures = backed
            .iter()
            .map(|b| b.votes.len().saturating_add(1))
            .chain(disputes.iter().map(|d| d.votes.len()))
            .fold(
                bitfields.len().saturating_add(pvf_checks.len()),
                usize::saturating_add,
            );
        // It also runs queued upward messages, up to their budget.
        BASE_WEIGHT
            .saturating_add(WEIGHT_PER_SIGNATURE.saturating_mul(signatures as Weight))
            .saturating_add(messaging::UPWARD_WEIGHT_PER_BLOCK)
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        if !matches!(origin, Origin::None) {
            return Err(DispatchError::BadOrigin.into());
        }
        let Call::Enter {
            parent_header,
            bitfields,
            backed,
            disputes,
            pvf_checks,
        } = self;
        let now = ctx.block_number;
        if ENTERED.get(&mut ctx.state)? == Some(now) {
            return Err(error(Error::AlreadyEntered));
        }
        ENTERED.put(&mut ctx.state, &now);
        let parent_hash = system::PARENT_HASH
            .get(&mut ctx.state)?
            .ok_or_else(|| error(Error::NoParent))?;
        if parent_header.hash() != parent_hash || parent_header.number.saturating_add(1) != now {
            return Err(error(Error::WrongParentHeader));
        }
        crate::staking::rewards::reward_author(ctx)?;
        let validators = session::para_validators(&mut ctx.state)?;
        // Bitfields and statements signed on the parent are by the validators who just left
        // (as Polkadot's inherent does at a session change, they are left out).
        let (bitfields, backed) = if session::para_validators_changed_in(&mut ctx.state, now)? {
            (Vec::new(), Vec::new())
        } else {
            (bitfields, backed)
        };
        // Disputes first: the validators they disable do not count in this block either.
        crate::disputes::record(ctx, &validators, disputes)?;
        let oldest = validators.session.saturating_sub(session::DISPUTE_PERIOD);
        crate::disputes::prune_backers(&mut ctx.state, now, oldest)?;
        // Then code checks, against the parent's state as their author saw it.
        crate::pvf_check::record(ctx, &validators, pvf_checks)?;
        let cores = paras::para_ids(&mut ctx.state)?;
        drop_invalid(ctx, &cores)?;
        for para in &cores {
            paras::enact_due_upgrade(ctx, *para)?;
        }
        process_bitfields(ctx, &parent_hash, &validators, &cores, bitfields)?;
        messaging::process_upward(ctx)?;
        time_out(ctx, &cores)?;
        let mut seen = Vec::with_capacity(backed.len());
        for candidate in backed {
            let para = candidate.candidate.descriptor.para_id;
            if seen.contains(&para) {
                return Err(error(Error::TwoCandidatesForOnePara));
            }
            seen.push(para);
            back(ctx, &parent_header, &validators, &cores, candidate)?;
        }
        // Last: a para onboarded here gets a core from the next block on, when everyone's
        // groups and bitfields count it.
        crate::registrar::onboard_due(ctx)?;
        Ok(())
    }

    fn is_inherent(&self) -> bool {
        true
    }
}

/// The para's latest included head.
pub fn included_head(
    state: &mut State<'_>,
    para: ParaId,
) -> tessera_runtime::Result<Option<HeadData>> {
    Ok(paras::PARAS.get(state, &para)?.map(|info| info.head))
}
