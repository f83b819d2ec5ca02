//! Slashes: a share of an offender's stake, and of its nominators' stake behind it, burnt
//! after a deferral during which root can cancel it.
//!
//! An offence ([`report`]) names the validator and the share to slash. It is measured on the
//! offender's exposure in the era of the offence ([`report_in`]; for a dispute, the era of its
//! session, which may end before the dispute is recorded), so its nominators lose the same
//! share of what they had behind it, and it is applied
//! [`super::StakingConfig::slash_defer_duration`] eras after that era (or at the next era if
//! that is past), at that era's start. The chain
//! spec keeps the deferral at least two eras below the bonding duration, so funds unbonded
//! from the era before the report on are still bonded when it lands. Root cancels a deferred
//! slash with [`super::Call::CancelDeferredSlash`]. An offender is chilled at once, so the
//! next election leaves it out, and nominations of it made before the report stop counting
//! ([`LAST_SLASHED`]). A validator is slashed at most once per era, by the largest share
//! reported for it: a second report adds only the difference. Its offences in the eras already
//! elected when it was reported (it cannot leave those) count in the era of that report
//! ([`SLASHING_SPANS`], as Polkadot's slashing spans): one that goes on misbehaving until it
//! is gone is slashed once, by the largest share. A stash slashed to nothing stops staking.
//!
//! Only validators with an exposure (elected by staking) can be slashed: a genesis validator
//! staking did not elect is chilled, not slashed.
//!
//! What a slash takes comes off the active bond first, then the unbonding chunks, latest
//! first; it is burnt, and the issuance falls by exactly that.

use crate::prelude::*;

use super::{
    error, EraIndex, Error, Event, Events, Perbill, ERAS_STAKERS_OVERVIEW, ERAS_STAKERS_PAGED,
    LEDGER, PERBILL_ONE,
};
use crate::election::mul_div_floor;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, CallResult, Context};
use tessera_runtime::modules::balances;
use tessera_runtime::storage::StorageMap;
use tessera_runtime::{AccountId, Balance};

/// Most slashes waiting for one era: one per offender and offence era, so the most
/// validators times the eras whose slashes can land in one (the deferred one's, and those of
/// the dispute period's sessions reported late).
pub const MAX_UNAPPLIED_PER_ERA: usize = 8_000;

/// A slash waiting for its era (FRAME's `UnappliedSlash`, with the exposure read when it is
/// applied rather than copied now).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct UnappliedSlash {
    /// The offender.
    pub validator: AccountId,
    /// The era whose exposure it is measured on.
    pub offence_era: EraIndex,
    /// The share of that exposure it takes (the part not slashed for this era before).
    pub fraction: Perbill,
}

/// Slashes waiting, by the era at whose start they are applied.
pub static UNAPPLIED_SLASHES: StorageMap<EraIndex, Vec<UnappliedSlash>> =
    StorageMap::new(super::NAME, "UnappliedSlashes");
/// The largest share each validator was slashed by for an era (FRAME's
/// `ValidatorSlashInEra`).
pub static VALIDATOR_SLASH_IN_ERA: StorageMap<(EraIndex, AccountId), Perbill> =
    StorageMap::new(super::NAME, "ValidatorSlashInEra");

/// The latest era each validator was reported slashed in: nominations of it submitted
/// before then no longer count (FRAME's rule for nominators of a slashed validator).
pub static LAST_SLASHED: StorageMap<AccountId, EraIndex> =
    StorageMap::new(super::NAME, "LastSlashed");

/// Each reported validator's slashing span: the era its slash is measured on, and the last
/// era already elected when it was reported. Its offences in the eras after the first up to
/// the second are slashed on the first.
pub static SLASHING_SPANS: StorageMap<AccountId, (EraIndex, EraIndex)> =
    StorageMap::new(super::NAME, "SlashingSpans");

/// Reports that `validator` committed an offence worth `fraction` of its stake in the active
/// era: chills it and defers the slash.
pub fn report<E: Events>(
    ctx: &mut Context<'_, E>,
    validator: &AccountId,
    fraction: Perbill,
) -> CallResult {
    let era = super::ACTIVE_ERA.get_or_default(&mut ctx.state)?.index;
    report_in(ctx, validator, fraction, era)
}

