//! `offences`: equivocations, reported by any validator that saw one as an unsigned extrinsic
//! carrying the proof: two headers sealed for one slot by one author ([`crate::babe`]), or two
//! finality votes in one round and phase by one voter ([`crate::grandpa`]).
//!
//! Each module checks its proof against the keys of the session the offence was committed in:
//! the current one or one of the [`crate::session::DISPUTE_PERIOD`] before it, whose keys the
//! chain keeps ([`crate::session::SESSION_AUTHORITIES`]); older ones are refused. The offender
//! is the stash that owns the key, for good ([`crate::session::KEY_OWNER`]). Here it is:
//! - slashed by `min((3k/n)², 1)` of its exposure in the era of that session, where `n` is the
//!   number of the session's validators and `k` the number of them reported for the same
//!   session's slots or set's rounds (Polkadot's formula for both equivocations, which counts
//!   the offenders of one slot or round). A later report raises the share of every offender
//!   reported before it there, as Polkadot's offences do;
//! - chilled at once, so the next election leaves it out;
//! - disabled for the rest of the current session if it is one of its validators (it then
//!   neither authors nor does parachain work), up to [`crate::disputes::max_disabled`].
//!
//! An offender is taken once per session (for its slots) and once per finality set (for its
//! rounds): a second report is refused, so no block carries one twice, and what is kept is
//! bounded by the validators. That is why `k` counts a whole session's or set's offenders,
//! not one slot's or round's: offenders who each first offended alone could otherwise lower
//! their share in a joint attack, whose later offences would be refused as known. Offences in
//! slots are kept as long as their session's keys; offences in rounds as long as their set's,
//! since a set may vote through several sessions and a round's session is not in its proof.
//! As in Polkadot, a round's offence is judged in the latest session of its set (and slashed
//! in that session's era).

use crate::prelude::*;

use crate::staking::{Perbill, PERBILL_ONE};
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, CallResult, Context, Weight};
use tessera_runtime::state::State;
use tessera_runtime::storage::StorageMap;
use tessera_runtime::AccountId;

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Offences";

/// Most offenders kept for one session's slots or one set's rounds: as many as validators.
pub const MAX_REPORTS_PER_SCOPE: usize = crate::staking::MAX_VALIDATOR_COUNT as usize;

/// Weight of a report: two signatures verified, a few reads and writes.
pub const REPORT_WEIGHT: Weight = 400_000_000;
/// Weight per validator of the offence's session (its keys read, its offenders scanned).
pub const WEIGHT_PER_VALIDATOR: Weight = 2_000_000;
/// Weight per offender of the session or set whose slash is reported again (its exposure,
/// span and the waiting slashes of its era read and written).
pub const WEIGHT_PER_OFFENDER: Weight = 500_000_000;

/// When an equivocation was committed: the unit in which one honest validator signs once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum TimeSlot {
    /// An authorship slot.
    #[codec(index = 0)]
    Slot(u64),
    /// A finality round of a set.
    #[codec(index = 1)]
    Round {
        /// The finality set id.
        set_id: u64,
        /// The round.
        round: u64,
    },
}

impl TimeSlot {
    /// Where its offences are kept.
    fn scope(&self, session: u32) -> ReportScope {
        match self {
            TimeSlot::Slot(_) => ReportScope::Session(session),
            TimeSlot::Round { set_id, .. } => ReportScope::Set(*set_id),
        }
    }
}

/// What the offences taken are kept by: those in slots by session, those in rounds by set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum ReportScope {
    /// The offences in the slots of a session.
    #[codec(index = 0)]
    Session(u32),
    /// The offences in the rounds of a finality set.
    #[codec(index = 1)]
    Set(u64),
}

/// One offence taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Reported {
    /// When.
    pub time_slot: TimeSlot,
    /// The offender's stash.
    pub offender: AccountId,
    /// The era its slash is measured on (its session's, when it was taken).
    pub era: crate::staking::EraIndex,
}

