//! `approval_rewards`: era points for approval checking, from the validators' own tallies
//! (RFC-0119's `ApprovalsTally`).
//!
//! Approval votes are gossiped, not put on chain, so the chain cannot count them itself. Each
//! validator counts, for every candidate it saw approved, whose approval votes approved it
//! (its "approval usages" of each validator). Once a block of the next session is finalized
//! (finality waits for approval, so the session's blocks are all approved then), it signs its
//! counts with its `para_validator` key and its node puts them in a block it authors, unsigned,
//! as [`Call::SubmitTally`].
//!
//! Tallies of session `s` are taken in the [`TALLY_SESSIONS`] sessions after it, one per
//! validator of `s` (it goes in a block its own node authors, as reports do, so it may wait a
//! while). When the session after those starts they are settled: each validator of `s` is credited the
//! `f + 1`-th largest count that the `n` validators give it (a validator that sent none counts
//! 0 for everyone), where `f = (n - 1) / 3` is the most validators that may lie. Liars cannot
//! raise anyone's count above what an honest validator saw, nor lower it below what `f + 1`
//! honest ones saw (among the tallies the chain took: one never sent counts 0). Each usage is
//! worth [`APPROVAL_POINTS`], credited in the era session `s` belonged to, to the validators
//! elected in it; an era is paid out only once the tallies of all its sessions are settled
//! ([`era_settled`]).
//!
//! A tally goes on chain only in a block its own validator authors: with sessions of a few
//! hundred slots and a thousand validators, many would not get in. Gossiping the signed tallies
//! (they check themselves) so that any author includes them is what scales.

use crate::prelude::*;

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, CallResult, Context, Dispatch, Origin, Weight};
use tessera_runtime::modules::system;
use tessera_runtime::state::State;
use tessera_runtime::storage::StorageMap;
use tessera_runtime::{Hash, Signature};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "ApprovalRewards";

/// Points for each approval usage: RFC-0119 counts a backing as 0.8 of an approval, and a
/// backing earns [`crate::staking::rewards::BACKING_POINTS`] (20).
pub const APPROVAL_POINTS: u32 = 25;

/// Sessions after its own in which a session's tallies are taken.
pub const TALLY_SESSIONS: u32 = 2;

/// Weight of a tally: its signature checked, its session's validators read, one write.
pub const TALLY_WEIGHT: Weight = 200_000_000;
/// Weight per validator counted in a tally (decoded and stored).
pub const WEIGHT_PER_COUNT: Weight = 1_000_000;
/// Weight per count at settlement (read and selected among its validator's).
pub const SETTLE_WEIGHT_PER_COUNT: Weight = 200_000;
/// Weight per validator at settlement: its tally and its exposure read.
pub const SETTLE_WEIGHT_PER_VALIDATOR: Weight = 50_000_000;

// A session's validators are kept until its tallies are settled.
const _: () = assert!(crate::session::DISPUTE_PERIOD > TALLY_SESSIONS);

/// One validator's approval usages of each validator of a session (RFC-0119's
/// `ApprovalsTally`, its approvals column).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ApprovalTally {
    /// The session the approvals were in.
    pub session: u32,
    /// The index of the validator who counted, in that session.
    pub validator: u32,
    /// How many candidates each validator of the session (by index) approved, as counted.
    pub usages: Vec<u32>,
}

impl ApprovalTally {
    /// What the validator signs: the tally, for the chain whose genesis is `genesis`.
    pub fn payload(&self, genesis: &Hash) -> Vec<u8> {
        (b"tessera/approval-tally", genesis, self).encode()
    }
}

/// The tallies taken for a session not yet settled, by session and the counting validator.
pub static TALLIES: StorageMap<(u32, u32), Vec<u32>> = StorageMap::new(NAME, "Tallies");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    vec![TALLIES.metadata()]
}

/// Calls of `approval_rewards`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// A validator's signed tally of one of the [`TALLY_SESSIONS`] sessions before the
    /// current one: unsigned, put in a block by its author.
    #[codec(index = 0)]
    SubmitTally {
        /// The tally.
        tally: ApprovalTally,
        /// The counting validator's `para_validator` signature of [`ApprovalTally::payload`]
        /// for this chain.
        signature: Signature,
    },
}

/// Events of `approval_rewards`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A session's tallies were settled into era points.
    #[codec(index = 0)]
    Settled {
        /// The session.
        session: u32,
        /// The era its points were credited in.
        era: u32,
        /// How many of its validators sent a tally.
        tallies: u32,
        /// The points credited, in all (to the validators elected in that era).
        points: u32,
    },
}

tessera_runtime::module_error! {
    /// Errors of `approval_rewards`.
    pub enum Error for NAME {
        /// Tallies are taken only for the [`TALLY_SESSIONS`] sessions before the current one.
        WrongSession,
        /// The counting validator is not one of the session's.
        UnknownValidator,
        /// The tally does not count each of the session's validators once.
        WrongLength,
        /// The signature is not the counting validator's.
        BadSignature,
        /// This validator's tally of the session was taken already.
        DuplicateTally,
    }
}

impl<E> Dispatch<E> for Call
where
    E: From<Event>,
{
    fn weight(&self) -> Weight {
        let Call::SubmitTally { tally, .. } = self;
        let counts = Weight::try_from(tally.usages.len()).unwrap_or(Weight::MAX);
        TALLY_WEIGHT.saturating_add(WEIGHT_PER_COUNT.saturating_mul(counts))
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        origin.ensure_none()?;
        let Call::SubmitTally { tally, signature } = self;
        submit_tally(ctx, tally, &signature)
    }

    fn is_report(&self) -> bool {
        true
    }
}