/// The era session `session` belonged to: the latest whose first session is at or before
/// it (the active era if none is found among the few before it).
pub fn era_of_session(
    state: &mut tessera_runtime::state::State<'_>,
    session: u32,
) -> tessera_runtime::Result<EraIndex> {
    let active = super::ACTIVE_ERA.get_or_default(state)?.index;
    // An era lasts a session at least: the dispute period reaches no further back.
    let oldest = active.saturating_sub(crate::session::DISPUTE_PERIOD.saturating_add(1));
    let mut era = active;
    loop {
        let started = super::ERAS_START_SESSION_INDEX.get(state, &era)?;
        if started.is_some_and(|start| start <= session) || era <= oldest {
            return Ok(era);
        }
        era = era.saturating_sub(1);
    }
}

/// [`report`] for an offence committed in era `offence_era` (the active one or an earlier
/// one): measured on the offender's exposure then, and applied the slash deferral after it, or
/// at the next era's start if that is past.
pub fn report_in<E: Events>(
    ctx: &mut Context<'_, E>,
    validator: &AccountId,
    fraction: Perbill,
    offence_era: EraIndex,
) -> CallResult {
    let Some(config) = super::CONFIG.get(&mut ctx.state)? else {
        return Ok(());
    };
    let active = super::ACTIVE_ERA.get_or_default(&mut ctx.state)?.index;
    let span = SLASHING_SPANS.get(&mut ctx.state, validator)?;
    let era = match span {
        Some((start, end)) if (start..=end).contains(&offence_era) => start,
        _ => offence_era.min(active),
    };
    let fraction = Perbill(fraction.0.min(PERBILL_ONE));
    let key = (era, *validator);
    let before = VALIDATOR_SLASH_IN_ERA
        .get(&mut ctx.state, &key)?
        .unwrap_or_default();
    super::chill(ctx, validator)?;
    // The latest era: a late report of an earlier offence does not let the nominations it
    // made void count again.
    let last = LAST_SLASHED.get(&mut ctx.state, validator)?.unwrap_or(era);
    LAST_SLASHED.insert(&mut ctx.state, validator, &last.max(era));
    if ERAS_STAKERS_OVERVIEW.get(&mut ctx.state, &key)?.is_none() {
        // Not at stake in this era: chilled only.
        return Ok(());
    }
    // A later offence than the span's starts one: it lasts to the last era elected by now.
    if span.is_none_or(|(start, _)| era > start) {
        let planned = super::CURRENT_ERA.get_or_default(&mut ctx.state)?;
        SLASHING_SPANS.insert(&mut ctx.state, validator, &(era, planned.max(era)));
    }
    if fraction <= before {
        // Slashed as much already.
        return Ok(());
    }
    VALIDATOR_SLASH_IN_ERA.insert(&mut ctx.state, &key, &fraction);
    let apply_at = era
        .saturating_add(config.slash_defer_duration)
        .saturating_add(1)
        .max(active.saturating_add(1));
    let mut waiting = UNAPPLIED_SLASHES.get_or_default(&mut ctx.state, &apply_at)?;
    let more = Perbill(fraction.0.saturating_sub(before.0));
    // One entry per offender and era: a larger share adds to the one waiting.
    let full = waiting.len() >= MAX_UNAPPLIED_PER_ERA;
    match waiting
        .iter_mut()
        .find(|slash| slash.validator == *validator && slash.offence_era == era)
    {
        Some(slash) => slash.fraction = Perbill(slash.fraction.0.saturating_add(more.0)),
        None if full => return Err(error(Error::TooManySlashes)),
        None => waiting.push(UnappliedSlash {
            validator: *validator,
            offence_era: era,
            fraction: more,
        }),
    }
    UNAPPLIED_SLASHES.insert(&mut ctx.state, &apply_at, &waiting);
    ctx.deposit_event(Event::SlashReported {
        validator: *validator,
        fraction,
        slash_era: era,
    });
    Ok(())
}