/// The offences taken, by session (slots) or set (rounds).
pub static REPORTS: StorageMap<ReportScope, Vec<Reported>> = StorageMap::new(NAME, "Reports");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    vec![REPORTS.metadata()]
}

/// Events of `offences`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// An equivocation was reported and its offender punished (FRAME's `Offence`, with the
    /// offender and the share of its stake the offence is worth).
    #[codec(index = 0)]
    Offence {
        /// The session it was committed in.
        session: u32,
        /// When.
        time_slot: TimeSlot,
        /// The offender's stash.
        offender: AccountId,
        /// The share of its exposure slashed for it (and its nominators').
        fraction: Perbill,
    },
}

/// Why a report is refused here (each reporting module names it with its own error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The offender was taken already for the session's slots or the set's rounds.
    Duplicate,
    /// The session or set holds [`MAX_REPORTS_PER_SCOPE`] already.
    TooMany,
}

/// `min((3k/n)², 1)`: the share slashed when `offenders` of `validators` equivocated.
pub fn slash_fraction(offenders: usize, validators: usize) -> Perbill {
    if validators == 0 {
        return Perbill(PERBILL_ONE);
    }
    let one = u128::from(PERBILL_ONE);
    let thrice = (offenders as u128).saturating_mul(3);
    let x = crate::election::mul_div_floor(thrice.min(validators as u128), one, validators as u128);
    let squared = crate::election::mul_div_floor(x, x, one);
    Perbill(u32::try_from(squared).unwrap_or(PERBILL_ONE))
}

/// Takes the offence of `offender` (a stash) at `time_slot` in session `session`, which had
/// `validators` validators: slashes, chills and disables it as the module docs say. Refused
/// (as `R`) if the offender was taken already for the session's slots or the set's rounds.
pub fn report_equivocation<E, R>(
    ctx: &mut Context<'_, E>,
    session: u32,
    validators: usize,
    time_slot: TimeSlot,
    offender: AccountId,
) -> CallResult
where
    E: From<Event> + crate::staking::Events,
    R: From<Refusal> + Into<CallError>,
{
    ctx.consume_weight(WEIGHT_PER_VALIDATOR.saturating_mul(validators as Weight));
    let scope = time_slot.scope(session);
    let mut reports = REPORTS.get_or_default(&mut ctx.state, &scope)?;
    if reports.iter().any(|r| r.offender == offender) {
        return Err(R::from(Refusal::Duplicate).into());
    }
    if reports.len() >= MAX_REPORTS_PER_SCOPE {
        return Err(R::from(Refusal::TooMany).into());
    }
    let era = crate::staking::slashing::era_of_session(&mut ctx.state, session)?;
    reports.push(Reported {
        time_slot,
        offender,
        era,
    });
    REPORTS.insert(&mut ctx.state, &scope, &reports);
    let fraction = slash_fraction(reports.len(), validators);
    // Each offender of the session or set is slashed the new share, in the era it was taken
    // in (a set's rounds may span eras): those reported before lose only the difference.
    ctx.consume_weight(WEIGHT_PER_OFFENDER.saturating_mul(reports.len() as Weight));
    for reported in &reports {
        crate::staking::slashing::report_in(ctx, &reported.offender, fraction, reported.era)?;
    }
    crate::disputes::disable(&mut ctx.state, &offender)?;
    ctx.deposit_event(Event::Offence {
        session,
        time_slot,
        offender,
        fraction,
    });
    Ok(())
}

/// Forgets the offences in the slots of session `session` (its keys are gone, so none can be
/// reported).
pub fn forget_session(state: &mut State<'_>, session: u32) {
    REPORTS.remove(state, &ReportScope::Session(session));
}

/// Forgets the offences in the rounds of set `set_id` (its keys are gone).
pub fn forget_set(state: &mut State<'_>, set_id: u64) {
    REPORTS.remove(state, &ReportScope::Set(set_id));
}