fn submit_tally<E>(
    ctx: &mut Context<'_, E>,
    tally: ApprovalTally,
    signature: &Signature,
) -> CallResult {
    let current = crate::session::CURRENT_INDEX.get_or_default(&mut ctx.state)?;
    if !takes_tallies_of(current, tally.session) {
        return Err(Error::WrongSession.into());
    }
    let validators = crate::session::para_validators_of(&mut ctx.state, tally.session)?
        .ok_or(Error::WrongSession)?;
    let key = validators
        .key(tally.validator)
        .ok_or(Error::UnknownValidator)?;
    if tally.usages.len() != validators.len() {
        return Err(Error::WrongLength.into());
    }
    let genesis = system::BLOCK_HASH
        .get(&mut ctx.state, &0)?
        .unwrap_or_default();
    if !key.verify(&tally.payload(&genesis), signature) {
        return Err(Error::BadSignature.into());
    }
    let id = (tally.session, tally.validator);
    if TALLIES.get(&mut ctx.state, &id)?.is_some() {
        return Err(Error::DuplicateTally.into());
    }
    TALLIES.insert(&mut ctx.state, &id, &tally.usages);
    Ok(())
}

/// Whether the chain in session `current` takes tallies of session `session`.
pub fn takes_tallies_of(current: u32, session: u32) -> bool {
    session < current && current <= session.saturating_add(TALLY_SESSIONS)
}

/// Settles the tallies of session `session` (called as the session after its
/// [`TALLY_SESSIONS`] starts): credits
/// each of its validators' robust count in era points, and forgets the tallies.
pub fn settle<E>(ctx: &mut Context<'_, E>, session: u32) -> Result<(), CallError>
where
    E: From<Event>,
{
    let Some(validators) = crate::session::para_validators_of(&mut ctx.state, session)? else {
        return Ok(());
    };
    let n = validators.len();
    let count = |n: usize| Weight::try_from(n).unwrap_or(Weight::MAX);
    ctx.consume_weight(SETTLE_WEIGHT_PER_VALIDATOR.saturating_mul(count(n)));
    let tallies = take_tallies(&mut ctx.state, session, n)?;
    if tallies.is_empty() {
        return Ok(());
    }
    ctx.consume_weight(SETTLE_WEIGHT_PER_COUNT.saturating_mul(count(n.saturating_mul(n))));
    let era = crate::staking::slashing::era_of_session(&mut ctx.state, session)?;
    let mut earned = Vec::new();
    let mut total: u32 = 0;
    for (index, stash) in validators.stashes.iter().enumerate() {
        let claims = tallies
            .iter()
            .map(|usages| usages.get(index).copied().unwrap_or(0));
        let usages = robust_count(claims, n);
        let points = usages.saturating_mul(APPROVAL_POINTS);
        // Points of a stash not elected in the era could never be paid, and would only lower
        // everyone else's share.
        if points > 0 && crate::staking::is_exposed(&mut ctx.state, era, stash)? {
            earned.push((*stash, points));
            total = total.saturating_add(points);
        }
    }
    crate::staking::rewards::reward_in(ctx, era, earned)?;
    ctx.deposit_event(Event::Settled {
        session,
        era,
        tallies: u32::try_from(tallies.len()).unwrap_or(u32::MAX),
        points: total,
    });
    Ok(())
}

/// Removes and returns the tallies taken for `session`, of its `n` validators.
fn take_tallies(
    state: &mut State<'_>,
    session: u32,
    n: usize,
) -> tessera_runtime::Result<Vec<Vec<u32>>> {
    let mut tallies = Vec::new();
    for validator in 0..u32::try_from(n).unwrap_or(u32::MAX) {
        if let Some(usages) = TALLIES.get(state, &(session, validator))? {
            TALLIES.remove(state, &(session, validator));
            tallies.push(usages);
        }
    }
    Ok(tallies)
}

/// The `f + 1`-th largest of the counts `claims` (of the `n` validators; those missing count
/// 0), `f = (n - 1) / 3`: at least one honest validator claimed as much, and with `f` liars
/// among the `n` no fewer than `f + 1` honest ones claimed at least that.
pub fn robust_count(claims: impl IntoIterator<Item = u32>, n: usize) -> u32 {
    let mut claims: Vec<u32> = claims.into_iter().take(n).collect();
    let f = n.saturating_sub(1) / 3;
    if f >= claims.len() {
        return 0;
    }
    *claims.select_nth_unstable_by(f, |a, b| b.cmp(a)).1
}

/// Whether every session of ended era `era` has had its tallies settled (so its points are
/// final and it may be paid): the session after the last that takes tallies of its last
/// session has started.
pub fn era_settled(state: &mut State<'_>, era: u32) -> tessera_runtime::Result<bool> {
    let next = era.saturating_add(1);
    let Some(next_start) = crate::staking::ERAS_START_SESSION_INDEX.get(state, &next)? else {
        return Ok(false);
    };
    let current = crate::session::CURRENT_INDEX.get_or_default(state)?;
    Ok(current >= next_start.saturating_add(TALLY_SESSIONS))
}