/// Root's cancellation of the slashes at `indices` of those waiting for era `era`.
pub fn cancel<E: Events>(ctx: &mut Context<'_, E>, era: EraIndex, indices: &[u32]) -> CallResult {
    let waiting = UNAPPLIED_SLASHES.get_or_default(&mut ctx.state, &era)?;
    if indices.iter().any(|i| *i as usize >= waiting.len()) {
        return Err(error(Error::InvalidSlashIndex));
    }
    let mut kept = Vec::with_capacity(waiting.len());
    for (index, slash) in waiting.into_iter().enumerate() {
        if indices.contains(&(index as u32)) {
            // A later report for that era may slash the cancelled part again (not a part
            // applied before).
            let key = (slash.offence_era, slash.validator);
            let reported = VALIDATOR_SLASH_IN_ERA
                .get(&mut ctx.state, &key)?
                .unwrap_or_default();
            match reported.0.saturating_sub(slash.fraction.0) {
                0 => VALIDATOR_SLASH_IN_ERA.remove(&mut ctx.state, &key),
                left => VALIDATOR_SLASH_IN_ERA.insert(&mut ctx.state, &key, &Perbill(left)),
            }
            ctx.deposit_event(Event::SlashCancelled {
                slash_era: era,
                validator: slash.validator,
            });
        } else {
            kept.push(slash);
        }
    }
    UNAPPLIED_SLASHES.insert(&mut ctx.state, &era, &kept);
    Ok(())
}

/// Applies the slashes waiting for era `era` (called as it starts).
pub fn apply_due<E: Events>(ctx: &mut Context<'_, E>, era: EraIndex) -> CallResult {
    let waiting = UNAPPLIED_SLASHES.get_or_default(&mut ctx.state, &era)?;
    UNAPPLIED_SLASHES.remove(&mut ctx.state, &era);
    for slash in waiting {
        let key = (slash.offence_era, slash.validator);
        let Some(overview) = ERAS_STAKERS_OVERVIEW.get(&mut ctx.state, &key)? else {
            continue;
        };
        let share = |stake: Balance| {
            mul_div_floor(stake, u128::from(slash.fraction.0), u128::from(PERBILL_ONE))
        };
        slash_stash(ctx, &slash.validator, share(overview.own))?;
        for page in 0..overview.page_count {
            let nominators = ERAS_STAKERS_PAGED
                .get(&mut ctx.state, &(slash.offence_era, slash.validator, page))?
                .unwrap_or_default();
            for nominator in nominators.others {
                slash_stash(ctx, &nominator.who, share(nominator.value))?;
            }
        }
    }
    Ok(())
}

/// Weight of slashing one stash (its ledger, its reserve, the issuance).
const WEIGHT_PER_SLASHED_STASH: tessera_runtime::dispatch::Weight = 50_000_000;

/// Burns up to `amount` of `stash`'s bond: active first, then unbonding chunks, latest first.
fn slash_stash<E: Events>(
    ctx: &mut Context<'_, E>,
    stash: &AccountId,
    amount: Balance,
) -> Result<(), CallError> {
    ctx.consume_weight(WEIGHT_PER_SLASHED_STASH);
    let Some(mut ledger) = LEDGER.get(&mut ctx.state, stash)? else {
        return Ok(());
    };
    let wanted = amount.min(ledger.total);
    let from_active = wanted.min(ledger.active);
    ledger.active = ledger.active.saturating_sub(from_active);
    let wanted =
        from_active.saturating_add(ledger.take_unlocking(wanted.saturating_sub(from_active)));
    let burnt = balances::slash_reserved(ctx, stash, wanted)?;
    ledger.total = ledger.total.saturating_sub(burnt);
    if ledger.total == 0 {
        // Nothing left bonded: the stash stops staking, and its place is free.
        super::stop_staking(ctx, stash)?;
    } else {
        LEDGER.insert(&mut ctx.state, stash, &ledger);
    }
    if burnt > 0 {
        ctx.deposit_event(Event::Slashed {
            staker: *stash,
            amount: burnt,
        });
    }
    Ok(())
}
