//! Era points and payouts, as FRAME's staking pays them.
//!
//! Validators earn points in the active era: [`AUTHORING_POINTS`] for each relay block they
//! author and [`BACKING_POINTS`] for each candidate they backed when it is included; approval
//! points come later, in the era of their session ([`crate::approval_rewards`]). When the
//! era ends, its payout is fixed: the total issuance times the chain spec's yearly inflation,
//! for the era's length (its blocks times the slot duration). Once its approval points are
//! settled too, a few sessions later, anyone pays an elected
//! validator's part with [`super::Call::PayoutStakers`], one exposure page per call: the
//! validator's share of the payout is its share of the era's points; its commission comes off
//! first, and the rest goes to its own stake and its nominators' in proportion to what each
//! had at stake in that era. The validator's commission and own part are paid with page 0.
//! What is paid is minted, so the total issuance grows by exactly the sum paid; rounding
//! leaves a remainder unminted. Payouts can be claimed for [`super::HISTORY_DEPTH`] eras.

use crate::prelude::*;

use super::{
    error, EraIndex, Error, Event, Events, RewardDestination, ERAS_STAKERS_OVERVIEW,
    ERAS_STAKERS_PAGED, ERAS_VALIDATOR_PREFS, HISTORY_DEPTH, LEDGER, PAYEE, PERBILL_ONE,
};
use crate::election::mul_div_floor;
use alloc::collections::BTreeMap;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, CallResult, Context};
use tessera_runtime::executive::AUTHOR_ENGINE;
use tessera_runtime::header::DigestItem;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::storage::StorageMap;
use tessera_runtime::{AccountId, Balance, BlockNumber};

/// Points for authoring a relay block (Polkadot's).
pub const AUTHORING_POINTS: u32 = 20;
/// Points for each backer of a candidate when it is included (Polkadot's).
pub const BACKING_POINTS: u32 = 20;
/// Milliseconds in a year of 365.25 days.
pub const MILLISECONDS_PER_YEAR: u64 = 31_557_600_000;

/// An era's points (FRAME's `EraRewardPoints`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct EraRewardPoints {
    /// All points.
    pub total: u32,
    /// Each validator's.
    pub individual: BTreeMap<AccountId, u32>,
}

/// Points earned in each era.
pub static ERAS_REWARD_POINTS: StorageMap<EraIndex, EraRewardPoints> =
    StorageMap::new(super::NAME, "ErasRewardPoints");
/// What each ended era pays its validators and nominators.
pub static ERAS_VALIDATOR_REWARD: StorageMap<EraIndex, Balance> =
    StorageMap::new(super::NAME, "ErasValidatorReward");
/// The exposure pages of a validator already paid for an era.
pub static CLAIMED_REWARDS: StorageMap<(EraIndex, AccountId), Vec<u32>> =
    StorageMap::new(super::NAME, "ClaimedRewards");

/// Gives the block's author (the `auth` pre-runtime digest) its [`AUTHORING_POINTS`].
pub fn reward_author<E>(ctx: &mut Context<'_, E>) -> tessera_runtime::Result<()> {
    let digest = system::DIGEST.get_or_default(&mut ctx.state)?;
    let author = digest.logs.iter().find_map(|item| match item {
        DigestItem::PreRuntime(engine, data) if *engine == AUTHOR_ENGINE => {
            AccountId::decode(&mut &data[..]).ok()
        }
        _ => None,
    });
    match author {
        Some(author) => reward(ctx, &author, AUTHORING_POINTS),
        None => Ok(()),
    }
}

/// Adds `points` to `validator` in the active era.
pub fn reward<E>(
    ctx: &mut Context<'_, E>,
    validator: &AccountId,
    points: u32,
) -> tessera_runtime::Result<()> {
    reward_all(ctx, core::iter::once((*validator, points)))
}

/// Adds each validator's points in the active era, with one read and write of the era's
/// points.
pub fn reward_all<E>(
    ctx: &mut Context<'_, E>,
    earned: impl IntoIterator<Item = (AccountId, u32)>,
) -> tessera_runtime::Result<()> {
    let era = super::ACTIVE_ERA.get_or_default(&mut ctx.state)?.index;
    reward_in(ctx, era, earned)
}

/// Adds each validator's points in era `era` (the active one, or an ended one not paid yet).
pub fn reward_in<E>(
    ctx: &mut Context<'_, E>,
    era: EraIndex,
    earned: impl IntoIterator<Item = (AccountId, u32)>,
) -> tessera_runtime::Result<()> {
    if super::CONFIG.get(&mut ctx.state)?.is_none() {
        return Ok(());
    }
    let mut all = ERAS_REWARD_POINTS.get_or_default(&mut ctx.state, &era)?;
    let mut changed = false;
    for (validator, points) in earned {
        all.total = all.total.saturating_add(points);
        let mine = all.individual.entry(validator).or_insert(0);
        *mine = mine.saturating_add(points);
        changed = true;
    }
    if changed {
        ERAS_REWARD_POINTS.insert(&mut ctx.state, &era, &all);
    }
    Ok(())
}

/// Fixes era `era`'s payout as it ends after `blocks` blocks of `slot_ms` each.
pub fn end_era<E: Events>(
    ctx: &mut Context<'_, E>,
    era: EraIndex,
    blocks: BlockNumber,
    slot_ms: u64,
    inflation: u32,
) -> CallResult {
    let issuance = balances::total_issuance(ctx)?;
    let yearly = mul_div_floor(issuance, u128::from(inflation), u128::from(PERBILL_ONE));
    let era_ms = u128::from(blocks).saturating_mul(u128::from(slot_ms));
    let payout = mul_div_floor(yearly, era_ms, u128::from(MILLISECONDS_PER_YEAR));
    ERAS_VALIDATOR_REWARD.insert(&mut ctx.state, &era, &payout);
    ctx.deposit_event(Event::EraPaid {
        era_index: era,
        validator_payout: payout,
        remainder: 0,
    });
    Ok(())
}

/// Pays the next unpaid exposure page of `validator` in era `era`.
pub fn payout_stakers<E: Events>(
    ctx: &mut Context<'_, E>,
    validator: &AccountId,
    era: EraIndex,
) -> CallResult {
    let active = super::ACTIVE_ERA.get_or_default(&mut ctx.state)?.index;
    if era >= active || era.saturating_add(HISTORY_DEPTH) < active {
        return Err(error(Error::InvalidEraToReward));
    }
    // Its last sessions' approval points are still being counted.
    if !crate::approval_rewards::era_settled(&mut ctx.state, era)? {
        return Err(error(Error::InvalidEraToReward));
    }
    let payout = ERAS_VALIDATOR_REWARD
        .get(&mut ctx.state, &era)?
        .ok_or_else(|| error(Error::InvalidEraToReward))?;
    let key = (era, *validator);
    let overview = ERAS_STAKERS_OVERVIEW
        .get(&mut ctx.state, &key)?
        .ok_or_else(|| error(Error::NotElected))?;
    let mut claimed = CLAIMED_REWARDS.get_or_default(&mut ctx.state, &key)?;
    let pages = overview.page_count.max(1);
    let Some(page) = (0..pages).find(|page| !claimed.contains(page)) else {
        return Err(error(Error::AlreadyClaimed));
    };
    claimed.push(page);
    CLAIMED_REWARDS.insert(&mut ctx.state, &key, &claimed);
    let points = ERAS_REWARD_POINTS.get_or_default(&mut ctx.state, &era)?;
    let mine = points.individual.get(validator).copied().unwrap_or(0);
    let reward = mul_div_floor(payout, u128::from(mine), u128::from(points.total));
    if reward == 0 {
        return Ok(());
    }
    let prefs = ERAS_VALIDATOR_PREFS.get_or_default(&mut ctx.state, &key)?;
    let commission = mul_div_floor(
        reward,
        u128::from(prefs.commission.0.min(PERBILL_ONE)),
        u128::from(PERBILL_ONE),
    );
    let shared = reward.saturating_sub(commission);
    let share = |stake: Balance| mul_div_floor(shared, stake, overview.total);
    if page == 0 {
        let own = commission.saturating_add(share(overview.own));
        pay(ctx, validator, own)?;
    }
    if overview.page_count > 0 {
        let nominators = ERAS_STAKERS_PAGED
            .get(&mut ctx.state, &(era, *validator, page))?
            .unwrap_or_default();
        for nominator in nominators.others {
            pay(ctx, &nominator.who, share(nominator.value))?;
        }
    }
    Ok(())
}

/// Mints `amount` to where `stash` wants its rewards.
fn pay<E: Events>(ctx: &mut Context<'_, E>, stash: &AccountId, amount: Balance) -> CallResult {
    if amount == 0 {
        return Ok(());
    }
    let destination = PAYEE.get(&mut ctx.state, stash)?.unwrap_or_default();
    let paid_to = match destination {
        RewardDestination::None => return Ok(()),
        RewardDestination::Account(account) => account,
        RewardDestination::Staked | RewardDestination::Stash | RewardDestination::Controller => {
            *stash
        }
    };
    if !balances::mint(ctx, &paid_to, amount)? {
        // Below the existential deposit for a new account: burnt again, nothing paid.
        return Ok(());
    }
    if destination == RewardDestination::Staked {
        // A stash that unbonded everything since, or whose free balance fell below the
        // existential deposit, keeps the reward free.
        if let Some(mut ledger) = LEDGER.get(&mut ctx.state, stash)? {
            match balances::reserve(ctx, stash, amount) {
                Ok(()) => {
                    ledger.total = ledger.total.saturating_add(amount);
                    ledger.active = ledger.active.saturating_add(amount);
                    LEDGER.insert(&mut ctx.state, stash, &ledger);
                }
                Err(CallError::Dispatch(_)) => {}
                Err(err) => return Err(err),
            }
        }
    }
    ctx.deposit_event(Event::Rewarded {
        stash: *stash,
        dest: destination,
        amount,
    });
    Ok(())
}

/// Removes what rewards kept of era `era`.
pub fn prune<E>(
    ctx: &mut Context<'_, E>,
    era: EraIndex,
    elected: &[AccountId],
) -> Result<(), CallError> {
    for validator in elected {
        CLAIMED_REWARDS.remove(&mut ctx.state, &(era, *validator));
    }
    ERAS_REWARD_POINTS.remove(&mut ctx.state, &era);
    ERAS_VALIDATOR_REWARD.remove(&mut ctx.state, &era);
    Ok(())
}
